/**
 * Fences in the data plane, with Node SDK participants sending real RTP
 * through real bridges on 127.0.0.1: a policy change (manifest, account
 * policy) or the end of a meeting stops the forbidden bridge's forwarding
 * within a second and the call continues as one meeting where it may; a
 * bridge cut off from the broker stops after its grace; tickets are renewed
 * and a refused renewal ends the session with its code; admissions racing a
 * closing socket leave no member behind; names come from tokens; a client
 * refuses a bridge that cannot prove its key.
 */
import { readFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { CompactSign, generateKeyPair } from 'jose';
import type { MediaStreamTrack } from 'werift';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BRIDGE_PROOF_TYPE } from '../protocol/bridge-proof.js';
import { SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { canadaStaysInCanada } from '../broker/policy-edits.fixture.js';
import { SqliteStore } from '../broker/store/sqlite-store.js';
import { newChallenge } from '../sdk/bridge-proof.js';
import { nodePlatform, type SessionEvent } from '../sdk/node.js';
import { Session } from '../sdk/session.js';
import { startCluster, WORLD, type Cluster } from './cluster.fixture.js';
import { joinCall, lastForwardedAt, participantIdOf, until, waitFor, type Caller } from './participant.fixture.js';
import type { Room } from './sfu.js';
import { readRouteTicketUnverified } from '../protocol/route-ticket.js';

/** The bound: the forbidden bridge forwards nothing more than this long after the change. */
const ENFORCEMENT_MS = 1000;

let cluster: Cluster;
const callers: Caller[] = [];

beforeAll(async () => {
  cluster = await startCluster(['us-east', 'us-west', 'ca-central', 'cn-beijing'], ['us-east', 'us-west', 'ca-central']);
}, 60_000);
afterAll(async () => {
  for (const c of callers) c.leave();
  await cluster.close();
});

async function api(method: string, path: string, token: string, body?: unknown, contentType = 'application/json'): Promise<Response> {
  const headers = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': contentType }) };
  return fetch(new URL(path, cluster.broker.url), { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
}

async function join(meeting: string, name: string, country: string, publish = false, joinToken?: string): Promise<Caller> {
  const caller = await joinCall(cluster, meeting, name, country, { publish, ...(joinToken !== undefined ? { joinToken } : {}) });
  callers.push(caller);
  return caller;
}

function connectedAt(caller: Caller, datacenter: string): Promise<unknown> {
  return waitFor(caller.events, (e) => (e.type === 'connected' && e.datacenter === datacenter ? e : undefined));
}

/** Ada (US) publishes, Bo (from `boCountry`) receives her video, both on us-east; returns them and the room. */
async function callOnUsEast(meeting: string, boCountry: string): Promise<{ ada: Caller; bo: Caller; room: Room }> {
  const ada = await join(meeting, 'Ada', 'US', true);
  await connectedAt(ada, 'us-east');
  const bo = await join(meeting, 'Bo', boCountry);
  await connectedAt(bo, 'us-east');
  const adaId = (await waitFor(bo.events, (e) => (e.type === 'participant-joined' && e.peer.name === 'Ada' ? e.peer.id : undefined)));
  await until(() => bo.received(adaId, 'us-east') > 10, 15_000);
  expect(bo.received(adaId, 'us-east')).toBeGreaterThan(10);
  const room = cluster.bridges.get('us-east')?.rooms.get(meeting);
  if (!room) throw new Error('no room on us-east');
  return { ada, bo, room };
}

describe('a policy change stops the forbidden bridge within a second, and the call goes on as one meeting', () => {
  it('a new manifest (Canadians stay in Canada): us-east stops, everyone continues on ca-central, a newcomer sees everyone; audited', async () => {
    const meeting = await cluster.meeting();
    const { ada, bo, room } = await callOnUsEast(meeting, 'CA');
    const world = readFileSync(WORLD, 'utf8');
    const started = performance.now();
    const res = await api('PUT', '/v1/manifest', cluster.adminToken, canadaStaysInCanada(world), 'application/yaml');
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await lastForwardedAt(room, started)).toBeLessThanOrEqual(ENFORCEMENT_MS);
    try {
      await Promise.all([connectedAt(ada, 'ca-central'), connectedAt(bo, 'ca-central')]);
      const cy = await join(meeting, 'Cy', 'CA');
      await connectedAt(cy, 'ca-central');
      const adaId = participantIdOf(bo, 'Ada') ?? '';
      await until(() => bo.received(adaId, 'ca-central') > 10 && cy.received(adaId, 'ca-central') > 10, 15_000);
      expect(bo.received(adaId, 'ca-central')).toBeGreaterThan(10);
      expect(cy.received(adaId, 'ca-central')).toBeGreaterThan(10);
      const seenByCy = new Set(cy.events.flatMap((e) => (e.type === 'participant-joined' ? [e.peer.name] : [])));
      expect(seenByCy).toEqual(new Set(['Ada', 'Bo']));
      const audit = await auditRecords();
      expect(audit).toContainEqual(expect.objectContaining({ type: 'placement.rehomed', data: expect.objectContaining({ meeting, from: 'us-east', datacenter: 'ca-central', reason: 'policy change' }) as unknown }));
      expect(audit).toContainEqual(expect.objectContaining({ type: 'bridge.eviction', data: expect.objectContaining({ meeting, datacenter: 'us-east', code: 'TICKET_OUTSIDE_FENCE' }) as unknown }));
    } finally {
      expect((await api('PUT', '/v1/manifest', cluster.adminToken, world, 'application/yaml')).status).toBe(200);
      for (const c of [ada, bo]) c.leave();
    }
  }, 90_000);

  it("an account's narrower data routing control: us-east stops, the call continues on ca-central", async () => {
    const created = (await (await api('POST', '/v1/accounts', cluster.adminToken, { name: 'Narrowing', homeCountry: 'US' })).json()) as { account: { id: string }; apiKey: string };
    const meeting = ((await (await api('POST', '/v1/meetings', created.apiKey, { title: 'Policy' })).json()) as { id: string }).id;
    const token = async (name: string): Promise<string> => ((await (await api('POST', `/v1/meetings/${meeting}/join-tokens`, created.apiKey, { name })).json()) as { token: string }).token;
    const ada = await join(meeting, 'Ada', 'US', true, await token('Ada'));
    await connectedAt(ada, 'us-east');
    const bo = await join(meeting, 'Bo', 'US', false, await token('Bo'));
    await connectedAt(bo, 'us-east');
    const room = cluster.bridges.get('us-east')?.rooms.get(meeting);
    if (!room) throw new Error('no room on us-east');
    await until(() => room.forwarded > 10, 15_000);
    const started = performance.now();
    expect((await api('PUT', `/v1/accounts/${created.account.id}/policy`, cluster.adminToken, { allowedJurisdictions: ['CA'] })).status).toBe(200);
    expect(await lastForwardedAt(room, started)).toBeLessThanOrEqual(ENFORCEMENT_MS);
    await Promise.all([connectedAt(ada, 'ca-central'), connectedAt(bo, 'ca-central')]);
    const adaId = participantIdOf(bo, 'Ada') ?? '';
    await until(() => bo.received(adaId, 'ca-central') > 10, 15_000);
    expect(bo.received(adaId, 'ca-central')).toBeGreaterThan(10);
    for (const c of [ada, bo]) c.leave();
  }, 90_000);

  it('DELETE of the meeting: the bridge stops within a second and every participant is told MEETING_ENDED, for good', async () => {
    const meeting = await cluster.meeting();
    const { ada, bo, room } = await callOnUsEast(meeting, 'US');
    const started = performance.now();
    expect((await api('DELETE', `/v1/meetings/${meeting}`, cluster.apiKey)).status).toBe(204);
    expect(await lastForwardedAt(room, started)).toBeLessThanOrEqual(ENFORCEMENT_MS);
    for (const c of [ada, bo]) {
      expect(await waitFor(c.events, (e) => (e.type === 'refused' ? e.code : undefined))).toBe('MEETING_ENDED');
      expect(c.session.status).toBe('failed');
    }
    expect((await auditRecords()).some((r) => r.type === 'meeting.ended' && r.data.meeting === meeting)).toBe(true);
  }, 60_000);
});

describe('membership is exact', () => {
  it('50 clients that send join and close at random moments leave no member on the bridge or at the broker', async () => {
    const meeting = await cluster.meeting();
    const tickets = await Promise.all(Array.from({ length: 50 }, () => routeTicket(meeting)));
    let seed = 11;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const url = cluster.bridges.get('us-east')?.url ?? '';
    await Promise.all(
      tickets.map(async (ticket) => {
        const ws = new WebSocket(url, SIGNALLING_SUBPROTOCOL);
        await new Promise((resolve) => ws.once('open', resolve));
        ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() }));
        await new Promise((resolve) => setTimeout(resolve, random() * 80));
        ws.close();
      }),
    );
    const members = async (): Promise<number> => ((await (await api('GET', `/v1/meetings/${meeting}`, cluster.apiKey)).json()) as { participants: number }).participants;
    const onBridge = (): number => cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.size ?? 0;
    let atBroker = -1;
    for (let i = 0; i < 100 && (atBroker !== 0 || onBridge() !== 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      atBroker = await members();
    }
    expect({ atBroker, onBridge: onBridge() }).toEqual({ atBroker: 0, onBridge: 0 });
  }, 60_000);

  it('shows the name in the join token, and refuses a join that tries to bring its own', async () => {
    const meeting = await cluster.meeting();
    const mallory = await join(meeting, 'Mallory', 'US');
    await connectedAt(mallory, 'us-east');
    const bo = await join(meeting, 'Bo', 'US');
    await connectedAt(bo, 'us-east');
    expect(participantIdOf(bo, 'Mallory')).toBeDefined();
    const forged = new WebSocket(cluster.bridges.get('us-east')?.url ?? '', SIGNALLING_SUBPROTOCOL);
    await new Promise((resolve) => forged.once('open', resolve));
    forged.send(JSON.stringify({ type: 'join', ticket: await routeTicket(meeting), challenge: newChallenge(), name: 'Alice (CEO)' }));
    const answer = await new Promise<{ type: string; code?: string }>((resolve) => forged.once('message', (data: Buffer) => { resolve(JSON.parse(data.toString('utf8')) as { type: string; code?: string }); }));
    expect(answer).toMatchObject({ type: 'refused', code: 'BAD_MESSAGE' });
    const names = [...(cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.values() ?? [])].map((p) => p.name).sort();
    expect(names).toEqual(['Bo', 'Mallory']);
    for (const c of [mallory, bo]) c.leave();
  }, 60_000);
});

