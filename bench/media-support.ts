/**
 * Shared by the media benchmarks (failover, bridge-cpu): a synthetic video
 * source and a bounded poll. The bridge forwards bytes and never decodes, so
 * VP8-typed packets of the right size and rate load it as real video does.
 */
import { MediaStreamTrack, RtpHeader, RtpPacket } from 'werift';

/** Shape of the synthetic stream. */
export interface VideoShape {
  readonly fps: number;
  readonly packetsPerFrame: number;
  /** RTP payload bytes per packet. */
  readonly payloadBytes: number;
  readonly ssrc: number;
}

/** A werift track fed with synthetic RTP until `stop()`. */
export interface VideoSource {
  readonly track: MediaStreamTrack;
  /** Packets written so far. */
  sent(): number;
  stop(): void;
}

/** Sends `packetsPerFrame` packets every frame (marker on the last, 90 kHz timestamps), as a video encoder does. */
export function syntheticVideo(shape: VideoShape): VideoSource {
  const track = new MediaStreamTrack({ kind: 'video' });
  const payload = Buffer.alloc(shape.payloadBytes, 7);
  let seq = 0;
  let frame = 0;
  let sent = 0;
  const timer = setInterval(() => {
    frame++;
    for (let i = 0; i < shape.packetsPerFrame; i++) {
      seq = (seq + 1) & 0xffff;
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: (frame * 90_000) / shape.fps, ssrc: shape.ssrc, marker: i === shape.packetsPerFrame - 1 });
      track.writeRtp(new RtpPacket(header, payload));
      sent++;
    }
  }, 1000 / shape.fps);
  return {
    track,
    sent: () => sent,
    stop: () => {
      clearInterval(timer);
    },
  };
}

/** Resolves true once `condition()` holds, false after `ms`; polls every `everyMs`. */
export async function pollUntil(condition: () => boolean, ms: number, everyMs = 10): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

/** The p-quantile (0–1) of a non-empty list, nearest rank. */
export function quantile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
}
