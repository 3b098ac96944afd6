/**
 * The broker's token kinds. Each has its own audience and `typ` header
 * (RFC 8725 §3.11), so a token of one kind never verifies as another:
 *
 * - route ticket (`geobridge:bridge`): which datacenters a participant may use,
 *   and the manifest and policy inputs that fix the jurisdictions they must
 *   stay in (compact: a bridge derives the set through the core's decider,
 *   `ticketJurisdictions`); verified by client and bridge;
 * - join token (`geobridge:join`): lets a participant ask to be routed;
 * - identity assertion (`geobridge:identity`): binds a participant id to a
 *   display name inside a meeting and, when given, to the participant's MLS
 *   signature key, for end-to-end encryption (src/e2ee checks it);
 * - control message (`geobridge:control`): a command from the broker to one
 *   bridge on its presence connection (src/core/signalling/control.ts),
 *   bound to that connection by the bridge's nonce and ordered by `seq`.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import type { Manifest } from '../core/manifest/types.js';
import { routeRequestFor, type MeetingPolicy } from '../core/select/meeting-policy.js';
import { allowedJurisdictions } from '../core/select/select.js';
import { CLOCK_TOLERANCE_SECONDS, KeyRing, checkJwt, type JwtCheck, type VerificationKey } from './keys.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

/** Audience of route tickets: bridges (and clients reading them). */
export const ROUTE_TICKET_AUDIENCE = 'geobridge:bridge';
/** Audience of join tokens: the broker's routing endpoint. */
export const JOIN_TOKEN_AUDIENCE = 'geobridge:join';
/** Audience of identity assertions: the other participants of a meeting. */
export const IDENTITY_AUDIENCE = 'geobridge:identity';
/** Audience of control messages: a bridge (the subject names its datacenter). */
export const CONTROL_AUDIENCE = 'geobridge:control';

const ROUTE_TICKET_TYPE = 'gb-route+jwt';
const JOIN_TOKEN_TYPE = 'gb-join+jwt';
const IDENTITY_TYPE = 'gb-identity+jwt';
const CONTROL_TYPE = 'gb-control+jwt';

/** Default lifetimes, in seconds. */
export const DEFAULT_LIFETIMES = { routeTicket: 120, joinToken: 600, identityAssertion: 3600, controlMessage: 60 } as const;

/** A JWKS document (RFC 7517 §5), e.g. `KeyRing.jwks()` or the JSON served at the broker's JWKS URL. */
export interface JwksDocument {
  readonly keys: readonly Readonly<JWK>[];
}

/** What verifies a token: the broker's key ring, a JWKS document, or a jose resolver (`createRemoteJWKSet`, `createLocalJWKSet`). */
export type TokenKeys = KeyRing | JwksDocument | JWTVerifyGetKey;

/** A signed token and the claims it carries. */
export interface Issued<Claims> {
  readonly token: string;
  readonly claims: Claims;
}

/** Registered claims every token carries. */
interface BaseClaims {
  /** Participant id. */
  readonly sub: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
}

/** Claims of a route ticket. */
export interface RouteTicketClaims extends BaseClaims {
  /** The broker that decided (its URL). */
  readonly iss: string;
  readonly aud: typeof ROUTE_TICKET_AUDIENCE;
  readonly meeting: string;
  /** Datacenter ids to try, in order. */
  readonly candidates: readonly string[];
  /** The jurisdiction of each candidate, in the same order: what the client holds the unsigned decision to. */
  readonly candidateJurisdictions: readonly string[];
  /** Id of the routing decision (for the audit log). */
  readonly decision: string;
  /** The participant's country (ISO 3166-1 alpha-2). */
  readonly country: string;
  /** The display name from the participant's join token: what bridges show the others, whatever the client says. */
  readonly name: string;
  /** SHA-256 (hex) of the manifest the decision was made under: a bridge that does not know it refuses the ticket. */
  readonly manifest: string;
  /** The meeting's policy inputs which, with the manifest and `country`, fix the jurisdictions the media may be in. */
  readonly policy: MeetingPolicy;
  /** Base64url SHA-256 of the route answer's `iceServers` JSON (src/broker/route-ice.ts): the client takes no other allowance. */
  readonly ice: string;
}