describe('bridges prove who they are', () => {
  it('a client that reaches an impostor for us-east (valid ticket, wrong key) refuses it and goes on to a real bridge', async () => {
    const meeting = await cluster.meeting();
    const impostor = await startImpostor();
    const real = cluster.bridges.get('us-east')?.url;
    const events: SessionEvent<MediaStreamTrack>[] = [];
    const base = nodePlatform();
    // As if DNS sent us-east's name to the impostor: the client dials the URL the broker gave.
    const platform = { ...base, openSocket: (url: string, protocol: string) => base.openSocket(url === real ? impostor.url : url, protocol) };
    const session = new Session({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), country: 'US', platform, onEvent: (e) => events.push(e) });
    try {
      session.join();
      const connected = await waitFor(events, (e) => (e.type === 'connected' ? e : undefined));
      expect(connected.datacenter).not.toBe('us-east');
      expect(events).toContainEqual(expect.objectContaining({ type: 'bridge-refused', datacenter: 'us-east', code: 'BRIDGE_PROOF_INVALID' }));
      expect(impostor.joins()).toBeGreaterThan(0);
    } finally {
      session.leave();
      await impostor.close();
    }
  }, 60_000);
});

describe('without the broker, a bridge fails closed', () => {
  it('stops forwarding after its grace when cut off from the broker, telling its participants BRIDGE_CUT_OFF', async () => {
    const own = await startCluster(['us-east'], ['us-east'], { bridge: { controlGraceMs: 1500 } });
    const local: Caller[] = [];
    try {
      const meeting = await own.meeting();
      const ada = await joinCall(own, meeting, 'Ada', 'US', { publish: true });
      local.push(ada);
      await waitFor(ada.events, (e) => (e.type === 'connected' ? e : undefined));
      const bo = await joinCall(own, meeting, 'Bo', 'US');
      local.push(bo);
      await waitFor(bo.events, (e) => (e.type === 'connected' ? e : undefined));
      const room = own.bridges.get('us-east')?.rooms.get(meeting);
      if (!room) throw new Error('no room');
      await until(() => room.forwarded > 10, 15_000);
      const cut = performance.now();
      await own.broker.close();
      const stoppedAfter = await lastForwardedAt(room, cut);
      expect(stoppedAfter).toBeGreaterThan(1000); // it kept the call through most of its grace…
      expect(stoppedAfter).toBeLessThanOrEqual(1500 + ENFORCEMENT_MS); // …and not a second longer
      for (const c of [ada, bo]) expect(await waitFor(c.events, (e) => (e.type === 'bridge-refused' ? e.code : undefined))).toBe('BRIDGE_CUT_OFF');
    } finally {
      for (const c of local) c.leave();
      await own.close();
    }
  }, 60_000);
});

