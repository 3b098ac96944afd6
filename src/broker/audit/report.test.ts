// The audit report's cascade relays: whose media was carried into which
// jurisdiction, from records as relays.ts writes them and as older brokers did.
import { describe, expect, it } from 'vitest';
import type { AuditRecord, AuditType } from './audit-log.js';
import { buildAuditReport } from './report.js';
import { renderAuditReportHtml, renderAuditReportText } from './report-render.js';

let seq = 0;
function record(type: AuditType, data: Record<string, unknown>, at: string): AuditRecord {
  return { seq: ++seq, at, type, data, prevHash: '', hash: '' };
}

const admission = (participant: string, country: string, datacenter: string, jurisdiction: string, at: string): AuditRecord =>
  record('bridge.admission', { participant, meeting: 'm1', datacenter, jurisdiction, role: 'primary', country, zone: 'z', outOfZone: false }, at);

/** A relay record as relays.ts writes it. */
const relay = (type: 'relay.opened' | 'relay.closed', participant: string | null, country: string | null, from: string, to: string, jurisdictions: readonly [string | null, string | null], e2ee: boolean, at: string): AuditRecord =>
  record(type, { meeting: 'm1', from, to, participant, e2ee, country, jurisdiction: jurisdictions[1], fromJurisdiction: jurisdictions[0], ...(type === 'relay.closed' ? { reason: 'PLAN_CHANGED' } : {}) }, at);

/** A relay record as brokers wrote it before it carried the country and jurisdictions. */
const oldRelay = (participant: string | null, from: string, to: string, at: string, e2ee?: boolean): AuditRecord =>
  record('relay.opened', { meeting: 'm1', from, to, participant, ...(e2ee === undefined ? {} : { e2ee }) }, at);

const range = { from: '2024-03-01', to: '2024-03-03' };

