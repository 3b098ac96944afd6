import { describe, expect, it } from 'vitest';
import { dayBars } from './day-bars.js';

const spec = (days: { date: string; a: number; b: number }[]) =>
  dayBars({
    days: days.map((d) => ({ date: d.date, segments: [{ series: 'a', value: d.a }, { series: 'b', value: d.b }] })),
    unit: 'connections',
    colorOf: (s) => (s === 'a' ? '#111111' : '#222222'),
    format: (n) => n.toLocaleString('en-US'),
  });

describe('bars per day', () => {
  it('stacks each day\u2019s segments bottom first, says each in words, and skips empty ones', () => {
    const { markup } = spec([
      { date: '2026-12-01', a: 1000, b: 500 },
      { date: '2026-12-02', a: 0, b: 300 },
    ]);
    expect(markup.match(/<rect /g)).toHaveLength(3);
    expect(markup).toContain('<title>2026-12-01 a: 1,000 connections</title>');
    expect(markup).toContain('<title>2026-12-02 b: 300 connections</title>');
    // Segment a sits on the axis, b on top of it: b's bottom is a's top.
    const rects = [...markup.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="(#\d+)"/g)].map((m) => ({ y: Number(m[1]), h: Number(m[2]), fill: m[3] }));
    const [a, b] = rects;
    expect(a?.fill).toBe('#111111');
    expect(b?.fill).toBe('#222222');
    expect((b?.y ?? 0) + (b?.h ?? 0)).toBeCloseTo(a?.y ?? 0, 0);
    expect(a?.h).toBeCloseTo((b?.h ?? 0) * 2, 0);
  });

  it('labels every day when they fit, every few when they do not', () => {
    const days = (n: number) => Array.from({ length: n }, (_, i) => ({ date: `2026-01-${String(i + 1).padStart(2, '0')}`, a: 1, b: 0 }));
    const labels = (n: number) => (spec(days(n)).markup.match(/<text [^>]*text-anchor="middle">2026-/g) ?? []).length;
    expect(labels(7)).toBe(7);
    expect(labels(31)).toBeLessThan(31);
    expect(labels(31)).toBeGreaterThan(3);
  });
});
