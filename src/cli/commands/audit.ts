/**
 * `geobridge audit verify|report`: checks the broker's audit log (hash
 * chain, Merkle tree, signed tree heads, a head kept elsewhere) and reports
 * who touched which jurisdiction, when. It never creates the log or changes
 * its records. The log is DATA/audit.sqlite, or in the PostgreSQL store;
 * a record store's log (its own database) reads the same way, and names
 * itself in its first record.
 */
import { existsSync } from 'node:fs';
import { writeOutputFile } from '../output-file.js';
import { verifyChain, type AuditLog, type AuditRecord, type ChainCheck } from '../../broker/audit/audit-log.js';
import { recordStoreFile } from '../../broker/audit/open-store-log.js';
import { buildAuditReport, normalizeAuditTime } from '../../broker/audit/report.js';
import { logShare, renderAuditReportHtml, renderAuditReportText, renderLogSharesText } from '../../broker/audit/report-render.js';
import type { SignedTreeHead } from '../../broker/audit/tree-heads.js';
import { ENV_NAMES, parseRecordStores } from '../../broker/config.js';
import { describeLog, proveReceipt, verifyLog, type LogPublicKey, type ReceiptCheck, type StoredTree } from '../../broker/audit/verify-log.js';
import { compareStrings } from '../../core/order.js';
import { loadLogKey, logKeyPath } from '../../broker/log-key.js';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { formatCount } from '../../core/verify/format.js';
import { parseCommandArgs } from '../args.js';
import { auditSource, auditSourceJson, describeAuditSource, openAuditLog, storeUrlOf, type AuditSource, type Env } from '../audit-source.js';
import { readLogKeyFile, readReceiptInput, readTreeHeadFile, receiptsOf } from '../log-files.js';
import { EXIT, type Io } from '../io.js';

export const AUDIT_HELP = `Usage: geobridge audit verify [--data DIR] [--store URL] [--record-stores LIST] [--sth FILE]… [--log-key FILE] [--json]
       geobridge audit prove RECEIPT [--data DIR] [--store URL] [--record-stores LIST] [--log-key FILE] [--json]
       geobridge audit witness --broker URL --state DIR [--interval S] [--once]
       geobridge audit report --from T --to T [--data DIR] [--store URL] [--record-stores LIST] [--json | --html FILE]

Reads the broker's audit log: a hash chain that is also a Merkle
transparency log (RFC 9162). It is DIR/audit.sqlite (DIR is ./data unless
--data is given), or, for a broker started with --store postgres://…, in
that PostgreSQL database (give the same URL). The log key stays in
DIR/keys/log.pem either way. Never creates the log or changes its records.

  verify   checks every record's number, link and hash (naming the first
           record altered, inserted, dropped or reordered), the Merkle tree
           against the records, and every signed tree head the log kept
           against the log key (DIR/keys/log.pem, or --log-key).
  prove    checks a receipt — the meeting page's routing receipt file (every
           route in it), or a /v1/route answer saved as JSON, which is
           enough on its own — against the log: the log's signed promise,
           the same record at the promised place, the decision, the
           manifest, the country and the candidates it names, and (if
           the file has an "sth") the tree head kept with it.
           A receipt whose promise names a record store ("log") is proven
           only in that store's log.
  witness  watches a broker's log from outside: pins its key, keeps every
           signed tree head, and stops with exit 1 on a rollback or a fork
           (see 'geobridge audit witness --help').
  report   who touched which jurisdiction, when — per UTC day and in total:
           connections by client country × datacenter jurisdiction × role
           (with distinct participants), out-of-zone connections, route
           decisions by the jurisdictions they offered, refusals by code,
           placements and re-homes, manifest changes. The chain is verified
           first; if it is broken the report is still printed, with a
           warning on stderr, and the exit code is 1.

Options:
  --data DIR      the broker's data directory (default ./data)
  --store URL     the broker's PostgreSQL store (serve --store), which holds
                  its log; 'sqlite' reads DIR/audit.sqlite      [${ENV_NAMES.store}]
  --record-stores LIST
                  the record stores' logs too, as serve takes them (ID=URL,…;
                  'sqlite' is DIR/records-ID.sqlite): verify checks each log,
                  prove reads the log each receipt names, report covers them
                  all and says where the records live      [${ENV_NAMES.recordStores}]
  --sth FILE      a signed tree head kept outside the broker (the body of
                  GET /v1/log/sth, saved earlier): the log must still hold
                  exactly the records it signed (and any after them); give
                  it once per head
  --log-key FILE  the log key you pinned (the body of GET /v1/log/key),
                  instead of the one in DIR/keys
  --from T        start of the report, inclusive (required)
  --to T          end of the report, exclusive (required)
  --json          print JSON: verify {ok, count, rootHash, headsChecked |
                  problem, seq, reason}; report {chain, report}
  --html FILE     write the report as one self-contained HTML page
  -h, --help      show this help

T is an ISO 8601 date (2024-03-01 is midnight UTC) or date-time
(2024-03-01T09:30:00Z, 2024-03-01T10:30+01:00; UTC when no offset is given).

A record store's log (manifest stores:) is a database of its own: give
--record-stores as the broker has it, or check one alone with its --store
URL. Its first record names the store, and its heads (and any --sth) must
be that store's, signed under its name; verify says which log it checked
(--json: "log", absent for the broker's own; with several logs,
{ok, logs: […]}).

Whoever holds the data directory holds the log key too, and (with the
database, when the log is in PostgreSQL) can rewrite the records, the tree
and the heads alike. What they cannot redo is a tree head someone kept
elsewhere: save GET /v1/log/sth now and then (a ticket, another system, a
witness) and verify with --sth; a rewritten or cut history fails.

Exit codes: 0 ok · 1 log altered, or lacks or contradicts the receipt · 2 bad
input, missing or unreadable log or key

Examples:
  geobridge audit verify --data /var/lib/geobridge
  curl -s https://broker.example/v1/log/sth > sth-2024-03-01.json
  geobridge audit verify --data /var/lib/geobridge --sth sth-2024-03-01.json
  geobridge audit verify --data /var/lib/geobridge --store postgres://geobridge@db.example.com/geobridge
  geobridge audit prove --data /var/lib/geobridge route-answer.json
  geobridge audit report --from 2024-03-01 --to 2024-04-01
  geobridge audit report --from 2024-03-01 --to 2024-03-08 --html week.html
  geobridge audit report --from 2024-03-01 --to 2024-03-02 --json | jq '.report.total.connections'
`;

