// What `audit witness`, `audit verify --sth` and `receipt verify` do with a hostile broker's answers (any JSON, any
// status, a real signed head with its fields changed, proofs of the wrong length or type, JSON nested 20,000 deep) and
// with state and --sth files edited or cut short, fuzzed (fast-check) through main() against a fake broker on
// 127.0.0.1: an alarm kept as evidence, a USAGE error naming the file, or "not verified" — never an internal error
// (exit 70). Each defect the fuzzing found has its own case below.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leafEntry } from '../src/broker/audit/audit-log.js';
import { SqliteAuditLog } from '../src/broker/audit/sqlite-audit-log.js';
import { signInclusionPromise, signTreeHead, TreeHeadSigner, verifyTreeHead, type SignedTreeHead } from '../src/broker/audit/tree-heads.js';
import { ephemeralLogKey, loadLogKey, logPublicJwk } from '../src/broker/log-key.js';
import { TIME_MAX_MS } from '../src/core/time.js';
import { MerkleTree } from '../src/translog/index.js';
import { encodeCbor } from '../src/protocol/cbor.js';
import { ROUTE_TICKET_TYPE } from '../src/protocol/route-ticket.js';
import { runCli as run, type CliRun } from './run-cli.fixture.js';

const base = mkdtempSync(join(tmpdir(), 'geobridge-witness-inputs-'));
const key = await ephemeralLogKey();
const otherKey = await ephemeralLogKey();
/** The witness's clock, near enough: heads below are signed relative to it. */
const NOW = Date.now();
/** Stands for JSON nested 20,000 deep, which JSON.parse reads and JSON.stringify (and String) cannot write back. */
const DEEP = '__deep__';
const DEEP_TEXT = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
const SIGNED_FIELDS = ['size', 'rootHash', 'timestamp', 'keyId', 'signature', 'log'] as const;

/** Record i's chain hash (hex); the log's leaf i is its entry, so a receipt for record 1 can be proven in it. */
const recordHash = (i: number, prefix = 'r'): string => createHash('sha256').update(`${prefix}${String(i)}`).digest('hex');
/** A log of 10 records; 'x' changes record 2 (a fork of 'r'). */
function tree(prefix: string): MerkleTree {
  const t = new MerkleTree();
  for (let i = 0; i < 10; i++) t.append(leafEntry(recordHash(i, i === 1 ? prefix : 'r')));
  return t;
}
const honest = tree('r');
const forked = tree('x');
const base64 = (hashes: readonly Uint8Array[]): string[] => hashes.map((h) => Buffer.from(h).toString('base64'));

/** JSON text of `value`, with each DEEP string replaced by JSON nested 20,000 deep. */
function jsonText(value: unknown): string {
  return JSON.stringify(value).replaceAll(`"${DEEP}"`, DEEP_TEXT);
}

/** An answer of the fake broker: its status (200 unless given) and body. */
interface Answer {
  readonly status?: number;
  readonly text: string;
}
/** What the fake broker serves at each endpoint; unset: the honest answer (the log's key, `head`, and honest proofs). */
const served: { key?: Answer; sth?: Answer; consistency?: ProofRecipe; proof?: Answer; jwks?: Answer | 'stall' } = {};
/** The honest head served at /v1/log/sth. */
let head: SignedTreeHead;
/** A consistency answer: whole, or the honest proof edited. */
type ProofRecipe = { readonly answer: Answer } | { readonly edit: 'drop-first' | 'drop-last' | 'add' | 'replace'; readonly value: unknown };

let server: Server;
let url: string;

