// The ParticipantRows adapters: the contract against memory, SQLite and a real PostgreSQL server (each
// run in a fresh schema), and what only a record store's database can break: its audit log in the same
// SQLite file or PostgreSQL schema, migrations from several brokers at once, and adds of one participant
// from several brokers (separate pools) at once.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isGeobridgeError } from '../../core/errors.js';
import { PostgresAuditLog } from '../audit/postgres-audit-log.js';
import { SCHEMA_VERSION as AUDIT_SCHEMA_VERSION, SqliteAuditLog } from '../audit/sqlite-audit-log.js';
import { MemoryParticipantRows } from './memory-participant-rows.js';
import { describeParticipantRowsContract } from './participant-rows-contract.fixture.js';
import type { ParticipantRows } from './participant-rows.js';
import { PARTICIPANT_ROWS_VERSION as PG_VERSION, PostgresParticipantRows } from './postgres-participant-rows.js';
import { PARTICIPANT_ROWS_VERSION as SQLITE_VERSION, SqliteParticipantRows } from './sqlite-participant-rows.js';
import type { Participant } from './store.js';

// Sized for a loaded 2-core machine running test files in parallel.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const URL_ = process.env.GEOBRIDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'geobridge-rows-'));
let fileCount = 0;
const schemas: string[] = [];

/** A fresh database path in this suite's temp directory. */
function tempPath(): string {
  return join(dir, `records-${String(fileCount++)}.sqlite`);
}

/** A new, unique schema name, dropped after the suite. */
function newSchema(): string {
  const name = `gb_rows_${String(process.pid)}_${String(schemas.length)}_${randomBytes(4).toString('hex')}`;
  schemas.push(name);
  return name;
}

/** Runs `sql` in a connection of its own, outside any adapter. */
async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: URL_ });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const schema of schemas) await sql(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
});

describeParticipantRowsContract('memory', () => new MemoryParticipantRows());
describeParticipantRowsContract('sqlite :memory:', () => SqliteParticipantRows.open(':memory:'));
describeParticipantRowsContract('sqlite file', () => SqliteParticipantRows.open(tempPath()));
describeParticipantRowsContract('postgres', () => PostgresParticipantRows.open(URL_, { schema: newSchema() }));

const T0 = '2026-01-01T00:00:00.000Z';
const ROW: Participant = { id: 'p1', meetingId: 'm1', country: 'DE', plan: 'government', joinedAt: T0, datacenter: 'eu-central', session: 'dec-1' };

async function closeAll(closables: readonly { close(): Promise<void> }[]): Promise<void> {
  await Promise.all(closables.map((c) => c.close()));
}

/** The file's `PRAGMA user_version`: the audit log's schema version, which the rows must leave alone. */
function userVersion(path: string): unknown {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true });
  } finally {
    db.close();
  }
}