describe('tickets live as long as the right to use them', () => {
  it('renews a connected participant’s ticket past its lifetime, and ends the session with the code of a refused renewal', async () => {
    const own = await startCluster(['us-east'], ['us-east'], { routeTicketSeconds: 6 });
    const local: Caller[] = [];
    try {
      const meeting = await own.meeting();
      const ada = await joinCall(own, meeting, 'Ada', 'US');
      local.push(ada);
      await waitFor(ada.events, (e) => (e.type === 'connected' ? e : undefined));
      // Past the first ticket's six seconds: still connected, on renewed tickets.
      await new Promise((resolve) => setTimeout(resolve, 7500));
      expect(ada.events.filter((e) => e.type === 'reconnecting' || e.type === 'bridge-refused')).toEqual([]);
      // The broker forgets the member (as if its row were lost): the next renewal is refused, and the bridge ends the session with that code.
      const store = SqliteStore.open(joinPath(own.dataDir, 'broker.sqlite'));
      try {
        const [member] = await store.listParticipants(meeting);
        if (!member) throw new Error('no member');
        await store.removeParticipant(meeting, member.id, member);
      } finally {
        await store.close();
      }
      expect(await waitFor(ada.events, (e) => (e.type === 'bridge-refused' ? e.code : undefined), 10_000)).toBe('NOT_A_MEMBER');
    } finally {
      for (const c of local) c.leave();
      await own.close();
    }
  }, 60_000);
});

