/**
 * Key derivation, RFC 9605 §4.4.2, the nonce of §4.4.3 and the sender-key
 * ratchet of §5.1. All hashing goes through the suite's hash via HKDF.
 */
import { asciiBytes, bigIntToBytes, concatBytes, xorBytes } from './bytes.js';
import type { SFrameCrypto } from './crypto.js';
import { SFrameError } from './errors.js';
import { isU64 } from './header.js';
import type { CipherSuite } from './suites.js';

/** Shortest base_key accepted: RFC 9605 sets none, but a key below 128 bits is a bug in key management. */
export const MIN_BASE_KEY_LENGTH = 16;

/** What §4.4.2 derives from one base_key for one KID. */
export interface DerivedKeys {
  /** sframe_secret = HKDF-Extract("", base_key), Nh bytes. */
  readonly secret: Uint8Array;
  /** sframe_key, AEAD.Nk bytes. */
  readonly key: Uint8Array;
  /** sframe_salt, AEAD.Nn bytes. */
  readonly salt: Uint8Array;
}

// §4.4.2: the KID as 8 bytes big-endian (not the compact header form), the suite as 2 bytes.
function label(prefix: string, kid: bigint, suite: CipherSuite): Uint8Array {
  return concatBytes(asciiBytes(prefix), bigIntToBytes(kid, 8), bigIntToBytes(BigInt(suite.id), 2));
}

/** sframe_key_label = "SFrame 1.0 Secret key " ‖ KID(8) ‖ cipher_suite(2). */
export function keyLabel(kid: bigint, suite: CipherSuite): Uint8Array {
  return label('SFrame 1.0 Secret key ', kid, suite);
}

/** sframe_salt_label = "SFrame 1.0 Secret salt " ‖ KID(8) ‖ cipher_suite(2). */
export function saltLabel(kid: bigint, suite: CipherSuite): Uint8Array {
  return label('SFrame 1.0 Secret salt ', kid, suite);
}

function checkBaseKey(kid: bigint, baseKey: Uint8Array): void {
  if (!isU64(kid)) throw new SFrameError('SFRAME_BAD_KEY', `KID must be a BigInt in 0..2^64-1, got ${String(kid)}.`);
  if (!(baseKey instanceof Uint8Array) || baseKey.length < MIN_BASE_KEY_LENGTH) {
    throw new SFrameError('SFRAME_BAD_KEY', `A base key must be a Uint8Array of at least ${MIN_BASE_KEY_LENGTH} bytes.`);
  }
}

/** derive_key_salt(KID, base_key) of RFC 9605 §4.4.2. Throws SFRAME_BAD_KEY for a bad KID or base key. */
export async function deriveKeySalt(crypto: SFrameCrypto, suite: CipherSuite, kid: bigint, baseKey: Uint8Array): Promise<DerivedKeys> {
  checkBaseKey(kid, baseKey);
  const secret = await crypto.hkdfExtract(suite.hash, new Uint8Array(0), baseKey);
  const [key, salt] = await Promise.all([
    crypto.hkdfExpand(suite.hash, secret, keyLabel(kid, suite), suite.nk),
    crypto.hkdfExpand(suite.hash, secret, saltLabel(kid, suite), suite.nn),
  ]);
  return { secret, key, salt };
}

/** The nonce for CTR (§4.4.3): sframe_salt XOR CTR, the CTR big-endian in AEAD.Nn bytes. */
export function frameNonce(salt: Uint8Array, ctr: bigint): Uint8Array<ArrayBuffer> {
  return xorBytes(salt, bigIntToBytes(ctr, salt.length));
}

/**
 * frameNonce for the CTR hi · 2^32 + lo, written over the last 8 bytes of
 * `nonce`, a copy of the salt: a 64-bit CTR changes nothing before them. No
 * BigInt and no allocation, so a synchronous caller keeps one nonce per key.
 * Returns `nonce`.
 */
export function writeFrameNonce(nonce: Uint8Array, salt: Uint8Array, hi: number, lo: number): Uint8Array {
  for (let k = 0; k < 8; k++) {
    const i = salt.length - 1 - k;
    nonce[i] = (salt[i] ?? 0) ^ ((k < 4 ? lo >>> (8 * k) : hi >>> (8 * k - 32)) & 0xff);
  }
  return nonce;
}

/**
 * The next base_key in the sender-key ratchet of §5.1:
 * HKDF-Expand(HKDF-Extract("", base_key), "SFrame 1.0 Ratchet", Nh).
 */
export async function ratchetBaseKey(crypto: SFrameCrypto, suite: CipherSuite, baseKey: Uint8Array): Promise<Uint8Array> {
  checkBaseKey(0n, baseKey);
  const secret = await crypto.hkdfExtract(suite.hash, new Uint8Array(0), baseKey);
  return crypto.hkdfExpand(suite.hash, secret, asciiBytes('SFrame 1.0 Ratchet'), suite.nh);
}
