// The audit adapters against the shared contract, plus what only a file can
// show: durability across reopen, two processes on one chain, SQL tampering.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MemoryNodeStore, MerkleTree, type TreeHead } from '../../translog/index.js';
import { canonicalJson, leafEntry, verifyChain, type AuditRecord } from './audit-log.js';
import { describeAuditContract } from './audit-contract.fixture.js';
import { MemoryAuditLog } from './memory-audit-log.js';
import { buildAuditReport, normalizeAuditTime, parseAuditTime } from './report.js';
import { renderAuditReportHtml, renderAuditReportText } from './report-render.js';
import { SqliteAuditLog } from './sqlite-audit-log.js';

const root = join(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'geobridge-audit-'));
let files = 0;
const tempFile = (): string => join(dir, `audit-${++files}.sqlite`);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describeAuditContract('memory', () => new MemoryAuditLog());
describeAuditContract('sqlite', () => SqliteAuditLog.open(tempFile()));
describeAuditContract('sqlite in memory', () => SqliteAuditLog.open(':memory:'));

describe('SqliteAuditLog', () => {
  it('fails a whole group commit when a write fails, and keeps the chain intact', async () => {
    const file = tempFile();
    const log = SqliteAuditLog.open(file);
    await log.append('admin.action', { n: 0 }, '2026-11-29T12:00:00.000Z');
    // Another connection makes the third record's insert fail, as a full disk would.
    const other = new Database(file);
    other.exec("CREATE TRIGGER fail_third BEFORE INSERT ON audit_log WHEN NEW.seq = 3 BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    const batch = await Promise.allSettled([1, 2, 3, 4].map((n) => log.append('admin.action', { n }, '2026-11-29T12:00:01.000Z')));
    expect(batch.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(verifyChain(await log.read())).toEqual({ ok: true, count: 1 });
    other.exec('DROP TRIGGER fail_third');
    other.close();
    // Another writer takes seq 2 and 3 first: the failed batch's leaves, which the first writer had in memory, are not these.
    const second = SqliteAuditLog.open(file);
    await Promise.all([6, 7].map((n) => second.append('admin.action', { n }, '2026-11-29T12:00:02.000Z')));
    await second.close();
    // Enough to complete the first 16 leaves, whose node is stored.
    await Promise.all(Array.from({ length: 14 }, (_, n) => log.append('admin.action', { n: n + 8 }, '2026-11-29T12:00:02.000Z')));
    const records = await log.read();
    expect(verifyChain(records)).toEqual({ ok: true, count: 17 });
    expect(await log.treeHead()).toEqual(referenceHead(records));
    await log.close();
  });

  it('resolves an append only once its record is committed, also for appends made while a commit is under way', async () => {
    const file = tempFile();
    const log = SqliteAuditLog.open(file);
    const reader = new Database(file, { readonly: true });
    const committed = reader.prepare<[number], { n: number }>('SELECT count(*) AS n FROM audit_log WHERE seq = ?');
    const seen: number[] = [];
    const append = async (n: number): Promise<void> => {
      const record = await log.append('admin.action', { n }, '2026-11-29T12:00:00.000Z');
      seen.push(committed.get(record.seq)?.n ?? 0);
    };
    // A first burst, then more appends while its commit is in flight.
    const first = Array.from({ length: 20 }, (_, n) => append(n));
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all([...first, ...Array.from({ length: 20 }, (_, n) => append(20 + n))]);
    expect(seen).toEqual(Array.from({ length: 40 }, () => 1));
    expect(verifyChain(await log.read())).toEqual({ ok: true, count: 40 });
    reader.close();
    await log.close();
  });

  it('keeps records across close and reopen, and continues the chain', async () => {
    const file = tempFile();
    const first = SqliteAuditLog.open(file);
    await first.append('manifest.changed', { version: 1, actor: 'ops' }, '2024-03-01T00:00:00Z');
    await first.append('admin.action', { actor: 'ops', action: 'x', target: 'y' }, '2024-03-01T00:00:01Z');
    await first.close();
    const second = SqliteAuditLog.open(file, { create: false });
    expect((await second.append('admin.action', {}, '2024-03-02')).seq).toBe(3);
    const records = await second.read();
    await second.close();
    expect(records.map((r) => r.data)).toEqual([{ actor: 'ops', version: 1 }, { action: 'x', actor: 'ops', target: 'y' }, {}]);
    expect(verifyChain(records)).toEqual({ ok: true, count: 3 });
  });

  it('uses WAL and a table of seq, at, type, data, prev_hash, hash', async () => {
    const file = tempFile();
    await SqliteAuditLog.open(file).close();
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('audit_log')").all();
      expect(columns.map((c) => c.name)).toEqual(['seq', 'at', 'type', 'data', 'prev_hash', 'hash']);
      expect(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'audit_log_at'").get()).toBeDefined();
    } finally {
      db.close();
    }
  });

  it('refuses a missing file (create: false), a non-database and a newer schema with AUDIT_UNAVAILABLE naming the path', () => {
    const missing = join(dir, 'missing.sqlite');
    expect(() => SqliteAuditLog.open(missing, { create: false })).toThrow(expect.objectContaining({ code: 'AUDIT_UNAVAILABLE', message: expect.stringContaining(missing) as unknown }));
    const text = join(dir, 'not-a-db.sqlite');
    writeFileSync(text, 'hello, this is not SQLite '.repeat(100));
    expect(() => SqliteAuditLog.open(text)).toThrow(expect.objectContaining({ code: 'AUDIT_UNAVAILABLE' }));
    const newer = tempFile();
    const db = new Database(newer);
    db.pragma('user_version = 99');
    db.close();
    expect(() => SqliteAuditLog.open(newer)).toThrow(expect.objectContaining({ code: 'AUDIT_UNAVAILABLE' }));
    const other = tempFile();
    new Database(other).exec('CREATE TABLE t (x)').close();
    expect(() => SqliteAuditLog.open(other, { create: false })).toThrow(expect.objectContaining({ code: 'AUDIT_UNAVAILABLE' }));
  });

  it('catches tampering done directly in the file with SQL', async () => {
    const file = tempFile();
    const log = SqliteAuditLog.open(file);
    for (let i = 0; i < 5; i++) await log.append('bridge.admission', { participant: `p${i}`, country: 'US', jurisdiction: 'US', role: 'primary' }, `2024-03-01T0${i}:00:00Z`);
    await log.close();
    const db = new Database(file);
    const verify = async (): Promise<ReturnType<typeof verifyChain>> => {
      const reader = SqliteAuditLog.open(file, { create: false });
      try {
        return verifyChain(await reader.read());
      } finally {
        await reader.close();
      }
    };
    try {
      db.prepare("UPDATE audit_log SET data = json_set(data, '$.jurisdiction', 'CN') WHERE seq = 3").run();
      expect(await verify()).toMatchObject({ ok: false, seq: 3 });
      db.prepare("UPDATE audit_log SET data = json_set(data, '$.jurisdiction', 'US') WHERE seq = 3").run();
      expect(await verify()).toEqual({ ok: true, count: 5 });
      db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
      expect(await verify()).toMatchObject({ ok: false, seq: 3 });
      // The CHECK stops plain SQL from storing unparsable data; a forger who switches it off gets AUDIT_CORRUPT.
      expect(() => db.prepare("UPDATE audit_log SET data = 'oops' WHERE seq = 4").run()).toThrow(/CHECK constraint/);
      db.pragma('ignore_check_constraints = ON');
      db.prepare("UPDATE audit_log SET data = 'oops' WHERE seq = 4").run();
      await expect(verify()).rejects.toMatchObject({ code: 'AUDIT_CORRUPT' });
    } finally {
      db.close();
    }
  });

  it('two processes appending 200 records each to one file form one valid chain', async () => {
    const file = tempFile();
    await SqliteAuditLog.open(file).close();
    // Start both writers together, once both have loaded and opened the file.
    await raceWriters(file, 200, async (writers) => {
      await writers.said('ready');
    });
    const log = SqliteAuditLog.open(file, { create: false });
    const records = await log.read();
    const stored = await log.treeHead();
    await log.close();
    expect(verifyChain(records)).toEqual({ ok: true, count: 400 });
    // The writer threads' tree (their own copy of MerkleTree.append) is the reference tree of the records.
    expect(stored).toEqual(referenceHead(records));
    const writers = records.map((r) => r.data.writer);
    expect(writers.filter((w) => w === 'a')).toHaveLength(200);
    // The writers really raced: their records interleave all along the chain.
    const switches = writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length;
    expect(switches).toBeGreaterThan(10);
  }, 60_000);
});

describe('SqliteAuditLog transparency log', () => {
  it('writes, from its writer thread, the tree MerkleTree builds, in every group commit', async () => {
    const file = tempFile();
    const log = SqliteAuditLog.open(file);
    // Batches of 1, 2, …, 12 records: every way a batch can start and end on a subtree boundary.
    for (let n = 1; n <= 12; n++) await Promise.all(Array.from({ length: n }, (_, i) => log.append('admin.action', { n, i }, '2024-03-01')));
    const records = await log.read();
    expect(records).toHaveLength(78);
    for (const size of [0, 1, 2, 3, 4, 7, 8, 9, 63, 64, 65, 77, 78]) expect(await log.treeHead(size)).toEqual(referenceHead(records.slice(0, size)));
    await log.close();
    // Only the perfect subtrees of 16 leaves and more are stored: 78 leaves make 4 + 2 + 1 of them.
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT MIN(level) AS low, COUNT(*) AS n FROM translog_node').get()).toEqual({ low: 4, n: 7 });
    db.close();
  });

  it('upgrades a schema 1 log once when two brokers open it at the same moment, both then opening it', async () => {
    const file = tempFile();
    const log = SqliteAuditLog.open(file);
    await Promise.all(Array.from({ length: 40 }, (_, i) => log.append('admin.action', { i }, '2024-03-01')));
    await log.close();
    const db = new Database(file);
    db.exec('DROP TABLE translog_node; DROP TABLE translog_head;');
    db.pragma('user_version = 1');
    // Both read the version while another connection holds the write lock; the second to get it must read it again.
    db.exec('BEGIN IMMEDIATE');
    await raceWriters(file, 0, async (writers) => {
      await writers.said('opening');
      await new Promise((r) => setTimeout(r, 300));
      db.exec('ROLLBACK');
      db.close();
    });
    const upgraded = SqliteAuditLog.open(file, { create: false });
    expect(await upgraded.treeHead()).toEqual(referenceHead(await upgraded.read()));
    await upgraded.close();
  }, 60_000);

  it('drops the stored nodes below level 4 of a schema 2 log when a broker opens it, and goes on from there', async () => {
    const file = tempFile();
    const log = SqliteAuditLog.open(file);
    await Promise.all(Array.from({ length: 40 }, (_, i) => log.append('admin.action', { i }, '2024-03-01')));
    await log.close();
    // The schema 2 table: every node stored, from the leaves up.
    const memory = new MemoryNodeStore();
    const tree = new MerkleTree(memory);
    const db = new Database(file);
    for (const hash of db.prepare<[], string>('SELECT hash FROM audit_log ORDER BY seq').pluck().all()) tree.append(leafEntry(hash));
    db.exec('DROP TABLE translog_node; CREATE TABLE translog_node (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) STRICT, WITHOUT ROWID;');
    const put = db.prepare('INSERT INTO translog_node (level, idx, hash) VALUES (?, ?, ?)');
    for (let level = 0; 2 ** level <= 40; level++) for (let index = 0; (index + 1) * 2 ** level <= 40; index++) put.run(level, index, memory.get(level, index));
    db.pragma('user_version = 2');
    db.close();
    const upgraded = SqliteAuditLog.open(file);
    await upgraded.append('admin.action', { i: 40 }, '2024-03-02');
    const records = await upgraded.read();
    expect(await upgraded.treeHead()).toEqual(referenceHead(records));
    expect(await upgraded.treeHead(33)).toEqual(referenceHead(records.slice(0, 33)));
    await upgraded.close();
    const after = new Database(file);
    expect(after.prepare('SELECT MIN(level) AS low, COUNT(*) AS n FROM translog_node').get()).toEqual({ low: 4, n: 3 });
    expect(after.pragma('user_version', { simple: true })).toBe(3);
    // A broker of schema 2 still running on the file has its commits refused, not landed beside the new tree.
    expect(() => after.prepare('INSERT INTO translog_node (level, idx, hash) VALUES (0, 41, ?)').run(Buffer.alloc(32))).toThrow(/CHECK constraint failed/);
    after.close();
  });

  it('builds the tree of a log written before it (schema 1) when a broker opens it, and goes on from there', async () => {
    const file = tempFile();
    const log = SqliteAuditLog.open(file);
    for (let i = 0; i < 6; i++) await log.append('admin.action', { i }, '2024-03-01');
    await log.close();
    const db = new Database(file);
    db.exec('DROP TABLE translog_node; DROP TABLE translog_head;');
    db.pragma('user_version = 1');
    db.close();
    const reader = SqliteAuditLog.open(file, { create: false });
    await expect(reader.treeHead()).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringContaining('start the broker') as unknown });
    expect(await reader.treeHeads()).toEqual([]);
    await reader.close();
    const upgraded = SqliteAuditLog.open(file);
    await upgraded.append('admin.action', { i: 6 }, '2024-03-02');
    const records = await upgraded.read();
    expect(await upgraded.treeHead()).toEqual(referenceHead(records));
    await upgraded.close();
  });
});

