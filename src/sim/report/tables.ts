/**
 * The report's HTML tables: the incident table (who was served where), the
 * capacity shortfall table and the cascade sample's figures.
 */
import { countryName } from '../../core/geo/countries.js';
import { compareStrings } from '../../core/order.js';
import type { CapacityShortfall, IncidentRow, RunResult } from '../result.js';
import { escapeXml } from '../../report/text.js';
import { formatFixed, formatInteger, formatMinutes, formatPercent, share } from './format.js';

/** Rows shown before the "N more" line (violations are always shown, even past it). */
export const INCIDENT_ROWS = 50;

function place(code: string): string {
  const name = countryName(code);
  return name === undefined
    ? `<span class="code">${escapeXml(code)}</span>`
    : `${escapeXml(name)} <span class="code">${escapeXml(code)}</span>`;
}

/** Incident rows to show: every violation, then the largest rows up to `INCIDENT_ROWS`; participants desc. */
export function pickIncidentRows(rows: readonly IncidentRow[]): { shown: IncidentRow[]; hidden: IncidentRow[] } {
  const order = (a: IncidentRow, b: IncidentRow): number =>
    b.participants - a.participants || compareStrings(a.country, b.country) || compareStrings(a.jurisdiction, b.jurisdiction);
  const sorted = [...rows].sort(order);
  const violations = sorted.filter((r) => r.violation);
  const room = Math.max(INCIDENT_ROWS - violations.length, 0);
  const keep = new Set<IncidentRow>([...violations, ...sorted.filter((r) => !r.violation).slice(0, room)]);
  return { shown: sorted.filter((r) => keep.has(r)), hidden: sorted.filter((r) => !keep.has(r)) };
}

/** Participants by client country × jurisdiction, violations highlighted. */
export function incidentTable(run: RunResult): string {
  if (run.incident.length === 0) return '<p class="empty-note">No one was served.</p>';
  const total = run.incident.reduce((sum, r) => sum + r.participants, 0);
  const { shown, hidden } = pickIncidentRows(run.incident);
  let body = '';
  for (const r of shown) {
    const status = r.violation ? '<span class="badge bad">violation</span>' : '';
    body += `<tr${r.violation ? ' class="violation"' : ''}><td>${place(r.country)}</td><td>${place(r.jurisdiction)}</td><td class="num">${formatInteger(r.participants)}</td><td class="num">${formatPercent(share(r.participants, total))}</td><td>${status}</td></tr>`;
  }
  if (hidden.length > 0) {
    const rest = hidden.reduce((sum, r) => sum + r.participants, 0);
    body += `<tr class="more"><td colspan="5">${formatInteger(hidden.length)} more rows · ${formatInteger(rest)} participants (${formatPercent(share(rest, total))}), no violations among them</td></tr>`;
  }
  return `<table><thead><tr><th>Client country</th><th>Served in</th><th class="num">Participants</th><th class="num">Share</th><th></th></tr></thead><tbody>${body}</tbody></table>`;
}

/** Zones that needed more in-fence capacity, largest need first. */
export function shortfallTable(run: RunResult): string {
  if (run.shortfall.length === 0) return '<p class="empty-note good">No shortfall: every zone had enough capacity inside its fence.</p>';
  const order = (a: CapacityShortfall, b: CapacityShortfall): number =>
    b.extraCapacityNeeded - a.extraCapacityNeeded || b.peakRefusedConcurrent - a.peakRefusedConcurrent || compareStrings(a.zone, b.zone);
  let body = '';
  for (const s of [...run.shortfall].sort(order)) {
    body += `<tr><td>${escapeXml(s.zone)}</td><td class="num">${formatInteger(s.peakRefusedConcurrent)}</td><td class="num strong">+${formatInteger(Math.ceil(s.extraCapacityNeeded))}</td></tr>`;
  }
  return `<table><thead><tr><th>Zone</th><th class="num">Peak refused (concurrent)</th><th class="num">Extra capacity needed</th></tr></thead><tbody>${body}</tbody></table>`;
}

