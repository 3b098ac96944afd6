/**
 * The report's HTML tables: the incident table (who was served where) and the
 * capacity shortfall table.
 */
import { countryName } from '../../core/geo/countries.js';
import { compareStrings } from '../../core/order.js';
import type { CapacityShortfall, IncidentRow, RunResult } from '../result.js';
import { escapeXml } from '../../report/text.js';
import { formatInteger, formatPercent, share } from './format.js';

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
