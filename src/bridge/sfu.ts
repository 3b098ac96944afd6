/**
 * The selective forwarding unit: one werift RTCPeerConnection per
 * participant, Opus audio and VP8 video in, each publisher's packets cloned
 * out to every other participant of the same meeting. The bridge never
 * decodes media (with E2EE on it could not). Policy, as werift gives only
 * building blocks (docs/media.md):
 *
 * - keyframes: a subscriber's PLI or FIR is passed to the publisher of the
 *   stream it names. When a subscriber's sender connects, or a stream is
 *   first negotiated on a connected one, the bridge replays the publisher's
 *   last key frame and every packet since (kept while that is at most
 *   `MAX_REPLAY_PACKETS`), so a newcomer decodes at once: on failover every
 *   publisher's first frame on the new bridge is a key frame, most often sent
 *   before every subscriber's transport is up. Without such a recent key
 *   frame it asks the publisher for one (PLI), again until a key frame is
 *   forwarded (vp8.ts sees them, E2EE or not);
 * - bitrate: a REMB every second caps each publisher's video at
 *   `videoBitrate` (Chromium otherwise starts near 300 kbit/s and, with no
 *   estimate from a werift receiver, stays there);
 * - renegotiation: the bridge is always the offerer, one offer in flight per
 *   participant, so offers never collide;
 * - screens: each participant has a third receiving m-line, for a screen,
 *   forwarded only while its `state` says it shares (at most one screen per
 *   participant); when it stops, subscribers lose that stream as if its
 *   publisher had left;
 * - cascades (docs/cascading.md): a relay is a subscriber like a participant
 *   but takes only the streams its `accepts` allows, and never publishes; the
 *   streams a relay brings in are published by remote peers, which only this
 *   bridge's participants receive (a stream crosses one hop, never two).
 */
import {
  MediaStreamTrack,
  ReceiverEstimatedMaxBitrate,
  RTCPeerConnection,
  RtcpPayloadSpecificFeedback,
  useOPUS,
  useSdesMid,
  useVP8,
  type PeerConfig,
  type RTCRtpReceiver,
  type RTCRtpTransceiver,
  type RtpPacket,
} from 'werift';
import { GeobridgeError } from '../core/errors.js';
import { requireDtlsKeyProof } from '../node/dtls-key-proof.js';
import type { BridgeMessage, CandidateMessage, PeerInfo, StreamInfo, StreamSource } from '../protocol/signalling.js';
import { MlsRelay } from '../mls/relay.js';
import { boundAnswerCandidates } from './answer-candidates.js';
import { answerProblem } from './answer-check.js';
import { bridgeOfferSdp, offerNetworkOf, type OfferNetwork } from './offer-sdp.js';
import { startsVp8KeyFrame } from './vp8.js';

type Kind = 'audio' | 'video';
/** A participant's own streams, in the order of its receiving m-lines (the client relies on it: protocol.ts). */
export type Slot = 'audio' | 'video' | 'screen';
const SLOTS: readonly Slot[] = ['audio', 'video', 'screen'];
/** Trickled candidates a participant's connection takes: a browser gathers a few per interface and server. */
export const MAX_TRICKLED_CANDIDATES = 32;

const kindOf = (slot: Slot): Kind => (slot === 'audio' ? 'audio' : 'video');
const sourceOf = (slot: Slot): StreamSource => (slot === 'screen' ? 'screen' : 'camera');

/** RTCP payload-specific feedback formats (RFC 4585 §6.3.1, RFC 5104 §4.3.1). */
const PLI_FMT = 1;
const FIR_FMT = 4;
/**
 * A keyframe request not answered with a key frame by then is sent again:
 * WebRTC encoders ignore requests that come within 300 ms of the last one
 * (encoder_rtcp_feedback.cc), and a key frame that left before the
 * subscriber's transport connected never reached it.
 */
const KEYFRAME_RETRY_MS = 350;
/** Requests per ask, the first included. */
const KEYFRAME_TRIES = 4;
/**
 * Packets since a video stream's last key frame that the bridge keeps to
 * replay to a subscriber whose sender just connected: a second or two of
 * 720p. A longer run is dropped until the next key frame; a subscriber then
 * asks for one instead, as a replay that long would be a burst on its link.
 */
export const MAX_REPLAY_PACKETS = 256;

/** Network options of every peer connection (bridge flags). */
export interface MediaOptions {
  /** Address the UDP sockets bind to; `127.0.0.1` keeps media on loopback. */
  readonly bindAddress?: string;
  /** Extra host addresses announced as candidates (a public IP in front of NAT). */
  readonly announcedAddresses?: readonly string[];
  /** UDP port range for ICE, inclusive. */
  readonly portRange?: readonly [number, number];
  /** Cap on each publisher's video, bits per second. */
  readonly videoBitrate: number;
}