function answerConsistency(u: URL): Answer {
  const [from, to] = [Number(u.searchParams.get('from')), Number(u.searchParams.get('to'))];
  const recipe = served.consistency;
  if (recipe !== undefined && 'answer' in recipe) return recipe.answer;
  // A size the log does not have is refused, as a broker does.
  let proof: unknown[];
  try {
    proof = base64(honest.consistencyProof(from, to));
  } catch {
    return { status: 400, text: '{"code":"INVALID_PROOF_REQUEST"}' };
  }
  if (recipe?.edit === 'drop-first') proof = proof.slice(1);
  if (recipe?.edit === 'drop-last') proof = proof.slice(0, -1);
  if (recipe?.edit === 'add') proof = [...proof, recipe.value];
  if (recipe?.edit === 'replace') proof = [recipe.value, ...proof.slice(1)];
  return { text: jsonText({ from, to, proof }) };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const answer = ((): Answer => {
      if (u.pathname === '/v1/log/key') return served.key ?? { text: JSON.stringify(logPublicJwk(key)) };
      if (u.pathname === '/v1/log/sth') return served.sth ?? { text: JSON.stringify(head) };
      if (u.pathname === '/v1/log/consistency') return answerConsistency(u);
      if (u.pathname === '/.well-known/jwks.json' && served.jwks !== undefined) return served.jwks === 'stall' ? { status: 0, text: '' } : served.jwks;
      if (u.pathname === '/v1/log/proof') {
        if (served.proof) return served.proof;
        const [index, size] = [Number(u.searchParams.get('index')), Number(u.searchParams.get('size'))];
        try {
          return { text: JSON.stringify({ index, size, recordHash: recordHash(index), proof: base64(honest.inclusionProof(index, size)) }) };
        } catch {
          return { status: 400, text: '{}' };
        }
      }
      return { status: 404, text: '{}' };
    })();
    res.statusCode = answer.status === 0 ? 200 : (answer.status ?? 200);
    res.setHeader('content-type', 'application/json');
    // Status 0: the headers go, then the body stalls for good.
    if (answer.status === 0) res.flushHeaders();
    else res.end(answer.text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${String((server.address() as { port: number }).port)}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
  rmSync(base, { recursive: true, force: true });
});

function serveHonestly(): void {
  for (const k of Object.keys(served)) Reflect.deleteProperty(served, k);
  head = signTreeHead(key, honest.head(5), NOW - 60_000);
}

let dirs = 0;
const fresh = (name: string): string => join(base, `${name}-${String(++dirs)}`);

/** A witness state directory that pinned the key and kept the honest head of 5 records (signed a minute ago), made once and copied. */
let template: string | undefined;
async function keptAt5(): Promise<string> {
  if (template === undefined) {
    template = fresh('template');
    serveHonestly();
    const r = await run('audit', 'witness', '--broker', url, '--state', template, '--once');
    expect(r.code, r.err).toBe(0);
  }
  const state = fresh('state');
  cpSync(template, state, { recursive: true });
  return state;
}

const witness = (state: string, ...more: string[]): Promise<CliRun> => run('audit', 'witness', '--broker', url, '--state', state, '--once', ...more);

/** Never an internal error: no exit 70, and nothing but a coded error on stderr. */
function noCrash(r: CliRun, label: string): void {
  expect(r.code, `${label}\n${r.err}`).not.toBe(70);
  expect(r.err, label).not.toContain('internal error');
  expect([0, 1, 2], label).toContain(r.code);
  if (r.err !== '') expect(r.err, label).toMatch(/^(?:warning: .*\n)*error [A-Z_]+: /);
}

/** The one alarm kept in `state`, as JSON. */
function keptAlarm(state: string): { kind: string; reason: string; lastKept: { size: number } | null } & Record<string, unknown> {
  const lines = readFileSync(join(state, 'alarms.jsonl'), 'utf8').trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? '') as { kind: string; reason: string; lastKept: { size: number } | null };
}

/** The head kept last in `state`: signed by the log key, and nothing but what the signature covers. */
function lastKeptIsSigned(state: string): SignedTreeHead {
  const last = JSON.parse(readFileSync(join(state, 'heads.jsonl'), 'utf8').trim().split('\n').at(-1) ?? '') as SignedTreeHead;
  expect(verifyTreeHead(last, key.publicKey, key.keyId).ok).toBe(true);
  expect(Object.keys(last).filter((k) => !(SIGNED_FIELDS as readonly string[]).includes(k))).toEqual([]);
  return last;
}

// ---- arbitraries -------------------------------------------------------------------------------------------------