describe('canonical JSON and records', () => {
  /** The definition: keys sorted by the default sort at every depth. */
  const reference = (value: unknown): string => {
    if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
    if (value !== null && typeof value === 'object') {
      const object = value as Record<string, unknown>;
      return `{${Object.keys(object)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${reference(object[k])}`)
        .join(',')}}`;
    }
    return JSON.stringify(value);
  };

  it('property: canonicalJson sorts keys as the default sort does, at every depth', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 500 },
    );
    expect(canonicalJson({ b: 1, '10': 2, '9': 3, B: 4, é: 5, '': 6 })).toBe('{"":6,"10":2,"9":3,"B":4,"b":1,"é":5}');
  });

  it('quotes keys the same before and after its cache of quoted keys is full', () => {
    // Keys that need escaping, more of them than the cache holds, then the first ones again (cached) beside new ones (not).
    const keys = Array.from({ length: 6000 }, (_, i) => `k${String(i)}"\\\u2028\u0001${String.fromCharCode(0xd800 + (i % 3))}`);
    const object = Object.fromEntries(keys.map((k, i) => [k, i]));
    expect(canonicalJson(object)).toBe(reference(object));
    const again = Object.fromEntries([...keys.slice(0, 50), ...keys.slice(-50), 'fresh\n'].map((k) => [k, { [k]: k }]));
    expect(canonicalJson(again)).toBe(reference(again));
  });

  it('refuses data that is not an object, on every adapter', async () => {
    for (const log of [new MemoryAuditLog(), SqliteAuditLog.open(':memory:')]) {
      for (const data of [[], null, 'text', 7]) await expect(log.append('admin.action', data as never, '2024-03-01')).rejects.toThrow(TypeError);
      expect(await log.read()).toEqual([]);
      await log.close();
    }
  });

  it('gives back records whose data is the canonical JSON read back, deeply frozen, the same object every time', async () => {
    const log = SqliteAuditLog.open(tempFile());
    const record = await log.append('route.decision', { participant: 'p1', candidates: [{ datacenter: 'fra1', role: 'primary' }], gone: undefined }, '2024-03-01');
    expect(record.data).toEqual({ candidates: [{ datacenter: 'fra1', role: 'primary' }], participant: 'p1' });
    expect(record.data).toBe(record.data);
    expect(Object.isFrozen(record) && Object.isFrozen(record.data) && Object.isFrozen(record.data.candidates)).toBe(true);
    expect({ ...record }).toEqual((await log.read())[0]);
    await log.close();
  });
});