/** How a participant's connection talks back to its client. */
export interface PeerSignals {
  offer(sdp: string, streams: readonly StreamInfo[]): void;
  /** Any other message to the client (peer joined, left, updated). */
  notify(message: BridgeMessage): void;
  /**
   * The media path failed for good (ICE consent lost, or DTLS failed): werift
   * does not restart it, and the other end may not know (its side of the
   * handshake completed), so the connection is ended for the client to make
   * anew. Also when it never came up (`expectConnected`), saying so in `why`.
   */
  failed(why?: string): void;
}

/**
 * A stream a participant publishes, or has announced it will (`join.sends`):
 * subscribers are negotiated from then on, and its remote track and receiver
 * (for PLI and REMB) are there once the publisher's answer says it sends.
 */
interface Published {
  track: MediaStreamTrack | undefined;
  receiver: RTCRtpReceiver | undefined;
  /** Local tracks that carry it to each subscriber, by subscriber id. */
  readonly outlets: Map<string, MediaStreamTrack>;
  /** Key frames forwarded so far (video), to see whether a request was answered. */
  keyframes: number;
  /** The last key frame and every packet since (video), serialized; undefined when none or too long ago. */
  replay: Buffer[] | undefined;
  /** Stops forwarding it (a screen share that ended). */
  stop: () => void;
}

/** Whoever publishes streams into a room: a participant, or a peer behind a relay (RemotePeer). */
interface Publisher {
  readonly id: string;
  readonly published: Map<Slot, Published>;
}

/** A receiving m-line's remote track, known once the client's answer lists its SSRC. */
interface Incoming {
  readonly track: MediaStreamTrack;
  readonly transceiver: RTCRtpTransceiver;
}

/** A transceiver that sends another participant's media to this one. */
interface Outgoing {
  readonly transceiver: RTCRtpTransceiver;
  readonly publisher: string;
  readonly slot: Slot;
  readonly kind: Kind;
  readonly source: StreamSource;
  /** Asks the publisher for a keyframe (video only), and again until one is forwarded. */
  readonly keyframe: () => void;
  /** Starts the stream for a subscriber that can now receive it: the publisher's recent key frame replayed, or else `keyframe`. */
  readonly start: () => void;
  /** Whether the subscriber has answered an offer carrying this stream. */
  primed: boolean;
}

export class Participant implements Publisher {
  readonly id: string;
  readonly pc: RTCPeerConnection;
  name: string;
  /** Whose streams it is sent: everyone's for a participant, what its ticket and the fences allow for a relay. */
  accepts: (publisher: string) => boolean = () => true;
  audio = true;
  video = true;
  /** The participant says it shares a screen (`state`); only then is its screen m-line forwarded. */
  screen = false;
  /** What it publishes, by slot ('video' is the camera). */
  readonly published = new Map<Slot, Published>();
  /** Its receiving m-lines' tracks, by slot. */
  readonly incoming = new Map<Slot, Incoming>();
  /** Called after each of its answers is applied (the room withdraws announced streams it does not send). */
  onAnswered: (() => void) | undefined;
  readonly outgoing: Outgoing[] = [];
  /** Its client takes a reused m-line as a new stream (`join.recycles`): a stream that ended leaves its m-line here for the next. */
  recycles = false;
  /** Sending m-lines of streams that ended, inactive, for the next stream of their kind (only when it `recycles`). */
  readonly parked: RTCRtpTransceiver[] = [];
  readonly #signals: PeerSignals;
  #offering = false;
  #again = false;
  readonly #watched = new WeakSet<object>();
  /** The outgoing streams the offer in flight carries. */
  #offered: readonly Outgoing[] = [];
  #closed = false;
  #connected = false;
  #connectTimer: NodeJS.Timeout | undefined;
  /** Candidates the client trickled so far. */
  #candidates = 0;
  /** The distinct candidates its answers brought (at most MAX_ANSWER_CANDIDATES). */
  readonly #answerCandidates = new Set<string>();
  /** Where this connection's sockets are, for the candidates of its offers. */
  readonly #network: OfferNetwork;

