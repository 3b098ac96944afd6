/**
 * The SFrame header, RFC 9605 §4.3: a config byte `X|K(3)|Y|C(3)`, then the KID
 * and CTR in the shortest big-endian form. Values 0–7 live in K or C with the
 * flag clear; larger ones take 1–8 bytes and K or C holds the length minus one.
 * KID and CTR are 64-bit, so they are BigInts: a double loses them above 2^53.
 */
import { bigIntToBytes, byteLength, bytesToBigInt } from './bytes.js';
import { SFrameError } from './errors.js';

/** The largest KID or CTR a header can carry, 2^64 − 1. */
export const MAX_U64 = (1n << 64n) - 1n;

/** A decoded header: KID, CTR and the header's length in bytes. */
export interface SFrameHeader {
  readonly kid: bigint;
  readonly ctr: bigint;
  /** Bytes the header takes at the start of the frame (1–17). */
  readonly length: number;
}

/** True when `value` is a BigInt in 0..2^64−1. */
export function isU64(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= 0n && value <= MAX_U64;
}

/** Encodes the header for `kid` and `ctr` (each 0..2^64−1), RFC 9605 §4.3. */
export function encodeHeader(kid: bigint, ctr: bigint): Uint8Array<ArrayBuffer> {
  if (!isU64(kid)) throw new SFrameError('SFRAME_BAD_HEADER', `KID must be a BigInt in 0..2^64-1, got ${String(kid)}.`);
  if (!isU64(ctr)) throw new SFrameError('SFRAME_BAD_HEADER', `CTR must be a BigInt in 0..2^64-1, got ${String(ctr)}.`);
  const kidLen = kid < 8n ? 0 : byteLength(kid);
  const ctrLen = ctr < 8n ? 0 : byteLength(ctr);
  const out = new Uint8Array(1 + kidLen + ctrLen);
  const k = kidLen === 0 ? Number(kid) : 0x08 | (kidLen - 1);
  const c = ctrLen === 0 ? Number(ctr) : 0x08 | (ctrLen - 1);
  out[0] = (k << 4) | c;
  if (kidLen > 0) out.set(bigIntToBytes(kid, kidLen), 1);
  if (ctrLen > 0) out.set(bigIntToBytes(ctr, ctrLen), 1 + kidLen);
  return out;
}

/**
 * Decodes the header at the start of `frame`. Throws SFRAME_BAD_HEADER when it
 * is truncated or not in the shortest form: §4.3 says values "MUST be encoded
 * with the minimum number of bytes", and accepting only that form keeps one
 * byte string per (KID, CTR).
 */
export function decodeHeader(frame: Uint8Array): SFrameHeader {
  const config = frame[0];
  if (config === undefined) throw new SFrameError('SFRAME_BAD_HEADER', 'The frame is empty: it has no SFrame header.');
  // Module-level helpers rather than a closure: this runs for every received frame.
  const kid = readField(frame, 1, config >> 4, 'KID');
  const ctr = readField(frame, 1 + fieldLength(config >> 4), config & 0x0f, 'CTR');
  return { kid, ctr, length: 1 + fieldLength(config >> 4) + fieldLength(config & 0x0f) };
}

/** Bytes a KID or CTR field takes after the config byte: 0 when its value is in the 3 bits, else 1–8. */
function fieldLength(bits: number): number {
  return (bits & 0x08) === 0 ? 0 : (bits & 0x07) + 1;
}

/** The KID or CTR whose 4 config bits are `bits` and whose bytes (if any) start at `offset`. */
function readField(frame: Uint8Array, offset: number, bits: number, name: 'KID' | 'CTR'): bigint {
  if ((bits & 0x08) === 0) return BigInt(bits);
  const len = (bits & 0x07) + 1;
  if (frame.length < offset + len) {
    throw new SFrameError('SFRAME_BAD_HEADER', `The SFrame header is truncated: its ${name} needs ${len} bytes, ${Math.max(0, frame.length - offset)} are left.`);
  }
  const value = bytesToBigInt(frame.subarray(offset, offset + len));
  if (value < 8n || byteLength(value) !== len) {
    throw new SFrameError('SFRAME_BAD_HEADER', `The SFrame header encodes ${name} ${value} in ${len} bytes, not in its shortest form (RFC 9605 §4.3).`);
  }
  return value;
}
