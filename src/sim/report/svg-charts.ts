/**
 * Static SVG charts as strings: time series, horizontal bars, a heatmap and a
 * histogram. Every chart carries a <title>, axes with locale-free labels and
 * its legend; hover details use native <title> tooltips, so no script is needed.
 */
import { escapeXml, niceTicks } from '../../report/text.js';
import { coord, formatCompact, formatMinutes, formatPercent, timeTicks } from './format.js';

const CHAR_WIDTH = 6.2; // average advance of an 11px sans-serif glyph, for layout estimates
const MAX_BANDS = 96; // hover bands per time chart

/** Opens an accessible chart <svg>; `title` names it for screen readers and as its tooltip. */
export function svgOpen(width: number, height: number, title: string, className = 'chart'): string {
  return `<svg class="${className}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img"><title>${escapeXml(title)}</title>`;
}

/** An empty chart with a centred message, so every chart slot always holds one <svg>. */
export function emptyChart(title: string, message: string, width = 640, height = 120): string {
  return `${svgOpen(width, height, title)}<text class="empty" x="${width / 2}" y="${height / 2}" text-anchor="middle">${escapeXml(message)}</text></svg>`;
}

interface LegendItem {
  readonly label: string;
  readonly color: string;
  readonly shape?: 'line' | 'dashed' | 'box' | 'dot';
}

/** A one-line legend starting at (x, y); returns the markup. */
export function legend(items: readonly LegendItem[], x: number, y: number): string {
  let cx = x;
  let out = '';
  for (const item of items) {
    const shape = item.shape ?? 'box';
    if (shape === 'dot') out += `<circle cx="${coord(cx + 5)}" cy="${y - 3.5}" r="5" fill="${item.color}" stroke="#334155" stroke-width="0.8"/>`;
    else
      out +=
        shape === 'box'
          ? `<rect x="${coord(cx)}" y="${y - 8}" width="10" height="10" rx="2" fill="${item.color}"/>`
          : `<line x1="${coord(cx)}" x2="${coord(cx + 14)}" y1="${y - 3}" y2="${y - 3}" stroke="${item.color}" stroke-width="2"${shape === 'dashed' ? ' stroke-dasharray="4 3"' : ''}/>`;
    const textX = cx + (shape === 'box' || shape === 'dot' ? 14 : 18);
    out += `<text class="legend" x="${coord(textX)}" y="${y}">${escapeXml(item.label)}</text>`;
    cx = textX + item.label.length * CHAR_WIDTH + 14;
  }
  return out;
}

/** One line of a time chart. */
export interface TimeSeries {
  readonly label: string;
  readonly values: readonly number[];
  readonly color: string;
  /** `area` fills under the line; `step` holds each value until the next point (capacity). */
  readonly style?: 'line' | 'area' | 'dashed' | 'step';
}

/** A time chart: minutes on x from 0, a shared y domain when `yMax` is given. */
export interface TimeChartSpec {
  readonly title: string;
  readonly t: readonly number[];
  readonly series: readonly TimeSeries[];
  readonly yLabel: string;
  readonly yMax?: number;
  readonly yFormat?: (value: number) => string;
  readonly width?: number;
  readonly height?: number;
}

/** Largest finite value of some series, for shared domains. */
export function seriesMax(series: readonly (readonly number[])[]): number {
  let max = 0;
  for (const values of series) for (const v of values) if (Number.isFinite(v) && v > max) max = v;
  return max;
}

/** End of the time axis: the last point starts an interval one step long, so the axis runs to its end. */
function timeEnd(t: readonly number[]): number {
  const n = t.length;
  const last = t[n - 1] ?? 0;
  return Math.max(n > 1 ? last + (last - (t[0] ?? 0)) / (n - 1) : last, 1);
}

/** Indices to draw: all of them, or per pixel column the min and max in index order (keeps spikes). */
function thin(xs: readonly number[], values: readonly number[]): number[] {
  if (xs.length <= 600) return xs.map((_, i) => i);
  const keep: number[] = [];
  let column = Number.NaN;
  let lo = -1;
  let hi = -1;
  const flush = (): void => {
    if (lo < 0) return;
    keep.push(Math.min(lo, hi));
    if (lo !== hi) keep.push(Math.max(lo, hi));
  };
  for (let i = 0; i < xs.length; i++) {
    const c = Math.round(xs[i] ?? 0);
    if (c !== column) {
      flush();
      column = c;
      lo = i;
      hi = i;
    } else {
      if ((values[i] ?? 0) < (values[lo] ?? 0)) lo = i;
      if ((values[i] ?? 0) > (values[hi] ?? 0)) hi = i;
    }
  }
  flush();
  return keep;
}