  constructor(id: string, name: string, config: Partial<PeerConfig>, signals: PeerSignals) {
    this.id = id;
    this.name = name;
    this.pc = new RTCPeerConnection(config);
    this.#network = offerNetworkOf(config);
    this.#signals = signals;
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') this.#connected = true;
      if (state === 'failed' && !this.#closed) signals.failed();
    });
  }

  /**
   * The media path must come up within `ms`, or `failed` is called: a client
   * that never answers the bridge's offer, or whose checks never succeed,
   * would otherwise hold its place in the room, and count in the bridge's
   * load, for as long as its socket stays open.
   */
  expectConnected(ms: number): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = setTimeout(() => {
      if (!this.#closed && !this.#connected) this.#signals.failed(`the media connection did not come up within ${String(ms / 1000)} s of admission (no answer to the bridge's offer, or no ICE check succeeded)`);
    }, ms);
  }

  notify(message: BridgeMessage): void {
    this.#signals.notify(message);
  }

  info(): PeerInfo {
    return { id: this.id, name: this.name, audio: this.audio, video: this.video, ...(this.screen ? { screen: true } : {}) };
  }

  /** Sends a fresh offer now, or right after the answer to the one in flight. */
  async renegotiate(): Promise<void> {
    if (this.#closed) return;
    if (this.#offering) {
      this.#again = true;
      return;
    }
    this.#offering = true;
    // The bridge is the DTLS client (`a=setup:active`): werift's DTLS server starts only once its own ICE
    // check succeeds and drops a ClientHello that came sooner, which the browser then resends a second later.
    for (const t of this.pc.dtlsTransports) if (t.state === 'new') t.role = 'client';
    const offer = await this.pc.createOffer();
    // werift's ICE falls back to querying stun.l.google.com: a third party outside every fence, and a
    // 5 s wait for every offer where UDP to it is dropped. The bridge's own addresses are its candidates.
    for (const t of this.pc.iceTransports) Object.assign(t.connection, { stunServer: undefined });
    await this.pc.setLocalDescription(offer);
    const carried = this.outgoing.filter((o) => o.transceiver.mid !== null && o.transceiver.direction !== 'inactive');
    this.#offered = carried;
    // Only screens are labelled with a source, so clients from before screen sharing read every other offer.
    const streams: StreamInfo[] = carried.map((o) => ({ mid: o.transceiver.mid ?? '', peer: o.publisher, kind: o.kind, ...(o.source === 'screen' ? { source: o.source } : {}) }));
    this.#signals.offer(bridgeOfferSdp(this.pc.localDescription?.sdp ?? '', this.#network), streams);
  }

  /**
   * A candidate the client trickled after its answer; false when werift refuses
   * it (malformed, or for an m-line it does not know). The client gathers a
   * handful; past `MAX_TRICKLED_CANDIDATES` the rest are dropped, so a client
   * cannot make the bridge check an unbounded list of addresses.
   */
  /** Candidates the client trickled that the bridge tried (at most MAX_TRICKLED_CANDIDATES). */
  get trickled(): number {
    return this.#candidates;
  }

  async addCandidate(candidate: CandidateMessage): Promise<boolean> {
    if (this.#closed || this.#candidates >= MAX_TRICKLED_CANDIDATES) return false;
    this.#candidates++;
    try {
      await this.pc.addIceCandidate({ candidate: candidate.candidate, ...(candidate.sdpMid !== undefined ? { sdpMid: candidate.sdpMid } : {}), ...(candidate.sdpMLineIndex !== undefined ? { sdpMLineIndex: candidate.sdpMLineIndex } : {}) });
      return true;
    } catch {
      return false;
    }
  }

  /** Applies the client's answer (its candidates bounded: answer-candidates.ts); sends the next offer if one was asked for meanwhile. */
  async answer(sdp: string): Promise<void> {
    if (!this.#offering || this.#closed) return;
    const problem = answerProblem(sdp, this.pc.localDescription?.sdp ?? '');
    if (problem !== undefined) throw new GeobridgeError('BAD_MESSAGE', `the answer is not an SDP answer to the bridge's offer: ${problem}.`);
    await this.pc.setRemoteDescription({ type: 'answer', sdp: boundAnswerCandidates(sdp, this.#answerCandidates) });
    this.#offering = false;
    this.#watchKeyframeRequests();
    this.onAnswered?.();
    // A stream just negotiated needs a key frame now (replayed, or asked for): werift's sender `onReady`
    // fires only when DTLS first connects, so an already-connected subscriber would wait for the
    // publisher's next periodic keyframe. Only streams this answer negotiated: one added after the
    // offer left waits for the next answer.
    for (const o of this.#offered) {
      if (o.primed) continue;
      o.primed = true;
      // Before the transport connects, `onReady` starts it: a request now would be answered before this
      // subscriber could receive it, and the encoder would ignore the one at `onReady` as too soon.
      if (o.transceiver.sender.dtlsTransport.state === 'connected') o.start();
    }
    if (this.#again) {
      this.#again = false;
      await this.renegotiate();
    }
  }

  /**
   * Passes this subscriber's keyframe requests (PLI, FIR) to the publisher of the stream they name.
   * werift routes RTCP feedback by the *sender's* SSRC first, which for a subscriber that also
   * publishes is its own stream, so `onPictureLossIndication` alone would miss them; a decoder that
   * lost a keyframe (e.g. one it could not decrypt yet) would then ask in vain forever.
   */
  #watchKeyframeRequests(): void {
    for (const transport of this.pc.dtlsTransports) {
      if (this.#watched.has(transport)) continue;
      this.#watched.add(transport);
      transport.onRtcp.subscribe((packet) => {
        if (!(packet instanceof RtcpPayloadSpecificFeedback)) return;
        const feedback = packet.feedback;
        const targets = feedback.count === PLI_FMT ? [feedback.mediaSsrc] : feedback.count === FIR_FMT && 'fir' in feedback ? feedback.fir.map((f) => f.ssrc) : [];
        for (const o of this.outgoing) if (targets.includes(o.transceiver.sender.ssrc)) o.keyframe();
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#connectTimer);
    await this.pc.close().catch(() => undefined);
  }
}

/**
 * Opus with the format parameters browsers answer with. An m-line takes the
 * parameters of the answer that negotiated it, so with werift's bare Opus the
 * bridge's new m-lines and a participant's own differed, and Chromium refuses
 * one payload type with two sets of parameters in a BUNDLE group (a "codec
 * collision": logged since Chromium 156, a failed negotiation where enforced).
 */
const OPUS = useOPUS({ parameters: 'minptime=10;useinbandfec=1' });

/** The settings of every peer connection this bridge makes (participants' and hops'): werift made to check a DTLS peer's key first. */
function peerConfigOf(o: MediaOptions): Partial<PeerConfig> {
  requireDtlsKeyProof();
  return {
    codecs: { audio: [OPUS], video: [useVP8()] },
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid()] },
    // One transport per participant: fewer sockets, and none left behind per m-line.
    bundlePolicy: 'max-bundle',
    iceUseIpv6: false,
    ...(o.bindAddress !== undefined ? { iceInterfaceAddresses: { udp4: o.bindAddress } } : {}),
    ...(o.announcedAddresses ? { iceAdditionalHostAddresses: [...o.announcedAddresses] } : {}),
    ...(o.portRange ? { icePortRange: [o.portRange[0], o.portRange[1]] as [number, number] } : {}),
  };
}

/**
 * Makes one offer on a throwaway peer connection, as for a participant.
 * werift makes its process-wide DTLS certificate (an ECDSA key, an X.509
 * certificate) on the first one, and loads its code: 47–59 ms for a fresh
 * process's first offer against 4–12 ms for the next, at a load average of
 * 12 here. A bridge does it before it enrols, so the participants that
 * arrive after a failover do not wait for it.
 */
export async function warmUp(options: MediaOptions): Promise<void> {
  const pc = new RTCPeerConnection(peerConfigOf(options));
  try {
    for (const slot of SLOTS) pc.addTransceiver(kindOf(slot), { direction: 'recvonly' });
    const offer = await pc.createOffer();
    for (const t of pc.iceTransports) Object.assign(t.connection, { stunServer: undefined });
    await pc.setLocalDescription(offer);
  } finally {
    await pc.close().catch(() => undefined);
  }
}

/** The participants of one meeting on this bridge, and the forwarding between them. */
export class Room {
  readonly meeting: string;
  readonly participants = new Map<string, Participant>();
  /** Other bridges relaying from this one, by their relay id. */
  readonly relays = new Map<string, Participant>();
  /** Participants of other bridges whose streams relays bring in, by id. */
  readonly remotes = new Map<string, RemotePeer>();
  /** The meeting's MLS delivery service on this bridge. */
  readonly mls: MlsRelay;
  /** RTP packets forwarded to subscribers so far (one per subscriber per packet): what a policy change must bring to a stop. */
  forwarded = 0;
  readonly #options: MediaOptions;

  constructor(meeting: string, options: MediaOptions) {
    this.meeting = meeting;
    this.mls = new MlsRelay(meeting);
    this.#options = options;
  }

  /** Peer connection settings: Opus and VP8 only, mid header extension for demultiplexing, ICE as configured. */
  peerConfig(): Partial<PeerConfig> {
    return peerConfigOf(this.#options);
  }

  /**
   * Adds a participant: receives its audio, video and screen, and sends it
   * everyone else's. The streams it `announces` (join.sends) go into the
   * others' offers now, so that they negotiate them while it answers its own
   * first offer; one its answer does not send is withdrawn.
   */
  async add(p: Participant, announces: readonly ('audio' | 'video')[] = []): Promise<void> {
    this.participants.set(p.id, p);
    const receiving = new Map<Slot, RTCRtpTransceiver>();
    for (const slot of SLOTS) {
      // The screen's m-line too, from the start: sharing then needs no renegotiation of the client's own m-lines.
      const transceiver = p.pc.addTransceiver(kindOf(slot), { direction: 'recvonly' });
      // werift recycles an inactive m-line for the next added transceiver; a participant who does not
      // publish (yet) must keep its receiving m-lines, or the offer's stream labels and the media part.
      transceiver.usedForSender = true;
      receiving.set(slot, transceiver);
      transceiver.onTrack.subscribe((track) => {
        p.incoming.set(slot, { track, transceiver });
        this.#publishIfSending(p, slot);
      });
    }
    for (const other of [...this.participants.values(), ...this.remotes.values()]) {
      if (other === p) continue;
      for (const [slot, published] of other.published) this.#subscribe(p, other.id, slot, published);
    }
    for (const slot of new Set(announces)) this.#announce(p, slot);
    p.onAnswered = (): void => {
      for (const [slot, published] of p.published) {
        const direction = receiving.get(slot)?.currentDirection;
        if (published.track === undefined && direction !== undefined && direction !== 'recvonly' && direction !== 'sendrecv') this.#withdraw(p, slot);
      }
    };
    await p.renegotiate();
  }

  /**
   * The participant starts or stops sharing its screen. Stopping ends the
   * forwarding at once (before this returns) and takes the stream out of
   * every subscriber's next offer, as for a participant who left.
   */
  setScreen(p: Participant, on: boolean): void {
    if (p.screen === on) return;
    p.screen = on;
    if (on) this.#publishIfSending(p, 'screen');
    else this.#withdraw(p, 'screen');
  }

  /** Ends a stream of `p` (a screen no longer shared, an announced stream its answer does not send): forwarding stops now, subscribers' next offers drop it. */
  #withdraw(p: Publisher, slot: Slot): void {
    const published = p.published.get(slot);
    if (!published) return;
    p.published.delete(slot);
    published.stop();
    published.outlets.clear();
    for (const other of this.#subscribers()) unsubscribe(other, (o) => o.publisher === p.id && o.slot === slot);
  }

  /**
   * Publishes a slot as soon as the publisher's answer says it sends there (a
   * screen only while its participant says it shares): subscribers then
   * negotiate while the publisher's transport connects and, under E2EE, its
   * keys are agreed, so its first key frame reaches them all. Waiting for the
   * first packet instead put a renegotiation round after it (failover in
   * Chromium, docs/benchmarks.md). The direction decides, not the SSRC: werift
   * clients list one on m-lines they leave inactive.
   */
  #publishIfSending(p: Participant, slot: Slot): void {
    const incoming = p.incoming.get(slot);
    if (!incoming || p.published.get(slot)?.track !== undefined || !wanted(p, slot)) return;
    const direction = incoming.transceiver.currentDirection;
    if (direction !== 'recvonly' && direction !== 'sendrecv') return;
    this.#publish(p, slot, incoming.track, incoming.transceiver.receiver);
  }

  /**
   * Removes a participant. Forwarding to and from it stops before this
   * returns its promise (no await comes first), so a participant evicted for
   * policy gets no further packet and sends none; renegotiation and closing
   * its connection follow.
   */
  async remove(id: string): Promise<void> {
    const p = this.participants.get(id);
    if (!p) return;
    this.participants.delete(id);
    for (const published of p.published.values()) published.outlets.clear();
    for (const other of [...this.participants.values(), ...this.remotes.values()]) for (const published of other.published.values()) published.outlets.delete(id);
    for (const other of this.#subscribers()) {
      const gone = other.outgoing.filter((o) => o.publisher === id);
      if (gone.length === 0) continue;
      for (const o of gone) {
        await o.transceiver.sender.replaceTrack(null);
        o.transceiver.setDirection('inactive');
        other.outgoing.splice(other.outgoing.indexOf(o), 1);
        park(other, o.transceiver);
      }
      void other.renegotiate().catch(() => undefined);
    }
    await p.close();
  }

  /**
   * Sends every video publisher its bitrate cap (called every second). A
   * REMB is an estimate for the whole transport, shared by its streams, so a
   * camera and a screen get the cap each.
   */
  tick(): void {
    for (const p of this.participants.values()) {
      const videos = [p.published.get('video'), p.published.get('screen')].filter((v) => v?.track?.ssrc !== undefined);
      const receiver = videos[0]?.receiver;
      if (receiver) sendRemb(receiver, videos.map((v) => v?.track?.ssrc ?? 0), this.#options.videoBitrate * videos.length);
    }
  }

  /** Announces a stream `p` will publish: every other participant negotiates it from now on. */
  #announce(p: Participant, slot: Slot): void {
    if (p.published.has(slot) || !wanted(p, slot)) return;
    const published: Published = { track: undefined, receiver: undefined, outlets: new Map(), keyframes: 0, replay: undefined, stop: () => undefined };
    p.published.set(slot, published);
    for (const other of this.#subscribersOf(p)) {
      this.#subscribe(other, p.id, slot, published);
      void other.renegotiate().catch(() => undefined);
    }
  }

  /** Every subscriber: the participants, then the relays. */
  #subscribers(): Participant[] {
    return [...this.participants.values(), ...this.relays.values()];
  }

  /** Who receives what `p` publishes: the other participants and, for a participant here, the relays that accept it (never a remote peer's: one hop). */
  #subscribersOf(p: Publisher): Participant[] {
    if (p instanceof RemotePeer) return [...this.participants.values()];
    return this.#subscribers().filter((other) => other !== p && other.accepts(p.id));
  }

  /** Whether `p` is still in this room (a publisher removed before its first packet publishes nothing). */
  #holds(p: Publisher): boolean {
    return this.participants.get(p.id) === p || this.remotes.get(p.id) === p;
  }

  #publish(p: Publisher, slot: Slot, track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    const announced = p.published.get(slot);
    if (announced?.track !== undefined || !this.#holds(p)) return;
    const kind = kindOf(slot);
    const published: Published = announced ?? { track, receiver, outlets: new Map(), keyframes: 0, replay: undefined, stop: () => undefined };
    published.track = track;
    published.receiver = receiver;
    p.published.set(slot, published);
    // One serialization, then each subscriber's sender parses its own copy: werift rewrites SSRC, payload type and sequence numbers in place.
    const forwarding = track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      const keyframe = kind === 'video' && startsVp8KeyFrame(rtp.payload);
      if (keyframe) published.keyframes++;
      if (published.outlets.size === 0 && (kind !== 'video' || (!keyframe && published.replay === undefined))) return;
      // The publisher's header extensions name its own m-line (the MID of its connection, or of the hop that relayed it);
      // werift's sender would copy them over the subscriber's, and a browser routes a packet by its MID before its SSRC.
      rtp.header.extension = false;
      rtp.header.extensions = [];
      const bytes = rtp.serialize();
      if (kind === 'video') keepForReplay(published, bytes, keyframe);
      for (const outlet of published.outlets.values()) outlet.writeRtp(bytes);
      this.forwarded += published.outlets.size;
    });
    published.stop = (): void => {
      forwarding.unSubscribe();
    };
    // Subscribers of an announced stream negotiated it already.
    if (announced) return;
    for (const other of this.#subscribersOf(p)) {
      this.#subscribe(other, p.id, slot, published);
      void other.renegotiate().catch(() => undefined);
    }
  }

  // ------------------------------------------------------------ cascades

  /** Whether nobody is here: no participant, no relay from here, no remote peer relayed in. */
  get empty(): boolean {
    return this.participants.size === 0 && this.relays.size === 0 && this.remotes.size === 0;
  }

  /** What everyone here shows the participants: this bridge's participants and the remote peers. */
  peers(): PeerInfo[] {
    return [...this.participants.values(), ...this.remotes.values()].map((p) => p.info());
  }

  /**
   * Tells everyone who should hear of `about` (joined, updated, left): the
   * other participants, and the relays that carry its streams; of a remote
   * peer, the participants only.
   */
  tell(about: string, message: BridgeMessage): void {
    for (const p of this.participants.values()) if (p.id !== about) p.notify(message);
    if (this.remotes.has(about)) return;
    for (const relay of this.relays.values()) if (relay.accepts(about)) relay.notify(message);
  }

  /** Adds a relay to another bridge: it is sent the streams of this bridge's participants its `accepts` allows, from now on. */
  async addRelay(relay: Participant): Promise<void> {
    this.relays.set(relay.id, relay);
    // One receiving m-line, so that the first offer has a transport even before the relay takes a stream.
    relay.pc.addTransceiver('audio', { direction: 'recvonly' }).usedForSender = true;
    this.refilter(relay);
    await relay.renegotiate();
  }

  /**
   * Applies a relay's `accepts` again (a new ticket, a new policy): streams
   * it no longer accepts stop at once, newly accepted ones are offered.
   */
  refilter(relay: Participant): void {
    const dropped = new Set<string>();
    for (const o of relay.outgoing) if (!relay.accepts(o.publisher)) dropped.add(o.publisher);
    for (const id of dropped) for (const published of this.participants.get(id)?.published.values() ?? []) published.outlets.delete(relay.id);
    const stopped = unsubscribe(relay, (o) => dropped.has(o.publisher));
    let added = false;
    for (const p of this.participants.values()) {
      if (!relay.accepts(p.id)) continue;
      for (const [slot, published] of p.published) {
        if (published.outlets.has(relay.id)) continue;
        this.#subscribe(relay, p.id, slot, published);
        added = true;
      }
    }
    if (added && !stopped) void relay.renegotiate().catch(() => undefined);
  }

  /** Removes a relay: nothing more is sent to it. */
  async removeRelay(id: string): Promise<void> {
    const relay = this.relays.get(id);
    if (!relay) return;
    this.relays.delete(id);
    for (const p of this.participants.values()) for (const published of p.published.values()) published.outlets.delete(id);
    await relay.close();
  }

  /**
   * A peer of another bridge whose streams the relay `via` brings in: known
   * (and told to the participants) from now on. A peer that moved comes in
   * over a new relay while the old one may not have closed yet: the new one
   * takes it over, and the old one's streams of it end here.
   */
  remote(info: PeerInfo, via: object): RemotePeer {
    let remote = this.remotes.get(info.id);
    const joined = remote === undefined;
    if (remote === undefined) this.remotes.set(info.id, (remote = new RemotePeer(info.id, via)));
    if (remote.via !== via) {
      for (const slot of [...remote.published.keys()]) this.#withdraw(remote, slot);
      remote.via = via;
    }
    remote.update(info);
    this.tell(info.id, joined ? { type: 'peer-joined', peer: remote.info() } : { type: 'peer-updated', peer: remote.info() });
    return remote;
  }

  /** A stream a relay brings in, forwarded to this bridge's participants; keyframe requests go back over the relay. */
  publishRemote(remote: RemotePeer, slot: Slot, track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    this.#publish(remote, slot, track, receiver);
  }

  /** The relay no longer carries that stream. */
  unpublishRemote(remote: RemotePeer, slot: Slot): void {
    this.#withdraw(remote, slot);
  }

  /** A remote peer left (or its relay `via` closed): its streams end here and the participants are told; one another relay took over stays. */
  removeRemote(id: string, via: object): void {
    const remote = this.remotes.get(id);
    if (remote?.via !== via) return;
    for (const slot of [...remote.published.keys()]) this.#withdraw(remote, slot);
    this.remotes.delete(id);
    this.tell(id, { type: 'peer-left', id });
  }

  #subscribe(subscriber: Participant, publisher: string, slot: Slot, published: Published): void {
    const kind = kindOf(slot);
    const outlet = new MediaStreamTrack({ kind });
    const transceiver = addSending(subscriber, outlet);
    let retrying = false;
    const connected = (): boolean => transceiver.sender.dtlsTransport.state === 'connected';
    const ask = (tries: number): void => {
      const { receiver } = published;
      const ssrc = published.track?.ssrc;
      // Not sending yet (announced): its first frame is a key frame anyway.
      if (ssrc === undefined || receiver === undefined || published.outlets.get(subscriber.id) !== outlet) return;
      void receiver.sendRtcpPLI(ssrc).catch(() => undefined);
      // Until connected, a key frame cannot reach this subscriber; `onReady` asks again then.
      if (retrying || tries <= 1 || !connected()) return;
      retrying = true;
      const seen = published.keyframes;
      setTimeout(() => {
        retrying = false;
        if (published.keyframes === seen) ask(tries - 1);
      }, KEYFRAME_RETRY_MS);
    };
    const keyframe = (): void => {
      if (kind === 'video') ask(KEYFRAME_TRIES);
    };
    const start = (): void => {
      if (kind !== 'video' || published.outlets.get(subscriber.id) !== outlet) return;
      // Replayed only once the sender can send (connected, and negotiated: werift drops packets before both).
      const replay = connected() && transceiver.sender.codec !== undefined ? published.replay : undefined;
      if (replay === undefined) {
        keyframe();
        return;
      }
      for (const bytes of replay) outlet.writeRtp(bytes);
      this.forwarded += replay.length;
    };
    subscriber.outgoing.push({ transceiver, publisher, slot, kind, source: sourceOf(slot), keyframe, start, primed: false });
    published.outlets.set(subscriber.id, outlet);
    if (kind !== 'video') return;
    transceiver.sender.onReady.subscribe(start);
  }
}