async function auditRecords(): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const { SqliteAuditLog } = await import('../broker/audit/sqlite-audit-log.js');
  const log = SqliteAuditLog.open(joinPath(cluster.dataDir, 'audit.sqlite'));
  try {
    return await log.read();
  } finally {
    await log.close();
  }
}

/** A route ticket for a new US participant of `meeting` (its first candidate is us-east). */
async function routeTicket(meeting: string): Promise<string> {
  const res = await api('POST', '/v1/route', await cluster.joinToken(meeting, 'Probe'), { country: 'US' });
  return ((await res.json()) as { ticket: string }).ticket;
}

/**
 * A server that speaks the signalling protocol and answers every join with
 * `admitted`, its proof signed with a key of its own: what a client reaching
 * the wrong host under a datacenter's name would get.
 */
async function startImpostor(): Promise<{ url: string; joins: () => number; close: () => Promise<void> }> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => SIGNALLING_SUBPROTOCOL });
  await new Promise((resolve) => wss.once('listening', resolve));
  let joins = 0;
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const hello = JSON.parse(data.toString('utf8')) as { type: string; ticket: string; challenge: string };
      if (hello.type !== 'join') return;
      joins++;
      const { sub } = readRouteTicketUnverified(hello.ticket);
      void new CompactSign(new TextEncoder().encode(JSON.stringify({ datacenter: 'us-east', challenge: hello.challenge, participant: sub, at: Date.now() })))
        .setProtectedHeader({ alg: 'EdDSA', typ: BRIDGE_PROOF_TYPE, kid: 'us-east' })
        .sign(privateKey)
        .then((proof) => {
          ws.send(JSON.stringify({ type: 'admitted', participant: sub, meeting: 'm', datacenter: 'us-east', jurisdiction: 'US', peers: [], mlsFounder: true, iceServers: [], name: 'x', proof }));
        });
    });
  });
  const address = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${String(address.port)}/signal`,
    joins: () => joins,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => {
          resolve();
        });
      }),
  };
}
