/**
 * `geobridge receipt verify`: what a participant (or anyone holding their
 * receipt) can check. A routing receipt file (the meeting page's download,
 * src/core/receipt-file.ts) carries, per route, the log's signed promise, a
 * signed tree head covering it and the inclusion proof to that head's root:
 * it verifies offline under a pinned log key, and more with the broker
 * (its latest head extends the file's and still holds the record) or the
 * broker's data directory (the record itself). A bare /v1/route answer has
 * no head or proof: it needs the broker or the log. A decision recorded in a
 * record store's log (the promise's `log`) is checked in that log only.
 */
import { hashLeaf, verifyConsistency, verifyInclusion, type TreeHead } from '../../translog/index.js';
import { leafEntry } from '../../broker/audit/audit-log.js';
import { checkInclusionPromise, verifyTreeHead, type SignedTreeHead } from '../../broker/audit/tree-heads.js';
import { decidedRouteOf, decidedRouteOfFile, describeLog, proveReceipt, routeWords, type LogPublicKey } from '../../broker/audit/verify-log.js';
import { loadLogKey, logKeyPath } from '../../broker/log-key.js';
import type { ReceiptFileRoute } from '../../core/receipt-file.js';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { parseCommandArgs } from '../args.js';
import { auditSource, describeAuditSource, storeUrlOf, type Env } from '../audit-source.js';
import { BridgeKeysAnswer, ConsistencyProofAnswer, InclusionProofAnswer, TreeHeadAnswer } from '../../protocol/answers.js';
import { isoTime } from '../../core/time.js';
import { parseAnswer } from '../../protocol/parse-answer.js';
import { checkBridgeProof } from '../bridge-proof-check.js';
import { brokerUrl, getJson } from '../broker-client.js';
import { logKeyFromJson, readLogKeyFile, readReceiptInput, readTreeHeadFile, type AnswerReceipt } from '../log-files.js';
import { ticketProblem, type ExpectedTicket } from '../ticket-check.js';
import { EXIT, type Io } from '../io.js';
import { ENV_NAMES } from '../../broker/config.js';
import { readAll, type ReadResult } from './audit.js';

