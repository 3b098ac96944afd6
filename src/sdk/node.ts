/**
 * The SDK in Node: werift peer connections and `ws` sockets, so programs can
 * join meetings too (probes, bots, load tests). Publishing is optional: pass
 * werift tracks to send (e.g. RTP from a file or a generator), or none to
 * only receive.
 */
import { MediaStreamTrack, RTCPeerConnection, useOPUS, useSdesMid, useVP8 } from 'werift';
import WebSocket from 'ws';
import { requireDtlsKeyProof } from '../node/dtls-key-proof.js';
import type { IceServer, StreamInfo } from '../protocol/signalling.js';
import { Session, type PeerHandle, type Platform, type SessionOptions, type SocketLike } from './session.js';

export type { SessionEvent } from './session.js';

/** What a Node participant publishes. */
export interface NodeTracks {
  readonly audio?: MediaStreamTrack;
  readonly video?: MediaStreamTrack;
}

/** A Node platform; `tracks` are published on every bridge the session connects to. */
export function nodePlatform(tracks: NodeTracks = {}): Platform<MediaStreamTrack> {
  return {
    openSocket: (url, protocol) => new NodeSocket(url, protocol),
    createPeer: (iceServers) => new NodePeer(tracks, iceServers),
    recycles: true,
    sends: () => [...(tracks.audio ? ['audio' as const] : []), ...(tracks.video ? ['video' as const] : [])],
  };
}

/** The Node side of a Room (node-room.ts): the platform over tracks that may change, and the live peer connections. */
export interface NodeMedia {
  readonly platform: Platform<MediaStreamTrack>;
  /** Sends `track` as our camera ('video') or microphone ('audio') from now on: on live connections already publishing that kind, and on every later one. */
  setOwn(kind: 'audio' | 'video', track: MediaStreamTrack | null): Promise<void>;
}

/** A Node platform whose published tracks the room sets (`setOwn`). */
export function nodeMedia(): NodeMedia {
  const tracks: { audio?: MediaStreamTrack; video?: MediaStreamTrack } = {};
  const peers = new Set<NodePeer>();
  return {
    platform: {
      openSocket: (url, protocol) => new NodeSocket(url, protocol),
      createPeer: (iceServers) => new NodePeer(tracks, iceServers, peers),
      recycles: true,
      sends: () => [...(tracks.audio ? ['audio' as const] : []), ...(tracks.video ? ['video' as const] : [])],
    },
    setOwn: async (kind, track) => {
      if (kind === 'audio') {
        if (track) tracks.audio = track;
        else delete tracks.audio;
      } else if (track) tracks.video = track;
      else delete tracks.video;
      await Promise.all([...peers].map((p) => p.setOwn(kind, track)));
    },
  };
}

/** A session in Node. */
export function nodeSession(options: Omit<SessionOptions<MediaStreamTrack>, 'platform'> & { readonly tracks?: NodeTracks }): Session<MediaStreamTrack> {
  return new Session({ ...options, platform: nodePlatform(options.tracks) });
}

class NodeSocket implements SocketLike {
  readonly #ws: WebSocket;
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;

  constructor(url: string, protocol: string) {
    this.#ws = new WebSocket(url, protocol);
    this.#ws.on('open', () => this.onopen?.());
    this.#ws.on('close', () => this.onclose?.());
    this.#ws.on('error', () => this.onerror?.());
    this.#ws.on('message', (data, isBinary) => {
      this.onmessage?.({ data: isBinary || !Buffer.isBuffer(data) ? null : data.toString('utf8') });
    });
  }

  send(data: string): void {
    this.#ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
}

class NodePeer implements PeerHandle<MediaStreamTrack> {
  readonly #pc: RTCPeerConnection;
  readonly #tracks: NodeTracks;
  #streams = new Map<string, StreamInfo>();
  readonly #publishing = new Set<string>();
  #answered = false;
  /** Our screen's m-line: the second unlabelled video m-line of the first offer (none from a bridge without screens). */
  #screenMid: string | undefined;
  #connected = false;
  #screen: MediaStreamTrack | null = null;

  get screenReady(): boolean {
    return this.#screenMid !== undefined;
  }
  /** One steady track per received stream, whatever SSRCs the bridge's sender goes through, by the mid that carries it now. */
  readonly #received = new Map<string, MediaStreamTrack>();
  /** werift's remote tracks whose packets are passed on. */
  readonly #tapped = new WeakSet<MediaStreamTrack>();
  onTrack: ((stream: StreamInfo, track: MediaStreamTrack) => void) | null = null;
  onFailed: (() => void) | null = null;

  /**
   * Whether the route allowed a STUN server. Without one, werift would query its built-in
   * stun.l.google.com, outside every fence (docs/security.md, TURN relays and residency):
   * gathering is then told to skip server-reflexive candidates.
   */
  readonly #stun: boolean;

  /** The platform's live peers, which this one leaves on close. */
  readonly #live: Set<NodePeer> | undefined;

