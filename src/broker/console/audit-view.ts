/**
 * What the console's audit page reads (docs/console.md#audit): the records
 * of the broker's log and of every record store's log over a time range,
 * the report `geobridge audit report` makes of them (the same function), a
 * filtered page of them, and each log's integrity as `audit verify` checks
 * it (the same function).
 */
import { isGeobridgeError } from '../../core/errors.js';
import type { AuditLog, AuditRecord } from '../audit/audit-log.js';
import type { ConsoleAuditReport } from '../../protocol/console-answers.js';
import { buildAuditReport, type AuditReportSection } from '../audit/report.js';
import { verifyLog, type StoredTree } from '../audit/verify-log.js';
import type { BrokerContext } from '../context.js';

/** A log the broker writes: its own (name null) or a record store's. */
interface NamedLog {
  readonly name: string | null;
  readonly audit: AuditLog;
}

function logsOf(ctx: BrokerContext): NamedLog[] {
  return [{ name: null, audit: ctx.audit }, ...ctx.storeLogs.all().map((s) => ({ name: s.name, audit: s.audit }))];
}

/** A record as the explorer lists it, with the log that holds it. */
export interface ListedRecord extends Pick<AuditRecord, 'seq' | 'at' | 'type' | 'data'> {
  readonly log: string | null;
}

/** Records of every log within [from, to), in time order. */
async function recordsIn(ctx: BrokerContext, from: string, to: string): Promise<ListedRecord[]> {
  const all = await Promise.all(logsOf(ctx).map(async (l) => (await l.audit.readTimeRange(from, to)).map((r) => ({ seq: r.seq, at: r.at, type: r.type, data: r.data, log: l.name }))));
  return all.flat().sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

/** The report over [from, to) of every log: the totals of what `geobridge audit report --json` gives as `report` (the same function), without its rows. */
export async function auditReportOf(ctx: BrokerContext, from: string, to: string): Promise<ConsoleAuditReport> {
  const report = buildAuditReport(
    (await recordsIn(ctx, from, to)).map((r) => ({ ...r, prevHash: '', hash: '' })),
    { from, to },
  );
  return { from: report.from, to: report.to, total: totalsOf(report.total), days: report.days.map((d) => ({ date: d.date, ...totalsOf(d) })) };
}

function totalsOf(s: AuditReportSection): ConsoleAuditReport['total'] {
  const { claimed, rehomed, released, ended } = s.placements;
  return {
    records: { total: s.records.total, byType: s.records.byType.map((b) => ({ type: b.type, count: b.count })) },
    connections: { total: s.connections.total },
    outOfZone: { total: s.outOfZone.total },
    routeDecisions: { total: s.routeDecisions.total },
    refusals: { total: s.refusals.total },
    relays: { total: s.relays.total, unencrypted: s.relays.rows.filter((r) => r.e2ee === false).reduce((n, r) => n + r.hops, 0) },
    placements: { claimed, rehomed, released, ended },
    manifests: { changed: s.manifests.changed, rejected: s.manifests.rejected },
  };
}

/** The explorer's filters: a record type, and a country, jurisdiction or datacenter its data names. */
export interface RecordFilter {
  readonly type?: string | undefined;
  readonly country?: string | undefined;
  readonly jurisdiction?: string | undefined;
  readonly datacenter?: string | undefined;
}

/** Whether a record's data names `value` in one of `fields` (top level, or one level down, as `from: { datacenter }`). */
function names(data: Readonly<Record<string, unknown>>, fields: readonly string[], value: string): boolean {
  for (const [key, v] of Object.entries(data)) {
    if (fields.includes(key) && v === value) return true;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && fields.some((f) => (v as Record<string, unknown>)[f] === value)) return true;
  }
  return false;
}

/** True when a record passes the filter. */
export function matches(record: Pick<AuditRecord, 'type' | 'data'>, filter: RecordFilter): boolean {
  if (filter.type !== undefined && record.type !== filter.type) return false;
  if (filter.country !== undefined && !names(record.data, ['country'], filter.country)) return false;
  if (filter.jurisdiction !== undefined && !names(record.data, ['jurisdiction', 'jurisdictions'], filter.jurisdiction)) return false;
  if (filter.datacenter !== undefined && !names(record.data, ['datacenter', 'from', 'to', 'placedAt'], filter.datacenter)) return false;
  return true;
}

/** The newest `limit` records within [from, to) that pass the filter, newest first, and how many pass in all. */
export async function findRecords(ctx: BrokerContext, from: string, to: string, filter: RecordFilter, limit: number): Promise<{ records: ListedRecord[]; total: number }> {
  const found = (await recordsIn(ctx, from, to)).filter((r) => matches(r, filter));
  return { records: found.slice(-limit).reverse(), total: found.length };
}

/** Each log's latest signed tree head, and the outcome of checking all of it as `geobridge audit verify` does. */
export async function integrityOf(ctx: BrokerContext, verify: boolean): Promise<{ log: string | null; size: number; signedAt: string | null; rootHash: string | null; keyId: string | null; verified?: { ok: boolean; count?: number; reason?: string } }[]> {
  return Promise.all(
    logsOf(ctx).map(async (l) => {
      const latest = await l.audit.latestTreeHead();
      const head = latest === undefined ? { size: 0, signedAt: null, rootHash: null, keyId: null } : { size: latest.size, signedAt: new Date(latest.timestamp).toISOString(), rootHash: latest.rootHash, keyId: latest.keyId };
      if (!verify) return { log: l.name, ...head };
      const records = await l.audit.read();
      let stored: StoredTree['head'];
      try {
        stored = await l.audit.treeHead();
      } catch (error) {
        if (!isGeobridgeError(error) || error.code !== 'TRANSLOG_MISSING_NODE') throw error;
        stored = 'damaged';
      }
      const check = verifyLog(records, { head: stored, heads: await l.audit.treeHeads() }, { keyId: ctx.logKey.keyId, publicKey: ctx.logKey.publicKey });
      return { log: l.name, ...head, verified: check.ok ? { ok: true, count: check.count } : { ok: false, reason: check.reason } };
    }),
  );
}
