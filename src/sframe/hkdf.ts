/**
 * HKDF-Expand (RFC 5869 §2.3) over any HMAC. Neither WebCrypto nor node:crypto
 * exposes Expand on its own (both run Extract first), and SFrame needs the two
 * steps apart (§4.4.2 expands one secret twice), so the backends share this loop.
 */
import { concatBytes } from './bytes.js';
import { HASH_LENGTH, type HashName } from './crypto.js';

/** HMAC as HKDF needs it. */
export type HmacFunction = (hash: HashName, key: Uint8Array, data: Uint8Array) => Promise<Uint8Array>;

/** HKDF-Expand(prk, info, length): T(i) = HMAC(prk, T(i−1) ‖ info ‖ i), concatenated and cut to `length`. */
export async function hkdfExpandWith(hmac: HmacFunction, hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  const hashLen = HASH_LENGTH[hash];
  if (!Number.isSafeInteger(length) || length < 1 || length > 255 * hashLen) throw new RangeError(`HKDF-Expand length must be 1..${255 * hashLen}, got ${String(length)}`);
  if (prk.length < hashLen) throw new RangeError(`HKDF-Expand needs a PRK of at least ${hashLen} bytes (RFC 5869 §2.3), got ${prk.length}`);
  const blocks: Uint8Array[] = [];
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 1; blocks.length * hashLen < length; i++) {
    previous = await hmac(hash, prk, concatBytes(previous, info, Uint8Array.of(i)));
    blocks.push(previous);
  }
  return concatBytes(...blocks).slice(0, length);
}

/** The HMAC key that stands for an empty one: RFC 5869 §2.2 reads an absent salt as HashLen zeros, and HMAC pads short keys with zeros anyway. */
export function nonEmptyHmacKey(hash: HashName, key: Uint8Array): Uint8Array {
  return key.length > 0 ? key : new Uint8Array(HASH_LENGTH[hash]);
}