describe('audit time', () => {
  it('refuses an empty time in a fresh process, before any canonical time was remembered', async () => {
    vi.resetModules();
    const fresh = await import('./report.js');
    expect(fresh.parseAuditTime('')).toBeUndefined();
    expect(() => fresh.normalizeAuditTime('', 'audit record time')).toThrow(expect.objectContaining({ code: 'INVALID_TIME' }));
  });

  it('normalizes ISO dates and date-times to canonical UTC', () => {
    expect(parseAuditTime('2024-03-01')).toBe('2024-03-01T00:00:00.000Z');
    expect(parseAuditTime('2024-03-01T09:30')).toBe('2024-03-01T09:30:00.000Z');
    expect(parseAuditTime('2024-03-01T09:30:15.123456-05:00')).toBe('2024-03-01T14:30:15.123Z');
    expect(parseAuditTime('2024-03-01 00:30+0100')).toBe('2024-02-29T23:30:00.000Z');
    expect(parseAuditTime('0001-01-01')).toBe('0001-01-01T00:00:00.000Z');
    expect(parseAuditTime('2024-02-29T23:59:59.999Z')).toBe('2024-02-29T23:59:59.999Z');
    // The last canonical time is remembered: the same again passes, and a neighbour is still checked.
    expect(parseAuditTime('2024-02-29T23:59:59.999Z')).toBe('2024-02-29T23:59:59.999Z');
    expect(parseAuditTime('2024-02-30T23:59:59.999Z')).toBeUndefined();
    // Already in canonical shape, yet not a real time: the fast path must not let them through.
    for (const bad of ['2024-02-30T00:00:00.000Z', '2023-02-29T12:00:00.000Z', '2024-13-01T00:00:00.000Z', '2024-03-01T24:00:00.000Z', '2024-03-01T12:00:60.000Z']) {
      expect(parseAuditTime(bad), bad).toBeUndefined();
    }
    for (const bad of ['', '2024', '2024-3-1', '2024-02-30', '2023-02-29', '2024-03-01T24:00', '2024-03-01T12:60', '2024-13-01', 'now', '2024-03-01T00:00+25:00', '0000-01-01T00:00+01:00']) {
      expect(parseAuditTime(bad), bad).toBeUndefined();
    }
    expect(() => normalizeAuditTime('tomorrow', '--to')).toThrow(expect.objectContaining({ code: 'INVALID_TIME', message: expect.stringContaining('--to') as unknown }));
  });
});