  constructor(tracks: NodeTracks, iceServers: readonly IceServer[], live?: Set<NodePeer>) {
    this.#live = live;
    live?.add(this);
    // The bridge must prove it holds its certificate's key, not only show the certificate.
    requireDtlsKeyProof();
    this.#pc = new RTCPeerConnection({
      codecs: { audio: [useOPUS()], video: [useVP8()] },
      headerExtensions: { audio: [useSdesMid()], video: [useSdesMid()] },
      iceServers: iceServers.map((s) => ({ ...s, urls: [...s.urls] })),
      iceUseIpv6: false,
    });
    this.#tracks = tracks;
    this.#stun = iceServers.some((s) => s.urls.some((u) => u.startsWith('stun:') || u.startsWith('stuns:')));
    this.#pc.onTransceiverAdded.subscribe((transceiver) => {
      transceiver.onTrack.subscribe((track) => {
        const mid = transceiver.mid;
        if (mid === null) return;
        // werift gives a track per remote SSRC, during the offer that names it: a stream on a reused m-line comes with its own.
        this.#emit(mid);
        if (this.#tapped.has(track)) return;
        this.#tapped.add(track);
        // Into the steady track of the stream the m-line carries now: none between an offer that ends it and one that labels it again.
        track.onReceiveRtp.subscribe((rtp) => {
          this.#received.get(mid)?.writeRtp(rtp);
        });
      });
    });
    this.#pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') this.#connected = true;
      if (state === 'failed' || state === 'closed') this.onFailed?.();
    });
  }

  /** werift may wait in 'connecting' forever (it gives up on neither ICE nor DTLS): the session's deadline asks this. */
  hasConnected(): boolean {
    return this.#connected;
  }

  async answer(sdp: string, streams: readonly StreamInfo[]): Promise<string> {
    this.#streams = new Map(streams.map((s) => [s.mid, s]));
    // A stream the offer no longer labels has ended; the bridge may put another on its m-line (`recycles`).
    for (const mid of [...this.#received.keys()]) if (!this.#streams.has(mid)) this.#received.delete(mid);
    await this.#pc.setRemoteDescription({ type: 'offer', sdp });
    if (!this.#stun) for (const t of this.#pc.iceTransports) Object.assign(t.connection, { stunServer: undefined });
    // The bridge offers to be the DTLS client (sfu.ts); werift would answer `active` to any offer.
    if (/^a=setup:active\r?$/m.test(sdp)) for (const t of this.#pc.dtlsTransports) if (t.state === 'new') t.role = 'server';
    const first = !this.#answered;
    this.#answered = true;
    let videos = 0;
    for (const t of this.#pc.getTransceivers()) {
      if (t.mid === null || this.#streams.has(t.mid)) continue;
      if (first && t.kind === 'video' && videos++ === 1) this.#screenMid = t.mid;
      if (t.mid === this.#screenMid) {
        // Sending from the start, with no track until we share: replaceTrack then starts it without renegotiation.
        if (first && this.#screen) await t.sender.replaceTrack(this.#screen);
        t.setDirection('sendonly');
        continue;
      }
      // Our media goes on the unlabelled m-lines of the first offer; one unlabelled later is a departed peer's.
      const track = t.kind === 'audio' ? this.#tracks.audio : this.#tracks.video;
      if (!track || (!first && !this.#publishing.has(t.mid))) continue;
      if (!this.#publishing.has(t.mid)) {
        this.#publishing.add(t.mid);
        await t.sender.replaceTrack(track);
      }
      // werift resets an answering transceiver's direction on every offer.
      t.setDirection('sendonly');
    }
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    // werift would recycle an inactive m-line for the next one the bridge offers, mixing up mids.
    for (const t of this.#pc.getTransceivers()) t.usedForSender = true;
    return this.#pc.localDescription?.sdp ?? '';
  }

  /** Hands out a steady track for the stream labelled on `mid`, once per stream. */
  #emit(mid: string): void {
    const stream = this.#streams.get(mid);
    if (!stream || this.#received.has(mid)) return;
    const steady = new MediaStreamTrack({ kind: stream.kind });
    this.#received.set(mid, steady);
    this.onTrack?.(stream, steady);
  }

  /** Our camera or microphone from now on, on the m-lines already publishing that kind (a kind not published at the first answer waits for the next connection). */
  async setOwn(kind: 'audio' | 'video', track: MediaStreamTrack | null): Promise<void> {
    await Promise.all(this.#pc.getTransceivers().filter((t) => t.mid !== null && this.#publishing.has(t.mid) && t.kind === kind).map((t) => t.sender.replaceTrack(track)));
  }

  async setScreen(track: MediaStreamTrack | null): Promise<void> {
    if (track === this.#screen) return;
    this.#screen = track;
    const t = this.#pc.getTransceivers().find((x) => x.mid !== null && x.mid === this.#screenMid);
    await t?.sender.replaceTrack(track);
  }

  close(): void {
    this.onFailed = null;
    this.#live?.delete(this);
    void this.#pc.close().catch(() => undefined);
  }
}
