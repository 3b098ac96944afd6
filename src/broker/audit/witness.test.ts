// A witness's verdicts on a log's successive tree heads, over real trees and signatures.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MerkleTree } from '../../translog/index.js';
import { ephemeralLogKey } from '../log-key.js';
import { signTreeHead } from './tree-heads.js';
import { CLOCK_SKEW_MS, judgeTreeHead, proofNeeded, STALE_MS } from './witness.js';

const key = await ephemeralLogKey();
const base64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** A tree of `n` leaves `prefix` 0…n−1. */
function tree(n: number, prefix = 'r'): MerkleTree {
  const t = new MerkleTree();
  for (let i = 0; i < n; i++) t.append(new TextEncoder().encode(`${prefix}${String(i)}`));
  return t;
}

/** The witness's clock in these cases: well after every head signed below. */
const NOW = 1_000_000;

describe('judgeTreeHead', () => {
  it('keeps the first head, ignores the same one, and accepts a log that grew with a proof', () => {
    const t = tree(9);
    const old = signTreeHead(key, t.head(5), 1);
    const now = signTreeHead(key, t.head(9), 2);
    expect(judgeTreeHead(undefined, old, undefined, key, NOW).kind).toBe('first');
    expect(judgeTreeHead(old, signTreeHead(key, t.head(5), 3), undefined, key, NOW).kind).toBe('same');
    expect(proofNeeded(old, now)).toEqual({ from: 5, to: 9 });
    expect(judgeTreeHead(old, now, t.consistencyProof(5, 9).map(base64), key, NOW).kind).toBe('grew');
  });

  it('calls a smaller log a rollback, and two roots for a size, or a tree without the old one, a fork', async () => {
    const t = tree(9);
    const old = signTreeHead(key, t.head(5), 1);
    expect(proofNeeded(old, signTreeHead(key, t.head(4), 2))).toBeUndefined();
    expect(judgeTreeHead(old, signTreeHead(key, t.head(4), 2), undefined, key, NOW)).toMatchObject({ kind: 'rollback' });
    const other = tree(9, 'x');
    expect(judgeTreeHead(old, signTreeHead(key, other.head(5), 2), undefined, key, NOW)).toMatchObject({ kind: 'fork', reason: expect.stringContaining('two different roots') as unknown });
    expect(judgeTreeHead(old, signTreeHead(key, other.head(9), 2), other.consistencyProof(5, 9).map(base64), key, NOW)).toMatchObject({ kind: 'fork' });
    expect(judgeTreeHead(old, signTreeHead(await ephemeralLogKey(), t.head(9), 2), t.consistencyProof(5, 9).map(base64), key, NOW)).toMatchObject({ kind: 'bad-signature' });
  });

  it('lets a smaller head signed shortly before the last one pass as stale when the log proves it a prefix, and only then', () => {
    const t = tree(9);
    const last = signTreeHead(key, t.head(9), 50_000);
    // As another broker of the same log serves the head it signed a second before.
    const older = signTreeHead(key, t.head(7), 49_000);
    expect(proofNeeded(last, older)).toEqual({ from: 7, to: 9 });
    expect(judgeTreeHead(last, older, t.consistencyProof(7, 9).map(base64), key, NOW).kind).toBe('stale');
    expect(judgeTreeHead(last, older, undefined, key, NOW)).toMatchObject({ kind: 'unproven' });
    const forked = tree(9, 'x');
    expect(judgeTreeHead(last, signTreeHead(key, forked.head(7), 49_000), forked.consistencyProof(7, 9).map(base64), key, NOW)).toMatchObject({ kind: 'fork' });
    // Signed after the last, or long before it: a rollback.
    expect(judgeTreeHead(last, signTreeHead(key, t.head(7), 50_001), t.consistencyProof(7, 9).map(base64), key, NOW)).toMatchObject({ kind: 'rollback' });
    expect(judgeTreeHead(last, signTreeHead(key, t.head(7), 50_000 - STALE_MS - 1), t.consistencyProof(7, 9).map(base64), key, NOW)).toMatchObject({ kind: 'rollback' });
  });

  it('refuses a head signed in the future, a grown one signed before the head it extends, and a grown one without a proof', () => {
    const t = tree(9);
    expect(judgeTreeHead(undefined, signTreeHead(key, t.head(5), NOW + CLOCK_SKEW_MS + 1), undefined, key, NOW)).toMatchObject({ kind: 'time', reason: expect.stringContaining('in the future') as unknown });
    expect(judgeTreeHead(undefined, signTreeHead(key, t.head(5), NOW + CLOCK_SKEW_MS), undefined, key, NOW).kind).toBe('first');
    const last = signTreeHead(key, t.head(5), 500_000);
    const proof = t.consistencyProof(5, 9).map(base64);
    expect(judgeTreeHead(last, signTreeHead(key, t.head(9), 500_000 - CLOCK_SKEW_MS - 1), proof, key, NOW)).toMatchObject({ kind: 'time', reason: expect.stringContaining('before the one of 5 records') as unknown });
    expect(judgeTreeHead(last, signTreeHead(key, t.head(9), 500_000 - CLOCK_SKEW_MS), proof, key, NOW).kind).toBe('grew');
    expect(judgeTreeHead(last, signTreeHead(key, t.head(9), 500_001), undefined, key, NOW)).toMatchObject({ kind: 'unproven' });
  });

  it('property: a log that changed any earlier leaf is never accepted as grown', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.nat(), (m, extra, at) => {
        const n = m + extra;
        const honest = tree(n);
        const changed = new MerkleTree();
        for (let i = 0; i < n; i++) changed.append(new TextEncoder().encode(i === at % m ? 'changed' : `r${String(i)}`));
        const old = signTreeHead(key, honest.head(m), 1);
        const verdict = judgeTreeHead(old, signTreeHead(key, changed.head(n), 2), changed.consistencyProof(m, n).map(base64), key, NOW);
        expect(verdict.kind).toBe('fork');
      }),
      { numRuns: 300 },
    );
  });
});
