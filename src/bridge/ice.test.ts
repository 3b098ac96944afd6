/**
 * STUN/TURN servers inside the fence, end to end (a real broker and bridge on
 * 127.0.0.1): the route answer allows each candidate's declared servers
 * inside the participant's jurisdictions; the bridge hands out only those,
 * that it is configured for, with its credentials; it refuses to start with
 * a server its datacenter does not declare; and the SDK uses only what the
 * route answer allows, and only an allowance whose hash the signed ticket
 * holds, whatever a bridge (or a tampered answer) says, and reports the rest;
 * and a policy that no longer allows a relay a participant was handed ends
 * its session.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MediaStreamTrack } from 'werift';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SIGNALLING_SUBPROTOCOL, type AdmittedMessage, type IceServer } from '../protocol/signalling.js';
import { newChallenge } from '../sdk/bridge-proof.js';
import { screenIceServers } from '../sdk/ice-servers.js';
import { nodePlatform, type SessionEvent } from '../sdk/node.js';
import { Session, type Platform, type SocketLike } from '../sdk/session.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { readRouteTicketUnverified } from '../protocol/route-ticket.js';
import type { IceAllowance } from '../core/ice/allowed.js';

const STUN = 'stun:stun.use1.example.com:3478';
const TURN = 'turn:turn.use1.example.com:3478';
const TURNS = 'turns:turn.use1.example.com:5349';
const YUL = 'turns:turn.yul.example.com:5349';

/** us-east declares a STUN and a TURN server in the US and a relay in Canada; us-west declares none. No fences: accounts and meetings narrow. */
const MANIFEST = `version: 1
datacenters:
  us-east:
    jurisdiction: US
    location: { lat: 39.04, lon: -77.49 }
    capacity: 1000
    ice:
      - urls: [${STUN}]
      - urls: [${TURN}, ${TURNS}]
      - urls: [${YUL}]
        jurisdiction: CA
  us-west:
    jurisdiction: US
    location: { lat: 37.34, lon: -121.89 }
    capacity: 1000
zones:
  everyone: { countries: ['*'], primaries: [us-east] }
  mexico: { countries: [MX], primaries: [us-west] }
`;

/** What us-east's bridge is configured with: not the declared turns: URL of the US server. */
const CONFIGURED: readonly IceServer[] = [
  { urls: [STUN] },
  { urls: [TURN, YUL], username: 'bridge-user', credential: 'bridge-secret' },
];
const CREDENTIALS = { username: 'bridge-user', credential: 'bridge-secret' };