/** A participant of another bridge, as the relay that brings its streams in describes it. */
export class RemotePeer implements Publisher {
  readonly id: string;
  readonly published = new Map<Slot, Published>();
  /** The relay that brings its streams in now. */
  via: object;
  #info: PeerInfo;

  constructor(id: string, via: object) {
    this.id = id;
    this.via = via;
    this.#info = { id, name: '', audio: true, video: true };
  }

  update(info: PeerInfo): void {
    this.#info = { ...info, id: this.id };
  }

  info(): PeerInfo {
    return this.#info;
  }
}

/**
 * Stops sending a subscriber the streams `which` picks: the m-lines go
 * inactive before its next offer (never recycled: werift would mix up the
 * labels), and it renegotiates. Whether any stopped.
 */
function unsubscribe(subscriber: Participant, which: (o: Outgoing) => boolean): boolean {
  const gone = subscriber.outgoing.filter(which);
  if (gone.length === 0) return false;
  for (const o of gone) {
    subscriber.outgoing.splice(subscriber.outgoing.indexOf(o), 1);
    o.transceiver.setDirection('inactive');
    park(subscriber, o.transceiver);
  }
  void Promise.all(gone.map((o) => o.transceiver.sender.replaceTrack(null)))
    .then(() => subscriber.renegotiate())
    .catch(() => undefined);
  return true;
}

