// The broker's side of the data plane, through inject() and fake control
// sockets: placement under the host's policy and its release, exact
// membership, ticket renewals, the commands pushed to bridges on every policy
// change, and bridges' signalling URLs bound at enrolment.
import { decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ControlCommand } from '../protocol/control-commands.js';
import { admin, brokerApi } from './broker-api.fixture.js';
import { PlacementReleaser } from './placement-release.js';
import { canadaStaysInCanada } from './policy-edits.fixture.js';
import type { BridgeAbilities } from './control.js';
import { catchUpBridge } from './recheck.js';
import { startTestBroker, type TestBroker } from './test-broker.fixture.js';
import { verifyControlMessage } from '../protocol/control-message.js';
import { readRouteTicketUnverified, verifyRouteTicket } from '../protocol/route-ticket.js';
import { decided } from './route-answer.fixture.js';

let broker: TestBroker;

beforeEach(async () => {
  broker = await startTestBroker();
});
afterEach(async () => {
  await broker.close();
});

const { call, account, meeting, joinToken, allBridgesUp, route, ticketAt, claimWith, claim, admission, routeAndAdmit } = brokerApi(() => broker);

/** What a bridge's control socket received (from the `from`th frame on): each frame verified as the bridge verifies it, then parsed. */
function controlSocket(datacenter: string, abilities: BridgeAbilities = {}): { commands: (from?: number) => Promise<(ControlCommand & { seq: number })[]> } {
  const nonce = `nonce-${datacenter}-0123456789`;
  const frames: string[] = [];
  broker.ctx.control.attach(datacenter, { send: (frame) => frames.push(frame) }, nonce, abilities);
  return {
    commands: async (from = 0) => {
      // Commands leave one after another on a promise chain: let it drain.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const out: (ControlCommand & { seq: number })[] = [];
      for (const frame of frames.slice(from)) {
        const { control } = JSON.parse(frame) as { control: string };
        const claims = await verifyControlMessage(broker.ctx.keys, control, { now: broker.ctx.now(), datacenter, nonce });
        out.push({ ...claims.command, seq: claims.seq });
      }
      return out;
    },
  };
}

async function auditTypes(): Promise<string[]> {
  return (await broker.ctx.audit.read()).map((r) => r.type);
}

describe('placement follows the host’s policy', () => {
  it('refuses a claim of an empty meeting by a bridge outside the host’s fence: the ticket carries the host’s policy', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const res = await claimWith('cn-beijing', m, await ticketAt('cn-beijing', m, 'CN'));
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('TICKET_OUTSIDE_FENCE');
    expect(await broker.ctx.store.getPlacement(m)).toBeUndefined();
  });

  it('refuses a guest whose fence is disjoint from the host’s before any placement, so a first joiner cannot lock the meeting across the border', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const res = await route((await joinToken(apiKey, m)).token, '1.2.4.8'); // mainland China
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('FENCE_CONFLICT');
    expect(await broker.ctx.store.getPlacement(m)).toBeUndefined();
    // The host's own participants then place it inside the host's fence.
    await routeAndAdmit(apiKey, m);
    expect((await broker.ctx.store.getPlacement(m))?.datacenter).toBe('us-east');
  });

  it('releases a placement once the meeting has stood empty for placementReleaseMs, and an ended meeting’s at once', async () => {
    await broker.close();
    broker = await startTestBroker({ config: { placementReleaseMs: 10_000 } });
    await allBridgesUp();
    const releaser = new PlacementReleaser(broker.ctx);
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { participant, decisionId } = await routeAndAdmit(apiKey, m);
    broker.advance(60_000);
    await allBridgesUp();
    expect(await releaser.sweep()).toEqual([]); // not empty: kept however long
    await admission('us-east', { participant, meeting: m, outcome: 'left', session: decisionId });
    expect(await releaser.sweep()).toEqual([]); // empty since now
    broker.advance(9_000);
    expect(await releaser.sweep()).toEqual([]);
    broker.advance(1_000);
    expect(await releaser.sweep()).toEqual([m]);
    expect(await broker.ctx.store.getPlacement(m)).toBeUndefined();
    expect((await broker.ctx.audit.read()).find((r) => r.type === 'placement.released')?.data).toMatchObject({ meeting: m, datacenter: 'us-east' });
    // Placed afresh, anywhere the policy then allows.
    await allBridgesUp();
    expect(await claim('us-west', m)).toMatchObject({ won: true, datacenter: 'us-west', epoch: 1 });

    const ended = await meeting(apiKey);
    await claim('us-east', ended);
    expect((await call({ method: 'DELETE', url: `/v1/meetings/${ended}`, headers: { authorization: `Bearer ${apiKey}` } })).statusCode).toBe(204);
    expect(await releaser.sweep()).toContain(ended);
  });
});

