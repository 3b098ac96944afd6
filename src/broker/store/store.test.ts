import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { isGeobridgeError } from '../../core/errors.js';
import { MemoryStore } from './memory-store.js';
import { SCHEMA_VERSION, SqliteStore } from './sqlite-store.js';
import type { ClaimResult } from './store.js';
import { describeStoreContract } from './store-contract.fixture.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const FIXTURE = join(import.meta.dirname, 'claim-race.fixture.ts');
const dir = mkdtempSync(join(tmpdir(), 'geobridge-store-'));
let fileCount = 0;

/** A fresh database path in this suite's temp directory. */
function tempPath(): string {
  return join(dir, `store-${String(fileCount++)}.db`);
}

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describeStoreContract('memory', () => new MemoryStore());
describeStoreContract('sqlite :memory:', () => SqliteStore.open(':memory:'));
describeStoreContract('sqlite file', () => SqliteStore.open(tempPath()));

/** Runs SqliteStore.open and returns the error it throws. */
function openError(path: string): unknown {
  try {
    SqliteStore.open(path).close().catch(() => undefined);
  } catch (error) {
    return error;
  }
  return undefined;
}

interface Claimant {
  /** True once the child has opened the store; false if it exited first. */
  readonly ready: Promise<boolean>;
  readonly exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  go(): void;
  kill(): void;
}

