/**
 * A bridge given two brokers of one deployment (one PostgreSQL database, a
 * fresh one per run, and one Redis prefix, both deleted after) fails over:
 * present on A, it moves to B when A closes, and within a bounded time B
 * counts it live and routes to it.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBridgeIdentity } from '../src/broker/attestation.js';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { startBridge, type RunningBridge } from '../src/bridge/server.js';
import { startTcpProxy } from '../src/node/tcp-proxy.fixture.js';
import { SIGNALLING_SUBPROTOCOL } from '../src/protocol/signalling.js';
import { newChallenge } from '../src/sdk/bridge-proof.js';
import { adminSql, databaseUrl, deleteRedisKeys, onDatabase, REDIS_URL, uniqueName } from './services.fixture.js';

const WORLD = fileURLToPath(new URL('../examples/world.yaml', import.meta.url));
const REDIS = REDIS_URL;
const database = uniqueName('failover');
const prefix = uniqueName('failover_bus');
const store = databaseUrl(database);
const adminToken = randomBytes(24).toString('base64url');
/** Its participants are bare signalling sockets that never bring a media path up: the bridge's 30 s for that must not end them. */
const RAW_SOCKETS_MS = 600_000;
/** Sized for a loaded 2-core machine: A's loss seen, the channel moved, a heartbeat on B. */
const FAILOVER_WITHIN_MS = 15_000;

const dirs: string[] = [];
/** The second test's deployment: a database and a bus of its own (its brokers have their own log key). */
const dropDatabase = `${database}_drop`;
const dropStore = databaseUrl(dropDatabase);
const dropPrefix = `${prefix}_drop`;
beforeAll(async () => {
  await adminSql(`CREATE DATABASE ${database}`);
  await adminSql(`CREATE DATABASE ${dropDatabase}`);
});
afterAll(async () => {
  await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await adminSql(`DROP DATABASE IF EXISTS ${dropDatabase} WITH (FORCE)`);
  await deleteRedisKeys(prefix);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `geobridge-${name}-`));
  dirs.push(dir);
  return dir;
}

/** A broker of the deployment, with bridges counted down until they report (as in production). */
function broker(dataDir: string, bridgeKeys: string, storeUrl = store, busPrefix = prefix): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings(
    { manifest: WORLD, data: dataDir, dev: true, listen: '127.0.0.1:0', store: storeUrl, bus: REDIS, busPrefix, bridgeKeys, heartbeatTimeoutMs: '3000' },
    { GEOBRIDGE_ADMIN_TOKEN: adminToken },
  );
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker({ ...settings, assumeBridgesUp: false }, false);
}

async function post(base: string, path: string, token: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(new URL(path, base), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** What the bridge at `url` first answers to a join with `ticket`: `admitted`, or `refused` with a code. */
function presented(url: string, ticket: string): Promise<{ type: string; code?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, SIGNALLING_SUBPROTOCOL);
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ type: 'nothing' });
    }, 10_000);
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() }));
    });
    ws.on('message', (data: Buffer) => {
      clearTimeout(timer);
      ws.close();
      resolve(JSON.parse(data.toString('utf8')) as { type: string; code?: string });
    });
    ws.on('error', () => undefined);
  });
}

/** Polls `check` until it holds or `ms` pass; answers whether it held. */
async function within(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a bridge with two brokers on one store and bus', () => {
  it('moves from A to B when A closes: B counts it live and routes to it', async () => {
    const identity = await generateBridgeIdentity();
    const keysDir = tempDir('keys');
    const bridgeKeys = join(keysDir, 'bridge-keys.yaml');
    writeFileSync(bridgeKeys, `us-east: ${identity.publicKey}\n`);
    const dataA = tempDir('broker-a');
    const dataB = tempDir('broker-b');
    const a = await broker(dataA, bridgeKeys);
    let b: RunningBroker | undefined;
    let bridge: RunningBridge | undefined;
    const logs: Record<string, unknown>[] = [];
    try {
      // One log, one log key: B signs heads with A's.
      mkdirSync(join(dataB, 'keys'), { recursive: true, mode: 0o700 });
      copyFileSync(join(dataA, 'keys', 'log.pem'), join(dataB, 'keys', 'log.pem'));
      b = await broker(dataB, bridgeKeys);
      const brokerB = b;

      const account = await post(brokerB.url, '/v1/accounts', adminToken, { name: 'Failover', homeCountry: 'US' });
      expect(account.status).toBe(201);
      const apiKey = String(account.json.apiKey);
      const meeting = String((await post(brokerB.url, '/v1/meetings', apiKey, { title: 'failover' })).json.id);
      let lastTicket = '';
      /** The live bridges a route via `base` offers a US participant (200), or undefined. */
      const routed = async (base: string): Promise<Record<string, string> | undefined> => {
        const token = String((await post(base, `/v1/meetings/${meeting}/join-tokens`, apiKey, { name: 'Probe' })).json.token);
        const route = await post(base, '/v1/route', token, { country: 'US' });
        if (route.status !== 200) return undefined;
        lastTicket = String(route.json.ticket);
        return route.json.bridges as Record<string, string>;
      };

      bridge = await startBridge({
        datacenter: 'us-east',
        broker: [a.url, brokerB.url],
        privateJwk: identity.privateJwk,
        host: '127.0.0.1',
        port: 0,
        media: { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 },
        heartbeatMs: 300,
        drainMs: 1000,
        connectTimeoutMs: RAW_SOCKETS_MS,
        log: (line) => logs.push(line),
      });
      const running = bridge;
      const status = async (): Promise<string> => ((await (await fetch(running.url.replace(/^ws/, 'http'))).json()) as { status: string }).status;
      expect(running.broker).toBe(a.url);
      expect(await within(5000, async () => (await status()) === 'ok' && (await routed(a.url))?.['us-east'] === running.url)).toBe(true);

      const closedAt = performance.now();
      await a.close();
      const readyB = async (): Promise<number> => ((await (await fetch(new URL('/readyz', brokerB.url))).json()) as { liveBridges: number }).liveBridges;
      const movedOver = await within(FAILOVER_WITHIN_MS, async () => running.broker === brokerB.url && (await status()) === 'ok' && (await readyB()) >= 1 && (await routed(brokerB.url))?.['us-east'] === running.url);
      const tookMs = performance.now() - closedAt;
      expect(movedOver, `after ${Math.round(tookMs)} ms: ${JSON.stringify(logs.slice(-8))}`).toBe(true);
      const moves = logs.filter((l) => l.msg === 'moving to another broker');
      expect(moves.length).toBeGreaterThanOrEqual(1);
      expect(moves[0]).toMatchObject({ from: a.url, to: brokerB.url });
      // And it stays there: heartbeats keep being accepted.
      const failures = (): number => logs.filter((l) => l.msg === 'heartbeat failed').length;
      const failedBefore = failures();
      await new Promise((r) => setTimeout(r, 1000));
      expect(failures()).toBe(failedBefore);
      expect((await routed(brokerB.url))?.['us-east']).toBe(running.url);
      expect(await presented(running.url, lastTicket)).toMatchObject({ type: 'admitted' });

      // B's new key, which no JWKS the bridge fetched from A had: it takes B's (B's `keys` command makes it refetch).
      const rotated = await post(brokerB.url, '/v1/admin/keys/rotate', adminToken, {});
      expect(rotated.status).toBe(200);
      expect(await routed(brokerB.url)).toBeDefined();
      expect(await within(5000, async () => (await presented(running.url, lastTicket)).type === 'admitted')).toBe(true);
    } finally {
      await bridge?.close();
      await b?.close();
      await a.close();
    }
  }, 60_000);
});

