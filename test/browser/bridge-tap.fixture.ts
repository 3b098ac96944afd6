/**
 * What a bridge forwards, seen from inside it: the VP8 frames a participant
 * publishes, as the bytes after the VP8 payload descriptor (RFC 7741 §4.2)
 * of each packet that starts a frame. With E2EE on they begin with VP8's
 * clear payload header and then an SFrame header.
 */
import type { RtpPacket } from 'werift';
import type { Cluster } from '../../src/bridge/cluster.fixture.js';
import type { Participant } from '../../src/bridge/sfu.js';
import { vp8FrameStart } from '../../src/bridge/vp8.js';

/**
 * The next `count` frame starts that `name` sends through `datacenter`'s
 * bridge in `meeting`, from its camera or its screen. A participant that
 * reconnects meanwhile (its media path failed on a loaded machine) publishes
 * a new track: the tap follows it. Throws, naming what the bridge has, when
 * the frames do not come within `timeoutMs`.
 */
export async function tapVideoFrames(cluster: Cluster, datacenter: string, meeting: string, name: string, count: number, source: 'video' | 'screen' = 'video', timeoutMs = 60_000): Promise<Uint8Array[]> {
  const participants = (): Participant[] => [...(cluster.bridges.get(datacenter)?.rooms.get(meeting)?.participants.values() ?? [])];
  const frames: Uint8Array[] = [];
  const deadline = Date.now() + timeoutMs;
  let tapped: unknown;
  let tap: { unSubscribe(): void } | undefined;
  try {
    while (frames.length < count) {
      const published = participants().find((p) => p.name === name)?.published.get(source);
      if (published?.track && published !== tapped) {
        tap?.unSubscribe();
        tapped = published;
        tap = published.track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
          const start = vp8FrameStart(rtp.payload);
          if (start !== undefined) frames.push(start);
        });
      }
      if (Date.now() > deadline) {
        throw new Error(`${frames.length} of ${count} ${source} frames from ${name} through ${datacenter} within ${timeoutMs} ms; the bridge has ${JSON.stringify(participants().map((p) => [p.name, [...p.published.keys()]]))}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    tap?.unSubscribe();
  }
  return frames.slice(0, count);
}

/** Bytes VP8 leaves clear at the start of a frame under E2EE: 3 on delta frames, 10 on key frames (RFC 6386 §9.1). */
export function vp8ClearBytes(frame: Uint8Array): number {
  return (frame[0] ?? 0) & 1 ? 3 : 10;
}
