/**
 * The crypto backend SFrame runs on. Two implementations: WebCrypto
 * (webcrypto.ts, browsers, workers and Node) and node:crypto
 * (src/node/sframe-node-crypto.ts). Everything is async so that WebCrypto fits;
 * bytes are Uint8Array in and out. A backend that can do better, node:crypto,
 * also offers SyncSFrameCrypto: the per-frame primitives without a promise;
 * WebCrypto offers ImportingSFrameCrypto: AES-GCM keys imported once.
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
 * after using it (the SFrame context never does). Every other input is read
 * before the call returns, though its promise settles later (WebCrypto's
 * methods copy their arguments at once): the context writes each frame's
 * nonce and AAD into buffers it reuses, and a backend that read them later
 * could seal a frame under another frame's nonce.
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
  /** AES-GCM encryption (16- or 32-byte key, 12-byte nonce): ciphertext ‖ 16-byte tag, in an array that is the caller's (SFrameContext may move its buffer into the frame). */
  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** AES-GCM decryption of ciphertext ‖ tag; undefined when the tag does not verify. */
  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined>;
  /** AES-CTR (16- or 32-byte key) from the 16-byte initial counter block; encrypts and decrypts. */
  aesCtr(key: Uint8Array, counter: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
}

declare const preparedKey: unique symbol;

/** A key a synchronous backend imported once for repeated use (node:crypto: a KeyObject); opaque to SFrame. */
export interface PreparedKey {
  readonly [preparedKey]: true;
}

/**
 * The optional synchronous capability of a backend (node:crypto has it;
 * WebCrypto cannot). SFrameContext uses it for encryptSync/decryptSync: no
 * promise per frame, keys imported once, the ciphertext written straight
 * into the frame. Every input is read during the call only, so callers may
 * reuse their nonce and AAD buffers for the next frame.
 */
export interface SyncSFrameCrypto extends SFrameCrypto {
  /** Imports a raw AES (16 or 32 bytes) or HMAC key once; the array may change afterwards. */
  prepareKey(key: Uint8Array): PreparedKey;
  /** AES-GCM encryption, writing ciphertext ‖ 16-byte tag into `out` from `offset` (room for plaintext.length + 16 bytes). */
  aesGcmSealInto(key: PreparedKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void;
  /** AES-GCM decryption of ciphertext ‖ tag: the plaintext in a buffer of its own, or undefined when the tag does not verify. */
  aesGcmOpenSync(key: PreparedKey, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined;
  /** AES-CTR from the 16-byte initial counter block, into a buffer of its own; encrypts and decrypts. */
  aesCtrSync(key: PreparedKey, counter: Uint8Array, data: Uint8Array): Uint8Array;
  /** HMAC(key, parts[0] ‖ parts[1] ‖ …), full length, without concatenating the parts first. */
  hmacSync(hash: HashName, key: PreparedKey, parts: readonly Uint8Array[]): Uint8Array;
}

declare const importedKey: unique symbol;

/** An AES-GCM key an importing backend imported once (WebCrypto: a CryptoKey); opaque to SFrame. */
export interface ImportedGcmKey {
  readonly [importedKey]: true;
}

/**
 * The optional capability of an asynchronous backend to import an AES-GCM
 * key once and use it for every frame (WebCrypto has it). SFrameContext
 * imports each AES-GCM key when it is added, so a frame costs the platform's
 * call alone: no lookup of the key by its bytes, no promise around the
 * platform's, whose ArrayBuffer comes back as it is. In a browser each of
 * those shows per frame (docs/benchmarks.md, `sframe`). Inputs are read
 * before a call returns, as for SFrameCrypto.
 */
export interface ImportingSFrameCrypto extends SFrameCrypto {
  /** Imports a raw AES key (16 or 32 bytes) for AES-GCM. */
  importGcmKey(key: Uint8Array): Promise<ImportedGcmKey>;
  /** AES-GCM encryption: ciphertext ‖ 16-byte tag, in a buffer that is the caller's. */
  gcmSeal(key: ImportedGcmKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<ArrayBuffer>;
  /** AES-GCM decryption of ciphertext ‖ tag: the plaintext; rejects with an error `isAuthFailure` knows when the tag does not verify. */
  gcmOpen(key: ImportedGcmKey, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<ArrayBuffer>;
  /** Whether gcmOpen rejected with `error` because the tag did not verify (anything else is a bug). */
  isAuthFailure(error: unknown): boolean;
}

/** True when `crypto` offers the importing capability. */
export function isImportingSFrameCrypto(crypto: SFrameCrypto): crypto is ImportingSFrameCrypto {
  const c = crypto as Partial<ImportingSFrameCrypto>;
  return typeof c.importGcmKey === 'function' && typeof c.gcmSeal === 'function' && typeof c.gcmOpen === 'function' && typeof c.isAuthFailure === 'function';
}

/** True when `crypto` offers the synchronous capability. */
export function isSyncSFrameCrypto(crypto: SFrameCrypto): crypto is SyncSFrameCrypto {
  const c = crypto as Partial<SyncSFrameCrypto>;
  return typeof c.prepareKey === 'function' && typeof c.aesGcmSealInto === 'function' && typeof c.aesGcmOpenSync === 'function' && typeof c.aesCtrSync === 'function' && typeof c.hmacSync === 'function';
}
