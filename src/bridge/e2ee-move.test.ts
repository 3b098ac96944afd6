/**
 * The MLS group moves with the meeting, over real bridges and a broker (Node
 * participants with E2EE): when the meeting's bridge drains, every member
 * reconnects on the next datacenter naming the group it holds, and goes on
 * in it there — the same epoch and security code, no commit — and a member
 * that joins afterwards is added to that group by the usual commit.
 */
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeSession, type SessionEvent } from '../sdk/node.js';
import type { Session } from '../sdk/session.js';
import { startCluster, type Cluster } from './cluster.fixture.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east', 'us-west']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});

interface Member {
  readonly session: Session<MediaStreamTrack>;
  readonly events: SessionEvent<MediaStreamTrack>[];
}

type Epoch = Extract<SessionEvent<MediaStreamTrack>, { type: 'e2ee' }>;

async function join(meeting: string, name: string): Promise<Member> {
  const events: SessionEvent<MediaStreamTrack>[] = [];
  const session = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, name), country: 'US', e2ee: true, onEvent: (e) => events.push(e) });
  session.join();
  return { session, events };
}

const latest = (m: Member): Epoch | undefined => m.events.findLast((e): e is Epoch => e.type === 'e2ee');
const datacenter = (m: Member): string | undefined => m.events.findLast((e): e is Extract<SessionEvent<MediaStreamTrack>, { type: 'connected' }> => e.type === 'connected')?.datacenter;

async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every member at one epoch with `size` members; that epoch. */
function agreed(members: readonly Member[], size: number): Epoch | undefined {
  const epochs = members.map(latest);
  const first = epochs[0];
  return first && epochs.every((e) => e?.epoch === first.epoch && e.members.length === size) ? first : undefined;
}

describe('the MLS group across a move', () => {
  it('goes on on the next bridge when the meeting moves: same epoch and code, no commit; a later newcomer joins it', async () => {
    const meeting = await cluster.meeting();
    const members: Member[] = [];
    for (const name of ['Ada', 'Bo', 'Cy']) {
      members.push(await join(meeting, name));
      await until(() => agreed(members, members.length) !== undefined, `${name} in the group`);
    }
    const before = agreed(members, 3);
    expect(members.map(datacenter)).toEqual(['us-east', 'us-east', 'us-east']);
    const epochEvents = members.map((m) => m.events.filter((e) => e.type === 'e2ee').length);

    const drained = cluster.bridges.get('us-east')?.drain();
    await until(() => members.every((m) => datacenter(m) === 'us-west'), 'everyone on us-west');
    await drained;
    // Keys on the new connection at once: an e2ee event each, for the epoch they had.
    await until(() => members.every((m, i) => m.events.filter((e) => e.type === 'e2ee').length > (epochEvents[i] ?? 0)), 'keys on us-west');
    const after = members.map(latest);
    expect(after.map((e) => e?.epoch)).toEqual([before?.epoch, before?.epoch, before?.epoch]);
    expect(after.map((e) => e?.securityCode)).toEqual([before?.securityCode, before?.securityCode, before?.securityCode]);
    // Each new connection sends under CTRs above the first one's.
    expect(after.every((e) => e?.keys.firstCounter === 1n << 40n)).toBe(true);
    // The group on us-west is a live one: a newcomer is added by one commit (so none came between), and everyone agrees.
    members.push(await join(meeting, 'Dee'));
    await until(() => agreed(members, 4) !== undefined, 'Dee in the group on us-west');
    expect(datacenter(members[3] as Member)).toBe('us-west');
    expect(agreed(members, 4)?.epoch).toBe((before?.epoch ?? 0n) + 1n);
    for (const m of members) m.session.leave();
    await cluster.startBridge('us-east');
  }, 60_000);
});