describe('audit report', () => {
  const log = new MemoryAuditLog();
  const admission = (participant: string, country: string, jurisdiction: string, role: string, at: string, outOfZone = false): Promise<unknown> =>
    log.append('bridge.admission', { participant, meeting: 'm1', datacenter: `${jurisdiction.toLowerCase()}-1`, jurisdiction, role, country, zone: 'z', outOfZone }, at);

  it('aggregates per UTC day and in total, deterministically', async () => {
    await log.append('manifest.changed', { version: 2, sha256: 'ab'.repeat(32), actor: 'alice', diff: {} }, '2024-02-29T23:00:00Z');
    await admission('p1', 'US', 'US', 'primary', '2024-03-01T10:00:00Z');
    await admission('p1', 'US', 'US', 'primary', '2024-03-01T11:00:00Z');
    await admission('p2', 'US', 'CN', 'secondary', '2024-03-01T12:00:00Z', true);
    await admission('p3', 'DE', 'DE', 'primary', '2024-03-02T00:00:00+01:00');
    await log.append('route.decision', { decisionId: 'd1', country: 'US', zone: 'na', policyVersion: 2, candidates: [{ datacenter: 'us-1', role: 'primary', jurisdiction: 'US' }, { datacenter: 'cn-1', role: 'secondary', jurisdiction: 'CN' }, { datacenter: 'us-2', role: 'secondary', jurisdiction: 'US' }] }, '2024-03-01T09:00:00Z');
    await log.append('route.decision', { decisionId: 'd2', country: 'US', zone: 'na', policyVersion: 2, candidates: [{ datacenter: 'us-1', role: 'primary', jurisdiction: 'US' }] }, '2024-03-02T09:00:00Z');
    await log.append('route.refusal', { country: 'CN', zone: 'cn', policyVersion: 2, code: 'NO_CAPACITY_IN_FENCE' }, '2024-03-02T09:00:00Z');
    await log.append('bridge.refusal', { datacenter: 'us-1', reason: 'TICKET_EXPIRED' }, '2024-03-02T09:00:00Z');
    await log.append('placement.claimed', { meeting: 'm1', datacenter: 'us-1', epoch: 1 }, '2024-03-01T09:00:00Z');
    await log.append('placement.rehomed', { meeting: 'm1', datacenter: 'us-2', epoch: 2, from: 'us-1' }, '2024-03-02T10:00:00Z');
    await log.append('admin.action', { actor: 'x\u001b[2Jy', action: 'a', target: 't' }, '2024-03-03T00:00:00Z');

    const report = buildAuditReport(await log.read(), { from: '2024-03-01', to: '2024-03-03' });
    expect(report.from).toBe('2024-03-01T00:00:00.000Z');
    expect(report.total.records.total).toBe(10);
    expect(report.total.connections.rows).toEqual([
      { country: 'DE', jurisdiction: 'DE', role: 'primary', connections: 1, participants: 1 },
      { country: 'US', jurisdiction: 'CN', role: 'secondary', connections: 1, participants: 1 },
      { country: 'US', jurisdiction: 'US', role: 'primary', connections: 2, participants: 1 },
    ]);
    expect(report.total.outOfZone).toEqual({ total: 1, rows: [{ country: 'US', zone: 'z', datacenter: 'cn-1', jurisdiction: 'CN', connections: 1, participants: 1 }] });
    expect(report.total.routeDecisions.rows).toEqual([{ country: 'US', decisions: 2, offered: [{ jurisdiction: 'CN', decisions: 1 }, { jurisdiction: 'US', decisions: 2 }] }]);
    expect(report.total.refusals.rows).toEqual([
      { type: 'bridge.refusal', code: 'TICKET_EXPIRED', count: 1 },
      { type: 'route.refusal', code: 'NO_CAPACITY_IN_FENCE', count: 1 },
    ]);
    expect(report.total.placements).toMatchObject({ claimed: 1, rehomed: 1, rehomes: [{ meeting: 'm1', from: 'us-1', to: 'us-2', epoch: '2' }] });
    expect(report.total.manifests.changed).toBe(0);
    expect(report.days.map((d) => [d.date, d.connections.total, d.records.total])).toEqual([
      ['2024-03-01', 4, 6],
      ['2024-03-02', 0, 4],
    ]);
    // Same records in another order: the same report.
    expect(buildAuditReport([...(await log.read())].reverse(), { from: '2024-03-01', to: '2024-03-03' })).toEqual(report);

    const text = renderAuditReportText(report);
    expect(text).toMatch(/US\s+CN\s+secondary\s+1\s+1/);
    expect(text).toContain('NO_CAPACITY_IN_FENCE');
    const html = renderAuditReportHtml(report);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/(src|href)=|<script|url\(/i);
  });

  it('escapes record fields in text and HTML', async () => {
    const evil = new MemoryAuditLog();
    await evil.append('bridge.admission', { participant: 'p', country: '<img src=x onerror=alert(1)>', jurisdiction: '"&\u001b[31m', role: 'primary' }, '2024-03-01');
    const report = buildAuditReport(await evil.read(), { from: '2024-03-01', to: '2024-03-02' });
    const html = renderAuditReportHtml(report);
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(renderAuditReportText(report)).not.toContain('\u001b');
  });

  it('counts rejected bridge messages the same from single records and from summaries', async () => {
    const mixed = new MemoryAuditLog();
    await mixed.append('bridge.rejected', { reason: 'BRIDGE_BAD_SIGNATURE' }, '2024-03-01T09:00:00Z');
    const counts = [
      { channel: '/v1/bridges/heartbeat', code: 'BRIDGE_BAD_SIGNATURE', count: 1200 },
      { channel: '/v1/bridges/presence', code: 'BRIDGE_BAD_SIGNATURE', count: 40 },
      { channel: '/v1/bridges/presence', code: 'BRIDGE_UNKNOWN', count: 3 },
      // What a report cannot trust, it does not count.
      { channel: '/v1/bridges/heartbeat', code: 'BRIDGE_STALE', count: -5 },
      'nonsense',
    ];
    await mixed.append('bridge.rejected.summary', { first: '2024-03-01T09:00:00Z', last: '2024-03-01T09:00:59Z', total: 1243, counts, datacenters: [], otherDatacenters: 0 }, '2024-03-01T09:01:00Z');
    const report = buildAuditReport(await mixed.read(), { from: '2024-03-01', to: '2024-03-02' });
    expect(report.total.refusals).toEqual({
      total: 1244,
      rows: [
        { type: 'bridge.rejected', code: 'BRIDGE_BAD_SIGNATURE', count: 1241 },
        { type: 'bridge.rejected', code: 'BRIDGE_UNKNOWN', count: 3 },
      ],
    });
    expect(report.total.records.byType).toEqual([
      { type: 'bridge.rejected', count: 1 },
      { type: 'bridge.rejected.summary', count: 1 },
    ]);
  });

  it('reports an empty range with empty tables and no chart', () => {
    const report = buildAuditReport([], { from: '2024-03-01', to: '2024-03-08' });
    expect(report.days).toEqual([]);
    expect(renderAuditReportText(report)).toContain('(none)');
    expect(renderAuditReportHtml(report)).toContain('No connections in this range.');
  });
});

