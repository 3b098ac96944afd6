// Issue 11: unauthenticated traffic costs nothing durable. 5,000 junk
// requests — garbage and forged bridge messages, replays, bogus invites,
// junk presence connections over real sockets — against a broker with its
// default limits: a handful of audit records at most, every rejection in the
// metrics and in one summary, and real requests answered throughout.
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signBridgeMessage } from '../protocol/bridge-message.js';
import { generateBridgeIdentity } from './attestation.js';
import { presenceHello, tryPresence, type PresenceOutcome } from './presence-client.fixture.js';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from './test-broker.fixture.js';

/** HTTP junk, sent with inject() from these addresses (documentation ranges, IPv4 and IPv6). */
const ATTACKERS = [...Array.from({ length: 16 }, (_, i) => `198.51.100.${i + 1}`), ...Array.from({ length: 4 }, (_, i) => `2001:db8:${i}::7`)];
/** Presence junk over real sockets, from these loopback addresses. */
const SOCKET_ATTACKERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const HTTP_JUNK = 4500;
const PRESENCE_JUNK = 500;
/** Of which connections that never say hello (each waits out the broker's hello timeout, so few). */
const SILENT = 8;
const BATCH = 50;

let broker: TestBroker;
let url: string;
let token: string;
let legitPresence: WebSocket;

beforeAll(async () => {
  broker = await startTestBroker();
  await broker.app.listen({ host: '127.0.0.1', port: 0 });
  const address = broker.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  url = `http://127.0.0.1:${address.port}`;
  for (const dc of broker.ctx.policy.current.manifest.datacenters) expect((await heartbeat(dc.id)).statusCode).toBe(200);
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const { apiKey } = (await broker.app.inject({ method: 'POST', url: '/v1/accounts', headers: admin, payload: { name: 'Acme', homeCountry: 'US' } })).json<{ apiKey: string }>();
  const key = { authorization: `Bearer ${apiKey}` };
  const meeting = (await broker.app.inject({ method: 'POST', url: '/v1/meetings', headers: key, payload: { title: 'Standup' } })).json<{ id: string }>().id;
  token = (await broker.app.inject({ method: 'POST', url: `/v1/meetings/${meeting}/join-tokens`, headers: key, payload: { name: 'Ada' } })).json<{ token: string }>().token;
  // The real us-east bridge is present on its socket for the whole flood.
  legitPresence = new WebSocket(`${url.replace('http', 'ws')}/v1/bridges/presence`);
  const hello = await broker.signAs('us-east', presenceHello());
  await new Promise<void>((resolve, reject) => {
    legitPresence.once('open', () => {
      legitPresence.send(hello);
    });
    legitPresence.once('message', () => {
      resolve();
    });
    legitPresence.once('error', reject);
  });
}, 60_000);

afterAll(async () => {
  legitPresence.close();
  await broker.close();
});

function heartbeat(datacenter: string, from = '127.0.0.1'): Promise<Awaited<ReturnType<TestBroker['app']['inject']>>> {
  return broker.signAs(datacenter, { kind: 'heartbeat', participants: 0, cpu: 0.1, draining: false }).then((message) =>
    broker.app.inject({ method: 'POST', url: '/v1/bridges/heartbeat', remoteAddress: from, payload: { message } }),
  );
}

/** A real route with the join token, from a public US address. */
async function realRoute(): Promise<void> {
  const res = await broker.app.inject({ method: 'POST', url: '/v1/route', headers: { authorization: `Bearer ${token}` }, remoteAddress: '8.8.8.8', payload: {} });
  expect(res.statusCode, res.body).toBe(200);
}

