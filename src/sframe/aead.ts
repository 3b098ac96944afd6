/**
 * The AEAD of each cipher suite: AES-GCM from the backend, or the compound
 * AES-CTR + HMAC AEAD of RFC 9605 §4.5.1 (encrypt-then-MAC, as in SRTP),
 * which exists so that tags can be as short as 4 bytes.
 */
import { bigIntToBytes, concatBytes, constantTimeEqual, TWO_32, writeU64 } from './bytes.js';
import type { PreparedKey, SFrameCrypto, SyncSFrameCrypto } from './crypto.js';
import { SFrameError } from './errors.js';
import type { CipherSuite } from './suites.js';

/** An AEAD key, with the compound AEAD's subkeys split out once (§4.5.1 derive_subkeys). */
export interface AeadKey {
  /** The whole AEAD key, AEAD.Nk bytes. */
  readonly key: Uint8Array;
  /** AES key: the first Nka bytes (the whole key for AES-GCM). */
  readonly encKey: Uint8Array;
  /** HMAC key: the remaining Nh bytes (empty for AES-GCM). */
  readonly authKey: Uint8Array;
}

/** Splits an AEAD key for `suite` (§4.5.1: enc_key = key[..Nka], auth_key = key[Nka..]). */
export function splitAeadKey(suite: CipherSuite, key: Uint8Array): AeadKey {
  if (key.length !== suite.nk) throw new SFrameError('SFRAME_BAD_KEY', `${suite.name} needs a ${suite.nk}-byte AEAD key, got ${key.length} bytes.`);
  if (suite.nka === undefined) return { key, encKey: key, authKey: new Uint8Array(0) };
  // slice, not subarray: the subkeys are stable arrays a backend may cache.
  return { key, encKey: key.slice(0, suite.nka), authKey: key.slice(suite.nka) };
}

/** initial_counter = nonce ‖ 0x00000000 (§4.5.1): the low 32 bits count AES blocks. */
function initialCounter(nonce: Uint8Array): Uint8Array<ArrayBuffer> {
  return concatBytes(nonce, new Uint8Array(4));
}