/** What the broker decided, to be put in a route ticket. */
export interface RouteTicketInput {
  readonly issuer: string;
  readonly participant: string;
  readonly meeting: string;
  readonly candidates: readonly string[];
  readonly candidateJurisdictions: readonly string[];
  readonly decision: string;
  readonly country: string;
  readonly name: string;
  readonly manifest: string;
  readonly policy: MeetingPolicy;
  readonly ice: string;
  /** Default 120. */
  readonly expiresInSeconds?: number;
}

/** A verifier's jurisdiction, and the manifests it knows by SHA-256 (hex). */
export interface FenceCheck {
  readonly code: string;
  readonly manifests: (sha256: string) => Manifest | undefined;
}

/** Options of `verifyRouteTicket`. */
export interface VerifyRouteTicketOptions {
  readonly now: Date;
  /** The verifying bridge's datacenter: must be one of the ticket's candidates. */
  readonly datacenter?: string;
  /**
   * The verifying bridge's jurisdiction, with the manifests it knows by
   * SHA-256: the ticket's manifest must be one of them, and the jurisdiction
   * inside the set the ticket's policy inputs allow under it.
   */
  readonly jurisdiction?: FenceCheck;
  /** The broker expected as `iss`. */
  readonly issuer?: string;
}

/** Claims of a join token. */
export interface JoinTokenClaims extends BaseClaims {
  readonly aud: typeof JOIN_TOKEN_AUDIENCE;
  readonly meeting: string;
  readonly account: string;
  /** Display name. */
  readonly name: string;
}

/** Input of `issueJoinToken`. */
export interface JoinTokenInput {
  readonly participant: string;
  readonly meeting: string;
  readonly account: string;
  readonly name: string;
  /** Default 600. */
  readonly expiresInSeconds?: number;
}

/** Claims of an identity assertion. */
export interface IdentityAssertionClaims extends BaseClaims {
  readonly aud: typeof IDENTITY_AUDIENCE;
  readonly meeting: string;
  readonly name: string;
  /** The participant's MLS signature public key (raw Ed25519, base64url without padding), when bound. */
  readonly signatureKey?: string;
}

/** Input of `issueIdentityAssertion`. */
export interface IdentityAssertionInput {
  readonly participant: string;
  readonly meeting: string;
  readonly name: string;
  /** The participant's raw Ed25519 MLS signature public key, base64url without padding (43 characters). */
  readonly signatureKey?: string;
  /** Default 3600. */
  readonly expiresInSeconds?: number;
}

/** Claims of a control message. */
export interface ControlMessageClaims extends BaseClaims {
  readonly aud: typeof CONTROL_AUDIENCE;
  /** The nonce the bridge sent when its presence connection opened: a message is good on that connection only. */
  readonly nonce: string;
  /** Strictly increasing per connection, from 1. */
  readonly seq: number;
  /** The command, checked by `parseControlCommand` (src/core/signalling/control.ts). */
  readonly command: unknown;
}

/** Input of `issueControlMessage`. */
export interface ControlMessageInput {
  readonly datacenter: string;
  readonly nonce: string;
  readonly seq: number;
  readonly command: Readonly<Record<string, unknown>>;
}

/** Options of `verifyControlMessage`. */
export interface VerifyControlMessageOptions {
  readonly now: Date;
  /** The verifying bridge's datacenter: the message's subject. */
  readonly datacenter: string;
  /** The nonce of the bridge's current presence connection. */
  readonly nonce: string;
}

/** Options of `verifyJoinToken` and `verifyIdentityAssertion`. */
export interface VerifyMeetingTokenOptions {
  readonly now: Date;
  /** The meeting the token must be for. */
  readonly meeting?: string;
}