describe('audit report: media relayed between datacenters', () => {
  const records = [
    admission('anna', 'DE', 'eu-central', 'DE', '2024-03-01T09:00:00Z'),
    admission('ben', 'US', 'us-east', 'US', '2024-03-01T09:00:01Z'),
    relay('relay.opened', 'anna', 'DE', 'eu-central', 'us-east', ['DE', 'US'], true, '2024-03-01T09:00:02Z'),
    relay('relay.opened', 'ben', 'US', 'us-east', 'eu-central', ['US', 'DE'], false, '2024-03-01T09:00:02Z'),
    // The hop planned again (a restart): opened anew, the same participant.
    relay('relay.opened', 'anna', 'DE', 'eu-central', 'us-east', ['DE', 'US'], true, '2024-03-02T08:00:00Z'),
    relay('relay.opened', 'carl', 'DE', 'eu-central', 'us-east', ['DE', 'US'], true, '2024-03-02T08:00:00Z'),
    // Closing a hop is not a hop opened.
    relay('relay.closed', 'anna', 'DE', 'eu-central', 'us-east', ['DE', 'US'], true, '2024-03-02T09:00:00Z'),
  ];

  it('counts hops opened by client country × jurisdiction relayed into × end-to-end encrypted, per day and in total', () => {
    const report = buildAuditReport(records, range);
    expect(report.total.relays).toEqual({
      total: 4,
      rows: [
        { country: 'DE', jurisdiction: 'US', e2ee: true, hops: 3, participants: 2 },
        { country: 'US', jurisdiction: 'DE', e2ee: false, hops: 1, participants: 1 },
      ],
    });
    expect(report.days.map((d) => [d.date, d.relays.total, d.relays.rows.map((r) => `${r.country}->${r.jurisdiction}:${String(r.hops)}`)])).toEqual([
      ['2024-03-01', 2, ['DE->US:1', 'US->DE:1']],
      ['2024-03-02', 2, ['DE->US:2']],
    ]);
    // Connections stay what the admissions say; the report is the same whatever the records' order.
    expect(report.total.connections.rows.map((r) => `${r.country}->${r.jurisdiction}`)).toEqual(['DE->DE', 'US->US']);
    expect(buildAuditReport([...records].reverse(), range)).toEqual(report);
  });

  it('prints them for people: a table in total and one by day, a by-day column, the same in HTML', () => {
    const report = buildAuditReport(records, range);
    const text = renderAuditReportText(report);
    expect(text).toContain(
      [
        'Media relayed between datacenters (cascade hops opened) by client country × jurisdiction relayed into × end-to-end encrypted (4)',
        '  COUNTRY  RELAYED INTO  END-TO-END ENCRYPTED  HOPS OPENED  PARTICIPANTS',
        '  DE       US            yes                             3             2',
        '  US       DE            no                              1             1',
        '',
      ].join('\n'),
    );
    expect(text).toMatch(/\n {2}DATE {8}RECORDS {2}CONNECTIONS {2}OUT-OF-ZONE {2}RELAYED {2}DECISIONS .*\n {2}2024-03-01 {8}4 {12}2 {12}0 {8}2 {10}0 /);
    expect(text).toContain(
      [
        'Media relayed by day',
        '  DATE        COUNTRY  RELAYED INTO  END-TO-END ENCRYPTED  HOPS OPENED  PARTICIPANTS',
        '  2024-03-01  DE       US            yes                             1             1',
        '  2024-03-01  US       DE            no                              1             1',
        '  2024-03-02  DE       US            yes                             2             2',
      ].join('\n'),
    );
    const html = renderAuditReportHtml(report);
    expect(html).toContain('<h2>Media relayed between datacenters (cascade hops opened) by client country × jurisdiction relayed into × end-to-end encrypted (4)</h2>');
    expect(html).toContain('<tr><td>DE</td><td>US</td><td>yes</td><td class="n">3</td><td class="n">2</td></tr>');
    expect(html).toContain('<th class="n">Relayed</th>');
  });

  it('completes older records from the log: the country from the participant’s records, the jurisdiction last recorded for the datacenter', () => {
    const report = buildAuditReport(
      [
        // The day before the range: still evidence.
        record('route.decision', { participant: 'anna', meeting: 'm1', country: 'DE', candidates: [{ datacenter: 'eu-central', jurisdiction: 'DE' }] }, '2024-02-29T09:00:00Z'),
        admission('ben', 'US', 'us-east', 'US', '2024-03-01T09:00:00Z'),
        oldRelay('anna', 'eu-central', 'us-east', '2024-03-01T09:00:01Z', true),
        oldRelay('ben', 'us-east', 'eu-central', '2024-03-01T09:00:01Z', false),
        // The datacenter's id moved to another jurisdiction: hops after the move are judged by it.
        admission('dora', 'CA', 'us-east', 'CA', '2024-03-02T00:00:00Z'),
        oldRelay('anna', 'eu-central', 'us-east', '2024-03-02T09:00:00Z', true),
        // Nothing in the log says who carl is, or where ap-nowhere is; a broker that never said whether it was encrypted.
        oldRelay('carl', 'eu-central', 'ap-nowhere', '2024-03-02T09:00:00Z'),
        // Whose country the broker did not know, it recorded without their id.
        oldRelay(null, 'eu-central', 'us-east', '2024-03-02T09:00:00Z', true),
        // A datacenter the manifest in force no longer had: its jurisdiction from the log.
        relay('relay.opened', 'ben', 'US', 'us-east', 'eu-central', ['US', null], true, '2024-03-02T10:00:00Z'),
      ],
      range,
    );
    expect(report.total.relays.rows).toEqual([
      { country: '?', jurisdiction: '?', e2ee: null, hops: 1, participants: 1 },
      { country: '?', jurisdiction: 'CA', e2ee: true, hops: 1, participants: 0 },
      { country: 'DE', jurisdiction: 'CA', e2ee: true, hops: 1, participants: 1 },
      { country: 'DE', jurisdiction: 'US', e2ee: true, hops: 1, participants: 1 },
      { country: 'US', jurisdiction: 'DE', e2ee: false, hops: 1, participants: 1 },
      { country: 'US', jurisdiction: 'DE', e2ee: true, hops: 1, participants: 1 },
    ]);
    expect(renderAuditReportText(report)).toContain('\n  ?        ?             ?                               1             1\n');
  });

  it('shows an empty table when nothing was relayed', () => {
    const report = buildAuditReport([admission('anna', 'DE', 'eu-central', 'DE', '2024-03-01T09:00:00Z')], range);
    expect(report.total.relays).toEqual({ total: 0, rows: [] });
    expect(renderAuditReportText(report)).toContain('end-to-end encrypted (0)\n  (none)\n');
  });
});
