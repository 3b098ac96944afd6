/**
 * The report kit's text: what the simulator's report and the audit report
 * both write into their self-contained HTML and SVG, the same way.
 */

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML/SVG element content and quoted attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/**
 * About `count` evenly spaced "nice" ticks (steps of 1, 2, 2.5 or 5 × 10^n)
 * covering [0, max]; with `integers`, whole steps only (counts of things).
 */
export function niceTicks(max: number, count: number, integers = false): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const steps = [1, 2, 2.5, 5, 10].map((m) => m * power).filter((s) => !integers || (Number.isInteger(s) && s >= 1));
  const step = steps.find((s) => s >= raw) ?? (integers ? Math.max(1, Math.ceil(raw)) : 10 * power);
  const ticks: number[] = [];
  const last = Math.ceil(max / step - 1e-9);
  for (let i = 0; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}