/** Values no field of a head or proof should hold, and some it may. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(1e300, 2 ** 53, Number.MAX_SAFE_INTEGER, 9e15, TIME_MAX_MS + 1, TIME_MAX_MS, -1, 0.5, 5, '5', '', 'AAAA', '!!', null, true, [], {}, DEEP, [DEEP], { a: DEEP }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 60 }),
  fc.jsonValue({ maxDepth: 2 }),
);

type Edit = { readonly kind: 'none' } | { readonly kind: 'set'; readonly field: string; readonly value: unknown } | { readonly kind: 'delete'; readonly field: string } | { readonly kind: 'extra'; readonly name: string; readonly value: unknown };
const editArb: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Edit>({ kind: 'none' }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), field: fc.constantFrom(...SIGNED_FIELDS), value: hostile }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), field: fc.constantFrom(...SIGNED_FIELDS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('extra' as const), name: fc.constantFrom('extra', '__proto__', 'constructor', 'toString'), value: hostile }) },
);

/** A head signed by the log key (or another), of the honest or a forked log, at a time near NOW or at an edge, then edited. */
interface HeadRecipe {
  readonly fork: boolean;
  readonly other: boolean;
  readonly size: number;
  readonly at: number;
  readonly edit: Edit;
}
const headArb: fc.Arbitrary<HeadRecipe> = fc.record({
  fork: fc.boolean(),
  other: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  size: fc.integer({ min: 0, max: 10 }),
  at: fc.oneof(fc.integer({ min: -120_000, max: 60_000 }).map((d) => NOW + d), fc.constantFrom(0, TIME_MAX_MS, TIME_MAX_MS + 1, 9e15, Number.MAX_SAFE_INTEGER)),
  edit: editArb,
});

function headOf(r: HeadRecipe): Record<string, unknown> {
  const signed: Record<string, unknown> = { ...signTreeHead(r.other ? otherKey : key, (r.fork ? forked : honest).head(r.size), r.at) };
  const e = r.edit;
  if (e.kind === 'set') signed[e.field] = e.value;
  if (e.kind === 'delete') Reflect.deleteProperty(signed, e.field);
  // defineProperty: '__proto__' becomes a key of the JSON, as a broker may send it.
  if (e.kind === 'extra') Object.defineProperty(signed, e.name, { value: e.value, enumerable: true, configurable: true, writable: true });
  return signed;
}

/** An answer: JSON of a value, or a status and text no honest broker sends. */
const answerArb = (value: fc.Arbitrary<unknown>): fc.Arbitrary<Answer> =>
  fc.oneof(
    { weight: 10, arbitrary: value.map((v) => ({ text: jsonText(v) })) },
    { weight: 1, arbitrary: fc.constantFrom<Answer>({ status: 500, text: '{}' }, { status: 404, text: 'not found' }, { text: '<html></html>' }, { text: '' }, { text: '{"size": 5' }, { status: 302, text: '' }) },
  );

const sthArb: fc.Arbitrary<Answer> = answerArb(fc.oneof({ weight: 1, arbitrary: fc.jsonValue() }, { weight: 1, arbitrary: hostile }, { weight: 6, arbitrary: headArb.map(headOf) }));

const proofArb: fc.Arbitrary<ProofRecipe | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: answerArb(fc.oneof(fc.jsonValue(), fc.record({ from: hostile, to: hostile, proof: hostile }), fc.record({ from: fc.nat(12), to: fc.nat(12), proof: fc.array(hostile, { maxLength: 12 }) }))).map((answer) => ({ answer })) },
  { weight: 2, arbitrary: fc.record({ edit: fc.constantFrom('drop-first' as const, 'drop-last' as const, 'add' as const, 'replace' as const), value: fc.oneof(hostile, fc.constant(Buffer.alloc(32, 7).toString('base64'))) }) },
);

