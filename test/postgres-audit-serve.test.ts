/**
 * `geobridge serve --store postgres://…` keeps its audit log in the same
 * PostgreSQL database (a fresh one per run, dropped after), not in
 * DATA/audit.sqlite; `audit verify|report|prove`, `manifest log` and
 * `receipt verify --log DIR` read it there with `--store`, and create nothing
 * in a database without one. Brokers sharing the log share its key.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresAuditLog } from '../src/broker/audit/postgres-audit-log.js';
import { signInclusionPromise, signTreeHead, TreeHeadSigner } from '../src/broker/audit/tree-heads.js';
import { parseServeSettings } from '../src/broker/config.js';
import { loadLogKey, logKeyPath } from '../src/broker/log-key.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { runManifest } from '../src/cli/commands/manifest.js';
import { runCli as run } from './run-cli.fixture.js';

const WORLD = fileURLToPath(new URL('../examples/world.yaml', import.meta.url));
const SERVER = process.env.GEOBRIDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const suffix = `${String(process.pid)}_${Date.now().toString(36)}`;
const database = `gb_audit_${suffix}`;
const emptyDatabase = `gb_audit_empty_${suffix}`;
const base = mkdtempSync(join(tmpdir(), 'geobridge-pg-audit-'));

/** `SERVER` with another database and, optionally, a password (trust auth ignores it; messages must not show it). */
function urlOf(name: string, password?: string): string {
  const u = new URL(SERVER);
  u.pathname = `/${name}`;
  if (password !== undefined) u.password = password;
  return u.toString();
}
const url = urlOf(database);
const emptyUrl = urlOf(emptyDatabase, 'hunter2');

/** Runs `sql` on the server's own database (CREATE/DROP DATABASE cannot run inside the one they name). */
async function admin(sql: string): Promise<void> {
  await query(SERVER, sql);
}

async function query<R extends pg.QueryResultRow>(on: string, sql: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: on });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await admin(`CREATE DATABASE ${database}`);
  await admin(`CREATE DATABASE ${emptyDatabase}`);
});
afterAll(async () => {
  await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin(`DROP DATABASE IF EXISTS ${emptyDatabase} WITH (FORCE)`);
  rmSync(base, { recursive: true, force: true });
});

let dirs = 0;
function dataDir(): string {
  return mkdtempSync(join(base, `data-${String(++dirs)}-`));
}

function start(dir: string): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings({ manifest: WORLD, data: dir, dev: true, listen: '127.0.0.1:0', store: url }, {});
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker(settings, false);
}

