/**
 * The subscribers of `bench/bridge-cpu.ts`, in their own process: werift
 * peers (src/sdk/node.ts) that answer the forwarder's offers and count the
 * packets they receive. Kept apart from the publisher so that decrypting
 * 8 × 390 packets/s cannot starve the publisher's timer and lower the rate
 * the forwarder is measured at.
 */
import type { MediaStreamTrack } from 'werift';
import type { StreamInfo } from '../src/protocol/signalling.js';
import { nodePlatform } from '../src/sdk/node.js';
import type { PeerHandle } from '../src/sdk/session.js';

export const SUBSCRIBER_CHILD_FLAG = '--bench-subscriber-child';

/** Parent → child. */
export type ToSubscribers =
  | { readonly type: 'offer'; readonly peer: string; readonly sdp: string; readonly streams: readonly StreamInfo[] }
  | { readonly type: 'count' }
  | { readonly type: 'stop' };

/** Child → parent. */
export type FromSubscribers =
  | { readonly type: 'answer'; readonly peer: string; readonly sdp: string }
  | { readonly type: 'count'; readonly received: readonly number[] }
  | { readonly type: 'error'; readonly message: string };

function serve(): void {
  const send = (m: FromSubscribers): void => { process.send?.(m); };
  const peers = new Map<string, PeerHandle<MediaStreamTrack>>();
  const received = new Map<string, number>();
  const peer = (id: string): PeerHandle<MediaStreamTrack> => {
    const known = peers.get(id);
    if (known) return known;
    const created = nodePlatform().createPeer([]);
    received.set(id, 0);
    created.onTrack = (_stream, track): void => {
      track.onReceiveRtp.subscribe(() => { received.set(id, (received.get(id) ?? 0) + 1); });
    };
    peers.set(id, created);
    return created;
  };
  process.on('message', (m: ToSubscribers) => {
    if (m.type === 'offer') {
      peer(m.peer).answer(m.sdp, m.streams).then(
        (sdp) => { send({ type: 'answer', peer: m.peer, sdp }); },
        (e: unknown) => { send({ type: 'error', message: String(e) }); },
      );
    } else if (m.type === 'count') {
      send({ type: 'count', received: [...received.values()] });
    } else {
      for (const p of peers.values()) p.close();
      process.exit(0);
    }
  });
}

if (process.argv.includes(SUBSCRIBER_CHILD_FLAG)) serve();
