/**
 * `npm run bench -- route-http`: requests per second of the broker's
 * `POST /v1/route` over real HTTP on loopback — join-token verification, the
 * store reads, the decision, the Ed25519-signed route ticket and the fsynced
 * audit append — as a ratio to a Fastify hello-world route
 * (`GET /hello` → `{"ok":true}`) served by the same process, measured in the
 * same run with the same client:
 *
 *   ratio = routePerSec / helloPerSec        (goal: ≥ 0.5)
 *
 * The broker is `startBroker` on examples/world.yaml with SQLite files in a
 * temporary directory (`synchronous=FULL`, as in production), `dev: true` so
 * that requests name their country, and logging off (as on the hello
 * server). An account, one meeting and one join token per connection are
 * made through the HTTP API; each connection re-routes its participant over
 * and over (a join token stays valid for 10 minutes), from one of eight
 * countries.
 *
 * The client (bench/http-load.ts) runs in a child process: 16 keep-alive
 * connections, closed loop, 1 s of warm-up then 5 s measured, route and hello
 * alternately, 3 rounds; each figure is the median over the rounds.
 *
 * Each phase also reads this process's CPU time (`process.cpuUsage`: every
 * thread — event loop, libuv pool, audit writer — but not the client's
 * process) and divides it by the phase's 200 answers, warm-up included:
 * `routeCpuUsPerRequest` and `helloCpuUsPerRequest`, and their quotient
 * `cpuRatio` (issue 13's goal: ≤ 2.5). Throughput on a shared 2-CPU machine
 * moves with whatever else runs; CPU per request much less.
 *
 * Before timing, one route per country of the workload gives the answer's
 * size in bytes (`answerBytesMedian`, `answerBytesMax`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { verifyChain } from '../src/broker/audit/audit-log.js';
import { SqliteAuditLog } from '../src/broker/audit/sqlite-audit-log.js';
import type { ServeSettings } from '../src/broker/config.js';
import { startBroker } from '../src/broker/server.js';
import { openLoadClient, type LoadClient, type LoadResult } from './http-load.js';
import type { BenchOptions } from './harness.js';

const HOST = '127.0.0.1';
const CONNECTIONS = 16;
const ROUNDS = 3;
/** Countries the participants route from, one per connection in turn (zones of world.yaml). */
const COUNTRIES = ['US', 'DE', 'JP', 'BR', 'IN', 'GB', 'FR', 'AU'] as const;

