/**
 * A broker SIGKILLed during a burst of joins (issue 15): two `geobridge
 * serve` processes on one PostgreSQL database and one Redis prefix, a
 * bridge given both, meetings placed on it, and clients asking for routes
 * from both brokers — moving to the survivor when theirs stops answering, as
 * a load balancer would send them. Every decision a client received is in
 * the log; the bridge is on the survivor within 5 s; no meeting changes
 * datacenter because of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBridgeIdentity } from '../src/broker/attestation.js';
import { startBridge, type RunningBridge } from '../src/bridge/server.js';
import { SIGNALLING_SUBPROTOCOL } from '../src/protocol/signalling.js';
import { newChallenge } from '../src/sdk/bridge-proof.js';
import { deleteRedisKeys, eventually, freePort, freshDatabase, onDatabase, REDIS_URL, uniqueName } from './services.fixture.js';
import { decided } from '../src/broker/route-answer.fixture.js';

const BIN = fileURLToPath(new URL('../bin/geobridge.js', import.meta.url));
const WORLD = fileURLToPath(new URL('../examples/world.yaml', import.meta.url));
const ADMIN = 'broker-kill-admin-token-0123456789';
const prefix = uniqueName('kill');
let storeUrl = '';
/** A broker process loads TypeScript through tsx: slow on a loaded 2-core machine. */
const START_LIMIT_MS = 60_000;
const MEETINGS = 6;
/** Its participants are bare signalling sockets that never bring a media path up: the bridge's 30 s for that must not end them. */
const RAW_SOCKETS_MS = 600_000;
const root = mkdtempSync(join(tmpdir(), 'geobridge-kill-'));
const cleanups: (() => Promise<unknown>)[] = [];

interface BrokerProcess {
  readonly url: string;
  readonly child: ChildProcess;
}

/** `geobridge serve` as a process of its own, ready when /readyz answers. */
async function serve(name: string): Promise<BrokerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${String(port)}`;
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--manifest', WORLD, '--data', join(root, name), '--listen', `127.0.0.1:${String(port)}`, '--dev', '--store', storeUrl, '--bus', REDIS_URL, '--bus-prefix', prefix, '--bridge-keys', join(root, 'bridge-keys.yaml')],
    { env: { ...process.env, GEOBRIDGE_ADMIN_TOKEN: ADMIN, GEOBRIDGE_HEARTBEAT_TIMEOUT_MS: '60000', GEOBRIDGE_LOG_LEVEL: 'warn' }, stdio: 'ignore' },
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });
  await eventually(`broker ${name} ready`, async () => (await fetch(new URL('/readyz', url))).status === 200, START_LIMIT_MS);
  return { url, child };
}

async function call(base: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

let a: BrokerProcess;
let b: BrokerProcess;
let bridge: RunningBridge;
let apiKey = '';
const meetings: string[] = [];

beforeAll(async () => {
  const database = await freshDatabase('kill');
  storeUrl = database.url;
  cleanups.push(() => database.drop());
  cleanups.push(() => deleteRedisKeys(prefix));
  const identity = await generateBridgeIdentity();
  writeFileSync(join(root, 'bridge-keys.yaml'), `us-east: ${identity.publicKey}\n`);
  a = await serve('a');
  mkdirSync(join(root, 'b', 'keys'), { recursive: true, mode: 0o700 });
  copyFileSync(join(root, 'a', 'keys', 'log.pem'), join(root, 'b', 'keys', 'log.pem'));
  b = await serve('b');
  bridge = await startBridge({ datacenter: 'us-east', broker: [a.url, b.url], privateJwk: identity.privateJwk, host: '127.0.0.1', port: 0, media: { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 }, heartbeatMs: 300, drainMs: 1000, connectTimeoutMs: RAW_SOCKETS_MS });
  cleanups.push(() => bridge.close());
  apiKey = String((await call(a.url, 'POST', '/v1/accounts', ADMIN, { name: 'Kill', homeCountry: 'US' })).json.apiKey);
  for (let i = 0; i < MEETINGS; i++) meetings.push(String((await call(a.url, 'POST', '/v1/meetings', apiKey, { title: `m${String(i)}` })).json.id));
}, 3 * START_LIMIT_MS);

afterAll(async () => {
  for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}, 60_000);

/** Places `meeting` on the bridge: a participant joins it (and stays), so the bridge claims the meeting. */
async function place(meeting: string): Promise<void> {
  const token = String((await call(a.url, 'POST', `/v1/meetings/${meeting}/join-tokens`, apiKey, { name: 'Anchor' })).json.token);
  const route = await call(a.url, 'POST', '/v1/route', token, { country: 'US' });
  const participant = new WebSocket(bridge.url, SIGNALLING_SUBPROTOCOL);
  cleanups.push(() => {
    participant.close();
    return Promise.resolve();
  });
  participant.on('error', () => undefined);
  const answer = await new Promise<string>((resolve) => {
    participant.on('open', () => {
      participant.send(JSON.stringify({ type: 'join', ticket: route.json.ticket, challenge: newChallenge() }));
    });
    participant.on('message', (data: Buffer) => {
      resolve((JSON.parse(data.toString('utf8')) as { type: string }).type);
    });
  });
  expect(answer).toBe('admitted');
}

async function placements(): Promise<Record<string, string>> {
  const rows = await onDatabase(storeUrl, async (client) => (await client.query<{ meeting_id: string; datacenter: string; epoch: number }>('SELECT meeting_id, datacenter, epoch FROM placements')).rows);
  return Object.fromEntries(rows.map((r) => [r.meeting_id, `${r.datacenter}#${String(r.epoch)}`]));
}