/** The junk requests, in a fixed mix: every kind of unauthenticated message the HTTP side takes. */
async function httpJunk(): Promise<((from: string) => InjectOptions)[]> {
  const now = broker.ctx.now();
  const impostor = await generateBridgeIdentity();
  const heartbeatBody = { kind: 'heartbeat', participants: 0, cpu: 0, draining: false };
  // Signed by a key that is not us-east's; and by one for a datacenter nobody configured.
  const forged = await signBridgeMessage(impostor.privateJwk, 'us-east', heartbeatBody, { now, seq: Number.MAX_SAFE_INTEGER });
  const unknown = await signBridgeMessage(impostor.privateJwk, 'atlantis', heartbeatBody, { now, seq: 1 });
  // A real message seen on the wire, replayed.
  const captured = await broker.signAs('us-west', heartbeatBody);
  expect((await broker.app.inject({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: captured } })).statusCode).toBe(200);
  const post = (path: string, payload: unknown) => (from: string): InjectOptions => ({ method: 'POST', url: path, remoteAddress: from, payload: payload as Record<string, unknown> });
  return [
    post('/v1/bridges/heartbeat', { message: 'garbage' }),
    post('/v1/bridges/heartbeat', { message: forged }),
    post('/v1/bridges/heartbeat', { message: unknown }),
    post('/v1/bridges/heartbeat', { message: captured }),
    post('/v1/bridges/heartbeat', { nonsense: true }),
    (from) => ({ method: 'POST', url: '/v1/bridges/heartbeat', remoteAddress: from, headers: { 'content-type': 'application/json' }, payload: '{"message":' }),
    post('/v1/bridges/admissions', { message: forged }),
    post('/v1/bridges/placements', { message: unknown }),
    post('/v1/invites/accept', { invite: 'bogus.invite.token', name: 'Mallory' }),
    post('/v1/invites/accept', { invite: 'x', name: 'Mallory' }),
    post('/v1/invites/preview', { invite: 'bogus.invite.token' }),
    (from) => ({ method: 'POST', url: '/v1/route', remoteAddress: from, headers: { authorization: 'Bearer forged.join.token' }, payload: {} }),
  ];
}

/** Junk hellos on the presence socket: garbage, forged, and for an unknown datacenter. */
async function presenceJunk(): Promise<string[]> {
  const impostor = await generateBridgeIdentity();
  const now = broker.ctx.now();
  return ['hello?', await signBridgeMessage(impostor.privateJwk, 'us-east', presenceHello(), { now, seq: 1 }), await signBridgeMessage(impostor.privateJwk, 'atlantis', presenceHello(), { now, seq: 1 })];
}

async function metric(name: string, label: string): Promise<Map<string, number>> {
  const text = (await broker.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '192.0.2.250' })).body;
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}\\{[^}]*${label}="([^"]+)"[^}]*\\} (\\d+)$`, 'gm'))) out.set(m[1] ?? '', (out.get(m[1] ?? '') ?? 0) + Number(m[2]));
  return out;
}

