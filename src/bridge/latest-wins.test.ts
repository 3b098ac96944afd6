/**
 * LatestWins (latest-wins.ts): a burst passes at once, then one per
 * interval; what comes faster waits, the latest replacing the earlier, so
 * the last value sent is applied; closing drops what waits.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LatestWins } from './latest-wins.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('LatestWins', () => {
  it('applies a burst at once, then the latest value once a second', () => {
    const applied: number[] = [];
    const limit = new LatestWins<number>((v) => applied.push(v), 3, 1);
    for (let i = 1; i <= 10; i++) limit.submit(i);
    expect(applied).toEqual([1, 2, 3]);
    vi.advanceTimersByTime(999);
    expect(applied).toEqual([1, 2, 3]);
    vi.advanceTimersByTime(1);
    expect(applied).toEqual([1, 2, 3, 10]);
    vi.advanceTimersByTime(10_000);
    expect(applied).toEqual([1, 2, 3, 10]);
    // The budget refilled meanwhile: a burst passes again.
    limit.submit(11);
    limit.submit(12);
    expect(applied).toEqual([1, 2, 3, 10, 11, 12]);
  });

  it('drops what waits when closed', () => {
    const applied: string[] = [];
    const limit = new LatestWins<string>((v) => applied.push(v), 1, 1);
    limit.submit('a');
    limit.submit('b');
    limit.close();
    vi.advanceTimersByTime(5000);
    expect(applied).toEqual(['a']);
  });

  it('always applies the last value sent, and never more than the budget allows', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer()), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), (sends, burst, perSecond) => {
        vi.setSystemTime(0);
        const start = performance.now();
        const applied: { at: number; value: number }[] = [];
        const limit = new LatestWins<number>((value) => applied.push({ at: performance.now() - start, value }), burst, perSecond);
        for (const [wait, value] of sends) {
          vi.advanceTimersByTime(wait);
          limit.submit(value);
        }
        vi.advanceTimersByTime(60_000);
        expect(applied.at(-1)?.value).toBe(sends.at(-1)?.[1]);
        // In any window of t ms, at most burst + t·perSecond/1000 values are applied.
        for (const [i, first] of applied.entries()) {
          for (const last of applied.slice(i)) expect(applied.filter((a) => a.at >= first.at && a.at <= last.at).length).toBeLessThanOrEqual(burst + ((last.at - first.at) * perSecond) / 1000 + 1e-9);
        }
        limit.close();
      }),
      { numRuns: 300 },
    );
  });
});
