// A cascading broker that restarted knows a meeting's members from its store
// but not its MLS group: a bridge passes a member's word that it holds the
// group (`mls-joined`) with the member's route ticket, and the broker takes
// the member back in at that epoch; one still waiting to be added sends its
// key package with its ticket, and is taken back in to wait. The ticket must
// be that member's, for that meeting and session, and the store must list it
// at that bridge; a member whose group moved on without it is sent to
// reconnect.
import type { CiphersuiteImpl } from 'ts-mls';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeKeyPackage, loadCipherSuite } from '../mls/group.js';
import { createTestBroker, newMember, type TestBroker as MlsTestBroker } from '../mls/test-broker.fixture.js';
import type { ControlCommand } from '../protocol/control-commands.js';
import { verifyControlMessage } from '../protocol/control-message.js';
import { brokerApi } from './broker-api.fixture.js';
import { groupMembers, groupStatus } from './group-delivery.js';
import { startTestBroker, type TestBroker } from './test-broker.fixture.js';
import { readRouteTicketUnverified } from '../protocol/route-ticket.js';

const TAG = 'AAAAAAAAAAAAAAAAAAAAAA';
const OTHER_TAG = 'BBBBBBBBBBBBBBBBBBBBBB';

let broker: TestBroker;
let cs: CiphersuiteImpl;
let mls: MlsTestBroker;

beforeAll(async () => {
  cs = await loadCipherSuite();
  mls = await createTestBroker();
});

beforeEach(async () => {
  broker = await startTestBroker({ config: { cascade: true } });
});
afterEach(async () => {
  await broker.close();
});

const { call, account, meeting, allBridgesUp, ticketAt } = brokerApi(() => broker);

/** The commands a bridge's control socket received, verified as the bridge verifies them. */
function controlSocket(datacenter: string): () => Promise<ControlCommand[]> {
  const nonce = `nonce-${datacenter}-0123456789`;
  const frames: string[] = [];
  broker.ctx.control.attach(datacenter, { send: (frame) => frames.push(frame) }, nonce);
  return async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const out: ControlCommand[] = [];
    for (const frame of frames) out.push((await verifyControlMessage(broker.ctx.keys, (JSON.parse(frame) as { control: string }).control, { now: broker.ctx.now(), datacenter, nonce })).command);
    return out;
  };
}

/** A member admitted at `datacenter` before the broker restarted: in the store, with its ticket; the group knows nothing of it. */
async function memberFromBefore(m: string, datacenter: string, country: string): Promise<{ id: string; session: string; ticket: string }> {
  const ticket = await ticketAt(datacenter, m, country);
  const claims = readRouteTicketUnverified(ticket);
  const joinedAt = new Date(Date.parse(broker.ctx.startedAt) - 3_600_000).toISOString();
  await broker.ctx.store.addParticipant({ id: claims.sub, meetingId: m, country, joinedAt, datacenter, session: claims.decision });
  return { id: claims.sub, session: claims.decision, ticket };
}

/** The bridge passes a member's MLS message on, with the member's ticket; the answer's status and code. */
async function passes(datacenter: string, m: string, member: { id: string; session: string }, message: Readonly<Record<string, unknown>>, ticket: string): Promise<{ status: number; code?: string }> {
  const res = await call({
    method: 'POST',
    url: '/v1/bridges/mls',
    payload: { message: await broker.signAs(datacenter, { kind: 'mls', meeting: m, participant: member.id, session: member.session, message, ticket }) },
  });
  return { status: res.statusCode, ...(res.statusCode === 200 ? {} : { code: res.json<{ code: string }>().code }) };
}

/** A meeting with Anna (eu-central) and Kenji (ap-tokyo) from before the restart. */
async function annaAndKenji(): Promise<{ m: string; anna: Awaited<ReturnType<typeof memberFromBefore>>; kenji: Awaited<ReturnType<typeof memberFromBefore>> }> {
  await allBridgesUp();
  const m = await meeting((await account()).apiKey);
  return { m, anna: await memberFromBefore(m, 'eu-central', 'DE'), kenji: await memberFromBefore(m, 'ap-tokyo', 'JP') };
}

const holds = (datacenter: string, m: string, member: { id: string; session: string }, epoch: number, tag: string, ticket: string): Promise<{ status: number; code?: string }> => passes(datacenter, m, member, { type: 'mls-joined', epoch, tag }, ticket);

