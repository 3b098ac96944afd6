/**
 * Trickle ICE at the bridge (a real broker and bridge on 127.0.0.1): a client
 * whose answer carries no candidates sends them afterwards in `candidate`
 * messages, and the bridge checks them; one it cannot use is dropped without
 * ending the connection, and past MAX_TRICKLED_CANDIDATES it takes no more.
 * A client none of whose candidates reached the bridge still connects: the
 * offer's host candidate is the address the bridge's socket is bound to
 * (src/bridge/offer-sdp.ts), so the client's own checks reach it and the
 * bridge learns the client's address from them (peer-reflexive).
 * The client is the SDK's session on a platform that trickles the way the
 * browser does, over werift: the answer goes out without its candidate lines
 * and they follow one by one.
 */
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodePlatform, type SessionEvent } from '../sdk/node.js';
import { Session, type Platform, type TrickledCandidate } from '../sdk/session.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { joinCall, until } from './participant.fixture.js';
import { MAX_TRICKLED_CANDIDATES } from './sfu.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east']);
}, 60_000);

afterAll(async () => {
  await cluster.close();
});

/** nodePlatform, trickling: answers leave without `a=candidate` lines, which then go to the bridge after `junk` unusable candidates. */
function tricklingPlatform(junk: number): Platform<MediaStreamTrack> {
  const base = nodePlatform();
  return {
    openSocket: (url, protocol) => base.openSocket(url, protocol),
    createPeer: (iceServers) => {
      const peer = base.createPeer(iceServers);
      let send: ((c: TrickledCandidate) => void) | undefined;
      const answer = peer.answer.bind(peer);
      return Object.assign(peer, {
        trickle: (to: (c: TrickledCandidate) => void) => {
          send = to;
        },
        answer: async (...args: Parameters<typeof peer.answer>) => {
          const sdp = await answer(...args);
          if (!send) return sdp;
          const lines = sdp.split('\r\n');
          const mid = lines.find((l) => l.startsWith('a=mid:'))?.slice('a=mid:'.length) ?? '0';
          const trickled = send;
          // After the session has sent the answer: it holds candidates gathered before that and sends them after it.
          // Junk, and first a browser's mDNS candidate, which werift tries to resolve for seconds: nothing may wait behind it.
          if (junk > 0) trickled({ candidate: 'candidate:1 1 udp 2122260223 0a1b2c3d-0000-4000-8000-00000000abcd.local 50000 typ host', sdpMid: mid });
          for (let i = 1; i < junk; i++) trickled({ candidate: `candidate:junk ${i}`, sdpMid: mid });
          for (const l of lines.filter((x) => x.startsWith('a=candidate:'))) trickled({ candidate: l.slice(2), sdpMid: mid });
          return lines.filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates').join('\r\n');
        },
      });
    },
  };
}

/** Joins with a trickling platform and counts the video packets it receives. */
function trickler(meeting: string, token: string, junk: number): { events: SessionEvent<MediaStreamTrack>[]; received: () => number; session: Session<MediaStreamTrack> } {
  const events: SessionEvent<MediaStreamTrack>[] = [];
  let received = 0;
  const session = new Session({
    broker: cluster.broker.url,
    joinToken: token,
    country: 'US',
    platform: tricklingPlatform(junk),
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'track-added' && e.kind === 'video') e.track.onReceiveRtp.subscribe(() => (received += 1));
    },
  });
  session.join();
  return { events, received: () => received, session };
}

/** For the participant named `name`: candidates the bridge tried, and the host candidates its ICE agent holds. */
function bridgeSide(meeting: string, name: string): { trickled: number; hosts: number } {
  const participants = cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.values() ?? [];
  const participant = [...participants].find((p) => p.name === name);
  const hosts = (participant?.pc.iceTransports ?? []).flatMap((t) => t.connection.remoteCandidates).filter((c) => c.type === 'host').length;
  return { trickled: participant?.trickled ?? -1, hosts };
}

describe('trickle ICE', () => {
  it('takes the candidates a client sends after its answer, drops those it cannot use, and takes no more past the bound', async () => {
    const meeting = await cluster.meeting();
    const ada = await joinCall(cluster, meeting, 'Ada', 'US', { publish: true });
    const bo = trickler(meeting, await cluster.joinToken(meeting, 'Bo'), 2);
    const cy = trickler(meeting, await cluster.joinToken(meeting, 'Cy'), MAX_TRICKLED_CANDIDATES);
    await until(() => bo.received() > 20, 20_000);
    // Bo's answer had no candidates: the bridge holds the ones it trickled, and the mDNS and junk ones did not end the call.
    expect(bo.received()).toBeGreaterThan(20);
    expect(bridgeSide(meeting, 'Bo').hosts).toBeGreaterThan(0);
    expect(bo.events.some((e) => e.type === 'reconnecting' || e.type === 'failed')).toBe(false);
    // Cy spent the bound on junk: the bridge tried that many and took none of its real candidates after,
    // yet Cy's media flows: its checks to the offer's candidate reached the bridge (werift, like a
    // browser, checks the addresses it was told, so an unreachable candidate there would leave it silent).
    await until(() => bridgeSide(meeting, 'Cy').trickled === MAX_TRICKLED_CANDIDATES, 10_000);
    expect(bridgeSide(meeting, 'Cy')).toEqual({ trickled: MAX_TRICKLED_CANDIDATES, hosts: 0 });
    await until(() => cy.received() > 20, 20_000);
    expect(cy.received()).toBeGreaterThan(20);
    expect(cy.events.some((e) => e.type === 'reconnecting' || e.type === 'failed')).toBe(false);
    for (const s of [bo.session, cy.session]) s.leave();
    ada.leave();
  }, 60_000);
});