let cluster: Cluster;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'geobridge-ice-'));
  const manifestPath = join(dir, 'ice.yaml');
  writeFileSync(manifestPath, MANIFEST);
  cluster = await startCluster(['us-east', 'us-west'], [], { manifestPath });
  await cluster.startBridge('us-east', { iceServers: CONFIGURED });
}, 30_000);
afterAll(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A meeting of the account with `apiKey` (the cluster's by default), narrowed to `allowedJurisdictions` if given. */
async function meeting(allowedJurisdictions?: readonly string[], apiKey = cluster.apiKey): Promise<string> {
  const res = await fetch(new URL('/v1/meetings', cluster.broker.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'ICE', ...(allowedJurisdictions ? { allowedJurisdictions } : {}) }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

interface RouteAnswer {
  readonly ticket: string;
  readonly allowedJurisdictions: string[];
  readonly bridges: Record<string, string>;
  /** The STUN/TURN allowance its ticket signs (its `ice` claim). */
  readonly iceServers: IceAllowance;
}

/** The answer, explained (with its allowed jurisdictions), and its ticket's allowance; `joinToken` for a meeting of another account than the cluster's. */
async function route(meetingId: string, joinToken?: string): Promise<RouteAnswer> {
  const res = await fetch(new URL('/v1/route?explain=true', cluster.broker.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${joinToken ?? (await cluster.joinToken(meetingId, 'Probe'))}`, 'content-type': 'application/json' },
    body: JSON.stringify({ country: 'US' }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as Omit<RouteAnswer, 'iceServers'>;
  return { ...body, iceServers: readRouteTicketUnverified(body.ticket).ice };
}

/** Joins with `ticket` and returns the bridge's `admitted`. */
function admitted(bridgeUrl: string, ticket: string): Promise<AdmittedMessage> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(bridgeUrl, SIGNALLING_SUBPROTOCOL);
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() }));
    });
    ws.once('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { type: string };
      ws.close();
      if (message.type === 'admitted') resolve(message as AdmittedMessage);
      else reject(new Error(`not admitted: ${JSON.stringify(message)}`));
    });
    ws.on('error', reject);
  });
}

describe('the broker and the bridge', () => {
  it('allow, and hand out, the declared servers inside the participant’s jurisdictions that the bridge is configured for, with its credentials', async () => {
    const open = await route(await meeting());
    expect(open.allowedJurisdictions).toEqual(expect.arrayContaining(['US', 'CA']));
    expect(open.iceServers).toEqual({
      'us-east': [
        { urls: [STUN], jurisdiction: 'US' },
        { urls: [TURN, TURNS], jurisdiction: 'US' },
        { urls: [YUL], jurisdiction: 'CA' },
      ],
    });
    expect((await admitted(open.bridges['us-east'] ?? '', open.ticket)).iceServers).toEqual([{ urls: [STUN] }, { urls: [TURN], ...CREDENTIALS }, { urls: [YUL], ...CREDENTIALS }]);

    // A meeting held to the US: its participants may not relay through Canada, and are not even told of it.
    const usOnly = await route(await meeting(['US']));
    expect(usOnly.allowedJurisdictions).toEqual(['US']);
    expect(usOnly.iceServers['us-east']?.map((s) => s.jurisdiction)).toEqual(['US', 'US']);
    expect((await admitted(usOnly.bridges['us-east'] ?? '', usOnly.ticket)).iceServers).toEqual([{ urls: [STUN] }, { urls: [TURN], ...CREDENTIALS }]);
  }, 30_000);

  it('a bridge refuses to start with a server the manifest does not declare for its datacenter', async () => {
    // Declared, but for us-east: us-west may not hand it out.
    await expect(cluster.startBridge('us-west', { iceServers: [{ urls: [TURN], ...CREDENTIALS }] })).rejects.toMatchObject({ code: 'ICE_SERVER_NOT_DECLARED' });
    await expect(cluster.startBridge('us-west', { iceServers: [{ urls: ['stun:stun.l.example.net:19302'] }] })).rejects.toMatchObject({ code: 'ICE_SERVER_NOT_DECLARED' });
    // Refused before it enrolled: it was never routable, so the broker has no address for it.
    const mexico = await fetch(new URL('/v1/route', cluster.broker.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${await cluster.joinToken(await meeting(), 'Probe')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ country: 'MX' }),
    });
    expect(((await mexico.json()) as RouteAnswer).bridges).toEqual({});
  }, 30_000);
});

describe('the SDK', () => {
  const ROGUE = 'turn:relay.elsewhere.example.net:3478';

  /** A call on a US-only meeting whose bridge's `admitted` is rewritten on the way, and the route answer given a wider allowance beside its ticket if `widen`. */
  async function tamperedCall(widen: boolean): Promise<{ handedToPeer: (readonly IceServer[])[]; refused: SessionEvent<MediaStreamTrack>[] }> {
    const id = await meeting(['US']);
    const realFetch = globalThis.fetch;
    const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
      const res = await realFetch(input, init);
      if (!widen || !String(input instanceof Request ? input.url : input).endsWith('/v1/route') || !res.ok) return res;
      const body = (await res.json()) as { ticket: string };
      const wider = { 'us-east': [...(readRouteTicketUnverified(body.ticket).ice['us-east'] ?? []), { urls: [ROGUE, YUL], jurisdiction: 'US' }] };
      return new Response(JSON.stringify({ ...body, iceServers: wider }), { status: res.status, headers: res.headers });
    });
    const node = nodePlatform();
    const handedToPeer: (readonly IceServer[])[] = [];
    const platform: Platform<MediaStreamTrack> = {
      openSocket: (url, protocol) => tamper(node.openSocket(url, protocol), (message) =>
        message.type === 'admitted' ? { ...message, iceServers: [...(message.iceServers as IceServer[]), { urls: [ROGUE, YUL], ...CREDENTIALS }] } : message,
      ),
      createPeer: (iceServers) => {
        handedToPeer.push(iceServers);
        // The servers do not exist; the call runs over loopback without them.
        return node.createPeer([]);
      },
    };
    const events: SessionEvent<MediaStreamTrack>[] = [];
    const session = new Session({ broker: cluster.broker.url, joinToken: await cluster.joinToken(id, 'Ada'), country: 'US', platform, onEvent: (e) => events.push(e) });
    try {
      session.join();
      const deadline = Date.now() + 10_000;
      while (!events.some((e) => e.type === 'connected' || e.type === 'failed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(events.find((e) => e.type === 'connected')).toMatchObject({ datacenter: 'us-east' });
      return { handedToPeer, refused: events.filter((e) => e.type === 'ice-server-refused') };
    } finally {
      session.leave();
      spy.mockRestore();
    }
  }

  it('uses only what the route ticket allows, and reports every other URL a bridge hands it', async () => {
    const { handedToPeer, refused } = await tamperedCall(false);
    expect(handedToPeer).toEqual([[{ urls: [STUN] }, { urls: [TURN], ...CREDENTIALS }]]);
    expect(refused).toEqual([
      { type: 'ice-server-refused', datacenter: 'us-east', url: ROGUE, reason: 'NOT_DECLARED' },
      { type: 'ice-server-refused', datacenter: 'us-east', url: YUL, reason: 'NOT_DECLARED' },
    ]);
  }, 30_000);

  it('takes no allowance the ticket does not sign: a wider one beside it in the answer changes nothing', async () => {
    const { handedToPeer, refused } = await tamperedCall(true);
    expect(handedToPeer).toEqual([[{ urls: [STUN] }, { urls: [TURN], ...CREDENTIALS }]]);
    expect(refused.map((e) => (e.type === 'ice-server-refused' ? [e.url, e.reason] : []))).toEqual([
      [ROGUE, 'NOT_DECLARED'],
      [YUL, 'NOT_DECLARED'],
    ]);
  }, 30_000);
});

describe('a policy or manifest changed between the route and the join', () => {
  /** Admin calls. */
  async function admin(method: string, path: string, body: string | object, type = 'application/json'): Promise<Response> {
    return fetch(new URL(path, cluster.broker.url), { method, headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  }

  /** What the SDK makes of a handout under the route's ticket: the handout must pass whole. */
  function screened(answer: RouteAnswer, handed: readonly IceServer[]): ReturnType<typeof screenIceServers> {
    return screenIceServers(handed, readRouteTicketUnverified(answer.ticket).ice, 'us-east');
  }

  it('an account narrowed to the US after the route: the join hands out no Canadian relay, and the SDK takes the rest', async () => {
    // An account of its own: a policy only narrows, and the other tests' account allows Canada.
    const created = (await (await admin('POST', '/v1/accounts', { name: 'Narrowed', homeCountry: 'US' })).json()) as { account: { id: string }; apiKey: string };
    const id = await meeting(undefined, created.apiKey);
    const token = await fetch(new URL(`/v1/meetings/${id}/join-tokens`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${created.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ada' }) });
    const answer = await route(id, ((await token.json()) as { token: string }).token);
    expect(answer.iceServers['us-east']?.map((s) => s.jurisdiction)).toEqual(['US', 'US', 'CA']);

    expect((await admin('PUT', `/v1/accounts/${created.account.id}/policy`, { allowedJurisdictions: ['US'] })).status).toBe(200);
    const handed = (await admitted(answer.bridges['us-east'] ?? '', answer.ticket)).iceServers;
    expect(handed).toEqual([{ urls: [STUN] }, { urls: [TURN], ...CREDENTIALS }]);
    // Narrower than the list the ticket signs: still inside it, so nothing is refused.
    expect(screened(answer, handed)).toEqual({ accepted: handed, refused: [] });
  }, 30_000);

  it('an account narrowed during the call: a participant handed the Canadian relay at its join leaves, since its media may go through Canada', async () => {
    const created = (await (await admin('POST', '/v1/accounts', { name: 'Narrowed later', homeCountry: 'US' })).json()) as { account: { id: string }; apiKey: string };
    const id = await meeting(undefined, created.apiKey);
    const token = await fetch(new URL(`/v1/meetings/${id}/join-tokens`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${created.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ada' }) });
    const answer = await route(id, ((await token.json()) as { token: string }).token);
    const ws = new WebSocket(answer.bridges['us-east'] ?? '', SIGNALLING_SUBPROTOCOL);
    const got: { type: string; code?: string; message?: string; iceServers?: IceServer[] }[] = [];
    ws.on('message', (data: Buffer) => got.push(JSON.parse(data.toString('utf8')) as (typeof got)[number]));
    ws.on('error', () => undefined);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'join', ticket: answer.ticket, challenge: newChallenge() }));
    try {
      await vi.waitFor(() => { expect(got.find((m) => m.type === 'admitted')).toBeDefined(); }, { timeout: 15_000 });
      expect(got.find((m) => m.type === 'admitted')?.iceServers?.flatMap((s) => s.urls)).toContain(YUL);

      // us-east stays inside the account's new policy; the Canadian relay does not.
      expect((await admin('PUT', `/v1/accounts/${created.account.id}/policy`, { allowedJurisdictions: ['US'] })).status).toBe(200);
      await vi.waitFor(() => { expect(got.find((m) => m.type === 'refused')).toBeDefined(); }, { timeout: 15_000 });
      const refused = got.find((m) => m.type === 'refused');
      expect(refused?.code).toBe('TICKET_OUTSIDE_FENCE');
      expect(refused?.message).toContain(`the STUN/TURN servers you were handed (${YUL})`);
    } finally {
      ws.terminate();
    }
  }, 30_000);

  it('a relay the manifest in force places inside the fence since the route is not handed out: the ticket’s allowance does not list it', async () => {
    const answer = await route(await meeting(['US']));
    expect(answer.iceServers['us-east']?.flatMap((s) => s.urls)).toEqual([STUN, TURN, TURNS]);
    // The relay declared in the US now: under the manifest in force it is inside a US-only meeting's fence.
    const moved = MANIFEST.replace('        jurisdiction: CA\n', '');
    expect(moved).not.toBe(MANIFEST);
    expect((await admin('PUT', '/v1/manifest', moved, 'application/yaml')).status).toBe(200);
    try {
      // Until the bridge holds the new manifest, a fresh route's join is not handed the moved relay.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const fresh = await route(await meeting(['US']));
        if ((await admitted(fresh.bridges['us-east'] ?? '', fresh.ticket)).iceServers.some((s) => s.urls.includes(YUL))) break;
        if (Date.now() > deadline) throw new Error('the bridge never put the new manifest in force');
        await new Promise((r) => setTimeout(r, 100));
      }
      const handed = (await admitted(answer.bridges['us-east'] ?? '', answer.ticket)).iceServers;
      expect(handed).toEqual([{ urls: [STUN] }, { urls: [TURN], ...CREDENTIALS }]);
      expect(screened(answer, handed)).toEqual({ accepted: handed, refused: [] });
    } finally {
      expect((await admin('PUT', '/v1/manifest', MANIFEST, 'application/yaml')).status).toBe(200);
    }
  }, 30_000);
});

/** The socket, with each bridge message passed through `rewrite` before the SDK sees it. */
function tamper(socket: SocketLike, rewrite: (message: Record<string, unknown>) => Record<string, unknown>): SocketLike {
  const proxy: SocketLike = {
    send: (data) => {
      socket.send(data);
    },
    close: (code, reason) => {
      socket.close(code, reason);
    },
    onopen: null,
    onclose: null,
    onerror: null,
    onmessage: null,
  };
  socket.onopen = (): void => proxy.onopen?.();
  socket.onclose = (): void => proxy.onclose?.();
  socket.onerror = (): void => proxy.onerror?.();
  socket.onmessage = (event): void => {
    const data = typeof event.data === 'string' ? JSON.stringify(rewrite(JSON.parse(event.data) as Record<string, unknown>)) : event.data;
    proxy.onmessage?.({ data });
  };
  return proxy;
}