/** Keeps the m-line of a stream that ended for the subscriber's next stream of its kind, if its client takes reused m-lines. */
function park(subscriber: Participant, transceiver: RTCRtpTransceiver): void {
  // Its `start` holds the publisher's stream, and with it the publisher's connection once that is gone.
  transceiver.sender.onReady.allUnsubscribe();
  if (subscriber.recycles) subscriber.parked.push(transceiver);
}

/**
 * A sending m-line for `outlet`: a parked one of its kind if there is one
 * whose going inactive the client has answered (so it has seen the old
 * stream end), else a new one. werift reuses the first inactive m-line not
 * marked `usedForSender`, of any kind, for the next transceiver added: every
 * m-line of ours is marked, but the one chosen here, for this call only.
 */
function addSending(subscriber: Participant, outlet: MediaStreamTrack): RTCRtpTransceiver {
  const reusable = subscriber.parked.findIndex((t) => t.kind === outlet.kind && t.currentDirection === 'inactive');
  const [reused] = reusable === -1 ? [] : subscriber.parked.splice(reusable, 1);
  if (reused) reused.usedForSender = false;
  const transceiver = subscriber.pc.addTransceiver(outlet, { direction: 'sendonly' });
  transceiver.usedForSender = true;
  if (reused) retire(subscriber.pc, reused);
  return transceiver;
}