/** A line, area or step chart over time. */
export function timeChart(spec: TimeChartSpec): string {
  const width = spec.width ?? 640;
  const height = spec.height ?? 220;
  const fmt = spec.yFormat ?? formatCompact;
  const m = { top: 30, right: 14, bottom: 28, left: 52 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const n = spec.t.length;
  if (n === 0) return emptyChart(spec.title, 'No data', width, height);
  const tEnd = timeEnd(spec.t);
  const ticks = niceTicks(Math.max(spec.yMax ?? 0, seriesMax(spec.series.map((s) => s.values))), 4);
  const yTop = ticks[ticks.length - 1] ?? 1;
  const x = (t: number): number => m.left + (t / tEnd) * pw;
  const y = (v: number): number => m.top + ph - (Math.min(Math.max(v, 0), yTop) / yTop) * ph;
  // One closing point at the axis end holds each last value over its interval.
  const xs = [...spec.t.map(x), x(tEnd)];

  let out = svgOpen(width, height, spec.title);
  out += legend(
    spec.series.map((s) => ({ label: s.label, color: s.color, shape: s.style === 'dashed' || s.style === 'step' ? 'dashed' : 'line' })),
    m.left,
    14,
  );
  for (const tick of ticks) {
    out += `<line class="grid" x1="${m.left}" x2="${width - m.right}" y1="${coord(y(tick))}" y2="${coord(y(tick))}"/>`;
    out += `<text class="tick" x="${m.left - 6}" y="${coord(y(tick) + 3.5)}" text-anchor="end">${escapeXml(fmt(tick))}</text>`;
  }
  for (const tick of timeTicks(tEnd, 6)) {
    out += `<line class="axis" x1="${coord(x(tick))}" x2="${coord(x(tick))}" y1="${m.top + ph}" y2="${m.top + ph + 4}"/>`;
    out += `<text class="tick" x="${coord(x(tick))}" y="${m.top + ph + 16}" text-anchor="middle">${formatMinutes(tick)}</text>`;
  }
  out += `<line class="axis" x1="${m.left}" x2="${width - m.right}" y1="${m.top + ph}" y2="${m.top + ph}"/>`;
  out += `<text class="axis-label" transform="translate(12 ${coord(m.top + ph / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`;

  for (const s of spec.series) {
    const values = [...s.values.slice(0, n), s.values[n - 1] ?? 0];
    const idx = thin(xs, values);
    let d = '';
    for (const [k, i] of idx.entries()) {
      const px = coord(xs[i] ?? 0);
      const py = y(values[i] ?? 0);
      if (k === 0) d += `M${px},${coord(py)}`;
      else if (s.style === 'step') d += `H${px}V${coord(py)}`;
      else d += `L${px},${coord(py)}`;
    }
    if (s.style === 'area') {
      out += `<path class="area" d="${d}V${m.top + ph}H${coord(xs[idx[0] ?? 0] ?? 0)}Z" fill="${s.color}"/>`;
    }
    const dash = s.style === 'dashed' || s.style === 'step' ? ' stroke-dasharray="5 3"' : '';
    out += `<path class="line" d="${d}" stroke="${s.color}"${dash}><title>${escapeXml(s.label)}</title></path>`;
  }
  out += hoverBands(spec, xs, m.top, ph, fmt);
  return `${out}</svg>`;
}

/** Invisible bands across the plot whose tooltips give each series' range in that slice of time. */
function hoverBands(spec: TimeChartSpec, xs: readonly number[], top: number, ph: number, fmt: (v: number) => string): string {
  const n = spec.t.length; // xs holds one more x: the axis end
  const bands = Math.min(n, MAX_BANDS);
  let out = '<g class="bands">';
  for (let b = 0; b < bands; b++) {
    const i0 = Math.floor((b * n) / bands);
    const i1 = Math.floor(((b + 1) * n) / bands);
    const x0 = xs[i0] ?? 0;
    const x1 = xs[i1] ?? x0;
    const t0 = spec.t[i0] ?? 0;
    const t1 = spec.t[i1 - 1] ?? t0;
    const lines = spec.series.map((s) => {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = i0; i < i1; i++) {
        const v = s.values[i] ?? 0;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      return `${s.label}: ${lo === hi ? fmt(lo) : `${fmt(lo)}–${fmt(hi)}`}`;
    });
    const when = t0 === t1 ? formatMinutes(t0) : `${formatMinutes(t0)} – ${formatMinutes(t1)}`;
    out += `<rect x="${coord(x0)}" y="${top}" width="${coord(Math.max(x1 - x0, 1))}" height="${ph}"><title>${escapeXml(`${when}\n${lines.join('\n')}`)}</title></rect>`;
  }
  return `${out}</g>`;
}

/** One bar of a bar chart. */
export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly color: string;
}

