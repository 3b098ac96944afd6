/**
 * What the PostgreSQL and Redis benchmarks (route-pg, audit-pg, claim-pg)
 * share: a fresh database for the run, dropped at the end even when the run
 * fails; a random Redis key prefix whose keys are deleted at the end; and a
 * count of the statements pg sends, by the pool's application_name, to say
 * what an operation costs in round trips.
 *
 * The servers: GEOBRIDGE_BENCH_POSTGRES (default
 * postgres://postgres@127.0.0.1:5432/test, a database the bench connects to
 * only to create and drop its own) and GEOBRIDGE_BENCH_REDIS (default
 * redis://127.0.0.1:6379).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';

/** The PostgreSQL server to create the run's database on, from the environment. */
export function adminPostgresUrl(): string {
  return process.env.GEOBRIDGE_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** The Redis server for the bus, from the environment. */
export function benchRedisUrl(): string {
  return process.env.GEOBRIDGE_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
}

/** Runs `fn` with the URL of a fresh database `gb_bench_<random>`, then drops it (WITH (FORCE)), whatever `fn` did. */
export async function withFreshDatabase<T>(log: (message: string) => void, fn: (url: string) => Promise<T>): Promise<T> {
  const admin = adminPostgresUrl();
  const name = `gb_bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(admin, `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  log(`database ${name} created`);
  try {
    return await fn(url.href);
  } finally {
    await adminQuery(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    log(`database ${name} dropped`);
  }
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Runs `fn` with a random bus prefix, then deletes every Redis key under it. */
export async function withRedisPrefix<T>(log: (message: string) => void, fn: (url: string, prefix: string) => Promise<T>): Promise<T> {
  const url = benchRedisUrl();
  const prefix = `gb-bench-${randomBytes(6).toString('hex')}`;
  try {
    return await fn(url, prefix);
  } finally {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let deleted = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) deleted += await redis.del(...keys);
      } while (cursor !== '0');
      log(`redis prefix ${prefix}: ${deleted} keys deleted`);
    } finally {
      redis.disconnect();
    }
  }
}

/** Statements sent by pg clients of this process, by application_name, since `install` or the last `take`. */
export interface QueryCounter {
  /** The counts so far, reset to zero. */
  take(): Record<string, number>;
}

let counts: Record<string, number> | undefined;

/**
 * Counts every `Client.query` of pg in this process (the pools' included), by
 * the client's application_name: one statement is one round trip to the
 * server. Installed once; the wrapper only counts.
 */
export function countPgQueries(): QueryCounter {
  if (counts === undefined) {
    counts = {};
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = proto.query;
    proto.query = function (this: { connectionParameters?: { application_name?: string } }, ...args: unknown[]) {
      const name = this.connectionParameters?.application_name ?? '';
      if (counts !== undefined) counts[name] = (counts[name] ?? 0) + 1;
      return original.apply(this, args);
    };
  }
  return {
    take: () => {
      const taken = { ...counts };
      counts = {};
      return taken;
    },
  };
}

/** CPU ticks (user + system, in 1/100 s: USER_HZ on Linux) of every PostgreSQL and Redis server process visible in /proc, by pid. */
export function serverCpuTicks(): Map<number, number> {
  const ticks = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return ticks;
  }
  for (const pid of pids) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (!comm.startsWith('postgres') && !comm.startsWith('redis-server')) continue;
      // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(Number(pid), Number(fields[11]) + Number(fields[12]));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return ticks;
}

/** Microseconds of server CPU between two `serverCpuTicks` snapshots (processes that ended in between are lost; new ones count whole). */
export function serverCpuUs(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return ticks * 10_000;
}
