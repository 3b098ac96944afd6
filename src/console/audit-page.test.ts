import { describe, expect, it } from 'vitest';
import type { ConsoleAuditReport } from '../protocol/console-answers.js';
import { dataLine, recordsPerDay, totals } from './audit-page.js';

const section = (records: number): ConsoleAuditReport['total'] => ({
  records: { total: records, byType: [{ type: 'route.decision', count: records }] },
  connections: { total: 2 },
  outOfZone: { total: 0 },
  routeDecisions: { total: records },
  refusals: { total: 1 },
  relays: { total: 5, unencrypted: 2 },
  placements: { claimed: 1, rehomed: 3, released: 0, ended: 0 },
  manifests: { changed: 4, rejected: 0 },
});

describe('the audit page', () => {
  it('draws one bar per day with the audit report\u2019s chart, the highest the tallest, each with its count and date in words', () => {
    const { markup } = recordsPerDay([
      { date: '2026-12-01', ...section(5) },
      { date: '2026-12-02', ...section(10) },
    ]);
    expect(markup.match(/<rect /g)).toHaveLength(2);
    const heights = [...markup.matchAll(/<rect [^>]*height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights[1]).toBeGreaterThan(heights[0] ?? 0);
    expect(markup).toContain('<title>2026-12-02: 10 records</title>');
    expect(recordsPerDay([]).markup).toContain('No records in this period.');
  });

  it('tiles the totals the CLI report gives', () => {
    expect(totals({ from: 'a', to: 'b', total: section(7), days: [] })).toEqual([
      ['records', 7],
      ['connections', 2],
      ['route decisions', 7],
      ['refusals', 1],
      ['out of zone', 0],
      ['media relayed', 5],
      ['relayed unencrypted', 2],
      ['meetings re-homed', 3],
      ['manifest changes', 4],
    ]);
  });

  it('shortens a long record to one line', () => {
    expect(dataLine({ a: 1 })).toBe('{"a":1}');
    expect(dataLine({ a: 'x'.repeat(400) })).toHaveLength(301);
  });
});
