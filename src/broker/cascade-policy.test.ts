// A policy change reaches a cascaded meeting (serve --cascade), which has no
// placement: every bridge with members of it or an end of one of its hops is
// sent the meeting's new policy, each member the policy no longer allows
// where it is is evicted (TICKET_OUTSIDE_FENCE), and the hops into and out of
// the datacenters it rules out close at once, before the evicted members'
// bridges report them gone. A bridge away during the change is caught up
// when it comes back.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ControlCommand } from '../protocol/control-commands.js';
import { verifyControlMessage } from '../protocol/control-message.js';
import { admin, brokerApi } from './broker-api.fixture.js';
import { hopsOf } from './cascade.js';
import { canadaStaysInCanada } from './policy-edits.fixture.js';
import { catchUpBridge } from './recheck.js';
import { startTestBroker, type TestBroker } from './test-broker.fixture.js';
import { readRouteTicketUnverified } from '../protocol/route-ticket.js';

let broker: TestBroker;

beforeEach(async () => {
  broker = await startTestBroker({ config: { cascade: true } });
});
afterEach(async () => {
  await broker.close();
});

const { call, account, meeting, ticketAt, admission } = brokerApi(() => broker);

/** Waits for `condition`, polling: commands and plans settle on promise chains. */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A bridge's control socket: the commands it received, verified as the bridge verifies them. */
function controlSocket(datacenter: string): () => Promise<ControlCommand[]> {
  const nonce = `nonce-${datacenter}-0123456789`;
  const frames: string[] = [];
  broker.ctx.control.attach(datacenter, { send: (frame) => frames.push(frame) }, nonce);
  return async () => {
    const out: ControlCommand[] = [];
    for (const frame of frames) out.push((await verifyControlMessage(broker.ctx.keys, (JSON.parse(frame) as { control: string }).control, { now: broker.ctx.now(), datacenter, nonce })).command);
    return out;
  };
}

/** Every bridge is up and has enrolled its signalling URL (a hop needs the sending bridge's). */
async function bridgesEnrolled(): Promise<void> {
  for (const dc of broker.ctx.policy.current.manifest.datacenters) {
    const res = await call({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: await broker.signAs(dc.id, { kind: 'heartbeat', participants: 0, cpu: 0.1, draining: false, url: `wss://${dc.id}.bridge.test/signal` }) } });
    expect(res.statusCode, res.body).toBe(200);
  }
}

/** A participant from `country` admitted by the bridge of `datacenter`: its id and session. */
async function admitted(m: string, datacenter: string, country: string): Promise<{ id: string; session: string; ticket: string }> {
  const ticket = await ticketAt(datacenter, m, country);
  const { sub, decision } = readRouteTicketUnverified(ticket);
  const res = await admission(datacenter, { participant: sub, meeting: m, outcome: 'admitted', ticket });
  expect(res.statusCode, res.body).toBe(200);
  return { id: sub, session: decision, ticket };
}

const hopKeys = (m: string): string[] => hopsOf(broker.ctx, m).map((h) => `${h.from} → ${h.to}: ${h.streams.join(',')}`);

/** Anna (DE) on eu-central and Kenji (JP) on ap-tokyo, a hop each way between them. */
async function annaAndKenji(): Promise<{ id: string; m: string; anna: { id: string; session: string; ticket: string }; kenji: { id: string; session: string } }> {
  await bridgesEnrolled();
  const { id, apiKey } = await account();
  const m = await meeting(apiKey);
  const anna = await admitted(m, 'eu-central', 'DE');
  const kenji = await admitted(m, 'ap-tokyo', 'JP');
  await until(() => hopKeys(m).length === 2, 'the two hops');
  expect(hopKeys(m)).toEqual([`ap-tokyo → eu-central: ${kenji.id}`, `eu-central → ap-tokyo: ${anna.id}`]);
  return { id, m, anna, kenji };
}

