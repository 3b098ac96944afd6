/**
 * `geobridge audit verify|report`: checks the broker's hash-chained audit log
 * and reports who touched which jurisdiction, when. It never creates the
 * log or changes its records.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyChain, type AuditRecord } from '../../broker/audit/audit-log.js';
import { buildAuditReport, normalizeAuditTime, renderAuditReportHtml, renderAuditReportText } from '../../broker/audit/report.js';
import { SqliteAuditLog } from '../../broker/audit/sqlite-audit-log.js';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { formatCount } from '../../core/verify/format.js';
import { parseCommandArgs } from '../args.js';
import { EXIT, type Io } from '../io.js';

export const AUDIT_HELP = `Usage: geobridge audit verify [--data DIR] [--json]
       geobridge audit report --from T --to T [--data DIR] [--json | --html FILE]

Reads the broker's hash-chained audit log, DIR/audit.sqlite (DIR is ./data
unless --data is given). Never creates it or changes its records.

  verify   checks every record's number, link and hash, and names the first
           record that was altered, inserted, dropped or reordered.
  report   who touched which jurisdiction, when — per UTC day and in total:
           connections by client country × datacenter jurisdiction × role
           (with distinct participants), out-of-zone connections, route
           decisions by the jurisdictions they offered, refusals by code,
           placements and re-homes, manifest changes. The chain is verified
           first; if it is broken the report is still printed, with a
           warning on stderr, and the exit code is 1.

Options:
  --data DIR    the broker's data directory (default ./data)
  --from T      start of the report, inclusive (required)
  --to T        end of the report, exclusive (required)
  --json        print JSON: verify {ok, count | seq, reason}; report {chain, report}
  --html FILE   write the report as one self-contained HTML page (tables, chart)
  -h, --help    show this help

T is an ISO 8601 date (2024-03-01 is midnight UTC) or date-time
(2024-03-01T09:30:00Z, 2024-03-01T10:30+01:00; UTC when no offset is given).

The chain alone cannot reveal that its newest records were cut off. verify
prints the head (last record and hash): keep it outside the broker (a
ticket, another system) and compare later.

Exit codes: 0 ok · 1 chain broken · 2 bad input, missing or unreadable log

Examples:
  geobridge audit verify --data /var/lib/geobridge
  geobridge audit report --from 2024-03-01 --to 2024-04-01
  geobridge audit report --from 2024-03-01 --to 2024-03-08 --html week.html
  geobridge audit report --from 2024-03-01 --to 2024-03-02 --json | jq '.report.total.connections'
`;

/** Runs `audit`. */
export async function runAudit(argv: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.out(AUDIT_HELP);
    return EXIT.ok;
  }
  if (sub === 'verify') return runVerify(rest, io);
  if (sub === 'report') return runReport(rest, io);
  throw new GeobridgeError('USAGE', `audit: ${sub === undefined ? 'give a subcommand' : `unknown subcommand '${sub}'`}: verify or report; see 'geobridge audit --help'.`);
}

