// The replay window against a model that remembers every accepted CTR.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitU64 } from './bytes.js';
import { ReplayWindow, type ReplayVerdict } from './replay.js';

/** The rule the window implements, with unbounded memory: new, and within `size` of the highest accepted. */
function model(size: number): (ctr: bigint) => ReplayVerdict {
  const m = fullModel(size);
  return (ctr) => m.accept(ctr);
}

/** The model with a check that records nothing, to compare a window's whole state. */
function fullModel(size: number): { check: (ctr: bigint) => ReplayVerdict; accept: (ctr: bigint) => ReplayVerdict } {
  const accepted = new Set<bigint>();
  let highest: bigint | undefined;
  // Behind the window first: the window has forgotten those, so it cannot tell duplicates apart there.
  const check = (ctr: bigint): ReplayVerdict => (highest !== undefined && highest - ctr >= BigInt(size) ? 'too-old' : accepted.has(ctr) ? 'duplicate' : 'fresh');
  return {
    check,
    accept: (ctr) => {
      const verdict = check(ctr);
      if (verdict !== 'fresh') return verdict;
      accepted.add(ctr);
      if (highest === undefined || ctr > highest) highest = ctr;
      return 'fresh';
    },
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

  it('agrees with the model at any window size, on CTRs that jump by about the ring size and cross 2^32 boundaries', () => {
    // The ring is the power of two ≥ size (at least 32): jumps just below, at and above it
    // exercise the partial clears; bases near k · 2^32 make the low halves wrap.
    const base = fc.constantFrom(0n, 2n ** 32n - 300n, 5n * 2n ** 32n - 70000n, 2n ** 64n - 140000n);
    const step = fc.oneof(fc.integer({ min: -40, max: 40 }), fc.integer({ min: 0, max: 140000 }), fc.constantFrom(31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 65535, 65536, 65537, 131072));
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(31, 32, 33, 64, 128, 65535, 65536)), base, fc.array(step, { maxLength: 200 }), (size, start, steps) => {
        const window = new ReplayWindow(size);
        const expected = fullModel(size);
        let ctr = start;
        for (const s of steps) {
          ctr += BigInt(s);
          if (ctr < 0n || ctr >= 2n ** 64n) ctr = start;
          expect([ctr, window.accept(ctr)]).toEqual([ctr, expected.accept(ctr)]);
          // The whole state: every verdict from 300 below the highest CTR to 40 above it.
          const highest = window.highest ?? 0n;
          for (let c = highest - 300n; c <= highest + 40n; c++) if (c >= 0n && c < 2n ** 64n && window.check(c) !== expected.check(c)) expect([c, window.check(c)]).toEqual([c, expected.check(c)]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('checkHalves and acceptHalves are check and accept on the CTR hi · 2^32 + lo', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.bigInt({ min: 0n, max: 600n }), fc.bigInt({ min: 2n ** 32n - 200n, max: 2n ** 32n + 200n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })), { maxLength: 200 }), (ctrs) => {
        const byBigInt = new ReplayWindow(100);
        const byHalves = new ReplayWindow(100);
        for (const ctr of ctrs) {
          const [hi, lo] = splitU64(ctr);
          expect(byHalves.checkHalves(hi, lo)).toBe(byBigInt.check(ctr));
          expect(byHalves.acceptHalves(hi, lo)).toBe(byBigInt.accept(ctr));
          expect(byHalves.highest).toBe(byBigInt.highest);
        }
      }),
      { numRuns: 300 },
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