describe('a broker SIGKILLed during a burst of joins', () => {
  it('loses no decision a client received, its bridge moves to the survivor within 5 s, and no meeting moves', async () => {
    for (const m of meetings) await place(m);
    await eventually('every meeting placed', async () => Object.keys(await placements()).length === MEETINGS, 15_000);
    const before = await placements();
    expect(Object.values(before).every((p) => p.startsWith('us-east#'))).toBe(true);

    const received: string[] = [];
    const failures: string[] = [];
    const run = { stop: false };
    /** One client: joins meeting after meeting through `first`, and through the other broker once `first` stops answering. */
    const client = async (first: BrokerProcess, n: number): Promise<void> => {
      let via = first;
      for (let i = 0; !run.stop; i++) {
        const meeting = meetings[(n + i) % MEETINGS] ?? '';
        try {
          const token = String((await call(via.url, 'POST', `/v1/meetings/${meeting}/join-tokens`, apiKey, { name: `p${String(n)}-${String(i)}` })).json.token);
          const route = await call(via.url, 'POST', '/v1/route', token, { country: 'US' });
          if (route.status === 200) received.push(decided(route.json as { ticket: string }).decisionId);
          else failures.push(`${String(route.status)} ${String(route.json.code)}`);
        } catch {
          // No answer: the load balancer would send the next request to the survivor.
          via = b;
        }
      }
    };
    const clients = [0, 1, 2, 3, 4, 5].map((n) => client(n % 2 === 0 ? a : b, n));
    await new Promise((r) => setTimeout(r, 1500));
    const receivedBeforeKill = received.length;
    a.child.kill('SIGKILL');
    const killedAt = performance.now();
    const movedMs = await eventually('the bridge on the survivor', async () => bridge.broker === b.url && ((await (await fetch(new URL('/readyz', b.url))).json()) as { liveBridges: number }).liveBridges === 1, 15_000);
    await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (performance.now() - killedAt))));
    run.stop = true;
    await Promise.all(clients);

    expect(receivedBeforeKill).toBeGreaterThan(0);
    expect(received.length).toBeGreaterThan(receivedBeforeKill);
    expect(failures).toEqual([]);
    expect(movedMs).toBeLessThan(5000);
    const logged = await onDatabase(storeUrl, async (db) => new Set((await db.query<{ id: string }>("SELECT data->>'decisionId' AS id FROM audit_log WHERE type = 'route.decision'")).rows.map((r) => r.id)));
    expect(received.filter((id) => !logged.has(id))).toEqual([]);
    expect(await placements()).toEqual(before);
  }, 90_000);
});