const jwk = logPublicJwk(key);
const keyArb: fc.Arbitrary<Answer | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: answerArb(fc.jsonValue()) },
  { weight: 1, arbitrary: answerArb(fc.oneof(hostile, fc.string()).map((x) => ({ ...jwk, x }))) },
  { weight: 1, arbitrary: answerArb(hostile.map((kid) => ({ ...jwk, kid }))) },
  { weight: 1, arbitrary: answerArb(fc.constantFrom<unknown>(logPublicJwk(otherKey), { ...jwk, extra: DEEP }, { ...jwk, kid: undefined, x: jwk.x.slice(0, -1) })) },
);

// ---- audit witness: the broker's answers -------------------------------------------------------------------------

describe('audit witness, shown anything', () => {
  it('ends each poll with the head kept, an alarm kept as evidence, or BROKER_UNREACHABLE; never an internal error', async () => {
    await fc.assert(
      fc.asyncProperty(keyArb, sthArb, proofArb, async (keyAnswer, sth, consistency) => {
        const state = await keptAt5();
        serveHonestly();
        Object.assign(served, { key: keyAnswer, sth, consistency });
        const r = await witness(state);
        const label = JSON.stringify({ keyAnswer, sth, consistency }).slice(0, 600);
        noCrash(r, label);
        if (r.code === 2) expect(r.err, label).toMatch(/^error BROKER_UNREACHABLE: /);
        if (r.code === 1) {
          expect(r.out, label).toMatch(/^ALARM \([a-z -]+\): /);
          const alarm = keptAlarm(state);
          expect(alarm.lastKept?.size, label).toBe(5);
          // The witness reads its own alarm back, and does not go on past it.
          const again = await witness(state);
          expect([again.code, again.out], label).toEqual([1, expect.stringMatching(/^ALARM kept from before: /) as unknown]);
        } else expect(existsSync(join(state, 'alarms.jsonl')), label).toBe(false);
        if (r.code === 0) lastKeptIsSigned(state);
      }),
      { numRuns: 150 },
    );
  });

  it('keeps as evidence a head signed past the last instant a Date holds (was: exit 70, Invalid time value)', async () => {
    for (const [label, answer] of [
      ['signed at 9e15', signTreeHead(key, honest.head(8), 9e15)],
      ['signed at 2^53 − 1', signTreeHead(key, honest.head(8), Number.MAX_SAFE_INTEGER)],
      ['timestamp changed to 9e15', { ...signTreeHead(key, honest.head(8), NOW), timestamp: 9e15 }],
    ] as const) {
      const state = await keptAt5();
      serveHonestly();
      served.sth = { text: JSON.stringify(answer) };
      const r = await witness(state);
      expect([r.code, r.err], label).toEqual([1, '']);
      expect(keptAlarm(state), label).toMatchObject({ kind: 'not a tree head', answer, lastKept: { size: 5 } });
    }
    // At the limit the time is shown: an alarm for a head signed in the future.
    const state = await keptAt5();
    served.sth = { text: JSON.stringify(signTreeHead(key, honest.head(8), TIME_MAX_MS)) };
    expect((await witness(state)).code).toBe(1);
    expect(keptAlarm(state)).toMatchObject({ kind: 'time', reason: expect.stringContaining('+275760-09-13T00:00:00.000Z') as unknown });
  });

  it('calls a log key that node:crypto refuses an alarm, and pins only the key itself (was: exit 70)', async () => {
    for (const x of ['abc', '', `${jwk.x.slice(0, -1)}B`, `${jwk.x}A`]) {
      const state = await keptAt5();
      serveHonestly();
      served.key = { text: JSON.stringify({ ...jwk, x }) };
      const r = await witness(state);
      expect([r.code, r.err], x).toEqual([1, '']);
      expect(keptAlarm(state), x).toMatchObject({ kind: 'not a log key', key: { x } });
    }
    // A key answer with more in it than the key: the first run pins the key alone.
    serveHonestly();
    served.key = { text: jsonText({ ...jwk, note: DEEP }) };
    const state = fresh('first');
    expect((await witness(state)).code).toBe(0);
    expect(JSON.parse(readFileSync(join(state, 'log-key.json'), 'utf8'))).toEqual(jwk);
  });

  it('keeps answers nested too deep to write back, and heads with keys beyond the signed ones (was: exit 70, Maximum call stack size exceeded)', async () => {
    let state = await keptAt5();
    serveHonestly();
    served.sth = { text: DEEP_TEXT };
    expect((await witness(state)).code).toBe(1);
    expect(keptAlarm(state)).toMatchObject({ kind: 'not a tree head', answer: { notKept: expect.any(String) as unknown } });
    state = await keptAt5();
    served.sth = { text: jsonText({ ...signTreeHead(key, honest.head(8), NOW), note: DEEP }) };
    const grew = await witness(state);
    expect([grew.code, grew.err]).toEqual([0, '']);
    expect(lastKeptIsSigned(state).size).toBe(8);
    state = await keptAt5();
    served.sth = { text: jsonText(signTreeHead(key, forked.head(8), NOW)) };
    served.consistency = { answer: { text: jsonText({ from: 5, to: 8, proof: [DEEP] }) } };
    expect((await witness(state)).code).toBe(1);
    expect(keptAlarm(state)).toMatchObject({ kind: 'unproven', proof: { notKept: expect.any(String) as unknown } });
  });

  it('raises the alarm on a head the log did not sign before asking for a proof, which the broker may refuse (was: exit 2, nothing kept)', async () => {
    const state = await keptAt5();
    serveHonestly();
    served.sth = { text: JSON.stringify({ ...signTreeHead(key, honest.head(8), NOW), size: 9 }) };
    served.consistency = { answer: { status: 500, text: '{}' } };
    const r = await witness(state);
    expect([r.code, r.err]).toEqual([1, '']);
    expect(keptAlarm(state)).toMatchObject({ kind: 'bad-signature', head: { size: 9 } });
  });
});