const COUNTRY = /^[A-Z]{2}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** The fields of `MeetingPolicy`: a route ticket's policy inputs. */
const POLICY_INPUTS: ReadonlySet<string> = new Set(['hostCountry', 'plan', 'accountJurisdictions', 'meetingJurisdictions']);
const SHA256_BASE64URL = /^[A-Za-z0-9_-]{43}$/;
/** A raw 32-byte Ed25519 public key in base64url without padding: 43 characters, the last one carrying 2 bits. */
const ED25519_PUBLIC_KEY = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** Reads typed claims from a verified payload, collecting what is missing or malformed. */
class ClaimReader {
  readonly problems: string[] = [];
  readonly #payload: JWTPayload;

  constructor(payload: JWTPayload) {
    this.#payload = payload;
  }

  text(name: string, pattern?: RegExp): string {
    const v = this.#payload[name];
    if (typeof v === 'string' && v !== '' && (pattern === undefined || pattern.test(v))) return v;
    this.problems.push(`claim '${name}' is missing or malformed`);
    return '';
  }

  /** A non-empty list of non-empty strings, each matching `pattern` when given. */
  list(name: string, pattern?: RegExp): readonly string[] {
    return this.#listOf(name, this.#payload[name], pattern) ?? [];
  }

  /** The meeting policy a route ticket carries (`MeetingPolicy`). */
  policy(name: string): MeetingPolicy {
    const v = this.#payload[name];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.problems.push(`claim '${name}' must be an object`);
      return { hostCountry: '' };
    }
    const p = v as Record<string, unknown>;
    const unknown = Object.keys(p).filter((k) => !POLICY_INPUTS.has(k));
    // An unknown input could narrow the set on the broker and be ignored here: refuse it rather than widen.
    if (unknown.length > 0) this.problems.push(`claim '${name}' has unknown input(s) ${unknown.join(', ')}`);
    const hostCountry = typeof p.hostCountry === 'string' && COUNTRY.test(p.hostCountry) ? p.hostCountry : undefined;
    if (hostCountry === undefined) this.problems.push(`claim '${name}.hostCountry' must be an ISO country code`);
    if (p.plan !== undefined && (typeof p.plan !== 'string' || p.plan === '')) this.problems.push(`claim '${name}.plan' must be a non-empty string`);
    const account = p.accountJurisdictions === undefined ? undefined : this.#listOf(`${name}.accountJurisdictions`, p.accountJurisdictions, COUNTRY);
    const meeting = p.meetingJurisdictions === undefined ? undefined : this.#listOf(`${name}.meetingJurisdictions`, p.meetingJurisdictions, COUNTRY);
    return {
      hostCountry: hostCountry ?? '',
      ...(typeof p.plan === 'string' ? { plan: p.plan } : {}),
      ...(account ? { accountJurisdictions: account } : {}),
      ...(meeting ? { meetingJurisdictions: meeting } : {}),
    };
  }

  #listOf(name: string, v: unknown, pattern?: RegExp): readonly string[] | undefined {
    if (Array.isArray(v) && v.length > 0 && v.every((e): e is string => typeof e === 'string' && e !== '' && (pattern === undefined || pattern.test(e)))) return [...v];
    this.problems.push(`claim '${name}' must be a non-empty list of ${pattern === COUNTRY ? 'ISO country codes' : 'non-empty strings'}`);
    return undefined;
  }

  /** Like `text`, but an absent claim is fine (undefined); a present one must match. */
  optionalText(name: string, pattern?: RegExp): string | undefined {
    return this.#payload[name] === undefined ? undefined : this.text(name, pattern);
  }

  time(name: string): number {
    const v = this.#payload[name];
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    this.problems.push(`claim '${name}' must be an integer NumericDate`);
    return 0;
  }

  base(): BaseClaims {
    return { sub: this.text('sub'), iat: this.time('iat'), exp: this.time('exp'), jti: this.text('jti') };
  }
}

