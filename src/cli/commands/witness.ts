/**
 * `geobridge audit witness`: watches a broker's transparency log from
 * outside. It pins the log key on its first run, keeps every head it
 * accepts in STATE/heads.jsonl, and on each poll asks for the latest head
 * and the proof that it extends the last one kept. A rollback, a fork, a
 * head signed out of time, a missing proof or a changed key ends it with
 * exit 1, says which, and keeps what it was shown in STATE/alarms.jsonl;
 * while that file holds an alarm, the witness does not go on.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from 'typebox/value';
import { signedTreeHead, verifyTreeHead, type SignedTreeHead } from '../../broker/audit/tree-heads.js';
import { describeLog, type LogPublicKey } from '../../broker/audit/verify-log.js';
import { judgeTreeHead, proofNeeded } from '../../broker/audit/witness.js';
import { logPublicJwk } from '../../broker/log-key.js';
import { GeobridgeError } from '../../core/errors.js';
import { ConsistencyProofAnswer, TreeHeadAnswer } from '../../protocol/answers.js';
import { answerOrWhy } from '../../protocol/parse-answer.js';
import { ID } from '../../core/yaml/reader.js';
import { formatCount } from '../../core/verify/format.js';
import { parseCommandArgs } from '../args.js';
import { brokerUrl, getJson } from '../broker-client.js';
import { logKeyFromJson } from '../log-files.js';
import { EXIT, type Io } from '../io.js';

export const WITNESS_HELP = `Usage: geobridge audit witness --broker URL --state DIR [--store ID] [--interval S] [--once]

Watches a broker's transparency log from outside, as anyone may: pins the
log key (GET /v1/log/key) on the first run, then polls the signed tree head
(GET /v1/log/sth) and checks, with the log's consistency proof, that each
new head extends the last one it kept. Heads it accepts go to
DIR/heads.jsonl, one JSON line each: keep them, they are your evidence.

It stops with exit 1, saying which, when the log
  - shrank (a rollback: records were cut),
  - signed two roots for one size, or a tree that does not contain the one
    it showed before (a fork: records were changed, removed or reordered),
  - signed a head in the future, or a grown head before the one it extends,
  - showed a head it cannot prove consistent (no proof, or not a proof),
  - or signs with another key than the one pinned, or answers with
    something that is not a log key or a signed tree head.
What it was shown (the head, the proof, the verdict) goes to
DIR/alarms.jsonl, and while that file holds an alarm the witness refuses to
go on in DIR: keep the directory as evidence, and watch again in a new one.

An older, smaller head than the last one kept, signed less than 30 s
before it, is not a rollback when the log proves it a prefix of the last
one: brokers sharing a log each serve their own newest head, so behind a
load balancer one may answer with a head a second older than another's.

Options:
  --broker URL   the broker (http://host:port)
  --state DIR    where the pinned key and the heads are kept (created); one
                 directory per log watched
  --store ID     watch record store ID's log (GET /v1/log/stores lists them)
                 instead of the broker's own: its heads must name it
  --interval S   seconds between polls (default 10)
  --once         poll once and exit (0 when the log is consistent), for cron
  -h, --help     show this help

Exit codes: 0 consistent (--once) · 1 an alarm, now or kept from before · 2 bad
input, or the broker cannot be reached (--once; otherwise it retries)

Examples:
  geobridge audit witness --broker https://broker.example --state ~/geobridge-witness
  geobridge audit witness --broker http://127.0.0.1:8080 --state ./witness --once
  geobridge audit witness --broker https://broker.example --store eu --state ~/witness-eu
`;

/** Runs `audit witness`. */
export async function runWitness(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('audit witness', argv, { broker: { type: 'string' }, state: { type: 'string' }, store: { type: 'string' }, interval: { type: 'string' }, once: { type: 'boolean' } });
  if (values.help) {
    io.out(WITNESS_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw new GeobridgeError('USAGE', `audit witness: unexpected argument '${positionals[0] ?? ''}'; see 'geobridge audit witness --help'.`);
  if (values.broker === undefined || values.state === undefined) throw new GeobridgeError('USAGE', "audit witness: give --broker URL and --state DIR; see 'geobridge audit witness --help'.");
  const broker = brokerUrl(values.broker, 'audit witness');
  const intervalS = Number(values.interval ?? '10');
  // setTimeout fires at once for a delay past 2^31 − 1 ms: a longer interval would poll in a busy loop.
  if (!Number.isFinite(intervalS) || intervalS < 0.1 || intervalS > INTERVAL_MAX_S) throw new GeobridgeError('USAGE', `audit witness: --interval '${values.interval ?? ''}' is not a number of seconds from 0.1 to ${String(INTERVAL_MAX_S)} (24 days).`);
  try {
    mkdirSync(values.state, { recursive: true });
  } catch (error) {
    throw new GeobridgeError('USAGE', `audit witness: --state '${values.state}' cannot be the witness's directory (${(error as NodeJS.ErrnoException).code ?? String(error)}): give a directory, new or one a witness kept before.`);
  }
  if (values.store !== undefined && !ID.test(values.store)) throw new GeobridgeError('USAGE', `audit witness: --store '${values.store}' is not a record store's id (GET /v1/log/stores lists them).`);
  const watch = await openWatch(values.state, values.store);
  if (watch.alarm !== undefined) {
    io.out(`ALARM kept from before: ${watch.alarm}. The witness does not go on past an alarm: keep ${watch.alarmsFile} as evidence, and watch again with a new --state directory.\n`);
    return EXIT.violations;
  }

  for (;;) {
    let outcome: number | undefined;
    try {
      outcome = await poll(broker, watch, io, values.once === true);
    } catch (error) {
      if (!(error instanceof GeobridgeError) || error.code !== 'BROKER_UNREACHABLE' || values.once) throw error;
      io.err(`warning: ${error.message}; retrying in ${String(intervalS)} s\n`);
    }
    if (outcome === EXIT.violations || values.once) return outcome ?? EXIT.ok;
    await new Promise((resolve) => setTimeout(resolve, intervalS * 1000));
  }
}

/** The longest --interval: 24 days, below the 2^31 − 1 ms a timer can wait. */
const INTERVAL_MAX_S = 2_073_600;

/** What a witness keeps between polls: its files, the key it pinned and the last head it accepted (read from the files once). */
interface Watch {
  /** The record store whose log is watched; undefined for the broker's own. */
  readonly store: string | undefined;
  readonly keyFile: string;
  readonly headsFile: string;
  readonly alarmsFile: string;
  pinned: LogPublicKey | undefined;
  last: SignedTreeHead | undefined;
  /** The first alarm kept in alarmsFile, in words, if any. */
  readonly alarm: string | undefined;
}

async function openWatch(state: string, store: string | undefined): Promise<Watch> {
  const keyFile = join(state, 'log-key.json');
  const headsFile = join(state, 'heads.jsonl');
  const alarmsFile = join(state, 'alarms.jsonl');
  const jwk = readKept(keyFile, (text) => JSON.parse(text) as unknown);
  let pinned: LogPublicKey | undefined;
  if (jwk !== undefined) {
    const key = await logKeyFromJson(jwk);
    if (!key.ok) throw notKept(keyFile, key.reason);
    pinned = key.key;
  }
  const last = readKept(headsFile, lastHead);
  if (last !== undefined) {
    // A kept head is judged against as the log's word: one edited or truncated since would raise a false alarm against the broker.
    if (pinned === undefined) throw notKept(headsFile, `it holds heads, but the log key they were checked with, ${keyFile}, is missing`);
    const signed = verifyTreeHead(last, pinned.publicKey, pinned.keyId);
    if (!signed.ok) throw notKept(headsFile, `its last head is not the log's under the pinned key: ${signed.reason}`);
    if (last.log !== store) throw notKept(headsFile, `its heads are of ${describeLog(last.log)}, and --store asks for ${describeLog(store)}`);
  }
  return { store, keyFile, headsFile, alarmsFile, pinned, last, alarm: readKept(alarmsFile, firstAlarm) };
}

/** What the witness kept in `file`, read by `read`; USAGE naming the file when it is not what a witness writes. */
function readKept<T>(file: string, read: (text: string) => T): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return read(readFileSync(file, 'utf8'));
  } catch (error) {
    throw notKept(file, error instanceof Error ? error.message : String(error));
  }
}