export const RECEIPT_HELP = `Usage: geobridge receipt verify FILE --log-key KEY [--broker URL | --log DIR] [--json]
       geobridge receipt verify FILE --broker URL [--log-key KEY] [--sth FILE] [--json]
       geobridge receipt verify FILE --log DIR [--store URL] [--log-key KEY] [--json]

Checks a routing receipt against the broker's transparency log. FILE is the
routing receipt file the meeting page saves ("Routing receipt"), or a
/v1/route answer saved as JSON.

A routing receipt file holds, for each route of the call, the log's signed
promise, a signed tree head that covers it and the inclusion proof up to
that head's root, so it verifies OFFLINE under the log key (--log-key, the
key you pinned):

  1. the promise and the head are signed by the log key; the promise names
     the record's hash and what it decided (the decision, its manifest,
     the country and the datacenters offered, in order), so a promise for
     one decision never vouches for another;
  2. the head covers the route's record (the index is inside the log);
  3. the inclusion proof leads from that record to the root the head signs.

Offline, where the participant connected is the file's word: --broker
checks each bridge's signed proof that it was reached, and when.

With --broker the log key comes from the broker unless pinned, and also:
the broker's latest head is not older than the file's (no rollback), a
consistency proof shows it extends the file's head, the record is proven
again in it, the route ticket is the broker's (signed by a key it
publishes, or one its key history says was retired after the ticket was
issued; never a revoked one) for the file's decision, under the manifest, and
for the country and datacenters the file names, and each bridge's proof that it was reached is checked under
the key the broker publishes for its datacenter. With --log DIR (a broker's
data directory; its key DIR/keys/log.pem unless pinned) the log itself must
hold the record promised, as the decision the file names, for the country,
datacenters and manifest it names, and the file's head must fit its records.
For a broker on a PostgreSQL store, add --store URL: the log is read from
that database, the key still from DIR/keys/log.pem.

A bare /v1/route answer has no head or proof: it needs --broker (the
broker's latest head and inclusion proof, and its route ticket for the
answer's decision, manifest, country and candidates; with --sth, that head
extends one you kept) or --log (the record itself).

A decision recorded in a record store's log (manifest stores:, the
promise's "log") is checked in that log: its head and proofs with
--broker, and with --log DIR the log opened must be that store's (give
--store with the URL of its log's database).

Then it says, in plain words, for each route: the country, the datacenter
connected to and its jurisdiction, when, and the manifest the decision was
made under.

Options:
  --log-key KEY   the log key you pinned (the body of GET /v1/log/key)
  --broker URL    the broker that routed (http://host:port)
  --log DIR       the broker's data directory (audit.sqlite, keys/log.pem)
  --store URL     with --log: the broker's PostgreSQL store (serve --store),
                  which holds its log; 'sqlite' reads DIR   [${ENV_NAMES.store}]
  --sth FILE      a signed tree head you kept (the body of GET /v1/log/sth),
                  for a bare /v1/route answer, with --broker
  --json          print JSON
  -h, --help      show this help

Exit codes: 0 verified · 1 a signature, head or proof that fails, a rollback,
a record not in the log, a wrong manifest, a route other than the one
decided, a revoked ticket key · 2 bad
input, or the broker or log cannot be read

Examples:
  geobridge receipt verify geobridge-receipt-m_01J…-20260301-091500.json --log-key log-key.json
  geobridge receipt verify geobridge-receipt-m_01J….json --broker https://meet.example
  geobridge receipt verify geobridge-receipt-m_01J….json --log /var/lib/geobridge --store postgres://geobridge@db.example.com/geobridge
  curl -s -X POST $B/v1/route -H "authorization: Bearer $JOIN" -d '{}' > answer.json
  geobridge receipt verify answer.json --broker $B
`;

/** How long a bare answer's receipt may wait for a signed head to cover it: the promise is one interval, plus slack. */
const COVER_WAIT_MS = 3000;

/** The outcome for one route, or for a bare answer. */
type Outcome = { readonly ok: true; readonly seq: number; readonly log?: string; readonly lines: readonly string[] } | { readonly ok: false; readonly reason: string };

/** Where the checks get what they need beyond the file. */
interface Sources {
  readonly key: LogPublicKey;
  readonly broker: URL | undefined;
  /** The log read whole, `where` it is (the file, or the database without its password), and the directory holding its key. */
  readonly log: { readonly dir: string; readonly where: string; readonly read: ReadResult } | undefined;
  readonly kept: SignedTreeHead | undefined;
}

