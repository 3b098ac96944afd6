// The PostgreSQL adapter against a real server: the Store contract, each test in a fresh schema, and the
// properties that only a shared server can break (concurrent migrations, claims and manifest saves
// from separate pools), and how it fails when the server cannot be reached.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { TEST_POSTGRES_URL, testSchemas } from '../pg-schemas.fixture.js';
import { CONNECT_TIMEOUT_MS, PostgresStore, SCHEMA_VERSION } from './postgres-store.js';
import { startTcpProxy, type TcpProxy } from '../../node/tcp-proxy.fixture.js';
import { describeStoreContract } from './store-contract.fixture.js';

// Sized for a loaded 2-core machine running test files in parallel.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const URL_ = TEST_POSTGRES_URL;
const newSchema = testSchemas('gb_test');

/** Runs `fn` on a client of its own, outside any store. */
async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: URL_ });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}


describeStoreContract('postgres', () => PostgresStore.open(URL_, { schema: newSchema() }));

/** Opens `n` stores, each with its own pool, on one schema. */
function openMany(n: number, schema: string): Promise<PostgresStore[]> {
  return Promise.all(Array.from({ length: n }, () => PostgresStore.open(URL_, { schema })));
}

async function closeAll(stores: readonly PostgresStore[]): Promise<void> {
  await Promise.all(stores.map((s) => s.close()));
}

/** Opens a store and returns the error it rejects with, and how long that took. */
async function openError(url: string): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  try {
    await (await PostgresStore.open(url, { schema: newSchema() })).close();
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
  return { error: undefined, ms: performance.now() - start };
}

const T0 = '2026-01-01T00:00:00.000Z';

/** A TCP proxy to the test server that a test can cut and restore; `url` reaches the server through it. */
async function startProxy(): Promise<TcpProxy & { url: string }> {
  const target = new URL(URL_);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  const url = new URL(URL_);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return Object.assign(proxy, { url: url.href });
}

