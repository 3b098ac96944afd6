// The integer helpers' fast paths (Numbers below 2^53, ≤ 6 bytes) against the plain BigInt definitions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bigIntToBytes, byteLength, bytesToBigInt } from './bytes.js';

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
