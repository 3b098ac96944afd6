// The replay window against a model that remembers every accepted CTR.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayWindow, type ReplayVerdict } from './replay.js';

/** The rule the window implements, with unbounded memory: new, and within `size` of the highest accepted. */
function model(size: number): (ctr: bigint) => ReplayVerdict {
  const accepted = new Set<bigint>();
  let highest: bigint | undefined;
  return (ctr) => {
    // Behind the window first: the window has forgotten those, so it cannot tell duplicates apart there.
    if (highest !== undefined && highest - ctr >= BigInt(size)) return 'too-old';
    if (accepted.has(ctr)) return 'duplicate';
    accepted.add(ctr);
    if (highest === undefined || ctr > highest) highest = ctr;
    return 'fresh';
  };
}

describe('ReplayWindow', () => {
  it('agrees with the model on any sequence of CTRs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.oneof(fc.bigInt({ min: 0n, max: 400n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })), { maxLength: 300 }),
        (size, ctrs) => {
          const window = new ReplayWindow(size);
          const expected = model(size);
          for (const ctr of ctrs) expect([ctr, window.accept(ctr)]).toEqual([ctr, expected(ctr)]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('accepts reordering inside the window, once', () => {
    const window = new ReplayWindow(128);
    expect(window.accept(200n)).toBe('fresh');
    expect(window.accept(73n)).toBe('fresh'); // 127 behind: the oldest it still covers
    expect(window.accept(72n)).toBe('too-old');
    expect(window.accept(73n)).toBe('duplicate');
    expect(window.accept(201n)).toBe('fresh');
    expect(window.accept(73n)).toBe('too-old'); // now 128 behind
    expect(window.highest).toBe(201n);
  });

  it('check() does not record', () => {
    const window = new ReplayWindow();
    expect(window.check(5n)).toBe('fresh');
    expect(window.check(5n)).toBe('fresh');
    expect(window.highest).toBeUndefined();
  });

  it('refuses a size outside 1..65536', () => {
    expect(() => new ReplayWindow(0)).toThrow(RangeError);
    expect(() => new ReplayWindow(1.5)).toThrow(RangeError);
  });
});