describe('membership is exact', () => {
  it('removes a member only on the word of the bridge that admitted that session', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { participant, decisionId } = await routeAndAdmit(apiKey, m);
    expect((await admission('us-east', { participant, meeting: m, outcome: 'left', session: 'dec_older' })).json()).toEqual({ recorded: false });
    expect((await admission('us-east', { participant, meeting: m, outcome: 'left' })).statusCode).toBe(400);
    expect(await broker.ctx.store.listParticipants(m)).toHaveLength(1);
    expect((await admission('us-east', { participant, meeting: m, outcome: 'left', session: decisionId, code: 'TICKET_OUTSIDE_FENCE', reason: 'policy' })).json()).toEqual({ recorded: true });
    expect(await broker.ctx.store.listParticipants(m)).toEqual([]);
    expect((await broker.ctx.audit.read()).find((r) => r.type === 'bridge.eviction')?.data).toMatchObject({ participant, code: 'TICKET_OUTSIDE_FENCE', datacenter: 'us-east' });
  });

  it('lets a join token hold one live session: a second admission replaces the first, audited, and the first one’s bridge is told to evict it', async () => {
    await allBridgesUp();
    const usEast = controlSocket('us-east');
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { token, participant } = await joinToken(apiKey, m);
    const first = decided((await route(token)).json<{ ticket: string }>());
    await claimWith('us-east', m, first.ticket);
    await admission('us-east', { participant, meeting: m, outcome: 'admitted', ticket: first.ticket });
    // us-east dies; the same join token routes again and is admitted at us-west.
    broker.advance(6000);
    await allBridgesUp(['us-east']);
    const second = decided((await route(token)).json<{ ticket: string }>());
    const elsewhere = second.candidates[0]?.datacenter ?? '';
    expect(elsewhere).not.toBe('us-east');
    expect((await claimWith(elsewhere, m, second.ticket)).json()).toMatchObject({ won: true });
    expect((await admission(elsewhere, { participant, meeting: m, outcome: 'admitted', ticket: second.ticket })).statusCode).toBe(200);
    expect(await broker.ctx.store.listParticipants(m)).toMatchObject([{ id: participant, datacenter: elsewhere, session: second.decisionId }]);
    expect((await broker.ctx.audit.read()).find((r) => r.type === 'participant.replaced')?.data).toMatchObject({
      participant,
      from: { datacenter: 'us-east', session: first.decisionId },
      to: { datacenter: elsewhere, session: second.decisionId },
    });
    expect((await usEast.commands()).filter((c) => c.type === 'evict')).toEqual([
      expect.objectContaining({ type: 'evict', meeting: m, participant, session: first.decisionId, code: 'SESSION_REPLACED' }),
    ]);
    // The first bridge's late departure report of the old session removes nothing.
    expect((await admission('us-east', { participant, meeting: m, outcome: 'left', session: first.decisionId })).json()).toEqual({ recorded: false });
    expect(await broker.ctx.store.listParticipants(m)).toHaveLength(1);
  });
});