/** Horizontal bars with the label on the left and the value at the bar's end. */
export function barChart(spec: { readonly title: string; readonly bars: readonly Bar[]; readonly xMax?: number; readonly width?: number; readonly empty: string }): string {
  const width = spec.width ?? 640;
  if (spec.bars.length === 0) return emptyChart(spec.title, spec.empty, width, 64);
  const rowH = 24;
  const labelW = Math.min(220, Math.max(...spec.bars.map((b) => b.label.length)) * CHAR_WIDTH + 12);
  const left = labelW + 8;
  const right = 64;
  const height = spec.bars.length * rowH + 12;
  const max = Math.max(spec.xMax ?? 0, ...spec.bars.map((b) => b.value), 1);
  let out = svgOpen(width, height, spec.title);
  for (const [i, bar] of spec.bars.entries()) {
    const yTop = 6 + i * rowH;
    const w = (bar.value / max) * (width - left - right);
    out += `<text class="tick" x="${left - 8}" y="${yTop + 15}" text-anchor="end">${escapeXml(bar.label)}</text>`;
    out += `<rect x="${left}" y="${yTop + 4}" width="${coord(Math.max(w, bar.value > 0 ? 1 : 0))}" height="${rowH - 8}" rx="2" fill="${bar.color}"><title>${escapeXml(`${bar.label}: ${formatCompact(bar.value)}`)}</title></rect>`;
    out += `<text class="value" x="${coord(left + w + 6)}" y="${yTop + 15}">${formatCompact(bar.value)}</text>`;
  }
  return `${out}</svg>`;
}

/** Sequential blues below the threshold, then orange at/above it and red at/above 100%. */
const UTIL_STEPS = ['#eef4fb', '#d6e6f5', '#b7d3ec', '#93bde2', '#6aa3d5', '#4287c4', '#2a6cab', '#1d4f85'] as const;
const UTIL_HOT = '#f08c2e';
const UTIL_OVER = '#c92a2a';
const UTIL_NONE = '#e2e5e9';

/** The color of a utilization against the skip threshold (maxUtilization). */
export function utilizationColor(u: number, threshold: number): string {
  if (!Number.isFinite(u)) return UTIL_NONE;
  if (u >= 1) return UTIL_OVER;
  if (u >= threshold) return UTIL_HOT;
  const i = Math.floor((Math.max(u, 0) / threshold) * UTIL_STEPS.length);
  return UTIL_STEPS[Math.min(i, UTIL_STEPS.length - 1)] ?? UTIL_NONE;
}

/** Legend swatches for `utilizationColor`. */
export function utilizationLegend(threshold: number, x: number, y: number, label = 'utilization'): string {
  let out = `<text class="legend" x="${x}" y="${y}">${escapeXml(label)}</text>`;
  let cx = x + 66;
  for (const [i, color] of UTIL_STEPS.entries()) {
    out += `<rect x="${cx}" y="${y - 9}" width="18" height="11" fill="${color}"/>`;
    if (i === 0) out += `<text class="legend-small" x="${cx}" y="${y + 12}">0%</text>`;
    cx += 18;
  }
  out += `<text class="legend-small" x="${cx}" y="${y + 12}" text-anchor="end">${formatPercent(threshold)}</text>`;
  out += `<rect x="${cx + 6}" y="${y - 9}" width="18" height="11" fill="${UTIL_HOT}"/><text class="legend" x="${cx + 28}" y="${y}">≥ ${formatPercent(threshold)} (skipped)</text>`;
  cx += 28 + 16 * CHAR_WIDTH;
  out += `<rect x="${cx}" y="${y - 9}" width="18" height="11" fill="${UTIL_OVER}"/><text class="legend" x="${cx + 22}" y="${y}">≥ 100%</text>`;
  return out;
}

