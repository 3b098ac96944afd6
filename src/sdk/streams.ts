/**
 * The remote streams a connection delivered, as the SDK's shell tracks them
 * across the bridge's offers: each offer labels every stream still carried,
 * so one it no longer labels has ended. The bridge may label its m-line
 * again for another stream (`join.recycles`), but only in a later offer: a
 * mid names one stream from the offer that labels it to the first that does
 * not.
 */
import { streamSource, type StreamInfo, type StreamSource } from '../protocol/signalling.js';

/** A remote track the application was given. */
export interface ReceivedTrack {
  readonly mid: string;
  readonly peer: string;
  readonly kind: 'audio' | 'video';
  readonly source: StreamSource;
}

/** The received track a labelled stream carries. */
export function trackOf(stream: StreamInfo): ReceivedTrack {
  return { mid: stream.mid, peer: stream.peer, kind: stream.kind, source: streamSource(stream) };
}

/** The tracks an offer's `streams` no longer label: ended. */
export function endedStreams(tracks: readonly ReceivedTrack[], streams: readonly StreamInfo[]): ReceivedTrack[] {
  const live = new Set(streams.map((s) => s.mid));
  return tracks.filter((t) => !live.has(t.mid));
}
