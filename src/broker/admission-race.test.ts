// An admission in flight across a policy change: the broker has checked the
// participant and is writing its member row when the operator narrows the
// account. The change's re-check listed the members before the row was
// there, and a bridge applies the change's commands only to sessions it
// already holds; so the admission is checked again once its row is written,
// and refused as a fresh admission would be (its row taken back), or
// answered with the policy read then. Each test holds the row's write open
// on a gate until the change is done.
import { afterEach, describe, expect, it } from 'vitest';
import { compilePolicy } from '../core/policy/compile.js';
import type { ControlCommand } from '../protocol/control-commands.js';
import { verifyControlMessage } from '../protocol/control-message.js';
import { admin, brokerApi } from './broker-api.fixture.js';
import { groupMembers } from './group-delivery.js';
import { meetingPolicyOf } from './route-request.js';
import type { Participant } from './store/store.js';
import { startTestBroker, type TestBroker } from './test-broker.fixture.js';
import { issueRouteTicket } from './tickets.js';

let broker: TestBroker | undefined;

afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

const { call, account, meeting, allBridgesUp, routeAndAdmit, admission } = brokerApi(() => {
  if (!broker) throw new Error('no broker');
  return broker;
});

/** A route ticket for `participant` (session `decision`) from `country`, naming only `datacenter`, under the meeting's policy now. */
async function ticketOf(b: TestBroker, m: string, participant: string, decision: string, datacenter: string, country: string): Promise<string> {
  const { manifest, sha256 } = b.ctx.policy.current;
  const stored = await b.ctx.store.getMeeting(m);
  const policy = meetingPolicyOf(stored && (await b.ctx.store.getAccount(stored.accountId)), stored, b.ctx.config.cascade) ?? { hostCountry: country };
  const issued = await issueRouteTicket(b.ctx.keys, {
    issuer: 'http://broker.test',
    participant,
    meeting: m,
    candidates: [datacenter],
    candidateJurisdictions: [compilePolicy(manifest).datacenterById.get(datacenter)?.jurisdiction ?? ''],
    decision,
    country,
    name: 'Carla',
    manifest: sha256,
    policy,
    ice: {},
    candidateRoles: ['primary'],
    attempts: { perPrimary: 2, timeoutMs: 1500 },
  });
  return issued.token;
}

/** Holds the write of `participant`'s member row until `release()`; `reached` resolves when the write is under way. */
function holdWriteOf(b: TestBroker, participant: string): { reached: Promise<void>; release: () => void } {
  const { store } = b.ctx;
  const write = store.addParticipant.bind(store);
  let reach = (): void => undefined;
  let release = (): void => undefined;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  store.addParticipant = async (p: Participant) => {
    if (p.id === participant) {
      reach();
      await gate;
    }
    return write(p);
  };
  return { reached, release };
}

/** A bridge's control socket: the commands it received, verified as the bridge verifies them. */
function controlSocket(b: TestBroker, datacenter: string): () => Promise<ControlCommand[]> {
  const nonce = `nonce-${datacenter}-0123456789`;
  const frames: string[] = [];
  b.ctx.control.attach(datacenter, { send: (frame) => frames.push(frame) }, nonce);
  return async () => {
    const out: ControlCommand[] = [];
    for (const frame of frames) out.push((await verifyControlMessage(b.ctx.keys, (JSON.parse(frame) as { control: string }).control, { now: b.ctx.now(), datacenter, nonce })).command);
    return out;
  };
}

/** The account narrows to `allowed` while Carla's (CA) admission at us-east writes its row; the admission's answer. */
async function narrowDuringAdmission(b: TestBroker, accountId: string, m: string, carla: { id: string; ticket: string }, allowed: readonly string[]): Promise<{ statusCode: number; json: () => Record<string, unknown> }> {
  const held = holdWriteOf(b, carla.id);
  const pending = admission('us-east', { participant: carla.id, meeting: m, outcome: 'admitted', ticket: carla.ticket });
  await held.reached;
  const put = await call({ method: 'PUT', url: `/v1/accounts/${accountId}/policy`, headers: admin, payload: { allowedJurisdictions: allowed } });
  expect(put.statusCode, put.body).toBe(200);
  held.release();
  const res = await pending;
  return { statusCode: res.statusCode, json: () => res.json<Record<string, unknown>>() };
}

