/**
 * `npm run bench -- route-pg`: route-http's workload (the same client, 16
 * connections, the same requests and rounds) against brokers on PostgreSQL,
 * as ratios to the same workload on SQLite and on one broker, measured in the
 * same run:
 *
 *   pgRatio        = pgPerSec / sqlitePerSec      one broker, store and audit log on PostgreSQL vs on SQLite
 *   twoBrokerRatio = twoPerSec / pgPerSec         two brokers sharing the database and a Redis bus,
 *                                                 connections split half and half, vs one broker on PostgreSQL
 *   busRatio       = busPerSec / pgPerSec         one of those two brokers alone (with its bus) vs one broker on PostgreSQL
 *
 * All brokers are `startBroker` in this process (one event loop, as one
 * broker has), on examples/world.yaml, `dev: true`, logging off:
 *   - sqlite: SQLite store and audit log in a temporary directory (route-http's broker);
 *   - pg: `store` = a fresh database gb_bench_<random> (dropped at the end), no bus;
 *   - a and b: the same database and a Redis bus under a random prefix (its
 *     keys deleted at the end); a and b share pg's DATA/keys/log.pem, as
 *     brokers sharing one log must.
 * So "two brokers" here is two brokers' work on one event loop: on a 2-CPU
 * machine that also runs the client, PostgreSQL and Redis, it shows what a
 * second broker and the bus cost, not how brokers scale.
 *
 * Phases per round, each 1 s warm-up + 5 s measured (0.3 s + 1 s quick):
 * sqlite, pg, bus (a alone), two (a and b); each round starts one phase
 * later; 3 rounds; medians. Per phase: CPU µs per answered route of this
 * process (every broker's threads; not the client's), of the PostgreSQL and
 * Redis server processes (from /proc, all of them, so other users of the
 * servers count too), and the pg statements per route by pool (the store's
 * `geobridge`, the audit log's `geobridge-audit`): each is a round trip.
 *
 * Checks: any answer but 200 fails the run; afterwards the SQLite log and the
 * shared PostgreSQL log each hold exactly one route.decision per 200 answer
 * and their hash chains verify.
 *
 * Besides the ratios of the medians: each round's own quotients
 * (`…ByRound`), and the quotients of CPU per route in this process
 * (`…CpuRatio`) and in this process plus the servers (`…TotalCpuRatio`:
 * with PostgreSQL and Redis on the same machine, what bounds throughput).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyChain } from '../src/broker/audit/audit-log.js';
import { PostgresAuditLog } from '../src/broker/audit/postgres-audit-log.js';
import type { ServeSettings } from '../src/broker/config.js';
import { startBroker } from '../src/broker/server.js';
import type { BenchOptions } from './harness.js';
import { openLoadClient, type LoadClient, type LoadResult } from './http-load.js';
import { countPgQueries, serverCpuTicks, serverCpuUs, withFreshDatabase, withRedisPrefix } from './pg-bench.js';
import { checkAudit, joinTokens, rawRequest } from './route-http.js';

const HOST = '127.0.0.1';
const CONNECTIONS = 16;
const ROUNDS = 3;
const COUNTRIES = ['US', 'DE', 'JP', 'BR', 'IN', 'GB', 'FR', 'AU'] as const;
const PHASES = ['sqlite', 'pg', 'bus', 'two'] as const;
type Phase = (typeof PHASES)[number];
type Broker = Awaited<ReturnType<typeof startBroker>>;

interface PhaseResult extends LoadResult {
  readonly cpuUsPerRoute: number;
  readonly dbCpuUsPerRoute: number;
  readonly storeQueriesPerRoute: number;
  readonly auditQueriesPerRoute: number;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  return withFreshDatabase(opts.log, (dbUrl) => withRedisPrefix(opts.log, (busUrl, busPrefix) => measure(opts, dbUrl, busUrl, busPrefix)));
}

async function measure(opts: BenchOptions, dbUrl: string, busUrl: string, busPrefix: string): Promise<Record<string, unknown>> {
  const warmupMs = opts.quick ? 300 : 1000;
  const durationMs = opts.quick ? 1000 : 5000;
  const root = mkdtempSync(join(tmpdir(), 'geobridge-bench-route-pg-'));
  const adminToken = randomBytes(24).toString('base64url');
  const base = (dataDir: string): ServeSettings => ({
    manifestPath: fileURLToPath(new URL('../examples/world.yaml', import.meta.url)),
    host: HOST,
    port: 0,
    dataDir,
    dev: true,
    assumeBridgesUp: true,
    trustedProxies: [],
    bridgeKeysPath: undefined,
    geoipPath: undefined,
    issuer: `http://${HOST}`,
    adminToken,
    heartbeatTimeoutMs: 5000,
    routeTicketSeconds: 120,
    joinTokenSeconds: 600,
    placementReleaseMs: 30_000,
  });
  const dir = (name: string): string => join(root, name);
  const queries = countPgQueries();
  const brokers: Broker[] = [];
  let client: LoadClient | undefined;
  try {
    client = await openLoadClient();
    const sqlite = await startBroker(base(dir('sqlite')), false);
    brokers.push(sqlite);
    const pg = await startBroker({ ...base(dir('pg')), storeUrl: dbUrl }, false);
    brokers.push(pg);
    // Brokers sharing one log share its key: pg's, copied before they start.
    for (const name of ['a', 'b']) {
      mkdirSync(join(dir(name), 'keys'), { recursive: true, mode: 0o700 });
      chmodSync(dir(name), 0o700);
      copyFileSync(join(dir('pg'), 'keys', 'log.pem'), join(dir(name), 'keys', 'log.pem'));
      chmodSync(join(dir(name), 'keys', 'log.pem'), 0o600);
    }
    const cluster = { ...base(''), storeUrl: dbUrl, busUrl, busPrefix };
    const a = await startBroker({ ...cluster, dataDir: dir('a') }, false);
    brokers.push(a);
    const b = await startBroker({ ...cluster, dataDir: dir('b') }, false);
    brokers.push(b);
    const port = (broker: Broker): number => Number(new URL(broker.url).port);
    opts.log(`brokers: sqlite ${sqlite.url}, pg ${pg.url}, a ${a.url}, b ${b.url} (bus prefix ${busPrefix})`);

    // One account and meeting per store; the PostgreSQL brokers share theirs (tokens made by pg, verified by a and b through the store).
    const sqliteTokens = await joinTokens(sqlite.url, adminToken, CONNECTIONS);
    const pgTokens = await joinTokens(pg.url, adminToken, CONNECTIONS);
    const requests = (tokens: readonly string[], ports: readonly number[]): string[] =>
      tokens.map((token, i) => rawRequest('POST', '/v1/route', ports[i] ?? 0, { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, JSON.stringify({ country: COUNTRIES[i % COUNTRIES.length] })));
    const same = (broker: Broker): number[] => Array.from({ length: CONNECTIONS }, () => port(broker));
    const halves = Array.from({ length: CONNECTIONS }, (_, i) => port(i % 2 === 0 ? a : b));
    const specs: Readonly<Record<Phase, { ports: number[]; requests: string[] }>> = {
      sqlite: { ports: same(sqlite), requests: requests(sqliteTokens, same(sqlite)) },
      pg: { ports: same(pg), requests: requests(pgTokens, same(pg)) },
      bus: { ports: same(a), requests: requests(pgTokens, same(a)) },
      two: { ports: halves, requests: requests(pgTokens, halves) },
    };

    const results: Record<Phase, PhaseResult[]> = { sqlite: [], pg: [], bus: [], two: [] };
    const ok: Record<'sqlite' | 'pg', number> = { sqlite: 0, pg: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < PHASES.length; k++) {
        const phase = PHASES[(k + r) % PHASES.length] ?? 'sqlite';
        const spec = specs[phase];
        queries.take();
        const cpuBefore = process.cpuUsage();
        const dbBefore = serverCpuTicks();
        const result = await client.run({ host: HOST, port: spec.ports[0] ?? 0, ports: spec.ports, requests: spec.requests, warmupMs, durationMs });
        const cpu = process.cpuUsage(cpuBefore);
        const dbUs = serverCpuUs(dbBefore, serverCpuTicks());
        const counted = queries.take();
        const failed = Object.entries(result.failures);
        if (failed.length > 0) throw new Error(`${phase}: responses other than 200: ${failed.map(([s, n]) => `${n} × ${s}`).join(', ')}; first: ${result.firstFailure ?? ''}`);
        ok[phase === 'sqlite' ? 'sqlite' : 'pg'] += result.ok;
        const per = (n: number): number => n / result.ok;
        const phaseResult: PhaseResult = {
          ...result,
          cpuUsPerRoute: per(cpu.user + cpu.system),
          dbCpuUsPerRoute: per(dbUs),
          storeQueriesPerRoute: per(counted.geobridge ?? 0),
          auditQueriesPerRoute: per(counted['geobridge-audit'] ?? 0),
        };
        results[phase].push(phaseResult);
        opts.log(
          `round ${r + 1}/${ROUNDS} ${phase}: ${result.perSec.toFixed(0)} routes/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ` +
            `${phaseResult.cpuUsPerRoute.toFixed(0)} µs CPU/route + ${phaseResult.dbCpuUsPerRoute.toFixed(0)} µs servers, ` +
            `${phaseResult.storeQueriesPerRoute.toFixed(2)} store + ${phaseResult.auditQueriesPerRoute.toFixed(2)} audit statements/route`,
        );
      }
    }
    for (const broker of brokers.splice(0)) await broker.close();

    const sqliteAudited = await checkAudit(join(dir('sqlite'), 'audit.sqlite'));
    if (sqliteAudited !== ok.sqlite) throw new Error(`the SQLite audit log holds ${sqliteAudited} route decisions, but ${ok.sqlite} routes were answered 200`);
    const pgAudited = await checkPostgresAudit(dbUrl);
    if (pgAudited !== ok.pg) throw new Error(`the PostgreSQL audit log holds ${pgAudited} route decisions, but ${ok.pg} routes were answered 200`);
    opts.log(`audit logs: SQLite ${sqliteAudited}, PostgreSQL ${pgAudited} route decisions, chains verified`);

    const med = (phase: Phase, key: 'perSec' | 'p50Ms' | 'p99Ms' | 'cpuUsPerRoute' | 'dbCpuUsPerRoute' | 'storeQueriesPerRoute' | 'auditQueriesPerRoute'): number => opts.median(results[phase].map((x) => x[key]));
    const figures = (phase: Phase): Record<string, number> => ({
      perSec: med(phase, 'perSec'),
      p50Ms: med(phase, 'p50Ms'),
      p99Ms: med(phase, 'p99Ms'),
      cpuUsPerRoute: med(phase, 'cpuUsPerRoute'),
      serverCpuUsPerRoute: med(phase, 'dbCpuUsPerRoute'),
      storeQueriesPerRoute: med(phase, 'storeQueriesPerRoute'),
      auditQueriesPerRoute: med(phase, 'auditQueriesPerRoute'),
    });
    // Each round's own quotient: the phases of one round ran within seconds of each other, so these show how far load moved the medians.
    const byRound = (a: Phase, b: Phase): number[] => results[a].map((x, r) => x.perSec / (results[b][r]?.perSec ?? Number.NaN));
    const totalCpu = (phase: Phase): number => med(phase, 'cpuUsPerRoute') + med(phase, 'dbCpuUsPerRoute');
    return {
      pgRatio: med('pg', 'perSec') / med('sqlite', 'perSec'),
      twoBrokerRatio: med('two', 'perSec') / med('pg', 'perSec'),
      busRatio: med('bus', 'perSec') / med('pg', 'perSec'),
      pgRatioByRound: byRound('pg', 'sqlite'),
      twoBrokerRatioByRound: byRound('two', 'pg'),
      pgCpuRatio: med('pg', 'cpuUsPerRoute') / med('sqlite', 'cpuUsPerRoute'),
      twoBrokerCpuRatio: med('two', 'cpuUsPerRoute') / med('pg', 'cpuUsPerRoute'),
      pgTotalCpuRatio: totalCpu('pg') / totalCpu('sqlite'),
      twoBrokerTotalCpuRatio: totalCpu('two') / totalCpu('pg'),
      sqlite: figures('sqlite'),
      pg: figures('pg'),
      bus: figures('bus'),
      two: figures('two'),
      connections: CONNECTIONS,
      rounds: ROUNDS,
      windowSeconds: durationMs / 1000,
      auditedDecisions: { sqlite: sqliteAudited, pg: pgAudited },
    };
  } finally {
    client?.close();
    for (const broker of brokers) await broker.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/** Counts the route decisions in the shared PostgreSQL audit log and verifies its hash chain. */
async function checkPostgresAudit(url: string): Promise<number> {
  const log = await PostgresAuditLog.open(url, { create: false });
  try {
    const records = await log.read();
    const check = verifyChain(records);
    if (!check.ok) throw new Error(`the PostgreSQL audit chain breaks at record ${check.seq}: ${check.reason}`);
    return records.filter((r) => r.type === 'route.decision').length;
  } finally {
    await log.close();
  }
}
