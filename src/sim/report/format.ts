/**
 * Text helpers for the report: number/duration formatting that (escaping and
 * axis ticks are the report kit's, src/report/text.ts)
 * never consults the locale, so the same result gives the same bytes anywhere.
 */

/** A number with at most `digits` fractional digits, trailing zeros dropped ("1.5", "2", "-0" → "0"). */
export function formatFixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '–';
  const text = value.toFixed(digits);
  const trimmed = text.includes('.') ? text.replace(/\.?0+$/, '') : text;
  return trimmed === '-0' ? '0' : trimmed;
}

/** An SVG coordinate: one decimal is plenty at screen resolution and keeps the file small. */
export function coord(value: number): string {
  return formatFixed(value, 1);
}

/** Compact number for axes and chart labels: 950, 1.2k, 300k, 1.2M, 3B. */
export function formatCompact(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  // Thresholds sit at the rounding edges, so 999,950 reads "1M", never "1000k".
  if (abs < 999.5) return formatFixed(value, abs >= 10 ? 0 : abs >= 1 ? 1 : 2);
  if (abs < 9_995) return `${formatFixed(value / 1e3, 1)}k`;
  if (abs < 999_500) return `${formatFixed(value / 1e3, 0)}k`;
  if (abs < 9_995_000) return `${formatFixed(value / 1e6, 1)}M`;
  if (abs < 999_500_000) return `${formatFixed(value / 1e6, 0)}M`;
  return `${formatFixed(value / 1e9, abs < 9_995_000_000 ? 1 : 0)}B`;
}

/** Whole number with thousands separators (always ","): 1,234,567. */
export function formatInteger(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const text = Math.round(Math.abs(value)).toString();
  const grouped = text.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return value < 0 && grouped !== '0' ? `-${grouped}` : grouped;
}

/** A share (0..1) as a percentage: "12.3%", "0.04%", "100%". */
export function formatPercent(share: number): string {
  if (!Number.isFinite(share)) return '–';
  const pct = share * 100;
  if (pct > 0 && pct < 0.01) return '<0.01%';
  return `${formatFixed(pct, pct >= 100 ? 0 : pct >= 1 ? 1 : 2)}%`;
}

/** `part / whole` as a share, 0 when the whole is 0. */
export function share(part: number, whole: number): number {
  return whole > 0 ? part / whole : 0;
}

/** Minutes as a compact duration: "45m", "6h", "2h 30m", "3d", "1d 12h". */
export function formatMinutes(minutes: number): string {
  if (!Number.isFinite(minutes)) return '–';
  const total = Math.round(minutes);
  if (total === 0) return '0';
  const sign = total < 0 ? '-' : '';
  let rest = Math.abs(total);
  const days = Math.floor(rest / 1440);
  rest -= days * 1440;
  const hours = Math.floor(rest / 60);
  const mins = rest - hours * 60;
  const parts: string[] = [];
  if (days > 0) parts.push(`${days}d`);
  if (hours > 0) parts.push(`${hours}h`);
  if (mins > 0 && days === 0) parts.push(`${mins}m`);
  if (parts.length === 0) parts.push(`${days}d`);
  return sign + parts.slice(0, 2).join(' ');
}

/** Milliseconds for axis labels: "80 ms", "1.5 s". */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${formatFixed(ms / 1000, 1)} s` : `${formatFixed(ms, 0)} ms`;
}

/** Time ticks in minutes over [0, end] at a step a reader counts in (15m, 1h, 6h, 1d, 7d, ...). */
export function timeTicks(end: number, count: number): number[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 43200];
  const raw = end / Math.max(1, count);
  const step = steps.find((s) => s >= raw) ?? Math.ceil(raw / 43200) * 43200;
  const ticks: number[] = [];
  for (let t = 0; t <= end + 1e-9; t += step) ticks.push(t);
  return ticks;
}