/** Starts one claim-race.fixture.ts child; it is killed after 20 s whatever happens. */
function startClaimant(path: string, meetingId: string, datacenter: string, at: string): Claimant {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, path, meetingId, datacenter, at], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  const ready = new Promise<boolean>((resolve) => {
    child.stdout.on('data', () => {
      if (stdout.includes('ready\n')) resolve(true);
    });
    void exited.then(() => {
      resolve(false);
    });
  });
  return {
    ready,
    exited,
    go: () => child.stdin.end('go\n'),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

describe('SqliteStore', () => {
  it('keeps data across close and reopen', async () => {
    const path = tempPath();
    const first = SqliteStore.open(path);
    await first.createAccount({ id: 'a1', name: 'Acme', homeCountry: 'US', plan: 'government', allowedJurisdictions: ['DE'], apiKeyHash: 'h1', createdAt: '2026-01-01T00:00:00.000Z' });
    await first.createMeeting({ id: 'm1', accountId: 'a1', title: 'Board', createdAt: '2026-01-01T00:00:01.000Z' });
    await first.claimPlacement('m1', 'fra1', 0, '2026-01-01T00:00:02.000Z');
    await first.addParticipant({ id: 'p1', meetingId: 'm1', country: 'DE', joinedAt: '2026-01-01T00:00:03.000Z', datacenter: 'fra1', session: 'dec-1' });
    await first.saveManifest('version: 1', 'sha', 'admin', '2026-01-01T00:00:04.000Z');
    await first.saveSigningKey({ kid: 'k1', publicJwk: { x: 'x' }, createdAt: '2026-01-01T00:00:05.000Z' });
    await first.close();

    const again = SqliteStore.open(path);
    try {
      expect(await again.getAccount('a1')).toStrictEqual({ id: 'a1', name: 'Acme', homeCountry: 'US', plan: 'government', allowedJurisdictions: ['DE'], apiKeyHash: 'h1', createdAt: '2026-01-01T00:00:00.000Z' });
      expect((await again.listLiveMeetings()).map((m) => m.id)).toEqual(['m1']);
      expect(await again.getPlacement('m1')).toStrictEqual({ meetingId: 'm1', datacenter: 'fra1', epoch: 1, since: '2026-01-01T00:00:02.000Z' });
      expect((await again.listParticipants('m1')).map((p) => p.id)).toEqual(['p1']);
      expect((await again.latestManifest())?.version).toBe(1);
      expect((await again.saveManifest('version: 1', 'sha2', 'admin', '2026-01-01T00:00:06.000Z')).version).toBe(2);
      expect((await again.listSigningKeys()).map((k) => k.kid)).toEqual(['k1']);
    } finally {
      await again.close();
    }
  });

  it('records the schema version and runs in WAL mode', async () => {
    const path = tempPath();
    await SqliteStore.open(path).close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare('SELECT max(version) AS v FROM schema_version').get()).toEqual({ v: SCHEMA_VERSION });
      expect(SCHEMA_VERSION).toBe(6);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('upgrades a version-1 database in place: participants of an older broker keep their rows, with no datacenter or session', async () => {
    const path = tempPath();
    const v1 = new Database(path);
    v1.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT');
    v1.exec(`CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, home_country TEXT NOT NULL, plan TEXT, allowed_jurisdictions TEXT, api_key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL) STRICT;
      CREATE TABLE meetings (id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts (id), title TEXT NOT NULL, created_at TEXT NOT NULL, allowed_jurisdictions TEXT, ended_at TEXT, ended_reason TEXT) STRICT;
      CREATE TABLE placements (meeting_id TEXT PRIMARY KEY REFERENCES meetings (id), datacenter TEXT NOT NULL, epoch INTEGER NOT NULL, since TEXT NOT NULL) STRICT;
      CREATE TABLE participants (meeting_id TEXT NOT NULL REFERENCES meetings (id), id TEXT NOT NULL, country TEXT NOT NULL, plan TEXT, joined_at TEXT NOT NULL, PRIMARY KEY (meeting_id, id)) STRICT;
      CREATE TABLE manifests (version INTEGER PRIMARY KEY, text TEXT NOT NULL, sha256 TEXT NOT NULL, created_at TEXT NOT NULL, actor TEXT NOT NULL) STRICT;
      CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, public_jwk TEXT NOT NULL, private_jwk TEXT NOT NULL, created_at TEXT NOT NULL, retired_at TEXT) STRICT;
      INSERT INTO schema_version VALUES (1, 'then');
      INSERT INTO accounts VALUES ('a1', 'Acme', 'US', NULL, NULL, 'h1', 'then');
      INSERT INTO meetings VALUES ('m1', 'a1', 'Standup', 'then', NULL, NULL, NULL);
      INSERT INTO participants VALUES ('m1', 'p1', 'US', NULL, 'then');`);
    v1.close();
    const store = SqliteStore.open(path);
    try {
      expect(await store.listParticipants('m1')).toStrictEqual([{ id: 'p1', meetingId: 'm1', country: 'US', joinedAt: 'then', datacenter: '', session: '' }]);
      // Its accounts start counting policy revisions from the upgrade.
      expect((await store.getAccount('a1'))?.policyRevision).toBeUndefined();
      expect((await store.updateAccountPolicy('a1', { allowedJurisdictions: ['US'] })).policyRevision).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('refuses a database written by a newer schema with STORE_UNAVAILABLE', async () => {
    const path = tempPath();
    await SqliteStore.open(path).close();
    const db = new Database(path);
    db.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, 'later')").run(SCHEMA_VERSION + 1);
    db.close();
    expect(openError(path)).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it.each([
    ['a directory that does not exist', () => join(dir, 'missing', 'store.db')],
    [
      'a path below a regular file',
      () => {
        const file = join(dir, `plain-${String(fileCount++)}`);
        writeFileSync(file, 'not a directory');
        return join(file, 'store.db');
      },
    ],
    [
      'a file that is not a SQLite database',
      () => {
        const file = tempPath();
        writeFileSync(file, 'x'.repeat(4096));
        return file;
      },
    ],
  ])('reports STORE_UNAVAILABLE for %s, naming the path', (_, makePath) => {
    const path = makePath();
    const error = openError(path);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    // The operator needs the path to fix it; this checks the content the brief requires, not the wording.
    expect(isGeobridgeError(error) && error.message.includes(path)).toBe(true);
  });

  it('reads what another connection committed at once, though it keeps the rows it read (data_version)', async () => {
    const path = tempPath();
    const broker = SqliteStore.open(path);
    const other = SqliteStore.open(path);
    try {
      await broker.createAccount({ id: 'a1', name: 'Acme', homeCountry: 'US', apiKeyHash: 'h1', createdAt: '2026-01-01T00:00:00.000Z' });
      await broker.createMeeting({ id: 'm1', accountId: 'a1', title: 'Board', createdAt: '2026-01-01T00:00:01.000Z' });
      // Read twice, so that the rows (and the missing placement) are cached.
      for (let i = 0; i < 2; i++) {
        expect(await broker.getPlacement('m1')).toBeUndefined();
        expect((await broker.getMeeting('m1'))?.endedAt).toBeUndefined();
        expect((await broker.getAccount('a1'))?.allowedJurisdictions).toBeUndefined();
        expect(await broker.getMeetingContext('m1')).toMatchObject({ meeting: { id: 'm1' }, account: { id: 'a1' }, placement: undefined });
      }
      await other.claimPlacement('m1', 'fra1', 0, '2026-01-01T00:00:02.000Z');
      // The route's read (the three rows, one version check) sees it first, then the single reads.
      expect((await broker.getMeetingContext('m1'))?.placement?.datacenter).toBe('fra1');
      expect(await broker.getPlacement('m1')).toStrictEqual({ meetingId: 'm1', datacenter: 'fra1', epoch: 1, since: '2026-01-01T00:00:02.000Z' });
      await other.updateAccountPolicy('a1', { plan: 'government', allowedJurisdictions: ['DE'] });
      expect((await broker.getMeetingContext('m1'))?.account).toMatchObject({ plan: 'government', allowedJurisdictions: ['DE'] });
      expect(await broker.getAccount('a1')).toMatchObject({ plan: 'government', allowedJurisdictions: ['DE'] });
      await other.endMeeting('m1', '2026-01-01T00:00:03.000Z', 'host');
      expect((await broker.getMeetingContext('m1'))?.meeting.endedAt).toBe('2026-01-01T00:00:03.000Z');
      expect(await broker.getMeeting('m1')).toMatchObject({ endedAt: '2026-01-01T00:00:03.000Z', endedReason: 'host' });
      // And its own writes, which data_version does not count.
      await broker.claimPlacement('m1', 'ams1', 1, '2026-01-01T00:00:04.000Z');
      expect((await broker.getPlacement('m1'))?.datacenter).toBe('ams1');
      expect((await other.getPlacement('m1'))?.datacenter).toBe('ams1');
    } finally {
      await broker.close();
      await other.close();
    }
  });

  it('reads a placement claimed by another process at once', async () => {
    const path = tempPath();
    const broker = SqliteStore.open(path);
    const claimant = startClaimant(path, 'm1', 'fra1', '2026-01-01T00:00:02.000Z');
    try {
      await broker.createAccount({ id: 'a1', name: 'Acme', homeCountry: 'US', apiKeyHash: 'h1', createdAt: '2026-01-01T00:00:00.000Z' });
      await broker.createMeeting({ id: 'm1', accountId: 'a1', title: 'Board', createdAt: '2026-01-01T00:00:01.000Z' });
      expect(await broker.getPlacement('m1')).toBeUndefined();
      expect(await claimant.ready).toBe(true);
      claimant.go();
      const exit = await claimant.exited;
      expect(exit.code, exit.stderr).toBe(0);
      expect(await broker.getPlacement('m1')).toStrictEqual({ meetingId: 'm1', datacenter: 'fra1', epoch: 1, since: '2026-01-01T00:00:02.000Z' });
    } finally {
      claimant.kill();
      await broker.close();
    }
  });

  it('lets exactly one of 4 processes win the first claim on a shared file', async () => {
    const path = tempPath();
    const setup = SqliteStore.open(path);
    await setup.createAccount({ id: 'a1', name: 'Acme', homeCountry: 'US', apiKeyHash: 'h1', createdAt: '2026-01-01T00:00:00.000Z' });
    await setup.createMeeting({ id: 'm1', accountId: 'a1', title: 'Race', createdAt: '2026-01-01T00:00:00.000Z' });
    await setup.close();

    const claimants = [0, 1, 2, 3].map((i) => startClaimant(path, 'm1', `dc${String(i)}`, `2026-01-01T00:00:0${String(i)}.000Z`));
    try {
      expect(await Promise.all(claimants.map((c) => c.ready))).toEqual([true, true, true, true]);
      for (const c of claimants) c.go();
      const exits = await Promise.all(claimants.map((c) => c.exited));
      for (const e of exits) expect(e.code, e.stderr).toBe(0);
      const results = exits.map((e) => JSON.parse(e.stdout.trim().split('\n').at(-1) ?? '') as ClaimResult);

      expect(results.filter((r) => r.won)).toHaveLength(1);
      const check = SqliteStore.open(path);
      const inForce = await check.getPlacement('m1');
      await check.close();
      expect(inForce?.epoch).toBe(1);
      for (const r of results) expect(r.placement).toStrictEqual(inForce);
    } finally {
      for (const c of claimants) c.kill();
    }
  });
});