/** compute_tag of §4.5.1: HMAC over the three lengths, nonce, AAD and ciphertext, truncated to Nt. */
async function computeTag(crypto: SFrameCrypto, suite: CipherSuite, authKey: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Promise<Uint8Array> {
  const lengths = concatBytes(bigIntToBytes(BigInt(aad.length), 8), bigIntToBytes(BigInt(ct.length), 8), bigIntToBytes(BigInt(suite.nt), 8));
  const tag = await crypto.hmac(suite.hash, authKey, concatBytes(lengths, nonce, aad, ct));
  return tag.subarray(0, suite.nt);
}

/**
 * AEAD.Encrypt(key, nonce, aad, pt) for `suite`: ciphertext ‖ tag (Nt bytes).
 * Not `async`: AES-GCM hands the backend's promise straight back, without
 * another promise per frame around it. Nonce and AAD are read before it
 * returns, so the caller may reuse their buffers (crypto.ts).
 */
export function aeadSeal(crypto: SFrameCrypto, suite: CipherSuite, key: AeadKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  if (suite.aead === 'AES-GCM') return crypto.aesGcmSeal(key.encKey, nonce, aad, plaintext);
  return compoundSeal(crypto, suite, key, nonce, aad, plaintext);
}

async function compoundSeal(crypto: SFrameCrypto, suite: CipherSuite, key: AeadKey, reusedNonce: Uint8Array, reusedAad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  // Read after an await: copies, as the caller may reuse its buffers once we return (crypto.ts).
  const nonce = reusedNonce.slice();
  const aad = reusedAad.slice();
  const ct = await crypto.aesCtr(key.encKey, initialCounter(nonce), plaintext);
  return concatBytes(ct, await computeTag(crypto, suite, key.authKey, nonce, aad, ct));
}

/** AEAD.Decrypt for `suite`: the plaintext, or undefined when the ciphertext is short or its tag is wrong. Not `async`, as aeadSeal. */
export function aeadOpen(crypto: SFrameCrypto, suite: CipherSuite, key: AeadKey, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined> {
  if (ciphertext.length < suite.nt) return Promise.resolve(undefined);
  if (suite.aead === 'AES-GCM') return crypto.aesGcmOpen(key.encKey, nonce, aad, ciphertext);
  return compoundOpen(crypto, suite, key, nonce, aad, ciphertext);
}

async function compoundOpen(crypto: SFrameCrypto, suite: CipherSuite, key: AeadKey, reusedNonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined> {
  // The nonce is read again after an await; the AAD only before (computeTag joins it at once).
  const nonce = reusedNonce.slice();
  const inner = ciphertext.subarray(0, ciphertext.length - suite.nt);
  const tag = ciphertext.subarray(ciphertext.length - suite.nt);
  // Verify before decrypting (encrypt-then-MAC), in constant time.
  if (!constantTimeEqual(tag, await computeTag(crypto, suite, key.authKey, nonce, aad, inner))) return undefined;
  return crypto.aesCtr(key.encKey, initialCounter(nonce), inner);
}

/** An AeadKey imported once by a synchronous backend: the AES key, and the HMAC key of the compound AEAD. */
export interface PreparedAeadKey {
  readonly encKey: PreparedKey;
  /** Undefined for AES-GCM. */
  readonly authKey: PreparedKey | undefined;
}

/** Imports `key`'s subkeys into a synchronous backend, once per SFrame key. */
export function prepareAeadKey(crypto: SyncSFrameCrypto, suite: CipherSuite, key: AeadKey): PreparedAeadKey {
  return { encKey: crypto.prepareKey(key.encKey), authKey: suite.aead === 'AES-GCM' ? undefined : crypto.prepareKey(key.authKey) };
}

/** len(AAD) ‖ len(CT) ‖ Nt, each 8 bytes big-endian: the start of compute_tag's input (§4.5.1). */
function tagLengths(aadLength: number, ctLength: number, nt: number): Uint8Array {
  const out = new Uint8Array(24);
  writeU64(out, 0, 8, Math.floor(aadLength / TWO_32), aadLength % TWO_32);
  writeU64(out, 8, 8, Math.floor(ctLength / TWO_32), ctLength % TWO_32);
  writeU64(out, 16, 8, 0, nt);
  return out;
}

/** computeTag on a synchronous backend: the HMAC runs over the parts without joining them. */
function computeTagSync(crypto: SyncSFrameCrypto, suite: CipherSuite, key: PreparedAeadKey, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  if (key.authKey === undefined) throw new TypeError(`${suite.name}: the prepared key has no HMAC key`);
  return crypto.hmacSync(suite.hash, key.authKey, [tagLengths(aad.length, ct.length, suite.nt), nonce, aad, ct]).subarray(0, suite.nt);
}

/**
 * aeadSeal on a synchronous backend: ciphertext ‖ tag (Nt bytes) written into
 * `out` from `offset`, which must leave room for plaintext.length + Nt bytes.
 */
export function aeadSealInto(crypto: SyncSFrameCrypto, suite: CipherSuite, key: PreparedAeadKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void {
  if (suite.aead === 'AES-GCM') {
    crypto.aesGcmSealInto(key.encKey, nonce, aad, plaintext, out, offset);
    return;
  }
  const ct = crypto.aesCtrSync(key.encKey, initialCounter(nonce), plaintext);
  out.set(ct, offset);
  out.set(computeTagSync(crypto, suite, key, nonce, aad, ct), offset + ct.length);
}

/** aeadOpen on a synchronous backend: the plaintext, or undefined when the ciphertext is short or its tag is wrong. */
export function aeadOpenSync(crypto: SyncSFrameCrypto, suite: CipherSuite, key: PreparedAeadKey, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
  if (ciphertext.length < suite.nt) return undefined;
  if (suite.aead === 'AES-GCM') return crypto.aesGcmOpenSync(key.encKey, nonce, aad, ciphertext);
  const inner = ciphertext.subarray(0, ciphertext.length - suite.nt);
  // Verify before decrypting (encrypt-then-MAC), in constant time.
  if (!constantTimeEqual(ciphertext.subarray(ciphertext.length - suite.nt), computeTagSync(crypto, suite, key, nonce, aad, inner))) return undefined;
  return crypto.aesCtrSync(key.encKey, initialCounter(nonce), inner);
}
