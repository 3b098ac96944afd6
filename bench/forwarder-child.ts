/**
 * The forwarder under test for `bench/bridge-cpu.ts`, alone in a child
 * process so that `process.cpuUsage()` sees its CPU only. Either ours
 * (`Room`/`Participant` from src/bridge/sfu.ts, with the bridge's 1 s REMB
 * tick) or a bare werift forwarder with no policy: one peer connection
 * receiving the publisher's video, `onReceiveRtp` → serialize once →
 * `writeRtp` on a local track per subscriber peer connection. Signalling
 * goes over IPC in the bridge protocol's shape (offer + stream labels,
 * answer), so the parent's werift clients answer both the same way.
 */
import { MediaStreamTrack, RTCPeerConnection, useSdesMid, useVP8, type PeerConfig } from 'werift';
import type { StreamInfo } from '../src/protocol/signalling.js';
import { Participant, Room } from '../src/bridge/sfu.js';

export const FORWARDER_CHILD_FLAG = '--bench-forwarder-child';

export type ForwarderMode = 'ours' | 'bare';

/** Parent → child. */
export type ToForwarder =
  | { readonly type: 'start'; readonly mode: ForwarderMode; readonly subscribers: number }
  | { readonly type: 'answer'; readonly peer: string; readonly sdp: string }
  | { readonly type: 'measure'; readonly ms: number }
  | { readonly type: 'stop' };

/** Child → parent. */
export type FromForwarder =
  | { readonly type: 'offer'; readonly peer: string; readonly sdp: string; readonly streams: readonly StreamInfo[] }
  | { readonly type: 'cpu'; readonly cpuMs: number; readonly inbound: number; readonly forwarded: number; readonly ms: number }
  | { readonly type: 'error'; readonly message: string };

type SendOffer = (peer: string, sdp: string, streams: readonly StreamInfo[]) => void;

interface Forwarder {
  answer(peer: string, sdp: string): Promise<void>;
  /** The publisher's received video track, once media flows. */
  source(): MediaStreamTrack | undefined;
  /** Subscribers each inbound packet goes to. */
  fanout(): number;
  close(): Promise<void>;
}

/** Ours: the bridge's Room, subscribers first, then the publisher. */
async function startOurs(subscribers: number, offer: SendOffer): Promise<Forwarder> {
  const room = new Room('bench', { bindAddress: '127.0.0.1', videoBitrate: 1_500_000 });
  const people = new Map<string, Participant>();
  const add = async (id: string): Promise<void> => {
    const p = new Participant(id, id, room.peerConfig(), {
      offer: (sdp, streams) => { offer(id, sdp, streams); },
      notify: () => undefined,
      // A figure measured over a dead connection means nothing: stop loudly.
      failed: () => { process.stderr.write(`forwarder: ${id}'s connection failed\n`); process.exit(1); },
    });
    people.set(id, p);
    await room.add(p);
  };
  for (let i = 1; i <= subscribers; i++) await add(`sub${i}`);
  await add('pub');
  const tick = setInterval(() => { room.tick(); }, 1000);
  const published = (): ReturnType<Participant['published']['get']> => people.get('pub')?.published.get('video');
  return {
    answer: async (peer, sdp) => { await people.get(peer)?.answer(sdp); },
    source: () => published()?.track,
    fanout: () => published()?.outlets.size ?? 0,
    close: async () => {
      clearInterval(tick);
      for (const p of people.values()) await p.close();
    },
  };
}

/** Bare: werift alone, VP8 only, no keyframe or bitrate policy. */
async function startBare(subscribers: number, offer: SendOffer): Promise<Forwarder> {
  const config: Partial<PeerConfig> = { codecs: { video: [useVP8()] }, headerExtensions: { video: [useSdesMid()] }, iceUseIpv6: false, iceInterfaceAddresses: { udp4: '127.0.0.1' } };
  const pcs = new Map<string, RTCPeerConnection>();
  const outlets: MediaStreamTrack[] = [];
  let source: MediaStreamTrack | undefined;
  const negotiate = async (peer: string, pc: RTCPeerConnection, streams: (mid: string) => StreamInfo[]): Promise<void> => {
    pcs.set(peer, pc);
    await pc.setLocalDescription(await pc.createOffer());
    offer(peer, pc.localDescription?.sdp ?? '', streams(pc.getTransceivers()[0]?.mid ?? ''));
  };
  for (let i = 1; i <= subscribers; i++) {
    const pc = new RTCPeerConnection(config);
    const outlet = new MediaStreamTrack({ kind: 'video' });
    pc.addTransceiver(outlet, { direction: 'sendonly' });
    outlets.push(outlet);
    await negotiate(`sub${i}`, pc, (mid) => [{ mid, peer: 'pub', kind: 'video' }]);
  }
  const pub = new RTCPeerConnection(config);
  pub.addTransceiver('video', { direction: 'recvonly' }).onTrack.subscribe((track) => {
    source = track;
    track.onReceiveRtp.subscribe((rtp) => {
      // Serialize once; each sender parses its own copy, as it rewrites the header in place.
      const bytes = rtp.serialize();
      for (const outlet of outlets) outlet.writeRtp(bytes);
    });
  });
  await negotiate('pub', pub, () => []);
  return {
    answer: async (peer, sdp) => { await pcs.get(peer)?.setRemoteDescription({ type: 'answer', sdp }); },
    source: () => source,
    fanout: () => outlets.length,
    close: async () => {
      for (const pc of pcs.values()) await pc.close().catch(() => undefined);
    },
  };
}

/** CPU of this process over `ms`, and the packets that came in and went out meanwhile. */
async function measure(forwarder: Forwarder, ms: number): Promise<FromForwarder> {
  let inbound = 0;
  const counting = forwarder.source()?.onReceiveRtp.subscribe(() => inbound++);
  const started = performance.now();
  const before = process.cpuUsage();
  await new Promise((r) => setTimeout(r, ms));
  const used = process.cpuUsage(before);
  const elapsed = performance.now() - started;
  counting?.unSubscribe();
  return { type: 'cpu', cpuMs: (used.user + used.system) / 1000, inbound, forwarded: inbound * forwarder.fanout(), ms: elapsed };
}

function serve(): void {
  const send = (m: FromForwarder): void => { process.send?.(m); };
  const offer: SendOffer = (peer, sdp, streams) => { send({ type: 'offer', peer, sdp, streams }); };
  let forwarder: Promise<Forwarder> | undefined;
  const handle = async (m: ToForwarder): Promise<void> => {
    if (m.type === 'start') forwarder = m.mode === 'ours' ? startOurs(m.subscribers, offer) : startBare(m.subscribers, offer);
    else if (m.type === 'answer') await (await forwarder)?.answer(m.peer, m.sdp);
    else if (m.type === 'measure' && forwarder) send(await measure(await forwarder, m.ms));
    else if (m.type === 'stop') {
      await (await forwarder)?.close();
      process.exit(0);
    }
  };
  process.on('message', (m: ToForwarder) => {
    handle(m).catch((error: unknown) => { send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }); });
  });
}

if (process.argv.includes(FORWARDER_CHILD_FLAG)) serve();