describe('PostgresStore', () => {
  it.each([
    ['a schema that does not exist yet', false],
    ['an empty schema an operator created', true],
  ])('migrates %s once when four brokers open it at once, and they share it', async (_, precreate) => {
    const schema = newSchema();
    if (precreate) await withClient((c) => c.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`));
    const stores = await openMany(4, schema);
    try {
      const versions = await withClient(async (c) => (await c.query<{ version: number }>(`SELECT version FROM ${pg.escapeIdentifier(schema)}.schema_migrations ORDER BY version`)).rows);
      expect(versions.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
      await stores[0]?.createAccount({ id: 'a1', name: 'Acme', homeCountry: 'DE', apiKeyHash: 'h1', createdAt: T0 });
      expect((await stores[3]?.getAccount('a1'))?.name).toBe('Acme');
    } finally {
      await closeAll(stores);
    }
  });

  it('keeps data across close and reopen, and refuses a schema written by a newer geobridge with STORE_UNAVAILABLE', async () => {
    const schema = newSchema();
    const first = await PostgresStore.open(URL_, { schema });
    await first.saveManifest('version: 1', 'sha', 'admin', T0);
    await first.close();
    const again = await PostgresStore.open(URL_, { schema });
    try {
      expect((await again.saveManifest('version: 1', 'sha2', 'admin', T0)).version).toBe(2);
    } finally {
      await again.close();
    }
    await withClient((c) => c.query(`INSERT INTO ${pg.escapeIdentifier(schema)}.schema_migrations (version) VALUES ($1)`, [SCHEMA_VERSION + 1]));
    await expect(PostgresStore.open(URL_, { schema })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('quotes the schema name: one with quotes, spaces and a backslash holds the tables', async () => {
    const schema = newSchema(' "odd" \\ name');
    const store = await PostgresStore.open(URL_, { schema });
    try {
      await store.saveManifest('text', 'sha', 'admin', T0);
      const tables = await withClient(async (c) => (await c.query<{ n: string }>('SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1', [schema])).rows[0]?.n);
      expect(Number(tables)).toBe(7);
      expect((await store.latestManifest())?.text).toBe('text');
    } finally {
      await store.close();
    }
  });

  it('lets exactly one of 8 brokers (separate pools) win the first claim; all report the winner’s placement', async () => {
    const schema = newSchema();
    const stores = await openMany(8, schema);
    try {
      await stores[0]?.createAccount({ id: 'a1', name: 'Acme', homeCountry: 'DE', apiKeyHash: 'h1', createdAt: T0 });
      await stores[0]?.createMeeting({ id: 'm1', accountId: 'a1', title: 'Race', createdAt: T0 });
      const results = await Promise.all(stores.map((s, i) => s.claimPlacement('m1', `dc${String(i)}`, 0, T0)));
      expect(results.filter((r) => r.won)).toHaveLength(1);
      const inForce = await stores[0]?.getPlacement('m1');
      expect(inForce?.epoch).toBe(1);
      for (const r of results) expect(r.placement).toStrictEqual(inForce);
    } finally {
      await closeAll(stores);
    }
  });

  it('numbers manifests saved at once by 4 brokers 1..20, without gaps or duplicates', async () => {
    const schema = newSchema();
    const stores = await openMany(4, schema);
    try {
      const saved = await Promise.all(stores.flatMap((s, i) => Array.from({ length: 5 }, (_, j) => s.saveManifest(`m${String(i)}-${String(j)}`, 'sha', `admin${String(i)}`, T0))));
      const expected = Array.from({ length: 20 }, (_, i) => i + 1);
      expect(saved.map((m) => m.version).sort((x, y) => x - y)).toEqual(expected);
      expect((await stores[0]?.listManifests())?.map((m) => m.version)).toEqual(expected);
    } finally {
      await closeAll(stores);
    }
  });

  it('answers STORE_UNAVAILABLE while the server is unreachable, and works again once it is back', async () => {
    const proxy = await startProxy();
    const store = await PostgresStore.open(proxy.url, { schema: newSchema() });
    try {
      await store.createAccount({ id: 'a1', name: 'Acme', homeCountry: 'DE', apiKeyHash: 'h1', createdAt: T0 });
      await store.createMeeting({ id: 'm1', accountId: 'a1', title: 'Board', createdAt: T0 });
      // The pooled connections die as in a server crash. The pause lets the idle ones notice while idle: the pool then emits
      // 'error', which would crash the run if the store did not listen (a shorter pause only makes that check weaker).
      await proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await expect(store.getAccount('a1')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await expect(store.claimPlacement('m1', 'fra1', 0, T0)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await expect(store.saveManifest('text', 'sha', 'admin', T0)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await proxy.restore();
      expect((await store.claimPlacement('m1', 'fra1', 0, T0)).won).toBe(true);
      expect((await store.getAccount('a1'))?.id).toBe('a1');
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('rejects an unreachable server (connection refused) with STORE_UNAVAILABLE at once, naming the URL but not its password', async () => {
    const { error, ms } = await openError('postgres://postgres:s3cret@127.0.0.1:1/test');
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(ms).toBeLessThan(CONNECT_TIMEOUT_MS);
    const message = error instanceof Error ? error.message : '';
    expect(message.includes('127.0.0.1:1') && !message.includes('s3cret')).toBe(true);
  });

  it('gives up on a server that accepts but never answers after the connect timeout, with STORE_UNAVAILABLE', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const { error, ms } = await openError(`postgres://postgres@127.0.0.1:${String(port)}/test`);
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(ms).toBeLessThan(CONNECT_TIMEOUT_MS + 5000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('refuses a URL whose own options would replace the search_path, with STORE_UNAVAILABLE', async () => {
    expect((await openError(`${URL_}?options=-c%20search_path%3Dpublic`)).error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});
