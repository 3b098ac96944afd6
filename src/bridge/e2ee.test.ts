/**
 * The meeting's MLS group over a real bridge and broker (Node participants):
 * members converge on one epoch and one security code, a leaver is removed
 * (new epoch, new code, keys it never sees), and a newcomer joins by Welcome.
 * And the roster: every member sees the group's members checked against the
 * meeting. A ghost that a colluding broker vouches for and a colluding bridge
 * relays is on every roster, flagged, while every member shows the same
 * security code — the code alone would not have shown it. The operator
 * console shows the group's epoch and members as the bridge reports them.
 */
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleMeetingsAnswer } from '../protocol/console-answers.js';
import { nodeSession, type SessionEvent } from '../sdk/node.js';
import type { Session } from '../sdk/session.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { ghostKeyPackage, injectKeyPackage } from './ghost.fixture.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east'], ['us-east']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});

interface Member {
  readonly name: string;
  readonly session: Session<MediaStreamTrack>;
  readonly events: SessionEvent<MediaStreamTrack>[];
}

type Epoch = Extract<SessionEvent<MediaStreamTrack>, { type: 'e2ee' }>;
type Roster = Extract<SessionEvent<MediaStreamTrack>, { type: 'roster' }>;

function latest(m: Member): Epoch | undefined {
  return m.events.findLast((e): e is Epoch => e.type === 'e2ee');
}

function latestRoster(m: Member): Roster | undefined {
  return m.events.findLast((e): e is Roster => e.type === 'roster');
}

function rosters(m: Member): Roster[] {
  return m.events.filter((e): e is Roster => e.type === 'roster');
}

/** Joins with E2EE (or, `e2ee` false, without); `joinToken` reuses one (a second connection of the same participant). */
async function join(meeting: string, name: string, joinToken?: string, e2ee = true): Promise<Member> {
  const events: SessionEvent<MediaStreamTrack>[] = [];
  const session = nodeSession({ broker: cluster.broker.url, joinToken: joinToken ?? (await cluster.joinToken(meeting, name)), country: 'US', e2ee, onEvent: (e) => events.push(e) });
  session.join();
  return { name, session, events };
}

