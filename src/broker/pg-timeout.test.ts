// The PostgreSQL adapters behind a partition that drops packets without a reset (a proxy that keeps
// the TCP connections open and forwards nothing): a statement on a warm pooled connection fails with
// the adapter's unavailable code within its deadline instead of hanging, the connection it ran on
// is closed rather than pooled again, and once packets flow the same adapter works, not reopened.
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { verifyChain } from './audit/audit-log.js';
import { PostgresAuditLog } from './audit/postgres-audit-log.js';
import { PostgresStore } from './store/postgres-store.js';
import { TEST_POSTGRES_URL, testSchemas } from './pg-schemas.fixture.js';

// Sized for a loaded 2-core machine running test files in parallel.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const URL_ = TEST_POSTGRES_URL;
/** The adapters' statement deadline in these tests (QUERY_TIMEOUT_MS is 5 s). */
const TIMEOUT_MS = 1500;
/** One deadline, with room for a loaded machine's timers, and less than two: a ROLLBACK sent after the timeout would wait a second one. */
const WITHIN_MS = TIMEOUT_MS * 1.8;
const T0 = '2026-01-01T00:00:00.000Z';
const newSchema = testSchemas('gb_timeout');

/** A proxy to the test server; while `blackhole(true)`, it drops what either side sends and keeps the connections open. */
interface BlackholeProxy {
  readonly url: string;
  blackhole(on: boolean): void;
  close(): Promise<void>;
}

async function startBlackholeProxy(): Promise<BlackholeProxy> {
  const target = new URL(URL_);
  const sockets = new Set<Socket>();
  let hole = false;
  const track = (socket: Socket): Socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    return socket;
  };
  const server = createServer((client) => {
    const upstream = track(connect(Number(target.port || 5432), target.hostname));
    track(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    // Dropped, not held: a connection that spoke during the partition is out of step for good, as after a real one.
    client.on('data', (d: Buffer) => hole || upstream.write(d));
    upstream.on('data', (d: Buffer) => hole || client.write(d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(URL_);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as { port: number }).port);
  return {
    url: url.href,
    blackhole: (on) => {
      hole = on;
    },
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** How `work` settled, and how long it took. */
async function timed(work: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  try {
    await work;
    return { error: undefined, ms: performance.now() - start };
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
}

describe('a partition without a reset', () => {
  it('fails the store’s statements and transactions on warm connections with STORE_UNAVAILABLE within the deadline; after it, the store works', async () => {
    const proxy = await startBlackholeProxy();
    const store = await PostgresStore.open(proxy.url, { schema: newSchema(), queryTimeoutMs: TIMEOUT_MS });
    try {
      await store.createAccount({ id: 'a1', name: 'Acme', homeCountry: 'DE', apiKeyHash: 'h1', createdAt: T0 });
      await store.createMeeting({ id: 'm1', accountId: 'a1', title: 'Board', createdAt: T0 });
      // Several connections at once, so that the pool holds idle, connected ones when packets stop.
      await Promise.all(Array.from({ length: 4 }, () => store.getAccount('a1')));
      proxy.blackhole(true);

      const read = await timed(store.getAccount('a1'));
      expect(read.error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(read.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(read.ms).toBeLessThan(WITHIN_MS);
      const claim = await timed(store.claimPlacement('m1', 'fra1', 0, T0));
      expect(claim.error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(claim.ms).toBeLessThan(WITHIN_MS);

      proxy.blackhole(false);
      // Every connection the pool hands out now answers: the two that timed out were closed, not pooled again.
      const after = await timed(Promise.all(Array.from({ length: 10 }, () => store.getAccount('a1'))));
      expect(after.error).toBeUndefined();
      expect((await store.claimPlacement('m1', 'fra1', 0, T0)).won).toBe(true);
      expect((await store.getPlacement('m1'))?.datacenter).toBe('fra1');
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('fails the audit log’s appends (both commit paths) and reads with AUDIT_UNAVAILABLE within the deadline, landing nothing; after it, appends chain on', async () => {
    const proxy = await startBlackholeProxy();
    const log = await PostgresAuditLog.open(proxy.url, { schema: newSchema(), queryTimeoutMs: TIMEOUT_MS });
    try {
      await log.append('store.opened', { n: 1 }, T0);
      await Promise.all(Array.from({ length: 4 }, () => log.read({ from: 1, to: 1 })));
      proxy.blackhole(true);

      // The first append knows the tail and goes in one statement on the pool; the second, the tail now unknown, in a locked transaction.
      for (const n of [2, 3]) {
        const append = await timed(log.append('store.opened', { n }, T0));
        expect(append.error).toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
        expect(append.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
        expect(append.ms).toBeLessThan(WITHIN_MS);
      }
      const read = await timed(log.read({ from: 1, to: 1 }));
      expect(read.error).toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
      expect(read.ms).toBeLessThan(WITHIN_MS);

      proxy.blackhole(false);
      expect((await log.append('store.opened', { n: 4 }, T0)).seq).toBe(2);
      const records = await log.read();
      expect(records.map((r) => r.data.n)).toEqual([1, 4]);
      expect(verifyChain(records)).toEqual({ ok: true, count: 2 });
    } finally {
      await log.close();
      await proxy.close();
    }
  });
});
