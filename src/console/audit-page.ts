/**
 * The audit page: the report of a period (the totals `geobridge audit report`
 * gives, from the same function on the broker), records per day as a chart,
 * records by type, the records themselves under the filters, and each log's
 * integrity — its latest signed tree head, and a check of the whole log on
 * demand, as `geobridge audit verify` makes it.
 */
import type { ConsoleAuditIntegrity, ConsoleAuditRecords, ConsoleAuditReport } from '../protocol/console-answers.js';
import { dayBars } from '../report/day-bars.js';
import { drawSvg } from './svg.js';

/** Records per day: the audit report's chart (src/report/day-bars.ts), one bar per day that has records. */
export function recordsPerDay(days: ConsoleAuditReport['days']): { width: number; height: number; markup: string } {
  if (days.length === 0) return { width: 900, height: 40, markup: '<text x="8" y="24">No records in this period.</text>' };
  return dayBars({
    days: days.map((d) => ({ date: d.date, segments: [{ series: '', value: d.records.total }] })),
    unit: 'records',
    colorOf: () => '#2563eb', // the console's --accent
    format: (n) => n.toLocaleString('en-US'),
    width: 900,
    height: 200,
  });
}

/** The period's totals, as tiles: what each counts, and how many. */
export function totals(report: ConsoleAuditReport): [label: string, value: number][] {
  const t = report.total;
  return [
    ['records', t.records.total],
    ['connections', t.connections.total],
    ['route decisions', t.routeDecisions.total],
    ['refusals', t.refusals.total],
    ['out of zone', t.outOfZone.total],
    ['media relayed', t.relays.total],
    ['relayed unencrypted', t.relays.unencrypted],
    ['meetings re-homed', t.placements.rehomed],
    ['manifest changes', t.manifests.changed],
  ];
}

/** A record's data in one line, for the explorer's table. */
export function dataLine(data: Readonly<Record<string, unknown>>): string {
  const text = JSON.stringify(data);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function cell(text: string, cls?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls !== undefined) td.className = cls;
  return td;
}

/** Draws the report: tiles, the day chart and the by-type table (with the type picker's options). */
export function renderReport(report: ConsoleAuditReport, where: { totals: HTMLElement; days: SVGSVGElement; types: HTMLTableSectionElement; typePicker: HTMLSelectElement }): void {
  where.totals.replaceChildren(
    ...totals(report).map(([label, value]) => {
      const tile = document.createElement('div');
      tile.className = 'stat';
      tile.dataset.total = label;
      const b = document.createElement('b');
      b.textContent = value.toLocaleString('en-US');
      const span = document.createElement('span');
      span.textContent = label;
      tile.append(b, span);
      return tile;
    }),
  );
  const chart = recordsPerDay(report.days);
  drawSvg(where.days, chart.width, chart.height, chart.markup);
  const all = report.total.records.total || 1;
  where.types.replaceChildren(
    ...report.total.records.byType.map((b) => {
      const row = document.createElement('tr');
      row.dataset.type = b.type;
      const share = cell(`${Math.round((b.count / all) * 100)} %`);
      const bar = document.createElement('span');
      bar.className = 'share';
      bar.style.width = `${Math.max(1, Math.round((b.count / all) * 120))}px`;
      share.prepend(bar, ' ');
      row.append(cell(b.type), cell(b.count.toLocaleString('en-US'), 'num'), share);
      return row;
    }),
  );
  const chosen = where.typePicker.value;
  const types = new Set([...report.total.records.byType.map((b) => b.type), ...(chosen === '' ? [] : [chosen])]);
  where.typePicker.replaceChildren(new Option('Any', ''), ...[...types].sort().map((t) => new Option(t, t)));
  where.typePicker.value = chosen;
}

/** Fills the explorer's table. */
export function renderRecords(found: ConsoleAuditRecords, table: HTMLTableSectionElement, count: HTMLElement): void {
  count.textContent = found.total === found.records.length ? `${found.total} record${found.total === 1 ? '' : 's'}` : `The newest ${found.records.length} of ${found.total} records`;
  table.replaceChildren(
    ...found.records.map((r) => {
      const row = document.createElement('tr');
      row.append(cell(r.at.replace('T', ' ').replace(/\.\d+Z$/, '')), cell(r.type), cell(r.log ?? 'broker'), cell(dataLine(r.data)));
      return row;
    }),
  );
}

/** Fills the integrity table: each log's latest signed tree head and, once checked, the outcome in words. */
export function renderIntegrity(integrity: ConsoleAuditIntegrity, table: HTMLTableSectionElement): void {
  table.replaceChildren(
    ...integrity.logs.map((l) => {
      const row = document.createElement('tr');
      row.dataset.log = l.log ?? 'broker';
      const head = l.signedAt === null ? 'none signed yet' : `${l.signedAt.replace('T', ' ').replace(/\.\d+Z$/, '')} UTC · root ${(l.rootHash ?? '').slice(0, 16)}… · key ${(l.keyId ?? '').slice(0, 12)}…`;
      const checked = l.verified === undefined ? cell('not yet') : l.verified.ok ? cell(`intact: ${l.verified.count ?? 0} records, chain, tree and every signed head`, 'ok') : cell(`NOT intact: ${l.verified.reason ?? ''}`, 'bad');
      checked.dataset.verified = l.verified === undefined ? '' : String(l.verified.ok);
      row.append(cell(l.log === null ? "the broker's own" : `record store ${l.log}`), cell(l.size.toLocaleString('en-US'), 'num'), cell(head), checked);
      return row;
    }),
  );
}
