// The PostgreSQL audit log against a real server: the AuditLog contract, each log in a fresh schema,
// one chain and one tree from several brokers (separate pools) appending at once, how it fails
// when the server cannot be reached, and the read-only open (`create: false`) of the CLI.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { TEST_POSTGRES_URL, testSchemas } from '../pg-schemas.fixture.js';
import { MerkleTree } from '../../translog/index.js';
import { leafEntry, verifyChain } from './audit-log.js';
import { describeAuditContract } from './audit-contract.fixture.js';
import { PostgresStore } from '../store/postgres-store.js';
import { ephemeralLogKey } from '../log-key.js';
import { describeUrl } from '../pg.js';
import { AUDIT_SCHEMA_VERSION, CONNECT_TIMEOUT_MS, PostgresAuditLog } from './postgres-audit-log.js';
import { signTreeHead } from './tree-heads.js';
import { verifyLog } from './verify-log.js';

// Sized for a loaded 2-core machine running test files in parallel.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

const URL_ = TEST_POSTGRES_URL;
const newSchema = testSchemas('gb_audit');

/** Runs `sql` on `url` in a connection of its own. */
async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** `URL_` as another user or database, with startup `options` (e.g. `-c lock_timeout=…`). */
function urlWith(change: { user?: string; database?: string; options?: string }): string {
  const u = new URL(URL_);
  if (change.user !== undefined) u.username = change.user;
  if (change.database !== undefined) u.pathname = `/${change.database}`;
  if (change.options !== undefined) u.searchParams.set('options', change.options);
  return u.toString();
}

