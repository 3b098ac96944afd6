// `geobridge audit verify|prove|witness|report` and `receipt verify` through main(): exit codes, output, files.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../src/broker/audit/audit-log.js';
import { SqliteAuditLog } from '../src/broker/audit/sqlite-audit-log.js';
import { signInclusionPromise, TreeHeadSigner, type LogKey, type SignedTreeHead } from '../src/broker/audit/tree-heads.js';
import { ephemeralLogKey, loadLogKey, logKeyPath, logPublicJwk } from '../src/broker/log-key.js';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { startCluster, WORLD } from '../src/bridge/cluster.fixture.js';
import { joinCall, until, type Caller } from '../src/bridge/participant.fixture.js';
import { hopsOf } from '../src/broker/cascade.js';
import { encryptingMembers } from '../src/broker/group-delivery.js';
import { runCli as run } from './run-cli.fixture.js';
import { rewriteLog } from './rewrite-log.fixture.js';

const root = join(import.meta.dirname, '..');
const base = mkdtempSync(join(tmpdir(), 'geobridge-audit-cli-'));
let dirs = 0;

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

/** A data directory with a small audit log: two days of admissions, a decision, a refusal. */
async function dataDir(): Promise<string> {
  const dir = join(base, `data-${++dirs}`);
  mkdirSync(dir);
  const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'));
  const admit = (participant: string, country: string, jurisdiction: string, role: string, at: string): Promise<unknown> =>
    log.append('bridge.admission', { participant, meeting: 'm1', datacenter: `${jurisdiction.toLowerCase()}-1`, jurisdiction, role, country, zone: 'na', outOfZone: jurisdiction === 'CN' }, at);
  await log.append('route.decision', { decisionId: 'd1', participant: 'p1', meeting: 'm1', account: 'a', country: 'US', zone: 'na', policyVersion: 1, candidates: [{ datacenter: 'us-1', role: 'primary', jurisdiction: 'US' }, { datacenter: 'cn-1', role: 'secondary', jurisdiction: 'CN' }] }, '2024-03-01T09:00:00Z');
  await admit('p1', 'US', 'US', 'primary', '2024-03-01T09:00:01Z');
  await admit('p2', 'US', 'CN', 'secondary', '2024-03-01T10:00:00Z');
  await admit('p3', 'CA', 'US', 'primary', '2024-03-02T10:00:00Z');
  await log.append('route.refusal', { country: 'CN', zone: 'cn', policyVersion: 1, code: 'NO_CAPACITY_IN_FENCE' }, '2024-03-02T11:00:00Z');
  await log.close();
  return dir;
}

describe('geobridge audit verify', () => {
  it('reports an intact chain with its head and Merkle root (exit 0)', async () => {
    const r = await run('audit', 'verify', '--data', await dataDir());
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^chain intact: 5 records of the broker's own log\nhead: record 5, 2024-03-02T11:00:00\.000Z, hash [0-9a-f]{64}\nMerkle tree: 5 leaves, root [A-Za-z0-9+/]{43}=, as the records give it\nKeep a signed tree head/);
  });

  it('prints JSON', async () => {
    const r = await run('audit', 'verify', '--json', '--data', await dataDir());
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, count: 5, head: { seq: 5 } });
  });

  it('finds a record altered in the file (exit 1)', async () => {
    const dir = await dataDir();
    const db = new Database(join(dir, 'audit.sqlite'));
    db.prepare("UPDATE audit_log SET data = json_set(data, '$.jurisdiction', 'US') WHERE seq = 3").run();
    db.close();
    const r = await run('audit', 'verify', '--data', dir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^chain broken at record 3: hash does not match/);
    const json = await run('audit', 'verify', '--data', dir, '--json');
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, seq: 3 });
  });

  it('finds a deleted record (exit 1) and unparsable data (exit 1, AUDIT_CORRUPT)', async () => {
    const dir = await dataDir();
    const db = new Database(join(dir, 'audit.sqlite'));
    db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
    expect((await run('audit', 'verify', '--data', dir)).out).toMatch(/^chain broken at record 3: expected record 2/);
    db.pragma('ignore_check_constraints = ON');
    db.prepare("UPDATE audit_log SET data = '{' WHERE seq = 4").run();
    db.close();
    const r = await run('audit', 'verify', '--data', dir, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, code: 'AUDIT_CORRUPT' });
  });

  it('refuses data that reads as the record hashed but is not its canonical text (exit 1, AUDIT_CORRUPT), which SQL would read otherwise', async () => {
    // Record 3 admits p2 in CN. A key given twice reads, to JSON.parse, as the last value; to SQLite's json_extract, as the first.
    for (const [seq, edit] of [
      [3, (data: string) => data.replace('{', '{"datacenter":"us-1","jurisdiction":"US",')],
      [3, (data: string) => data.replace('"role":"secondary"', '"role" : "secondary"')],
      [5, (data: string) => data.replace('"policyVersion":1', '"policyVersion":1e0')],
    ] as const) {
      const dir = await dataDir();
      const db = new Database(join(dir, 'audit.sqlite'));
      const row = db.prepare('SELECT data FROM audit_log WHERE seq = ?').get(seq) as { data: string };
      db.prepare('UPDATE audit_log SET data = ? WHERE seq = ?').run(edit(row.data), seq);
      db.close();
      const r = await run('audit', 'verify', '--data', dir, '--json');
      expect(r.code, r.out).toBe(1);
      expect(JSON.parse(r.out)).toMatchObject({ ok: false, code: 'AUDIT_CORRUPT', reason: expect.stringContaining(`record ${String(seq)} `) as unknown });
    }
  });

  it('exits 2 with AUDIT_UNAVAILABLE when the data directory or log is missing', async () => {
    const missing = join(base, 'nope');
    const r = await run('audit', 'verify', '--data', missing);
    expect(r.code).toBe(2);
    expect(r.err).toContain('AUDIT_UNAVAILABLE');
    expect(r.err).toContain(join(missing, 'audit.sqlite'));
    const empty = join(base, 'empty');
    mkdirSync(empty, { recursive: true });
    expect((await run('audit', 'report', '--data', empty, '--from', '2024-03-01', '--to', '2024-03-02')).code).toBe(2);
  });
});