async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until every member is in the same epoch with `size` members. */
async function converged(members: readonly Member[], size: number, ms = 20_000): Promise<Epoch[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const epochs = members.map(latest);
    const first = epochs[0];
    if (first && epochs.every((e) => e?.epoch === first.epoch && e.members.length === size)) return epochs as Epoch[];
    if (Date.now() > deadline) {
      const errors = members.flatMap((m) => m.events.filter((e) => e.type === 'e2ee-error'));
      throw new Error(`no convergence: ${JSON.stringify(epochs.map((e) => e && { epoch: String(e.epoch), members: e.members.length }))} errors ${JSON.stringify(errors)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Three members in one epoch, and each one's participant id by name. */
async function threeMembers(): Promise<{ meeting: string; members: [Member, Member, Member]; ids: Record<string, string> }> {
  const meeting = await cluster.meeting();
  const ada = await join(meeting, 'Ada');
  await converged([ada], 1);
  // Bo in the group before Cy joins: leaves are then in name order, which the rosters below compare.
  const bo = await join(meeting, 'Bo');
  await converged([ada, bo], 2);
  const members: [Member, Member, Member] = [ada, bo, await join(meeting, 'Cy')];
  const [epoch] = await converged(members, 3);
  const ids = Object.fromEntries((epoch?.members ?? []).map((m) => [m.name, m.participant]));
  return { meeting, members, ids };
}

/** Name, own-leaf mark and flags of each roster member. */
function summary(roster: Roster | undefined): [string, boolean, readonly string[]][] {
  return (roster?.members ?? []).map((m) => [m.name, m.self, m.flags]);
}

function leaveAll(members: readonly Member[]): void {
  for (const m of members) m.session.leave();
}

/** The meeting's E2EE state on the console once it shows `expected` (epoch and members) (the bridge reports it with its heartbeats). */
async function consoleE2ee(meeting: string, expected: { readonly epoch: number; readonly members: number }): Promise<unknown> {
  const login = await cluster.broker.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: cluster.adminToken } });
  const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await cluster.broker.app.inject({ method: 'GET', url: '/v1/console/meetings', headers: { cookie } });
    if (res.statusCode !== 200) throw new Error(res.body);
    const { meetings } = res.json<ConsoleMeetingsAnswer>();
    const e2ee = meetings.find((m) => m.id === meeting)?.e2ee ?? null;
    // The last to join says it holds the group after the commit's epoch is counted: a heartbeat may fall in between.
    if ((e2ee?.epoch === expected.epoch && e2ee.members === expected.members) || Date.now() > deadline) return e2ee;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('MLS group over the bridge', () => {
  it('three members share one epoch and security code; a leaver is removed; a newcomer joins by Welcome', async () => {
    const meeting = await cluster.meeting();
    const ada = await join(meeting, 'Ada');
    await converged([ada], 1);
    const bo = await join(meeting, 'Bo');
    await converged([ada, bo], 2); // leaves in name order, as the rosters below expect
    const cy = await join(meeting, 'Cy');
    const three = await converged([ada, bo, cy], 3);
    const code = three[0]?.securityCode ?? '';
    expect(code).toMatch(/^\d{5}( \d{5}){5}$/);
    expect(new Set(three.map((e) => e.securityCode))).toEqual(new Set([code]));
    expect(new Set(three.map((e) => Buffer.from(e.keys.baseKey).toString('hex'))).size).toBe(1);
    expect(three[0]?.members.map((m) => m.name).sort()).toEqual(['Ada', 'Bo', 'Cy']);
    // Each roster lists exactly the participants, none flagged, its own leaf marked, with the epoch's code.
    for (const m of [ada, bo, cy]) {
      const roster = latestRoster(m);
      expect(summary(roster)).toEqual(['Ada', 'Bo', 'Cy'].map((n) => [n, n === m.name, []]));
      expect(roster?.joining).toEqual([]);
      expect(roster?.securityCode).toBe(code);
    }
    // The operator console shows the group as the bridge orders it (from its next heartbeat): the epoch, all three in it.
    const inConsole = { epoch: Number(three[0]?.epoch), members: 3 };
    expect(await consoleE2ee(meeting, inConsole)).toEqual(inConsole);

    // Bo leaves: Ada and Cy move to an epoch Bo is not in, with a new code and key.
    const boLast = latest(bo);
    bo.session.leave();
    const two = await converged([ada, cy], 2);
    expect(two[0]?.epoch).toBeGreaterThan(three[0]?.epoch ?? 0n);
    expect(two[0]?.securityCode).not.toBe(code);
    expect(Buffer.from(two[0]?.keys.baseKey ?? []).equals(Buffer.from(boLast?.keys.baseKey ?? []))).toBe(false);
    expect(latest(bo)?.epoch).toBe(boLast?.epoch);
    // Between Bo's departure and the commit that removes him, his leaf is "left" on the roster: never flagged.
    for (const m of [ada, cy]) {
      expect(rosters(m).some((r) => r.members.some((e) => e.name === 'Bo' && e.left))).toBe(true);
      expect(rosters(m).every((r) => r.members.every((e) => e.flags.length === 0))).toBe(true);
    }

    // A newcomer joins the running group.
    const dee = await join(meeting, 'Dee');
    const again = await converged([ada, cy, dee], 3);
    expect(new Set(again.map((e) => e.securityCode)).size).toBe(1);
    // Until the commit that adds her, Dee is "joining": in the meeting, not yet in the group.
    expect(rosters(ada).some((r) => r.joining.some((a) => a.name === 'Dee'))).toBe(true);
    expect([ada, cy, dee].every((m) => rosters(m).every((r) => r.members.every((e) => e.flags.length === 0)))).toBe(true);
    for (const m of [ada, cy, dee]) m.session.leave();
  }, 60_000);

  it('a participant that does not encrypt, first into the meeting, is not made its founder: those that encrypt agree keys without it', async () => {
    const meeting = await cluster.meeting();
    const plain = await join(meeting, 'Pat', undefined, false);
    await until(() => plain.events.some((e) => e.type === 'connected'), "Pat's connection");
    const ada = await join(meeting, 'Ada');
    const bo = await join(meeting, 'Bo');
    const two = await converged([ada, bo], 2);
    expect(new Set(two.map((e) => e.securityCode)).size).toBe(1);
    // Pat is in the meeting, not in the group: "joining" on the rosters, never a member, and no keys of its own.
    expect(latestRoster(ada)?.joining.map((a) => a.name)).toEqual(['Pat']);
    expect(latest(plain)).toBeUndefined();
    // The founder leaves: the one left that encrypts founds anew, not Pat, who came before her.
    ada.session.leave();
    const [alone] = await converged([bo], 1);
    expect(alone?.epoch).toBeGreaterThan(two[0]?.epoch ?? 0n);
    leaveAll([plain, bo]);
  }, 60_000);
});

describe('the E2EE roster over the bridge', () => {
  it('a ghost MLS member relayed as another participant’s key package is dropped by every member: the group stays as it was', async () => {
    const { meeting, members, ids } = await threeMembers();
    const before = members.map((m) => latest(m)?.epoch);
    // The broker vouches for a key it holds; the bridge relays its key package as if Bo had sent it.
    injectKeyPackage(cluster, 'us-east', meeting, ids.Bo ?? '', await ghostKeyPackage(cluster, meeting, 'p-ghost', 'Mallory'));

    const refused = (m: Member): boolean => m.events.some((e) => e.type === 'e2ee-error' && e.code === 'MLS_CREDENTIAL_REJECTED');
    // Those it reaches (the relay sends nothing back to its sender) drop it as it arrives.
    await until(() => [members[0], members[2]].every(refused), 'Ada and Cy to refuse the key package');
    // Nobody committed it: the same epoch, three members.
    await new Promise((r) => setTimeout(r, 500));
    expect(members.map((m) => latest(m)?.epoch)).toEqual(before);
    expect(members.map((m) => latestRoster(m)?.members.length)).toEqual([3, 3, 3]);
    expect(members.every((m) => !m.events.some((e) => e.type === 'roster' && e.members.some((x) => x.participant === 'p-ghost')))).toBe(true);
    leaveAll(members);
  }, 60_000);

  it("a ghost that claims a participant's id is a second leaf for them, flagged on every roster, its own key apart", async () => {
    const { meeting, members, ids } = await threeMembers();
    const bo = ids.Bo ?? '';
    injectKeyPackage(cluster, 'us-east', meeting, bo, await ghostKeyPackage(cluster, meeting, bo, 'Bo'));

    await until(() => members.every((m) => latestRoster(m)?.members.length === 4), 'a fourth member on every roster');
    const rosters = members.map(latestRoster);
    expect(summary(rosters[0])).toEqual([['Ada', true, []], ['Bo', false, ['second-leaf']], ['Cy', false, []], ['Bo', false, ['second-leaf']]]);
    expect(summary(rosters[2])).toEqual([['Ada', false, []], ['Bo', false, ['second-leaf']], ['Cy', true, []], ['Bo', false, ['second-leaf']]]);
    // Bo knows which leaf is his: only the other one is flagged.
    expect(summary(rosters[1])).toEqual([['Ada', false, []], ['Bo', true, []], ['Cy', false, []], ['Bo', false, ['second-leaf']]]);
    const keys = rosters[0]?.members.filter((m) => m.participant === bo).map((m) => m.keyFingerprint);
    expect(new Set(keys).size).toBe(2);
    expect(new Set(rosters.map((r) => r?.securityCode)).size).toBe(1);
    leaveAll(members);
  }, 60_000);

  it('a participant admitted again (a second connection with its join token) replaces its leaf instead of doubling it', async () => {
    const meeting = await cluster.meeting();
    const ada = await join(meeting, 'Ada');
    await converged([ada], 1);
    const token = await cluster.joinToken(meeting, 'Bo');
    const bo = await join(meeting, 'Bo', token);
    await converged([ada, bo], 2);
    const again = await join(meeting, 'Bo', token);
    await until(() => again.events.some((e) => e.type === 'connected'), 'the second connection admitted');
    // The first connection gives up; the bridge replaced it without announcing a departure.
    bo.session.leave();
    await converged([ada, again], 2);
    await until(() => [ada, again].every((m) => latestRoster(m)?.members.length === 2), 'two rosters of two');
    expect(summary(latestRoster(ada))).toEqual([['Ada', true, []], ['Bo', false, []]]);
    expect(summary(latestRoster(again))).toEqual([['Ada', false, []], ['Bo', true, []]]);
    leaveAll([ada, again]);
  }, 60_000);

  it('a member pushed out of the group while still connected is told so, instead of keeping a stale code', async () => {
    const { meeting, members, ids } = await threeMembers();
    const [ada, bo, cy] = members;
    const boLast = latest(bo);
    // A colluding bridge tells Ada and Cy that Bo left, while Bo stays connected: the committer removes Bo's leaf.
    const room = cluster.bridges.get('us-east')?.rooms.get(meeting);
    for (const id of [ids.Ada, ids.Cy]) room?.participants.get(id ?? '')?.notify({ type: 'peer-left', id: ids.Bo ?? '' });
    await converged([ada, cy], 2);
    await until(() => bo.events.some((e) => e.type === 'e2ee-error'), "Bo's error");
    expect(latest(bo)?.epoch).toBe(boLast?.epoch);
    expect(latest(ada)?.securityCode).not.toBe(boLast?.securityCode);
    leaveAll(members);
  }, 60_000);
});
