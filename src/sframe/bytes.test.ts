// The integer helpers' fast paths (Numbers below 2^53, ≤ 6 bytes; 64-bit values as two 32-bit halves) against the plain BigInt definitions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bigIntToBytes, byteLength, bytesToBigInt, joinU64, splitU64, u64ByteLength, writeU64 } from './bytes.js';

/** The definition: one BigInt operation per byte, low bytes kept. */
function referenceToBytes(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function referenceToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Values around every power of two up to 2^72, and the 2^53 edge, drawn often. */
const value = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 72n) - 1n }),
  fc.integer({ min: 0, max: 72 }).chain((k) => fc.constantFrom((1n << BigInt(k)) - 1n, 1n << BigInt(k), (1n << BigInt(k)) + 1n)),
  fc.bigInt({ min: (1n << 53n) - 3n, max: (1n << 53n) + 3n }),
);

describe('bigIntToBytes, bytesToBigInt, byteLength', () => {
  it('bigIntToBytes equals the byte-by-byte definition for every length 0–16, truncating like it', () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 16 }), (v, length) => {
        expect(bigIntToBytes(v, length)).toEqual(referenceToBytes(v, length));
      }),
      { numRuns: 2000 },
    );
  });

  it('bytesToBigInt equals the definition for 0–12 bytes, and inverts bigIntToBytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 12 }), (bytes) => {
        const v = bytesToBigInt(bytes);
        expect(v).toBe(referenceToBigInt(bytes));
        expect(bigIntToBytes(v, bytes.length)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('byteLength is the length of the shortest encoding (at least 1)', () => {
    fc.assert(
      fc.property(value, (v) => {
        let n = 1;
        while (v >= 1n << BigInt(8 * n)) n++;
        expect(byteLength(v)).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('64-bit values as 32-bit halves', () => {
  const u64 = value.map((v) => v & ((1n << 64n) - 1n));

  it('splitU64 gives halves in 0..2^32 − 1 that joinU64 puts back exactly', () => {
    fc.assert(
      fc.property(u64, (v) => {
        const [hi, lo] = splitU64(v);
        expect(Number.isInteger(hi) && hi >= 0 && hi < 2 ** 32 && Number.isInteger(lo) && lo >= 0 && lo < 2 ** 32).toBe(true);
        expect(BigInt(hi) * 2n ** 32n + BigInt(lo)).toBe(v);
        expect(joinU64(hi, lo)).toBe(v);
      }),
      { numRuns: 2000 },
    );
  });

  it('u64ByteLength and writeU64 agree with byteLength and bigIntToBytes', () => {
    fc.assert(
      fc.property(u64, fc.integer({ min: 1, max: 8 }), (v, length) => {
        const [hi, lo] = splitU64(v);
        expect(u64ByteLength(hi, lo)).toBe(byteLength(v));
        const out = new Uint8Array(length + 2).fill(0xee);
        writeU64(out, 1, length, hi, lo);
        expect(out).toEqual(Uint8Array.of(0xee, ...referenceToBytes(v, length), 0xee));
      }),
      { numRuns: 2000 },
    );
  });
});
