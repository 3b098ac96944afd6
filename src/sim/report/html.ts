/**
 * `geobridge simulate --report`: one self-contained HTML file (inline CSS and
 * SVG, no script, no fetches) that draws a SimulationResult. Runs sit side by
 * side, section by section, on shared scales, so "fences not enforced" and
 * "geobridge" compare at a glance. Pure: builds a string, same input → same bytes.
 */
import { compareStrings } from '../../core/order.js';
import type { RunResult, SimulationResult } from '../result.js';
import { escapeXml } from '../../report/text.js';
import { formatCompact, formatFixed, formatInteger, formatMinutes, formatMs, formatPercent, share } from './format.js';
import { REPORT_CSS } from './style.js';
import { barChart, histogramChart, seriesMax, timeChart, utilizationHeatmap, type TimeSeries } from './svg-charts.js';
import { cascadeTable, incidentTable, shortfallTable } from './tables.js';
import { createMapBase, type MapBase, type WorldTopology } from '../../report/world-base.js';
import { pickFlows, worldMap, type MapScale } from './world-map.js';

export type { WorldTopology } from '../../report/world-base.js';
export { isWorldTopology } from '../../report/world-base.js';

const COLOR = {
  demand: '#94a3b8',
  served: '#2563eb',
  refused: '#dc2626',
  capacity: '#0f172a',
  backup: '#d97706',
  outOfZone: '#7c3aed',
  violation: '#dc2626',
  rtt: '#2563eb',
  connect: '#0f766e',
} as const;

function totalRefused(run: RunResult): number {
  return Object.values(run.totals.refused).reduce((a, b) => a + b, 0);
}

/** Scales shared by every run so side-by-side charts are drawn on the same axes. */
interface SharedScales {
  readonly joins: number;
  readonly concurrent: number;
  readonly sharePct: number;
  readonly refused: number;
  readonly refusedByCode: number;
  readonly rtt: number;
  readonly connect: number;
  readonly map: MapScale;
}

function histogramPeakShare(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  return total > 0 ? Math.max(...counts) / total : 0;
}

function fractions(part: readonly number[], whole: readonly number[]): number[] {
  return part.map((p, i) => share(p, whole[i] ?? 0));
}

function sharedScales(runs: readonly RunResult[]): SharedScales {
  const s = runs.map((r) => r.series);
  return {
    joins: seriesMax(s.flatMap((x) => [x.arrivals, x.served, x.refused])),
    concurrent: seriesMax(s.flatMap((x) => [x.concurrent, x.capacity])),
    sharePct: seriesMax(s.flatMap((x) => [x.servedSecondary, x.outOfZone, x.violations].map((v) => fractions(v, x.served)))),
    refused: seriesMax(s.map((x) => x.refused)),
    refusedByCode: seriesMax(runs.map((r) => Object.values(r.totals.refused))),
    rtt: Math.max(0, ...runs.map((r) => histogramPeakShare(r.rttMs.counts))),
    connect: Math.max(0, ...runs.map((r) => histogramPeakShare(r.connectMs.counts))),
    map: {
      maxCapacity: seriesMax(runs.map((r) => r.datacenters.map((d) => d.capacity))),
      maxFlow: seriesMax(runs.map((r) => pickFlows(r.flows).map((f) => f.participants))),
      threshold: Math.min(...runs.map((r) => r.maxUtilization), 1),
    },
  };
}

function stepMinutes(run: RunResult, fallback: number): number {
  const t = run.series.t;
  return t.length > 1 ? (t[1] ?? 0) - (t[0] ?? 0) : fallback;
}

function card(label: string, value: string, sub: string, tone = '', exact = ''): string {
  const title = exact === '' ? '' : ` title="${escapeXml(exact)}"`;
  return `<div class="card${tone === '' ? '' : ` ${tone}`}"><div class="label">${label}</div><div class="value"${title}>${value}</div><div class="sub">${sub}</div></div>`;
}

/** A count for a headline card: exact up to 100k, compact above (exact in the tooltip). */
function big(n: number): string {
  return n < 100_000 ? formatInteger(n) : formatCompact(n);
}

function deciderNote(run: RunResult): string {
  const calls = `${formatInteger(run.decisions)} decider calls`;
  if (run.deciderMs === undefined || run.decisions === 0) return calls;
  return `${calls} · ${formatFixed((run.deciderMs * 1000) / run.decisions, 1)} µs per call`;
}