async function recordCount(): Promise<number> {
  return (await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM audit_log'))[0]?.n ?? -1;
}

/** Appends a route decision to the shared log and saves the route answer (its receipt signed with the log key of `dir`), as a client would. */
async function savedAnswer(dir: string, decisionId: string): Promise<string> {
  const key = await loadLogKey(dir, false);
  const log = await PostgresAuditLog.open(url);
  try {
    const at = new Date().toISOString();
    const record = await log.append('route.decision', { decisionId, participant: 'p9', meeting: 'm1', country: 'DE', candidates: [] }, at);
    const receipt = { manifestSha256: 'ab'.repeat(32), ...signInclusionPromise(key, record.seq - 1, record.hash, { decisionId, manifestSha256: 'ab'.repeat(32), country: 'DE', candidates: [] }, Date.parse(at)) };
    const file = join(base, `answer-${decisionId}.json`);
    writeFileSync(file, JSON.stringify({ country: 'DE', candidates: [], decisionId, ticket: 'eyJ…', receipt }));
    return file;
  } finally {
    await log.close();
  }
}

describe('serve --store postgres://… with its audit log', () => {
  // One broker's data directory, shared by the tests below in order: the log they read is the one it wrote.
  const first = dataDir();

  it('appends the audit records to PostgreSQL, not to DATA/audit.sqlite; audit verify, audit report and manifest log --store read them', async () => {
    const broker = await start(first);
    await broker.close();
    expect(existsSync(join(first, 'audit.sqlite'))).toBe(false);
    const records = await query<{ seq: string; type: string }>(url, 'SELECT seq, type FROM audit_log ORDER BY seq');
    expect(records.map((r) => r.type)).toEqual(['manifest.changed']);
    expect((await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM translog_head'))[0]?.n).toBeGreaterThan(0);

    const verify = await run('audit', 'verify', '--data', first, '--store', url, '--json');
    expect(verify.code, verify.err).toBe(0);
    const key = await loadLogKey(first, false);
    expect(JSON.parse(verify.out)).toMatchObject({ store: url, ok: true, count: 1, keyId: key.keyId });

    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const report = await run('audit', 'report', '--store', url, '--from', today, '--to', tomorrow, '--json');
    expect(report.code, report.err).toBe(0);
    expect(JSON.parse(report.out)).toMatchObject({ chain: { ok: true, count: 1 }, report: { total: { records: { total: 1 } } } });

    // No DIR: the manifests and the log are both in the database.
    const log = await run('manifest', 'log', '--store', url, '--data', join(base, 'nowhere'), '--json');
    expect(log.code, log.err).toBe(0);
    expect(JSON.parse(log.out)).toEqual([expect.objectContaining({ version: 1, actor: 'startup', record: 1, change: 'first manifest' })]);
  }, 60_000);

  it('takes the store from GEOBRIDGE_STORE, passed in by the entry point', async () => {
    let out = '';
    const io = { out: (t: string) => (out += t), err: () => undefined };
    expect(await runManifest(['log', '--data', join(base, 'nowhere'), '--json'], io, { GEOBRIDGE_STORE: url })).toBe(0);
    expect(JSON.parse(out)).toMatchObject([{ version: 1, record: 1 }]);
  });

  it('proves a route answer against the log in PostgreSQL: audit prove and receipt verify --log DIR --store', async () => {
    const answer = await savedAnswer(first, 'dec_pg1');
    const prove = await run('audit', 'prove', answer, '--data', first, '--store', url);
    expect(prove.code, prove.err).toBe(0);
    expect(prove.out).toMatch(/^in the log: record 2 \(route\.decision dec_pg1, /);
    const receipt = await run('receipt', 'verify', answer, '--log', first, '--store', url);
    expect(receipt.code, receipt.err).toBe(0);
    expect(receipt.out).toContain(`the log in ${url} holds it: record 2 (route.decision`);
    // Without --store the log is DIR/audit.sqlite, which this broker never had.
    expect((await run('receipt', 'verify', answer, '--log', first)).err).toContain('AUDIT_UNAVAILABLE');
  }, 60_000);

  it('refuses a second broker with another log key (LOG_KEY_MISMATCH); with the first one\'s log.pem both run and sign heads that verify', async () => {
    const second = dataDir();
    await expect(start(second)).rejects.toMatchObject({ code: 'LOG_KEY_MISMATCH', message: expect.stringContaining('Copy keys/log.pem from the broker that first used this database') as unknown });
    const before = await recordCount();

    copyFileSync(logKeyPath(first), logKeyPath(second));
    const [a, b] = await Promise.all([start(first), start(second)]);
    const headsBefore = (await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM translog_head'))[0]?.n ?? 0;
    await savedAnswer(first, 'dec_pg2');
    await a.close();
    await savedAnswer(second, 'dec_pg3');
    await b.close();
    // Each broker signed a last head over the records when it stopped.
    expect((await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM translog_head'))[0]?.n).toBeGreaterThanOrEqual(headsBefore + 2);
    expect(await recordCount()).toBe(before + 2);

    const verify = await run('audit', 'verify', '--data', second, '--store', url, '--json');
    expect(verify.code, verify.out).toBe(0);
    expect(JSON.parse(verify.out)).toMatchObject({ ok: true, count: before + 2 });
  }, 60_000);

  it('verifies heads of two signers with one key saved out of order (a smaller head committed after a larger one)', async () => {
    const key = await loadLogKey(first, false);
    const [one, two] = await Promise.all([PostgresAuditLog.open(url), PostgresAuditLog.open(url)]);
    try {
      const signerOne = new TreeHeadSigner(one, key);
      const signerTwo = new TreeHeadSigner(two, key);
      await one.append('bridge.rejected.summary', { reason: 'test', count: 1 }, new Date().toISOString());
      const smaller = await one.treeHead();
      await two.append('bridge.rejected.summary', { reason: 'test', count: 2 }, new Date().toISOString());
      await signerTwo.refresh();
      await one.saveTreeHead(signTreeHead(key, smaller, Date.now()));
      await signerOne.refresh();
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
    const verify = await run('audit', 'verify', '--data', first, '--store', url);
    expect(verify.code, verify.out).toBe(0);
    expect(verify.out).toMatch(/^chain intact: /);
  }, 60_000);

  it('finds a record altered by SQL in PostgreSQL (exit 1)', async () => {
    await query(url, `UPDATE audit_log SET data = '{"decisionId":"dec_forged"}' WHERE seq = 2`);
    const verify = await run('audit', 'verify', '--data', first, '--store', url);
    expect([verify.code, verify.out]).toEqual([1, expect.stringMatching(/^chain broken at record 2: hash does not match the record/) as unknown]);
    const report = await run('audit', 'report', '--store', url, '--from', '2000-01-01', '--to', '2100-01-01');
    expect(report.code).toBe(1);
  }, 60_000);
});

describe('the commands that read the log, on a database without one', () => {
  it('exit 2 naming the database without its password, and create nothing in it', async () => {
    const dir = dataDir();
    await loadLogKey(dir, true);
    const where = urlOf(emptyDatabase);
    const answer = join(base, 'answer-empty.json');
    writeFileSync(answer, JSON.stringify({ country: 'DE', decisionId: 'd1', ticket: 'eyJ…', receipt: { manifestSha256: 'ab'.repeat(32), ...signInclusionPromise(await loadLogKey(dir, false), 0, 'cd'.repeat(32), { decisionId: 'd1', manifestSha256: 'ab'.repeat(32), country: 'DE', candidates: [] }, 1) } }));
    const runs = {
      verify: await run('audit', 'verify', '--data', dir, '--store', emptyUrl),
      report: await run('audit', 'report', '--store', emptyUrl, '--from', '2024-01-01', '--to', '2024-02-01'),
      prove: await run('audit', 'prove', answer, '--data', dir, '--store', emptyUrl),
      receipt: await run('receipt', 'verify', answer, '--log', dir, '--store', emptyUrl),
      manifestLog: await run('manifest', 'log', '--store', emptyUrl),
      manifestShow: await run('manifest', 'show', 'v1', '--store', emptyUrl),
    };
    for (const [name, r] of Object.entries(runs)) {
      expect(r.code, `${name}: ${r.err}`).toBe(2);
      expect(r.err, name).not.toContain('hunter2');
    }
    for (const r of [runs.verify, runs.report, runs.prove, runs.receipt]) expect(r.err).toContain(`error AUDIT_UNAVAILABLE: no audit log in ${where}: `);
    for (const r of [runs.manifestLog, runs.manifestShow]) expect(r.err).toContain(`error STORE_UNAVAILABLE: no broker store in ${where}: `);
    const tables = await query<{ name: string }>(emptyUrl, "SELECT tablename AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')");
    expect(tables).toEqual([]);
  }, 60_000);

  it('refuses a --store that is not a PostgreSQL URL (exit 2), without repeating it', async () => {
    const r = await run('audit', 'verify', '--store', 'mysql://root:hunter2@db/x');
    expect(r.code).toBe(2);
    expect(r.err).toContain('USAGE');
    expect(r.err).not.toContain('hunter2');
  });
});
