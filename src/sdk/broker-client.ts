/**
 * The one client of the broker's participant API: every call the SDK and
 * the meeting page make (route, identity, bridge keys, invites, the
 * transparency log's proofs), each answer read against its schema in
 * src/protocol (parse-answer.ts), and one error type for every way a call
 * can fail: `BrokerError`, with the broker's stable `code`, the HTTP status
 * and its message.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type { Static, TSchema } from 'typebox';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import { isObject } from '../core/fields.js';
import { BridgeKeysAnswer, BrokerInfoAnswer, IdentityAnswer, InclusionProofAnswer, InviteAcceptAnswer, InvitePreviewAnswer, TreeHeadAnswer } from '../protocol/answers.js';
import { parseAnswer } from '../protocol/parse-answer.js';
import { RouteAnswer } from '../protocol/route-answer.js';

/** What `GET /v1/info` says about a broker: dev mode, and the datacenters of the manifest in force. */
export type BrokerInfo = Static<typeof BrokerInfoAnswer>;
/** The answer of `POST /v1/route`: the decision, the signed route ticket, the bridges' URLs and the log's promise. */
export type RouteAnswerBody = Static<typeof RouteAnswer>;
/** The answer of `POST /v1/invites/accept`: a join token for a new participant, and the meeting's title. */
export type InviteAcceptance = Static<typeof InviteAcceptAnswer>;
/** The answer of `POST /v1/invites/preview`: the meeting an invite is for, and its title. */
export type InvitePreview = Static<typeof InvitePreviewAnswer>;
/** The answer of `GET /v1/log/sth`: the transparency log's latest signed tree head. */
export type TreeHead = Static<typeof TreeHeadAnswer>;

/**
 * A broker call that failed. `code` is the broker's own (e.g.
 * `FENCE_CONFLICT`, docs/errors.md), `HTTP_<status>` when its answer had
 * none, `BROKER_ANSWER_INVALID` when a 200 did not match the protocol, or
 * `BROKER_UNREACHABLE` when no answer came; `status` is the HTTP status, if
 * any. `name` stays 'GeobridgeError', so `isGeobridgeError` recognises it.
 */
