/**
 * A cascaded meeting's commit lost on its way to a bridge: the broker's
 * control channel to ap-tokyo broke while Anna's commit adding Ben was on
 * it (here: the broker's commands to ap-tokyo are dropped, as a dying
 * connection drops what it holds, then the bridge is caught up as on
 * every reconnect). Kenji, on ap-tokyo, never got the commit. He must not
 * stay in the old epoch for the rest of the call, unable to read anyone
 * and read by no one: the catch-up asks him what he holds, finds him
 * behind, and he is added again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catchUpBridge } from '../broker/recheck.js';
import type { ControlCommand } from '../protocol/control-commands.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { converged, datacenterOf, joinMember, latest, type Member } from './e2ee-members.fixture.js';

const refusals = (m: Member): string[] => m.events.flatMap((e) => (e.type === 'bridge-refused' ? [e.code] : []));
const connections = (m: Member): number => m.events.filter((e) => e.type === 'connected').length;

const DCS = ['eu-central', 'us-east', 'ap-tokyo'];

let cluster: Cluster;
let meeting: string;
const members: Member[] = [];

const join = async (name: string, country: string): Promise<Member> => {
  const member = await joinMember(cluster, meeting, name, country);
  members.push(member);
  return member;
};

beforeAll(async () => {
  cluster = await startCluster(DCS, DCS, { cascade: true });
  meeting = await cluster.meeting('A commit lost on the way to a bridge');
}, 60_000);

afterAll(async () => {
  for (const m of members) m.session.leave();
  await cluster.close();
}, 60_000);

describe('a cascaded meeting whose commit was lost on the way to a bridge', () => {
  it('finds the members left behind in the catch-up and adds them again', async () => {
    // Anna founds the group first, so she (the lowest leaf) commits: her bridge hears everything.
    const anna = await join('Anna', 'DE');
    await converged([anna], 1);
    const kenji = await join('Kenji', 'JP');
    const before = await converged([anna, kenji], 2);
    expect([anna, kenji].map(datacenterOf)).toEqual(['eu-central', 'ap-tokyo']);

    // Every group message for ap-tokyo is lost from here on, until the bridge is caught up.
    const { control } = cluster.broker.context;
    const mls = control.mls.bind(control);
    const lost: Extract<ControlCommand, { type: 'mls' }>['deliveries'][number]['message']['type'][] = [];
    control.mls = (datacenter, command) => {
      if (datacenter !== 'ap-tokyo') return mls(datacenter, command);
      lost.push(...command.deliveries.map((d) => d.message.type));
      return Promise.resolve();
    };
    const ben = await join('Ben', 'US');
    const two = await converged([anna, ben], 3);
    expect(two.epoch).toBeGreaterThan(before.epoch);
    expect(lost).toContain('mls');
    expect(latest(kenji)?.epoch).toBe(before.epoch);

    control.mls = mls;
    await catchUpBridge(cluster.broker.context, 'ap-tokyo');
    const all = await converged([anna, kenji, ben], 3);
    expect(all.epoch).toBeGreaterThan(two.epoch);
    expect(new Set([anna, kenji, ben].map((m) => latest(m)?.securityCode)).size).toBe(1);
    // Kenji was sent to reconnect, and came back on his own bridge; nobody else was disturbed.
    expect(refusals(kenji)).toEqual(['GROUP_MOVED_ON']);
    expect(datacenterOf(kenji)).toBe('ap-tokyo');
    expect([anna, ben].map(connections)).toEqual([1, 1]);
  }, 90_000);

  it('leaves the members who missed nothing as they are', async () => {
    const [anna, kenji, ben] = members as [Member, Member, Member];
    const before = await converged([anna, kenji, ben], 3);
    await catchUpBridge(cluster.broker.context, 'eu-central');
    await catchUpBridge(cluster.broker.context, 'us-east');
    // Asked what they hold, Anna and Ben say the group's epoch: Dora is then added to the group of four.
    const dora = await join('Dora', 'DE');
    const after = await converged([anna, kenji, ben, dora], 4);
    expect(after.epoch).toBeGreaterThan(before.epoch);
    expect([anna, ben].map(refusals)).toEqual([[], []]);
    expect([anna, ben].map(connections)).toEqual([1, 1]);
  }, 90_000);
});