/** The tables of `schema` in the database of `url`. */
async function tablesOf(url: string, schema: string): Promise<string[]> {
  return (await sql<{ name: string }>(url, 'SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [schema])).map((r) => r.name);
}

/** The migration lock of the audit log ('gbaudit1'), held by a broker that is migrating. */
const MIGRATION_LOCK = '7449355746048407857';

describeAuditContract('postgres', () => PostgresAuditLog.open(URL_, { schema: newSchema() }));

describe('PostgresAuditLog', () => {
  it('chains the appends of 4 brokers (separate pools) on one schema into one line and one tree', async () => {
    const schema = newSchema();
    // Opened at once: the migration lock makes them create the tables once.
    const logs = await Promise.all(Array.from({ length: 4 }, () => PostgresAuditLog.open(URL_, { schema })));
    try {
      await Promise.all(
        logs.map(async (log, broker) => {
          // Some appends one by one, some queued into group commits, so transactions of every size interleave.
          for (let i = 0; i < 50; i += 5) {
            await Promise.all(Array.from({ length: 5 }, (_, k) => log.append('admin.action', { broker, i: i + k }, '2024-03-01T00:00:00Z')));
          }
        }),
      );
      const [reader, , , last] = logs;
      if (reader === undefined || last === undefined) throw new Error('four logs were opened');
      const records = await reader.read();
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(verifyChain(records)).toEqual({ ok: true, count: 200 });
      const reference = new MerkleTree();
      for (const r of records) reference.append(leafEntry(r.hash));
      for (const log of logs) expect(await log.treeHead()).toEqual(reference.head());
      expect(await last.treeHead(77)).toEqual(reference.head(77));
    } finally {
      await Promise.all(logs.map((log) => log.close()));
    }
  });

  it('commits in one statement while it knows the chain’s end from its own last commit, and under the lock once another broker appended', async () => {
    const schema = newSchema();
    const [a, b] = await Promise.all([PostgresAuditLog.open(URL_, { schema }), PostgresAuditLog.open(URL_, { schema })]);
    // Statements sent by any pg client of this process (the spy calls through), while only `a` or `b` works.
    const query = vi.spyOn(pg.Client.prototype, 'query');
    const counted = async (fn: () => Promise<unknown>): Promise<number> => {
      query.mockClear();
      await fn();
      return query.mock.calls.length;
    };
    try {
      // The first commit reads the end under the lock (BEGIN … COMMIT); the next ones assume it.
      expect(await counted(() => a.append('admin.action', { n: 1 }, '2024-03-01'))).toBeGreaterThan(3);
      expect(await counted(() => a.append('admin.action', { n: 2 }, '2024-03-01'))).toBe(1);
      expect(await counted(() => Promise.all([3, 4, 5].map((n) => a.append('admin.action', { n }, '2024-03-01'))))).toBe(1);
      // `b` appends: `a`'s next statement finds seq 7 taken, fails whole, and the batch goes under the lock.
      expect((await b.append('admin.action', { n: 6 }, '2024-03-01')).seq).toBe(6);
      const collided = await counted(() => a.append('admin.action', { n: 7 }, '2024-03-01'));
      expect(collided).toBeGreaterThan(4);
      // For a second after, `a` takes the lock at once rather than collide again.
      expect(await counted(() => a.append('admin.action', { n: 8 }, '2024-03-01'))).toBe(collided - 1);
      query.mockRestore();
      const records = await a.read();
      expect(records.map((r) => (r.data as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(verifyChain(records)).toEqual({ ok: true, count: 8 });
      const reference = new MerkleTree();
      for (const r of records) reference.append(leafEntry(r.hash));
      expect(await b.treeHead()).toEqual(reference.head());
    } finally {
      query.mockRestore();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('stores no node below level 4: roots and proofs of every size come from the records’ hashes, and equal the reference tree', async () => {
    const schema = newSchema();
    const log = await PostgresAuditLog.open(URL_, { schema });
    try {
      // Batches of several sizes, so that commits end on every kind of frontier.
      let n = 0;
      for (const size of [1, 3, 7, 2, 16, 1, 5, 2, 4]) await Promise.all(Array.from({ length: size }, () => log.append('admin.action', { n: ++n }, '2024-03-01')));
      const records = await log.read();
      expect(records).toHaveLength(41);
      const reference = new MerkleTree();
      for (const r of records) reference.append(leafEntry(r.hash));
      const q = pg.escapeIdentifier(schema);
      // Levels 4 and 5 only: 41 leaves hold two perfect subtrees of 16 and one of 32.
      expect(await sql(URL_, `SELECT level, idx FROM ${q}.translog_node ORDER BY level, idx`)).toEqual([
        { level: 4, idx: '0' },
        { level: 4, idx: '1' },
        { level: 5, idx: '0' },
      ]);
      for (let size = 1; size <= 41; size++) {
        expect(await log.treeHead(size)).toEqual(reference.head(size));
        for (const seq of new Set([1, Math.ceil(size / 2), size])) expect(await log.inclusionProof(seq, size)).toEqual(reference.inclusionProof(seq - 1, size));
        expect(await log.consistencyProof(Math.ceil(size / 3), size)).toEqual(reference.consistencyProof(Math.ceil(size / 3), size));
      }
      // A broker of an earlier version would still write the lower levels: its commit fails rather than land.
      await expect(sql(URL_, `INSERT INTO ${q}.translog_node (level, idx, hash) VALUES (0, 41, $1)`, [Buffer.alloc(32)])).rejects.toMatchObject({ code: '23514' });
      // A record's hash is a leaf: changing it outside geobridge changes the tree, which signed heads then contradict.
      await sql(URL_, `UPDATE ${q}.audit_log SET hash = $1 WHERE seq = 40`, ['0'.repeat(64)]);
      expect((await log.treeHead()).rootHash).not.toEqual(reference.head().rootHash);
      expect(await log.treeHead(32)).toEqual(reference.head(32));
    } finally {
      await log.close();
    }
  });

  it('migrates a log of schema 1, which stored every level: the rows below level 4 go, and the tree is the same', async () => {
    const schema = newSchema();
    const q = pg.escapeIdentifier(schema);
    const log = await PostgresAuditLog.open(URL_, { schema });
    const reference = new MerkleTree();
    const entries: Uint8Array[] = [];
    try {
      for (let n = 1; n <= 21; n++) entries.push(leafEntry((await log.append('admin.action', { n }, '2024-03-01')).hash));
    } finally {
      await log.close();
    }
    for (const entry of entries) reference.append(entry);
    // Back to schema 1, as a broker of that version left it: every perfect subtree stored, no CHECK.
    await sql(URL_, `ALTER TABLE ${q}.translog_node DROP CONSTRAINT translog_node_stored_level`);
    await sql(URL_, `DELETE FROM ${q}.audit_migrations WHERE version = 2`);
    const nodes: [level: number, idx: number, hash: Buffer][] = [];
    // Level 4 is stored already.
    for (let level = 0; level < 4; level++) {
      for (let idx = 0; (idx + 1) * 2 ** level <= 21; idx++) {
        const subtree = new MerkleTree();
        for (const entry of entries.slice(idx * 2 ** level, (idx + 1) * 2 ** level)) subtree.append(entry);
        nodes.push([level, idx, Buffer.from(subtree.head().rootHash)]);
      }
    }
    await sql(URL_, `INSERT INTO ${q}.translog_node (level, idx, hash) SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])`, [nodes.map((x) => x[0]), nodes.map((x) => x[1]), nodes.map((x) => x[2])]);
    expect((await sql<{ n: string }>(URL_, `SELECT count(*) AS n FROM ${q}.translog_node`))[0]?.n).toBe(String(21 * 2 - 3));
    const migrated = await PostgresAuditLog.open(URL_, { schema });
    try {
      expect(await sql(URL_, `SELECT level, idx FROM ${q}.translog_node ORDER BY level, idx`)).toEqual([{ level: 4, idx: '0' }]);
      expect(await sql(URL_, `SELECT max(version) AS v FROM ${q}.audit_migrations`)).toEqual([{ v: AUDIT_SCHEMA_VERSION }]);
      expect(await migrated.treeHead()).toEqual(reference.head());
      expect(await migrated.inclusionProof(5, 21)).toEqual(reference.inclusionProof(4, 21));
      reference.append(leafEntry((await migrated.append('admin.action', { n: 22 }, '2024-03-01')).hash));
      expect(await migrated.treeHead()).toEqual(reference.head());
    } finally {
      await migrated.close();
    }
  });

  it('shares a schema with a second log opened later, which continues the chain', async () => {
    const schema = newSchema();
    const first = await PostgresAuditLog.open(URL_, { schema });
    await first.append('admin.action', { n: 1 }, '2024-03-01');
    await first.close();
    const second = await PostgresAuditLog.open(URL_, { schema });
    try {
      const r = await second.append('admin.action', { n: 2 }, '2024-03-02');
      expect(r.seq).toBe(2);
      expect(verifyChain(await second.read())).toEqual({ ok: true, count: 2 });
      expect((await second.readType('admin.action')).map((x) => x.seq)).toEqual([1, 2]);
      expect(await second.readType('route.decision')).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('migrates beside the PostgreSQL store in one schema, each under its own lock and version table', async () => {
    const schema = newSchema();
    const store = await PostgresStore.open(URL_, { schema });
    const log = await PostgresAuditLog.open(URL_, { schema });
    try {
      await store.createAccount({ id: 'a1', name: 'A', homeCountry: 'US', apiKeyHash: 'h1', createdAt: '2024-03-01T00:00:00.000Z' });
      expect((await log.append('admin.action', { account: 'a1' }, '2024-03-01')).seq).toBe(1);
      expect(await store.getAccount('a1')).toBeDefined();
    } finally {
      await Promise.all([store.close(), log.close()]);
    }
    const client = new pg.Client({ connectionString: URL_ });
    await client.connect();
    try {
      const version = await client.query<{ v: number }>(`SELECT max(version) AS v FROM ${pg.escapeIdentifier(schema)}.audit_migrations`);
      expect(version.rows[0]?.v).toBe(AUDIT_SCHEMA_VERSION);
      // A schema migrated by a newer geobridge is refused, not misread.
      await client.query(`INSERT INTO ${pg.escapeIdentifier(schema)}.audit_migrations (version) VALUES ($1)`, [AUDIT_SCHEMA_VERSION + 1]);
    } finally {
      await client.end();
    }
    await expect(PostgresAuditLog.open(URL_, { schema })).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringContaining('upgrade geobridge') as unknown });
  });

  it('opens beside a PostgreSQL store opened at the same moment on a new schema, round after round', async () => {
    // Under their different locks both may find the schema missing and create it: the one that loses must open all the same.
    for (let round = 0; round < 10; round++) {
      const schema = newSchema();
      const opening = await Promise.allSettled([PostgresStore.open(URL_, { schema }), PostgresAuditLog.open(URL_, { schema })]);
      await Promise.all(opening.flatMap((o) => (o.status === 'fulfilled' ? [o.value.close()] : [])));
      expect(opening.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []))).toEqual([]);
    }
  });

  it('opens when another migration creates the schema at the same moment', async () => {
    const schema = newSchema();
    const other = new pg.Client({ connectionString: URL_ });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
      const opening = PostgresAuditLog.open(URL_, { schema });
      // Commit once the audit log's CREATE SCHEMA waits on ours, so it then finds the schema taken.
      for (let tries = 0; ; tries++) {
        if (tries === 1000) throw new Error('the audit log never waited on the schema being created');
        // Statistics are a snapshot per transaction, and this client is in one: take a fresh one each time.
        await other.query('SELECT pg_stat_clear_snapshot()');
        const waiting = await other.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", [`CREATE SCHEMA %${schema}%`]);
        if (waiting.rowCount !== 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await other.query('COMMIT');
      const log = await opening;
      try {
        expect((await log.append('admin.action', {}, '2024-03-01')).seq).toBe(1);
      } finally {
        await log.close();
      }
    } finally {
      await other.end();
    }
  });

  it('rejects an unreachable server with AUDIT_UNAVAILABLE at once, naming the server but not the password', async () => {
    const start = performance.now();
    const error: unknown = await PostgresAuditLog.open('postgres://postgres:s3cret@127.0.0.1:1/test', { schema: newSchema() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - start).toBeLessThan(CONNECT_TIMEOUT_MS);
    expect(error).toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    const message = error instanceof Error ? error.message : '';
    expect(message.includes('127.0.0.1:1') && !message.includes('s3cret')).toBe(true);
  });
});

describe('PostgresAuditLog.open with create: false', () => {
  it('refuses a missing schema with AUDIT_UNAVAILABLE and creates nothing: no schema, no version table', async () => {
    const schema = newSchema();
    const error: unknown = await PostgresAuditLog.open(URL_, { schema, create: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringContaining(`no audit log in ${describeUrl(URL_)}: `) as unknown });
    expect(await sql(URL_, 'SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).toEqual([]);
  });

  it('refuses an empty database with AUDIT_UNAVAILABLE and creates no table in it', async () => {
    const database = `gb_audit_ro_${String(process.pid)}_${randomBytes(4).toString('hex')}`;
    await sql(URL_, `CREATE DATABASE ${database}`);
    try {
      const url = urlWith({ database });
      const namespaces = async (): Promise<string[]> => (await sql<{ n: string }>(url, 'SELECT nspname AS n FROM pg_namespace ORDER BY nspname')).map((r) => r.n);
      const before = await namespaces();
      await expect(PostgresAuditLog.open(url, { create: false })).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringContaining(`no audit log in ${describeUrl(url)}: `) as unknown });
      expect(await sql(url, "SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")).toEqual([]);
      expect(await namespaces()).toEqual(before);
    } finally {
      await sql(URL_, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    }
  });

  it('reads what a writer wrote, as a role that may only read and while a broker holds the migration lock: the same records, tree and heads, and they verify', async () => {
    const schema = newSchema();
    const key = await ephemeralLogKey();
    const writer = await PostgresAuditLog.open(URL_, { schema });
    try {
      for (let i = 0; i < 5; i++) await writer.append('admin.action', { i }, `2024-03-0${String(i + 1)}`);
      await writer.saveTreeHead(signTreeHead(key, await writer.treeHead(3), 1_700_000_000_000));
      await writer.saveTreeHead(signTreeHead(key, await writer.treeHead(), 1_700_000_001_000));
    } finally {
      await writer.close();
    }
    const reader = `gb_test_reader_${randomBytes(4).toString('hex')}`;
    const q = pg.escapeIdentifier(schema);
    await sql(URL_, `CREATE ROLE ${reader} LOGIN`);
    const holder = new pg.Client({ connectionString: URL_ });
    await holder.connect();
    try {
      await sql(URL_, `GRANT USAGE ON SCHEMA ${q} TO ${reader}; GRANT SELECT ON ALL TABLES IN SCHEMA ${q} TO ${reader}`);
      // Held for the whole read: an open that migrated would wait on it, and give up after lock_timeout.
      await holder.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
      const log = await PostgresAuditLog.open(urlWith({ user: reader, options: '-c lock_timeout=2000' }), { schema, create: false });
      const admin = await PostgresAuditLog.open(URL_, { schema, create: false });
      try {
        const records = await log.read();
        expect(records).toEqual(await admin.read());
        expect(records.map((r) => r.data)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
        const heads = await log.treeHeads();
        expect(heads.map((h) => h.size)).toEqual([3, 5]);
        expect(await log.latestTreeHead()).toEqual(heads.at(-1));
        expect(verifyLog(records, { head: await log.treeHead(), heads }, key)).toMatchObject({ ok: true, count: 5, headsChecked: 2 });
      } finally {
        await Promise.all([log.close(), admin.close()]);
      }
    } finally {
      await holder.end();
      await sql(URL_, `DROP OWNED BY ${reader}; DROP ROLE ${reader}`);
    }
  });

  it('refuses a schema of another version, newer or older, with AUDIT_UNAVAILABLE, changing nothing', async () => {
    const schema = newSchema();
    await (await PostgresAuditLog.open(URL_, { schema })).close();
    const versions = `${pg.escapeIdentifier(schema)}.audit_migrations`;
    const recorded = async (): Promise<number[]> => (await sql<{ version: number }>(URL_, `SELECT version FROM ${versions} ORDER BY version`)).map((r) => r.version);

    await sql(URL_, `INSERT INTO ${versions} (version) VALUES ($1)`, [AUDIT_SCHEMA_VERSION + 1]);
    await expect(PostgresAuditLog.open(URL_, { schema, create: false })).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringContaining(`schema version ${String(AUDIT_SCHEMA_VERSION + 1)}, newer`) as unknown });

    // Older: as if a migration this geobridge knows had not run yet (the tables still exist, so only the version tells).
    await sql(URL_, `DELETE FROM ${versions} WHERE version >= $1`, [AUDIT_SCHEMA_VERSION]);
    const before = await recorded();
    await expect(PostgresAuditLog.open(URL_, { schema, create: false })).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringContaining(`schema version ${String(AUDIT_SCHEMA_VERSION - 1)}, older`) as unknown });
    expect(await recorded()).toEqual(before);
    expect(await tablesOf(URL_, schema)).toEqual(['audit_log', 'audit_migrations', 'translog_head', 'translog_node']);
  });
});
