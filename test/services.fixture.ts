/**
 * The real servers the multi-node tests use (PostgreSQL at 127.0.0.1:5432,
 * Redis at 127.0.0.1:6379, as `.ci/run` starts them; GEOBRIDGE_TEST_POSTGRES
 * and GEOBRIDGE_TEST_REDIS point elsewhere), and what those tests share:
 * a fresh database per test file, dropped after; Redis keys under a prefix
 * of the test's own, deleted after; a free port; polling with a deadline.
 */
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';

export const PG_SERVER = process.env.GEOBRIDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.GEOBRIDGE_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/** A name no other test run (or file) uses: `gb_<what>_<pid>_<time>`. */
export function uniqueName(what: string): string {
  return `gb_${what}_${String(process.pid)}_${Date.now().toString(36)}`;
}

/** Runs `sql` on the server's own database (CREATE/DROP DATABASE cannot run inside the one they name). */
export async function adminSql(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_SERVER });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The URL of database `name` on the test server. */
export function databaseUrl(name: string): string {
  const u = new URL(PG_SERVER);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh database (`uniqueName(what)`) and how to drop it, whoever still holds connections to it. */
export async function freshDatabase(what: string): Promise<{ readonly name: string; readonly url: string; drop(): Promise<void> }> {
  const name = uniqueName(what);
  await adminSql(`CREATE DATABASE ${name}`);
  return { name, url: databaseUrl(name), drop: () => adminSql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Runs `query` on database `url` with a client of its own. */
export async function onDatabase<T>(url: string, query: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await query(client);
  } finally {
    await client.end();
  }
}

/** Deletes the keys under `prefix` (a test's bus prefix) from the test Redis. */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** Polls `check` (a throw counts as not yet) until it holds; answers how long that took, or throws naming `what` after `ms`. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, ms: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return performance.now() - start;
    if (performance.now() - start > ms) throw new Error(`${what}: not within ${String(ms)} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
