/**
 * The MLS group moves with the meeting, over real bridges and a broker (Node
 * participants with E2EE): when the meeting's bridge drains, every member
 * reconnects on the next datacenter naming the group it holds, and goes on
 * in it there — the same epoch and security code, no commit — and a member
 * that joins afterwards is added to that group by the usual commit. A member
 * whose next bridge predates `join.mls` (it refuses the field) joins the
 * group anew there instead of failing every attempt.
 */
import type { MediaStreamTrack } from 'werift';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodePlatform, nodeSession, type SessionEvent } from '../sdk/node.js';
import { Session, type Platform, type SocketLike } from '../sdk/session.js';
import { startCluster, type Cluster } from './cluster.fixture.js';

let cluster: Cluster;

// Nothing here waits for a heartbeat timeout (the meeting moves by a drain), so the
// timeout is long: an event loop held up for seconds on a loaded CI machine (every
// participant, both bridges and the broker share this process) must not make the
// broker judge a live bridge dead and move the meeting before the test does.
beforeAll(async () => {
  cluster = await startCluster(['us-east', 'us-west'], ['us-east', 'us-west'], { heartbeatTimeoutMs: 15_000 });
}, 30_000);
afterAll(async () => {
  await cluster.close();
});
const sessions: Session<MediaStreamTrack>[] = [];
// Each test starts with both bridges up and nobody in a call, even after one failed.
afterEach(async () => {
  for (const s of sessions.splice(0)) s.leave();
  await cluster.bridges.get('us-east')?.close(); // drained already, unless the test failed first
  await cluster.startBridge('us-east');
}, 30_000);

interface Member {
  readonly session: Session<MediaStreamTrack>;
  readonly events: SessionEvent<MediaStreamTrack>[];
}

type Epoch = Extract<SessionEvent<MediaStreamTrack>, { type: 'e2ee' }>;

async function join(meeting: string, name: string, platform?: Platform<MediaStreamTrack>): Promise<Member> {
  const events: SessionEvent<MediaStreamTrack>[] = [];
  const options = { broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, name), country: 'US', e2ee: true, onEvent: (e: SessionEvent<MediaStreamTrack>) => events.push(e) };
  const session = platform ? new Session({ ...options, platform }) : nodeSession(options);
  session.join();
  sessions.push(session);
  return { session, events };
}

/** Node sockets to bridges that answer a `join` naming a group as a bridge from before `join.mls` would: refused, BAD_MESSAGE. */
function olderBridges(): Platform<MediaStreamTrack> {
  const base = nodePlatform();
  return {
    createPeer: (iceServers) => base.createPeer(iceServers),
    openSocket: (url, protocol) => {
      const real = base.openSocket(url, protocol);
      const socket: SocketLike = {
        onopen: null,
        onclose: null,
        onerror: null,
        onmessage: null,
        send: (data) => {
          const message = JSON.parse(data) as { type?: string; mls?: unknown };
          if (message.type !== 'join' || message.mls === undefined) {
            real.send(data);
            return;
          }
          setTimeout(() => {
            socket.onmessage?.({ data: JSON.stringify({ type: 'refused', code: 'BAD_MESSAGE', message: "'join' message: field 'mls' is not part of the protocol" }) });
            real.close(1008, 'BAD_MESSAGE');
          }, 0);
        },
        close: (code, reason) => {
          real.close(code, reason);
        },
      };
      real.onopen = () => socket.onopen?.();
      real.onclose = () => socket.onclose?.();
      real.onerror = () => socket.onerror?.();
      real.onmessage = (event) => socket.onmessage?.(event);
      return socket;
    },
  };
}

const latest = (m: Member): Epoch | undefined => m.events.findLast((e): e is Epoch => e.type === 'e2ee');
const datacenter = (m: Member): string | undefined => m.events.findLast((e): e is Extract<SessionEvent<MediaStreamTrack>, { type: 'connected' }> => e.type === 'connected')?.datacenter;

/** Where everyone stands, for a failure message. */
const state = (members: readonly Member[]): string => members.map((m) => `${datacenter(m) ?? 'nowhere'}@${String(latest(m)?.epoch ?? '-')}/${String(latest(m)?.members.length ?? 0)}`).join(', ');
let watched: readonly Member[] = [];

async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (datacenter@epoch/members: ${state(watched)})`);
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
    watched = members;
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
  }, 60_000);

  it('joins the group anew on a bridge that refuses join.mls, instead of failing every attempt', async () => {
    const meeting = await cluster.meeting();
    const members: Member[] = [];
    watched = members;
    for (const [name, platform] of [['Ada'], ['Bo'], ['Cy', olderBridges()]] as const) {
      members.push(await join(meeting, name, platform));
      await until(() => agreed(members, members.length) !== undefined, `${name} in the group`);
    }
    const before = agreed(members, 3);
    const drained = cluster.bridges.get('us-east')?.drain();
    await until(() => members.every((m) => datacenter(m) === 'us-west'), 'everyone on us-west');
    await drained;
    // Cy's first join there named the group and was refused; the next one joined as a newcomer, in place of its old leaf.
    await until(() => agreed(members, 3) !== undefined && (agreed(members, 3)?.epoch ?? 0n) > (before?.epoch ?? 0n), 'Cy in the group again');
    const cy = members[2] as Member;
    expect(cy.events.some((e) => e.type === 'bridge-refused' && e.code === 'BAD_MESSAGE')).toBe(true);
    expect(cy.events.some((e) => e.type === 'failed')).toBe(false);
    expect(agreed(members, 3)?.members.map((m) => m.name).sort()).toEqual(['Ada', 'Bo', 'Cy']);
  }, 60_000);
});