describe('geobridge audit verify, transparency log', () => {
  /** A broker's data directory: the log, its key, and a signed tree head kept in the log and returned (as GET /v1/log/sth serves it). */
  async function signedDataDir(): Promise<{ dir: string; sth: SignedTreeHead; sthFile: string }> {
    const dir = await dataDir();
    const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'));
    const sth = await new TreeHeadSigner(log, await loadLogKey(dir, true)).refresh();
    await log.close();
    const sthFile = join(dir, '..', `sth-${String(++dirs)}.json`);
    writeFileSync(sthFile, JSON.stringify(sth));
    return { dir, sth, sthFile };
  }

  const rewrite = rewriteLog;

  it('checks the tree and every signed head, and a head kept outside (exit 0)', async () => {
    const { dir, sth, sthFile } = await signedDataDir();
    const r = await run('audit', 'verify', '--data', dir, '--sth', sthFile);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('Merkle tree: 5 leaves');
    expect(r.out).toContain(`signed tree heads: 1 kept, each signed by log key ${sth.keyId}`);
    expect(r.out).toContain(`your tree head (5 records, signed ${new Date(sth.timestamp).toISOString()}): the log still holds exactly those records`);
    const json = JSON.parse((await run('audit', 'verify', '--data', dir, '--sth', sthFile, '--json')).out) as Record<string, unknown>;
    expect(json).toMatchObject({ ok: true, count: 5, headsChecked: 1, pinned: [{ size: 5 }], keyId: sth.keyId, rootHash: sth.rootHash });
  });

  it('catches a history rewritten with every hash, the tree and the heads redone, against a head kept outside (exit 1)', async () => {
    const { dir, sthFile } = await signedDataDir();
    // The secondary admission into CN disappears; the rest is renumbered and re-hashed.
    await rewrite(dir, (r) => r.data.jurisdiction !== 'CN');
    const alone = await run('audit', 'verify', '--data', dir);
    expect(alone.code).toBe(0);
    expect(alone.out).toMatch(/^chain intact: 4 records/);
    const r = await run('audit', 'verify', '--data', dir, '--sth', sthFile);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^log altered: the tree head you kept \(5 records, signed [^)]+\): the log now holds only 4 records: its tail was cut\n$/);
  });

  it('catches a rewrite that keeps the count, and a cut tail (exit 1)', async () => {
    const { dir, sthFile } = await signedDataDir();
    const file = join(dir, 'audit.sqlite');
    const log = SqliteAuditLog.open(file);
    await log.append('admin.action', { later: true }, '2024-03-03T00:00:00Z');
    await log.close();
    // Record 2 edited, everything after it re-hashed: as many records as the kept head signed, and more.
    await rewrite(dir, () => true);
    const db = new Database(file);
    db.exec('DROP TABLE translog_node; DROP TABLE translog_head;');
    db.pragma('user_version = 1');
    const rows = db.prepare<[], { seq: number; at: string; type: string; data: string }>('SELECT seq, at, type, data FROM audit_log ORDER BY seq').all();
    db.exec('DELETE FROM audit_log');
    db.close();
    const rebuilt = SqliteAuditLog.open(file);
    for (const row of rows) {
      const data = JSON.parse(row.data) as Record<string, unknown>;
      await rebuilt.append(row.type as AuditRecord['type'], row.seq === 2 ? { ...data, jurisdiction: 'DE' } : data, row.at);
    }
    await new TreeHeadSigner(rebuilt, await loadLogKey(dir, false)).refresh();
    await rebuilt.close();
    const r = await run('audit', 'verify', '--data', dir, '--sth', sthFile, '--sth', sthFile, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, problem: 'pinned', reason: expect.stringContaining('the first 5 records no longer produce the root it signed') as unknown });
    await rewrite(dir, (rec) => rec.seq <= 3);
    expect((await run('audit', 'verify', '--data', dir, '--sth', sthFile)).out).toContain('its tail was cut');
  });

  it('finds a tree edited apart from the records, and heads signed by a key that is not the pinned one', async () => {
    const { dir, sth, sthFile } = await signedDataDir();
    const keyFile = join(dir, '..', `key-${String(++dirs)}.json`);
    writeFileSync(keyFile, JSON.stringify(logPublicJwk(await loadLogKey(dir, false))));
    expect((await run('audit', 'verify', '--data', dir, '--sth', sthFile, '--log-key', keyFile)).code).toBe(0);
    // A new key in the data directory, and the log re-signed with it: the pinned key does not accept it.
    rmSync(logKeyPath(dir));
    await loadLogKey(dir, true);
    await rewrite(dir, () => true);
    const r = await run('audit', 'verify', '--data', dir, '--log-key', keyFile);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`not the log key '${sth.keyId}'`);
    // 16 records make the first stored node (the nodes below level 4 are computed from the records).
    const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'));
    for (let i = 0; i < 11; i++) await log.append('admin.action', { i }, '2024-03-03T00:00:00Z');
    await log.close();
    const db = new Database(join(dir, 'audit.sqlite'));
    expect(db.prepare('DELETE FROM translog_node WHERE level = 4 AND idx = 0').run().changes).toBe(1);
    db.close();
    expect((await run('audit', 'verify', '--data', dir)).out).toMatch(/^log altered: the stored Merkle tree lacks nodes/);
  });

  it('exits 2 when heads are kept but no key is at hand, or the kept head is not a tree head', async () => {
    const { dir, sthFile } = await signedDataDir();
    rmSync(logKeyPath(dir));
    const r = await run('audit', 'verify', '--data', dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain('LOG_KEY_UNAVAILABLE');
    expect(r.err).toContain('--log-key');
    writeFileSync(sthFile, '{"size": 5}');
    const bad = await run('audit', 'verify', '--data', dir, '--sth', sthFile);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('not a signed tree head');
  });
});

