/**
 * The SDK in the browser: the DOM's RTCPeerConnection and WebSocket. Same
 * semantics as the Node platform (node.ts): the bridge always offers; the
 * offer's m-lines not labelled in `streams` carry our own media (audio,
 * camera, then screen), the others carry the other participants'. ICE
 * trickles where the bridge takes candidates (`admitted.trickle`): the answer
 * goes out at once and candidates follow; otherwise the answer waits for
 * gathering (bounded) and carries them all.
 *
 * With `e2ee`, each peer connection gets its own SFrame worker (a new bridge
 * means a new MLS group) attached before any media flows (sframe-peer.ts), and the
 * session installs every epoch's keys in it: an application asks for E2EE
 * and gets encrypted media, without wiring anything itself.
 */
import type { IceServer, StreamInfo } from '../protocol/signalling.js';
import { enableE2ee, setKeys, terminateWorker } from './sframe-peer.js';
import type { E2eeEpoch } from './meeting-keys.js';
import { Session, type PeerHandle, type Platform, type SessionOptions, type SocketLike, type TrickledCandidate } from './session.js';

export type { CallState, SessionEvent } from './session.js';
export { isHealthy } from './session.js';
export type { RosterEntry, RosterFlag } from '../mls/roster.js';

/** How long an answer waits for ICE gathering; host candidates take milliseconds, a dead STUN server forever. */
const ICE_GATHERING_BOUND_MS = 2000;

/** Monitoring hook: sees every peer connection the platform creates, and its SFrame worker under E2EE (for stats). */
export type PeerObserver = (pc: RTCPeerConnection, worker: Worker | undefined) => void;

/** Where SFrame workers come from: e.g. `() => new Worker('/e2ee-worker.js')` (the worker script is src/sdk/e2ee-worker.ts, bundled). */
export type E2eeWorkerFactory = () => Worker;

/** A browser platform publishing `localStream`'s first audio and video track on every bridge, encrypting media end to end when given workers. */
export function browserPlatform(localStream: MediaStream, observe?: PeerObserver, e2eeWorker?: E2eeWorkerFactory, live?: Set<BrowserPeer>): Platform<MediaStreamTrack> {
  return {
    openSocket: (url, protocol) => new BrowserSocket(url, protocol),
    createPeer: (iceServers) => {
      const peer = new BrowserPeer(localStream, iceServers, e2eeWorker?.(), live);
      observe?.(peer.pc, peer.worker);
      return peer;
    },
    recycles: true,
    sends: () => [...(localStream.getAudioTracks().length > 0 ? ['audio' as const] : []), ...(localStream.getVideoTracks().length > 0 ? ['video' as const] : [])],
  };
}

/** The browser's side of a Room (browser-room.ts): the platform, the local stream it publishes from, and the live peer connections. */
export interface BrowserMedia {
  readonly platform: Platform<MediaStreamTrack>;
  /** Sends `track` as our camera ('video') or microphone ('audio') from now on: on live connections whose m-line sends (replaceTrack), and on every later one. */
  setOwn(kind: 'audio' | 'video', track: MediaStreamTrack | null): Promise<void>;
  /** The newest live peer connection and its SFrame worker (under E2EE), for statistics. */
  current(): { readonly pc: RTCPeerConnection; readonly worker: Worker | undefined } | undefined;
}

/** A browser platform over a local stream the SDK manages, with each connection's SFrame worker from `e2eeWorker` (E2EE) or none. */
export function browserMedia(e2eeWorker: E2eeWorkerFactory | undefined, observe?: PeerObserver): BrowserMedia {
  const local = new MediaStream();
  const peers = new Set<BrowserPeer>();
  const platform = browserPlatform(local, observe, e2eeWorker, peers);
  return {
    platform,
    setOwn: async (kind, track) => {
      for (const t of kind === 'audio' ? local.getAudioTracks() : local.getVideoTracks()) if (t !== track) local.removeTrack(t);
      if (track) local.addTrack(track);
      await Promise.all([...peers].map((p) => p.setOwn(kind, track)));
    },
    current: () => {
      const newest = [...peers].at(-1);
      return newest ? { pc: newest.pc, worker: newest.worker } : undefined;
    },
  };
}

