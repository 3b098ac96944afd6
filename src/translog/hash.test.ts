/**
 * The tree's SHA-256 is node:crypto's in Node and noble's elsewhere
 * (hash.ts): they must be the same function, and what it returns must behave
 * as a plain Uint8Array of its own.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashChildren, hashEmptyTree, hashLeaf, sha256 } from './hash.js';

describe('sha256', () => {
  it('is node:crypto’s under Node (the fast path is taken)', () => {
    expect(sha256).not.toBe(nobleSha256);
  });

  it('property: equals noble’s SHA-256 on any input, the tree’s 33 and 65 bytes among them', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 33, maxLength: 33 }), fc.uint8Array({ minLength: 65, maxLength: 65 })), (data) => {
        expect(sha256(data)).toEqual(nobleSha256(data));
      }),
      { numRuns: 2000 },
    );
    // FIPS 180-4's "abc".
    expect(Buffer.from(sha256(new TextEncoder().encode('abc'))).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('returns a plain Uint8Array with a buffer of its own, whose slice is a copy', () => {
    const a = hashLeaf(Uint8Array.of(1));
    const b = hashChildren(a, a);
    for (const h of [a, b, hashEmptyTree(), sha256(new Uint8Array(65))]) {
      expect(Object.getPrototypeOf(h)).toBe(Uint8Array.prototype);
      expect(h.length).toBe(32);
      expect(h.buffer.byteLength).toBe(32);
    }
    const copy = a.slice();
    copy[0] = (copy[0] ?? 0) ^ 0xff;
    expect(copy[0]).not.toBe(a[0]);
    expect(hashLeaf(Uint8Array.of(1))).toEqual(a);
  });
});