// ---- audit witness: its own files --------------------------------------------------------------------------------

type StateFile = 'heads.jsonl' | 'alarms.jsonl' | 'log-key.json';
const keptHead = JSON.stringify(signTreeHead(key, honest.head(5), NOW - 60_000));
const lineArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('{}', 'null', '[]', '5', '"x"', '', ' \n', '{"size": 3, "root', DEEP_TEXT, keptHead.slice(0, 40), `${keptHead}\n{"size":`),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  headArb.map((r) => jsonText(headOf(r))),
  fc.record({ kind: hostile, at: hostile, reason: hostile }).map(jsonText),
  fc.oneof(hostile, fc.string()).map((x) => JSON.stringify({ ...jwk, x })),
  fc.constant(JSON.stringify(logPublicJwk(otherKey))),
);

describe('audit witness, on a state directory edited or cut short', () => {
  it('refuses it with USAGE naming the file, or reads it as a witness wrote it; never an internal error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<StateFile>('heads.jsonl', 'alarms.jsonl', 'log-key.json'), fc.boolean(), lineArb, async (name, append, line) => {
        const state = await keptAt5();
        serveHonestly();
        const file = join(state, name);
        writeFileSync(file, append && existsSync(file) ? `${readFileSync(file, 'utf8')}${line}\n` : line);
        const r = await witness(state);
        const label = `${name} ${append ? '+=' : '='} ${line.slice(0, 300)}`;
        noCrash(r, label);
        if (r.code === 2) expect(r.err, label).toMatch(new RegExp(`^error USAGE: audit witness: ${escape(state)}/(?:heads\\.jsonl|alarms\\.jsonl|log-key\\.json) is not what a witness keeps`));
        if (r.code === 1) expect(r.out, label).toMatch(/^ALARM /);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses a heads.jsonl whose last line is not a head the pinned key signed (was: exit 70, or a false alarm against the broker)', async () => {
    for (const [label, line] of [
      ['{}', '{}'],
      ['null', 'null'],
      ['a head signed at 9e15', JSON.stringify(signTreeHead(key, honest.head(5), 9e15))],
      ['a head dated 9e15', JSON.stringify({ ...JSON.parse(keptHead), timestamp: 9e15 })],
      ['a head with its size edited', JSON.stringify({ ...JSON.parse(keptHead), size: 6 })],
      ['a head of another log', JSON.stringify(signTreeHead(key, honest.head(5), NOW - 60_000, 'eu'))],
    ] as const) {
      const state = await keptAt5();
      serveHonestly();
      writeFileSync(join(state, 'heads.jsonl'), `${keptHead}\n${line}\n`);
      const r = await witness(state);
      expect([r.code, r.err], label).toEqual([2, expect.stringMatching(/^error USAGE: /) as unknown]);
      expect(r.err, label).toContain(`${join(state, 'heads.jsonl')} is not what a witness keeps`);
    }
    // Heads without the key they were checked with: the witness does not pin a new one over them.
    const state = await keptAt5();
    rmSync(join(state, 'log-key.json'));
    const r = await witness(state);
    expect([r.code, r.err]).toEqual([2, expect.stringContaining(`${join(state, 'heads.jsonl')} is not what a witness keeps`) as unknown]);
  });

  it('refuses a log-key.json that is not a key, and an alarms.jsonl whose first line is not an alarm, naming the file', async () => {
    for (const [name, text] of [
      ['log-key.json', JSON.stringify({ ...jwk, x: 'abc' })],
      ['log-key.json', '{}'],
      ['log-key.json', jsonText({ ...jwk, kid: [DEEP] })],
      ['alarms.jsonl', '{}\n'],
      ['alarms.jsonl', 'null\n'],
      ['alarms.jsonl', '5\n'],
      ['alarms.jsonl', `${jsonText({ kind: [DEEP], at: 'x', reason: 'y' })}\n`],
    ] as const) {
      const state = await keptAt5();
      serveHonestly();
      writeFileSync(join(state, name), text);
      const r = await witness(state);
      expect([r.code, r.err], `${name}: ${text.slice(0, 80)}`).toEqual([2, expect.stringMatching(/^error USAGE: /) as unknown]);
      expect(r.err).toContain(`${join(state, name)} is not what a witness keeps`);
    }
    // An alarm as the witness writes it still ends the watch.
    const state = await keptAt5();
    writeFileSync(join(state, 'alarms.jsonl'), `${JSON.stringify({ at: '2026-01-01T00:00:00.000Z', kind: 'fork', reason: 'two roots' })}\n`);
    expect(await witness(state)).toMatchObject({ code: 1, out: expect.stringMatching(/^ALARM kept from before: fork at 2026-01-01T00:00:00.000Z: two roots/) as unknown });
  });

  it('refuses an --interval too long for a timer, which would poll in a busy loop', async () => {
    for (const interval of ['2073601', '3e6', '1e10']) expect((await witness(fresh('interval'), '--interval', interval)).err).toMatch(/^error USAGE: audit witness: --interval/);
    serveHonestly();
    expect((await witness(fresh('interval'), '--interval', '2073600')).code).toBe(0);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- audit verify --sth ------------------------------------------------------------------------------------------

describe('audit verify --sth FILE, a file edited', () => {
  let data: string;
  let sth: SignedTreeHead;
  beforeAll(async () => {
    data = fresh('data');
    mkdirSync(data);
    const log = SqliteAuditLog.open(join(data, 'audit.sqlite'));
    for (let i = 0; i < 3; i++) await log.append('route.refusal', { country: 'CN', zone: 'cn', policyVersion: 1, code: 'NO_CAPACITY_IN_FENCE', n: i }, `2024-03-01T09:00:0${String(i)}Z`);
    sth = await new TreeHeadSigner(log, await loadLogKey(data, true)).refresh();
    await log.close();
  });

  const sthFileArb: fc.Arbitrary<string> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ edit: editArb, at: fc.constantFrom(-1, 0, 1e300, 9e15, TIME_MAX_MS + 1) }).map(({ edit, at }) => jsonText(edit.kind === 'none' ? { ...sth, timestamp: at } : applyEdit(sth, edit))) },
    { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.constantFrom('', '{"size": 3', DEEP_TEXT) },
  );

  it('verifies, fails (exit 1), or refuses the file with USAGE naming it; never an internal error', async () => {
    await fc.assert(
      fc.asyncProperty(sthFileArb, async (text) => {
        const file = join(base, `sth-${String(++dirs)}.json`);
        writeFileSync(file, text);
        const r = await run('audit', 'verify', '--data', data, '--sth', file);
        noCrash(r, text.slice(0, 300));
        if (r.code === 2) expect(r.err, text.slice(0, 300)).toMatch(new RegExp(`^error USAGE: --sth ${escape(file)} is not `));
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a head dated past the last instant a Date holds (was: exit 70, Invalid time value)', async () => {
    for (const timestamp of [1e300, 9e15, TIME_MAX_MS + 1]) {
      const file = join(base, `sth-${String(++dirs)}.json`);
      writeFileSync(file, JSON.stringify({ ...sth, timestamp }));
      const r = await run('audit', 'verify', '--data', data, '--sth', file);
      expect([r.code, r.err], String(timestamp)).toEqual([2, expect.stringMatching(new RegExp(`^error USAGE: --sth ${escape(file)} is not a signed tree head`)) as unknown]);
    }
  });
});

function applyEdit(value: object, e: Edit): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  if (e.kind === 'set') out[e.field] = e.value;
  if (e.kind === 'delete') Reflect.deleteProperty(out, e.field);
  if (e.kind === 'extra') Object.defineProperty(out, e.name, { value: e.value, enumerable: true, configurable: true, writable: true });
  return out;
}

// ---- receipt verify ----------------------------------------------------------------------------------------------

describe('receipt verify ANSWER --broker, shown anything', () => {
  const decided = { decisionId: 'd1', manifestSha256: 'ab'.repeat(32), country: 'DE', candidates: [{ datacenter: 'eu-central', jurisdiction: 'DE' }] };
  /** A saved /v1/route answer for record 1, its promise signed `at`; its ticket is no JWT, so a run that gets that far ends there (exit 1). */
  function answerFile(at: number, more: object = {}): string {
    const receipt = { manifestSha256: decided.manifestSha256, ...signInclusionPromise(key, 0, recordHash(0), decided, at) };
    const file = join(base, `answer-${String(++dirs)}.json`);
    writeFileSync(file, jsonText({ ...decided, ticket: 'eyJ.a.b', receipt, ...more }));
    return file;
  }
  const verify = (file: string, ...more: string[]): Promise<CliRun> => run('receipt', 'verify', file, '--broker', url, ...more);

  it('is verified or not (exit 1), or the broker cannot be read (exit 2); never an internal error', async () => {
    const file = answerFile(NOW - 1000);
    // A head of no record waits 3 s for one that covers it: kept out of the fuzzing to keep it fast.
    const covering = headArb.filter((h) => h.size > 0 && !(h.edit.kind === 'set' && h.edit.field === 'size' && typeof h.edit.value === 'number' && h.edit.value < 1));
    const sth = answerArb(fc.oneof({ weight: 1, arbitrary: fc.jsonValue() }, { weight: 4, arbitrary: covering.map(headOf) }));
    const proof = fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: answerArb(fc.oneof(fc.jsonValue(), fc.record({ index: hostile, size: hostile, recordHash: fc.oneof(hostile, fc.constant(recordHash(0))), proof: fc.array(hostile, { maxLength: 6 }) }))) });
    await fc.assert(
      fc.asyncProperty(keyArb, sth, proof, async (keyAnswer, sthAnswer, proofAnswer) => {
        serveHonestly();
        Object.assign(served, { key: keyAnswer, sth: sthAnswer, proof: proofAnswer });
        const r = await verify(file);
        const label = JSON.stringify({ keyAnswer, sthAnswer, proofAnswer }).slice(0, 600);
        noCrash(r, label);
        expect(r.code, label).not.toBe(0);
        if (r.code === 2) expect(r.err, label).toMatch(/^error (?:BROKER_UNREACHABLE|LOG_KEY_UNAVAILABLE): /);
        else expect(r.out, label).toMatch(/^not verified: /);
      }),
      { numRuns: 50 },
    );
  });

  it('refuses a log key node:crypto cannot read with LOG_KEY_UNAVAILABLE (was: exit 70, Invalid JWK data)', async () => {
    const file = answerFile(NOW - 1000);
    for (const x of ['abc', '']) {
      serveHonestly();
      served.key = { text: JSON.stringify({ ...jwk, x }) };
      const r = await verify(file);
      expect([r.code, r.err], x).toEqual([2, expect.stringMatching(/^error LOG_KEY_UNAVAILABLE: the broker's answer to GET \/v1\/log\/key is not a log key/) as unknown]);
    }
    const keyFile = join(base, `key-${String(++dirs)}.json`);
    writeFileSync(keyFile, JSON.stringify({ ...jwk, x: 'abc' }));
    expect((await verify(file, '--log-key', keyFile)).err).toMatch(/^error LOG_KEY_UNAVAILABLE: --log-key \S+: the log key is not an Ed25519 public JWK/);
  });

  it('says a JWKS that is not one, or a ticket issued at no time a date holds, does not vouch for the route; a stalled JWKS is BROKER_UNREACHABLE (were: exit 70)', async () => {
    const jwt = (iat: number): string => [JSON.stringify({ alg: 'EdDSA', kid: 'k1', typ: ROUTE_TICKET_TYPE }), encodeCbor(new Map([[6, iat]])), 'sig'].map((part) => Buffer.from(part).toString('base64url')).join('.');
    serveHonestly();
    for (const text of ['null', '{}', '{"keys":[null]}', '{"keys":"k1"}']) {
      served.jwks = { text };
      const r = await verify(answerFile(NOW - 1000, { ticket: jwt(Math.floor(NOW / 1000)) }));
      expect([r.code, r.out], text).toEqual([1, expect.stringMatching(/^not verified: The broker's answer to GET \/\.well-known\/jwks\.json does not match the protocol: .*so it cannot vouch for the route ticket/) as unknown]);
    }
    served.jwks = { text: '{"keys":[]}' };
    expect((await verify(answerFile(NOW - 1000, { ticket: jwt(9e12) }))).out).toMatch(/^not verified: the route ticket has no issue time/);
    served.jwks = 'stall';
    const stalled = await verify(answerFile(NOW - 1000, { ticket: jwt(Math.floor(NOW / 1000)) }));
    expect([stalled.code, stalled.err]).toEqual([2, expect.stringMatching(/^error BROKER_UNREACHABLE: cannot reach \S+\/\.well-known\/jwks\.json/) as unknown]);
  }, 60_000);

  it('says a head the broker signed past the last instant a Date holds is not the protocol (was: exit 70)', async () => {
    const file = answerFile(NOW - 1000);
    serveHonestly();
    served.sth = { text: JSON.stringify(signTreeHead(key, honest.head(5), 9e15)) };
    const r = await verify(file);
    expect([r.code, r.out]).toEqual([1, expect.stringMatching(/^not verified: The broker's answer to GET \/v1\/log\/sth does not match the protocol: field 'timestamp'/) as unknown]);
  });

  it('refuses, naming the file, an answer promised past the last instant a Date holds or nested past any answer, and such an --sth (was: exit 70)', async () => {
    serveHonestly();
    head = signTreeHead(key, honest.head(0), NOW);
    for (const file of [answerFile(9e15), answerFile(Number.MAX_SAFE_INTEGER), answerFile(NOW - 1000, { candidates: [{ datacenter: DEEP, jurisdiction: 'DE' }] }), answerFile(NOW - 1000, { country: DEEP })]) {
      const r = await verify(file);
      expect([r.code, r.err]).toEqual([2, expect.stringMatching(new RegExp(`^error USAGE: ${escape(file)} `)) as unknown]);
    }
    const kept = join(base, `sth-${String(++dirs)}.json`);
    writeFileSync(kept, JSON.stringify(signTreeHead(key, honest.head(1), 9e15)));
    expect((await verify(answerFile(NOW - 1000), '--sth', kept)).err).toMatch(new RegExp(`^error USAGE: --sth ${escape(kept)} is not a signed tree head`));
  });
});