/** USAGE: `file` of the state directory is not what a witness writes, and why. */
function notKept(file: string, why: string): GeobridgeError {
  return new GeobridgeError('USAGE', `audit witness: ${file} is not what a witness keeps (${why}): restore it from a copy, or start a new --state directory (the heads in it are your evidence: keep the file).`);
}

/** One poll: exit code when it ends the watch (a violation), undefined to go on. */
async function poll(broker: URL, watch: Watch, io: Io, once: boolean): Promise<number | undefined> {
  const alarm = (kind: string, reason: string, shown: Readonly<Record<string, unknown>>): number => {
    const kept = Object.fromEntries(Object.entries(shown).map(([name, value]) => [name, keepable(value)]));
    appendFileSync(watch.alarmsFile, `${JSON.stringify({ at: new Date().toISOString(), kind, reason, broker: broker.href, ...kept, lastKept: watch.last ?? null })}\n`);
    io.out(`ALARM (${kind}): ${reason}. What the broker showed is kept in ${watch.alarmsFile}; keep it and ${watch.headsFile} as evidence.\n`);
    return EXIT.violations;
  };
  const servedKey = await getJson(broker, '/v1/log/key');
  const key = await logKeyFromJson(servedKey);
  if (!key.ok) return alarm('not a log key', `The broker's answer to GET /v1/log/key is not a log key: ${key.reason}`, { key: servedKey });
  const served = key.key;
  if (watch.pinned === undefined) {
    // The key itself is pinned, not whatever else the answer held.
    writeFileSync(watch.keyFile, `${JSON.stringify(logPublicJwk(served))}\n`);
    watch.pinned = served;
    io.out(`pinned log key ${served.keyId} (${watch.keyFile})\n`);
  }
  const pinned = watch.pinned;
  if (pinned.keyId !== served.keyId) return alarm('changed key', `the broker now publishes log key ${served.keyId}, not the pinned ${pinned.keyId}: heads signed with it prove nothing about the log you watched`, { key: servedKey });
  const last = watch.last;
  const store = watch.store === undefined ? '' : `store=${encodeURIComponent(watch.store)}`;
  const body = await getJson(broker, `/v1/log/sth${store === '' ? '' : `?${store}`}`);
  const next = answerOrWhy(TreeHeadAnswer, body, 'GET /v1/log/sth');
  if (!next.ok) return alarm('not a tree head', next.reason, { answer: body });
  const head = signedTreeHead(next.value);
  if (head.log !== watch.store) return alarm('wrong log', `asked for ${describeLog(watch.store)}, the broker answered with a head of ${describeLog(head.log)}`, { head });
  // A head the pinned key did not sign, or signed in the future, is an alarm whatever the log proves: judged before the proof is asked for, which the broker may refuse.
  const alone = judgeTreeHead(undefined, head, undefined, pinned, Date.now());
  if (alone.kind === 'bad-signature' || alone.kind === 'time') return alarm(alone.kind, alone.reason, { head });
  const needed = proofNeeded(last, head);
  let proof: readonly string[] | undefined;
  let proofBody: unknown;
  if (needed !== undefined) {
    proofBody = await getJson(broker, `/v1/log/consistency?from=${String(needed.from)}&to=${String(needed.to)}${store === '' ? '' : `&${store}`}`);
    const parsed = answerOrWhy(ConsistencyProofAnswer, proofBody, 'GET /v1/log/consistency');
    proof = parsed.ok ? parsed.value.proof : undefined;
  }
  const verdict = judgeTreeHead(last, head, proof, pinned, Date.now());
  // Shown only for a head the verdict let pass, whose time the schema bounds to what a Date holds.
  const at = (): string => new Date(head.timestamp).toISOString();
  switch (verdict.kind) {
    case 'first':
    case 'grew':
      appendFileSync(watch.headsFile, `${JSON.stringify(head)}\n`);
      watch.last = head;
      io.out(`${at()}: ${records(head.size)}${last ? ` (+${formatCount(head.size - last.size)}), consistent with the ${formatCount(last.size)} seen before` : ', first head kept'}\n`);
      return undefined;
    case 'same':
      // Watching, an unchanged log is not news; asked once, it is the answer.
      if (once) io.out(`${at()}: ${records(head.size)}, the head seen before\n`);
      return undefined;
    case 'stale':
      io.out(`${at()}: ${records(head.size)}, an older head than the ${formatCount(last?.size ?? 0)} kept (served late, as by another broker of the log); the log proves it a prefix of that one\n`);
      return undefined;
    default:
      return alarm(verdict.kind, verdict.reason, { head, ...(needed === undefined ? {} : { proofAsked: needed, proof: proofBody ?? null }) });
  }
}

