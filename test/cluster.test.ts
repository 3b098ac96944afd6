/**
 * Two brokers of one deployment, on a fresh PostgreSQL database and a Redis
 * prefix of their own, with a real bridge present on broker A only. The
 * heartbeat timeout is a minute, so whatever broker B learns within seconds
 * it learned through the bus: the bridge up and down, a manifest applied on
 * B reaching the bridge on A, A's join tokens and B's tickets accepted on
 * the other side, a heartbeat A accepted refused at B as a replay, B failing
 * closed while its Redis is away and catching up after, and one audit log
 * that verifies with both brokers' records in it.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JWK } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBridgeIdentity } from '../src/broker/attestation.js';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { startBridge, type RunningBridge } from '../src/bridge/server.js';
import { RedisBus } from '../src/broker/bus/redis-bus.js';
import { startTcpProxy, type TcpProxy } from '../src/node/tcp-proxy.fixture.js';
import { signBridgeMessage } from '../src/protocol/bridge-message.js';
import { SIGNALLING_SUBPROTOCOL } from '../src/protocol/signalling.js';
import { newChallenge } from '../src/sdk/bridge-proof.js';
import { runCli } from './run-cli.fixture.js';
import { deleteRedisKeys, eventually, freshDatabase, onDatabase, REDIS_URL, uniqueName } from './services.fixture.js';

const WORLD = fileURLToPath(new URL('../examples/world.yaml', import.meta.url));
const ADMIN = 'cluster-test-admin-token-0123456789';
const prefix = uniqueName('cluster');
let storeUrl = '';

const root = mkdtempSync(join(tmpdir(), 'geobridge-cluster-'));
let a: RunningBroker;
let b: RunningBroker;
let bridge: RunningBridge;
let proxy: TcpProxy;
/** Between broker A and Redis. */
let proxyA: TcpProxy;
/** What afterAll undoes, last first: only what beforeAll got to start. */
const cleanups: (() => Promise<unknown>)[] = [];
let privateJwk: JWK;
const bridgeLog: Readonly<Record<string, unknown>>[] = [];

function startOn(name: string, busUrl: string): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings(
    { manifest: WORLD, data: join(root, name), dev: true, listen: '127.0.0.1:0', store: storeUrl, bus: busUrl, busPrefix: prefix, bridgeKeys: join(root, 'bridge-keys.yaml'), heartbeatTimeoutMs: '60000' },
    { GEOBRIDGE_ADMIN_TOKEN: ADMIN },
  );
  if (!settings) throw new Error(problems.join('\n'));
  // Dev mode lets a request name its country; datacenters without a bridge stay down, so liveness is what the bus says.
  return startBroker({ ...settings, assumeBridgesUp: false }, false);
}

