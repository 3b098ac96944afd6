/** Byte helpers for the SFrame layer: concatenation, big-endian integers, XOR, comparison. */

/** The concatenation of `parts`, as a new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** 256^n for n = 0..8: a value below BYTE_LIMITS[n] fits in n bytes. */
const BYTE_LIMITS: readonly bigint[] = Array.from({ length: 9 }, (_, n) => 1n << BigInt(8 * n));
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** 2^32: a 64-bit KID or CTR is carried as two Numbers, hi · 2^32 + lo, each in 0..2^32 − 1. */
export const TWO_32 = 2 ** 32;

/**
 * `value` as an unsigned big-endian integer of exactly `length` bytes (the caller
 * checks the range; higher bytes are dropped). This runs for every frame's
 * header and nonce, so values up to 2^53 − 1 (every CTR in practice) are
 * converted to a Number once instead of taking three BigInt operations per byte.
 */
export function bigIntToBytes(value: bigint, length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  if (value >= 0n && value <= MAX_SAFE) {
    const n = Number(value);
    let lo = n % TWO_32;
    let hi = (n - lo) / TWO_32;
    for (let i = length - 1, k = 0; i >= 0 && k < 8; i--, k++) {
      if (k < 4) {
        out[i] = lo & 0xff;
        lo = lo >>> 8;
      } else {
        out[i] = hi & 0xff;
        hi = hi >>> 8;
      }
    }
    return out;
  }
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The unsigned big-endian integer in `bytes`. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  if (bytes.length <= 6) {
    // Up to 48 bits fit a Number exactly: one BigInt conversion instead of two BigInt operations per byte.
    let n = 0;
    for (const b of bytes) n = n * 256 + b;
    return BigInt(n);
  }
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** The number of bytes of the shortest big-endian encoding of `value` (at least 1; `value` ≥ 0). */
export function byteLength(value: bigint): number {
  for (let n = 1; n < BYTE_LIMITS.length; n++) if (value < (BYTE_LIMITS[n] ?? 0n)) return n;
  let n = 1;
  for (let v = value >> 8n; v > 0n; v >>= 8n) n++;
  return n;
}

/**
 * The high and low 32-bit halves of a 64-bit `value`. The per-frame paths
 * (header, nonce, replay window) work on halves: exact for every 64-bit value,
 * with no BigInt operation per frame.
 */
export function splitU64(value: bigint): [hi: number, lo: number] {
  if (value >= 0n && value <= MAX_SAFE) {
    const n = Number(value);
    const lo = n % TWO_32;
    return [(n - lo) / TWO_32, lo];
  }
  return [Number((value >> 32n) & 0xffffffffn), Number(value & 0xffffffffn)];
}

/** hi · 2^32 + lo as a BigInt: one conversion while the value is below 2^53. */
export function joinU64(hi: number, lo: number): bigint {
  return hi < 0x200000 ? BigInt(hi * TWO_32 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/** Bytes of the shortest big-endian encoding of hi · 2^32 + lo (at least 1). */
export function u64ByteLength(hi: number, lo: number): number {
  return hi !== 0 ? 8 - (Math.clz32(hi) >>> 3) : 4 - (Math.clz32(lo | 1) >>> 3);
}

/** Writes hi · 2^32 + lo big-endian into `out[offset..offset + length)`, length 1–8 (higher bytes dropped). */
export function writeU64(out: Uint8Array, offset: number, length: number, hi: number, lo: number): void {
  for (let i = offset + length - 1, k = 0; i >= offset; i--, k++) out[i] = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
}

/** `a` XOR `b`, for arrays of equal length. */
export function xorBytes(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  if (a.length !== b.length) throw new RangeError(`xorBytes: lengths differ (${a.length} and ${b.length})`);
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

/** Whether `a` and `b` are equal, in time that depends only on their lengths (RFC 9605 §4.5.1). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** ASCII text as bytes (the pure layers have no TextEncoder). */
export function asciiBytes(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0x7f);
}