/** Runs `receipt`; `env` gives GEOBRIDGE_STORE. */
export async function runReceipt(argv: readonly string[], io: Io, env: Env = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help' || sub === undefined) {
    io.out(RECEIPT_HELP);
    return sub === undefined ? EXIT.badInput : EXIT.ok;
  }
  if (sub !== 'verify') throw new GeobridgeError('USAGE', `receipt: unknown subcommand '${sub}': verify; see 'geobridge receipt --help'.`);
  const { values, positionals } = parseCommandArgs('receipt', rest, { broker: { type: 'string' }, 'log-key': { type: 'string' }, log: { type: 'string' }, store: { type: 'string' }, sth: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(RECEIPT_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new GeobridgeError('USAGE', `receipt verify: give one receipt file (the meeting page's routing receipt, or a saved /v1/route answer), not ${String(positionals.length)}; see 'geobridge receipt --help'.`);
  if (values.broker === undefined && values.log === undefined && values['log-key'] === undefined) {
    throw new GeobridgeError('USAGE', "receipt verify: give --log-key KEY (the log key you pinned), --broker URL (the broker that routed) or --log DIR (its data directory); see 'geobridge receipt --help'.");
  }
  if (values.store !== undefined && values.log === undefined) throw new GeobridgeError('USAGE', "receipt verify: --store says where the log of --log DIR is kept: give --log DIR too (its keys/log.pem is the log key).");
  if (values.sth !== undefined && values.broker === undefined) throw new GeobridgeError('USAGE', "receipt verify: --sth is checked against the broker's latest head: give --broker URL too.");
  const file = positionals[0] ?? '';
  const input = readReceiptInput(file);
  if (input.kind === 'file' && values.sth !== undefined) throw new GeobridgeError('USAGE', `receipt verify: ${file} carries its own tree heads, which --broker checks against the latest; --sth is for a bare /v1/route answer.`);
  if (input.kind === 'answer' && values.broker === undefined && values.log === undefined) {
    throw new GeobridgeError('USAGE', `receipt verify: ${file} is a bare /v1/route answer, with no tree head or proof to check offline: give --broker URL or --log DIR.`);
  }
  const broker = values.broker === undefined ? undefined : brokerUrl(values.broker, 'receipt verify');
  const log = values.log === undefined ? undefined : await readLogOf(values.log, storeUrlOf(values.store, env, 'receipt verify'));
  const pinned = values['log-key'] !== undefined ? await readLogKeyFile(values['log-key']) : undefined;
  // Without a pinned key, the data directory's is the operator's own; the broker's is only what it says today.
  const key = pinned ?? (log !== undefined ? await loadLogKey(log.dir, false) : await brokerLogKey(brokerUrl(values.broker ?? '', 'receipt verify')));
  const keyNote = log !== undefined ? `log key ${key.keyId}, from ${logKeyPath(log.dir)}` : `log key ${key.keyId}, fetched from the broker: pin it (--log-key) to check against the key you trust`;
  const sources: Sources = { key, broker, log, kept: values.sth === undefined ? undefined : readTreeHeadFile(values.sth) };

  const outcomes = await Promise.all(input.kind === 'file' ? input.file.routes.map((route) => answered(checkRoute(route, sources))) : [answered(checkAnswer(input.answer, sources))]);
  const ok = outcomes.every((o) => o.ok);
  if (values.json) {
    io.out(`${JSON.stringify({ file, ok, routes: outcomes.map((o) => (o.ok ? { ok: true, seq: o.seq, ...logField(o.log) } : o)), keyId: key.keyId, keyPinned: pinned !== undefined }, null, 2)}\n`);
  } else {
    // One route reads as lines; several are numbered, their details indented under each.
    const many = outcomes.length > 1;
    const lines = outcomes.flatMap((o, i) => {
      const label = many ? `route ${String(i + 1)} of ${String(outcomes.length)}: ` : '';
      return o.ok ? [`${label}${o.lines[0] ?? ''}`, ...o.lines.slice(1).map((l) => (many ? `  ${l}` : l))] : [`${label}not verified: ${o.reason}`];
    });
    if (ok && pinned === undefined) lines.push(keyNote);
    io.out(`${lines.join('\n')}\n`);
  }
  return ok ? EXIT.ok : EXIT.violations;
}

/** The log key the broker publishes (GET /v1/log/key); LOG_KEY_UNAVAILABLE, naming the answer, when it is not one. */
async function brokerLogKey(broker: URL): Promise<LogPublicKey> {
  const key = await logKeyFromJson(await getJson(broker, '/v1/log/key'));
  if (!key.ok) throw new GeobridgeError('LOG_KEY_UNAVAILABLE', `the broker's answer to GET /v1/log/key is not a log key (${key.reason}): pin the key you trust with --log-key.`);
  return key.key;
}

/** An outcome, or why not when the broker's answers are not the protocol's: a log that cannot show its proofs proves nothing. */
async function answered(check: Promise<Outcome>): Promise<Outcome> {
  try {
    return await check;
  } catch (error) {
    if (isGeobridgeError(error) && error.code === 'BROKER_ANSWER_INVALID') return { ok: false, reason: error.message };
    throw error;
  }
}

/** A route of a receipt file: offline against its own head, then against the broker and the log when given. */
async function checkRoute(route: ReceiptFileRoute, sources: Sources): Promise<Outcome> {
  const { key } = sources;
  const promise = route.receipt;
  const seq = promise.index + 1;
  const unsigned = checkInclusionPromise(promise, decidedRouteOfFile(route), key.publicKey, key.keyId);
  if (unsigned !== undefined) return { ok: false, reason: `bad signature: the receipt is not the log's promise: ${unsigned}` };
  if (route.sth.log !== promise.log) return { ok: false, reason: `the file's tree head is of ${describeLog(route.sth.log)}, but the promise is for ${describeLog(promise.log)}: a head proves only the records of its own log` };
  const signed = verifyTreeHead(route.sth, key.publicKey, key.keyId);
  if (!signed.ok) return { ok: false, reason: `the file's tree head is not signed by the log key: ${signed.reason}` };
  if (route.sth.size <= promise.index) return { ok: false, reason: `index beyond the log: the file's tree head holds ${String(route.sth.size)} records, not record ${String(seq)}` };
  const proved = verifyInclusion(hashLeaf(leafEntry(promise.recordHash)), promise.index, route.inclusionProof.map(fromBase64), signed.head);
  if (!proved.ok) return { ok: false, reason: `the file's inclusion proof does not lead to the root its tree head signs (${proved.message})` };
  const lines = [`record ${String(seq)} is in ${theLog(promise.log)}: the file's tree head of ${String(route.sth.size)} records, signed ${isoTime(route.sth.timestamp)}, holds it (an inclusion proof of ${hashes(route.inclusionProof.length)}, checked here)`];
  // Where it connected is the file's word until the bridges' proofs are checked: then their signed times are.
  let admitted: readonly number[] | undefined;
  if (sources.broker !== undefined) {
    const latest = await latestHead(sources.broker, key, promise.log, route.sth.size);
    if (!latest.ok) return latest;
    const extended = await extendsHead(sources.broker, route.sth, signed.head, latest, 'in the file');
    if (extended !== undefined) return { ok: false, reason: extended };
    const again = await provenAtBroker(sources.broker, promise.index, promise.recordHash, latest);
    if (!again.ok) return again;
    lines.push(`the broker's latest tree head (${String(latest.sth.size)} records, signed ${isoTime(latest.sth.timestamp)}) extends the file's and holds the same record (${again.line})`);
    const vouched = await ticketVouches(sources.broker, route.ticket, { decisionId: route.decisionId, participant: route.participant, manifestSha256: promise.manifestSha256, route: { country: route.country, candidates: route.candidates } });
    if (!vouched.ok) return vouched;
    lines.push(vouched.line);
    const keys = parseAnswer(BridgeKeysAnswer, await getJson(sources.broker, '/v1/bridges/keys'), 'GET /v1/bridges/keys').keys;
    const at: number[] = [];
    for (const c of route.connections) {
      const checked = await checkBridgeProof(c.bridgeProof, { datacenter: c.datacenter, challenge: c.challenge, participant: route.participant }, keys);
      if (!checked.ok) return { ok: false, reason: `the bridge proof for ${c.datacenter} does not hold: ${checked.reason}` };
      at.push(checked.proof.at);
      lines.push(`the bridge of ${c.datacenter} proved it was reached: its proof is signed by the key the broker publishes for ${c.datacenter}`);
    }
    admitted = at;
  }
  if (sources.log !== undefined) {
    const inLog = againstLog(route, sources.log, key);
    if (!inLog.ok) return inLog;
    lines.push(inLog.line);
  }
  return { ok: true, seq, ...logField(promise.log), lines: [plainWords(route, admitted), ...lines] };
}

/** A bare /v1/route answer: the broker's latest head and proof (and a kept head), or the log's record. */
async function checkAnswer(receipt: AnswerReceipt, sources: Sources): Promise<Outcome> {
  const { key } = sources;
  const { promise } = receipt;
  const seq = promise.index + 1;
  const unsigned = checkInclusionPromise(promise, decidedRouteOf(receipt), key.publicKey, key.keyId);
  if (unsigned !== undefined) return { ok: false, reason: `the receipt is not the log's promise: ${unsigned}` };
  const lines: string[] = [];
  if (sources.broker !== undefined) {
    const latest = await latestHead(sources.broker, key, promise.log, Math.max(promise.index + 1, sources.kept?.size ?? 0));
    if (!latest.ok) return latest;
    if (latest.sth.size <= promise.index) return { ok: false, reason: `the broker's latest signed tree head (${String(latest.sth.size)} records) does not hold record ${String(seq)}, promised ${isoTime(promise.timestamp)}: the log lost it, or broke its promise` };
    const proven = await provenAtBroker(sources.broker, promise.index, promise.recordHash, latest);
    if (!proven.ok) return proven;
    lines.push(`record ${String(seq)} is in ${theLog(promise.log)}: the tree head of ${String(latest.sth.size)} records signed ${isoTime(latest.sth.timestamp)} holds it (${proven.line})`);
    // The route ticket is the broker's word for the same decision, under its ticket key.
    const ticket = typeof receipt.answer.ticket === 'string' ? receipt.answer.ticket : undefined;
    if (ticket === undefined || receipt.decisionId === undefined || receipt.manifestSha256 === undefined || receipt.route === undefined) {
      return { ok: false, reason: 'the answer lacks its route ticket, decision id or manifest, so what it says was decided cannot be checked against the broker\'s signature: give --log DIR to check it against the record' };
    }
    const vouched = await ticketVouches(sources.broker, ticket, { decisionId: receipt.decisionId, manifestSha256: receipt.manifestSha256, route: receipt.route });
    if (!vouched.ok) return vouched;
    lines.push(vouched.line);
    if (sources.kept !== undefined) {
      if (sources.kept.log !== promise.log) return { ok: false, reason: `the tree head you kept is of ${describeLog(sources.kept.log)}, but the receipt is for ${describeLog(promise.log)}: give --sth a head of that log (GET /v1/log/sth${storeQuery(promise.log)})` };
      const keptSigned = verifyTreeHead(sources.kept, key.publicKey, key.keyId);
      if (!keptSigned.ok) return { ok: false, reason: `the tree head you kept: ${keptSigned.reason}` };
      const extended = await extendsHead(sources.broker, sources.kept, keptSigned.head, latest, 'you kept');
      if (extended !== undefined) return { ok: false, reason: extended };
      lines.push(`and that log extends the head you kept (${String(sources.kept.size)} records, signed ${isoTime(sources.kept.timestamp)})`);
    }
  }
  if (sources.log !== undefined) {
    const { read, where } = sources.log;
    const check = read.ok ? proveReceipt(read.records, receipt, key) : { ok: false as const, reason: `the log cannot be read as written: ${read.reason}` };
    if (!check.ok) return { ok: false, reason: `the log in ${where}: ${check.reason}` };
    lines.push(`${theLog(promise.log)} in ${where} holds it: record ${String(check.record.seq)} (${check.record.type}, ${check.record.at})`);
  }
  lines.push(answerWords(receipt.answer, receipt.manifestSha256, promise.timestamp));
  return { ok: true, seq, ...logField(promise.log), lines };
}

type LatestHead = { readonly ok: true; readonly sth: SignedTreeHead; readonly head: TreeHead } | { readonly ok: false; readonly reason: string };

/**
 * The broker's latest signed tree head of `log` (its own when undefined),
 * checked under the key, once it holds `atLeast` records or COVER_WAIT_MS
 * passed: a head covers a record within an interval of its promise, and
 * brokers sharing a log each serve their own newest head, which may be an
 * interval behind the one a receipt holds.
 */
async function latestHead(broker: URL, key: LogPublicKey, log: string | undefined, atLeast: number): Promise<LatestHead> {
  let sth = await servedHead(broker, log);
  for (const deadline = Date.now() + COVER_WAIT_MS; sth.size < atLeast && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    sth = await servedHead(broker, log);
  }
  // A broker that ignores `store` answers with its own log's head, which proves nothing of a store's record.
  if (sth.log !== log) return { ok: false, reason: `asked for ${describeLog(log)}, the broker answered with a tree head of ${describeLog(sth.log)}: it does not serve the log that holds this decision` };
  const signed = verifyTreeHead(sth, key.publicKey, key.keyId);
  return signed.ok ? { ok: true, sth, head: signed.head } : { ok: false, reason: `the broker's tree head is not signed by the log key: ${signed.reason}` };
}

function servedHead(broker: URL, log: string | undefined): Promise<SignedTreeHead> {
  return getJson(broker, `/v1/log/sth${storeQuery(log)}`).then((body) => parseAnswer(TreeHeadAnswer, body, 'GET /v1/log/sth'));
}

/** Why the broker's latest head does not extend `older` (the head `whose`: 'in the file', 'you kept'): a rollback, or a fork. */
async function extendsHead(broker: URL, older: SignedTreeHead, olderHead: TreeHead, latest: Extract<LatestHead, { ok: true }>, whose: string): Promise<string | undefined> {
  const was = `${String(older.size)} records, signed ${isoTime(older.timestamp)}`;
  if (latest.sth.size < older.size) return `rollback: the broker's latest tree head (${String(latest.sth.size)} records, signed ${isoTime(latest.sth.timestamp)}) is older than the one ${whose} (${was}): the log was cut back`;
  const consistency = parseAnswer(ConsistencyProofAnswer, await getJson(broker, `/v1/log/consistency?from=${String(older.size)}&to=${String(latest.sth.size)}${storeQuery(latest.sth.log, '&')}`), 'GET /v1/log/consistency');
  const extended = verifyConsistency(olderHead, latest.head, consistency.proof.map(fromBase64));
  return extended.ok ? undefined : `the log does not extend the tree head ${whose} (${was}): ${extended.message}`;
}

/** The route ticket checked against the broker's keys (ticket-check.ts): the line saying what it vouches for, or why it does not. */
async function ticketVouches(broker: URL, ticket: string, expected: ExpectedTicket): Promise<{ ok: true; line: string } | { ok: false; reason: string }> {
  const problem = await ticketProblem(ticket, expected, broker);
  if (problem !== undefined) return { ok: false, reason: problem };
  return { ok: true, line: `the route ticket is the broker's, for decision ${expected.decisionId} under manifest ${expected.manifestSha256.slice(0, 12)}…, for ${routeWords(expected.route)}` };
}

/** The record at `index` proven again in the broker's latest head (of the log it names), through the broker's inclusion proof. */
async function provenAtBroker(broker: URL, index: number, recordHash: string, latest: Extract<LatestHead, { ok: true }>): Promise<{ ok: true; line: string } | { ok: false; reason: string }> {
  const inclusion = parseAnswer(InclusionProofAnswer, await getJson(broker, `/v1/log/proof?index=${String(index)}&size=${String(latest.sth.size)}${storeQuery(latest.sth.log, '&')}`), 'GET /v1/log/proof');
  if (inclusion.recordHash !== recordHash) return { ok: false, reason: `the log now holds another record ${String(index + 1)} (hash ${inclusion.recordHash}, promised ${recordHash}): it was rewritten` };
  const proved = verifyInclusion(hashLeaf(leafEntry(recordHash)), index, inclusion.proof.map(fromBase64), latest.head);
  if (!proved.ok) return { ok: false, reason: `the broker's inclusion proof does not lead to the root its head signs (${proved.message})` };
  return { ok: true, line: `an inclusion proof of ${hashes(inclusion.proof.length)}, checked here` };
}

/** The log itself holds the promised record, as the decision of the file's route, for its country and datacenters; the file's head fits the records. */
function againstLog(route: ReceiptFileRoute, log: NonNullable<Sources['log']>, key: LogPublicKey): { ok: true; line: string } | { ok: false; reason: string } {
  const { read, where } = log;
  const { manifestSha256, ...promise } = route.receipt;
  const claimed = { country: route.country, candidates: route.candidates };
  const check = read.ok ? proveReceipt(read.records, { promise, decisionId: route.decisionId, manifestSha256, sth: route.sth, route: claimed }, key) : { ok: false as const, reason: `the log cannot be read as written: ${read.reason}` };
  if (!check.ok) return { ok: false, reason: `the log in ${where}: ${check.reason}` };
  return { ok: true, line: `${theLog(promise.log)} in ${where} holds it: record ${String(check.record.seq)} (${check.record.type} ${route.decisionId}, ${check.record.at}), for ${routeWords(claimed)}` };
}

/** The log of the broker whose data directory is `dir`: DIR/audit.sqlite, or in its PostgreSQL store. */
async function readLogOf(dir: string, storeUrl: string | undefined): Promise<NonNullable<Sources['log']>> {
  const source = auditSource(dir, storeUrl);
  return { dir, where: describeAuditSource(source), read: await readAll(source) };
}

/**
 * "US → us-east (US), admitted 2026-…; decided 2026-…, decision dec_…,
 * under manifest 9f2c…": a file's route, for people. The route is the
 * promise's (its signature covers it); where it connected is the file's
 * word until each bridge's proof is checked (`admitted`: the times the
 * proofs sign, one per connection).
 */
function plainWords(route: ReceiptFileRoute, admitted: readonly number[] | undefined): string {
  const jurisdiction = new Map(route.candidates.map((c) => [c.datacenter, c.jurisdiction]));
  const offered = `${route.country}, offered ${route.candidates.map((c) => `${c.datacenter} (${c.jurisdiction})`).join(', ')}`;
  const where =
    route.connections.length === 0
      ? `${offered}, not connected on this route`
      : admitted !== undefined
        ? route.connections.map((c, i) => `${route.country} → ${c.datacenter} (${jurisdiction.get(c.datacenter) ?? '?'}), admitted ${isoTime(admitted[i] ?? 0)}`).join('; then ')
        : `${offered}; the file says it connected to ${route.connections.map((c) => `${c.datacenter} at ${c.connectedAt}`).join(', then ')} (--broker checks each bridge's proof)`;
  return `${where}; decided ${isoTime(route.receipt.timestamp)}, decision ${route.decisionId}, under manifest ${route.receipt.manifestSha256}`;
}

/** "the route: DE → eu-central (DE), …; decided …": a bare answer, which says where it was sent, not where it connected. */
function answerWords(answer: Readonly<Record<string, unknown>>, manifest: string | undefined, at: number): string {
  const candidates = Array.isArray(answer.candidates) ? (answer.candidates as { datacenter?: unknown; jurisdiction?: unknown }[]) : [];
  const first = candidates[0];
  const country = typeof answer.country === 'string' ? answer.country : '?';
  const path = first ? `${country} → ${String(first.datacenter)} (${String(first.jurisdiction)})` : country;
  const more = candidates.length > 1 ? `, then ${candidates.slice(1).map((c) => `${String(c.datacenter)} (${String(c.jurisdiction)})`).join(', ')}` : '';
  return `the route: ${path}${more}; decided ${isoTime(at)}${typeof answer.decisionId === 'string' ? `, decision ${answer.decisionId}` : ''}${manifest ? `, under manifest ${manifest}` : ''}`;
}

/** The query that asks the broker for record store `log`'s log (after `separator`); nothing for its own. */
function storeQuery(log: string | undefined, separator: '?' | '&' = '?'): string {
  return log === undefined ? '' : `${separator}store=${encodeURIComponent(log)}`;
}

/** "the log" (the broker's own), or "the log of record store eu": where a record is, in plain words. */
function theLog(log: string | undefined): string {
  return log === undefined ? 'the log' : describeLog(log);
}

/** The `log` field of a JSON outcome: only for a record store's log, as the broker's answers have it. */
function logField(log: string | undefined): { log?: string } {
  return log === undefined ? {} : { log };
}


function hashes(n: number): string {
  return `${String(n)} hash${n === 1 ? '' : 'es'}`;
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'base64'));
}