describe('an admission in flight across an account policy change (one home per meeting)', () => {
  it('is refused as a fresh one would be when the change moved the meeting away, and leaves no member row', async () => {
    broker = await startTestBroker();
    await allBridgesUp();
    const { id, apiKey } = await account();
    const m = await meeting(apiKey);
    await routeAndAdmit(apiKey, m); // Ben (US) places the meeting at us-east
    const carlaTicket = await ticketOf(broker, m, 'p-carla', 'dec-carla', 'us-east', 'CA');
    const res = await narrowDuringAdmission(broker, id, m, { id: 'p-carla', ticket: carlaTicket }, ['CA']);
    expect((await broker.ctx.store.getPlacement(m))?.datacenter).toBe('ca-central');
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'PLACED_ELSEWHERE' });
    expect((await broker.ctx.store.listParticipants(m)).map((p) => p.id)).not.toContain('p-carla');
    expect((await broker.ctx.audit.read()).filter((r) => r.type === 'bridge.admission').map((r) => r.data.participant)).not.toContain('p-carla');
  });

  it('is answered with the policy read after its row was written when the change still allows it', async () => {
    broker = await startTestBroker();
    await allBridgesUp();
    const { id, apiKey } = await account();
    const m = await meeting(apiKey);
    await routeAndAdmit(apiKey, m);
    const carlaTicket = await ticketOf(broker, m, 'p-carla', 'dec-carla', 'us-east', 'CA');
    const res = await narrowDuringAdmission(broker, id, m, { id: 'p-carla', ticket: carlaTicket }, ['US', 'CA']);
    expect(res.statusCode).toBe(200);
    // The bridge re-checks the session it enters with this policy, and keeps it for the meeting.
    expect(res.json()).toMatchObject({ recorded: true, policy: { hostCountry: 'US', accountJurisdictions: ['CA', 'US'] } });
  });

  it('takes back the row it replaced too: the session the participant moved on from is evicted, not left live without a row', async () => {
    broker = await startTestBroker();
    await allBridgesUp();
    const usEast = controlSocket(broker, 'us-east');
    const { id, apiKey } = await account();
    const m = await meeting(apiKey);
    await routeAndAdmit(apiKey, m);
    const first = await ticketOf(broker, m, 'p-carla', 'dec-carla-1', 'us-east', 'CA');
    expect((await admission('us-east', { participant: 'p-carla', meeting: m, outcome: 'admitted', ticket: first })).statusCode).toBe(200);
    // Carla reconnects to the same bridge, which reports the replacement.
    const second = await ticketOf(broker, m, 'p-carla', 'dec-carla-2', 'us-east', 'CA');
    const held = holdWriteOf(broker, 'p-carla');
    const pending = admission('us-east', { participant: 'p-carla', meeting: m, outcome: 'admitted', ticket: second, replaced: true });
    await held.reached;
    expect((await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['CA'] } })).statusCode).toBe(200);
    held.release();
    expect((await pending).json()).toMatchObject({ code: 'PLACED_ELSEWHERE' });
    expect((await broker.ctx.store.listParticipants(m)).map((p) => p.id)).not.toContain('p-carla');
    expect((await usEast()).filter((c) => c.type === 'evict')).toEqual([expect.objectContaining({ meeting: m, participant: 'p-carla', session: 'dec-carla-1', code: 'SESSION_REPLACED' })]);
  });
});

describe('an admission in flight across an account policy change (serve --cascade)', () => {
  it('is refused with TICKET_OUTSIDE_FENCE, audited, and taken out of the row and the group', async () => {
    broker = await startTestBroker({ config: { cascade: true } });
    await allBridgesUp();
    const { id, apiKey } = await account();
    const m = await meeting(apiKey);
    const carlaTicket = await ticketOf(broker, m, 'p-carla', 'dec-carla', 'us-east', 'CA');
    const res = await narrowDuringAdmission(broker, id, m, { id: 'p-carla', ticket: carlaTicket }, ['CA']);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'TICKET_OUTSIDE_FENCE' });
    expect(await broker.ctx.store.listParticipants(m)).toEqual([]);
    expect(groupMembers(broker.ctx, m).map((g) => g.id)).not.toContain('p-carla');
    expect((await broker.ctx.audit.read()).filter((r) => r.type === 'bridge.refusal').map((r) => r.data)).toEqual([
      expect.objectContaining({ participant: 'p-carla', datacenter: 'us-east', reason: expect.stringContaining('changed while it was being recorded') as unknown }),
    ]);
  });
});