function headline(run: RunResult): string {
  const t = run.totals;
  const refused = totalRefused(run);
  const v = t.violations;
  const vTone = v > 0 ? 'bad violations' : run.enforceFences ? 'good violations' : 'violations';
  const vSub = v > 0 ? (run.enforceFences ? 'despite enforcement: a bug' : `${formatPercent(share(v, t.served))} of served`) : run.enforceFences ? 'fences enforced' : 'none occurred';
  return `<div class="cards">${[
    card('Joins', big(t.joins), t.reconnects > 0 ? `+${formatInteger(t.reconnects)} reconnects` : 'wanted to connect', '', formatInteger(t.joins)),
    // Reconnections are routed like joins, so both count in the shares (as in the CLI summary).
    card('Served', big(t.served), `${formatPercent(share(t.served, t.joins + t.reconnects))} of ${t.reconnects > 0 ? 'joins + reconnects' : 'joins'}`, '', formatInteger(t.served)),
    card('Refused', big(refused), `${formatPercent(share(refused, t.joins + t.reconnects))} of ${t.reconnects > 0 ? 'joins + reconnects' : 'joins'}`, refused > 0 ? '' : 'good', formatInteger(refused)),
    card('Via backups', formatPercent(share(t.servedSecondary, t.served)), `${formatInteger(t.servedSecondary)} served by a secondary`),
    card('Out of zone', big(t.outOfZone), `${formatPercent(share(t.outOfZone, t.served))} of served`, '', formatInteger(t.outOfZone)),
    card('Fence violations', big(v), vSub, vTone, formatInteger(v)),
  ].join('')}</div><p class="foot">${deciderNote(run)}</p>`;
}

function enforcementBadge(run: RunResult): string {
  return run.enforceFences ? '<span class="badge good">fences enforced</span>' : '<span class="badge bad">fences not enforced</span>';
}

function enforcementDot(run: RunResult): string {
  return run.enforceFences ? '<span class="dot good" title="fences enforced"></span>' : '<span class="dot bad" title="fences not enforced"></span>';
}

/** A section: a title, a one-line explanation, and one cell per run. */
function section(id: string, title: string, lead: string, runs: readonly RunResult[], cell: (run: RunResult, index: number) => string): string {
  const cols = Math.min(runs.length, 3);
  const cells = runs
    .map((run, i) => `<div class="cell"><h3>${enforcementDot(run)}<span class="run">${escapeXml(run.name)}</span></h3>${cell(run, i)}</div>`)
    .join('');
  return `<section id="${id}"><h2>${title}</h2><p class="lead">${lead}</p><div class="row" style="--cols:${cols}">${cells}</div></section>`;
}

function demandCharts(run: RunResult, scales: SharedScales, step: number): string {
  const s = run.series;
  const joins: TimeSeries[] = [
    { label: 'wanted (arrivals)', values: s.arrivals, color: COLOR.demand, style: 'line' },
    { label: 'served', values: s.served, color: COLOR.served, style: 'area' },
    { label: 'refused', values: s.refused, color: COLOR.refused, style: 'line' },
  ];
  const load: TimeSeries[] = [
    { label: 'connected', values: s.concurrent, color: COLOR.served, style: 'area' },
    { label: 'usable capacity', values: s.capacity, color: COLOR.capacity, style: 'step' },
  ];
  return (
    `<h4>Joins per ${formatMinutes(step)}</h4>` +
    timeChart({ title: `${run.name}: joins wanted, served and refused per ${formatMinutes(step)}`, t: s.t, series: joins, yLabel: 'joins', yMax: scales.joins }) +
    '<h4>Connected participants vs usable capacity</h4>' +
    timeChart({ title: `${run.name}: connected participants and usable capacity`, t: s.t, series: load, yLabel: 'participants', yMax: scales.concurrent })
  );
}

function heatmap(run: RunResult): string {
  const byId = new Map(run.datacenters.map((d) => [d.id, d] as const));
  const ids = [...new Set([...run.datacenters.map((d) => d.id), ...Object.keys(run.series.utilization)])];
  // Grouped by jurisdiction so a country's datacenters sit together; id breaks ties.
  ids.sort((a, b) => compareStrings(byId.get(a)?.jurisdiction ?? '', byId.get(b)?.jurisdiction ?? '') || compareStrings(a, b));
  const rows = ids.map((id) => {
    const j = byId.get(id)?.jurisdiction;
    return { label: j === undefined ? id : `${id} · ${j}`, values: run.series.utilization[id] ?? [] };
  });
  return utilizationHeatmap({ title: `${run.name}: utilization per datacenter over time`, t: run.series.t, rows, threshold: run.maxUtilization });
}

function backupChart(run: RunResult, scales: SharedScales): string {
  const s = run.series;
  const series: TimeSeries[] = [
    { label: 'via backups', values: fractions(s.servedSecondary, s.served), color: COLOR.backup, style: 'area' },
    { label: 'out of zone', values: fractions(s.outOfZone, s.served), color: COLOR.outOfZone, style: 'line' },
    { label: 'fence violations', values: fractions(s.violations, s.served), color: COLOR.violation, style: 'line' },
  ];
  return timeChart({ title: `${run.name}: share of served via backups, out of zone and across a fence`, t: s.t, series, yLabel: 'share of served', yMax: scales.sharePct, yFormat: formatPercent });
}

