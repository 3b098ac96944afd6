// The witness's verdict on whatever a broker shows it: judgeTreeHead and proofNeeded return a verdict for any head —
// signed at any time a log can sign (up to 2^53 − 1 ms, past what a Date holds), of any size, with any field changed —
// and any proof, and never throw; and GET /v1/log/sth's schema admits only the sizes and times they can show.
import fc from 'fast-check';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { TreeHeadAnswer } from '../../protocol/answers.js';
import { TIME_MAX_MS } from '../../core/time.js';
import { MerkleTree } from '../../translog/index.js';
import { ephemeralLogKey } from '../log-key.js';
import { signTreeHead, type SignedTreeHead } from './tree-heads.js';
import { judgeTreeHead, proofNeeded } from './witness.js';

const key = await ephemeralLogKey();
const base64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function tree(prefix: string): MerkleTree {
  const t = new MerkleTree();
  for (let i = 0; i < 12; i++) t.append(new TextEncoder().encode(i === 2 ? `${prefix}2` : `r${String(i)}`));
  return t;
}
const honest = tree('r');
const forked = tree('x');

const PASS = ['first', 'same', 'grew', 'stale'];
const ALARM = ['bad-signature', 'rollback', 'fork', 'time', 'unproven'];

/** Any time a log can sign: near the edges of what a Date holds, and past them. */
const time = fc.oneof(fc.integer({ min: 0, max: 2_000_000 }), fc.constantFrom(0, TIME_MAX_MS - 1, TIME_MAX_MS, TIME_MAX_MS + 1, 9e15, Number.MAX_SAFE_INTEGER), fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) }).map(Number));
/** What a field may be changed to. */
const anyValue = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(Number.NaN, Infinity, -1, 0.5, 1e300, 2 ** 53, -0), fc.string({ maxLength: 50 }), fc.constantFrom(null, undefined, true, [], {}));

/** A head signed by the log key, of the honest or a forked log, then perhaps with one field changed. */
const signedHead: fc.Arbitrary<SignedTreeHead> = fc
  .record({ fork: fc.boolean(), size: fc.nat(12), at: time, field: fc.option(fc.constantFrom('size', 'rootHash', 'timestamp', 'keyId', 'signature', 'log'), { freq: 2 }), value: anyValue })
  .map(({ fork, size, at, field, value }) => {
    const head = signTreeHead(key, (fork ? forked : honest).head(size), at);
    return field === null ? head : { ...head, [field]: value };
  });

/** A head as the witness keeps one: it passed the schema (its time is one a Date holds) and the pinned key's signature. */
const keptHead = fc.record({ size: fc.nat(12), at: fc.oneof(time.filter((t) => t <= TIME_MAX_MS), fc.constant(TIME_MAX_MS)) }).map(({ size, at }) => signTreeHead(key, honest.head(size), at));

const proofArb = fc.oneof(
  fc.constant(undefined),
  fc.array(fc.string({ maxLength: 60 }), { maxLength: 20 }),
  fc.array(fc.constantFrom(base64(new Uint8Array(32)), base64(honest.head(3).rootHash)), { maxLength: 10 }),
);

describe('judgeTreeHead on any head and any proof', () => {
  it('gives a verdict, never throws, and lets a head pass only when the log key signed it and the honest log proves it', () => {
    fc.assert(
      fc.property(fc.option(keptHead, { freq: 4 }), signedHead, proofArb, fc.boolean(), time, (kept, next, given, honestProof, now) => {
        const last = kept ?? undefined;
        const needed = proofNeeded(last, next);
        // The log's own proof between the sizes asked, when it has one; otherwise what the broker sent.
        let proof = given;
        if (honestProof && needed !== undefined && Number.isSafeInteger(needed.from) && Number.isSafeInteger(needed.to) && needed.from >= 0 && needed.to <= 12 && needed.from <= needed.to) proof = honest.consistencyProof(needed.from, needed.to).map(base64);
        const verdict = judgeTreeHead(last, next, proof, key, now);
        expect([...PASS, ...ALARM]).toContain(verdict.kind);
        if ('reason' in verdict) expect(verdict.reason).not.toBe('');
        if (verdict.kind === 'grew' || verdict.kind === 'first') expect(next.timestamp).toBeLessThanOrEqual(now + 5_000);
        // Every tree extends the empty one (RFC 9162 §2.1.4): from a kept head of 0 records, any signed head grows it.
        if (verdict.kind === 'grew' && (last?.size ?? 0) > 0) expect(base64(honest.head(next.size).rootHash)).toBe(next.rootHash);
      }),
      { numRuns: 400 },
    );
  });

  it('calls a head signed past the last instant a Date holds one signed in the future, and says when in milliseconds (was: RangeError, Invalid time value)', () => {
    const last = signTreeHead(key, honest.head(5), 1_000);
    for (const at of [TIME_MAX_MS + 1, 9e15, Number.MAX_SAFE_INTEGER]) {
      expect(judgeTreeHead(last, signTreeHead(key, honest.head(8), at), undefined, key, 2_000)).toEqual({ kind: 'time', reason: expect.stringContaining(`signed ${String(at)} ms after 1970, in the future`) as unknown });
      expect(judgeTreeHead(undefined, signTreeHead(key, honest.head(8), at), undefined, key, 2_000)).toMatchObject({ kind: 'time' });
    }
    expect(judgeTreeHead(last, signTreeHead(key, honest.head(8), TIME_MAX_MS), undefined, key, 2_000)).toMatchObject({ kind: 'time', reason: expect.stringContaining('+275760-09-13T00:00:00.000Z') as unknown });
  });
});

describe('TreeHeadAnswer (GET /v1/log/sth)', () => {
  it('admits a size up to 2^53 − 1 and a time up to the last instant a Date holds, as whole numbers from 0, and nothing else', () => {
    const numbers = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, -1, 0.5, TIME_MAX_MS, TIME_MAX_MS + 1, 9e15, Number.MAX_SAFE_INTEGER, 2 ** 53, 1e300, Infinity, Number.NaN));
    fc.assert(
      fc.property(numbers, numbers, (size, timestamp) => {
        const head = { ...signTreeHead(key, honest.head(3), 1), size, timestamp };
        const whole = (n: number, max: number): boolean => Number.isInteger(n) && n >= 0 && n <= max;
        expect(Value.Check(TreeHeadAnswer, head)).toBe(whole(size, Number.MAX_SAFE_INTEGER) && whole(timestamp, TIME_MAX_MS));
      }),
      { numRuns: 300 },
    );
  });
});