async function runVerify(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('audit', argv, { data: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(AUDIT_HELP);
    return EXIT.ok;
  }
  noPositionals('verify', positionals);
  const file = auditFile(values.data);
  const read = await readAll(file);
  if (!read.ok) {
    io.out(values.json ? `${JSON.stringify({ file, ok: false, code: read.code, reason: read.reason }, null, 2)}\n` : `chain broken: ${read.reason}\n`);
    return EXIT.violations;
  }
  const check = verifyChain(read.records);
  const last = read.records.at(-1);
  if (values.json) {
    io.out(`${JSON.stringify({ file, ...check, ...(check.ok && last ? { head: { seq: last.seq, hash: last.hash, at: last.at } } : {}) }, null, 2)}\n`);
  } else if (check.ok) {
    io.out(`chain intact: ${check.count} records\n${last ? `head: record ${last.seq}, ${last.at}, hash ${last.hash}\n` : ''}`);
  } else {
    io.out(`chain broken at record ${check.seq}: ${check.reason}\n`);
  }
  return check.ok ? EXIT.ok : EXIT.violations;
}

async function runReport(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('audit', argv, {
    data: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    json: { type: 'boolean' },
    html: { type: 'string' },
  });
  if (values.help) {
    io.out(AUDIT_HELP);
    return EXIT.ok;
  }
  noPositionals('report', positionals);
  if (values.from === undefined || values.to === undefined) {
    throw new GeobridgeError('USAGE', "audit report: give the range with --from and --to (ISO dates or date-times, --to exclusive), e.g. --from 2024-03-01 --to 2024-03-08; see 'geobridge audit --help'.");
  }
  if (values.json && values.html !== undefined) throw new GeobridgeError('USAGE', "audit report: use --json or --html FILE, not both; see 'geobridge audit --help'.");
  const from = normalizeAuditTime(values.from, '--from');
  const to = normalizeAuditTime(values.to, '--to');
  if (from >= to) throw new GeobridgeError('USAGE', `audit report: --from (${from}) must be before --to (${to}); --to is exclusive.`);

  const file = auditFile(values.data);
  const read = await readAll(file);
  if (!read.ok) {
    io.err(`error: chain broken: ${read.reason}\nNo report: the log cannot be read as written. Run 'geobridge audit verify' for details.\n`);
    return EXIT.violations;
  }
  const chain = verifyChain(read.records);
  const report = buildAuditReport(read.records, { from, to });
  if (values.json) {
    io.out(`${JSON.stringify({ chain, report }, null, 2)}\n`);
  } else if (values.html !== undefined) {
    try {
      writeFileSync(values.html, renderAuditReportHtml(report));
    } catch (error) {
      throw new GeobridgeError('UNWRITABLE_FILE', `cannot write '${values.html}': ${error instanceof Error ? error.message : String(error)}. Check the directory exists and is writable.`, { cause: error });
    }
    const t = report.total;
    io.out(`wrote ${values.html}: ${count(t.records.total, 'record')}, ${count(t.connections.total, 'connection')}, ${count(t.routeDecisions.total, 'route decision')}, ${count(t.refusals.total, 'refusal')} over ${count(report.days.length, 'day')}\n`);
  } else {
    io.out(renderAuditReportText(report));
  }
  if (!chain.ok) {
    io.err(`warning: chain broken at record ${chain.seq}: ${chain.reason}. This report may rest on altered records; run 'geobridge audit verify'.\n`);
    return EXIT.violations;
  }
  return EXIT.ok;
}

/** "1 record", "2,000 records". */
function count(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

function noPositionals(sub: string, positionals: readonly string[]): void {
  if (positionals.length > 0) throw new GeobridgeError('USAGE', `audit ${sub}: unexpected argument '${positionals[0] ?? ''}'; see 'geobridge audit --help'.`);
}

/** DIR/audit.sqlite, which must exist: a missing log is never read as an empty one. */
function auditFile(dataDir: string | undefined): string {
  const dir = dataDir ?? 'data';
  const file = join(dir, 'audit.sqlite');
  if (!existsSync(file)) {
    throw new GeobridgeError('AUDIT_UNAVAILABLE', `no audit log at '${file}'${existsSync(dir) ? '' : ` (directory '${dir}' does not exist)`}; pass --data with the broker's data directory.`);
  }
  return file;
}

type ReadResult = { readonly ok: true; readonly records: AuditRecord[] } | { readonly ok: false; readonly code: string; readonly reason: string };

/** Every record of the log; a record that cannot even be parsed (AUDIT_CORRUPT) is a broken chain, not bad input. */
async function readAll(file: string): Promise<ReadResult> {
  const log = SqliteAuditLog.open(file, { create: false });
  try {
    return { ok: true, records: await log.read() };
  } catch (error) {
    if (isGeobridgeError(error) && error.code === 'AUDIT_CORRUPT') return { ok: false, code: error.code, reason: error.message };
    throw error;
  } finally {
    await log.close();
  }
}
