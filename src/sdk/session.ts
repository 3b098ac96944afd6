/**
 * The SDK's shell: runs the pure connection machine's commands
 * (src/core/connection/) against the real world — the broker over fetch,
 * bridges over a WebSocket and a peer connection — and feeds each outcome
 * back as an event. The platform (browser or Node) supplies only the socket
 * and the peer connection (`Platform`), so both shells share every decision.
 */
import { INITIAL_CONNECTION_STATE, step, type Command, type ConnectionEvent, type ConnectionNotice, type ConnectionState, type RouteTicket } from '../core/connection/index.js';
import { encodeMessage, parseBridgeMessage, SIGNALLING_SUBPROTOCOL, type AdmittedMessage, type BridgeMessage, type ClientMessage, type IceServer, type PeerInfo, type StreamInfo, type StreamSource, type UnreachablePeer } from '../protocol/signalling.js';
import { endedStreams, trackOf, type ReceivedTrack } from './streams.js';
import type { IceAllowance } from '../core/ice/allowed.js';
import { BridgeKeys, newChallenge } from './bridge-proof.js';
import { screenIceServers, type IceServerRefused } from './ice-servers.js';
import { holdingOf, MeetingKeys, prepareMember, type CarriedGroup, type ChatMessage, type E2eeEpoch, type E2eeRoster, type GroupEntry } from './meeting-keys.js';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import { ROUTE_TICKET_AUDIENCE, ticketCandidates, verifyRouteTicket, type RouteTicketClaims } from '../protocol/route-ticket.js';
import { chatTextProblem } from '../mls/chat.js';
import { RouteReceipts, type RouteReceipt, type RouteReceiptHandle } from './receipts.js';
import { BrokerClient, BrokerError } from './broker-client.js';

/** The WebSocket subset the shell uses (browser WebSocket and `ws` both fit). */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: (() => void) | null;
  onclose: (() => void) | null;
  onerror: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/** A platform's peer connection, reduced to what the protocol needs. */
export interface PeerHandle<Track> {
  /** Applies the bridge's offer, attaches the local tracks on the first one, and returns the answer SDP. */
  answer(sdp: string, streams: readonly StreamInfo[]): Promise<string>;
  /** Called with each remote track and the stream (peer, kind, source) it carries. */
  onTrack: ((stream: StreamInfo, track: Track) => void) | null;
  /** Sends `track` on our screen m-line (replaceTrack, no renegotiation), or nothing; kept for the first offer if it has not come yet. */
  setScreen(track: Track | null): Promise<void>;
  /** The first offer had a screen m-line (a bridge from before screen sharing offers none, and would refuse `state.screen`). */
  readonly screenReady: boolean;
  /** Called once when the media path fails or closes. */
  onFailed: (() => void) | null;
  /** Whether the media path (ICE and DTLS) has come up, at least once; the session gives up a connection on which it has not by PEER_CONNECT_TIMEOUT_MS. */
  hasConnected?(): boolean;
  /** Installs an epoch's keys in this connection's media encryption (platforms that encrypt media end to end). */
  setKeys?(epoch: E2eeEpoch): void;
  /** From now on answers go out at once, and each local ICE candidate goes to `send` as it is gathered (platforms that trickle). */
  trickle?(send: (candidate: TrickledCandidate) => void): void;
  /** A count that rises while remote media is decoded (decrypted first, under E2EE), and how many remote tracks there are. */
  mediaProgress?(): Promise<{ readonly tracks: number; readonly decoded: number }>;
  close(): void;
}

/** A local ICE candidate, as RTCIceCandidateInit carries it. */
export interface TrickledCandidate {
  readonly candidate: string;
  readonly sdpMid?: string;
  readonly sdpMLineIndex?: number;
}

/** What a platform provides. */
export interface Platform<Track> {
  openSocket(url: string, protocol: string): SocketLike;
  /** A peer connection using the STUN/TURN servers the bridge handed out that the broker allowed (ice-servers.ts). */
  createPeer(iceServers: readonly IceServer[]): PeerHandle<Track>;
  /** What its peers will send on the microphone and camera m-lines, told to the bridge in `join` so the others negotiate them one round sooner. */
  sends?(): readonly ('audio' | 'video')[];
  /**
   * Its peers take an m-line an offer stopped labelling, and a later offer
   * labels again, as a new stream (`onTrack` again), so the bridge may reuse
   * the m-lines of streams that ended (`join.recycles`).
   */
  readonly recycles?: boolean;
}

/**
 * What the call is like, in three separate facets — the one truth a page
 * shows (see `isHealthy`):
 * - `routing`: where the connection machine is;
 * - `keys`: the meeting's end-to-end keys on the current connection ('off' without E2EE);
 * - `media`: remote media decoding on the current connection ('none' when nobody else publishes).
 */