/**
 * werift 0.24 gives the new transceiver a reused m-line's place in its list
 * but never stops the one it replaced: that sender's RTCP loop (a timer
 * every 0.5–1.5 s) would run for good, keeping its transport and what it
 * sent alive after everyone left (+40 MB and +160 timers per 100 joins and
 * leaves, measured in session 32; sfu-leaks.test.ts). Stopped here, and
 * unhooked from what werift does not undo on stop: its listener on the
 * shared DTLS transport and its entry in the connection's RTP router.
 */
function retire(pc: RTCPeerConnection, old: RTCRtpTransceiver): void {
  old.usedForSender = true;
  old.sender.stop();
  old.receiver.stop();
  const sender = old.sender as unknown as { dtlsDisposer?: (() => void)[] };
  for (const dispose of sender.dtlsDisposer ?? []) dispose();
  const router = (pc as unknown as { router?: { ssrcTable?: Record<number, unknown> } }).router;
  if (router?.ssrcTable?.[old.sender.ssrc] === old.sender) Reflect.deleteProperty(router.ssrcTable, old.sender.ssrc);
}

/** Keeps a video packet for replay: a key frame starts the run afresh; a run past MAX_REPLAY_PACKETS is dropped. */
function keepForReplay(published: Published, bytes: Buffer, keyframe: boolean): void {
  if (keyframe) published.replay = [bytes];
  else if (published.replay !== undefined) {
    if (published.replay.length < MAX_REPLAY_PACKETS) published.replay.push(bytes);
    else published.replay = undefined;
  }
}

/** Whether a slot is to be published now: a screen only while its participant says it shares. */
function wanted(p: Participant, slot: Slot): boolean {
  return slot !== 'screen' || p.screen;
}

/** REMB (draft-alvestrand-rmcat-remb): bitrate as an 18-bit mantissa and a 6-bit exponent. */
function sendRemb(receiver: RTCRtpReceiver, ssrcs: readonly number[], bitrate: number): void {
  let exponent = 0;
  while (bitrate >> exponent >= 1 << 18) exponent++;
  const feedback = new ReceiverEstimatedMaxBitrate({ senderSsrc: 0, mediaSsrc: 0, ssrcNum: ssrcs.length, brExp: exponent, brMantissa: bitrate >> exponent, ssrcFeedbacks: [...ssrcs] });
  void receiver.dtlsTransport.sendRtcp([new RtcpPayloadSpecificFeedback({ feedback })]).catch(() => undefined);
}
