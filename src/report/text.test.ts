import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeXml, niceTicks } from './text.js';

describe('escapeXml', () => {
  it('leaves no markup-significant character unescaped', () => {
    expect(escapeXml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
    fc.assert(fc.property(fc.string(), (s) => !/[<>"']|&(?!amp;|lt;|gt;|quot;|#39;)/.test(escapeXml(s))));
  });
});

describe('niceTicks', () => {
  it('covers [0, max] from 0 in even 1/2/2.5/5 × 10^n steps', () => {
    expect(niceTicks(10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(97, 4)).toEqual([0, 25, 50, 75, 100]);
    expect(niceTicks(0.9, 3)).toEqual([0, 0.5, 1]);
    expect(niceTicks(0, 5)).toEqual([0, 1]);
  });

  it('steps by whole numbers when asked (counts of things)', () => {
    expect(niceTicks(3, 5, true)).toEqual([0, 1, 2, 3]);
    expect(niceTicks(12, 5, true)).toEqual([0, 5, 10, 15]);
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 1e9, noNaN: true }), fc.integer({ min: 1, max: 10 }), fc.boolean(), (max, count, integers) => {
        const ticks = niceTicks(max, count, integers);
        const step = (ticks[1] ?? 0) - (ticks[0] ?? 0);
        expect(ticks[0]).toBe(0);
        expect(ticks.at(-1)).toBeGreaterThanOrEqual(max * (1 - 1e-9));
        expect(ticks.length).toBeLessThanOrEqual(2 * count + 2);
        if (integers) expect(ticks.every((t) => Number.isInteger(t))).toBe(true);
        expect(step).toBeGreaterThan(0);
      }),
    );
  });
});