export interface CallState {
  readonly routing: 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'refused' | 'failed' | 'left';
  readonly keys: 'off' | 'agreeing' | 'agreed';
  readonly media: 'none' | 'waiting' | 'flowing';
  /** The datacenter of the current connection, once connected. */
  readonly datacenter?: string;
}

/** True when the call works as it should: connected, keys agreed (or E2EE off), and remote media decoding (or nobody else publishing). */
export function isHealthy(state: CallState): boolean {
  return state.routing === 'connected' && state.keys !== 'agreeing' && state.media !== 'waiting';
}

/** E2EE timing: after `retryMs` without keys the key package is sent again; after `deadlineMs` the connection is given up and the machine reconnects. */
export const KEYS_RETRY_MS = 4000;
export const KEYS_DEADLINE_MS = 12_000;
/**
 * How long after admission the media path may take to come up before the
 * connection is given up and the machine reconnects. A browser fails a path
 * that cannot connect by itself; werift (the Node SDK) can wait in
 * 'connecting' forever, admitted and silent, as a saturated bridge showed
 * (docs/scale.md §6). Long enough for a loaded machine's ICE and DTLS.
 */
export const PEER_CONNECT_TIMEOUT_MS = 20_000;
/** How often remote media progress is sampled while it flows, and how many samples in a row without progress make media 'waiting'. */
const MEDIA_SAMPLE_MS = 1000;
const MEDIA_STALL_SAMPLES = 2;
/** How often it is sampled while not flowing: a stream is announced before its media arrives, and 'flowing' should follow the first frames closely. */
const MEDIA_WAITING_SAMPLE_MS = 200;

/** The SDK's typed events. */
export type SessionEvent<Track> =
  /** The call's state changed (any facet). */
  | ({ readonly type: 'call-state' } & CallState)
  | { readonly type: 'connected'; readonly datacenter: string; readonly jurisdiction: string; readonly role: 'primary' | 'secondary'; readonly attempts: number }
  | { readonly type: 'reconnecting'; readonly datacenter: string }
  | { readonly type: 'participant-joined'; readonly peer: PeerInfo }
  | { readonly type: 'participant-updated'; readonly peer: PeerInfo }
  | { readonly type: 'participant-left'; readonly id: string }
  /** In a cascaded meeting: whom we cannot exchange media with and why (the whole list; empty: nobody). */
  | { readonly type: 'unreachable'; readonly peers: readonly UnreachablePeer[] }
  | { readonly type: 'track-added'; readonly peer: string; readonly kind: 'audio' | 'video'; readonly source: StreamSource; readonly track: Track }
  /**
   * The peer left, stopped sharing its screen (`source: 'screen'`), or the
   * connection carrying its media ended: its stream ends. A browser's track is
   * its receiver's, and a later `track-added` may hand the same object out
   * for another stream (the bridge reuses m-lines): follow the events.
   */
  | { readonly type: 'track-removed'; readonly peer: string; readonly kind: 'audio' | 'video'; readonly source: StreamSource }
  /** The meeting's MLS group moved to a new epoch on this connection: its SFrame keys and security code. */
  | ({ readonly type: 'e2ee' } & E2eeEpoch)
  /** The group's members checked against the meeting's participants: on every epoch, and whenever a participant comes or goes. */
  | ({ readonly type: 'roster' } & E2eeRoster)
  /** The MLS group could not be joined or kept (the call goes on; its media keys do not change). */
  | { readonly type: 'e2ee-error'; readonly code: string; readonly message: string }
  /** A chat message read from the encryption group (sender named by its credential there), or our own once sent (`self`). */
  | ({ readonly type: 'chat' } & ChatMessage)
  /** One of our chat messages did not reach the others (`reason`: the bridge's, e.g. `rate-limited`, or why it could not be encrypted). */
  | { readonly type: 'chat-undelivered'; readonly reason: string }
  /** A chat message relayed to us was dropped unread (it does not decrypt or verify, or is not a chat payload); the group and media are unaffected. */
  | { readonly type: 'chat-unreadable'; readonly message: string }
  /** A bridge refused this attempt; the machine goes on to the next candidate or a fresh route. */
  | { readonly type: 'bridge-refused'; readonly datacenter: string; readonly code: string; readonly message: string }
  /** A bridge handed out a STUN/TURN URL the route answer does not allow (or one outside the ticket's jurisdictions): not used; the call goes on without it. */
  | IceServerRefused
  | { readonly type: 'refused'; readonly code: string; readonly message: string }
  | { readonly type: 'failed'; readonly code: string; readonly message: string }
  | { readonly type: 'notice'; readonly notice: ConnectionNotice };