describe('ticket renewals', () => {
  async function renew(datacenter: string, tickets: string[]): Promise<{ participant: string; ok: boolean; ticket?: string; code?: string }[]> {
    const res = await call({ method: 'POST', url: '/v1/bridges/renewals', payload: { message: await broker.signAs(datacenter, { kind: 'renewal', tickets }) } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ results: { participant: string; ok: boolean; ticket?: string; code?: string }[] }>().results;
  }

  it('renews the ticket of a member still entitled, for its datacenter, keeping the decision', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { participant, ticket, decisionId } = await routeAndAdmit(apiKey, m);
    broker.advance(90_000);
    await allBridgesUp();
    const [result] = await renew('us-east', [ticket]);
    expect(result).toMatchObject({ participant, ok: true });
    const claims = await verifyRouteTicket(broker.ctx.keys, result?.ticket ?? '', { now: broker.ctx.now(), datacenter: 'us-east', jurisdiction: { code: 'US', manifests: broker.ctx.policy.manifestBySha256 } });
    // The route's other candidates stay on it: the client may still go on through them should this bridge vanish.
    expect(claims).toMatchObject({ sub: participant, meeting: m, decision: decisionId, candidates: readRouteTicketUnverified(ticket).candidates, name: 'Ada' });
    expect(claims.exp).toBeGreaterThan(readRouteTicketUnverified(ticket).exp);
  });

  it('leaves out of the renewed ticket the candidates the policy in force no longer allows', async () => {
    await broker.close();
    broker = await startTestBroker({ config: { dev: true } });
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { ticket, datacenter } = await routeAndAdmit(apiKey, m, { payload: { country: 'CA' } }, '127.0.0.1');
    expect(datacenter).toBe('ca-central');
    expect(readRouteTicketUnverified(ticket).candidates).toContain('us-east');
    const put = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml' }, payload: canadaStaysInCanada(broker.ctx.policy.current.text) });
    expect(put.statusCode, put.body).toBe(200);
    const [result] = await renew('ca-central', [ticket]);
    expect(readRouteTicketUnverified(result?.ticket ?? '')).toMatchObject({ candidates: ['ca-central'], candidateJurisdictions: ['CA'] });
  });

  it('refuses, with its code and an audit record, a participant no longer a member, replaced, moved away from, or whose meeting ended', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const routed = async (): Promise<{ participant: string; ticket: string }> => {
      const { token, participant } = await joinToken(apiKey, m);
      const { ticket } = (await route(token)).json<{ ticket: string }>();
      return { participant, ticket };
    };
    const stranger = await routed();
    const member = await routed();
    await claimWith('us-east', m, member.ticket);
    await admission('us-east', { participant: member.participant, meeting: m, outcome: 'admitted', ticket: member.ticket });
    expect((await renew('us-east', [stranger.ticket, member.ticket])).map((r) => r.code ?? 'ok')).toEqual(['NOT_A_MEMBER', 'ok']);

    // The meeting moves (its datacenter died): the old bridge's renewals are refused.
    broker.advance(6000);
    await allBridgesUp(['us-east']);
    await claim('us-west', m);
    expect((await renew('us-west', [await ticketAt('us-west', m)])).map((r) => r.code)).toEqual(['NOT_A_MEMBER']);
    await allBridgesUp();
    expect((await renew('us-east', [member.ticket])).map((r) => r.code)).toEqual(['PLACED_ELSEWHERE']);

    expect((await call({ method: 'DELETE', url: `/v1/meetings/${m}`, headers: { authorization: `Bearer ${apiKey}` } })).statusCode).toBe(204);
    expect((await renew('us-east', [member.ticket])).map((r) => r.code)).toEqual(['MEETING_ENDED']);
    const refused = (await broker.ctx.audit.read()).filter((r) => r.type === 'ticket.renewal-refused').map((r) => r.data.code);
    expect(refused).toEqual(['NOT_A_MEMBER', 'NOT_A_MEMBER', 'PLACED_ELSEWHERE', 'MEETING_ENDED']);
  });
});

describe('policy changes reach the bridges', () => {
  it('on a new manifest: the policy to every bridge, then a move to the bridge whose meeting was re-homed', async () => {
    await broker.close();
    broker = await startTestBroker({ config: { dev: true } });
    await allBridgesUp();
    const usEast = controlSocket('us-east');
    const caCentral = controlSocket('ca-central');
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    await routeAndAdmit(apiKey, m, { payload: { country: 'US' } }, '127.0.0.1'); // at us-east
    await routeAndAdmit(apiKey, m, { payload: { country: 'CA' } }, '127.0.0.1'); // sent to the meeting at us-east
    const text = canadaStaysInCanada(broker.ctx.policy.current.text);
    const res = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml' }, payload: text });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ recheck: { rehomed: unknown[] } }>().recheck.rehomed).toEqual([{ meeting: m, from: 'us-east', to: 'ca-central' }]);
    const east = await usEast.commands();
    // On attach: the keys to refuse, then the manifest in force.
    expect(east.map((c) => c.type)).toEqual(['keys', 'policy', 'policy', 'move']);
    expect(east.map((c) => c.seq)).toEqual([1, 2, 3, 4]);
    expect(east[2]).toMatchObject({ type: 'policy', version: 2 });
    expect(east[3]).toMatchObject({ type: 'move', meeting: m, to: 'ca-central' });
    expect((await caCentral.commands()).map((c) => c.type)).toEqual(['keys', 'policy', 'policy']);
  });

  it('on an account’s new policy: a move to the bridge the meeting left, the policy to the one it moved to; on DELETE: an end to every bridge', async () => {
    await allBridgesUp();
    const usEast = controlSocket('us-east');
    const caCentral = controlSocket('ca-central');
    const { apiKey, id } = await account();
    const m = await meeting(apiKey);
    await routeAndAdmit(apiKey, m);
    const res = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['CA'] } });
    expect(res.statusCode, res.body).toBe(200);
    expect((await usEast.commands()).slice(2)).toEqual([expect.objectContaining({ type: 'move', meeting: m, to: 'ca-central' })]);
    expect((await caCentral.commands()).slice(2)).toEqual([expect.objectContaining({ type: 'meeting-policy', meeting: m, policy: { hostCountry: 'US', accountJurisdictions: ['CA'] } })]);
    expect((await call({ method: 'DELETE', url: `/v1/meetings/${m}`, headers: { authorization: `Bearer ${apiKey}` } })).statusCode).toBe(204);
    for (const socket of [usEast, caCentral]) expect((await socket.commands()).at(-1)).toMatchObject({ type: 'end', meeting: m });
    expect(await auditTypes()).toEqual(expect.arrayContaining(['placement.rehomed', 'meeting.ended']));
  });
});

