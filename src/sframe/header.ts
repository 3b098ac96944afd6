/**
 * The SFrame header, RFC 9605 §4.3: a config byte `X|K(3)|Y|C(3)`, then the KID
 * and CTR in the shortest big-endian form. Values 0–7 live in K or C with the
 * flag clear; larger ones take 1–8 bytes and K or C holds the length minus one.
 * KID and CTR are 64-bit, so they are BigInts: a double loses them above 2^53.
 */
import { bigIntToBytes, byteLength, bytesToBigInt, joinU64, u64ByteLength, writeU64 } from './bytes.js';
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
 * A header read without BigInt: KID and CTR as 32-bit halves, value = hi · 2^32 + lo
 * (see splitU64). Mutable so that the per-frame path reuses one object.
 */
export interface HeaderHalves {
  kidHi: number;
  kidLo: number;
  ctrHi: number;
  ctrLo: number;
  /** Bytes the header takes at the start of the frame (1–17). */
  length: number;
}

/**
 * Decodes the header at the start of `frame`. Throws SFRAME_BAD_HEADER when it
 * is truncated or not in the shortest form: §4.3 says values "MUST be encoded
 * with the minimum number of bytes", and accepting only that form keeps one
 * byte string per (KID, CTR).
 */
export function decodeHeader(frame: Uint8Array): SFrameHeader {
  const h: HeaderHalves = { kidHi: 0, kidLo: 0, ctrHi: 0, ctrLo: 0, length: 0 };
  readHeader(frame, h);
  return { kid: joinU64(h.kidHi, h.kidLo), ctr: joinU64(h.ctrHi, h.ctrLo), length: h.length };
}

/** decodeHeader into halves, written to `out`: the same checks and errors, no BigInt. */
export function readHeader(frame: Uint8Array, out: HeaderHalves): void {
  const config = frame[0];
  if (config === undefined) throw new SFrameError('SFRAME_BAD_HEADER', 'The frame is empty: it has no SFrame header.');
  const kidBits = config >> 4;
  const ctrBits = config & 0x0f;
  const kidLen = fieldLength(kidBits);
  const ctrLen = fieldLength(ctrBits);
  checkField(frame, 1, kidLen, 'KID');
  checkField(frame, 1 + kidLen, ctrLen, 'CTR');
  out.kidHi = kidLen === 0 ? 0 : high(frame, 1, kidLen);
  out.kidLo = kidLen === 0 ? kidBits : low(frame, 1, kidLen);
  out.ctrHi = ctrLen === 0 ? 0 : high(frame, 1 + kidLen, ctrLen);
  out.ctrLo = ctrLen === 0 ? ctrBits : low(frame, 1 + kidLen, ctrLen);
  out.length = 1 + kidLen + ctrLen;
}

/**
 * The header for a KID given as its already-encoded part (`kidNibble`, the K
 * bits with X, and `kidField`, its bytes: see encodeHeader) and a CTR as halves,
 * written into `out` at `at` (default 0); returns its length. Callers precompute the
 * KID part once per key.
 */
export function writeHeader(out: Uint8Array, kidNibble: number, kidField: Uint8Array, ctrHi: number, ctrLo: number, at = 0): number {
  const small = ctrHi === 0 && ctrLo < 8;
  const ctrLen = small ? 0 : u64ByteLength(ctrHi, ctrLo);
  out[at] = (kidNibble << 4) | (small ? ctrLo : 0x08 | (ctrLen - 1));
  out.set(kidField, at + 1);
  if (ctrLen > 0) writeU64(out, at + 1 + kidField.length, ctrLen, ctrHi, ctrLo);
  return 1 + kidField.length + ctrLen;
}

/** The length writeHeader will give for a KID field of `kidFieldLength` bytes and this CTR. */
export function headerLength(kidFieldLength: number, ctrHi: number, ctrLo: number): number {
  return 1 + kidFieldLength + (ctrHi === 0 && ctrLo < 8 ? 0 : u64ByteLength(ctrHi, ctrLo));
}

/** Bytes a KID or CTR field takes after the config byte: 0 when its value is in the 3 bits, else 1–8. */
function fieldLength(bits: number): number {
  return (bits & 0x08) === 0 ? 0 : (bits & 0x07) + 1;
}

/** Throws unless the `len` bytes of a KID or CTR field at `offset` are present and in the shortest form. */
function checkField(frame: Uint8Array, offset: number, len: number, name: 'KID' | 'CTR'): void {
  if (len === 0) return;
  if (frame.length < offset + len) {
    throw new SFrameError('SFRAME_BAD_HEADER', `The SFrame header is truncated: its ${name} needs ${len} bytes, ${Math.max(0, frame.length - offset)} are left.`);
  }
  // Shortest form: one byte holds 8..255 (0–7 go in the config bits); a longer field has no leading zero byte.
  const first = frame[offset] ?? 0;
  if (len === 1 ? first < 8 : first === 0) {
    const value = bytesToBigInt(frame.subarray(offset, offset + len));
    throw new SFrameError('SFRAME_BAD_HEADER', `The SFrame header encodes ${name} ${value} in ${len} bytes, not in its shortest form (RFC 9605 §4.3).`);
  }
}

/** The high 32 bits of the `len`-byte big-endian field at `offset` (the bytes before its last four). */
function high(frame: Uint8Array, offset: number, len: number): number {
  let v = 0;
  for (let i = offset, end = offset + len - 4; i < end; i++) v = v * 256 + (frame[i] ?? 0);
  return v;
}

/** The low 32 bits of the `len`-byte big-endian field at `offset` (its last four bytes at most). */
function low(frame: Uint8Array, offset: number, len: number): number {
  let v = 0;
  for (let i = Math.max(offset, offset + len - 4), end = offset + len; i < end; i++) v = v * 256 + (frame[i] ?? 0);
  return v;
}
