/**
 * Screen sharing over a real bridge (werift on both ends, 127.0.0.1): a
 * screen reaches the others as its own stream labelled `screen`, a late
 * joiner gets it with a keyframe request on its behalf, and it ends for
 * everyone when the sharer stops (and can start again).
 */
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../sdk/node.js';
import { nodeSession } from '../sdk/node.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { isMarked, markedVideo, syntheticVideo, until, waitFor } from './participant.fixture.js';

type Event = SessionEvent<MediaStreamTrack>;

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east'], ['us-east']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});

/** Counts the packets a received track delivers, and those marked by markedVideo(fill). */
function count(track: MediaStreamTrack, fill: number): { all: () => number; marked: () => number } {
  let all = 0;
  let marked = 0;
  track.onReceiveRtp.subscribe((rtp) => {
    all++;
    if (isMarked(rtp.payload, fill)) marked++;
  });
  return { all: () => all, marked: () => marked };
}

const SCREEN = 0x5c;

describe('screen sharing', () => {
  it('forwards a screen as a stream labelled screen, asks a keyframe for a late joiner, and ends it when the sharer stops', async () => {
    const meeting = await cluster.meeting();
    const camera = syntheticVideo();
    const screen = markedVideo(SCREEN);
    const sessions: { leave(): void }[] = [];
    try {
      const adaEvents: Event[] = [];
      const boEvents: Event[] = [];
      const ada = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), country: 'US', tracks: { video: camera.track }, onEvent: (e) => adaEvents.push(e) });
      const bo = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Bo'), country: 'US', onEvent: (e) => boEvents.push(e) });
      sessions.push(ada, bo);
      ada.join();
      await waitFor(adaEvents, (e) => (e.type === 'connected' ? e : undefined));
      bo.join();
      const adaId = await waitFor(boEvents, (e) => (e.type === 'participant-joined' && e.peer.name === 'Ada' ? e.peer.id : undefined));
      const cameraTrack = await waitFor(boEvents, (e) => (e.type === 'track-added' && e.kind === 'video' ? e : undefined));
      expect(cameraTrack).toMatchObject({ peer: adaId, source: 'camera' });
      const cameraPackets = count(cameraTrack.track, SCREEN);
      await until(() => cameraPackets.all() > 5, 10_000);
      expect(cameraPackets.all()).toBeGreaterThan(5);
      const room = cluster.bridges.get('us-east')?.rooms.get(meeting);
      const adaAtBridge = [...(room?.participants.values() ?? [])].find((p) => p.name === 'Ada');
      // Not sharing: nothing is published from the screen m-line, and no screen is offered.
      expect(adaAtBridge?.published.has('screen')).toBe(false);
      expect(boEvents.some((e) => e.type === 'track-added' && e.source === 'screen')).toBe(false);

      await ada.shareScreen(screen.track);
      const shared = await waitFor(boEvents, (e) => (e.type === 'track-added' && e.source === 'screen' ? e : undefined));
      expect(shared).toMatchObject({ peer: adaId, kind: 'video', source: 'screen' });
      expect(await waitFor(boEvents, (e) => (e.type === 'participant-updated' && e.peer.screen === true ? e.peer.id : undefined))).toBe(adaId);
      const screenPackets = count(shared.track, SCREEN);
      await until(() => screenPackets.marked() > 10, 10_000);
      // The screen's packets arrive on the screen stream, and only there.
      expect(screenPackets.marked()).toBeGreaterThan(10);
      expect(screenPackets.all()).toBe(screenPackets.marked());
      expect(cameraPackets.marked()).toBe(0);

      // A late joiner gets the screen, and the bridge asks Ada's screen for a keyframe on its behalf.
      const published = adaAtBridge?.published.get('screen');
      const receiver = published?.receiver;
      if (!published || !receiver) throw new Error('the bridge did not publish Ada’s screen');
      const asked: number[] = [];
      const send = receiver.sendRtcpPLI.bind(receiver);
      receiver.sendRtcpPLI = (ssrc: number) => {
        asked.push(ssrc);
        return send(ssrc);
      };
      const cyEvents: Event[] = [];
      const cy = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Cy'), country: 'US', onEvent: (e) => cyEvents.push(e) });
      sessions.push(cy);
      cy.join();
      const cyScreen = await waitFor(cyEvents, (e) => (e.type === 'track-added' && e.source === 'screen' ? e : undefined));
      expect(cyScreen.peer).toBe(adaId);
      const cyPackets = count(cyScreen.track, SCREEN);
      await until(() => cyPackets.marked() > 5 && asked.length > 0, 10_000);
      expect(cyPackets.marked()).toBeGreaterThan(5);
      expect(asked.length).toBeGreaterThan(0);
      expect(asked.every((ssrc) => ssrc === published.track?.ssrc)).toBe(true);

      // Ada stops: the screen ends for both, and no packet of it is forwarded any more; her camera goes on.
      await ada.shareScreen(null);
      for (const events of [boEvents, cyEvents]) expect(await waitFor(events, (e) => (e.type === 'track-removed' && e.source === 'screen' ? e : undefined))).toMatchObject({ peer: adaId, kind: 'video' });
      expect(adaAtBridge?.published.has('screen')).toBe(false);
      expect(await waitFor(boEvents, (e) => (e.type === 'participant-updated' && e.peer.id === adaId && e.peer.screen !== true ? true : undefined))).toBe(true);
      const stoppedAt = screenPackets.all();
      const cameraAt = cameraPackets.all();
      await new Promise((r) => setTimeout(r, 1000));
      expect(screenPackets.all()).toBe(stoppedAt);
      expect(cameraPackets.all()).toBeGreaterThan(cameraAt);
      expect(boEvents.some((e) => e.type === 'track-removed' && e.source === 'camera')).toBe(false);

      // Sharing again publishes it again, as a new stream.
      await ada.shareScreen(screen.track);
      const again = await waitFor(boEvents, (e) => (e.type === 'track-added' && e.source === 'screen' && e.track !== shared.track ? e : undefined));
      const againPackets = count(again.track, SCREEN);
      await until(() => againPackets.marked() > 5, 10_000);
      expect(againPackets.marked()).toBeGreaterThan(5);

      // Leaving ends it too.
      ada.leave();
      expect(await waitFor(boEvents, (e) => (e.type === 'track-removed' && e.source === 'screen' && boEvents.filter((x) => x.type === 'track-removed' && x.source === 'screen').length === 2 ? true : undefined))).toBe(true);
    } finally {
      camera.stop();
      screen.stop();
      for (const s of sessions) s.leave();
    }
  }, 90_000);

  it('sends a screen shared before joining once the connection has its screen m-line', async () => {
    const meeting = await cluster.meeting();
    const screen = markedVideo(SCREEN);
    const sessions: { leave(): void }[] = [];
    try {
      const boEvents: Event[] = [];
      const bo = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Bo'), country: 'US', onEvent: (e) => boEvents.push(e) });
      sessions.push(bo);
      bo.join();
      await waitFor(boEvents, (e) => (e.type === 'connected' ? e : undefined));
      const ada = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), country: 'US', onEvent: () => undefined });
      sessions.push(ada);
      await ada.shareScreen(screen.track);
      ada.join();
      const shared = await waitFor(boEvents, (e) => (e.type === 'track-added' && e.source === 'screen' ? e : undefined), 30_000);
      const packets = count(shared.track, SCREEN);
      await until(() => packets.marked() > 5, 10_000);
      expect(packets.marked()).toBeGreaterThan(5);
      expect(boEvents.some((e) => e.type === 'track-added' && e.source === 'camera')).toBe(false);
    } finally {
      screen.stop();
      for (const s of sessions) s.leave();
    }
  }, 60_000);
});