/** A typed claims parser: the claims, or the list of problems. */
type Parsed<Claims> = { readonly claims: Claims } | { readonly problems: readonly string[] };

function parsed<Claims>(reader: ClaimReader, claims: Claims): Parsed<Claims> {
  return reader.problems.length === 0 ? { claims } : { problems: reader.problems };
}

function parseRouteTicket(payload: JWTPayload): Parsed<RouteTicketClaims> {
  const r = new ClaimReader(payload);
  const candidates = r.list('candidates');
  const candidateJurisdictions = r.list('candidateJurisdictions', COUNTRY);
  if (candidateJurisdictions.length !== candidates.length) r.problems.push(`claim 'candidateJurisdictions' must have one jurisdiction per candidate`);
  return parsed(r, {
    iss: r.text('iss'),
    ...r.base(),
    aud: ROUTE_TICKET_AUDIENCE,
    meeting: r.text('meeting'),
    candidates,
    candidateJurisdictions,
    decision: r.text('decision'),
    country: r.text('country', COUNTRY),
    name: r.text('name'),
    manifest: r.text('manifest', SHA256_HEX),
    policy: r.policy('policy'),
    ice: r.text('ice', SHA256_BASE64URL),
  });
}

function parseControlMessage(payload: JWTPayload): Parsed<ControlMessageClaims> {
  const r = new ClaimReader(payload);
  const seq = r.time('seq');
  const command = payload.command;
  if (typeof command !== 'object' || command === null || Array.isArray(command)) r.problems.push(`claim 'command' must be an object`);
  return parsed(r, { ...r.base(), aud: CONTROL_AUDIENCE, nonce: r.text('nonce'), seq, command });
}

function parseJoinToken(payload: JWTPayload): Parsed<JoinTokenClaims> {
  const r = new ClaimReader(payload);
  return parsed(r, { ...r.base(), aud: JOIN_TOKEN_AUDIENCE, meeting: r.text('meeting'), account: r.text('account'), name: r.text('name') });
}

function parseIdentityAssertion(payload: JWTPayload): Parsed<IdentityAssertionClaims> {
  const r = new ClaimReader(payload);
  const signatureKey = r.optionalText('signatureKey', ED25519_PUBLIC_KEY);
  return parsed(r, { ...r.base(), aud: IDENTITY_AUDIENCE, meeting: r.text('meeting'), name: r.text('name'), ...(signatureKey === undefined ? {} : { signatureKey }) });
}

/**
 * Signs, then reads the claims through the verifier's own parser, so we never
 * hand out a token we would refuse. It parses the payload object the token was
 * serialized from rather than decoding the token: the claims are strings,
 * string lists and integers, which JSON round-trips unchanged.
 */
async function issue<Claims>(
  keys: KeyRing,
  claims: Readonly<Record<string, unknown>>,
  options: { audience: string; subject: string; type: string; expiresInSeconds: number; issuer?: string },
  parse: (payload: JWTPayload) => Parsed<Claims>,
): Promise<Issued<Claims>> {
  const { token, payload } = await keys.signJwt(claims, options);
  const result = parse(payload);
  if ('problems' in result) {
    throw new GeobridgeError('INVALID_TOKEN_REQUEST', `Cannot issue a ${options.type} token: ${result.problems.join('; ')}.`);
  }
  return { token, claims: result.claims };
}

const localSets = new WeakMap<JwksDocument, JWTVerifyGetKey>();

/** The jose key argument for any accepted form of keys. */
function resolverOf(keys: TokenKeys): VerificationKey {
  if (keys instanceof KeyRing) return keys.keyResolver();
  if (typeof keys === 'function') return keys;
  let local = localSets.get(keys);
  if (local === undefined) {
    local = createLocalJWKSet({ keys: keys.keys.map((k) => ({ ...k })) } satisfies JSONWebKeySet);
    localSets.set(keys, local);
  }
  return local;
}