function refusalCharts(run: RunResult, scales: SharedScales, step: number): string {
  const bars = Object.entries(run.totals.refused)
    .filter(([, n]) => n > 0)
    .sort(([a, x], [b, y]) => y - x || compareStrings(a, b))
    .map(([code, n]) => ({ label: code, value: n, color: COLOR.refused }));
  return (
    `<h4>Refused per ${formatMinutes(step)}</h4>` +
    timeChart({
      title: `${run.name}: joins refused per ${formatMinutes(step)}`,
      t: run.series.t,
      series: [{ label: 'refused', values: run.series.refused, color: COLOR.refused, style: 'area' }],
      yLabel: 'joins',
      yMax: scales.refused,
      height: 160,
    }) +
    '<h4>By reason</h4>' +
    barChart({ title: `${run.name}: refused joins by reason code`, bars, xMax: scales.refusedByCode, empty: 'No join was refused' })
  );
}

function latencyCharts(run: RunResult, scales: SharedScales): string {
  return (
    '<h4>Estimated round-trip time</h4>' +
    histogramChart({ title: `${run.name}: estimated RTT of served participants`, ...run.rttMs, color: COLOR.rtt, xLabel: 'RTT to the datacenter', format: formatMs, yMaxShare: scales.rtt }) +
    '<h4>Time to connect</h4>' +
    histogramChart({ title: `${run.name}: time from join to connected`, ...run.connectMs, color: COLOR.connect, xLabel: 'join → connected (failed attempts cost their timeout)', format: formatMs, yMaxShare: scales.connect })
  );
}

function scenarioHeader(result: SimulationResult): string {
  const sc = result.scenario;
  const meta: [string, string][] = [
    ['mode', sc.mode],
    ['seed', String(sc.seed)],
    ['duration', formatMinutes(sc.durationMinutes)],
    ['step', formatMinutes(sc.stepMinutes)],
    ['runs', String(result.runs.length)],
  ];
  const items = meta.map(([k, v]) => `<li>${k}<b>${escapeXml(v)}</b></li>`).join('');
  const desc = sc.description.trim() === '' ? '' : `<p class="desc">${escapeXml(sc.description.trim())}</p>`;
  return `<header class="top"><div class="brand">geobridge · simulation report</div><h1>${escapeXml(sc.name)}</h1>${desc}<ul class="meta">${items}</ul></header>`;
}

function runHeadlines(runs: readonly RunResult[]): string {
  const cols = Math.min(runs.length, 3);
  const cells = runs
    .map((run) => `<div class="cell"><div class="run-head"><h2>${escapeXml(run.name)}</h2>${enforcementBadge(run)}</div>${headline(run)}</div>`)
    .join('');
  return `<section id="summary"><div class="row" style="--cols:${cols}">${cells}</div></section>`;
}

/** Renders the whole report as one self-contained HTML document. */
export function renderReport(result: SimulationResult, world: WorldTopology): string {
  const runs = result.runs;
  const scales = sharedScales(runs);
  const base: MapBase = createMapBase(world);
  const steps = runs.map((r) => stepMinutes(r, result.scenario.stepMinutes));
  const step = (i: number): number => steps[i] ?? result.scenario.stepMinutes;
  const body = [
    scenarioHeader(result),
    runs.length === 0 ? '<p class="empty-note">The scenario has no runs.</p>' : runHeadlines(runs),
    section('demand', 'Demand and capacity', 'Joins wanted against joins served, and connected participants against the capacity the decider may use (capacity × maxUtilization of datacenters that are up).', runs, (r, i) => demandCharts(r, scales, step(i))),
    section('utilization', 'Utilization per datacenter', `Utilization per datacenter over time (each cell: the load at the end of its interval). Orange cells reached maxUtilization (the decider skips the datacenter); red cells reached 100%.`, runs, (r) => heatmap(r)),
    section('backups', 'Backups, out-of-zone and violations', 'Share of served participants that went to a secondary datacenter, left their zone, or crossed a fence.', runs, (r) => backupChart(r, scales)),
    section('refusals', 'Refusals', 'Joins the decider refused, over time and by reason code.', runs, (r, i) => refusalCharts(r, scales, step(i))),
    section('map', 'Where participants were served', 'Flows from client countries to datacenters (largest flows and every violation). Circles: datacenters, sized by capacity and colored by peak utilization.', runs, (r) => worldMap(base, r, scales.map)),
    section('latency', 'Latency', 'Distribution over served participants; bars have equal width whatever the bucket bounds.', runs, (r) => latencyCharts(r, scales)),
    section('incident', 'Incident table', 'Participants by client country and the jurisdiction that served them, largest first. Rows crossing a fence are highlighted and always listed.', runs, (r) => incidentTable(r)),
    section('shortfall', 'Capacity shortfall', 'In-fence capacity each zone would have needed so that no one was refused.', runs, (r) => shortfallTable(r)),
    section('cascade', 'Cascading', 'A sample of meetings drawn from the demand of the moment, planned as cascades (each participant on its own bridge, streams relayed between bridges) and in one home each, on the live state of that step. Counts are of the sample.', runs, (r) => cascadeTable(r)),
    `<details><summary>Manifest of the first run</summary><pre>${escapeXml(result.scenario.manifest)}</pre></details>`,
    '<footer>Generated by geobridge simulate. Hover a chart for exact values.</footer>',
  ].join('\n');
  const single = runs.length <= 1 ? ' single' : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(result.scenario.name)} · geobridge simulation</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<main class="page${single}">
${body}
</main>
</body>
</html>
`;
}