/** Bridge pairs listed in the cascade table; the rest are summed in one line. */
export const RELAY_PAIR_ROWS = 10;

/** One row per code (the code escaped), or a single "none" row. */
function codeRows(record: Readonly<Record<string, number>>, indent: string): string {
  const entries = Object.entries(record);
  if (entries.length === 0) return `<tr><td>${indent}none</td><td class="num">0</td></tr>`;
  return entries.map(([code, n]) => `<tr><td>${indent}<span class="code">${escapeXml(code)}</span></td><td class="num">${formatInteger(n)}</td></tr>`).join('');
}

/** The sampled meetings as cascades against one home each: distances, relays by fence and bridge pair, who cannot see whom. */
export function cascadeTable(run: RunResult): string {
  const c = run.cascade;
  if (c.meetings === 0) return '<p class="empty-note">No meeting was sampled (no demand at the sample times).</p>';
  const sub = '&nbsp;&nbsp;';
  const unreachable = Object.values(c.unreachable.byReason).reduce((a, b) => a + b, 0);
  const head = (label: string, value: string): string => `<tr><td>${label}</td><td class="num strong">${value}</td></tr>`;
  const rows = [
    head('Meetings sampled', `${formatInteger(c.meetings)} × ${formatInteger(c.sample.size)}`),
    `<tr><td>${sub}${formatInteger(c.sample.perSample)} every ${formatMinutes(c.sample.everyMinutes)}, guests local ${formatPercent(c.sample.localShare)}</td><td class="num">${formatInteger(c.participants)} participants</td></tr>`,
    head('Distance to bridge, cascading', `${formatInteger(c.distanceKm.cascade)} km`),
    head('Distance to bridge, one home', `${formatInteger(c.distanceKm.home)} km`),
    head('Ratio cascading ÷ one home', c.distanceRatio === null ? '–' : formatFixed(c.distanceRatio, 3)),
    `<tr><td>${sub}over participants with a bridge in both</td><td class="num">${formatInteger(c.distanceKm.participants)}</td></tr>`,
    head('Relayed stream-hops', formatInteger(c.relayHops.total)),
    ...Object.entries(c.relayHops.byFence).map(([fence, n]) => `<tr><td>${sub}senders bound by ${escapeXml(fence)}</td><td class="num">${formatInteger(n)}</td></tr>`),
    head('Pairs without media', `${formatInteger(unreachable)} of ${formatInteger(c.unreachable.pairs)} (${formatPercent(share(unreachable, c.unreachable.pairs))})`),
    codeRows(c.unreachable.byReason, sub),
    head('No bridge, cascading', formatInteger(Object.values(c.unrouted.cascade).reduce((a, b) => a + b, 0))),
    codeRows(c.unrouted.cascade, sub),
    head('No bridge, one home', formatInteger(Object.values(c.unrouted.home).reduce((a, b) => a + b, 0))),
    codeRows(c.unrouted.home, sub),
  ];
  const figures = `<table><thead><tr><th>Sampled meetings</th><th class="num">Value</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
  const shown = c.relayHops.byPair.slice(0, RELAY_PAIR_ROWS);
  if (shown.length === 0) return `${figures}<p class="empty-note">No stream was relayed between bridges.</p>`;
  let pairs = shown.map((p) => `<tr><td>${escapeXml(p.from)}</td><td>${escapeXml(p.to)}</td><td class="num">${formatInteger(p.hops)}</td></tr>`).join('');
  const rest = c.relayHops.byPair.slice(RELAY_PAIR_ROWS);
  if (rest.length > 0) pairs += `<tr class="more"><td colspan="3">${formatInteger(rest.length)} more pairs · ${formatInteger(rest.reduce((a, p) => a + p.hops, 0))} stream-hops</td></tr>`;
  return `${figures}<h4>Busiest relays</h4><table><thead><tr><th>From bridge</th><th>To bridge</th><th class="num">Stream-hops</th></tr></thead><tbody>${pairs}</tbody></table>`;
}