/** One phase's load figures and this process's CPU time per 200 answer. */
interface PhaseResult extends LoadResult {
  readonly cpuUsPerRequest: number;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const warmupMs = opts.quick ? 300 : 1000;
  const durationMs = opts.quick ? 1000 : 5000;
  const dataDir = mkdtempSync(join(tmpdir(), 'geobridge-bench-route-'));
  const adminToken = randomBytes(24).toString('base64url');
  const settings: ServeSettings = {
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
  };
  const hello = Fastify({ logger: false });
  hello.get('/hello', () => Promise.resolve({ ok: true }));
  let broker: Awaited<ReturnType<typeof startBroker>> | undefined;
  let client: LoadClient | undefined;
  try {
    client = await openLoadClient();
    broker = await startBroker(settings, false);
    await hello.listen({ host: HOST, port: 0 });
    const helloAddress = hello.server.address();
    if (helloAddress === null || typeof helloAddress === 'string') throw new Error('the hello server has no port');
    const brokerPort = Number(new URL(broker.url).port);
    opts.log(`broker at ${broker.url} (data in ${dataDir}), hello at http://${HOST}:${helloAddress.port}`);

    const tokens = await joinTokens(broker.url, adminToken, CONNECTIONS);
    const routeRequests = tokens.map((token, i) => {
      const body = JSON.stringify({ country: COUNTRIES[i % COUNTRIES.length] });
      return rawRequest('POST', '/v1/route', brokerPort, { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body);
    });
    const helloRequests = Array.from({ length: CONNECTIONS }, () => rawRequest('GET', '/hello', helloAddress.port, {}));

    // What one answer weighs, for each country of the workload (these routes are audited too).
    const answerBytes: number[] = [];
    for (const [i, country] of COUNTRIES.entries()) {
      const res = await fetch(`${broker.url}/v1/route`, { method: 'POST', headers: { authorization: `Bearer ${tokens[i % tokens.length] ?? ''}`, 'content-type': 'application/json' }, body: JSON.stringify({ country }) });
      if (res.status !== 200) throw new Error(`POST /v1/route for ${country}: ${res.status} ${await res.text()}`);
      answerBytes.push(Buffer.byteLength(await res.text()));
    }
    opts.log(`route answers: ${answerBytes.join(', ')} bytes (${COUNTRIES.join(', ')})`);

    const route: PhaseResult[] = [];
    const helloRuns: PhaseResult[] = [];
    let routeOk = answerBytes.length;
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first, so that neither always follows the other.
      const order = r % 2 === 0 ? (['route', 'hello'] as const) : (['hello', 'route'] as const);
      for (const which of order) {
        const spec = { host: HOST, warmupMs, durationMs, ...(which === 'route' ? { port: brokerPort, requests: routeRequests } : { port: helloAddress.port, requests: helloRequests }) };
        const cpuBefore = process.cpuUsage();
        const result = await client.run(spec);
        const cpu = process.cpuUsage(cpuBefore);
        const cpuUsPerRequest = (cpu.user + cpu.system) / result.ok;
        const failed = Object.entries(result.failures);
        if (failed.length > 0) throw new Error(`${which}: responses other than 200: ${failed.map(([s, n]) => `${n} × ${s}`).join(', ')}; first: ${result.firstFailure ?? ''}`);
        if (which === 'route') {
          route.push({ ...result, cpuUsPerRequest });
          routeOk += result.ok;
        } else {
          helloRuns.push({ ...result, cpuUsPerRequest });
        }
        opts.log(
          `round ${r + 1}/${ROUNDS} ${which}: ${result.perSec.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ${cpuUsPerRequest.toFixed(0)} µs CPU/request (${result.completed} in ${durationMs} ms)`,
        );
      }
    }
    await broker.close();
    const audited = await checkAudit(join(dataDir, 'audit.sqlite'));
    if (audited !== routeOk) throw new Error(`the audit log holds ${audited} route decisions, but ${routeOk} route requests were answered 200`);
    opts.log(`audit log: ${audited} route decisions, chain verified`);

    const med = (results: readonly PhaseResult[], key: 'perSec' | 'p50Ms' | 'p99Ms' | 'cpuUsPerRequest'): number => opts.median(results.map((x) => x[key]));
    const routePerSec = med(route, 'perSec');
    const helloPerSec = med(helloRuns, 'perSec');
    return {
      ratio: routePerSec / helloPerSec,
      routePerSec,
      helloPerSec,
      routeP50Ms: med(route, 'p50Ms'),
      routeP99Ms: med(route, 'p99Ms'),
      helloP50Ms: med(helloRuns, 'p50Ms'),
      helloP99Ms: med(helloRuns, 'p99Ms'),
      routeCpuUsPerRequest: med(route, 'cpuUsPerRequest'),
      helloCpuUsPerRequest: med(helloRuns, 'cpuUsPerRequest'),
      cpuRatio: med(route, 'cpuUsPerRequest') / med(helloRuns, 'cpuUsPerRequest'),
      answerBytesMedian: opts.median(answerBytes),
      answerBytesMax: Math.max(...answerBytes),
      connections: CONNECTIONS,
      rounds: ROUNDS,
      windowSeconds: durationMs / 1000,
      auditedDecisions: audited,
    };
  } finally {
    client?.close();
    await broker?.close();
    await hello.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Creates an account and a meeting through the API, then `count` join tokens (one participant each). */
export async function joinTokens(url: string, adminToken: string, count: number): Promise<string[]> {
  const account = await post<{ apiKey: string }>(url, '/v1/accounts', adminToken, { name: 'Bench', homeCountry: 'US' });
  const meeting = await post<{ id: string }>(url, '/v1/meetings', account.apiKey, { title: 'Benchmark' });
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) tokens.push((await post<{ token: string }>(url, `/v1/meetings/${meeting.id}/join-tokens`, account.apiKey, { name: `participant ${i + 1}` })).token);
  return tokens;
}

async function post<T>(url: string, path: string, bearer: string, body: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** One HTTP/1.1 keep-alive request as the bytes to send. */
export function rawRequest(method: string, path: string, port: number, headers: Readonly<Record<string, string>>, body = ''): string {
  const lines = [`${method} ${path} HTTP/1.1`, `host: ${HOST}:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (method !== 'GET') lines.push(`content-length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Counts the route decisions in the audit log after the run and verifies its hash chain. */
export async function checkAudit(path: string): Promise<number> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM audit_log WHERE type = 'route.decision'").get();
    const log = SqliteAuditLog.open(path, { create: false });
    try {
      const check = verifyChain(await log.read());
      if (!check.ok) throw new Error(`the audit chain breaks at record ${check.seq}: ${check.reason}`);
    } finally {
      await log.close();
    }
    return row?.n ?? 0;
  } finally {
    db.close();
  }
}
