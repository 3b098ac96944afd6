// A witness's verdicts on a log's successive tree heads, over real trees and signatures.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MerkleTree } from '../../translog/index.js';
import { ephemeralLogKey } from '../log-key.js';
import { signTreeHead } from './tree-heads.js';
import { judgeTreeHead } from './witness.js';

const key = await ephemeralLogKey();
const base64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** A tree of `n` leaves `prefix` 0…n−1. */
function tree(n: number, prefix = 'r'): MerkleTree {
  const t = new MerkleTree();
  for (let i = 0; i < n; i++) t.append(new TextEncoder().encode(`${prefix}${String(i)}`));
  return t;
}

describe('judgeTreeHead', () => {
  it('keeps the first head, ignores the same one, and accepts a log that grew with a proof', () => {
    const t = tree(9);
    const old = signTreeHead(key, t.head(5), 1);
    const now = signTreeHead(key, t.head(9), 2);
    expect(judgeTreeHead(undefined, old, [], key).kind).toBe('first');
    expect(judgeTreeHead(old, signTreeHead(key, t.head(5), 3), [], key).kind).toBe('same');
    expect(judgeTreeHead(old, now, t.consistencyProof(5, 9).map(base64), key).kind).toBe('grew');
  });

  it('calls a smaller log a rollback, and two roots for a size, or a tree without the old one, a fork', async () => {
    const t = tree(9);
    const old = signTreeHead(key, t.head(5), 1);
    expect(judgeTreeHead(old, signTreeHead(key, t.head(4), 2), [], key)).toMatchObject({ kind: 'rollback' });
    const other = tree(9, 'x');
    expect(judgeTreeHead(old, signTreeHead(key, other.head(5), 2), [], key)).toMatchObject({ kind: 'fork', reason: expect.stringContaining('two different roots') as unknown });
    expect(judgeTreeHead(old, signTreeHead(key, other.head(9), 2), other.consistencyProof(5, 9).map(base64), key)).toMatchObject({ kind: 'fork' });
    expect(judgeTreeHead(old, signTreeHead(await ephemeralLogKey(), t.head(9), 2), t.consistencyProof(5, 9).map(base64), key)).toMatchObject({ kind: 'bad-signature' });
  });

  it('property: a log that changed any earlier leaf is never accepted as grown', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.nat(), (m, extra, at) => {
        const n = m + extra;
        const honest = tree(n);
        const changed = new MerkleTree();
        for (let i = 0; i < n; i++) changed.append(new TextEncoder().encode(i === at % m ? 'changed' : `r${String(i)}`));
        const old = signTreeHead(key, honest.head(m), 1);
        const verdict = judgeTreeHead(old, signTreeHead(key, changed.head(n), 2), changed.consistencyProof(m, n).map(base64), key);
        expect(verdict.kind).toBe('fork');
      }),
      { numRuns: 300 },
    );
  });
});
