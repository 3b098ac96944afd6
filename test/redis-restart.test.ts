/**
 * Redis holds nothing that cannot be rebuilt (issue 15): two brokers on one
 * PostgreSQL database and a Redis server of this test's own (a child
 * process on a free port, so it can be killed and started again empty),
 * a real bridge present on broker A, the brokers' heartbeat timeout a
 * minute. Redis killed: both brokers fail closed. Redis started again,
 * empty: within 5 s both are ready, broker B counts the bridge live again
 * (from what is heard anew, not from before the outage) and routes to it,
 * and a manifest applied on B reaches the bridge on A.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBridgeIdentity } from '../src/broker/attestation.js';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { startBridge, type RunningBridge } from '../src/bridge/server.js';
import { eventually, freePort, freshDatabase } from './services.fixture.js';

const WORLD = fileURLToPath(new URL('../examples/world.yaml', import.meta.url));
const REDIS_SERVER = process.env.GEOBRIDGE_TEST_REDIS_SERVER ?? 'redis-server';
const ADMIN = 'redis-restart-admin-token-0123456789';
let storeUrl = '';
const root = mkdtempSync(join(tmpdir(), 'geobridge-redis-restart-'));
const cleanups: (() => Promise<unknown>)[] = [];
const bridgeLog: Readonly<Record<string, unknown>>[] = [];
let port = 0;
let redis: ChildProcess | undefined;
let a: RunningBroker;
let b: RunningBroker;
let bridge: RunningBridge;

/** Starts an empty Redis on `port` and waits until it answers. */
async function startRedis(): Promise<void> {
  redis = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = new Redis(`redis://127.0.0.1:${String(port)}`, { lazyConnect: true, retryStrategy: () => null });
  probe.on('error', () => undefined);
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch {
      if (performance.now() > deadline) throw new Error(`redis-server did not answer on port ${String(port)}`);
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  probe.disconnect();
}

async function killRedis(): Promise<void> {
  const child = redis;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

function startOn(name: string): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings(
    { manifest: WORLD, data: join(root, name), dev: true, listen: '127.0.0.1:0', store: storeUrl, bus: `redis://127.0.0.1:${String(port)}`, bridgeKeys: join(root, 'bridge-keys.yaml'), heartbeatTimeoutMs: '60000' },
    { GEOBRIDGE_ADMIN_TOKEN: ADMIN },
  );
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker({ ...settings, assumeBridgesUp: false }, false);
}

async function readyz(broker: RunningBroker): Promise<{ status: number; liveBridges?: number }> {
  const res = await fetch(new URL('/readyz', broker.url));
  const json = (await res.json()) as { liveBridges?: number };
  return { status: res.status, ...(json.liveBridges === undefined ? {} : { liveBridges: json.liveBridges }) };
}

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  cleanups.push(() => killRedis());
  const database = await freshDatabase('redis_restart');
  storeUrl = database.url;
  cleanups.push(() => database.drop());
  const identity = await generateBridgeIdentity();
  writeFileSync(join(root, 'bridge-keys.yaml'), `us-east: ${identity.publicKey}\n`);
  a = await startOn('a');
  cleanups.push(() => a.close());
  mkdirSync(join(root, 'b', 'keys'), { recursive: true, mode: 0o700 });
  copyFileSync(join(root, 'a', 'keys', 'log.pem'), join(root, 'b', 'keys', 'log.pem'));
  b = await startOn('b');
  cleanups.push(() => b.close());
  bridge = await startBridge({
    datacenter: 'us-east',
    broker: a.url,
    privateJwk: identity.privateJwk,
    host: '127.0.0.1',
    port: 0,
    media: { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 },
    heartbeatMs: 300,
    drainMs: 1000,
    log: (line) => {
      bridgeLog.push(line);
    },
  });
  cleanups.push(() => bridge.close());
}, 60_000);

afterAll(async () => {
  for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('Redis killed and started again, empty', () => {
  it('both brokers fail closed meanwhile; after, within 5 s, B counts the bridge on A live again, routes to it, and a manifest applied on B reaches it', async () => {
    await eventually('us-east live on B', async () => (await readyz(b)).liveBridges === 1, 15_000);
    await killRedis();
    await eventually('both brokers not ready', async () => (await readyz(a)).status === 503 && (await readyz(b)).status === 503, 15_000);

    await startRedis();
    const rebuiltMs = await eventually('B ready and counting us-east live', async () => {
      const state = await readyz(b);
      return state.status === 200 && state.liveBridges === 1;
    }, 5000);
    expect(rebuiltMs).toBeLessThan(5000);
    expect((await readyz(a)).status).toBe(200);

    const apiKey = ((await (await fetch(new URL('/v1/accounts', a.url), { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'After', homeCountry: 'US' }) })).json()) as { apiKey: string }).apiKey;
    const meeting = ((await (await fetch(new URL('/v1/meetings', b.url), { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'after the restart' }) })).json()) as { id: string }).id;
    const token = ((await (await fetch(new URL(`/v1/meetings/${meeting}/join-tokens`, b.url), { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Probe' }) })).json()) as { token: string }).token;
    const route = await fetch(new URL('/v1/route', b.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ country: 'US' }) });
    expect(route.status).toBe(200);
    expect(((await route.json()) as { bridges: Record<string, string> }).bridges).toEqual({ 'us-east': bridge.url });

    const put = await fetch(new URL('/v1/manifest', b.url), { method: 'PUT', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/yaml' }, body: `${readFileSync(WORLD, 'utf8')}\n# after the Redis restart\n` });
    expect(put.status).toBe(200);
    const version = ((await put.json()) as { version: number }).version;
    await eventually('the bridge on A has the new manifest', () => bridgeLog.some((l) => l.msg === 'policy in force' && l.version === version), 10_000);
  }, 90_000);

  it('a bridge lost while Redis was away is down on B afterwards, though its last report there is younger than the heartbeat timeout', async () => {
    await eventually('us-east live on B', async () => (await readyz(b)).liveBridges === 1, 15_000);
    await killRedis();
    await eventually('B not ready', async () => (await readyz(b)).status === 503, 15_000);
    // A sees the bridge go, but cannot tell B.
    await bridge.close();
    await startRedis();
    await eventually('B ready again', async () => (await readyz(b)).status === 200, 10_000);
    expect((await readyz(b)).liveBridges).toBe(0);
  }, 90_000);
});
