/**
 * The audit report's two renderings (report.ts builds it): aligned text and
 * one self-contained HTML page. The same report gives the same bytes on any
 * machine: no locale is consulted.
 */
import { compareStrings } from '../../core/order.js';
import { formatCount } from '../../core/verify/format.js';
import { BASE_CSS, OTHER_COLOR, PALETTE } from '../../report/style.js';
import { dayBars } from '../../report/day-bars.js';
import { escapeXml } from '../../report/text.js';
import { sum, yesNo, type AuditReport, type RelayRow, type RouteDecisionRow } from './report.js';


// ——— text ———

/** The report as aligned plain-text tables. Control characters in record fields are shown escaped, never sent to the terminal. */
export function renderAuditReportText(report: AuditReport): string {
  const t = report.total;
  const out: string[] = [
    `audit report ${report.from} → ${report.to} (to exclusive, UTC days)`,
    `${formatCount(t.records.total)} records${t.records.byType.length > 0 ? `: ${t.records.byType.map((b) => `${b.type} ${formatCount(b.count)}`).join(', ')}` : ''}`,
  ];
  const section = (title: string, body: string): void => {
    out.push('', title, body);
  };
  section(
    `Connections by client country × datacenter jurisdiction × role (${formatCount(t.connections.total)})`,
    table(['COUNTRY', 'JURISDICTION', 'ROLE', '#CONNECTIONS', '#PARTICIPANTS'], t.connections.rows.map((r) => [r.country, r.jurisdiction, r.role, formatCount(r.connections), formatCount(r.participants)])),
  );
  section(
    `Out-of-zone connections (${formatCount(t.outOfZone.total)})`,
    table(['COUNTRY', 'ZONE', 'DATACENTER', 'JURISDICTION', '#CONNECTIONS', '#PARTICIPANTS'], t.outOfZone.rows.map((r) => [r.country, r.zone, r.datacenter, r.jurisdiction, formatCount(r.connections), formatCount(r.participants)])),
  );
  section(`${RELAYS_TITLE} (${formatCount(t.relays.total)})`, table(RELAY_HEADERS, t.relays.rows.map(relayCells)));
  section(
    `Route decisions by client country × jurisdictions offered (${formatCount(t.routeDecisions.total)})`,
    table(['COUNTRY', '#DECISIONS', 'OFFERED (jurisdiction decisions)'], t.routeDecisions.rows.map((r) => [r.country, formatCount(r.decisions), offeredText(r)])),
  );
  section(`Refusals by code (${formatCount(t.refusals.total)})`, table(['TYPE', 'CODE', '#COUNT'], t.refusals.rows.map((r) => [r.type, r.code, formatCount(r.count)])));
  section(
    `Placements: ${formatCount(t.placements.claimed)} claimed, ${formatCount(t.placements.rehomed)} re-homed, ${formatCount(t.placements.released)} released, ${formatCount(t.placements.ended)} meetings ended`,
    table(['AT', 'MEETING', 'FROM', 'TO', 'EPOCH'], t.placements.rehomes.map((r) => [r.at, r.meeting, r.from, r.to, r.epoch])),
  );
  section(
    `Manifest changes: ${formatCount(t.manifests.changed)} accepted, ${formatCount(t.manifests.rejected)} rejected`,
    table(['AT', 'VERSION', 'ACTOR', 'SHA-256'], t.manifests.changes.map((r) => [r.at, r.version, r.actor, r.sha256])),
  );
  section(
    'By day',
    table(['DATE', '#RECORDS', '#CONNECTIONS', '#OUT-OF-ZONE', '#RELAYED', '#DECISIONS', '#REFUSALS', '#CLAIMED', '#RE-HOMED', '#MANIFESTS'], report.days.map((d) => [d.date, ...[d.records.total, d.connections.total, d.outOfZone.total, d.relays.total, d.routeDecisions.total, d.refusals.total, d.placements.claimed, d.placements.rehomed, d.manifests.changed].map(formatCount)])),
  );
  section(
    'Connections by day',
    table(['DATE', 'COUNTRY', 'JURISDICTION', 'ROLE', '#CONNECTIONS', '#PARTICIPANTS'], report.days.flatMap((d) => d.connections.rows.map((r) => [d.date, r.country, r.jurisdiction, r.role, formatCount(r.connections), formatCount(r.participants)]))),
  );
  section('Media relayed by day', table(['DATE', ...RELAY_HEADERS], report.days.flatMap((d) => d.relays.rows.map((r) => [d.date, ...relayCells(r)]))));
  return `${out.join('\n')}\n`;
}

/** Connections say where a participant's media entered; relays, where a cascade carried it on to. */
const RELAYS_TITLE = 'Media relayed between datacenters (cascade hops opened) by client country × jurisdiction relayed into × end-to-end encrypted';
const RELAY_HEADERS = ['COUNTRY', 'RELAYED INTO', 'END-TO-END ENCRYPTED', '#HOPS OPENED', '#PARTICIPANTS'];