/** Heatmap of utilization: one row per datacenter, time on x, merged runs of equal color. */
export function utilizationHeatmap(spec: {
  readonly title: string;
  readonly t: readonly number[];
  readonly rows: readonly { readonly label: string; readonly values: readonly number[] }[];
  readonly threshold: number;
  readonly width?: number;
}): string {
  const width = spec.width ?? 640;
  const n = spec.t.length;
  if (n === 0 || spec.rows.length === 0) return emptyChart(spec.title, 'No datacenters', width, 80);
  const rowH = spec.rows.length > 24 ? 9 : spec.rows.length > 12 ? 12 : 18;
  const labelChars = Math.min(22, Math.max(...spec.rows.map((r) => r.label.length)));
  const m = { top: 8, right: 14, bottom: 56, left: Math.max(52, labelChars * CHAR_WIDTH + 10) };
  const pw = width - m.left - m.right;
  const height = m.top + spec.rows.length * rowH + m.bottom;
  const cols = Math.min(n, 120);
  const tEnd = timeEnd(spec.t);
  let out = svgOpen(width, height, spec.title);
  for (const [r, row] of spec.rows.entries()) {
    const y0 = m.top + r * rowH;
    const shown = row.label.length > labelChars ? `${row.label.slice(0, labelChars - 1)}…` : row.label;
    out += `<text class="tick" x="${coord(m.left - 6)}" y="${coord(y0 + rowH / 2 + 3.5)}" text-anchor="end">${escapeXml(shown)}<title>${escapeXml(row.label)}</title></text>`;
    // Each column shows the peak of its slice (overload is what matters); equal neighbours merge.
    const peaks: number[] = [];
    for (let c = 0; c < cols; c++) {
      let peak = Number.NaN;
      for (let i = Math.floor((c * n) / cols); i < Math.floor(((c + 1) * n) / cols); i++) {
        const v = row.values[i] ?? Number.NaN;
        if (Number.isFinite(v) && !(v <= peak)) peak = v;
      }
      peaks.push(peak);
    }
    const colors = peaks.map((p) => utilizationColor(p, spec.threshold));
    let start = 0;
    for (let c = 1; c <= cols; c++) {
      if (c < cols && colors[c] === colors[start]) continue;
      const peak = Math.max(...peaks.slice(start, c).filter(Number.isFinite));
      const x0 = m.left + (start / cols) * pw;
      const x1 = m.left + (c / cols) * pw;
      const t0 = spec.t[Math.floor((start * n) / cols)] ?? 0;
      const t1 = spec.t[Math.floor((c * n) / cols) - 1] ?? t0;
      const tip = `${row.label}, ${formatMinutes(t0)} – ${formatMinutes(t1)}: peak ${Number.isFinite(peak) ? formatPercent(peak) : 'no data'}`;
      // +0.3 overlaps neighbours slightly so anti-aliasing leaves no hairline seams.
      out += `<rect x="${coord(x0)}" y="${y0}" width="${coord(x1 - x0 + 0.3)}" height="${rowH - 1}" fill="${colors[start] ?? ''}"><title>${escapeXml(tip)}</title></rect>`;
      start = c;
    }
  }
  const axisY = m.top + spec.rows.length * rowH;
  for (const tick of timeTicks(tEnd, 6)) {
    const tx = m.left + (tick / tEnd) * pw;
    out += `<line class="axis" x1="${coord(tx)}" x2="${coord(tx)}" y1="${axisY}" y2="${axisY + 4}"/><text class="tick" x="${coord(tx)}" y="${axisY + 16}" text-anchor="middle">${formatMinutes(tick)}</text>`;
  }
  out += utilizationLegend(spec.threshold, m.left, height - 18);
  return `${out}</svg>`;
}