/** Options of `Session`. */
export interface SessionOptions<Track> {
  /** The broker's base URL. */
  readonly broker: string;
  /** The broker client to use (one is made from `broker` otherwise). */
  readonly client?: BrokerClient;
  /** The join token: it carries the display name the others see. */
  readonly joinToken: string;
  /** Dev-mode brokers only: route as if from this country. */
  readonly country?: string;
  /** Take part in the meeting's MLS group (end-to-end keys); emits `e2ee` events. */
  readonly e2ee?: boolean;
  readonly platform: Platform<Track>;
  readonly onEvent: (event: SessionEvent<Track>) => void;
  /** How long an admitted connection's media path may take to come up (PEER_CONNECT_TIMEOUT_MS). */
  readonly peerConnectTimeoutMs?: number;
}

/** A route the broker gave, kept until the machine asks for another. */
interface Route {
  /** The ticket (renewed by a bridge while connected, when it names none but these candidates) and its claims. */
  ticket: string;
  claims: RouteTicket;
  readonly bridges: Readonly<Record<string, string>>;
  /** Where its receipt records the connections made on it (none: the answer had no receipt). */
  readonly receipt: RouteReceiptHandle | undefined;
}

/** One bridge connection attempt. */
interface Link {
  readonly socket: SocketLike;
  /** The challenge the bridge must sign in `admitted`. */
  readonly challenge: string;
  /** The route it was made on. */
  readonly requestId: number;
  /** The route ticket this connection holds (renewed by the bridge while connected), and its claims. */
  ticket: string;
  claims: RouteTicket;
  /** What the route ticket allows this bridge to hand out (its `ice` claim when the link opened). */
  readonly iceAllowance: IceAllowance;
  /** The route's receipt, told once this bridge has proved itself. */
  readonly receipt: RouteReceiptHandle | undefined;
  /** The bridge's messages, handled one after another (the proof check in `admitted` is async). */
  inbox: Promise<void>;
  peer?: PeerHandle<unknown>;
  /** Remote tracks this connection delivered, to end them when their peer leaves or the link closes. */
  tracks: ReceivedTrack[];
  /** This connection's side of the MLS group (the group itself may go on across connections: `carry`). */
  keys?: MeetingKeys;
  /** The E2EE retry and deadline timers while this connection has no keys. */
  keysTimers: ReturnType<typeof setTimeout>[];
  /** The remote media sampler, the last progress count it saw, and how many samples in a row saw none. */
  mediaTimer?: ReturnType<typeof setTimeout>;
  /** Fires PEER_CONNECT_TIMEOUT_MS after admission unless the media path came up. */
  connectTimer?: ReturnType<typeof setTimeout>;
  decoded: number;
  stalls: number;
  admitted: boolean;
  done: boolean;
  /** The bridge was told we share a screen (`state.screen`) on this connection. */
  screenAnnounced: boolean;
  /** Our `join` had fields a bridge from before them refuses (`mls`, `sends`, `e2ee`). */
  extendedJoin?: boolean;
  /** Candidates gathered before the first answer went out: the bridge applies them after it. */
  candidates?: TrickledCandidate[] | undefined;
}

/**
 * The machine's event for a route request that failed. A refusal (4xx, or 503
 * with its Retry-After) is the broker's word; no answer, another 5xx or a 200
 * that is not a route answer is a failure to retry.
 */
function routeError(requestId: number, error: unknown): ConnectionEvent {
  const status = error instanceof BrokerError ? error.status : undefined;
  if (!(error instanceof BrokerError) || status === undefined || (status >= 200 && status < 300)) return { type: 'routeFailed', requestId, reason: error instanceof Error ? error.message : String(error) };
  if (status >= 500 && status !== 503) return { type: 'routeFailed', requestId, reason: `HTTP ${String(status)}` };
  return { type: 'routeRefused', requestId, code: error.code, message: error.message, ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}) };
}

/** A participant's session in one meeting: join, stay connected across failures, leave. */
/** The claims of a ticket that did not verify: a route to nowhere, which the machine refuses. */
const UNVERIFIED: RouteTicketClaims = {
  iss: '',
  aud: ROUTE_TICKET_AUDIENCE,
  sub: '',
  iat: 0,
  exp: 0,
  meeting: '',
  candidates: [],
  candidateJurisdictions: [],
  candidateRoles: [],
  attempts: { perPrimary: 1, timeoutMs: 1 },
  decision: '',
  country: '',
  name: '',
  manifest: '',
  policy: { hostCountry: '' },
  ice: {},
};