export class BrokerError extends GeobridgeError {
  /** The HTTP status of the broker's answer; undefined when none came. */
  readonly status: number | undefined;
  /** How long the broker asked to wait before trying again (`Retry-After`), in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, options: { readonly status?: number; readonly retryAfterMs?: number; readonly cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** True when `value` is a `BrokerError` (a GeobridgeError with an HTTP status field). */
export function isBrokerError(value: unknown): value is BrokerError {
  return value instanceof BrokerError || (isGeobridgeError(value) && 'status' in value && 'retryAfterMs' in value);
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call (the promise rejects with the abort's reason, not a BrokerError). */
  readonly signal?: AbortSignal;
}

/** The broker's participant API over `fetch`. One per broker; cheap to create, and safe to share. */
export class BrokerClient {
  /** The broker's origin, e.g. `https://meet.example.org`. */
  readonly url: string;
  #jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  /** `broker` is the broker's base URL (only its origin is used). Throws BROKER_URL_INVALID when it is not a URL. */
  constructor(broker: string | URL) {
    let url: URL;
    try {
      url = new URL(broker);
    } catch {
      throw new GeobridgeError('BROKER_URL_INVALID', `'${String(broker)}' is not a broker URL; pass its base URL, e.g. https://meet.example.org.`);
    }
    this.url = url.origin;
  }

  /** The broker's published token keys (`/.well-known/jwks.json`), fetched once and cached by jose; verifies route tickets and identity assertions. */
  get jwks(): JWTVerifyGetKey {
    return this.#keySet();
  }

  /**
   * Starts fetching the token keys now, unless they are cached, so that the route ticket's check does not
   * wait a round trip after the route answer: a verification while it is under way awaits the same fetch. A
   * failure is left for that verification to meet (and retry).
   */
  prefetchKeys(): void {
    const keys = this.#keySet();
    if (!keys.fresh && !keys.reloading) keys.reload().catch(() => undefined);
  }

  #keySet(): ReturnType<typeof createRemoteJWKSet> {
    this.#jwks ??= createRemoteJWKSet(new URL('/.well-known/jwks.json', this.url));
    return this.#jwks;
  }

  /** `GET /v1/info`: dev mode and the datacenters of the manifest in force. */
  info(options: CallOptions = {}): Promise<BrokerInfo> {
    return this.#call(BrokerInfoAnswer, 'GET', '/v1/info', undefined, undefined, options);
  }

  /** `POST /v1/invites/preview`: the meeting an invite is for, before the participant names themselves. */
  previewInvite(invite: string, options: CallOptions = {}): Promise<InvitePreview> {
    return this.#call(InvitePreviewAnswer, 'POST', '/v1/invites/preview', { invite }, undefined, options);
  }

  /** `POST /v1/invites/accept`: exchanges an invite and a display name for a join token. */
  acceptInvite(invite: string, name: string, options: CallOptions = {}): Promise<InviteAcceptance> {
    return this.#call(InviteAcceptAnswer, 'POST', '/v1/invites/accept', { invite, name }, undefined, options);
  }

  /** `POST /v1/route`: where this participant may connect (`country`: dev-mode brokers only). A refusal is a BrokerError with the broker's code and `retryAfterMs`. */
  route(joinToken: string, request: { readonly country?: string } = {}, options: CallOptions = {}): Promise<RouteAnswerBody> {
    return this.#call(RouteAnswer, 'POST', '/v1/route', request.country !== undefined ? { country: request.country } : {}, joinToken, options);
  }

  /** `POST /v1/identity`: the broker's identity assertion binding an MLS signature key (`signatureKey`, base64url) to the join token's participant. */
  async identity(joinToken: string, signatureKey: string, options: CallOptions = {}): Promise<string> {
    return (await this.#call(IdentityAnswer, 'POST', '/v1/identity', { signatureKey }, joinToken, options)).assertion;
  }

  /** `GET /v1/bridges/keys`: each datacenter's bridge public key, which its proofs of identity verify against. */
  async bridgeKeys(options: CallOptions = {}): Promise<Static<typeof BridgeKeysAnswer>['keys']> {
    return (await this.#call(BridgeKeysAnswer, 'GET', '/v1/bridges/keys', undefined, undefined, options)).keys;
  }

  /** `GET /v1/log/sth`: the transparency log's latest signed tree head; with `store`, that record store's log's. */
  treeHead(options: CallOptions & { readonly store?: string } = {}): Promise<TreeHead> {
    return this.#call(TreeHeadAnswer, 'GET', `/v1/log/sth${storeQuery('?', options.store)}`, undefined, undefined, options);
  }

  /** `GET /v1/log/proof`: the inclusion proof of leaf `index` in the tree of `size` leaves; with `store`, in that record store's log. */
  async inclusionProof(index: number, size: number, options: CallOptions & { readonly store?: string } = {}): Promise<readonly string[]> {
    return (await this.#call(InclusionProofAnswer, 'GET', `/v1/log/proof?index=${String(index)}&size=${String(size)}${storeQuery('&', options.store)}`, undefined, undefined, options)).proof;
  }

  async #call<Schema extends TSchema>(schema: Schema, method: 'GET' | 'POST', path: string, body: unknown, bearer: string | undefined, options: CallOptions): Promise<Static<Schema>> {
    const what = `${method} ${path.split('?')[0] ?? path}`;
    const headers: Record<string, string> = {};
    if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(new URL(path, this.url), { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      throw new BrokerError('BROKER_UNREACHABLE', `cannot reach the broker at ${this.url} for ${what} (${error instanceof Error ? error.message : String(error)}); check the URL and that it is running.`, { cause: error });
    }
    const json: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      // An error body is read leniently: a proxy in between may answer with anything.
      const error = isObject(json) ? json : {};
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new BrokerError(typeof error.code === 'string' ? error.code : `HTTP_${String(response.status)}`, typeof error.message === 'string' ? error.message : `the broker answered ${String(response.status)} to ${what}`, {
        status: response.status,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      });
    }
    try {
      return parseAnswer(schema, json, what);
    } catch (error) {
      throw isGeobridgeError(error) ? new BrokerError(error.code, error.message, { status: response.status }) : error;
    }
  }
}

/** The query parameter that asks for record store `store`'s log (`?store=eu`, after `separator`); nothing for the broker's own log. */
function storeQuery(separator: '?' | '&', store: string | undefined): string {
  return store === undefined ? '' : `${separator}store=${encodeURIComponent(store)}`;
}