async function api(broker: RunningBroker, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(new URL(path, broker.url), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'application/yaml' : 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

let apiKey = '';
let accountId = '';
let meeting = '';

/** A route for a participant in the US asked of `broker`, with a join token `issuer` minted. */
async function routeVia(broker: RunningBroker, issuer: RunningBroker = broker): Promise<{ status: number; json: Record<string, unknown> }> {
  const token = await api(issuer, 'POST', `/v1/meetings/${meeting}/join-tokens`, apiKey, { name: 'Probe' });
  return api(broker, 'POST', '/v1/route', String(token.json.token), { country: 'US' });
}

async function readyz(broker: RunningBroker): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(new URL('/readyz', broker.url));
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  const database = await freshDatabase('cluster');
  storeUrl = database.url;
  cleanups.push(() => database.drop());
  cleanups.push(() => deleteRedisKeys(prefix));
  const identity = await generateBridgeIdentity();
  privateJwk = identity.privateJwk;
  writeFileSync(join(root, 'bridge-keys.yaml'), `us-east: ${identity.publicKey}\n`);
  proxyA = await startTcpProxy('127.0.0.1', Number(new URL(REDIS_URL).port || 6379));
  cleanups.push(() => proxyA.close());
  a = await startOn('a', `redis://127.0.0.1:${String(proxyA.port)}`);
  cleanups.push(() => a.close());
  // One log, one log key: B starts with A's.
  const bKeys = join(root, 'b', 'keys');
  mkdirSync(bKeys, { recursive: true, mode: 0o700 });
  copyFileSync(join(root, 'a', 'keys', 'log.pem'), join(bKeys, 'log.pem'));
  proxy = await startTcpProxy('127.0.0.1', Number(new URL(REDIS_URL).port || 6379));
  cleanups.push(() => proxy.close());
  b = await startOn('b', `redis://127.0.0.1:${String(proxy.port)}`);
  cleanups.push(() => b.close());
  const account = await api(a, 'POST', '/v1/accounts', ADMIN, { name: 'Cluster', homeCountry: 'US' });
  apiKey = String(account.json.apiKey);
  accountId = String(account.json.id);
  meeting = String((await api(a, 'POST', '/v1/meetings', apiKey, { title: 'Across brokers' })).json.id);
  bridge = await startBridge({
    datacenter: 'us-east',
    broker: a.url,
    privateJwk,
    host: '127.0.0.1',
    port: 0,
    media: { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 },
    heartbeatMs: 300,
    drainMs: 1000,
    // Its participants are bare signalling sockets that never bring a media path up.
    connectTimeoutMs: 600_000,
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

describe('two brokers, one PostgreSQL, one Redis', () => {
  it('broker B routes to the bridge present on broker A, with a join token A minted', async () => {
    await eventually('us-east live on B', async () => (await readyz(b)).json.liveBridges === 1, 15_000);
    const route = await routeVia(b, a);
    expect(route.status, JSON.stringify(route.json)).toBe(200);
    expect(route.json.bridges).toEqual({ 'us-east': bridge.url });
  });

  it("each broker signs with its own key, and the bridge (which fetches keys from A) admits B's ticket", async () => {
    const kidOf = (t: string): string => (JSON.parse(Buffer.from(t.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid: string }).kid;
    const fromA = String((await routeVia(a)).json.ticket);
    const fromB = String((await routeVia(b)).json.ticket);
    expect(kidOf(fromA)).not.toBe(kidOf(fromB));
    const answer = await new Promise<{ type: string; code?: string }>((resolve, reject) => {
      const ws = new WebSocket(bridge.url, SIGNALLING_SUBPROTOCOL);
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('no answer from the bridge in 15 s'));
      }, 15_000);
      ws.on('open', () => {
        ws.send(JSON.stringify({ type: 'join', ticket: fromB, challenge: newChallenge() }));
      });
      ws.on('message', (data: Buffer) => {
        clearTimeout(timer);
        resolve(JSON.parse(data.toString('utf8')) as { type: string; code?: string });
        ws.close();
      });
      ws.on('error', () => undefined);
    });
    expect(answer.type, JSON.stringify(answer)).toBe('admitted');
  });

  it('a manifest applied on B is in force on A and reaches the bridge present on A', async () => {
    const text = `${readFileSync(WORLD, 'utf8')}\n# edited on broker B\n`;
    const put = await api(b, 'PUT', '/v1/manifest', ADMIN, text);
    expect(put.status, JSON.stringify(put.json)).toBe(200);
    const version = Number(put.json.version);
    await eventually('A has the new manifest', async () => (await readyz(a)).json.manifestVersion === version, 10_000);
    await eventually('the bridge on A has it', () => bridgeLog.some((l) => l.msg === 'policy in force' && l.version === version), 10_000);
  });

  it('a command forged on the bus is not sent to the bridge; a meeting ended on B is ended on the bridge present on A', async () => {
    const other = String((await api(a, 'POST', '/v1/meetings', apiKey, { title: 'Ended on B' })).json.id);
    const ended = (): boolean => bridgeLog.some((l) => l.msg === 'control' && l.command === 'end' && l.meeting === other);
    // Whoever can write to Redis, without a broker's key: the store says the meeting is live, so A signs nothing.
    const rogue = await RedisBus.connect(REDIS_URL, { broker: 'rogue', prefix });
    try {
      await rogue.publish({ kind: 'command', broker: 'rogue', datacenter: 'us-east', command: { type: 'end', meeting: other, reason: 'forged' } });
      await new Promise((r) => setTimeout(r, 1000));
      expect(ended()).toBe(false);
    } finally {
      await rogue.close();
    }
    const res = await fetch(new URL(`/v1/meetings/${other}`, b.url), { method: 'DELETE', headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.status).toBe(204);
    await eventually('the bridge on A ends it', ended, 10_000);
  });

  it('a change made on a broker that cannot hear the bus is refused; one made on another reaches its bridges once it hears again', async () => {
    const held = String((await api(a, 'POST', '/v1/meetings', apiKey, { title: 'Ended while A was deaf' })).json.id);
    const route = await api(a, 'POST', '/v1/route', String((await api(a, 'POST', `/v1/meetings/${held}/join-tokens`, apiKey, { name: 'Ann' })).json.token), { country: 'US' });
    const ws = new WebSocket(bridge.url, SIGNALLING_SUBPROTOCOL);
    const heard: { type: string; code?: string }[] = [];
    ws.on('message', (data: Buffer) => heard.push(JSON.parse(data.toString('utf8')) as { type: string; code?: string }));
    ws.on('error', () => undefined);
    cleanups.push(() => {
      ws.terminate();
      return Promise.resolve();
    });
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'join', ticket: route.json.ticket, challenge: newChallenge() }));
    await eventually('Ann admitted on the bridge present on A', () => heard.some((m) => m.type === 'admitted'), 15_000).catch((error: unknown) => {
      throw new Error(`${String(error)}; route ${String(route.status)}, heard ${JSON.stringify(heard)}`);
    });
    const ended = (): boolean => bridgeLog.some((l) => l.msg === 'control' && l.command === 'end' && l.meeting === held);

    await proxyA.cut();
    await eventually('A not ready', async () => (await readyz(a)).status === 503, 15_000);
    // On A, what the other brokers' bridges would not hear is refused, not half done.
    const refusals = [
      await api(a, 'DELETE', `/v1/meetings/${held}`, apiKey),
      await api(a, 'PUT', `/v1/accounts/${accountId}/policy`, ADMIN, { allowedJurisdictions: ['US'] }),
      await api(a, 'PUT', '/v1/manifest', ADMIN, `${readFileSync(WORLD, 'utf8')}\n# refused on A\n`),
      await api(a, 'POST', '/v1/admin/keys/rotate', ADMIN),
    ];
    expect(refusals.map((r) => [r.status, r.json.code])).toEqual(Array.from({ length: 4 }, () => [503, 'BUS_UNAVAILABLE']));
    // Ended on B: B tells A over the bus, which A does not hear.
    const res = await fetch(new URL(`/v1/meetings/${held}`, b.url), { method: 'DELETE', headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.status).toBe(204);
    await new Promise((r) => setTimeout(r, 1000));
    expect(ended(), 'the bridge heard of the end while A was deaf').toBe(false);

    await proxyA.restore();
    await eventually('A catches its bridge up: the meeting ends there', ended, 15_000);
    await eventually('Ann is told', () => heard.some((m) => m.code === 'MEETING_ENDED'), 10_000);
    expect(heard.filter((m) => m.type === 'refused' || m.type === 'error').map((m) => m.code)).toContain('MEETING_ENDED');
  }, 60_000);

  it('a heartbeat broker A accepted is refused by broker B as a replay', async () => {
    const message = await signBridgeMessage(privateJwk, 'us-east', { kind: 'heartbeat', participants: 0, cpu: 0, draining: false, url: bridge.url }, { now: new Date(), seq: Date.now() * 1000 + 999_999 });
    const post = (broker: RunningBroker) => fetch(new URL('/v1/bridges/heartbeat', broker.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message }) });
    expect((await post(a)).status).toBe(200);
    const replayed = await post(b);
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { code: string }).code).toBe('BRIDGE_REPLAYED');
  });

  it('while its Redis is away B fails closed (not ready, no route), and catches up when it is back', async () => {
    await proxy.cut();
    await eventually('B not ready', async () => (await readyz(b)).status === 503, 15_000);
    expect((await readyz(b)).json.code).toBe('BUS_UNAVAILABLE');
    const refused = await routeVia(b, b);
    expect(refused.status, JSON.stringify(refused.json)).toBe(503);
    // A, which still hears Redis, routes on.
    expect((await routeVia(a)).status).toBe(200);
    await proxy.restore();
    await eventually('B ready again', async () => (await readyz(b)).status === 200, 15_000);
    expect((await routeVia(b)).status).toBe(200);
  }, 40_000);

  it('the bridge lost on A is down on B within seconds, not after the heartbeat timeout', async () => {
    await bridge.close();
    const ms = await eventually('us-east down on B', async () => (await readyz(b)).json.liveBridges === 0, 10_000);
    expect(ms).toBeLessThan(10_000);
    expect((await routeVia(b)).status).toBe(503);
  });

  it('one audit log holds both brokers’ records, and it verifies', async () => {
    const verified = await runCli('audit', 'verify', '--store', storeUrl, '--data', join(root, 'a'));
    expect(verified.code, verified.out + verified.err).toBe(0);
    await onDatabase(storeUrl, async (client) => {
      const kinds = (await client.query<{ type: string }>('SELECT DISTINCT type FROM audit_log')).rows.map((r) => r.type);
      expect(kinds).toEqual(expect.arrayContaining(['route.decision', 'route.refusal', 'manifest.changed', 'bridge.enrolled', 'bridge.lost']));
      const holders = (await client.query<{ holder: string }>('SELECT DISTINCT holder FROM signing_keys')).rows;
      expect(holders).toHaveLength(2);
    });
  });
});