export class Session<Track> {
  readonly #options: SessionOptions<Track>;
  /** The broker's API, and its published keys (`jwks`), which verify route tickets and identity assertions. */
  readonly #broker: BrokerClient;
  readonly #bridgeKeys: BridgeKeys;
  #state: ConnectionState = INITIAL_CONNECTION_STATE;
  readonly #routes = new Map<number, Route>();
  readonly #links = new Map<number, Link>();
  readonly #timers = new Map<number, ReturnType<typeof setTimeout>>();
  readonly #requests = new Map<number, AbortController>();
  /** Every route given in this call, kept for the participant's routing receipt. */
  readonly #receipts = new RouteReceipts();
  #audio = true;
  #video = true;
  /** The screen we share, or null. */
  #screen: Track | null = null;
  /** Our MLS group as the last connection left it, named in the next `join` so that the next bridge may let us go on in it. */
  #carried: CarriedGroup | undefined;
  /** A bridge refused an extended join (BAD_MESSAGE): from then on joins carry only the ticket and challenge. */
  #bareJoin = false;
  /** The MLS key package for the next admission, made ahead (E2EE only; used once, then the next one is made). */
  #prepared: ReturnType<typeof prepareMember> | undefined;
  #callState: CallState = { routing: 'idle', keys: 'off', media: 'none' };
  /** The attempt whose connection is current (admitted), for the call state. */
  #current: number | undefined;

  constructor(options: SessionOptions<Track>) {
    this.#options = options;
    this.#broker = options.client ?? new BrokerClient(options.broker);
    this.#bridgeKeys = BridgeKeys.of(this.#broker);
  }

  get status(): ConnectionState['status'] {
    return this.#state.status;
  }

  /** Every route the broker gave this session, oldest first: ticket, decision, log promise, and the bridges that proved they were reached (receipts.ts builds the file). */
  receipts(): readonly RouteReceipt[] {
    return this.#receipts.list();
  }

  /** The call's state: routing, keys and media, each separately. */
  get callState(): CallState {
    return this.#callState;
  }

  join(): void {
    this.#bridgeKeys.prefetch();
    this.#setCallState({ routing: 'connecting', keys: this.#options.e2ee ? 'agreeing' : 'off' });
    this.#dispatch({ type: 'join' });
    // Beside the route request, which has left: its ticket is checked against these keys when it comes back.
    this.#broker.prefetchKeys();
    // After the route request has left: the route is on the critical path, the key package only by admission.
    this.#prepareNext();
  }

  /** Makes the key package for the next admission now, so that a reconnection after failover does not wait for the broker to vouch for a key. */
  #prepareNext(): void {
    if (!this.#options.e2ee) return;
    this.#prepared = prepareMember(this.#broker, this.#options.joinToken);
    this.#prepared.catch(() => undefined); // reported by the connection that uses it
  }

  #setCallState(change: Partial<CallState>): void {
    const next = { ...this.#callState, ...change };
    const before = this.#callState;
    if (next.routing === before.routing && next.keys === before.keys && next.media === before.media && next.datacenter === before.datacenter) return;
    this.#callState = next;
    this.#options.onEvent({ type: 'call-state', ...next });
  }