type Failure = Extract<JwtCheck, { ok: false }>;

/** The token's key was revoked: said as such, so that nobody hunts for a bad token or a wrong clock. */
function keyRevoked(failure: Failure, what: string): GeobridgeError {
  return new GeobridgeError('KEY_REVOKED', `The ${what} was signed by a key the broker revoked (${failure.detail}); ask the broker for a new one.`, { cause: failure.cause });
}

/** The key set could not be fetched: not the token's fault, so not reported as invalid. */
function keysUnavailable(failure: Failure): GeobridgeError {
  return new GeobridgeError('JWKS_UNAVAILABLE', `The broker's key set could not be loaded: ${failure.detail}. Check that the broker's JWKS URL is reachable.`, {
    cause: failure.cause,
  });
}

/** Issues a route ticket for a routing decision (default lifetime 120 s). */
export function issueRouteTicket(keys: KeyRing, input: RouteTicketInput): Promise<Issued<RouteTicketClaims>> {
  return issue(
    keys,
    {
      meeting: input.meeting,
      candidates: input.candidates,
      candidateJurisdictions: input.candidateJurisdictions,
      decision: input.decision,
      country: input.country,
      name: input.name,
      manifest: input.manifest,
      policy: input.policy,
      ice: input.ice,
    },
    {
      audience: ROUTE_TICKET_AUDIENCE,
      subject: input.participant,
      type: ROUTE_TICKET_TYPE,
      issuer: input.issuer,
      expiresInSeconds: input.expiresInSeconds ?? DEFAULT_LIFETIMES.routeTicket,
    },
    parseRouteTicket,
  );
}

/**
 * Verifies a route ticket and, when given, that `datacenter` is one of its
 * candidates and `jurisdiction` inside its fence. Throws TICKET_INVALID,
 * TICKET_EXPIRED, TICKET_WRONG_DATACENTER, TICKET_OUTSIDE_FENCE, KEY_REVOKED or JWKS_UNAVAILABLE.
 */