/** A session in the browser. With `e2ee: true`, `e2eeWorker` is required: media is then encrypted end to end, or the session fails. */
export function browserSession(
  options: Omit<SessionOptions<MediaStreamTrack>, 'platform'> & { readonly localStream: MediaStream; readonly observe?: PeerObserver; readonly e2eeWorker?: E2eeWorkerFactory },
): Session<MediaStreamTrack> {
  if (options.e2ee === true && options.e2eeWorker === undefined) throw new TypeError('browserSession: e2ee needs an e2eeWorker factory (a Worker running the SDK\'s e2ee-worker bundle).');
  return new Session({ ...options, platform: browserPlatform(options.localStream, options.observe, options.e2ee === true ? options.e2eeWorker : undefined) });
}

class BrowserSocket implements SocketLike {
  readonly #ws: WebSocket;
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;

  constructor(url: string, protocol: string) {
    this.#ws = new WebSocket(url, protocol);
    this.#ws.onopen = () => this.onopen?.();
    this.#ws.onclose = () => this.onclose?.();
    this.#ws.onerror = () => this.onerror?.();
    // Binary frames are not part of the protocol: pass null so the parser refuses them.
    this.#ws.onmessage = (event: MessageEvent<unknown>) => this.onmessage?.({ data: typeof event.data === 'string' ? event.data : null });
  }

  send(data: string): void {
    this.#ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
}

class BrowserPeer implements PeerHandle<MediaStreamTrack> {
  readonly pc: RTCPeerConnection;
  readonly #local: MediaStream;
  /** Mids whose receiver track was handed out for the stream they carry now: a receiver keeps one track for its life, handed out again for each stream the bridge puts on its m-line. */
  readonly #emitted = new Set<string>();
  #connected = false;
  /** Mids that carry our own media, fixed by the first offer. */
  readonly #ownFirst = new Set<string>();
  /** Video m-lines among our own so far (the first is the camera's). */
  #ownVideos = 0;
  #own: ReadonlySet<string> | undefined;
  /** Our screen's m-line: the second unlabelled video m-line of the first offer (none from a bridge without screens). */
  #screenMid: string | undefined;
  #screen: MediaStreamTrack | null = null;

  get screenReady(): boolean {
    return this.#screenMid !== undefined;
  }
  #closed = false;
  /** Candidates go out as they come (`trickle`), so answers do not wait for gathering. */
  #trickling = false;
  onTrack: ((stream: StreamInfo, track: MediaStreamTrack) => void) | null = null;
  onFailed: (() => void) | null = null;

  /** This connection's SFrame worker, under E2EE. */
  readonly worker: Worker | undefined;
  /** The platform's live peers, which this one leaves on close. */
  readonly #live: Set<BrowserPeer> | undefined;

  constructor(local: MediaStream, iceServers: readonly IceServer[], worker: Worker | undefined, live?: Set<BrowserPeer>) {
    this.pc = new RTCPeerConnection({ iceServers: iceServers.map((s) => ({ ...s, urls: [...s.urls] })) });
    this.#local = local;
    this.worker = worker;
    this.#live = live;
    live?.add(this);
    // Before any offer: from here on nothing leaves or arrives unencrypted.
    if (worker) enableE2ee(this.pc, worker);
    this.pc.onconnectionstatechange = () => {
      const state = this.pc.connectionState;
      if (state === 'connected') this.#connected = true;
      if (state === 'failed' || state === 'closed') this.#fail();
    };
  }

  hasConnected(): boolean {
    return this.#connected;
  }