describe('5,000 unauthenticated junk requests', () => {
  it('cost a handful of audit records at most, are all counted, and real requests are answered throughout', async () => {
    const recordsBefore = (await broker.ctx.audit.read()).length;
    const kinds = await httpJunk();
    const hellos = await presenceJunk();
    const httpCodes = new Map<string, number>();
    const presenceOutcomes = new Map<string, number>();
    let realRoutes = 0;

    // Presence junk runs alongside the HTTP junk, over real sockets.
    const from = (i: number): string => SOCKET_ATTACKERS[i % SOCKET_ATTACKERS.length] ?? '';
    const sockets = (async () => {
      const silent = Promise.all(Array.from({ length: SILENT }, (_, i) => tryPresence(url, from(i), undefined)));
      const talking = PRESENCE_JUNK - SILENT;
      for (let i = 0; i < talking; i += 25) {
        const batch = Array.from({ length: Math.min(25, talking - i) }, (_, j) => tryPresence(url, from(i + j), hellos[(i + j) % hellos.length] ?? ''));
        for (const outcome of [...(await Promise.all(batch)), ...(i + 25 >= talking ? await silent : [])]) {
          const key = outcomeKey(outcome);
          presenceOutcomes.set(key, (presenceOutcomes.get(key) ?? 0) + 1);
        }
      }
    })();
    for (let i = 0; i < HTTP_JUNK; i += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, j) => {
        const n = i + j;
        const kind = kinds[n % kinds.length];
        if (!kind) throw new Error('no junk');
        return broker.app.inject(kind(ATTACKERS[Math.floor(n / kinds.length) % ATTACKERS.length] ?? ''));
      });
      // Real work, in the middle of the junk: a route with a join token and a bridge's signed heartbeat.
      const [, beat, ...junk] = await Promise.all([realRoute(), heartbeat('us-east'), ...batch]);
      realRoutes++;
      expect(beat.statusCode, beat.body).toBe(200);
      for (const res of junk) {
        expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, res.body).toBeLessThan(500);
        const code = res.json<{ code: string }>().code;
        httpCodes.set(code, (httpCodes.get(code) ?? 0) + 1);
      }
    }
    await sockets;

    // After the flood: the real bridge is still present, and everything real still works.
    expect(legitPresence.readyState).toBe(WebSocket.OPEN);
    expect(await tryPresence(url, '127.0.0.1', await broker.signAs('us-west', presenceHello()))).toEqual({ kind: 'present' });
    await realRoute();
    realRoutes++;
    expect((await heartbeat('us-east')).statusCode).toBe(200);

    // Nothing durable per junk message: the records added are the real routes' decisions, and nothing else yet.
    const added = (await broker.ctx.audit.read()).slice(recordsBefore);
    expect(added.filter((r) => r.type === 'route.decision')).toHaveLength(realRoutes);
    const junkRecords = added.filter((r) => r.type !== 'route.decision');
    const byType = Object.fromEntries([...new Set(junkRecords.map((r) => r.type))].map((t) => [t, junkRecords.filter((r) => r.type === t).length]));
    expect(junkRecords.length, JSON.stringify(byType)).toBeLessThanOrEqual(2);

    // Most junk never got past the limits; what did was counted, exactly.
    const httpTotal = [...httpCodes.values()].reduce((a, b) => a + b, 0);
    expect(httpTotal).toBe(HTTP_JUNK);
    expect(httpCodes.get('RATE_LIMITED') ?? 0).toBeGreaterThan(HTTP_JUNK / 2);
    expect(presenceOutcomes.get('refused 429 RATE_LIMITED') ?? 0).toBeGreaterThan(PRESENCE_JUNK / 2);
    const rejections = await metric('geobridge_bridge_rejections_total', 'code');
    const rejected = [...rejections.values()].reduce((a, b) => a + b, 0);
    const bridgeHttpRejected = ['BRIDGE_MESSAGE_INVALID', 'BRIDGE_BAD_SIGNATURE', 'BRIDGE_UNKNOWN', 'BRIDGE_REPLAYED'].reduce((n, c) => n + (httpCodes.get(c) ?? 0), 0);
    const presenceRejected = [...presenceOutcomes.entries()].filter(([k]) => k.startsWith('closed 1008 BRIDGE_')).reduce((n, [, v]) => n + v, 0);
    expect(rejected).toBe(bridgeHttpRejected + presenceRejected);
    const limited = await metric('geobridge_rate_limited_total', 'limit');
    expect([...limited.values()].reduce((a, b) => a + b, 0)).toBe((httpCodes.get('RATE_LIMITED') ?? 0) + (presenceOutcomes.get('refused 429 RATE_LIMITED') ?? 0));

    // A minute later, all of it is one summary record, whose counts are the metrics'.
    broker.advance(60_000);
    await expect.poll(async () => (await broker.ctx.audit.read()).filter((r) => r.type === 'bridge.rejected.summary').length).toBe(1);
    const summary = (await broker.ctx.audit.read()).find((r) => r.type === 'bridge.rejected.summary');
    expect(summary?.data.total).toBe(rejected);
    const counts = summary?.data.counts as { channel: string; code: string; count: number }[];
    for (const [code, n] of rejections) expect(counts.filter((c) => c.code === code).reduce((a, c) => a + c.count, 0)).toBe(n);
    expect(new Set(counts.map((c) => c.channel))).toEqual(new Set(['/v1/bridges/heartbeat', '/v1/bridges/admissions', '/v1/bridges/placements', '/v1/bridges/presence']));
    expect(summary?.data.datacenters).toEqual(expect.arrayContaining([expect.objectContaining({ datacenter: 'atlantis' }), expect.objectContaining({ datacenter: 'us-east' })]));

  }, 180_000);
});

function outcomeKey(outcome: PresenceOutcome): string {
  switch (outcome.kind) {
    case 'refused':
      return `refused ${outcome.status} ${outcome.code ?? '?'}`;
    case 'closed':
      return `closed ${outcome.closeCode} ${outcome.reason}`;
    case 'present':
      return 'present';
  }
}
