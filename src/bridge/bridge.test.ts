/**
 * Bridges with Node participants (werift on both ends, real sockets on
 * 127.0.0.1): admission only with a valid ticket for this datacenter,
 * forwarding between participants, placement and redirects, and the audit.
 */
import { MediaStreamTrack, RtpHeader, RtpPacket } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../sdk/node.js';
import { nodeSession } from '../sdk/node.js';
import { startCluster, type Cluster } from './cluster.fixture.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east', 'us-west', 'eu-west', 'cn-beijing'], ['us-east', 'us-west', 'eu-west']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});

/** A werift video track that sends a synthetic VP8-typed RTP packet every 20 ms while `running`. */
function syntheticVideo(): { track: MediaStreamTrack; stop: () => void } {
  const track = new MediaStreamTrack({ kind: 'video' });
  let seq = 0;
  const timer = setInterval(() => {
    seq = (seq + 1) & 0xffff;
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 1234, marker: true });
    track.writeRtp(new RtpPacket(header, Buffer.alloc(200, seq & 0xff)));
  }, 20);
  return { track, stop: () => { clearInterval(timer); } };
}

async function until(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

function waitFor<T>(events: SessionEvent<MediaStreamTrack>[], pick: (e: SessionEvent<MediaStreamTrack>) => T | undefined, ms = 10_000): Promise<T> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      for (const e of events) {
        const v = pick(e);
        if (v !== undefined) { resolve(v); return; }
      }
      if (Date.now() - started > ms) { reject(new Error(`timed out; events: ${events.map((e) => e.type).join(', ')}`)); return; }
      setTimeout(poll, 20);
    };
    poll();
  });
}

describe('bridge with Node participants', () => {
  it('admits two participants of a meeting and forwards one to the other', async () => {
    const meeting = await cluster.meeting();
    const video = syntheticVideo();
    const aEvents: SessionEvent<MediaStreamTrack>[] = [];
    const bEvents: SessionEvent<MediaStreamTrack>[] = [];
    const a = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), name: 'Ada', country: 'US', tracks: { video: video.track }, onEvent: (e) => aEvents.push(e) });
    const b = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Bo'), name: 'Bo', country: 'US', onEvent: (e) => bEvents.push(e) });
    a.join();
    const connected = await waitFor(aEvents, (e) => (e.type === 'connected' ? e : undefined));
    expect(connected).toMatchObject({ datacenter: 'us-east', jurisdiction: 'US', role: 'primary', attempts: 1 });
    b.join();
    await waitFor(bEvents, (e) => (e.type === 'connected' ? e : undefined));
    const track = await waitFor(bEvents, (e) => (e.type === 'track-added' && e.kind === 'video' ? e.track : undefined));
    let received = 0;
    track.onReceiveRtp.subscribe(() => received++);
    await until(() => received > 5, 5000);
    expect(received).toBeGreaterThan(5);
    expect(bEvents.some((e) => e.type === 'participant-joined' && e.peer.name === 'Ada')).toBe(true);
    a.leave();
    b.leave();
    video.stop();
  }, 30_000);
});