export async function verifyRouteTicket(keys: TokenKeys, token: string, options: VerifyRouteTicketOptions): Promise<RouteTicketClaims> {
  const check = await checkJwt(token, resolverOf(keys), {
    audience: ROUTE_TICKET_AUDIENCE,
    type: ROUTE_TICKET_TYPE,
    now: options.now,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
  });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'route ticket');
    if (check.reason === 'expired') throw new GeobridgeError('TICKET_EXPIRED', `The route ticket has expired; ask the broker for a new one.`, { cause: check.cause });
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('TICKET_INVALID', `The route ticket does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseRouteTicket(check.payload);
  if ('problems' in result) throw new GeobridgeError('TICKET_INVALID', `The route ticket is malformed: ${result.problems.join('; ')}.`);
  const claims = result.claims;
  if (options.datacenter !== undefined && !claims.candidates.includes(options.datacenter)) {
    throw new GeobridgeError('TICKET_WRONG_DATACENTER', `The route ticket does not allow datacenter '${options.datacenter}'; it allows ${claims.candidates.join(', ')}.`);
  }
  if (options.jurisdiction !== undefined) checkInsideFence(claims, options.jurisdiction.code, options.jurisdiction.manifests(claims.manifest));
  return claims;
}

/**
 * The jurisdictions a route ticket keeps its participant's media in: what the
 * decider allows a participant of the ticket's country under the ticket's
 * manifest and meeting policy. The one core function, so a bridge, the
 * broker and the client can never disagree about a ticket's fence.
 */
export function ticketJurisdictions(manifest: Manifest, claims: Pick<RouteTicketClaims, 'country' | 'policy'>): readonly string[] {
  return allowedJurisdictions(manifest, routeRequestFor(claims.country, claims.policy));
}

function checkInsideFence(claims: RouteTicketClaims, jurisdiction: string, manifest: Manifest | undefined): void {
  if (manifest === undefined) {
    throw new GeobridgeError(
      'TICKET_UNKNOWN_MANIFEST',
      `The route ticket was issued under manifest ${claims.manifest.slice(0, 12)}…, which this bridge has not been given; ask the broker for a new route.`,
    );
  }
  const allowed = ticketJurisdictions(manifest, claims);
  if (!allowed.includes(jurisdiction)) {
    throw new GeobridgeError('TICKET_OUTSIDE_FENCE', `The route ticket keeps the participant in ${allowed.join(', ') || 'no jurisdiction'}; this bridge is in '${jurisdiction}'.`);
  }
}

/** Issues a join token (default lifetime 10 min). */
export function issueJoinToken(keys: KeyRing, input: JoinTokenInput): Promise<Issued<JoinTokenClaims>> {
  return issue(
    keys,
    { meeting: input.meeting, account: input.account, name: input.name },
    { audience: JOIN_TOKEN_AUDIENCE, subject: input.participant, type: JOIN_TOKEN_TYPE, expiresInSeconds: input.expiresInSeconds ?? DEFAULT_LIFETIMES.joinToken },
    parseJoinToken,
  );
}

/** Verifies a join token; throws JOIN_TOKEN_INVALID, JOIN_TOKEN_EXPIRED, JOIN_TOKEN_WRONG_MEETING or JWKS_UNAVAILABLE. */
export async function verifyJoinToken(keys: TokenKeys, token: string, options: VerifyMeetingTokenOptions): Promise<JoinTokenClaims> {
  const claims = keys instanceof KeyRing ? await checkJoinTokenOnce(keys, token, options.now) : (await checkJoinToken(keys, token, options.now)).claims;
  if (options.meeting !== undefined && claims.meeting !== options.meeting) {
    throw new GeobridgeError('JOIN_TOKEN_WRONG_MEETING', `The join token is for another meeting, not '${options.meeting}'.`);
  }
  return claims;
}

/** Join tokens whose signature each key ring has verified (participants re-route with the same token). */
const verifiedJoinTokens = new WeakMap<KeyRing, VerifiedTokenCache<JoinTokenClaims>>();

/**
 * Checks the signature of a join token the first time its exact text is seen,
 * and only while its signing key is active; expiry is checked on every use,
 * as jose would (`exp` ≤ now − tolerance is expired). Audience and `typ` are
 * in the signed bytes, so they passed with the signature. A token that fails
 * is never remembered, so a forged token is always checked in full.
 */
async function checkJoinTokenOnce(keys: KeyRing, token: string, now: Date): Promise<JoinTokenClaims> {
  let cache = verifiedJoinTokens.get(keys);
  if (cache === undefined) verifiedJoinTokens.set(keys, (cache = new VerifiedTokenCache()));
  const known = cache.get(token);
  if (known !== undefined && keys.isActive(known.kid)) {
    if (known.claims.exp > Math.floor(now.getTime() / 1000) - CLOCK_TOLERANCE_SECONDS) return known.claims;
    cache.forget(token);
    throw joinTokenExpired(undefined);
  }
  if (known !== undefined) cache.forget(token);
  const { claims, kid } = await checkJoinToken(keys, token, now);
  if (kid !== undefined && keys.isActive(kid)) cache.remember(token, { claims: Object.freeze(claims), kid });
  return claims;
}

/** Verifies a join token in full (signature, `typ`, audience, expiry, claims); returns its claims and signing key. */
async function checkJoinToken(keys: TokenKeys, token: string, now: Date): Promise<{ readonly claims: JoinTokenClaims; readonly kid: string | undefined }> {
  const check = await checkJwt(token, resolverOf(keys), { audience: JOIN_TOKEN_AUDIENCE, type: JOIN_TOKEN_TYPE, now });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'join token');
    if (check.reason === 'expired') throw joinTokenExpired(check.cause);
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('JOIN_TOKEN_INVALID', `The join token does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseJoinToken(check.payload);
  if ('problems' in result) throw new GeobridgeError('JOIN_TOKEN_INVALID', `The join token is malformed: ${result.problems.join('; ')}.`);
  return { claims: result.claims, kid: check.kid };
}