  async answer(sdp: string, streams: readonly StreamInfo[]): Promise<string> {
    const labelled = new Map(streams.map((s) => [s.mid, s]));
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    for (const t of this.pc.getTransceivers()) {
      const mid = t.mid;
      if (mid === null) continue;
      const stream = labelled.get(mid);
      if (stream) {
        if (!this.#emitted.has(mid)) {
          this.#emitted.add(mid);
          this.onTrack?.(stream, t.receiver.track);
        }
        continue;
      }
      // Its stream ended: the bridge may label the m-line again for another (`recycles`).
      this.#emitted.delete(mid);
      // Our own media goes on the unlabelled m-lines of the first offer; one unlabelled later is a
      // departed peer's, now inactive, and must stay so.
      const kind = t.receiver.track.kind;
      if (this.#own === undefined) {
        if (kind === 'video' && this.#ownVideos++ === 1) this.#screenMid = mid;
        this.#ownFirst.add(mid);
      }
      if (!this.#ownFirst.has(mid)) continue;
      if (mid === this.#screenMid) {
        // Sending from the start, with no track until we share: replaceTrack then starts it without renegotiation.
        t.direction = 'sendonly';
        if (t.sender.track !== this.#screen) await t.sender.replaceTrack(this.#screen);
        continue;
      }
      const track = kind === 'audio' ? this.#local.getAudioTracks()[0] : this.#local.getVideoTracks()[0];
      if (!track) continue;
      t.direction = 'sendonly';
      if (t.sender.track !== track) await t.sender.replaceTrack(track);
    }
    this.#own = this.#ownFirst;
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    if (!this.#trickling) await this.#iceGathered();
    return this.pc.localDescription?.sdp ?? '';
  }

  trickle(send: (candidate: TrickledCandidate) => void): void {
    this.#trickling = true;
    this.pc.onicecandidate = (event) => {
      const c = event.candidate;
      // null, or an empty candidate, ends a generation: the protocol has no end-of-candidates.
      if (!c || c.candidate === '') return;
      send({ candidate: c.candidate, ...(c.sdpMid !== null ? { sdpMid: c.sdpMid } : {}), ...(c.sdpMLineIndex !== null ? { sdpMLineIndex: c.sdpMLineIndex } : {}) });
    };
  }

  /** Our camera ('video') or microphone ('audio') from now on, on its m-line if the bridge's offer let it send (replaceTrack; otherwise from the next offer). */
  async setOwn(kind: 'audio' | 'video', track: MediaStreamTrack | null): Promise<void> {
    for (const t of this.pc.getTransceivers()) {
      if (t.mid === null || !this.#ownFirst.has(t.mid) || t.mid === this.#screenMid || t.receiver.track.kind !== kind) continue;
      if (t.direction === 'sendonly' && t.sender.track !== track) await t.sender.replaceTrack(track);
    }
  }

  async setScreen(track: MediaStreamTrack | null): Promise<void> {
    this.#screen = track;
    const t = this.pc.getTransceivers().find((x) => x.mid !== null && x.mid === this.#screenMid);
    if (t && t.sender.track !== track) await t.sender.replaceTrack(track);
  }

  /** Resolves when gathering completes, or after the bound with what was gathered so far. */
  #iceGathered(): Promise<void> {
    if (this.pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      const check = (): void => {
        if (this.pc.iceGatheringState === 'complete') done();
      };
      const timer = setTimeout(done, ICE_GATHERING_BOUND_MS);
      this.pc.addEventListener('icegatheringstatechange', check);
    });
  }

  setKeys(epoch: E2eeEpoch): void {
    if (!this.worker) return;
    const { keys } = epoch;
    void setKeys(this.worker, { epoch: epoch.epoch, baseKey: keys.baseKey, ownLeaf: keys.ownIndex, senders: keys.memberIndices, ...(keys.firstCounter !== undefined ? { firstCounter: keys.firstCounter } : {}), ...(keys.layout !== undefined ? { layout: keys.layout } : {}), generation: epoch.generation }).catch(() => undefined);
  }

  /** Remote tracks still carried, and decoded video frames plus audio samples that were not concealment (undecryptable frames never decode). */
  async mediaProgress(): Promise<{ tracks: number; decoded: number }> {
    const tracks = this.pc.getTransceivers().filter((t) => t.mid !== null && this.#emitted.has(t.mid) && t.currentDirection !== 'inactive' && t.currentDirection !== 'stopped').length;
    let decoded = 0;
    (await this.pc.getStats()).forEach((s: Record<string, unknown>) => {
      if (s.type !== 'inbound-rtp') return;
      decoded += s.kind === 'video' ? Number(s.framesDecoded ?? 0) : Number(s.totalSamplesReceived ?? 0) - Number(s.concealedSamples ?? 0);
    });
    return { tracks, decoded };
  }

  #fail(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onFailed?.();
  }

  close(): void {
    // Our own close is not a failure: the session already knows.
    this.#closed = true;
    this.onFailed = null;
    this.#live?.delete(this);
    this.pc.close();
    if (this.worker) terminateWorker(this.worker);
  }
}