/** The error `open` throws or rejects with. */
async function openError(open: () => Promise<ParticipantRows> | ParticipantRows): Promise<unknown> {
  try {
    await (await open()).close();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('SqliteParticipantRows', () => {
  it.each([
    ['the audit log first', true],
    ['the rows first', false],
  ])('shares one file with the record store’s audit log, opened with %s, both kept across reopening', async (_, auditFirst) => {
    const path = tempPath();
    const openBoth = (): [SqliteAuditLog, SqliteParticipantRows] => {
      if (auditFirst) {
        const audit = SqliteAuditLog.open(path);
        return [audit, SqliteParticipantRows.open(path)];
      }
      const rows = SqliteParticipantRows.open(path);
      return [SqliteAuditLog.open(path), rows];
    };
    const [audit, rows] = openBoth();
    expect(userVersion(path)).toBe(AUDIT_SCHEMA_VERSION);
    await audit.append('store.opened', { store: 'eu' }, T0);
    await rows.addParticipant(ROW);
    await closeAll([audit, rows]);

    const [again, rowsAgain] = openBoth();
    try {
      expect((await again.read()).map((r) => r.data)).toEqual([{ store: 'eu' }]);
      expect((await again.treeHead()).size).toBe(1);
      expect(await rowsAgain.listParticipants('m1')).toStrictEqual([ROW]);
      await again.append('store.opened', { store: 'eu' }, T0);
      expect(await rowsAgain.removeParticipantsAt('eu-central')).toStrictEqual([ROW]);
    } finally {
      await closeAll([again, rowsAgain]);
    }
    expect(userVersion(path)).toBe(AUDIT_SCHEMA_VERSION);
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare<[], { version: number }>('SELECT version FROM participant_rows_version ORDER BY version').all().map((r) => r.version)).toEqual(
        Array.from({ length: SQLITE_VERSION }, (_, i) => i + 1),
      );
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('refuses rows migrated by a newer geobridge with STORE_UNAVAILABLE', async () => {
    const path = tempPath();
    await SqliteParticipantRows.open(path).close();
    // The rows keep their version in their own table: user_version is the audit log's.
    expect(userVersion(path)).toBe(0);
    const db = new Database(path);
    db.prepare("INSERT INTO participant_rows_version (version, applied_at) VALUES (?, 'later')").run(SQLITE_VERSION + 1);
    db.close();
    expect(await openError(() => SqliteParticipantRows.open(path))).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it.each([
    ['a directory that does not exist', () => join(dir, 'missing', 'records.sqlite')],
    [
      'a file that is not a SQLite database',
      () => {
        const file = tempPath();
        writeFileSync(file, 'x'.repeat(4096));
        return file;
      },
    ],
  ])('reports STORE_UNAVAILABLE for %s, naming the path', async (_, makePath) => {
    const path = makePath();
    const error = await openError(() => SqliteParticipantRows.open(path));
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(isGeobridgeError(error) && error.message.includes(path)).toBe(true);
  });
});

describe('PostgresParticipantRows', () => {
  it('shares one schema with the record store’s audit log, both migrating at once, both kept across reopening', async () => {
    const schema = newSchema();
    // Four brokers open the rows and two the log, all at once: each migrates once, under its own lock.
    const [audit, other, ...rows] = await Promise.all([
      PostgresAuditLog.open(URL_, { schema }),
      PostgresAuditLog.open(URL_, { schema }),
      ...Array.from({ length: 4 }, () => PostgresParticipantRows.open(URL_, { schema })),
    ]);
    try {
      await audit.append('store.opened', { store: 'eu' }, T0);
      await rows[0]?.addParticipant(ROW);
      expect(await rows[3]?.listParticipants('m1')).toStrictEqual([ROW]);
    } finally {
      await closeAll([audit, other, ...rows]);
    }
    const versions = await sql<{ version: number }>(`SELECT version FROM ${pg.escapeIdentifier(schema)}.participant_rows_migrations ORDER BY version`);
    expect(versions.map((r) => r.version)).toEqual(Array.from({ length: PG_VERSION }, (_, i) => i + 1));

    const [auditAgain, rowsAgain] = await Promise.all([PostgresAuditLog.open(URL_, { schema }), PostgresParticipantRows.open(URL_, { schema })]);
    try {
      expect((await auditAgain.read()).map((r) => r.data)).toEqual([{ store: 'eu' }]);
      expect(await rowsAgain.listParticipantsAt('eu-central')).toStrictEqual([ROW]);
    } finally {
      await closeAll([auditAgain, rowsAgain]);
    }
  });

  it('gives each of 20 adds of one participant from 4 brokers (separate pools) the row before it: one row remains, every other session returned once', async () => {
    const schema = newSchema();
    const brokers = await Promise.all(Array.from({ length: 4 }, () => PostgresParticipantRows.open(URL_, { schema })));
    try {
      const sessions = brokers.flatMap((_, i) => Array.from({ length: 5 }, (_, j) => `dec-${String(i)}-${String(j)}`));
      const replaced = await Promise.all(brokers.flatMap((broker, i) => sessions.slice(i * 5, i * 5 + 5).map((session) => broker.addParticipant({ ...ROW, session }))));
      const remaining = (await brokers[0]?.listParticipants('m1')) ?? [];
      expect(remaining).toHaveLength(1);
      expect(replaced.filter((r) => r === undefined)).toHaveLength(1);
      const returned = replaced.flatMap((r) => (r ? [r.session] : []));
      expect([...returned, remaining[0]?.session].sort()).toEqual([...sessions].sort());
    } finally {
      await closeAll(brokers);
    }
  });

  it('keys and join times sort by code point whatever the database’s locale (COLLATE "C")', async () => {
    const schema = newSchema();
    await (await PostgresParticipantRows.open(URL_, { schema })).close();
    const columns = await sql<{ column_name: string; collation_name: string | null }>(
      "SELECT column_name, collation_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'participant_rows' AND column_name IN ('meeting_id', 'id', 'joined_at') ORDER BY column_name",
      [schema],
    );
    expect(columns).toEqual(['id', 'joined_at', 'meeting_id'].map((column_name) => ({ column_name, collation_name: 'C' })));
  });

  it('refuses rows migrated by a newer geobridge with STORE_UNAVAILABLE', async () => {
    const schema = newSchema();
    await (await PostgresParticipantRows.open(URL_, { schema })).close();
    await sql(`INSERT INTO ${pg.escapeIdentifier(schema)}.participant_rows_migrations (version) VALUES ($1)`, [PG_VERSION + 1]);
    expect(await openError(() => PostgresParticipantRows.open(URL_, { schema }))).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('rejects an unreachable server with STORE_UNAVAILABLE, naming the URL but not its password', async () => {
    const error = await openError(() => PostgresParticipantRows.open('postgres://postgres:s3cret@127.0.0.1:1/test', { schema: newSchema() }));
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    const message = error instanceof Error ? error.message : '';
    expect(message.includes('127.0.0.1:1') && !message.includes('s3cret')).toBe(true);
  });
});
