/**
 * The crypto backend SFrame runs on. Two implementations: WebCrypto
 * (webcrypto.ts, browsers, workers and Node) and node:crypto
 * (src/node/sframe-node-crypto.ts). Everything is async so that WebCrypto fits;
 * bytes are Uint8Array in and out.
 */
import type { HashName } from './suites.js';

export type { HashName } from './suites.js';

/** Output size in bytes of each hash. */
export const HASH_LENGTH: Readonly<Record<HashName, number>> = { 'SHA-256': 32, 'SHA-512': 64 };

/** AES-GCM tag length used by every GCM suite of RFC 9605 (16 bytes). */
export const GCM_TAG_LENGTH = 16;

/**
 * Primitives SFrame needs. Key arguments are raw bytes; a backend may cache
 * imported keys by array identity, so callers must not mutate a key array
 * after using it (the SFrame context never does).
 */
export interface SFrameCrypto {
  /** A short name for reports and tests, e.g. 'webcrypto'. */
  readonly name: string;
  /** HKDF-Extract(salt, ikm) of RFC 5869 §2.2; an empty salt means HashLen zero bytes. */
  hkdfExtract(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array>;
  /** HKDF-Expand(prk, info, length) of RFC 5869 §2.3; length ≤ 255·HashLen. */
  hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array>;
  /** HMAC(key, data) of RFC 2104, full length. */
  hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
  /** AES-GCM encryption (16- or 32-byte key, 12-byte nonce): ciphertext ‖ 16-byte tag. */
  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** AES-GCM decryption of ciphertext ‖ tag; undefined when the tag does not verify. */
  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined>;
  /** AES-CTR (16- or 32-byte key) from the 16-byte initial counter block; encrypts and decrypts. */
  aesCtr(key: Uint8Array, counter: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
}