  leave(): void {
    for (const link of this.#links.values()) this.#send(link, { type: 'leave' });
    this.#dispatch({ type: 'leave' });
    this.#setCallState({ routing: 'left', media: 'none' });
  }

  /** Tells the others whether the microphone and camera are on. */
  setMediaState(audio: boolean, video: boolean): void {
    this.#audio = audio;
    this.#video = video;
    for (const link of this.#links.values()) if (link.admitted) this.#sendState(link);
  }

  /**
   * Shares a screen (a video track, e.g. from getDisplayMedia) as a second
   * video stream, end-to-end encrypted like the camera, or stops with null.
   * The track goes on the screen m-line the bridge negotiated at admission,
   * on this connection and any later one. Resolves once the track is on the
   * current connection's sender.
   */
  async shareScreen(track: Track | null): Promise<void> {
    this.#screen = track;
    const links = [...this.#links.values()].filter((l) => l.admitted);
    // Stopping: tell the bridge first, so it stops forwarding before the sender goes quiet; starting: the track first.
    if (track === null) for (const link of links) this.#sendState(link);
    await Promise.all(links.flatMap((l) => (l.peer ? [l.peer.setScreen(track)] : [])));
    if (track !== null) for (const link of links) this.#sendState(link);
  }

  #sendState(link: Link): void {
    link.screenAnnounced = this.#screen !== null && link.peer?.screenReady === true;
    this.#send(link, { type: 'state', audio: this.#audio, video: this.#video, ...(link.screenAnnounced ? { screen: true } : {}) });
  }

  /**
   * Sends a chat message, end-to-end encrypted to the meeting's MLS group
   * (E2EE sessions only). False when there is no group to send to yet (not
   * admitted, not added yet, or E2EE off); a `chat` event with `self: true`
   * follows once it is sent. Throws CHAT_INVALID for an empty text or one
   * over CHAT_TEXT_MAX characters.
   */
  sendChat(text: string): boolean {
    const problem = chatTextProblem(text);
    if (problem !== undefined) throw new GeobridgeError('CHAT_INVALID', `Cannot send this chat message: ${problem}.`);
    const keys = [...this.#links.values()].find((link) => link.admitted && !link.done && link.keys?.inGroup === true)?.keys;
    if (!keys) return false;
    keys.sendChat(text, Date.now());
    return true;
  }

  #dispatch(event: ConnectionEvent): void {
    const result = step(this.#state, event, { now: Date.now(), random: Math.random });
    this.#state = result.state;
    for (const command of result.commands) this.#run(command);
  }

  #run(command: Command): void {
    switch (command.type) {
      case 'requestRoute':
        void this.#requestRoute(command.requestId);
        return;
      case 'cancelRoute':
        this.#requests.get(command.requestId)?.abort();
        this.#requests.delete(command.requestId);
        return;
      case 'connect':
        this.#connect(command.attemptId, command.requestId, command.datacenter);
        return;
      case 'disconnect':
        this.#close(command.attemptId);
        return;
      case 'startTimer':
        this.#timers.set(
          command.timerId,
          setTimeout(() => {
            this.#timers.delete(command.timerId);
            this.#dispatch({ type: 'timeout', timerId: command.timerId });
          }, command.delayMs),
        );
        return;
      case 'cancelTimer':
        clearTimeout(this.#timers.get(command.timerId));
        this.#timers.delete(command.timerId);
        return;
      case 'emit':
        this.#emitNotice(command.notice);
        return;
    }
  }

  #emitNotice(notice: ConnectionNotice): void {
    const emit = this.#options.onEvent;
    if (notice.type === 'connected') {
      this.#setCallState({ routing: 'connected', datacenter: notice.datacenter });
      emit({ type: 'connected', datacenter: notice.datacenter, jurisdiction: notice.jurisdiction, role: notice.role, attempts: notice.attempts });
    } else if (notice.type === 'reconnecting') {
      this.#setCallState({ routing: 'reconnecting', keys: this.#options.e2ee ? 'agreeing' : 'off', media: 'none' });
      emit({ type: 'reconnecting', datacenter: notice.datacenter });
    } else if (notice.type === 'refused' || notice.type === 'failed') {
      this.#setCallState({ routing: notice.type, media: 'none' });
      emit({ type: notice.type, code: notice.code, message: notice.message });
    }
    emit({ type: 'notice', notice });
  }

  async #requestRoute(requestId: number): Promise<void> {
    const abort = new AbortController();
    this.#requests.set(requestId, abort);
    let event: ConnectionEvent;
    try {
      // An answer that does not match the protocol is no answer: it throws, and the machine hears routeFailed.
      const answer = await this.#broker.route(this.#options.joinToken, this.#options.country !== undefined ? { country: this.#options.country } : {}, { signal: abort.signal });
      const verified = await this.#verifyTicket(answer.ticket);
      const { claims } = verified;
      // Only a ticket that verifies is a route worth a receipt; the machine refuses the others.
      const receipt = verified.ok ? this.#receipts.keep(answer, claims, new Date()) : undefined;
      this.#routes.set(requestId, { ticket: answer.ticket, claims, bridges: answer.bridges, receipt });
      // The route is what the ticket signs: the answer does not repeat it (unless explained), and is not signed.
      event = { type: 'routeReceived', requestId, decision: { candidates: ticketCandidates(claims), attempts: claims.attempts }, ticket: claims, ticketVerified: verified.ok };
    } catch (error) {
      if (abort.signal.aborted) return;
      event = routeError(requestId, error);
    } finally {
      this.#requests.delete(requestId);
    }
    this.#dispatch(event);
  }

