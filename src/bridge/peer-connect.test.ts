// An admitted connection whose media path never comes up is given up, and the session connects again: werift can
// wait in 'connecting' forever, and a saturated bridge left Node participants admitted and silent for minutes
// (docs/scale.md §6). Here the first connection's path is made to look as if it never came up.
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodePlatform, type SessionEvent } from '../sdk/node.js';
import { Session, type PeerHandle, type Platform } from '../sdk/session.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { syntheticVideo, until } from './participant.fixture.js';

type Event = SessionEvent<MediaStreamTrack>;
/** Long enough for a loaded machine's ICE and DTLS on loopback, short enough for a test. */
const DEADLINE_MS = 6000;

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east'], ['us-east']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});

/** The Node platform, with the first `silent` peers' media path reported as never up. */
function platformWithSilentPeers(silent: number): Platform<MediaStreamTrack> {
  const base = nodePlatform({ video: syntheticVideo().track });
  let left = silent;
  return {
    ...base,
    createPeer: (iceServers): PeerHandle<MediaStreamTrack> => {
      const peer = base.createPeer(iceServers);
      if (left-- > 0) peer.hasConnected = () => false;
      return peer;
    },
  };
}

describe('a media path that never comes up', () => {
  it('is given up after the deadline, and the session connects again on a path that does', async () => {
    const events: Event[] = [];
    const session = new Session({ broker: cluster.broker.url, joinToken: await cluster.joinToken(await cluster.meeting(), 'Ada'), country: 'US', platform: platformWithSilentPeers(1), onEvent: (e) => events.push(e), peerConnectTimeoutMs: DEADLINE_MS });
    try {
      session.join();
      const connects = (): number => events.filter((e) => e.type === 'connected').length;
      await until(() => connects() >= 2, 30_000);
      expect(connects()).toBe(2);
      expect(events.some((e) => e.type === 'notice' && e.notice.type === 'reconnecting')).toBe(true);
      // The second connection's path came up: the deadline passes without another reconnect.
      await new Promise((r) => setTimeout(r, DEADLINE_MS + 1000));
      expect(connects()).toBe(2);
    } finally {
      session.leave();
    }
  }, 60_000);

  it('leaves alone a connection whose path came up', async () => {
    const events: Event[] = [];
    const session = new Session({ broker: cluster.broker.url, joinToken: await cluster.joinToken(await cluster.meeting(), 'Bo'), country: 'US', platform: platformWithSilentPeers(0), onEvent: (e) => events.push(e), peerConnectTimeoutMs: DEADLINE_MS });
    try {
      session.join();
      await until(() => events.some((e) => e.type === 'connected'), 30_000);
      await new Promise((r) => setTimeout(r, DEADLINE_MS + 1000));
      expect(events.filter((e) => e.type === 'connected')).toHaveLength(1);
      expect(events.some((e) => e.type === 'notice' && e.notice.type === 'reconnecting')).toBe(false);
    } finally {
      session.leave();
    }
  }, 60_000);
});