/** The head of MerkleTree over the records' leaf entries: what every adapter's tree must be. */
/**
 * Two writer processes (append-race.fixture.ts, writers 'a' and 'b') on `file`, `count` records each: `before` runs
 * until they may go (it waits for what they print with `said`); both must then end well.
 */
async function raceWriters(file: string, count: number, before: (writers: { said: (line: string) => Promise<void> }) => Promise<void>): Promise<void> {
  const fixture = join(import.meta.dirname, 'append-race.fixture.ts');
  const children = ['a', 'b'].map((writer) => spawn(process.execPath, ['--import', 'tsx', fixture, file, String(count), writer], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] }));
  const timer = setTimeout(() => {
    for (const c of children) c.kill('SIGKILL');
  }, 40_000);
  try {
    const outputs = children.map((c) => {
      let out = '';
      let err = '';
      c.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      c.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const result = new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        c.on('close', (code) => {
          resolve({ code, out, err });
        });
      });
      return { printed: () => out, result };
    });
    const said = async (line: string): Promise<void> => {
      while (!outputs.every((o) => o.printed().includes(line)) && children.every((c) => c.exitCode === null)) await new Promise((r) => setTimeout(r, 20));
    };
    await before({ said });
    for (const c of children) c.stdin.end('go\n');
    for (const r of await Promise.all(outputs.map((o) => o.result))) expect(r, r.err).toMatchObject({ code: 0, out: 'opening\nready\ndone\n' });
  } finally {
    clearTimeout(timer);
  }
}

function referenceHead(records: readonly AuditRecord[]): TreeHead {
  const tree = new MerkleTree();
  for (const r of records) tree.append(leafEntry(r.hash));
  return tree.head();
}