describe('a member a restarted broker does not know says it holds the group', () => {
  it('goes on in the group at the epoch it names, under the name its ticket gives', async () => {
    const { m, anna, kenji } = await annaAndKenji();
    expect(await holds('eu-central', m, anna, 5, TAG, anna.ticket)).toEqual({ status: 200 });
    expect(await holds('ap-tokyo', m, kenji, 5, TAG, kenji.ticket)).toEqual({ status: 200 });
    expect(groupStatus(broker.ctx, m)).toEqual({ epoch: 5, members: 2 });
    expect(groupMembers(broker.ctx, m).map((g) => [g.id, g.name])).toEqual([
      [anna.id, 'Claimant'],
      [kenji.id, 'Claimant'],
    ]);
  });

  it('sends one whose group moved on without it to reconnect (GROUP_MOVED_ON)', async () => {
    const { m, anna, kenji } = await annaAndKenji();
    const tokyo = controlSocket('ap-tokyo');
    expect(await holds('eu-central', m, anna, 6, TAG, anna.ticket)).toEqual({ status: 200 });
    // Kenji still holds epoch 5: a commit was accepted before he spoke.
    expect(await holds('ap-tokyo', m, kenji, 5, TAG, kenji.ticket)).toEqual({ status: 200 });
    expect((await tokyo()).filter((c) => c.type === 'evict')).toEqual([expect.objectContaining({ type: 'evict', meeting: m, participant: kenji.id, session: kenji.session, code: 'GROUP_MOVED_ON' })]);
    expect(groupStatus(broker.ctx, m)).toEqual({ epoch: 6, members: 1 });
  });

  it('takes one still waiting to be added back in with its key package, which goes to those who hold the group', async () => {
    const { m, anna, kenji } = await annaAndKenji();
    const frankfurt = controlSocket('eu-central');
    expect(await holds('eu-central', m, anna, 5, TAG, anna.ticket)).toEqual({ status: 200 });
    const keyPackage = Buffer.from(encodeKeyPackage(await newMember(cs, mls, 'kenji'))).toString('base64url');
    expect(await passes('ap-tokyo', m, kenji, { type: 'mls', kind: 'key-package', data: keyPackage }, kenji.ticket)).toEqual({ status: 200 });
    expect(groupMembers(broker.ctx, m).map((g) => g.id)).toEqual([anna.id, kenji.id]);
    expect(groupStatus(broker.ctx, m)).toEqual({ epoch: 5, members: 1 });
    const relayed = (await frankfurt()).filter((c) => c.type === 'mls').flatMap((c) => c.deliveries.filter((d) => d.message.type === 'mls' && d.message.kind === 'key-package'));
    expect(relayed).toEqual([{ to: [anna.id], message: { type: 'mls', kind: 'key-package', from: kenji.id, data: keyPackage } }]);
  });

  it('refuses a ticket of another participant or session, and a member the store does not list at that bridge', async () => {
    await allBridgesUp();
    const m = await meeting((await account()).apiKey);
    const anna = await memberFromBefore(m, 'eu-central', 'DE');
    const dora = await memberFromBefore(m, 'eu-central', 'DE');
    expect(await holds('eu-central', m, anna, 5, TAG, dora.ticket)).toEqual({ status: 409, code: 'NOT_A_MEMBER' });
    expect(await holds('eu-central', m, { ...anna, session: dora.session }, 5, TAG, anna.ticket)).toEqual({ status: 409, code: 'NOT_A_MEMBER' });
    // A ticket the bridge of eu-central holds, for a participant the store does not list.
    const stranger = await ticketAt('eu-central', m, 'DE');
    const claims = readRouteTicketUnverified(stranger);
    expect(await holds('eu-central', m, { id: claims.sub, session: claims.decision }, 5, OTHER_TAG, stranger)).toEqual({ status: 409, code: 'NOT_A_MEMBER' });
    // A member this process admitted itself was never forgotten.
    const recent = await ticketAt('eu-central', m, 'DE');
    const recentClaims = readRouteTicketUnverified(recent);
    await broker.ctx.store.addParticipant({ id: recentClaims.sub, meetingId: m, country: 'DE', joinedAt: broker.ctx.startedAt, datacenter: 'eu-central', session: recentClaims.decision });
    expect(await holds('eu-central', m, { id: recentClaims.sub, session: recentClaims.decision }, 5, TAG, recent)).toEqual({ status: 409, code: 'NOT_A_MEMBER' });
    // Another bridge cannot speak for Anna: her ticket does not name it.
    expect((await holds('eu-west', m, anna, 5, TAG, anna.ticket)).code).toBe('TICKET_WRONG_DATACENTER');
    expect(groupStatus(broker.ctx, m)).toBeUndefined();
  });
});
