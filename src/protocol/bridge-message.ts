/**
 * The bridge's signed messages to the broker (enroll, heartbeat, placement
 * claims, admission reports, renewals, the presence hello): a compact JWS
 * (RFC 7515 §7.1, EdDSA per RFC 8037 §3.1) with `typ` gb-bridge+jws, signed
 * with the datacenter's own key, which the broker has configured. The
 * protected header names the datacenter in `kid`, so the broker picks the
 * key before it trusts anything in the payload.
 *
 * Payload: `{ datacenter, seq, at, body }`, `at` in milliseconds since the
 * epoch. The timestamp bounds how long a captured message stays usable; `seq`
 * (strictly increasing per datacenter, checked by a ReplayGuard) stops replays
 * inside that window. The bridge signs; the broker verifies.
 */
import { CompactSign, compactVerify, decodeProtectedHeader, importJWK, type CryptoKey, type JWK } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { isObject } from '../core/fields.js';
import { ID } from '../core/yaml/reader.js';
import { isCanonicalCompactJws } from './compact-jws.js';

/** The `typ` header of bridge messages. */
export const BRIDGE_MESSAGE_TYPE = 'gb-bridge+jws';

/** A verified bridge message (not to be confused with signalling's bridge → client `BridgeMessage`). */
export interface VerifiedBridgeMessage {
  readonly datacenter: string;
  readonly seq: number;
  /** When the bridge signed it, in milliseconds since the epoch. */
  readonly at: number;
  /** The message body the bridge sent. */
  readonly payload: unknown;
}

/** Options of `verifyBridgeMessage`. */
export interface VerifyBridgeMessageOptions {
  readonly now: Date;
  /** How far `at` may be from `now`, either way. */
  readonly maxSkewSeconds: number;
  /** Rejects a `seq` accepted before or below its window; recorded only for messages that pass every other check. */
  readonly replayGuard?: SeqGuard;
}

/** Options of `signBridgeMessage`. */
export interface SignBridgeMessageOptions {
  readonly now: Date;
  /** Increasing per datacenter, also across bridge restarts (e.g. persisted, or derived from the clock); messages may arrive out of order within the broker's window. */
  readonly seq: number;
}

/**
 * Accepts each `seq` once per datacenter: `admit` answers whether it is
 * fresh and, if so, records it, in one step (brokers that share a guard
 * through Redis must not both accept one message).
 */
export interface SeqGuard {
  /** Records `seq` and answers true when it is fresh for `datacenter`; else answers the highest seq accepted so far. */
  admit(datacenter: string, seq: number): SeqVerdict | Promise<SeqVerdict>;
}

/** What a guard said of one seq. */
export type SeqVerdict = { readonly fresh: true } | { readonly fresh: false; readonly highest: number };

/**
 * The SeqGuard of one process, in memory: it accepts each `seq` once per datacenter: one above every seq
 * accepted so far, or one of the last `window` below the highest that has
 * not been seen (the anti-replay window of IPsec, RFC 4303 §3.4.3), so a
 * bridge may have several messages in flight that arrive out of order.
 */
export class ReplayGuard implements SeqGuard {
  readonly #window: number;
  readonly #seen = new Map<string, { highest: number; recent: Set<number> }>();

  constructor(window = 1024) {
    this.#window = window;
  }

  /** True when `seq` was not accepted before for `datacenter` and is not below the window. */
  isFresh(datacenter: string, seq: number): boolean {
    const seen = this.#seen.get(datacenter);
    return seen === undefined || seq > seen.highest || (seq > seen.highest - this.#window && !seen.recent.has(seq));
  }

  /** Records `seq` as accepted. */
  accept(datacenter: string, seq: number): void {
    if (!this.isFresh(datacenter, seq)) return;
    const seen = this.#seen.get(datacenter) ?? { highest: seq, recent: new Set<number>() };
    this.#seen.set(datacenter, seen);
    seen.recent.add(seq);
    seen.highest = Math.max(seen.highest, seq);
    // Below the window nothing is fresh anyway: forget those, now and then, so memory stays bounded.
    if (seen.recent.size > 2 * this.#window) for (const old of seen.recent) if (old <= seen.highest - this.#window) seen.recent.delete(old);
  }

  admit(datacenter: string, seq: number): SeqVerdict {
    if (!this.isFresh(datacenter, seq)) return { fresh: false, highest: this.lastSeq(datacenter) ?? 0 };
    this.accept(datacenter, seq);
    return { fresh: true };
  }

  /** The highest accepted seq, if any. */
  lastSeq(datacenter: string): number | undefined {
    return this.#seen.get(datacenter)?.highest;
  }
}

/** Signs a bridge message as a compact JWS over `{ datacenter, seq, at, body }`. */
export async function signBridgeMessage(privateKey: CryptoKey | JWK, datacenter: string, payload: unknown, options: SignBridgeMessageOptions): Promise<string> {
  const key = 'kty' in privateKey ? await importJWK(privateKey, 'EdDSA') : privateKey;
  const message = { datacenter, seq: options.seq, at: options.now.getTime(), body: payload };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(message)))
    .setProtectedHeader({ alg: 'EdDSA', kid: datacenter, typ: BRIDGE_MESSAGE_TYPE })
    .sign(key);
}

