/**
 * One MLS group across the bridges of a cascaded meeting (issue 16): Anna
 * (DE), Ben (US) and Kenji (JP) on eu-central, us-east and ap-tokyo, with
 * E2EE, and the broker as the group's delivery service. They agree on one
 * epoch and one security code although no bridge has all three; the chat's
 * ciphertext goes only where its sender's media may (Anna's never reaches the
 * US); when eu-central drains Anna comes back on another bridge and goes on in
 * the group she had — same epoch, same code, no commit; and when she leaves,
 * the others commit her out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupMembers, groupStatus } from '../broker/group-delivery.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { converged, datacenterOf, joinMember, latest, until, type Epoch, type Member } from './e2ee-members.fixture.js';

const DCS = ['eu-central', 'us-east', 'ap-tokyo'];
/** Where Anna goes when eu-central dies. */
const SPARE = ['eu-south', 'eu-west'];

let cluster: Cluster;
let meeting: string;
let anna: Member;
let ben: Member;
let kenji: Member;

const join = (name: string, country: string, e2ee = true, into = meeting): Promise<Member> => joinMember(cluster, into, name, country, { e2ee });
const chats = (m: Member): string[] => m.events.flatMap((e) => (e.type === 'chat' && !e.self ? [`${e.name}: ${e.text}`] : []));

beforeAll(async () => {
  cluster = await startCluster([...DCS, ...SPARE], [...DCS, ...SPARE], { cascade: true });
  meeting = await cluster.meeting('Cascade E2EE');
  anna = await join('Anna', 'DE');
  ben = await join('Ben', 'US');
  kenji = await join('Kenji', 'JP');
}, 60_000);

afterAll(async () => {
  for (const m of [anna, ben, kenji]) m.session.leave();
  await cluster.close();
}, 60_000);

describe('E2EE across the bridges of a cascade', () => {
  let before: Epoch;

  it('gives the three participants on three bridges one group: one epoch, one security code, three members', async () => {
    before = await converged([anna, ben, kenji], 3);
    expect([anna, ben, kenji].map(datacenterOf)).toEqual(DCS);
    expect(new Set([anna, ben, kenji].map((m) => latest(m)?.securityCode)).size).toBe(1);
    expect(latest(ben)?.members.map((m) => m.name).sort()).toEqual(['Anna', 'Ben', 'Kenji']);
    // Ordered by the broker: no bridge's own delivery service holds the meeting's group.
    expect(groupMembers(cluster.broker.context, meeting).map((m) => m.name)).toEqual(['Anna', 'Ben', 'Kenji']);
    // What the operator console shows: the broker's group, its epoch, the three in it; no bridge reports one of its own.
    const ctx = cluster.broker.context;
    await until(
      () => groupStatus(ctx, meeting)?.members === 3,
      () => JSON.stringify(groupStatus(ctx, meeting)),
    );
    expect(groupStatus(ctx, meeting)).toEqual({ epoch: Number(before.epoch), members: 3 });
    for (const dc of DCS) expect(ctx.registry.groupAt(dc, meeting, ctx.monotonicMs()), dc).toBeUndefined();
    // Every roster accounts for every member: the group's scope is the meeting on every bridge, not the peers whose media reaches one.
    await until(
      () => [anna, ben, kenji].every((m) => m.events.findLast((e) => e.type === 'roster')?.members.length === 3),
      () => 'rosters of three',
    );
    for (const m of [anna, ben, kenji]) {
      const roster = m.events.findLast((e) => e.type === 'roster');
      expect(roster?.members.map((e) => `${e.name}${e.flags.length > 0 ? ` ${e.flags.join(',')}` : ''}`).sort(), m.name).toEqual(['Anna', 'Ben', 'Kenji']);
      expect(roster?.joining, m.name).toEqual([]);
    }
  });

  it('sends the chat’s ciphertext only where the sender’s media may go: Anna’s reaches Kenji, never Ben in the US', async () => {
    expect(anna.session.sendChat('Hallo aus Frankfurt')).toBe(true);
    expect(ben.session.sendChat('Hi from Virginia')).toBe(true);
    await until(() => chats(kenji).length === 2 && chats(anna).length === 1, () => JSON.stringify({ kenji: chats(kenji), anna: chats(anna) }));
    expect(chats(kenji).sort()).toEqual(['Anna: Hallo aus Frankfurt', 'Ben: Hi from Virginia']);
    expect(chats(anna)).toEqual(['Ben: Hi from Virginia']);
    // Ben's bridge may not carry Anna's content, encrypted or not: give it time to be wrongly delivered.
    await new Promise((r) => setTimeout(r, 1000));
    expect(chats(ben)).toEqual([]);
  });

  it('keeps the group when Anna’s bridge drains: she comes back elsewhere in the same epoch, with the same code, and nobody commits', async () => {
    // A drain tells the broker she left before she is back: the others keep her leaf for the grace.
    await cluster.bridges.get('eu-central')?.drain();
    await until(() => SPARE.includes(datacenterOf(anna) ?? ''), () => `Anna at ${String(datacenterOf(anna))}`);
    await until(
      () => groupMembers(cluster.broker.context, meeting).length === 3,
      () => JSON.stringify(groupMembers(cluster.broker.context, meeting)),
    );
    // Past Ben's and Kenji's grace for her leaf: had she not gone on in the group, they would have committed by now.
    await new Promise((r) => setTimeout(r, 6000));
    const after = await converged([anna, ben, kenji], 3);
    expect(after.epoch).toBe(before.epoch);
    expect(after.securityCode).toBe(before.securityCode);
    expect(anna.events.filter((e) => e.type === 'e2ee-error')).toEqual([]);
  });

  it('commits Anna out when she leaves: a new epoch and code for the two who stay', async () => {
    anna.session.leave();
    const after = await converged([ben, kenji], 2);
    expect(after.epoch).toBeGreaterThan(before.epoch);
    expect(after.securityCode).not.toBe(before.securityCode);
    expect(latest(kenji)?.members.map((m) => m.name).sort()).toEqual(['Ben', 'Kenji']);
  });
});

describe('a participant that does not encrypt in a cascaded meeting', () => {
  it('is not made the group’s founder when it comes first: those that encrypt, on other bridges, agree keys without it', async () => {
    const other = await cluster.meeting('Cascade, one participant without E2EE');
    const pat = await join('Pat', 'US', false, other);
    await until(() => datacenterOf(pat) !== undefined, () => 'Pat connected');
    const ken = await join('Ken', 'JP', true, other);
    const ute = await join('Ute', 'DE', true, other);
    try {
      const agreed = await converged([ken, ute], 2);
      expect(latest(ute)?.securityCode).toBe(agreed.securityCode);
      expect(latest(pat)).toBeUndefined();
      // Pat first; Ken and Ute joined at once, in either order.
      const [first, ...after] = groupMembers(cluster.broker.context, other).map((m) => m.name);
      expect([first, after.sort()]).toEqual(['Pat', ['Ken', 'Ute']]);
    } finally {
      for (const m of [pat, ken, ute]) m.session.leave();
    }
  });
});
