/**
 * What a bridge forwards, seen from inside it: the VP8 frames a participant
 * publishes, as the bytes after the VP8 payload descriptor (RFC 7741 §4.2)
 * of each packet that starts a frame. With E2EE on they begin with VP8's
 * clear payload header and then an SFrame header.
 */
import type { RtpPacket } from 'werift';
import type { Cluster } from '../../src/bridge/cluster.fixture.js';
import { vp8FrameStart } from '../../src/bridge/vp8.js';

/** The next `count` frame starts that `name` sends through `datacenter`'s bridge in `meeting`, from its camera or its screen. */
export async function tapVideoFrames(cluster: Cluster, datacenter: string, meeting: string, name: string, count: number, source: 'video' | 'screen' = 'video'): Promise<Uint8Array[]> {
  const room = cluster.bridges.get(datacenter)?.rooms.get(meeting);
  const track = [...(room?.participants.values() ?? [])].find((p) => p.name === name)?.published.get(source)?.track;
  if (!track) throw new Error(`the bridge has no ${source} from ${name}: it has ${JSON.stringify([...(room?.participants.values() ?? [])].map((p) => [p.name, [...p.published.keys()]]))}`);
  const frames: Uint8Array[] = [];
  await new Promise<void>((resolve) => {
    const sub = track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      const start = vp8FrameStart(rtp.payload);
      if (start === undefined) return;
      frames.push(start);
      if (frames.length >= count) {
        sub.unSubscribe();
        resolve();
      }
    });
  });
  return frames;
}

/** Bytes VP8 leaves clear at the start of a frame under E2EE: 3 on delta frames, 10 on key frames (RFC 6386 §9.1). */
export function vp8ClearBytes(frame: Uint8Array): number {
  return (frame[0] ?? 0) & 1 ? 3 : 10;
}