describe('an account’s policy revisions', () => {
  it('number every change: the meeting’s bridge hears the revision if it said it takes one, and an admission answer carries it', async () => {
    await allBridgesUp();
    // A bridge from before revisions: the command it can parse, without the field.
    const older = controlSocket('ca-central');
    const { apiKey, id } = await account();
    const m = await meeting(apiKey);
    await routeAndAdmit(apiKey, m);
    const put = async (allowedJurisdictions: string[]): Promise<void> => {
      const res = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions } });
      expect(res.statusCode, res.body).toBe(200);
    };
    await put(['CA']);
    expect((await older.commands()).slice(2)).toEqual([{ type: 'meeting-policy', meeting: m, policy: { hostCountry: 'US', accountJurisdictions: ['CA'] }, seq: 3 }]);

    const newer = controlSocket('ca-central', { policyRevisions: true });
    await put(['CA', 'US']);
    await put(['CA']);
    expect((await newer.commands()).slice(2).map((c) => c.type === 'meeting-policy' && [c.revision, c.policy.accountJurisdictions])).toEqual([
      [2, ['CA', 'US']],
      [3, ['CA']],
    ]);
    const ticket = await ticketAt('ca-central', m, 'CA');
    const res = await admission('ca-central', { participant: readRouteTicketUnverified(ticket).sub, meeting: m, outcome: 'admitted', ticket });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ policyRevision?: number }>().policyRevision).toBe(3);
  });
});

describe('a bridge that reconnects is caught up', () => {
  it('is told to move the meetings it still carries that moved while it was away, to close those that ended, and the policy of the one it holds', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const moved = await meeting(apiKey);
    const ended = await meeting(apiKey);
    const stays = await meeting(apiKey);
    for (const m of [moved, ended, stays]) await routeAndAdmit(apiKey, m);
    // While us-east's channel was down: one meeting re-homed, one ended.
    broker.advance(6000);
    await allBridgesUp(['us-east']);
    await claim('us-west', moved);
    expect((await call({ method: 'DELETE', url: `/v1/meetings/${ended}`, headers: { authorization: `Bearer ${apiKey}` } })).statusCode).toBe(204);
    const usEast = controlSocket('us-east');
    await catchUpBridge(broker.ctx, 'us-east');
    const missed = (await usEast.commands()).slice(2).map((c) => ({ type: c.type, meeting: 'meeting' in c ? c.meeting : undefined }));
    expect(missed).toEqual(expect.arrayContaining([{ type: 'move', meeting: moved }, { type: 'end', meeting: ended }, { type: 'meeting-policy', meeting: stays }]));
    expect(missed).toHaveLength(3);
  });
});