describe('geobridge audit prove', () => {
  /** A data directory whose log holds route decisions, and the /v1/route answers (receipts) a client saved for two of them. */
  async function withReceipts(): Promise<{ dir: string; first: string; last: string; key: LogKey }> {
    const dir = await dataDir();
    const key = await loadLogKey(dir, true);
    const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'));
    const answers: string[] = [];
    for (const decisionId of ['d2', 'd3', 'd4']) {
      const record = await log.append('route.decision', { decisionId, participant: 'p9', meeting: 'm1', country: 'DE', candidates: [] }, '2024-03-03T09:00:00Z');
      const receipt = { manifestSha256: 'ab'.repeat(32), ...signInclusionPromise(key, record.seq - 1, record.hash, { decisionId, manifestSha256: 'ab'.repeat(32), country: 'DE', candidates: [] }, Date.parse('2024-03-03T09:00:00Z')) };
      const file = join(dir, '..', `answer-${String(++dirs)}.json`);
      writeFileSync(file, JSON.stringify({ country: 'DE', candidates: [], decisionId, ticket: 'eyJ…', receipt }));
      answers.push(file);
    }
    await log.close();
    return { dir, first: answers[0] ?? '', last: answers[2] ?? '', key };
  }

  it('finds the decision a saved route answer promises (exit 0), also with a tree head kept beside it', async () => {
    const { dir, first, key } = await withReceipts();
    const r = await run('audit', 'prove', first, '--data', dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^in the log: record 6 \(route\.decision d2, 2024-03-03T09:00:00\.000Z\), as promised 2024-03-03T09:00:00\.000Z, under manifest (ab){32}\nMerkle root of the log now: \S+=\n$/);
    const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'));
    const sth = await new TreeHeadSigner(log, key).refresh();
    await log.close();
    writeFileSync(first, JSON.stringify({ ...(JSON.parse(readFileSync(first, 'utf8')) as object), sth }));
    expect(JSON.parse((await run('audit', 'prove', first, '--data', dir, '--json')).out)).toMatchObject({ ok: true, seq: 6, type: 'route.decision' });
  });

  it('catches a log rewritten under the receipt, or cut before it (exit 1)', async () => {
    const { dir, first, last } = await withReceipts();
    await rewriteLog(dir, (r) => r.data.jurisdiction !== 'CN');
    const rewritten = await run('audit', 'prove', first, '--data', dir);
    expect(rewritten.code).toBe(1);
    expect(rewritten.out).toMatch(/^not proven: the log holds a different record 6 than the one promised .*: it was rewritten\n$/);
    const cut = await run('audit', 'prove', last, '--data', dir);
    expect(cut.out).toBe('not proven: the log lacks it: the receipt is for record 8, and the log holds 7\n');
  });

  it("refuses a receipt from another log, one edited, or one for another decision (exit 1)", async () => {
    const { dir, first, key } = await withReceipts();
    const answer = JSON.parse(readFileSync(first, 'utf8')) as { decisionId: string; receipt: { index: number; recordHash: string; signature: string } };
    const other = await ephemeralLogKey();
    const foreign = join(dir, '..', `foreign-${String(++dirs)}.json`);
    const d2 = { decisionId: 'd2', manifestSha256: 'ab'.repeat(32), country: 'DE', candidates: [] };
    writeFileSync(foreign, JSON.stringify({ ...answer, receipt: { ...answer.receipt, ...signInclusionPromise(other, answer.receipt.index, 'cd'.repeat(32), d2, 1) } }));
    expect((await run('audit', 'prove', foreign, '--data', dir)).out).toMatch(/^not proven: the receipt is not this log's promise: signed with key '[^']+', not the log key/);
    writeFileSync(foreign, JSON.stringify({ ...answer, receipt: { ...answer.receipt, index: answer.receipt.index - 1 } }));
    expect((await run('audit', 'prove', foreign, '--data', dir)).out).toContain('the signature does not verify under the log key');
    // The promise names the decision: the same promise given to another decision does not verify…
    writeFileSync(foreign, JSON.stringify({ ...answer, decisionId: 'd9' }));
    expect((await run('audit', 'prove', foreign, '--data', dir)).out).toContain('the signature does not verify under the log key for the decision, manifest, country and candidates the receipt names');
    // …and a log that promised decision d9 at record 6, which holds d2, signed its own lie.
    writeFileSync(foreign, JSON.stringify({ ...answer, decisionId: 'd9', receipt: { ...answer.receipt, ...signInclusionPromise(key, answer.receipt.index, answer.receipt.recordHash, { ...d2, decisionId: 'd9' }, 1) } }));
    const r = await run('audit', 'prove', foreign, '--data', dir);
    expect([r.code, r.out]).toEqual([1, 'not proven: record 6 is not decision d9\n']);
  });

  it('exits 2 on a file that is not a receipt, or no file', async () => {
    const { dir } = await withReceipts();
    const bad = join(dir, '..', `bad-${String(++dirs)}.json`);
    writeFileSync(bad, '{"decisionId": "d2"}');
    expect(await run('audit', 'prove', bad, '--data', dir)).toMatchObject({ code: 2, err: expect.stringContaining('holds no receipt') as unknown });
    writeFileSync(bad, 'not json');
    expect((await run('audit', 'prove', bad, '--data', dir)).code).toBe(2);
    expect((await run('audit', 'prove', '--data', dir)).err).toContain('give one receipt file');
  });
});

/** A broker as `geobridge serve --dev` runs it, on `data`. */
async function serve(data: string): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings({ manifest: join(root, 'examples/world.yaml'), data, dev: true, listen: '127.0.0.1:0' }, {});
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker(settings, false);
}