  /** Verifies the ticket against the broker's published keys (signature, `typ`, audience, expiry, claims); the machine checks it against the route. */
  async #verifyTicket(token: string): Promise<{ ok: boolean; claims: RouteTicketClaims }> {
    try {
      return { ok: true, claims: await verifyRouteTicket(this.#broker.jwks, token, { now: new Date() }) };
    } catch {
      return { ok: false, claims: UNVERIFIED };
    }
  }

  #connect(attemptId: number, requestId: number, datacenter: string): void {
    const route = this.#routes.get(requestId);
    const url = route?.bridges[datacenter];
    if (!route || url === undefined) {
      queueMicrotask(() => {
        this.#dispatch({ type: 'connectFailed', attemptId, datacenter, reason: 'the broker gave no address for this bridge' });
      });
      return;
    }
    const socket = this.#options.platform.openSocket(url, SIGNALLING_SUBPROTOCOL);
    const link: Link = { requestId, socket, challenge: newChallenge(), ticket: route.ticket, claims: route.claims, iceAllowance: route.claims.ice, receipt: route.receipt, inbox: Promise.resolve(), admitted: false, done: false, tracks: [], screenAnnounced: false, keysTimers: [], decoded: 0, stalls: 0 };
    this.#links.set(attemptId, link);
    /** `lost`: the socket ended without a word from the bridge (the machine may go on with the same route). */
    const fail = (reason: string, code?: string, lost = false): void => {
      if (link.done) return;
      this.#close(attemptId);
      this.#dispatch(link.admitted ? { type: 'disconnected', attemptId, reason, ...(code !== undefined ? { code } : {}), ...(lost ? { lost } : {}) } : { type: 'connectFailed', attemptId, datacenter, reason });
    };
    socket.onopen = (): void => {
      const carried = this.#options.e2ee ? this.#carried : undefined;
      const sends = this.#bareJoin ? [] : (this.#options.platform.sends?.() ?? []);
      // A client that does not encrypt says so, or the bridge could make it the group's founder and leave the others without keys.
      const outside = this.#options.e2ee === true || this.#bareJoin ? {} : { e2ee: false };
      const recycles = this.#options.platform.recycles === true && !this.#bareJoin;
      link.extendedJoin = carried !== undefined || sends.length > 0 || 'e2ee' in outside || recycles;
      this.#send(link, { type: 'join', ticket: route.ticket, challenge: link.challenge, ...(carried ? { mls: holdingOf(carried) } : {}), ...(sends.length > 0 ? { sends } : {}), ...outside, ...(recycles ? { recycles } : {}) });
      this.#dispatch({ type: 'reached', attemptId });
    };
    socket.onerror = (): void => {
      fail('the bridge connection failed', undefined, true);
    };
    socket.onclose = (): void => {
      fail('the bridge closed the connection', undefined, true);
    };
    socket.onmessage = (event): void => {
      const parsed = parseBridgeMessage(typeof event.data === 'string' ? event.data : '');
      if (!parsed.ok) {
        fail(`the bridge sent a bad message: ${parsed.error}`);
        return;
      }
      const message = parsed.message;
      link.inbox = link.inbox.then(async () => {
        if (!link.done) await this.#onBridgeMessage(attemptId, datacenter, link, message, fail);
      });
    };
  }