describe('a network drop between a bridge and its broker', () => {
  it('moves the bridge to B, and A does not drop its participants when the grace is over: the bridge is present elsewhere', async () => {
    const identity = await generateBridgeIdentity();
    const keysDir = tempDir('keys');
    const bridgeKeys = join(keysDir, 'bridge-keys.yaml');
    writeFileSync(bridgeKeys, `us-east: ${identity.publicKey}\n`);
    const dataA = tempDir('broker-a');
    const dataB = tempDir('broker-b');
    const a = await broker(dataA, bridgeKeys, dropStore, dropPrefix);
    const cleanups: (() => Promise<unknown>)[] = [() => a.close()];
    try {
      mkdirSync(join(dataB, 'keys'), { recursive: true, mode: 0o700 });
      copyFileSync(join(dataA, 'keys', 'log.pem'), join(dataB, 'keys', 'log.pem'));
      const b = await broker(dataB, bridgeKeys, dropStore, dropPrefix);
      cleanups.push(() => b.close());
      const toA = await startTcpProxy('127.0.0.1', Number(new URL(a.url).port));
      cleanups.push(() => toA.close());
      const viaProxy = `http://127.0.0.1:${String(toA.port)}`;
      const apiKey = String((await post(b.url, '/v1/accounts', adminToken, { name: 'Drop', homeCountry: 'US' })).json.apiKey);
      const meeting = String((await post(b.url, '/v1/meetings', apiKey, { title: 'drop' })).json.id);
      // The bridge keeps forwarding for 8 s without a channel: longer than a move to B takes on a loaded machine,
      // so only A's own timer (8 s + its margin) could drop the participant.
      const bridge = await startBridge({ datacenter: 'us-east', broker: [viaProxy, b.url], privateJwk: identity.privateJwk, host: '127.0.0.1', port: 0, media: { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 }, heartbeatMs: 300, drainMs: 1000, controlGraceMs: 8000, connectTimeoutMs: RAW_SOCKETS_MS });
      cleanups.push(() => bridge.close());
      expect(await within(10_000, async () => bridge.broker === viaProxy && ((await (await fetch(new URL('/readyz', b.url))).json()) as { liveBridges: number }).liveBridges === 1)).toBe(true);
      const token = String((await post(b.url, `/v1/meetings/${meeting}/join-tokens`, apiKey, { name: 'Stays' })).json.token);
      const ticket = String((await post(b.url, '/v1/route', token, { country: 'US' })).json.ticket);
      // A participant who stays connected to the bridge throughout.
      const participant = new WebSocket(bridge.url, SIGNALLING_SUBPROTOCOL);
      cleanups.push(() => {
        participant.close();
        return Promise.resolve();
      });
      const admitted = new Promise<string>((resolve) => {
        participant.on('message', (data: Buffer) => {
          resolve((JSON.parse(data.toString('utf8')) as { type: string }).type);
        });
      });
      participant.on('open', () => {
        participant.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() }));
      });
      participant.on('error', () => undefined);
      expect(await admitted).toBe('admitted');
      const members = (): Promise<number> => onDatabase(dropStore, async (client) => (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM participants WHERE meeting_id = $1', [meeting])).rows[0]?.n ?? 0);
      expect(await within(5000, async () => (await members()) === 1)).toBe(true);

      await toA.cut();
      expect(await within(FAILOVER_WITHIN_MS, () => Promise.resolve(bridge.broker === b.url))).toBe(true);
      // A's timer for the lost presence fires 8 s + 2 s after the cut; wait past it.
      await new Promise((r) => setTimeout(r, 11_000));
      expect(await members()).toBe(1);
    } finally {
      for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
    }
  }, 90_000);
});