describe("an account's new policy reaches its cascaded meetings", () => {
  it('sends the meeting policy to every bridge holding its media, evicts the member it rules out, and closes the hops into and out of its datacenter at once', async () => {
    const frankfurt = controlSocket('eu-central');
    const tokyo = controlSocket('ap-tokyo');
    const virginia = controlSocket('us-east');
    const { id, m, anna, kenji } = await annaAndKenji();
    // The plan's last tickets have gone out.
    await until(async () => (await frankfurt()).some((c) => c.type === 'relay') && (await tokyo()).some((c) => c.type === 'relay'), 'both hops opened');
    const before = { frankfurt: (await frankfurt()).length, tokyo: (await tokyo()).length, virginia: (await virginia()).length };

    const res = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['US', 'JP'] } });
    expect(res.statusCode, res.body).toBe(200);

    const policy = { hostCountry: 'US', accountJurisdictions: ['JP', 'US'], cascade: true };
    await until(async () => (await frankfurt()).some((c) => c.type === 'relay-end'), 'the hop into eu-central to close');
    const toFrankfurt = (await frankfurt()).slice(before.frankfurt);
    expect(toFrankfurt).toEqual(
      expect.arrayContaining([
        { type: 'meeting-policy', meeting: m, policy },
        expect.objectContaining({ type: 'evict', meeting: m, participant: anna.id, session: anna.session, code: 'TICKET_OUTSIDE_FENCE' }),
        expect.objectContaining({ type: 'relay-end', meeting: m, from: 'ap-tokyo' }),
      ]),
    );
    // The policy first: the bridge re-checks everyone (and its hops) before the rest.
    expect(toFrankfurt[0]?.type).toBe('meeting-policy');
    const toTokyo = (await tokyo()).slice(before.tokyo);
    expect(toTokyo).toEqual(expect.arrayContaining([{ type: 'meeting-policy', meeting: m, policy }, expect.objectContaining({ type: 'relay-end', meeting: m, from: 'eu-central' })]));
    // Kenji stays; a bridge with no part in the meeting hears nothing of it.
    expect(toTokyo.filter((c) => c.type === 'evict')).toEqual([]);
    expect((await virginia()).slice(before.virginia)).toEqual([]);
    // Closed by the broker's plan before eu-central reports Anna gone: her row is still there.
    expect(hopsOf(broker.ctx, m)).toEqual([]);
    expect((await broker.ctx.store.listParticipants(m)).map((p) => p.id)).toContain(anna.id);
    const closed = (await broker.ctx.audit.read()).filter((r) => r.type === 'relay.closed').map((r) => `${String(r.data.from)} → ${String(r.data.to)}: ${String(r.data.participant)}`);
    expect(closed.sort()).toEqual([`ap-tokyo → eu-central: ${kenji.id}`, `eu-central → ap-tokyo: ${anna.id}`]);
    // Should the bridge not obey, its ticket is not renewed.
    const renewal = await call({ method: 'POST', url: '/v1/bridges/renewals', payload: { message: await broker.signAs('eu-central', { kind: 'renewal', tickets: [anna.ticket] }) } });
    expect(renewal.json<{ results: { participant: string; code?: string }[] }>().results).toEqual([expect.objectContaining({ participant: anna.id, code: 'TICKET_OUTSIDE_FENCE' })]);

    // The bridge obeys and reports it: audited and removed as any eviction.
    const left = await admission('eu-central', { participant: anna.id, meeting: m, outcome: 'left', session: anna.session, code: 'TICKET_OUTSIDE_FENCE', reason: 'policy' });
    expect(left.json()).toEqual({ recorded: true });
    expect((await broker.ctx.store.listParticipants(m)).map((p) => p.id)).toEqual([kenji.id]);
    expect((await broker.ctx.audit.read()).filter((r) => r.type === 'bridge.eviction').map((r) => r.data)).toEqual([expect.objectContaining({ participant: anna.id, datacenter: 'eu-central', code: 'TICKET_OUTSIDE_FENCE' })]);
  });

  it('catches up a bridge that was away during the change: the meeting policy in force, and who may no longer be there', async () => {
    const tokyo = controlSocket('ap-tokyo');
    const { id, m, anna } = await annaAndKenji();
    // eu-central's control channel is down while the account narrows.
    expect((await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['US', 'JP'] } })).statusCode).toBe(200);
    await until(async () => (await tokyo()).some((c) => c.type === 'meeting-policy'), 'the policy to ap-tokyo');
    const frankfurt = controlSocket('eu-central');
    await catchUpBridge(broker.ctx, 'eu-central');
    const missed = (await frankfurt()).filter((c) => c.type !== 'keys' && c.type !== 'policy');
    expect(missed).toEqual([
      { type: 'meeting-policy', meeting: m, policy: { hostCountry: 'US', accountJurisdictions: ['JP', 'US'], cascade: true } },
      expect.objectContaining({ type: 'evict', meeting: m, participant: anna.id, session: anna.session, code: 'TICKET_OUTSIDE_FENCE' }),
    ]);
    // No hop was planned into it again.
    expect(hopsOf(broker.ctx, m)).toEqual([]);
  });

});

describe('a new manifest reaches cascaded meetings', () => {
  it('evicts each member its fences no longer allow where it is, and plans no hop for it', async () => {
    await bridgesEnrolled();
    const virginia = controlSocket('us-east');
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const carla = await admitted(m, 'us-east', 'CA');
    const kenji = await admitted(m, 'ap-tokyo', 'JP');
    await until(() => hopKeys(m).some((h) => h.startsWith('us-east → ap-tokyo')), "the hop carrying Carla's stream");
    const res = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml' }, payload: canadaStaysInCanada(broker.ctx.policy.current.text) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ recheck: { checked: number; ended: unknown[] } }>().recheck).toMatchObject({ checked: 1, ended: [] });
    await until(async () => (await virginia()).some((c) => c.type === 'evict'), 'the eviction');
    expect((await virginia()).filter((c) => c.type === 'evict')).toEqual([expect.objectContaining({ meeting: m, participant: carla.id, session: carla.session, code: 'TICKET_OUTSIDE_FENCE' })]);
    expect(hopsOf(broker.ctx, m).flatMap((h) => h.streams)).not.toContain(carla.id);
    expect((await broker.ctx.store.listParticipants(m)).map((p) => p.id).sort()).toEqual([carla.id, kenji.id].sort());
  });
});