function relayCells(r: RelayRow): string[] {
  return [r.country, r.jurisdiction, yesNo(r.e2ee), formatCount(r.hops), formatCount(r.participants)];
}

function offeredText(row: RouteDecisionRow): string {
  return row.offered.map((o) => `${o.jurisdiction} ${formatCount(o.decisions)}`).join(', ');
}

/** Escapes control and format characters (C0, C1, bidi overrides) so record fields cannot move the cursor, recolour or reorder a terminal line. */
function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
}

/** Columns whose header starts with '#' are numeric: right-aligned, '#' dropped. */
function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '  (none)';
  const numeric = headers.map((h) => h.startsWith('#'));
  const head = headers.map((h) => h.replace(/^#/, ''));
  const cells = [head, ...rows.map((r) => r.map(printable))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => `  ${r.map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()}`).join('\n');
}

// ——— HTML ———

/** The report kit's base, then this report's layout. */
const CSS = `${BASE_CSS}main{max-width:1100px;margin:0 auto;padding:28px 32px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px}
p.meta{color:var(--muted);margin:0}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:4px 16px 14px;margin-top:18px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 10px 4px 0;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
td.n,th.n{text-align:right}
td.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
p.none{color:var(--muted)}
svg{display:block;width:100%;height:auto}
svg text{font-size:11px;fill:#475569}
ul.legend{list-style:none;padding:0;margin:8px 0 0;display:flex;flex-wrap:wrap;gap:6px 16px;font-size:12px}
ul.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
`;

interface Column {
  readonly title: string;
  readonly numeric?: boolean;
  readonly mono?: boolean;
}

function htmlTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '<p class="none">None.</p>';
  const cls = (c: Column | undefined): string => (c?.numeric ? ' class="n"' : c?.mono ? ' class="mono"' : '');
  const head = columns.map((c) => `<th${cls(c)}>${escapeXml(c.title)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((cell, i) => `<td${cls(columns[i])}>${escapeXml(cell)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** The report as one self-contained HTML page: inline CSS and SVG, no scripts, no external resources. */
/** What one log (the broker's own, `log` null, or a record store's) holds of a report's range: where the records live. */
export interface LogShare {
  readonly log: string | null;
  readonly records: number;
  readonly routeDecisions: number;
  readonly connections: number;
  readonly refusals: number;
}

/** Log `log`'s share, from the report over its records alone. */
export function logShare(log: string | null, report: AuditReport): LogShare {
  const t = report.total;
  return { log, records: t.records.total, routeDecisions: t.routeDecisions.total, connections: t.connections.total, refusals: t.refusals.total };
}

/** A log as people name it. */
function logName(log: string | null): string {
  return log === null ? "the broker's own log" : `the log of record store ${log}`;
}

/** "Where the records live": a line per log, for the text report over several logs. */
export function renderLogSharesText(shares: readonly LogShare[]): string {
  const n = (c: number, noun: string): string => `${formatCount(c)} ${noun}${c === 1 ? '' : 's'}`;
  return `\nWhere the records live:\n${shares.map((w) => `  ${logName(w.log)}: ${n(w.records, 'record')}, ${n(w.routeDecisions, 'route decision')}, ${n(w.connections, 'connection')}, ${n(w.refusals, 'refusal')}`).join('\n')}\n`;
}

/** The report as one self-contained page; `shares`, when it covers several logs, adds where the records live. */
export function renderAuditReportHtml(report: AuditReport, shares: readonly LogShare[] = []): string {
  const t = report.total;
  const n = (c: number): string => formatCount(c);
  const num = (title: string): Column => ({ title, numeric: true });
  const where = shares.length === 0 ? [] : [['Where the records live', htmlTable([{ title: 'Log' }, num('Records'), num('Route decisions'), num('Connections'), num('Refusals')], shares.map((w) => [logName(w.log), ...[w.records, w.routeDecisions, w.connections, w.refusals].map(n)]))] as const];
  const sections = [
    ...where,
    ['Connections per day by client country → datacenter jurisdiction', connectionChart(report)],
    [
      `Connections by client country × jurisdiction × role (${n(t.connections.total)})`,
      htmlTable([{ title: 'Country' }, { title: 'Jurisdiction' }, { title: 'Role' }, num('Connections'), num('Participants')], t.connections.rows.map((r) => [r.country, r.jurisdiction, r.role, n(r.connections), n(r.participants)])),
    ],
    [
      `Out-of-zone connections (${n(t.outOfZone.total)})`,
      htmlTable([{ title: 'Country' }, { title: 'Zone' }, { title: 'Datacenter' }, { title: 'Jurisdiction' }, num('Connections'), num('Participants')], t.outOfZone.rows.map((r) => [r.country, r.zone, r.datacenter, r.jurisdiction, n(r.connections), n(r.participants)])),
    ],
    [`${RELAYS_TITLE} (${n(t.relays.total)})`, htmlTable([{ title: 'Country' }, { title: 'Relayed into' }, { title: 'End-to-end encrypted' }, num('Hops opened'), num('Participants')], t.relays.rows.map(relayCells))],
    [
      `Route decisions by client country × jurisdictions offered (${n(t.routeDecisions.total)})`,
      htmlTable([{ title: 'Country' }, num('Decisions'), { title: 'Offered (jurisdiction decisions)' }], t.routeDecisions.rows.map((r) => [r.country, n(r.decisions), offeredText(r)])),
    ],
    [`Refusals by code (${n(t.refusals.total)})`, htmlTable([{ title: 'Type' }, { title: 'Code' }, num('Count')], t.refusals.rows.map((r) => [r.type, r.code, n(r.count)]))],
    [
      `Placements: ${n(t.placements.claimed)} claimed, ${n(t.placements.rehomed)} re-homed, ${n(t.placements.released)} released, ${n(t.placements.ended)} meetings ended`,
      htmlTable([{ title: 'At', mono: true }, { title: 'Meeting' }, { title: 'From' }, { title: 'To' }, num('Epoch')], t.placements.rehomes.map((r) => [r.at, r.meeting, r.from, r.to, r.epoch])),
    ],
    [
      `Manifest changes: ${n(t.manifests.changed)} accepted, ${n(t.manifests.rejected)} rejected`,
      htmlTable([{ title: 'At', mono: true }, { title: 'Version' }, { title: 'Actor' }, { title: 'SHA-256', mono: true }], t.manifests.changes.map((r) => [r.at, r.version, r.actor, r.sha256])),
    ],
    [
      'By day',
      htmlTable(
        [{ title: 'Date' }, num('Records'), num('Connections'), num('Out of zone'), num('Relayed'), num('Decisions'), num('Refusals'), num('Claimed'), num('Re-homed'), num('Manifests')],
        report.days.map((d) => [d.date, ...[d.records.total, d.connections.total, d.outOfZone.total, d.relays.total, d.routeDecisions.total, d.refusals.total, d.placements.claimed, d.placements.rehomed, d.manifests.changed].map(n)]),
      ),
    ],
  ] as const;
  const title = `geobridge audit report ${report.from.slice(0, 10)} – ${report.to.slice(0, 10)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${escapeXml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>Audit report</h1>
<p class="meta">${escapeXml(report.from)} → ${escapeXml(report.to)} (to exclusive; days are UTC) · ${escapeXml(n(t.records.total))} records</p>
${sections.map(([heading, body]) => `<section><h2>${escapeXml(heading)}</h2>\n${body}</section>`).join('\n')}
</main>
</body>
</html>
`;
}

/** Stacked bars: one per day, one segment per country → jurisdiction pair (the 8 largest; the rest as "other"). */
function connectionChart(report: AuditReport): string {
  const pairTotals = new Map<string, number>();
  for (const r of report.total.connections.rows) {
    const pair = `${r.country} → ${r.jurisdiction}`;
    pairTotals.set(pair, (pairTotals.get(pair) ?? 0) + r.connections);
  }
  if (pairTotals.size === 0) return '<p class="none">No connections in this range.</p>';
  const ranked = [...pairTotals.entries()].sort(([a, x], [b, y]) => y - x || compareStrings(a, b)).map(([pair]) => pair);
  const shown = ranked.slice(0, PALETTE.length);
  const series = ranked.length > shown.length ? [...shown, 'other'] : shown;
  const colorOf = (s: string): string => PALETTE[shown.indexOf(s)] ?? OTHER_COLOR;
  const chart = dayBars({
    days: report.days.map((d) => {
      const values = new Map<string, number>();
      for (const r of d.connections.rows) {
        const pair = `${r.country} → ${r.jurisdiction}`;
        const s = shown.includes(pair) ? pair : 'other';
        values.set(s, (values.get(s) ?? 0) + r.connections);
      }
      return { date: d.date, segments: series.map((s) => ({ series: s, value: values.get(s) ?? 0 })) };
    }),
    unit: 'connections',
    colorOf,
    format: formatCount,
  });
  const legend = series.map((s) => `<li><i style="background:${colorOf(s)}"></i>${escapeXml(s)} ${escapeXml(formatCount(s === 'other' ? sum(ranked.slice(shown.length).map((p) => pairTotals.get(p) ?? 0)) : (pairTotals.get(s) ?? 0)))}</li>`).join('');
  const title = 'Connections per UTC day, stacked by client country → datacenter jurisdiction';
  return `<svg viewBox="0 0 ${chart.width} ${chart.height}" width="${chart.width}" height="${chart.height}" role="img" xmlns="http://www.w3.org/2000/svg"><title>${escapeXml(title)}</title>${chart.markup}</svg>\n<ul class="legend">${legend}</ul>`;
}

