/**
 * Remote peers (a cascade's receiving end, docs/cascading.md): a participant
 * who moved between bridges comes in over a new relay while the old relay
 * may not have closed yet. The new relay takes the peer over, the old one's
 * streams of it end, and the old relay closing late removes nothing the new
 * one brought in.
 */
import { MediaStreamTrack, RTCPeerConnection } from 'werift';
import { afterAll, describe, expect, it } from 'vitest';
import { Room } from './sfu.js';

const anna = { id: 'p-anna', name: 'Anna', audio: true, video: true };
/** A relay's receiver of the stream (used only to ask for key frames, which this test never does). */
const relayPeer = new RTCPeerConnection();
const receiver = relayPeer.addTransceiver('video', { direction: 'recvonly' }).receiver;

afterAll(async () => {
  await relayPeer.close();
});

describe('remote peers of a room', () => {
  it('are taken over by the newer relay, whose streams then stand, and a late close of the old relay removes nothing', () => {
    const room = new Room('m-1', { videoBitrate: 1_000_000 });
    const oldRelay = {};
    const newRelay = {};
    const before = new MediaStreamTrack({ kind: 'video' });
    room.publishRemote(room.remote(anna, oldRelay), 'video', before, receiver);
    expect(room.remotes.get(anna.id)?.published.get('video')?.track).toBe(before);

    const after = new MediaStreamTrack({ kind: 'video' });
    const taken = room.remote(anna, newRelay);
    expect(taken.via).toBe(newRelay);
    // The old relay's stream ended when the new relay took Anna over; the new one's is published.
    expect(taken.published.has('video')).toBe(false);
    room.publishRemote(taken, 'video', after, receiver);
    expect(taken.published.get('video')?.track).toBe(after);

    room.removeRemote(anna.id, oldRelay);
    expect(room.remotes.get(anna.id)?.published.get('video')?.track).toBe(after);
    room.removeRemote(anna.id, newRelay);
    expect(room.remotes.has(anna.id)).toBe(false);
    expect(room.empty).toBe(true);
  });
});