function joinTokenExpired(cause: unknown): GeobridgeError {
  return new GeobridgeError('JOIN_TOKEN_EXPIRED', `The join token has expired; ask the meeting host for a new link.`, { cause });
}

/** Issues an identity assertion (default lifetime 1 h), bound to an MLS signature key when `signatureKey` is given. */
export function issueIdentityAssertion(keys: KeyRing, input: IdentityAssertionInput): Promise<Issued<IdentityAssertionClaims>> {
  return issue(
    keys,
    { meeting: input.meeting, name: input.name, ...(input.signatureKey === undefined ? {} : { signatureKey: input.signatureKey }) },
    { audience: IDENTITY_AUDIENCE, subject: input.participant, type: IDENTITY_TYPE, expiresInSeconds: input.expiresInSeconds ?? DEFAULT_LIFETIMES.identityAssertion },
    parseIdentityAssertion,
  );
}

/** Verifies an identity assertion; throws IDENTITY_ASSERTION_INVALID, _EXPIRED, _WRONG_MEETING or JWKS_UNAVAILABLE. */
export async function verifyIdentityAssertion(keys: TokenKeys, token: string, options: VerifyMeetingTokenOptions): Promise<IdentityAssertionClaims> {
  const check = await checkJwt(token, resolverOf(keys), { audience: IDENTITY_AUDIENCE, type: IDENTITY_TYPE, now: options.now });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'identity assertion');
    if (check.reason === 'expired') throw new GeobridgeError('IDENTITY_ASSERTION_EXPIRED', `The identity assertion has expired; the participant must fetch a new one.`, { cause: check.cause });
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('IDENTITY_ASSERTION_INVALID', `The identity assertion does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseIdentityAssertion(check.payload);
  if ('problems' in result) throw new GeobridgeError('IDENTITY_ASSERTION_INVALID', `The identity assertion is malformed: ${result.problems.join('; ')}.`);
  if (options.meeting !== undefined && result.claims.meeting !== options.meeting) {
    throw new GeobridgeError('IDENTITY_ASSERTION_WRONG_MEETING', `The identity assertion is for another meeting, not '${options.meeting}'.`);
  }
  return result.claims;
}

/** Signs a command for one bridge's presence connection (default lifetime 60 s). */
export function issueControlMessage(keys: KeyRing, input: ControlMessageInput): Promise<Issued<ControlMessageClaims>> {
  return issue(
    keys,
    { nonce: input.nonce, seq: input.seq, command: input.command },
    { audience: CONTROL_AUDIENCE, subject: input.datacenter, type: CONTROL_TYPE, expiresInSeconds: DEFAULT_LIFETIMES.controlMessage },
    parseControlMessage,
  );
}

/**
 * Verifies a control message: the broker's signature, unexpired, for this
 * datacenter and this connection's nonce. The caller checks `seq` and parses
 * the command. Throws CONTROL_MESSAGE_INVALID or JWKS_UNAVAILABLE.
 */
export async function verifyControlMessage(keys: TokenKeys, token: string, options: VerifyControlMessageOptions): Promise<ControlMessageClaims> {
  const check = await checkJwt(token, resolverOf(keys), { audience: CONTROL_AUDIENCE, type: CONTROL_TYPE, now: options.now });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'control message');
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('CONTROL_MESSAGE_INVALID', `The control message does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseControlMessage(check.payload);
  if ('problems' in result) throw new GeobridgeError('CONTROL_MESSAGE_INVALID', `The control message is malformed: ${result.problems.join('; ')}.`);
  if (result.claims.sub !== options.datacenter || result.claims.nonce !== options.nonce) {
    throw new GeobridgeError('CONTROL_MESSAGE_INVALID', `The control message is for another bridge or connection (${result.claims.sub}).`);
  }
  return result.claims;
}