function malformed(why: string): GeobridgeError {
  return new GeobridgeError('BRIDGE_MESSAGE_INVALID', `The bridge message is malformed: ${why}.`);
}

/** The datacenter a message claims to be from, read from the (not yet verified) protected header. */
function claimedDatacenter(jws: string): string {
  if (!isCanonicalCompactJws(jws)) throw malformed('not a compact JWS in canonical base64url');
  let header;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw malformed('the protected header is not JSON');
  }
  if (header.typ !== BRIDGE_MESSAGE_TYPE) throw malformed(`the header typ must be ${BRIDGE_MESSAGE_TYPE}`);
  // Datacenter ids as the manifest allows them; anything else is not echoed into errors and logs.
  if (typeof header.kid !== 'string' || !ID.test(header.kid)) throw malformed('the header kid is not a datacenter id');
  return header.kid;
}

/** The datacenter a message claims to be from, or undefined when its header names none; for counting rejections, never for trust. */
export function claimedDatacenterOf(jws: string): string | undefined {
  try {
    return claimedDatacenter(jws);
  } catch {
    return undefined;
  }
}

/** Reads `{ datacenter, seq, at, body }` from verified payload bytes. */
function parseEnvelope(bytes: Uint8Array): { datacenter: unknown; seq: unknown; at: unknown; body: unknown } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw malformed('the payload is not JSON');
  }
  if (!isObject(value)) throw malformed('the payload is not an object');
  return { datacenter: value.datacenter, seq: value.seq, at: value.at, body: value.body };
}

/**
 * Verifies a bridge message: signed by the key configured for its datacenter,
 * fresh (`at` within the skew window) and, with a guard, not replayed. Throws
 * BRIDGE_UNKNOWN, BRIDGE_BAD_SIGNATURE, BRIDGE_STALE, BRIDGE_REPLAYED or BRIDGE_MESSAGE_INVALID.
 */
export async function verifyBridgeMessage(publicKeys: ReadonlyMap<string, CryptoKey>, jws: string, options: VerifyBridgeMessageOptions): Promise<VerifiedBridgeMessage> {
  const datacenter = claimedDatacenter(jws);
  const key = publicKeys.get(datacenter);
  if (key === undefined) throw new GeobridgeError('BRIDGE_UNKNOWN', `Datacenter '${datacenter}' has no configured bridge key; add its public key to the broker configuration.`);

  let bytes: Uint8Array;
  try {
    ({ payload: bytes } = await compactVerify(jws, key, { algorithms: ['EdDSA'] }));
  } catch (cause) {
    throw new GeobridgeError('BRIDGE_BAD_SIGNATURE', `The message claiming to be from '${datacenter}' is not signed by its configured key.`, { cause });
  }

  const envelope = parseEnvelope(bytes);
  // The header and payload are both signed; they must agree so neither can be trusted alone by mistake.
  if (envelope.datacenter !== datacenter) throw malformed('the payload datacenter differs from the header kid');
  const { seq, at } = envelope;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw malformed('seq must be a non-negative integer');
  if (typeof at !== 'number' || !Number.isSafeInteger(at)) throw malformed('at must be milliseconds since the epoch');

  const skewMs = Math.abs(options.now.getTime() - at);
  if (!(skewMs <= options.maxSkewSeconds * 1000)) {
    throw new GeobridgeError(
      'BRIDGE_STALE',
      `The message from '${datacenter}' was signed ${Math.round(skewMs / 1000)} s away from the broker's clock (at most ${options.maxSkewSeconds} s); synchronise the bridge's clock (NTP).`,
    );
  }
  const guard = options.replayGuard;
  if (guard !== undefined) {
    const verdict = await guard.admit(datacenter, seq);
    if (!verdict.fresh) {
      throw new GeobridgeError('BRIDGE_REPLAYED', `The message from '${datacenter}' has seq ${seq}, accepted before or too far below the highest accepted ${verdict.highest}: a replay, or a bridge that reset its counter.`);
    }
  }
  return { datacenter, seq, at, payload: envelope.body };
}
