/**
 * A cascading broker that restarts mid-meeting (its memory starts empty; its
 * store and the bridges live on): the meeting goes on. Anna (DE) and Kenji
 * (JP) are one MLS group on eu-central and ap-tokyo; the broker restarts; it
 * learns the hops and the group's members again from where they are
 * admitted, and Ben (US), who joins after, is added to the group they hold —
 * one epoch, one security code for the three — rather than founding a second
 * one that nobody else is in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hopsOf } from '../broker/cascade.js';
import { groupMembers } from '../broker/group-delivery.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { converged, datacenterOf, joinMember, latest, until, type Epoch, type Member } from './e2ee-members.fixture.js';

const DCS = ['eu-central', 'us-east', 'ap-tokyo'];

let cluster: Cluster;
let meeting: string;
let anna: Member;
let kenji: Member;
let ben: Member | undefined;

const join = (name: string, country: string, joinToken?: string): Promise<Member> => joinMember(cluster, meeting, name, country, joinToken === undefined ? {} : { joinToken });
const hops = (): string[] => hopsOf(cluster.broker.context, meeting).map((h) => `${h.from}→${h.to}`).sort();

beforeAll(async () => {
  cluster = await startCluster(DCS, DCS, { cascade: true });
  meeting = await cluster.meeting('Cascade across a broker restart');
  anna = await join('Anna', 'DE');
  kenji = await join('Kenji', 'JP');
}, 60_000);

afterAll(async () => {
  for (const m of [anna, kenji, ben]) m?.session.leave();
  await cluster.close();
}, 60_000);

describe('a cascading broker that restarts', () => {
  let before: Epoch;

  it('holds a group of two on two bridges before', async () => {
    before = await converged([anna, kenji], 2);
    expect([anna, kenji].map(datacenterOf)).toEqual(['eu-central', 'ap-tokyo']);
    await until(() => hops().length === 2, () => JSON.stringify(hops()));
    expect(hops()).toEqual(['ap-tokyo→eu-central', 'eu-central→ap-tokyo']);
  });

  it('learns the hops and the group’s members again from where they are admitted', async () => {
    await cluster.restartBroker();
    expect(hops()).toEqual([]);
    await until(() => hops().length === 2, () => JSON.stringify(hops()));
    expect(hops()).toEqual(['ap-tokyo→eu-central', 'eu-central→ap-tokyo']);
    await until(
      () => groupMembers(cluster.broker.context, meeting).length === 2,
      () => JSON.stringify(groupMembers(cluster.broker.context, meeting)),
    );
    expect(groupMembers(cluster.broker.context, meeting).map((m) => m.name).sort()).toEqual(['Anna', 'Kenji']);
    // Nobody reconnected: the restart is the broker's alone.
    expect([anna, kenji].map((m) => m.events.filter((e) => e.type === 'connected').length)).toEqual([1, 1]);
  });

  it('adds a newcomer to the group the others hold: one epoch and one code for the three', async () => {
    ben = await join('Ben', 'US');
    const after = await converged([anna, kenji, ben], 3);
    expect(after.epoch).toBeGreaterThan(before.epoch);
    expect(new Set([anna, kenji, ben].map((m) => latest(m)?.securityCode)).size).toBe(1);
    expect(latest(kenji)?.members.map((m) => m.name).sort()).toEqual(['Anna', 'Ben', 'Kenji']);
    for (const m of [anna, kenji, ben]) expect(m.events.filter((e) => e.type === 'e2ee-error'), m.name).toEqual([]);
    // Every roster accounts for every leaf, and flags nobody: no false alarm from the restart.
    const rosters = (): string[][] => [anna, kenji, ben].map((m) => (m?.events.findLast((e) => e.type === 'roster')?.members ?? []).map((e) => `${e.name}${e.flags.length > 0 ? ` ${e.flags.join(',')}` : ''}`).sort());
    await until(() => rosters().every((r) => JSON.stringify(r) === JSON.stringify(['Anna', 'Ben', 'Kenji'])), () => JSON.stringify(rosters()));
    // The bridges kept carrying the hops all along, and hold Ben's too (never Anna's media into the US).
    await until(() => hops().length === 5, () => JSON.stringify(hops()));
    expect(hops()).toEqual(['ap-tokyo→eu-central', 'ap-tokyo→us-east', 'eu-central→ap-tokyo', 'us-east→ap-tokyo', 'us-east→eu-central']);
    expect([...(cluster.bridges.get('ap-tokyo')?.rooms.get(meeting)?.relays.keys() ?? [])].sort()).toEqual(['relay:eu-central', 'relay:us-east']);
  });

  it('adds a newcomer who comes while the broker is still learning the group again, whichever speaks first', async () => {
    const members = [anna, kenji, ben].filter((m): m is Member => m !== undefined);
    const before3 = await converged(members, 3);
    const token = await cluster.joinToken(meeting, 'Dora');
    await cluster.restartBroker();
    // At once: Dora's admission may come before or after the others' bridges are back and they say what they hold.
    const dora = await join('Dora', 'DE', token);
    try {
      const after = await converged([...members, dora], 4);
      expect(after.epoch).toBeGreaterThan(before3.epoch);
      expect(new Set([...members, dora].map((m) => latest(m)?.securityCode)).size).toBe(1);
    } finally {
      dora.session.leave();
    }
  });
});
