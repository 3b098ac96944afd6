/**
 * Bars per UTC day, stacked by series, as SVG markup: the audit report's
 * connections per day and the console's audit records per day are this one
 * chart. Every segment carries its words in a <title> (day, series, count),
 * so the numbers never live in colour alone.
 */
import { escapeXml, niceTicks } from './text.js';

/** One day's bar: its segments, bottom first. */
export interface DayBar {
  readonly date: string;
  readonly segments: readonly { readonly series: string; readonly value: number }[];
}

export interface DayBarsSpec {
  readonly days: readonly DayBar[];
  /** What a count counts, for the tooltips: "connections". */
  readonly unit: string;
  readonly colorOf: (series: string) => string;
  readonly format: (n: number) => string;
  readonly width?: number;
  readonly height?: number;
}

/** The chart's size and the markup inside its <svg>: grid and ticks, one bar per day, a date under every few. */
export function dayBars(spec: DayBarsSpec): { readonly width: number; readonly height: number; readonly markup: string } {
  const { days, format } = spec;
  const [width, height, left, right, upper, lower] = [spec.width ?? 880, spec.height ?? 280, 56, 12, 12, 36];
  const totals = days.map((d) => d.segments.reduce((n, s) => n + s.value, 0));
  const ticks = niceTicks(Math.max(1, ...totals), 5, true);
  const top = ticks[ticks.length - 1] ?? 1;
  const plotW = width - left - right;
  const plotH = height - upper - lower;
  const slot = plotW / Math.max(1, days.length);
  const barW = Math.max(1, Math.min(48, slot * 0.7));
  const labelEvery = Math.max(1, Math.ceil(72 / slot));
  const y = (v: number): number => upper + plotH - (v / top) * plotH;
  const parts: string[] = [];
  for (const tick of ticks) {
    parts.push(`<line class="grid" x1="${left}" x2="${width - right}" y1="${fix(y(tick))}" y2="${fix(y(tick))}" stroke="#edf0f4"/>`);
    parts.push(`<text x="${left - 6}" y="${fix(y(tick) + 4)}" text-anchor="end">${escapeXml(format(tick))}</text>`);
  }
  days.forEach((d, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let base = 0;
    parts.push(`<g data-date="${escapeXml(d.date)}">`);
    for (const s of d.segments) {
      if (s.value === 0) continue;
      const words = `${d.date}${s.series === '' ? '' : ` ${s.series}`}: ${format(s.value)} ${spec.unit}`;
      parts.push(`<rect x="${fix(x)}" y="${fix(y(base + s.value))}" width="${fix(barW)}" height="${fix(y(base) - y(base + s.value))}" fill="${spec.colorOf(s.series)}"><title>${escapeXml(words)}</title></rect>`);
      base += s.value;
    }
    parts.push('</g>');
    if (i % labelEvery === 0) parts.push(`<text x="${fix(left + i * slot + slot / 2)}" y="${height - lower + 16}" text-anchor="middle">${escapeXml(d.date)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${fix(y(0))}" y2="${fix(y(0))}" stroke="#a0aab8"/>`);
  return { width, height, markup: parts.join('') };
}

/** A coordinate with one decimal, without a trailing ".0". */
function fix(value: number): string {
  const text = value.toFixed(1);
  return text.endsWith('.0') ? text.slice(0, -2) : text;
}