  /** The bridge must prove it holds the datacenter's key (the broker publishes it) before anything it says is used. */
  async #checkProof(datacenter: string, link: Link, message: AdmittedMessage): Promise<string | undefined> {
    try {
      await this.#bridgeKeys.verify(message.proof, { datacenter, challenge: link.challenge, participant: link.claims.sub });
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  async #onBridgeMessage(attemptId: number, datacenter: string, link: Link, message: BridgeMessage, fail: (reason: string, code?: string) => void): Promise<void> {
    const emit = this.#options.onEvent;
    switch (message.type) {
      case 'admitted': {
        const impostor = await this.#checkProof(datacenter, link, message);
        if (link.done) return;
        if (impostor !== undefined) {
          emit({ type: 'bridge-refused', datacenter, code: 'BRIDGE_PROOF_INVALID', message: impostor });
          fail(`BRIDGE_PROOF_INVALID: ${impostor}`);
          return;
        }
        link.admitted = true;
        link.receipt?.connected({ datacenter, connectedAt: new Date().toISOString(), challenge: link.challenge, bridgeProof: message.proof });
        const ice = screenIceServers(message.iceServers, link.iceAllowance, datacenter);
        for (const refused of ice.refused) emit(refused);
        const peer = this.#options.platform.createPeer(ice.accepted);
        link.peer = peer as PeerHandle<unknown>;
        if (message.trickle === true && peer.trickle) {
          link.candidates = [];
          peer.trickle((c) => {
            if (link.candidates) link.candidates.push(c);
            else this.#send(link, { type: 'candidate', ...c });
          });
        }
        peer.onTrack = (stream, track): void => {
          const received = trackOf(stream);
          link.tracks.push(received);
          emit({ type: 'track-added', peer: received.peer, kind: received.kind, source: received.source, track });
        };
        if (this.#screen !== null) void peer.setScreen(this.#screen);
        peer.onFailed = (): void => {
          fail('the media connection failed');
        };
        this.#current = attemptId;
        this.#setCallState({ keys: this.#options.e2ee ? 'agreeing' : 'off', media: 'none' });
        this.#watchMedia(link, peer);
        this.#watchPeerConnect(link, peer, fail);
        this.#dispatch({ type: 'connected', attemptId, datacenter });
        for (const p of message.peers) emit({ type: 'participant-joined', peer: p });
        if (this.#options.e2ee) {
          const entry: GroupEntry = message.mlsContinues === true ? 'continue' : message.mlsFounder ? 'found' : 'join';
          // The carried group goes to this connection if it goes on in it, and is of no use otherwise (we join anew).
          const carried = entry === 'continue' ? this.#carried : undefined;
          this.#carried = undefined;
          const prepared = this.#prepared;
          this.#prepareNext();
          this.#watchKeys(link, fail);
          link.keys = new MeetingKeys({
            broker: this.#options.broker,
            joinToken: this.#options.joinToken,
            meeting: message.meeting,
            participant: message.participant,
            ...(prepared ? { prepared } : {}),
            ...(carried ? { carried } : {}),
            client: this.#broker,
            send: (m) => {
              this.#send(link, m);
            },
            onEpoch: (epoch) => {
              for (const t of link.keysTimers) clearTimeout(t);
              link.keysTimers = [];
              peer.setKeys?.(epoch);
              if (this.#current === attemptId) this.#setCallState({ keys: 'agreed' });
              emit({ type: 'e2ee', ...epoch });
            },
            onRoster: (roster) => {
              emit({ type: 'roster', ...roster });
            },
            onError: (error) => {
              // Out of the group while connected: no keys until a new epoch takes us in, or the deadline reconnects.
              if (!link.keys?.inGroup) {
                if (this.#current === attemptId) this.#setCallState({ keys: 'agreeing' });
                if (link.keysTimers.length === 0) this.#watchKeys(link, fail);
              }
              const failure = isGeobridgeError(error) ? error : new GeobridgeError('E2EE_FAILED', error instanceof Error ? error.message : String(error), { cause: error });
              emit({ type: 'e2ee-error', code: failure.code, message: failure.message });
            },
            onChat: (chat) => {
              emit({ type: 'chat', ...chat });
            },
            onChatUndelivered: (reason) => {
              emit({ type: 'chat-undelivered', reason });
            },
            onChatUnreadable: (error) => {
              emit({ type: 'chat-unreadable', message: error instanceof Error ? error.message : String(error) });
            },
          });
          // A cascaded meeting's group is its members on every bridge, not only the peers whose media reaches this one.
          if (message.mlsMembers) link.keys.setMembers(message.mlsMembers);
          link.keys.start(entry, message.mlsMembers ? [] : message.peers);
        }
        if (!this.#audio || !this.#video) this.#sendState(link);
        return;
      }
      case 'offer': {
        // A stream the bridge no longer labels has ended (a screen share stopped, a peer's track gone).
        const ended = endedStreams(link.tracks, message.streams);
        link.tracks = link.tracks.filter((t) => !ended.includes(t));
        for (const t of ended) emit({ type: 'track-removed', peer: t.peer, kind: t.kind, source: t.source });
        link.peer
          ?.answer(message.sdp, message.streams)
          .then((sdp) => {
            this.#send(link, { type: 'answer', sdp });
            const early = link.candidates;
            link.candidates = undefined;
            for (const c of early ?? []) this.#send(link, { type: 'candidate', ...c });
            // A screen shared before this connection's first offer is announced once its m-line is answered.
            if (this.#screen !== null && !link.screenAnnounced && link.peer?.screenReady === true) this.#sendState(link);
          })
          .catch((error: unknown) => {
            fail(`the offer could not be answered: ${error instanceof Error ? error.message : String(error)}`);
          });
        return;
      }
      case 'peer-joined':
        link.keys?.peerJoined(message.peer);
        emit({ type: 'participant-joined', peer: message.peer });
        return;
      case 'peer-updated':
        emit({ type: 'participant-updated', peer: message.peer });
        return;
      case 'unreachable':
        emit({ type: 'unreachable', peers: message.peers });
        return;
      case 'peer-left':
        for (const t of link.tracks.filter((t) => t.peer === message.id)) emit({ type: 'track-removed', peer: t.peer, kind: t.kind, source: t.source });
        link.tracks = link.tracks.filter((t) => t.peer !== message.id);
        link.keys?.peerLeft(message.id);
        emit({ type: 'participant-left', id: message.id });
        return;
      case 'mls':
        link.keys?.relayed(message);
        return;
      case 'mls-result':
        link.keys?.result(message);
        return;
      case 'mls-found':
        link.keys?.found();
        return;
      case 'mls-resync':
        link.keys?.resync();
        return;
      case 'mls-members':
        link.keys?.setMembers(message.members, message.gone);
        return;
      case 'redirect':
        link.done = true;
        this.#close(attemptId);
        this.#dispatch({ type: 'redirect', attemptId, datacenter: message.datacenter });
        return;
      case 'refused':
        // A bridge from before `join.mls`, `join.sends` and `join.e2ee` refuses them: later attempts send a bare join (and join the group anew).
        if (!link.admitted && link.extendedJoin === true && message.code === 'BAD_MESSAGE') {
          this.#carried = undefined;
          this.#bareJoin = true;
        }
        emit({ type: 'bridge-refused', datacenter, code: message.code, message: message.message });
        fail(`${message.code}: ${message.message}`, message.code);
        return;
      case 'move':
        fail(message.reason);
        return;
      case 'ticket': {
        // The bridge renewed our ticket with the broker: it must be the broker's, for us, and still allow where we are.
        const renewed = await this.#verifyTicket(message.ticket);
        if (link.done) return;
        const { claims } = renewed;
        if (!renewed.ok || claims.sub !== link.claims.sub || claims.meeting !== link.claims.meeting || !claims.candidates.includes(datacenter)) {
          fail('the renewed route ticket does not verify or does not allow this datacenter');
          return;
        }
        link.ticket = message.ticket;
        link.claims = claims;
        // The route goes on with it (the next datacenter is joined with it if this bridge vanishes) if the
        // connection machine takes it: its rule (machine.ts, renewTicket) is the only one that says which renewals
        // a route may take (none but the route's candidates, in their jurisdictions, lasting longer).
        this.#dispatch({ type: 'ticketRenewed', attemptId, ticket: claims });
        const route = this.#routes.get(link.requestId);
        const taken = this.#state.status === 'connected' && this.#state.route.requestId === link.requestId && this.#state.route.ticket === claims;
        if (route && taken) {
          route.ticket = message.ticket;
          // With its STUN/TURN allowance, under the policy in force: the route's next bridge is held to that.
          route.claims = claims;
        }
        return;
      }
    }
  }

  /** E2EE liveness on one connection: send the key package again after a while, then give the connection up (the machine reconnects). */
  #watchKeys(link: Link, fail: (reason: string, code?: string) => void): void {
    link.keysTimers = [
      setTimeout(() => link.keys?.retry(), KEYS_RETRY_MS),
      setTimeout(() => {
        const error = new GeobridgeError('E2EE_KEYS_TIMEOUT', `no end-to-end keys were agreed within ${KEYS_DEADLINE_MS / 1000} s on this bridge`);
        fail(`${error.code}: ${error.message}`, error.code);
      }, KEYS_DEADLINE_MS),
    ];
  }

  /** Samples remote media on the current connection: flowing while the decoded count rises. */
  #watchMedia(link: Link, peer: PeerHandle<Track>): void {
    const sample = peer.mediaProgress?.bind(peer);
    if (!sample) return;
    const next = (): void => {
      link.mediaTimer = setTimeout(() => {
        void sample()
          .then(({ tracks, decoded }) => {
            if (link.done) return;
            link.stalls = decoded > link.decoded ? 0 : link.stalls + 1;
            link.decoded = decoded;
            // One quiet sample is a hiccup of a loaded machine, two are a stall; the first frames count at once.
            const media = tracks === 0 ? 'none' : link.stalls === 0 ? 'flowing' : link.stalls >= MEDIA_STALL_SAMPLES || this.#callState.media !== 'flowing' ? 'waiting' : 'flowing';
            this.#setCallState({ media });
          })
          .catch(() => undefined)
          .finally(() => {
            if (!link.done) next();
          });
      }, this.#callState.media === 'flowing' ? MEDIA_SAMPLE_MS : MEDIA_WAITING_SAMPLE_MS);
    };
    next();
  }

  /** Gives the connection up when its media path has not come up PEER_CONNECT_TIMEOUT_MS after admission: admitted and silent is no call. */
  #watchPeerConnect(link: Link, peer: PeerHandle<Track>, fail: (reason: string) => void): void {
    const connected = peer.hasConnected?.bind(peer);
    if (!connected) return;
    link.connectTimer = setTimeout(() => {
      if (!link.done && !connected()) fail(`the media connection did not come up within ${String(PEER_CONNECT_TIMEOUT_MS / 1000)} s of admission`);
    }, this.#options.peerConnectTimeoutMs ?? PEER_CONNECT_TIMEOUT_MS);
  }

  #send(link: Link, message: ClientMessage): void {
    try {
      link.socket.send(encodeMessage(message));
    } catch {
      // A closed socket reports itself through onclose.
    }
  }

  /** Closes an attempt's socket and peer; idempotent, and silent (the machine already knows). */
  #close(attemptId: number): void {
    const link = this.#links.get(attemptId);
    if (!link) return;
    this.#links.delete(attemptId);
    link.done = true;
    // The group goes on with us to the next bridge, unless we are leaving.
    this.#carried = this.#state.status === 'closed' ? undefined : (link.keys?.carry() ?? this.#carried);
    link.keys?.close();
    for (const t of link.keysTimers) clearTimeout(t);
    clearTimeout(link.mediaTimer);
    clearTimeout(link.connectTimer);
    if (this.#current === attemptId) this.#current = undefined;
    for (const t of link.tracks) this.#options.onEvent({ type: 'track-removed', peer: t.peer, kind: t.kind, source: t.source });
    link.tracks = [];
    link.socket.onclose = null;
    link.socket.onerror = null;
    link.socket.onmessage = null;
    const peer = link.peer;
    if (peer) {
      peer.onTrack = null;
      peer.onFailed = null;
      // After the machine's next step (a fresh route after a drop) has started: a browser's
      // RTCPeerConnection.close() blocks the page for 25-100 ms, measured in the failover bench.
      setTimeout(() => {
        peer.close();
      }, 0);
    }
    try {
      link.socket.close(1000, 'bye');
    } catch {
      // Already closed.
    }
  }
}