/** Makes the broker audit one more record (an account), and waits until a signed head covers it. */
async function oneMoreRecord(broker: RunningBroker, data: string): Promise<void> {
  const before = ((await (await fetch(new URL('/v1/log/sth', broker.url))).json()) as SignedTreeHead).size;
  const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  const res = await fetch(new URL('/v1/accounts', broker.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: `Acme ${String(++dirs)}`, homeCountry: 'US' }) });
  expect(res.status).toBe(201);
  for (let i = 0; i < 100; i++) {
    if (((await (await fetch(new URL('/v1/log/sth', broker.url))).json()) as SignedTreeHead).size > before) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no signed tree head covered the new record within 10 s');
}

describe('geobridge audit witness', () => {
  it('keeps every head that extends the last, and catches a rollback, a fork and a new key (exit 1)', async () => {
    const data = join(base, `broker-${String(++dirs)}`);
    const state = join(base, `witness-${String(dirs)}`);
    let broker = await serve(data);
    try {
      const first = await run('audit', 'witness', '--broker', broker.url, '--state', state, '--once');
      expect(first.code, first.err).toBe(0);
      expect(first.out).toMatch(/^pinned log key \S+ .*\n.*: 1 record, first head kept\n$/);
      await oneMoreRecord(broker, data);
      await oneMoreRecord(broker, data);
      const grew = await run('audit', 'witness', '--broker', broker.url, '--state', state, '--once');
      expect(grew.out).toMatch(/: 3 records \(\+2\), consistent with the 1 seen before\n$/);
      expect(readFileSync(join(state, 'heads.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
      // Nothing new: asked once, it says so, and keeps no head twice.
      expect((await run('audit', 'witness', '--broker', broker.url, '--state', state, '--once')).out).toMatch(/^\S+: 3 records, the head seen before\n$/);
      expect(readFileSync(join(state, 'heads.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);

      // Each attack below is shown to a copy of the witness as it stands now: an alarm ends a state directory.
      const copyOfState = (name: string): string => {
        const copy = `${state}-${name}`;
        cpSync(state, copy, { recursive: true });
        return copy;
      };
      const beforeRollback = copyOfState('rollback');
      const beforeRekey = copyOfState('rekey');

      // Fork: record 2 changed, everything re-hashed and re-signed, and one more record so the log is longer.
      await broker.close();
      await rewriteLog(data, () => true, (r) => (r.seq === 2 ? { ...r.data, name: 'Someone else' } : r.data));
      broker = await serve(data);
      await oneMoreRecord(broker, data);
      const fork = await run('audit', 'witness', '--broker', broker.url, '--state', state, '--once');
      expect(fork.code).toBe(1);
      expect(fork.out).toMatch(/^ALARM \(fork\): the tree of 4 records does not extend the one of 3 records seen before/);
      // What it was shown is kept as evidence, and the witness does not go on past it.
      const [alarm, more] = readFileSync(join(state, 'alarms.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; head: { size: number }; proof: { proof: string[] }; lastKept: { size: number } });
      expect(more).toBeUndefined();
      expect(alarm).toMatchObject({ kind: 'fork', head: { size: 4 }, lastKept: { size: 3 } });
      expect(alarm?.proof.proof.length).toBeGreaterThan(0);
      const after = await run('audit', 'witness', '--broker', broker.url, '--state', state, '--once');
      expect([after.code, after.out]).toEqual([1, expect.stringMatching(/^ALARM kept from before: fork at \S+: the tree of 4 records/) as unknown]);

      // Rollback: the last two records cut.
      await broker.close();
      await rewriteLog(data, (r) => r.seq <= 2);
      broker = await serve(data);
      const rollback = await run('audit', 'witness', '--broker', broker.url, '--state', beforeRollback, '--once');
      expect(rollback.out).toMatch(/^ALARM \(rollback\): the log shrank from 3 to 2 records/);

      // A new log key: nothing it signs speaks for the log the witness watched.
      await broker.close();
      rmSync(logKeyPath(data));
      broker = await serve(data);
      const rekeyed = await run('audit', 'witness', '--broker', broker.url, '--state', beforeRekey, '--once');
      expect([rekeyed.code, rekeyed.out]).toEqual([1, expect.stringMatching(/^ALARM \(changed key\): the broker now publishes log key \S+, not the pinned /) as unknown]);
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('exits 2 without --broker or --state, on a bad URL, and when the broker cannot be reached (--once)', async () => {
    expect((await run('audit', 'witness', '--state', base)).err).toContain('give --broker URL and --state DIR');
    expect((await run('audit', 'witness', '--broker', 'nope', '--state', base)).code).toBe(2);
    const r = await run('audit', 'witness', '--broker', 'http://127.0.0.1:9', '--state', join(base, 'w-unreachable'), '--once');
    expect(r.code).toBe(2);
    expect(r.err).toContain('BROKER_UNREACHABLE');
    expect((await run('audit', 'witness', '--help')).out).toContain('rollback');
  });
});

describe('geobridge receipt verify', () => {
  /** POSTs as `geobridge serve`'s clients do; the JSON answer. */
  async function post(broker: RunningBroker, path: string, token: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(new URL(path, broker.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status, path).toBeLessThan(300);
    return (await res.json()) as Record<string, unknown>;
  }

  it('proves a route answer in the broker\'s signed log, says where it went, and catches a log rewritten under it', async () => {
    const data = join(base, `broker-${String(++dirs)}`);
    let broker = await serve(data);
    try {
      const admin = readFileSync(join(data, 'admin-token'), 'utf8').trim();
      const { apiKey } = (await post(broker, '/v1/accounts', admin, { name: 'Acme', homeCountry: 'US' })) as { apiKey: string };
      const { id } = (await post(broker, '/v1/meetings', apiKey, { title: 'Standup' })) as { id: string };
      const { token } = (await post(broker, `/v1/meetings/${id}/join-tokens`, apiKey, { name: 'Ada' })) as { token: string };
      const answer = await post(broker, '/v1/route', token, { country: 'US' });
      const file = join(base, `answer-${String(++dirs)}.json`);
      writeFileSync(file, JSON.stringify(answer));
      const r = await run('receipt', 'verify', file, '--broker', broker.url);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/^record 3 is in the log: the tree head of 3 records signed \S+ holds it \(an inclusion proof of 1 hash, checked here\)\nthe route ticket is the broker's, for decision dec_\S+ under manifest [0-9a-f]{12}…, for US → us-east \(US\), [^\n]+\nthe route: US → us-east \(US\), then .*; decided \S+, decision dec_\S+, under manifest [0-9a-f]{64}\nlog key \S+, fetched from the broker/);
      // Pinned key and a head kept now.
      const keyFile = join(base, `key-${String(++dirs)}.json`);
      writeFileSync(keyFile, await (await fetch(new URL('/v1/log/key', broker.url))).text());
      const sthFile = join(base, `sth-${String(++dirs)}.json`);
      writeFileSync(sthFile, await (await fetch(new URL('/v1/log/sth', broker.url))).text());
      const pinned = await run('receipt', 'verify', file, '--broker', broker.url, '--log-key', keyFile, '--sth', sthFile);
      expect(pinned.out).toContain('and that log extends the head you kept (3 records');
      expect(pinned.out).not.toContain('fetched from the broker');

      // The account's record removed, everything recomputed and re-signed, one record more: as long as before.
      await broker.close();
      await rewriteLog(data, (rec) => rec.seq !== 2);
      broker = await serve(data);
      await oneMoreRecord(broker, data);
      const forged = await run('receipt', 'verify', file, '--broker', broker.url, '--log-key', keyFile, '--sth', sthFile);
      expect(forged.code).toBe(1);
      expect(forged.out).toMatch(/^not verified: the log now holds another record 3 \(hash [0-9a-f]{64}, promised [0-9a-f]{64}\): it was rewritten\n$/);

      const edited = join(base, `edited-${String(++dirs)}.json`);
      writeFileSync(edited, JSON.stringify({ ...answer, receipt: { ...(answer.receipt as object), index: 0 } }));
      expect((await run('receipt', 'verify', edited, '--broker', broker.url)).out).toMatch(/^not verified: the receipt is not the log's promise: the signature does not verify/);
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('exits 2 without a file or --broker, and has help', async () => {
    expect((await run('receipt', 'verify', '--broker', 'http://127.0.0.1:9')).err).toContain('give one receipt file');
    expect((await run('receipt', 'verify', 'x.json')).err).toContain('give --log-key KEY (the log key you pinned), --broker URL');
    expect((await run('receipt', 'check')).code).toBe(2);
    expect((await run('receipt', '--help')).out).toContain('geobridge receipt verify FILE --broker URL');
  });
});

describe('geobridge audit report', () => {
  it('prints aligned tables (exit 0)', async () => {
    const r = await run('audit', 'report', '--data', await dataDir(), '--from', '2024-03-01', '--to', '2024-03-03');
    expect(r.code).toBe(0);
    expect(r.out).toContain('audit report 2024-03-01T00:00:00.000Z → 2024-03-03T00:00:00.000Z');
    expect(r.out).toMatch(/Connections by client country × datacenter jurisdiction × role \(3\)\n\s+COUNTRY\s+JURISDICTION\s+ROLE\s+CONNECTIONS\s+PARTICIPANTS\n\s+CA\s+US\s+primary\s+1\s+1\n\s+US\s+CN\s+secondary\s+1\s+1\n/);
    expect(r.out).toMatch(/US\s+1\s+CN 1, US 1/);
    expect(r.out).toMatch(/route\.refusal\s+NO_CAPACITY_IN_FENCE\s+1/);
  });

  it('keeps --to exclusive and accepts date-times with offsets', async () => {
    const dir = await dataDir();
    const day1 = await run('audit', 'report', '--data', dir, '--from', '2024-03-01', '--to', '2024-03-02', '--json');
    expect(JSON.parse(day1.out)).toMatchObject({ report: { total: { connections: { total: 2 } } } });
    const r = await run('audit', 'report', '--data', dir, '--from', '2024-03-01T10:00+01:00', '--to', '2024-03-01T11:00:00Z', '--json');
    const body = JSON.parse(r.out) as { chain: { ok: boolean }; report: { from: string; total: { records: { total: number } } } };
    expect(body.chain.ok).toBe(true);
    expect(body.report.from).toBe('2024-03-01T09:00:00.000Z');
    expect(body.report.total.records.total).toBe(3);
  });

  it('writes one self-contained HTML file', async () => {
    const dir = await dataDir();
    const file = join(dir, 'report.html');
    const r = await run('audit', 'report', '--data', dir, '--from', '2024-03-01', '--to', '2024-03-08', '--html', file);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`wrote ${file}: 5 records, 3 connections`);
    const html = readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).toContain('US → CN');
    expect(html).not.toMatch(/(src|href)=|<script|url\(|@import/i);
  });

  it('still reports a tampered log, with a warning and exit 1', async () => {
    const dir = await dataDir();
    const db = new Database(join(dir, 'audit.sqlite'));
    db.prepare("UPDATE audit_log SET at = '2024-03-05T00:00:00.000Z' WHERE seq = 2").run();
    db.close();
    const r = await run('audit', 'report', '--data', dir, '--from', '2024-03-01', '--to', '2024-03-08');
    expect(r.code).toBe(1);
    expect(r.out).toContain('Connections by client country');
    expect(r.err).toMatch(/warning: chain broken at record 2/);
  });

  it('exits 2 on bad or missing dates and conflicting flags', async () => {
    const dir = await dataDir();
    const cases: readonly [string[], string][] = [
      [['--from', '2024-02-30', '--to', '2024-03-02'], 'INVALID_TIME'],
      [['--from', 'last week', '--to', '2024-03-02'], 'INVALID_TIME'],
      [['--from', '2024-03-01', '--to', '2024-03-01T25:00'], 'INVALID_TIME'],
      [['--from', '2024-03-01'], 'USAGE'],
      [[], 'USAGE'],
      [['--from', '2024-03-02', '--to', '2024-03-01'], 'USAGE'],
      [['--from', '2024-03-01', '--to', '2024-03-02', '--json', '--html', join(dir, 'x.html')], 'USAGE'],
      [['--from', '2024-03-01', '--to', '2024-03-02', 'extra'], 'USAGE'],
      [['--from', '2024-03-01', '--to', '2024-03-02', '--html', join(dir, 'no', 'such', 'x.html')], 'UNWRITABLE_FILE'],
    ];
    for (const [args, code] of cases) {
      const r = await run('audit', 'report', '--data', dir, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toContain(`error ${code}:`);
    }
  });
});

describe('geobridge audit report, cascade relays', () => {
  it('says a German participant’s media was relayed into the US, from a live cascade (serve --cascade, transit: e2ee)', async () => {
    // world.yaml with the EEA fence letting its clients' encrypted media transit bridges outside it (as src/bridge/cascade-transit.test.ts).
    const text = readFileSync(WORLD, 'utf8').replace('    clients: [EEA]\n    allow: [EEA, GB, JP]\n', '    clients: [EEA]\n    allow: [EEA, GB, JP]\n    transit: e2ee\n');
    expect(text).toContain('transit: e2ee');
    const manifestPath = join(base, `world-transit-${String(++dirs)}.yaml`);
    writeFileSync(manifestPath, text);
    const cluster = await startCluster(['eu-central', 'us-east'], ['eu-central', 'us-east'], { cascade: true, manifestPath });
    const callers: Caller[] = [];
    try {
      const ctx = cluster.broker.context;
      const meeting = await cluster.meeting('Transit');
      callers.push(await joinCall(cluster, meeting, 'Anna', 'DE', { publish: true, e2ee: true }));
      callers.push(await joinCall(cluster, meeting, 'Ben', 'US', { publish: true, e2ee: true }));
      await until(() => encryptingMembers(ctx, meeting).size === 2 && hopsOf(ctx, meeting).some((h) => h.to === 'us-east'), 30_000);
      // The plan holds the hop a moment before its record is durable.
      const relayedToUs = async (): Promise<boolean> => (await ctx.audit.read()).some((r) => r.type === 'relay.opened' && r.data.to === 'us-east');
      for (let i = 0; i < 100 && !(await relayedToUs()); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      const from = new Date(Date.now() - 3_600_000).toISOString();
      const to = new Date(Date.now() + 3_600_000).toISOString();
      const json = await run('audit', 'report', '--data', cluster.dataDir, '--from', from, '--to', to, '--json');
      expect(json.code, json.err).toBe(0);
      const report = (JSON.parse(json.out) as { report: { total: { connections: { rows: { country: string; jurisdiction: string }[] }; relays: { rows: { country: string; jurisdiction: string; e2ee: boolean | null }[] } } } }).report;
      // Connections are where each participant's media entered; the relays, where the cascade carried it on to.
      expect(report.total.connections.rows.map((r) => `${r.country}->${r.jurisdiction}`)).toEqual(['DE->DE', 'US->US']);
      expect(report.total.relays.rows).toContainEqual(expect.objectContaining({ country: 'DE', jurisdiction: 'US', e2ee: true }));
      const out = (await run('audit', 'report', '--data', cluster.dataDir, '--from', from, '--to', to)).out;
      expect(out).toMatch(/Media relayed between datacenters \(cascade hops opened\) by client country × jurisdiction relayed into × end-to-end encrypted \(\d+\)\n {2}COUNTRY {2}RELAYED INTO {2}END-TO-END ENCRYPTED {2}HOPS OPENED {2}PARTICIPANTS\n {2}DE {7}US {12}yes {29}1 {13}1\n/);
    } finally {
      for (const c of callers) c.leave();
      await cluster.close();
    }
  }, 90_000);

  it('reads relay records written before they named the country and jurisdictions', async () => {
    const dir = join(base, `data-${String(++dirs)}`);
    mkdirSync(dir);
    const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'));
    await log.append('bridge.admission', { participant: 'anna', meeting: 'm1', datacenter: 'eu-central', jurisdiction: 'DE', role: 'primary', country: 'DE', zone: 'eu', outOfZone: false }, '2024-03-01T09:00:00Z');
    await log.append('bridge.admission', { participant: 'ben', meeting: 'm1', datacenter: 'us-east', jurisdiction: 'US', role: 'primary', country: 'US', zone: 'na', outOfZone: false }, '2024-03-01T09:00:01Z');
    await log.append('relay.opened', { meeting: 'm1', from: 'eu-central', to: 'us-east', participant: 'anna', e2ee: true }, '2024-03-01T09:00:02Z');
    await log.append('relay.opened', { meeting: 'm1', from: 'eu-central', to: 'ap-gone', participant: null, e2ee: true }, '2024-03-01T09:00:02Z');
    await log.close();
    const r = await run('audit', 'report', '--data', dir, '--from', '2024-03-01', '--to', '2024-03-02');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('end-to-end encrypted (2)\n  COUNTRY  RELAYED INTO  END-TO-END ENCRYPTED  HOPS OPENED  PARTICIPANTS\n  ?        ?             yes                             1             0\n  DE       US            yes                             1             1\n');
  });
});

describe('geobridge audit', () => {
  it('has help with examples, and rejects unknown or missing subcommands', async () => {
    const help = await run('audit', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('geobridge audit report --from 2024-03-01 --to 2024-04-01');
    expect((await run('audit', 'verify', '--help')).out).toBe(help.out);
    expect((await run('--help')).out).toContain('audit verify|prove|witness|report');
    for (const argv of [['audit'], ['audit', 'fix'], ['audit', 'verify', '--bogus']]) {
      const r = await run(...argv);
      expect(r.code).toBe(2);
      expect(r.err).toContain('error USAGE:');
    }
  });
});
