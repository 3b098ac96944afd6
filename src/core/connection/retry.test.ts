// The pure retry policy: capped exponential backoff, jitter from the injected source, and an end.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, RETRY_LIMIT, nextRetryDelayMs, type RetryPolicy } from './retry.js';

const NO_JITTER: RetryPolicy = { ...DEFAULT_RETRY_POLICY, jitter: 0 };
const always = (value: number) => () => value;

describe('nextRetryDelayMs', () => {
  it('doubles from the base delay up to the cap, without jitter', () => {
    const delays = Array.from({ length: DEFAULT_RETRY_POLICY.maxRetries }, (_, i) => nextRetryDelayMs(i, always(0.7), NO_JITTER));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 15_000]);
  });

  it('gives null once the retries are used up: the client gives up', () => {
    expect(nextRetryDelayMs(DEFAULT_RETRY_POLICY.maxRetries, always(0))).toBeNull();
    expect(nextRetryDelayMs(0, always(0), { ...DEFAULT_RETRY_POLICY, maxRetries: 0 })).toBeNull();
  });

  it('takes off up to `jitter` of the delay, at random', () => {
    expect(nextRetryDelayMs(0, always(0))).toBe(500);
    expect(nextRetryDelayMs(0, always(0.5))).toBe(375);
    expect(nextRetryDelayMs(0, always(0.999_999))).toBe(251);
    expect(nextRetryDelayMs(3, always(0.5), { ...DEFAULT_RETRY_POLICY, jitter: 1 })).toBe(2000);
  });

  it('draws exactly one number per delay, and none when it gives up', () => {
    let draws = 0;
    const counting = () => (draws++, 0.25);
    nextRetryDelayMs(2, counting);
    expect(draws).toBe(1);
    nextRetryDelayMs(99, counting);
    expect(draws).toBe(1);
  });

  it('gives null for an attempt that is not a non-negative integer', () => {
    for (const attempt of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(nextRetryDelayMs(attempt, always(0))).toBeNull();
  });

  it('clamps a random source that leaves [0, 1) and a policy out of range', () => {
    expect(nextRetryDelayMs(0, always(-3))).toBe(500);
    expect(nextRetryDelayMs(0, always(7))).toBe(250);
    expect(nextRetryDelayMs(0, always(Number.NaN))).toBe(500);
    expect(nextRetryDelayMs(0, always(0), { baseDelayMs: -5, maxDelayMs: Number.NaN, maxRetries: 2.9, jitter: 4 })).toBe(0);
    expect(nextRetryDelayMs(2, always(0), { baseDelayMs: 500, maxDelayMs: 1e6, maxRetries: 2.9, jitter: 0 })).toBeNull();
    expect(nextRetryDelayMs(RETRY_LIMIT, always(0), { ...DEFAULT_RETRY_POLICY, maxRetries: Number.POSITIVE_INFINITY })).toBeNull();
  });
});

const policyArb: fc.Arbitrary<RetryPolicy> = fc.record({
  baseDelayMs: fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.double()),
  maxDelayMs: fc.oneof(fc.integer({ min: 0, max: 120_000 }), fc.double()),
  maxRetries: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.double()),
  jitter: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.double()),
});

describe('nextRetryDelayMs properties', () => {
  it('keeps every delay inside [ceil(c·(1 − jitter)), c], c = min(max, base·2^attempt)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, r, base, max, jitter) => {
          const policy: RetryPolicy = { baseDelayMs: base, maxDelayMs: max, maxRetries: 31, jitter };
          const delay = nextRetryDelayMs(attempt, always(r), policy);
          const c = Math.min(max, base * 2 ** attempt);
          expect(delay).not.toBeNull();
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeLessThanOrEqual(c);
          expect(delay).toBeGreaterThanOrEqual(Math.ceil(c * (1 - jitter)));
        },
      ),
    );
  });

  it('always gives a finite non-negative integer or null, whatever the policy and the source', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: -5, max: 200 }), fc.double(), (policy, attempt, r) => {
        const delay = nextRetryDelayMs(attempt, always(r), policy);
        if (delay === null) return;
        expect(Number.isSafeInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(policy.maxDelayMs > 0 ? Math.floor(Math.min(policy.maxDelayMs, Number.MAX_SAFE_INTEGER)) : 0);
      }),
    );
  });

  it('terminates: counting up from 0 reaches null within min(maxRetries, RETRY_LIMIT) retries', () => {
    fc.assert(
      fc.property(policyArb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (policy, r) => {
        let attempt = 0;
        while (nextRetryDelayMs(attempt, always(r), policy) !== null) {
          attempt++;
          expect(attempt).toBeLessThanOrEqual(RETRY_LIMIT);
        }
        expect(attempt).toBe(Math.min(policy.maxRetries > 0 ? Math.floor(policy.maxRetries) : 0, RETRY_LIMIT));
      }),
    );
  });

  it('never shrinks the ceiling from one retry to the next (no jitter)', () => {
    fc.assert(
      fc.property(policyArb, (policy) => {
        const steady = { ...policy, jitter: 0 };
        let previous = 0;
        for (let attempt = 0; ; attempt++) {
          const delay = nextRetryDelayMs(attempt, always(0), steady);
          if (delay === null) break;
          expect(delay).toBeGreaterThanOrEqual(previous);
          previous = delay;
        }
      }),
    );
  });
});