function records(n: number): string {
  return `${formatCount(n)} record${n === 1 ? '' : 's'}`;
}

/** `value` as the alarm keeps it: JSON.stringify overflows the stack on JSON nested some thousands deep, which a broker may send. */
function keepable(value: unknown): unknown {
  try {
    JSON.stringify(value);
    return value;
  } catch {
    return { notKept: 'nested too deep to write back as JSON' };
  }
}

/** The first alarm of an alarms.jsonl text, in words, if any. */
function firstAlarm(text: string): string | undefined {
  const line = text.split('\n').find((l) => l.trim() !== '');
  if (line === undefined) return undefined;
  const kept = JSON.parse(line) as { at?: unknown; kind?: unknown; reason?: unknown } | null;
  if (typeof kept !== 'object' || kept === null || typeof kept.kind !== 'string' || typeof kept.at !== 'string' || typeof kept.reason !== 'string') throw new Error('its first line is not an alarm: an object with kind, at and reason');
  return `${kept.kind} at ${kept.at}: ${kept.reason}`;
}

/** The last head of a heads.jsonl text, if any. */
function lastHead(text: string): SignedTreeHead | undefined {
  const line = text.trim().split('\n').filter((l) => l !== '').at(-1);
  if (line === undefined) return undefined;
  const value = JSON.parse(line) as unknown;
  if (!Value.Check(TreeHeadAnswer, value)) {
    const first = Value.Errors(TreeHeadAnswer, value)[0];
    throw new Error(`its last line is not a signed tree head${first === undefined ? '' : `: ${first.instancePath === '' ? 'the line' : `field '${first.instancePath.slice(1)}'`} ${first.message}`}`);
  }
  return signedTreeHead(value);
}
