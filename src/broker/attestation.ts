/**
 * Bridge identity. Each datacenter is bound to one Ed25519 public key in the
 * broker's configuration; its bridge signs every message (enroll, heartbeat,
 * admission report) as a compact JWS (RFC 7515 §7.1, EdDSA per RFC 8037 §3.1).
 * The protected header names the datacenter in `kid`, so the broker picks the
 * key before it trusts anything in the payload.
 *
 * Payload: `{ datacenter, seq, at, body }`, `at` in milliseconds since the
 * epoch. The timestamp bounds how long a captured message stays usable; `seq`
 * (strictly increasing per datacenter, checked by a ReplayGuard) stops replays
 * inside that window.
 */
import { CompactSign, base64url, compactVerify, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { ID } from '../core/yaml/reader.js';
import { isCanonicalCompactJws } from './keys.js';

/** A bridge public key as configured: base64url of the raw 32-byte Ed25519 key, or a public JWK. */
export type BridgePublicKeyConfig = string | JWK;

/** A verified bridge message. */
export interface BridgeMessage {
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
  readonly replayGuard?: ReplayGuard;
}

/** Options of `signBridgeMessage`. */
export interface SignBridgeMessageOptions {
  readonly now: Date;
  /** Increasing per datacenter, also across bridge restarts (e.g. persisted, or derived from the clock); messages may arrive out of order within the broker's window. */
  readonly seq: number;
}

const BRIDGE_MESSAGE_TYPE = 'gb-bridge+jws';
const ED25519_KEY_BYTES = 32;

/**
 * Accepts each `seq` once per datacenter, in memory: one above every seq
 * accepted so far, or one of the last `window` below the highest that has
 * not been seen (the anti-replay window of IPsec, RFC 4303 §3.4.3), so a
 * bridge may have several messages in flight that arrive out of order.
 */
export class ReplayGuard {
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

  /** The highest accepted seq, if any. */
  lastSeq(datacenter: string): number | undefined {
    return this.#seen.get(datacenter)?.highest;
  }
}

function keyError(datacenter: string, why: string, cause?: unknown): GeobridgeError {
  return new GeobridgeError(
    'BRIDGE_KEY_INVALID',
    `The public key configured for datacenter '${datacenter}' is unusable: ${why}. Configure the 43-character base64url public key printed when the bridge identity was generated.`,
    { cause },
  );
}

/** Imports one configured bridge public key; throws BRIDGE_KEY_INVALID. */
export async function importBridgePublicKey(datacenter: string, config: BridgePublicKeyConfig): Promise<CryptoKey> {
  let jwk: JWK;
  if (typeof config === 'string') {
    if (!isCanonicalCompactJws(config, 1) || base64url.decode(config).length !== ED25519_KEY_BYTES) {
      throw keyError(datacenter, 'not base64url of 32 bytes');
    }
    jwk = { kty: 'OKP', crv: 'Ed25519', x: config };
  } else {
    // A private key in the broker's configuration is a leak waiting to happen.
    if (config.d !== undefined) throw keyError(datacenter, 'the JWK contains a private key (d); configure the public part only');
    if (config.kty !== 'OKP' || config.crv !== 'Ed25519' || typeof config.x !== 'string') throw keyError(datacenter, 'not an Ed25519 (OKP) JWK');
    jwk = { kty: 'OKP', crv: 'Ed25519', x: config.x };
  }
  try {
    const key = await importJWK(jwk, 'EdDSA');
    if (key instanceof Uint8Array) throw new TypeError('symmetric key');
    return key;
  } catch (cause) {
    throw keyError(datacenter, 'it does not import as an Ed25519 key', cause);
  }
}

/** Imports the configured keys of every datacenter; throws BRIDGE_KEY_INVALID naming the first bad one. */
export async function importBridgePublicKeys(config: Readonly<Record<string, BridgePublicKeyConfig>>): Promise<Map<string, CryptoKey>> {
  const entries = await Promise.all(Object.entries(config).map(async ([dc, key]) => [dc, await importBridgePublicKey(dc, key)] as const));
  return new Map(entries);
}

/** A datacenter's bridge as configured: its key, and optionally the signalling URL it must announce. */
export type BridgeIdentityConfig = BridgePublicKeyConfig | { readonly key: BridgePublicKeyConfig; readonly url?: string };

/** The bridges the broker knows: keys to verify them, public JWKs to publish, bound signalling URLs. */
export interface BridgeIdentities {
  readonly keys: ReadonlyMap<string, CryptoKey>;
  readonly jwks: Readonly<Record<string, JWK>>;
  readonly urls: ReadonlyMap<string, string>;
}

/** Imports every configured bridge; throws BRIDGE_KEY_INVALID or BRIDGE_URL_INVALID naming the first bad one. */
export async function importBridgeIdentities(config: Readonly<Record<string, BridgeIdentityConfig>>): Promise<BridgeIdentities> {
  const keys = new Map<string, CryptoKey>();
  const jwks: Record<string, JWK> = {};
  const urls = new Map<string, string>();
  for (const [dc, entry] of Object.entries(config)) {
    const key = typeof entry === 'object' && 'key' in entry ? entry.key : entry;
    keys.set(dc, await importBridgePublicKey(dc, key));
    jwks[dc] = { kty: 'OKP', crv: 'Ed25519', x: typeof key === 'string' ? key : String(key.x) };
    const url = typeof entry === 'object' && 'key' in entry ? entry.url : undefined;
    if (url === undefined) continue;
    if (typeof url !== 'string' || !/^wss?:\/\/\S+$/.test(url) || !URL.canParse(url)) {
      throw new GeobridgeError('BRIDGE_URL_INVALID', `The signalling URL configured for datacenter '${dc}' is not a ws:// or wss:// URL: ${JSON.stringify(url)}.`);
    }
    urls.set(dc, url);
  }
  return { keys, jwks, urls };
}

/** Generates a bridge identity: the public key to configure on the broker, and the private JWK the bridge keeps. */
export async function generateBridgeIdentity(): Promise<{ publicKey: string; privateJwk: JWK }> {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const { x, d } = await exportJWK(pair.privateKey);
  if (x === undefined || d === undefined) throw new TypeError('WebCrypto exported an Ed25519 key without x or d');
  return { publicKey: x, privateJwk: { kty: 'OKP', crv: 'Ed25519', x, d } };
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
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('the payload is not an object');
  const v = value as Record<string, unknown>;
  return { datacenter: v.datacenter, seq: v.seq, at: v.at, body: v.body };
}

/**
 * Verifies a bridge message: signed by the key configured for its datacenter,
 * fresh (`at` within the skew window) and, with a guard, not replayed. Throws
 * BRIDGE_UNKNOWN, BRIDGE_BAD_SIGNATURE, BRIDGE_STALE, BRIDGE_REPLAYED or BRIDGE_MESSAGE_INVALID.
 */
export async function verifyBridgeMessage(publicKeys: ReadonlyMap<string, CryptoKey>, jws: string, options: VerifyBridgeMessageOptions): Promise<BridgeMessage> {
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
    if (!guard.isFresh(datacenter, seq)) {
      throw new GeobridgeError('BRIDGE_REPLAYED', `The message from '${datacenter}' has seq ${seq}, accepted before or too far below the highest accepted ${guard.lastSeq(datacenter) ?? 0}: a replay, or a bridge that reset its counter.`);
    }
    guard.accept(datacenter, seq);
  }
  return { datacenter, seq, at, payload: envelope.body };
}