describe('bridge signalling URLs', () => {
  async function heartbeat(datacenter: string, url: string, draining = false): Promise<{ status: number; code?: string }> {
    const res = await call({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: await broker.signAs(datacenter, { kind: 'heartbeat', participants: 0, cpu: 0, draining, url }) } });
    return { status: res.statusCode, ...(res.statusCode === 200 ? {} : { code: res.json<{ code: string }>().code }) };
  }

  it('binds the URL a bridge enrolled with: a live bridge may not change it; a new enrolment may, audited', async () => {
    expect(await heartbeat('us-east', 'ws://10.0.0.1:9000/signal')).toEqual({ status: 200 });
    for (let i = 0; i < 3; i++) expect(await heartbeat('us-east', 'ws://10.6.6.6:9000/signal')).toEqual({ status: 409, code: 'BRIDGE_URL_CHANGED' });
    expect((await broker.ctx.audit.read()).filter((r) => r.type === 'bridge.refusal')).toHaveLength(1);
    broker.advance(6000); // gone quiet: the next heartbeat enrols again
    expect(await heartbeat('us-east', 'ws://10.0.0.2:9000/signal')).toEqual({ status: 200 });
    expect((await broker.ctx.audit.read()).find((r) => r.type === 'bridge.url-changed')?.data).toEqual({ datacenter: 'us-east', from: 'ws://10.0.0.1:9000/signal', to: 'ws://10.0.0.2:9000/signal' });
  });

  it('lets a new bridge take over from a draining one at once, and keeps the old one from taking the URL back', async () => {
    const [old, next] = ['ws://10.0.0.1:9000/signal', 'ws://10.0.0.3:9000/signal'];
    expect(await heartbeat('us-west', old)).toEqual({ status: 200 });
    // The old bridge drains (its last heartbeat may land after its presence dropped): its successor enrols at once.
    expect(await heartbeat('us-west', old, true)).toEqual({ status: 200 });
    expect(await heartbeat('us-west', next)).toEqual({ status: 200 });
    expect(broker.ctx.registry.url('us-west')).toBe(next);
    expect((await broker.ctx.audit.read()).filter((r) => r.type === 'bridge.url-changed').map((r) => r.data)).toEqual([{ datacenter: 'us-west', from: old, to: next }]);
    // A late heartbeat of the old one changes nothing: the new one is serving.
    expect(await heartbeat('us-west', old, true)).toEqual({ status: 409, code: 'BRIDGE_URL_CHANGED' });
    expect(broker.ctx.registry.isServing('us-west', broker.ctx.monotonicMs())).toBe(true);
  });

  it('refuses a URL other than the one its operator configured', async () => {
    await broker.close();
    broker = await startTestBroker({ config: { bridgeUrls: new Map([['us-east', 'wss://use1.example.com/signal']]) } });
    expect(await heartbeat('us-east', 'wss://use1.example.com:8443/signal')).toEqual({ status: 409, code: 'BRIDGE_URL_MISMATCH' });
    expect(await heartbeat('us-east', 'wss://use1.example.com/signal')).toEqual({ status: 200 });
  });

  it('publishes each datacenter’s bridge key, for clients to check a bridge’s proof', async () => {
    const keys = (await call({ method: 'GET', url: '/v1/bridges/keys' })).json<{ keys: Record<string, { kty: string; crv: string; x: string }> }>().keys;
    expect(Object.keys(keys).sort()).toEqual(broker.ctx.policy.current.manifest.datacenters.map((d) => d.id).sort());
    expect(keys['us-east']).toMatchObject({ kty: 'OKP', crv: 'Ed25519', x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) as string });
  });
});

