/**
 * The flow map: country outlines (src/report/world-base.ts: world-atlas, projected with d3-geo at
 * generation time), datacenters as circles and client flows as curves.
 */
import { countryName, countryPoint } from '../../core/geo/countries.js';
import { compareStrings } from '../../core/order.js';
import type { Flow, RunResult } from '../result.js';
import { escapeXml } from '../../report/text.js';
import type { MapBase } from '../../report/world-base.js';
import { coord, formatCompact, formatInteger, formatPercent } from './format.js';
import { legend, svgOpen, utilizationColor, utilizationLegend } from './svg-charts.js';

/** Flow stroke colors (map and legend). */
const FLOW_COLOR = '#5b7aa5';
const VIOLATION_COLOR = '#d62828';

/** Flows drawn per map: the largest ones, plus every violating flow (up to this many more). */
export const TOP_FLOWS = 60;

/** Domains shared by every run's map, so two maps compare at a glance. */
export interface MapScale {
  readonly maxCapacity: number;
  readonly maxFlow: number;
  readonly threshold: number;
}

/** The flows to draw: the top `TOP_FLOWS` by participants and every violation, largest first. */
export function pickFlows(flows: readonly Flow[]): Flow[] {
  const order = (a: Flow, b: Flow): number =>
    b.participants - a.participants || compareStrings(a.country, b.country) || compareStrings(a.datacenter, b.datacenter);
  const sorted = [...flows].sort(order);
  const top = sorted.slice(0, TOP_FLOWS);
  const extra = sorted.slice(TOP_FLOWS).filter((f) => f.violation).slice(0, TOP_FLOWS);
  return [...top, ...extra];
}

/** A quadratic curve from a to b bowed to one side, so opposite flows do not overlap. */
function curve(a: readonly [number, number], b: readonly [number, number]): string {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = Math.hypot(dx, dy);
  const bow = Math.min(0.22 * len, 60);
  const cx = (a[0] + b[0]) / 2 - (dy / len) * bow;
  const cy = (a[1] + b[1]) / 2 + (dx / len) * bow;
  return `M${coord(a[0])},${coord(a[1])}Q${coord(cx)},${coord(cy)} ${coord(b[0])},${coord(b[1])}`;
}

/** The map of one run as an <svg>. */
export function worldMap(base: MapBase, run: RunResult, scale: MapScale): string {
  const legendH = 58;
  const height = base.height + legendH;
  const dcs = new Map(run.datacenters.map((d) => [d.id, d] as const));
  const picked = pickFlows(run.flows);
  let out = svgOpen(base.width, height, `${run.name}: where participants were served`, 'chart map');
  out += base.countries;

  let normal = '';
  let violating = '';
  let drawn = 0;
  for (const flow of picked) {
    const dc = dcs.get(flow.datacenter);
    const from = countryPoint(flow.country);
    const a = from === undefined ? undefined : base.project(from.lon, from.lat);
    const b = dc === undefined ? undefined : base.project(dc.lon, dc.lat);
    if (a === undefined || b === undefined) continue;
    drawn++;
    if (Math.hypot(b[0] - a[0], b[1] - a[1]) < 1.5) continue; // served where it lives: the circle says it
    // Violations get a thicker floor: a small leak across a fence must still be seen.
    const w = (flow.violation ? 1.6 : 0.75) + (7 * flow.participants) / Math.max(scale.maxFlow, 1);
    const tip = `${countryName(flow.country) ?? flow.country} (${flow.country}) → ${flow.datacenter}: ${formatInteger(flow.participants)} participants${flow.violation ? ' — FENCE VIOLATION' : ''}`;
    const el = `<path d="${curve(a, b)}" stroke-width="${coord(w)}"><title>${escapeXml(tip)}</title></path>`;
    if (flow.violation) violating += el;
    else normal += el;
  }
  out += `<g class="flows" stroke="${FLOW_COLOR}" stroke-opacity="0.5">${normal}</g>`;
  out += `<g class="flows" stroke="${VIOLATION_COLOR}" stroke-opacity="0.85">${violating}</g>`;

  // Largest circles first so small ones stay visible on top; id breaks ties.
  const circles = [...run.datacenters].sort((a, b) => b.capacity - a.capacity || compareStrings(a.id, b.id));
  out += '<g class="dcs">';
  for (const dc of circles) {
    const p = base.project(dc.lon, dc.lat);
    if (p === undefined) continue;
    const r = 3 + 9 * Math.sqrt(Math.max(dc.capacity, 0) / Math.max(scale.maxCapacity, 1));
    const tip = `${dc.id} (${dc.jurisdiction}): capacity ${formatInteger(dc.capacity)}, peak utilization ${formatPercent(dc.peakUtilization)}`;
    out += `<circle cx="${coord(p[0])}" cy="${coord(p[1])}" r="${coord(r)}" fill="${utilizationColor(dc.peakUtilization, scale.threshold)}"><title>${escapeXml(tip)}</title></circle>`;
  }
  out += '</g>';

  // The sphere runs on below the crop line; the legend strip covers it.
  out += `<rect class="legend-strip" x="0" y="${base.height}" width="${base.width}" height="${legendH}"/>`;
  const ly = base.height + 18;
  const missing = picked.length - drawn;
  const note = `${formatInteger(Math.min(run.flows.length, picked.length))} of ${formatInteger(run.flows.length)} flows${missing > 0 ? ` (${formatInteger(missing)} without a known location)` : ''}`;
  out += legend(
    [
      { label: `flow, width ∝ participants (max ${formatCompact(scale.maxFlow)})`, color: FLOW_COLOR, shape: 'line' },
      { label: 'crosses a fence', color: VIOLATION_COLOR, shape: 'line' },
      { label: 'datacenter, area ∝ capacity', color: '#ffffff', shape: 'dot' },
    ],
    4,
    ly,
  );
  out += `<text class="legend-small" x="${base.width - 4}" y="${ly + 30}" text-anchor="end">${escapeXml(note)}</text>`;
  out += utilizationLegend(scale.threshold, 4, ly + 26, 'peak util.');
  return `${out}</svg>`;
}