/** Bucket i's upper bound as a label: bucket q's percentile is "≤ bound" (or "> last bound"). */
function percentileLabel(bounds: readonly number[], counts: readonly number[], q: number, fmt: (v: number) => string): string {
  const total = counts.reduce((a, b) => a + b, 0);
  let cum = 0;
  for (const [i, c] of counts.entries()) {
    cum += c;
    if (cum >= q * total) {
      const bound = bounds[i];
      return bound === undefined ? `> ${fmt(bounds[bounds.length - 1] ?? 0)}` : `≤ ${fmt(bound)}`;
    }
  }
  return '–';
}

/** Histogram with equal-width bars (bounds are often geometric); y is the share of all counts. */
export function histogramChart(spec: {
  readonly title: string;
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly color: string;
  readonly xLabel: string;
  readonly format: (v: number) => string;
  readonly yMaxShare?: number;
  readonly width?: number;
}): string {
  const width = spec.width ?? 640;
  const height = 210;
  const total = spec.counts.reduce((a, b) => a + b, 0);
  if (total === 0) return emptyChart(spec.title, 'No one was served', width, height);
  const m = { top: 30, right: 14, bottom: 40, left: 52 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const shares = spec.counts.map((c) => c / total);
  const ticks = niceTicks(Math.max(spec.yMaxShare ?? 0, ...shares), 4);
  const yTop = ticks[ticks.length - 1] ?? 1;
  const y = (v: number): number => m.top + ph - (v / yTop) * ph;
  const bw = pw / spec.counts.length;
  let out = svgOpen(width, height, spec.title);
  const p50 = percentileLabel(spec.bounds, spec.counts, 0.5, spec.format);
  const p95 = percentileLabel(spec.bounds, spec.counts, 0.95, spec.format);
  out += `<text class="legend" x="${m.left}" y="14">n = ${formatCompact(total)} · median ${escapeXml(p50)} · p95 ${escapeXml(p95)}</text>`;
  for (const tick of ticks) {
    out += `<line class="grid" x1="${m.left}" x2="${width - m.right}" y1="${coord(y(tick))}" y2="${coord(y(tick))}"/>`;
    out += `<text class="tick" x="${m.left - 6}" y="${coord(y(tick) + 3.5)}" text-anchor="end">${formatPercent(tick)}</text>`;
  }
  for (const [i, count] of spec.counts.entries()) {
    const lo = i === 0 ? 0 : (spec.bounds[i - 1] ?? 0);
    const hi = spec.bounds[i];
    const range = hi === undefined ? `≥ ${spec.format(lo)}` : `${spec.format(lo)} – ${spec.format(hi)}`;
    const bx = m.left + i * bw;
    const share = shares[i] ?? 0;
    out += `<rect x="${coord(bx + 1)}" y="${coord(y(share))}" width="${coord(Math.max(bw - 2, 0.5))}" height="${coord(m.top + ph - y(share))}" fill="${spec.color}"><title>${escapeXml(`${range}: ${formatCompact(count)} (${formatPercent(share)})`)}</title></rect>`;
  }
  // Boundary labels between bars, thinned so they never collide.
  const every = Math.max(1, Math.ceil((7 * CHAR_WIDTH) / bw));
  for (const [i, bound] of spec.bounds.entries()) {
    if ((i + 1) % every !== 0) continue;
    const bx = m.left + (i + 1) * bw;
    out += `<line class="axis" x1="${coord(bx)}" x2="${coord(bx)}" y1="${m.top + ph}" y2="${m.top + ph + 4}"/><text class="tick" x="${coord(bx)}" y="${m.top + ph + 16}" text-anchor="middle">${escapeXml(spec.format(bound))}</text>`;
  }
  out += `<line class="axis" x1="${m.left}" x2="${width - m.right}" y1="${m.top + ph}" y2="${m.top + ph}"/>`;
  out += `<text class="axis-label" x="${coord(m.left + pw / 2)}" y="${height - 6}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`;
  out += `<text class="axis-label" transform="translate(12 ${coord(m.top + ph / 2)}) rotate(-90)" text-anchor="middle">share</text>`;
  return `${out}</svg>`;
}