describe('signing keys: list, rotate, revoke (admin token)', () => {
  type Listed = { kid: string; state: string; createdAt: string; retiredAt?: string; revokedAt?: string; verifiesUntil?: string };

  async function listKeys(): Promise<Listed[]> {
    const res = await call({ method: 'GET', url: '/v1/admin/keys', headers: admin });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ keys: Listed[] }>().keys;
  }

  it('answers only the admin token, on every keys endpoint', async () => {
    for (const [method, url] of [['GET', '/v1/admin/keys'], ['POST', '/v1/admin/keys/rotate'], ['POST', '/v1/admin/keys/revoke']] as const) {
      const res = await call({ method, url, headers: { authorization: 'Bearer not-the-admin-token' }, ...(method === 'POST' ? { payload: { kid: broker.ctx.keys.currentKid } } : {}) });
      expect([url, res.statusCode, res.json<{ code: string }>().code]).toEqual([url, 401, 'UNAUTHORIZED']);
    }
    expect((await listKeys()).map((k) => k.state)).toEqual(['current']);
  });

  it('rotate: the bridges are told at once, and what the old key signed keeps working', async () => {
    await allBridgesUp();
    const usEast = controlSocket('us-east');
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { ticket, participant } = await routeAndAdmit(apiKey, m);
    const { token } = await joinToken(apiKey, m);
    const old = broker.ctx.keys.currentKid;
    broker.advance(1000);
    const res = await call({ method: 'POST', url: '/v1/admin/keys/rotate', headers: admin });
    expect(res.statusCode, res.body).toBe(200);
    const kid = res.json<{ kid: string }>().kid;
    expect((await usEast.commands()).map((c) => c.type)).toEqual(['keys', 'policy', 'keys']);
    expect((await listKeys()).map((k) => [k.kid, k.state])).toEqual([
      [kid, 'current'],
      [old, 'retired'],
    ]);
    // In flight: the old join token still routes, the old ticket is still renewed — with a ticket of the new key.
    expect((await route(token)).statusCode).toBe(200);
    const renewed = await call({ method: 'POST', url: '/v1/bridges/renewals', payload: { message: await broker.signAs('us-east', { kind: 'renewal', tickets: [ticket] }) } });
    const [result] = renewed.json<{ results: { participant: string; ok: boolean; ticket: string }[] }>().results;
    expect(result).toMatchObject({ participant, ok: true });
    expect(decodeProtectedHeader(result?.ticket ?? '').kid).toBe(kid);
  });

  it('revoke: refused at once by every verifier of the broker, told to every bridge, audited, kept; the current key is rotated first', async () => {
    await allBridgesUp();
    const usEast = controlSocket('us-east');
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { ticket } = await routeAndAdmit(apiKey, m);
    const { token } = await joinToken(apiKey, m);
    const old = broker.ctx.keys.currentKid;
    const sent = (await usEast.commands()).length;
    broker.advance(1000);
    const res = await call({ method: 'POST', url: '/v1/admin/keys/revoke', headers: admin, payload: { kid: old } });
    expect(res.statusCode, res.body).toBe(200);
    const { rotatedTo, revokedAt } = res.json<{ kid: string; revokedAt: string; rotatedTo: string }>();
    expect(rotatedTo).toBe(broker.ctx.keys.currentKid);
    expect(revokedAt).toBe(broker.ctx.now().toISOString());
    // The bridge was told before the answer left, signed by the new key.
    expect(await usEast.commands(sent)).toEqual([expect.objectContaining({ type: 'keys', revoked: [old] })]);
    const jwks = (await call({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: { kid: string }[] }>();
    expect(jwks.keys.map((k) => k.kid)).toEqual([rotatedTo]);
    // The join token (remembered as verified before) and the ticket it signed: refused, with their own code.
    const routed = await route(token);
    expect([routed.statusCode, routed.json<{ code: string }>().code]).toEqual([401, 'KEY_REVOKED']);
    const admitted = await admission('us-east', { participant: 'p-late', meeting: m, outcome: 'admitted', ticket });
    expect([admitted.statusCode, admitted.json<{ code: string }>().code]).toEqual([401, 'KEY_REVOKED']);
    const renewed = await call({ method: 'POST', url: '/v1/bridges/renewals', payload: { message: await broker.signAs('us-east', { kind: 'renewal', tickets: [ticket] }) } });
    expect(renewed.json<{ results: unknown[] }>().results).toEqual([expect.objectContaining({ ok: false, code: 'KEY_REVOKED' })]);
    expect((await broker.ctx.audit.read()).find((r) => r.type === 'admin.action' && r.data.action === 'keys.revoke')?.data).toEqual({ actor: 'admin', action: 'keys.revoke', target: old, rotatedTo });
    expect((await listKeys()).map((k) => [k.kid, k.state, k.revokedAt])).toEqual([
      [rotatedTo, 'current', undefined],
      [old, 'revoked', revokedAt],
    ]);
    // A bridge that connects later hears of it before it may admit anyone.
    const later = controlSocket('ca-central');
    expect((await later.commands()).slice(0, 2)).toEqual([expect.objectContaining({ type: 'keys', revoked: [old] }), expect.objectContaining({ type: 'policy' })]);
  });

  it('revoke refuses an unknown kid (404 NOT_FOUND) and a body with other fields (400), and changes nothing', async () => {
    const current = broker.ctx.keys.currentKid;
    const unknown = await call({ method: 'POST', url: '/v1/admin/keys/revoke', headers: admin, payload: { kid: 'no-such-kid' } });
    expect([unknown.statusCode, unknown.json<{ code: string }>().code]).toEqual([404, 'NOT_FOUND']);
    const extra = await call({ method: 'POST', url: '/v1/admin/keys/revoke', headers: admin, payload: { kid: current, all: true } });
    expect(extra.statusCode).toBe(400);
    expect((await listKeys()).map((k) => [k.kid, k.state])).toEqual([[current, 'current']]);
  });
});