/** Runs `audit`; `env` gives GEOBRIDGE_STORE. */
export async function runAudit(argv: readonly string[], io: Io, env: Env = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.out(AUDIT_HELP);
    return EXIT.ok;
  }
  if (sub === 'verify') return runVerify(rest, io, env);
  if (sub === 'prove') return runProve(rest, io, env);
  if (sub === 'witness') return (await import('./witness.js')).runWitness(rest, io);
  if (sub === 'report') return runReport(rest, io, env);
  throw new GeobridgeError('USAGE', `audit: ${sub === undefined ? 'give a subcommand' : `unknown subcommand '${sub}'`}: verify, prove, witness or report; see 'geobridge audit --help'.`);
}

async function runVerify(argv: readonly string[], io: Io, env: Env): Promise<number> {
  const { values, positionals } = parseCommandArgs('audit', argv, { data: { type: 'string' }, store: { type: 'string' }, 'record-stores': { type: 'string' }, sth: { type: 'string', multiple: true }, 'log-key': { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(AUDIT_HELP);
    return EXIT.ok;
  }
  noPositionals('verify', positionals);
  const logs = logSources(values, env, 'audit verify');
  const pinned = (values.sth ?? []).map(readTreeHeadFile);
  const key = values['log-key'] !== undefined ? await readLogKeyFile(values['log-key']) : existsSync(logKeyPath(values.data ?? 'data')) ? await loadLogKey(values.data ?? 'data', false) : undefined;
  const results: { ok: boolean; json: Record<string, unknown>; text: string }[] = [];
  if (logs.length === 1) results.push(await verifyOne(logs[0]?.source ?? auditSource(values.data, undefined), { any: true }, key, pinned, values.data ?? 'data'));
  else {
    const stray = pinned.find((sth) => !logs.some((l) => l.name === sth.log));
    if (stray) throw new GeobridgeError('USAGE', `audit verify: a --sth is a head of ${describeLog(stray.log)}, which is not among the logs given (--record-stores).`);
    // Each kept head is checked against the log it names.
    for (const { name, source } of logs) results.push(await verifyOne(source, { name }, key, pinned.filter((sth) => sth.log === name), values.data ?? 'data'));
  }
  const ok = results.every((r) => r.ok);
  if (values.json) io.out(`${JSON.stringify(logs.length === 1 ? results[0]?.json : { ok, logs: results.map((r) => r.json) }, null, 2)}\n`);
  else io.out(results.map((r) => r.text).join(logs.length === 1 ? '' : '\n'));
  return ok ? EXIT.ok : EXIT.violations;
}

/** Verifies one log: the broker's own or record store `name`'s, or whichever the source holds (`any`); its JSON and its lines. */
async function verifyOne(source: AuditSource, expected: { readonly name?: string | undefined; readonly any?: true }, key: LogPublicKey | undefined, pinned: readonly SignedTreeHead[], dir: string): Promise<{ ok: boolean; json: Record<string, unknown>; text: string }> {
  const read = await readAll(source);
  if (!read.ok) return { ok: false, json: { ...auditSourceJson(source), ok: false, code: read.code, reason: read.reason }, text: `chain broken: ${read.reason}\n` };
  if (key === undefined && (read.stored.heads.length > 0 || pinned.length > 0)) {
    throw new GeobridgeError('LOG_KEY_UNAVAILABLE', `the log keeps signed tree heads but there is no log key at '${logKeyPath(dir)}'; pass --log-key with the key you pinned (the JSON of GET /v1/log/key).`);
  }
  const check = verifyLog(read.records, read.stored, key, pinned);
  if (check.ok && expected.any === undefined && check.log !== expected.name) {
    const reason = `${describeAuditSource(source)} holds ${describeLog(check.log)}, not ${describeLog(expected.name)}: check --record-stores`;
    return { ok: false, json: { ...auditSourceJson(source), ok: false, problem: 'log', reason }, text: `wrong log: ${reason}\n` };
  }
  const last = read.records.at(-1);
  const json = { ...auditSourceJson(source), ...(check.ok ? { ...check, ...(last ? { head: { seq: last.seq, hash: last.hash, at: last.at } } : {}), ...(key ? { keyId: key.keyId } : {}) } : check) };
  if (!check.ok) return { ok: false, json, text: check.problem === 'chain' ? `chain broken at record ${String(check.seq)}: ${check.reason}\n` : `log altered: ${check.reason}\n` };
  const lines = [`chain intact: ${count(check.count, 'record')} of ${describeLog(check.log)}`];
  if (last) lines.push(`head: record ${last.seq}, ${last.at}, hash ${last.hash}`);
  lines.push(read.stored.head ? `Merkle tree: ${count(check.count, 'leaf', 'leaves')}, root ${check.rootHash}, as the records give it` : 'Merkle tree: none (written before the transparency log; a broker builds it when it next starts)');
  if (key) lines.push(`signed tree heads: ${formatCount(check.headsChecked)} kept, each signed by log key ${key.keyId}${check.log === undefined ? '' : ` for record store ${check.log}`} over the records it covers`);
  for (const p of check.pinned) {
    const after = check.count - p.size;
    lines.push(`your tree head (${count(p.size, 'record')}, signed ${new Date(p.timestamp).toISOString()}): the log still holds exactly those records${after > 0 ? `, and ${count(after, 'record')} after them` : ', and none after them yet'}`);
  }
  if (check.pinned.length === 0) lines.push('Keep a signed tree head outside the broker (GET /v1/log/sth) and check against it with --sth: only that shows a log rewritten by whoever holds its data directory.');
  return { ok: true, json, text: `${lines.join('\n')}\n` };
}

async function runProve(argv: readonly string[], io: Io, env: Env): Promise<number> {
  const { values, positionals } = parseCommandArgs('audit', argv, { data: { type: 'string' }, store: { type: 'string' }, 'record-stores': { type: 'string' }, 'log-key': { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(AUDIT_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new GeobridgeError('USAGE', `audit prove: give one receipt file (the meeting page's routing receipt, or a saved /v1/route answer), not ${String(positionals.length)}; see 'geobridge audit --help'.`);
  const receiptFile = positionals[0] ?? '';
  const receipts = receiptsOf(readReceiptInput(receiptFile));
  const dir = values.data ?? 'data';
  const logs = logSources(values, env, 'audit prove');
  // With --record-stores, each receipt is proven in the log it names; otherwise in the one log given.
  const named = logs.length > 1 ? [...new Set(receipts.map((r) => r.promise.log))] : [undefined];
  const sourceOf = (log: string | undefined): AuditSource => {
    const found = logs.length > 1 ? logs.find((l) => l.name === log) : logs[0];
    if (found === undefined) throw new GeobridgeError('USAGE', `audit prove: the receipt names record store '${String(log)}', which --record-stores does not list.`);
    return found.source;
  };
  const source = sourceOf(named[0]);
  const key = values['log-key'] !== undefined ? await readLogKeyFile(values['log-key']) : await loadLogKey(dir, false);
  const reads = new Map(await Promise.all(named.map(async (log) => [log, await readAll(sourceOf(log))] as const)));
  const checks = receipts.map((receipt): ReceiptCheck => {
    const read = reads.get(logs.length > 1 ? receipt.promise.log : undefined);
    if (read === undefined) return { ok: false, reason: 'no log read for it' };
    return read.ok ? proveReceipt(read.records, receipt, key) : { ok: false, reason: `the log cannot be read as written: ${read.reason}` };
  });
  const ok = checks.every((c) => c.ok);
  if (values.json) {
    const one = (check: ReceiptCheck): Record<string, unknown> => (check.ok ? { ok: true, seq: check.record.seq, type: check.record.type, at: check.record.at, rootHash: check.rootHash } : check);
    // A saved answer holds one receipt: its result is the document; a receipt file's routes are listed.
    const [only] = checks;
    io.out(`${JSON.stringify({ ...auditSourceJson(source), receipt: receiptFile, ...(checks.length === 1 && only ? one(only) : { ok, routes: checks.map(one) }) }, null, 2)}\n`);
  } else {
    const lines = checks.map((check, i) => {
      const receipt = receipts[i];
      if (!check.ok || receipt === undefined) return `not proven: ${check.ok ? 'no receipt' : check.reason}`;
      const r = check.record;
      const manifest = receipt.manifestSha256 === undefined ? '' : `, under manifest ${receipt.manifestSha256}`;
      return `in ${receipt.promise.log === undefined ? 'the log' : describeLog(receipt.promise.log)}: record ${String(r.seq)} (${r.type}${typeof r.data.decisionId === 'string' ? ` ${r.data.decisionId}` : ''}, ${r.at}), as promised ${new Date(receipt.promise.timestamp).toISOString()}${manifest}`;
    });
    const root = checks.find((c) => c.ok);
    io.out(`${lines.join('\n')}\n${ok && root?.ok ? `Merkle root of the log now: ${root.rootHash}\n` : ''}`);
  }
  return ok ? EXIT.ok : EXIT.violations;
}

async function runReport(argv: readonly string[], io: Io, env: Env): Promise<number> {
  const { values, positionals } = parseCommandArgs('audit', argv, {
    data: { type: 'string' },
    store: { type: 'string' },
    'record-stores': { type: 'string' },
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

  const logs = logSources(values, env, 'audit report');
  const read: { name: string | undefined; records: AuditRecord[]; chain: ChainCheck }[] = [];
  for (const { name, source } of logs) {
    const one = await readAll(source);
    if (!one.ok) {
      io.err(`error: chain broken in ${describeLog(name)}: ${one.reason}\nNo report: the log cannot be read as written. Run 'geobridge audit verify' for details.\n`);
      return EXIT.violations;
    }
    read.push({ name, records: one.records, chain: verifyChain(one.records) });
  }
  // One report over every log, in time order: a compliance question spans the regions.
  const report = buildAuditReport(read.flatMap((r) => r.records).sort((a, b) => compareStrings(a.at, b.at)), { from, to });
  const chain = read.find((r) => !r.chain.ok)?.chain ?? { ok: true as const, count: read.reduce((n, r) => n + r.records.length, 0) };
  const where = read.map((r) => logShare(r.name ?? null, buildAuditReport(r.records, { from, to })));
  if (values.json) {
    io.out(`${JSON.stringify({ chain, report, ...(logs.length > 1 ? { logs: where } : {}) }, null, 2)}\n`);
  } else if (values.html !== undefined) {
    writeOutputFile(values.html, renderAuditReportHtml(report, logs.length > 1 ? where : []), '--html');
    const t = report.total;
    io.out(`wrote ${values.html}: ${count(t.records.total, 'record')}, ${count(t.connections.total, 'connection')}, ${count(t.routeDecisions.total, 'route decision')}, ${count(t.refusals.total, 'refusal')} over ${count(report.days.length, 'day')}\n`);
  } else {
    io.out(renderAuditReportText(report));
    if (logs.length > 1) io.out(renderLogSharesText(where));
  }
  if (!chain.ok) {
    io.err(`warning: chain broken at record ${chain.seq}: ${chain.reason}. This report may rest on altered records; run 'geobridge audit verify'.\n`);
    return EXIT.violations;
  }
  return EXIT.ok;
}

/**
 * The logs a command reads: the broker's own (--store, or --data's
 * audit.sqlite) and, with --record-stores (as serve takes it), each record
 * store's: its PostgreSQL database, or DATA/records-ID.sqlite.
 */
function logSources(values: { data?: string | undefined; store?: string | undefined; 'record-stores'?: string | undefined }, env: Env, command: string): { name: string | undefined; source: AuditSource }[] {
  const problems: string[] = [];
  const stores = parseRecordStores(values['record-stores'] ?? env[ENV_NAMES.recordStores], problems);
  if (problems.length > 0) throw new GeobridgeError('USAGE', `${command}: ${problems.join(' ')}`);
  const own = { name: undefined, source: auditSource(values.data, storeUrlOf(values.store, env, command)) };
  const dir = values.data ?? 'data';
  return [
    own,
    ...[...stores].map(([name, url]) => {
      if (url !== 'sqlite') return { name, source: { kind: 'postgres' as const, url } };
      const file = recordStoreFile(dir, name);
      if (!existsSync(file)) throw new GeobridgeError('AUDIT_UNAVAILABLE', `no log of record store '${name}' at '${file}'; pass --data with the broker's data directory, or give the store's PostgreSQL URL in --record-stores.`);
      return { name, source: { kind: 'sqlite' as const, file } };
    }),
  ];
}

/** "1 record", "2,000 records". */
function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${formatCount(n)} ${n === 1 ? noun : plural}`;
}

function noPositionals(sub: string, positionals: readonly string[]): void {
  if (positionals.length > 0) throw new GeobridgeError('USAGE', `audit ${sub}: unexpected argument '${positionals[0] ?? ''}'; see 'geobridge audit --help'.`);
}

export type ReadResult = { readonly ok: true; readonly records: AuditRecord[]; readonly stored: StoredTree } | { readonly ok: false; readonly code: string; readonly reason: string };

/** Every record of the log, its stored tree and signed heads; a record that cannot even be parsed (AUDIT_CORRUPT) is a broken chain, not bad input. */
export async function readAll(source: AuditSource): Promise<ReadResult> {
  const log = await openAuditLog(source);
  try {
    const records = await log.read();
    const heads = await log.treeHeads();
    return { ok: true, records, stored: { head: await storedHead(log, source), heads } };
  } catch (error) {
    if (isGeobridgeError(error) && error.code === 'AUDIT_CORRUPT') return { ok: false, code: error.code, reason: error.message };
    throw error;
  } finally {
    await log.close();
  }
}

/** The stored tree's head: undefined for a file without a tree, 'damaged' (a finding, not an error) when nodes are missing. */
async function storedHead(log: AuditLog, source: AuditSource): Promise<StoredTree['head']> {
  try {
    return await log.treeHead();
  } catch (error) {
    // Only a SQLite file can predate the tree; on PostgreSQL AUDIT_UNAVAILABLE is the server failing.
    if (source.kind === 'sqlite' && isGeobridgeError(error) && error.code === 'AUDIT_UNAVAILABLE') return undefined;
    if (isGeobridgeError(error) && error.code === 'TRANSLOG_MISSING_NODE') return 'damaged';
    throw error;
  }
}
