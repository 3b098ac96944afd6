/**
 * The public face of a call: a `Room` wraps the SDK's `Session` (the
 * connection machine's shell, session.ts), which stays the engine, and
 * gives an application a small, stable surface: typed events, the local
 * media it publishes, chat, and the routing receipt. The platform (browser
 * or Node, browser-room.ts and node-room.ts) supplies the peer connections
 * and local tracks; the room never lets media out unencrypted when E2EE is
 * on, because the platform attaches the transform itself.
 */
import type { ConnectionNotice } from '../core/connection/index.js';
import { GeobridgeError } from '../core/errors.js';
import type { RoutingReceiptFile } from '../core/receipt-file.js';
import type { Member } from '../mls/index.js';
import type { PeerInfo, StreamSource, UnreachablePeer } from '../protocol/signalling.js';
import type { BrokerClient } from './broker-client.js';
import type { IceServerRefused } from './ice-servers.js';
import type { ChatMessage, E2eeRoster } from './meeting-keys.js';
import { buildReceiptFile, type RouteReceipt } from './receipts.js';
import { Session, type CallState, type Platform, type SessionEvent } from './session.js';

/** Someone else in the meeting: id, display name (from their join token), and what they send. */
export type Participant = PeerInfo;

/** In a cascaded meeting, someone we cannot exchange media with, and why. */
export type { UnreachablePeer };

/** What a local or remote track carries: the camera, the microphone, or a shared screen. */
export type TrackSource = 'camera' | 'microphone' | 'screen';

/** A remote stream's source as the room names it: the bridge labels a microphone's stream `camera` (its participant's own media). */
function sourceOf(kind: 'audio' | 'video', source: StreamSource): TrackSource {
  return kind === 'audio' && source === 'camera' ? 'microphone' : source;
}

/** Where the room is: its connection, the meeting's end-to-end keys, and remote media — each on its own — and where it is connected. */
export interface RoomState {
  /** `routing`: asking the broker and reaching a bridge; `reconnecting`: the same after a drop; `refused`/`failed`: over, see the event's code; `left`: `leave()` was called. */
  readonly connection: 'idle' | 'routing' | 'connected' | 'reconnecting' | 'refused' | 'failed' | 'left';
  /** `off` without E2EE; `agreeing` until this connection has the group's keys; `agreed` after. */
  readonly keys: 'off' | 'agreeing' | 'agreed';
  /** `none` while nobody else publishes; `waiting` while remote media does not decode; `flowing` once it does. */
  readonly media: 'none' | 'waiting' | 'flowing';
  /** True when connected, with keys agreed (or E2EE off) and remote media decoding (or nobody else publishing): what a green badge means. */
  readonly healthy: boolean;
  /** The datacenter, its jurisdiction (ISO 3166-1 country code or group), its role in the route, and attempts it took, once connected. */
  readonly datacenter?: string;
  readonly jurisdiction?: string;
  readonly role?: 'primary' | 'secondary';
  readonly attempts?: number;
}

/** The E2EE state of an epoch: what members compare (`securityCode`) and who is in the group. Key material never leaves the SDK. */
export interface E2eeState {
  readonly epoch: bigint;
  readonly securityCode: string;
  readonly members: readonly Member[];
}

/** Every event a room emits, by `type`. */
export type RoomEvent<Track> =
  /** The room's state changed (any facet). */
  | { readonly type: 'state'; readonly state: RoomState }
  /** Admitted by a bridge (at the start and after every reconnection). */
  | { readonly type: 'connected'; readonly datacenter: string; readonly jurisdiction: string; readonly role: 'primary' | 'secondary'; readonly attempts: number }
  /** The connection dropped; the SDK is routing afresh (remote tracks and the roster start over). */
  | { readonly type: 'reconnecting'; readonly datacenter: string }
  /** The route the room connected on: the broker's decision, its signed ticket and the transparency log's promise (what the routing receipt proves). */
  | { readonly type: 'route'; readonly route: RouteReceipt }
  | { readonly type: 'participant-joined'; readonly participant: Participant }
  /** A participant muted, unmuted, or started or stopped sharing a screen. */
  | { readonly type: 'participant-updated'; readonly participant: Participant }
  | { readonly type: 'participant-left'; readonly id: string }
  /**
   * In a cascaded meeting (docs/cascading.md): the participants we cannot
   * exchange media with, and why — `from`: we cannot receive theirs; `to`:
   * they cannot receive ours; `reason` the plan's code, e.g. `FENCE`. The
   * whole list, replacing the last (empty: nobody).
   */
  | { readonly type: 'unreachable'; readonly peers: readonly UnreachablePeer[] }
  /** A remote track, decrypted under E2EE, ready to play. */
  | { readonly type: 'track-added'; readonly participant: string; readonly kind: 'audio' | 'video'; readonly source: TrackSource; readonly track: Track }
  /** A remote track ended (its participant left or stopped sharing, or the connection carrying it ended); in a browser a later `track-added` may hand the same object out for another stream. */
  | { readonly type: 'track-removed'; readonly participant: string; readonly kind: 'audio' | 'video'; readonly source: TrackSource }
  /** The meeting's MLS group moved to a new epoch: its keys are installed; show the security code. */
  | ({ readonly type: 'e2ee' } & E2eeState)
  /** The group's members checked against the meeting's participants; a flagged member is one nobody accounts for. */
  | ({ readonly type: 'roster' } & E2eeRoster)
  /** The group could not be joined or kept (media stays encrypted; it may not play until keys come). */
  | { readonly type: 'e2ee-error'; readonly code: string; readonly message: string }
  /** A chat message read from the group, or our own once sent (`self`). */
  | ({ readonly type: 'chat' } & ChatMessage)
  | { readonly type: 'chat-undelivered'; readonly reason: string }
  | { readonly type: 'chat-unreadable'; readonly message: string }
  /** A bridge refused one attempt; the SDK goes on to the next candidate or a fresh route. */
  | { readonly type: 'bridge-refused'; readonly datacenter: string; readonly code: string; readonly message: string }
  | IceServerRefused
  /** The broker said no (e.g. `FENCE_CONFLICT`, `MEETING_ENDED`): the room is over (docs/errors.md names every code). */
  | { readonly type: 'refused'; readonly code: string; readonly message: string }
  /** The SDK gave up (`ATTEMPTS_EXHAUSTED`, `TICKET_INVALID`): the room is over. */
  | { readonly type: 'failed'; readonly code: string; readonly message: string }
  /** Every step of the connection machine, for monitoring (docs/client.md). */
  | { readonly type: 'notice'; readonly notice: ConnectionNotice };

/** The type names of room events. */
export type RoomEventType = RoomEvent<unknown>['type'];
/** The event of one type. */
export type RoomEventOf<Type extends RoomEventType, Track> = Extract<RoomEvent<Track>, { readonly type: Type }>;

/** Options every platform's room takes. */
export interface RoomOptions {
  /** The broker's base URL, e.g. `https://meet.example.org`. */
  readonly broker: string;
  /** A join token for this participant (the broker's API issues them); or give `invite` and `name`. */
  readonly token?: string;
  /** An invite (the `invite=` of an invite link's fragment), exchanged with `name` for a join token on `join()`. */
  readonly invite?: string;
  /** The display name others see, with `invite`. */
  readonly name?: string;
  /** End-to-end encryption (default true): MLS group keys, and media encrypted with SFrame. */
  readonly e2ee?: boolean;
  /** Dev-mode brokers only: route as if from this country (ISO 3166-1 alpha-2). */
  readonly country?: string;
}

/** What a platform gives a room: the session's platform, and control of the local tracks it sends. */
export interface RoomMedia<Track> {
  readonly platform: Platform<Track>;
  /** The camera ('video') or microphone ('audio') track sent from now on, on every connection (null: none). */
  setOwn(kind: 'audio' | 'video', track: Track | null): Promise<void>;
  /** A new track from the device of `source` (the browser asks the user). */
  capture(source: TrackSource): Promise<Track>;
  /** Stops a track the room captured itself. */
  stop(track: Track): void;
  /** Mutes or unmutes a track in place (no renegotiation): silence or black frames go out. */
  setEnabled(track: Track, enabled: boolean): void;
  /** Throws when this platform may not publish now (Node under E2EE: E2EE_UNSUPPORTED). */
  checkPublish(): void;
  /** The platform's own cleanup (spare E2EE workers). */
  close(): void;
}

/** The media kind a camera or microphone sends. */
function kindOf(source: 'camera' | 'microphone'): 'audio' | 'video' {
  return source === 'camera' ? 'video' : 'audio';
}

/** Local tracks, by source. */
interface Local<Track> {
  track: Track;
  /** The room captured it (and stops it when unpublished or on leave). */
  readonly owned: boolean;
  muted: boolean;
}

type Listener<Track> = (event: RoomEvent<Track>) => void;

/**
 * One participant's presence in one meeting. Create it with the platform's
 * `createRoom` (or `connect`), listen with `on`, then `join()`. Closing with
 * `leave()` is idempotent and stops the tracks the room captured.
 */
export class Room<Track> {
  readonly #options: RoomOptions;
  readonly #client: BrokerClient;
  readonly #media: RoomMedia<Track>;
  readonly #listeners = new Map<string, Set<Listener<Track>>>();
  readonly #participants = new Map<string, Participant>();
  readonly #local = new Map<TrackSource, Local<Track>>();
  #session: Session<Track> | undefined;
  #state: RoomState = { connection: 'idle', keys: 'off', media: 'none', healthy: false };
  #joining: Promise<void> | undefined;
  #participant: string | undefined;
  #meeting: string | undefined;
  #left = false;

  /** The camera and microphone to publish from the start: a track, or 'capture' (the platform's device, opened on `join()`). */
  readonly #initial: { readonly camera?: Track | 'capture'; readonly microphone?: Track | 'capture' };

  /** Use the platform's `createRoom`; this constructor is the platforms' own. */
  constructor(options: RoomOptions, client: BrokerClient, media: RoomMedia<Track>, initial: { readonly camera?: Track | 'capture'; readonly microphone?: Track | 'capture' }) {
    if (options.token === undefined && (options.invite === undefined || options.name === undefined)) throw new GeobridgeError('ROOM_OPTIONS_INVALID', 'createRoom needs a join token (`token`), or an invite and a display name (`invite` and `name`).');
    this.#options = options;
    this.#client = client;
    this.#media = media;
    this.#initial = initial;
    // Given tracks are ours to publish from now (mute works before join); devices open on join().
    for (const source of ['camera', 'microphone'] as const) {
      const track = initial[source];
      if (track !== undefined && track !== 'capture') this.#local.set(source, { track, owned: false, muted: false });
    }
  }

  /** Where the room is: connection, keys and media. */
  get state(): RoomState {
    return this.#state;
  }

  /** The others in the meeting, by id, as the bridge announced them. */
  get participants(): ReadonlyMap<string, Participant> {
    return this.#participants;
  }

  /** Our participant id (known once `join()` has a join token: from the invite's acceptance, or after admission). */
  get participant(): string | undefined {
    return this.#participant;
  }

  /** The meeting's id, once admitted (or from the invite). */
  get meeting(): string | undefined {
    return this.#meeting;
  }

  /** The local track of each source we publish (camera, microphone, screen). */
  get localTracks(): Readonly<Partial<Record<TrackSource, Track>>> {
    return Object.fromEntries([...this.#local].map(([source, local]) => [source, local.track]));
  }

  /** Every route the broker gave this room, oldest first, with the bridges that proved they were reached. */
  get routes(): readonly RouteReceipt[] {
    return this.#session?.receipts() ?? [];
  }

  /** Listens to one event type (or `'*'`: every event); returns the function that stops listening. */
  on<Type extends RoomEventType>(type: Type, listener: (event: RoomEventOf<Type, Track>) => void): () => void;
  on(type: '*', listener: (event: RoomEvent<Track>) => void): () => void;
  on(type: string, listener: Listener<Track>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /**
   * Joins the meeting: exchanges the invite for a join token if given one,
   * then routes and connects. Resolves once connected; rejects with a
   * GeobridgeError carrying the code when the broker refuses or the SDK
   * gives up (the `refused`/`failed` event says the same). Reconnections
   * after that are the room's own business (events tell them).
   */
  join(): Promise<void> {
    this.#joining ??= this.#join();
    return this.#joining;
  }

  async #join(): Promise<void> {
    let token = this.#options.token;
    if (token === undefined) {
      const accepted = await this.#client.acceptInvite(this.#options.invite ?? '', this.#options.name ?? '');
      token = accepted.token;
      this.#participant = accepted.participant;
      this.#meeting = accepted.meeting;
    }
    for (const source of ['camera', 'microphone'] as const) {
      const local = this.#local.get(source);
      if (local) await this.#media.setOwn(kindOf(source), local.track);
      else if (this.#initial[source] === 'capture') await this.#publishOwn(source, undefined);
    }
    if (this.#left) throw new GeobridgeError('ROOM_CLOSED', 'leave() was called before the room connected.');
    const outcome = new Promise<void>((resolve, reject) => {
      const stops = [
        this.on('connected', () => {
          for (const stop of stops) stop();
          resolve();
        }),
        this.on('refused', (e) => {
          for (const stop of stops) stop();
          reject(new GeobridgeError(e.code, e.message));
        }),
        this.on('failed', (e) => {
          for (const stop of stops) stop();
          reject(new GeobridgeError(e.code, e.message));
        }),
      ];
    });
    const session = new Session<Track>({
      broker: this.#client.url,
      client: this.#client,
      joinToken: token,
      e2ee: this.#options.e2ee ?? true,
      ...(this.#options.country !== undefined ? { country: this.#options.country } : {}),
      platform: this.#media.platform,
      onEvent: (e) => {
        this.#onSession(e);
      },
    });
    this.#session = session;
    session.join();
    if (this.#local.has('screen')) void session.shareScreen(this.#local.get('screen')?.track ?? null);
    this.#sendMediaState();
    return outcome;
  }

  /** Leaves the meeting (idempotent): tells the bridge, closes every connection, and stops the tracks the room captured. */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#session?.leave();
    if (!this.#session) this.#setState({ connection: 'left', media: 'none' });
    for (const local of this.#local.values()) if (local.owned) this.#media.stop(local.track);
    this.#local.clear();
    this.#media.close();
  }

  /** Publishes a camera: `track`, or one the platform captures (the browser asks the user). Replaces the camera published before. */
  publishCamera(track?: Track): Promise<void> {
    return this.#publishOwn('camera', track);
  }

  /** Stops publishing the camera (the others see it off; a track the room captured is stopped). */
  unpublishCamera(): Promise<void> {
    return this.#unpublishOwn('camera');
  }

  /** Publishes a microphone: `track`, or one the platform captures. Replaces the microphone published before. */
  publishMicrophone(track?: Track): Promise<void> {
    return this.#publishOwn('microphone', track);
  }

  /** Stops publishing the microphone. */
  unpublishMicrophone(): Promise<void> {
    return this.#unpublishOwn('microphone');
  }

  /** Shares a screen, end-to-end encrypted like the camera: `track`, or one the platform captures (the browser's screen picker). */
  async publishScreen(track?: Track): Promise<void> {
    this.#media.checkPublish();
    const next = track ?? (await this.#media.capture('screen'));
    this.#replaceLocal('screen', { track: next, owned: track === undefined, muted: false });
    await this.#session?.shareScreen(next);
  }

  /** Stops sharing the screen. */
  async unpublishScreen(): Promise<void> {
    if (!this.#local.has('screen')) return;
    this.#replaceLocal('screen', undefined);
    await this.#session?.shareScreen(null);
  }

  /** Mutes (or with `muted` false, unmutes) the camera or microphone in place: the track stays published, the others are told. */
  mute(source: 'camera' | 'microphone', muted = true): void {
    const local = this.#local.get(source);
    if (!local) return;
    local.muted = muted;
    this.#media.setEnabled(local.track, !muted);
    this.#sendMediaState();
  }

  /** Whether the camera or microphone is published and not muted. */
  isOn(source: 'camera' | 'microphone'): boolean {
    const local = this.#local.get(source);
    return local !== undefined && !local.muted;
  }

  /**
   * Sends a chat message, end-to-end encrypted to the meeting's MLS group.
   * False while there is no group to send to yet (not admitted or not added
   * yet, or E2EE off); a `chat` event with `self: true` follows once sent.
   * Throws CHAT_INVALID for an empty text or one over CHAT_TEXT_MAX.
   */
  sendChat(text: string): boolean {
    return this.#session?.sendChat(text) ?? false;
  }

  /**
   * The routing receipt file of this call: every route the broker gave, the
   * bridges that proved they were reached, and the transparency log's
   * proofs, which `geobridge receipt verify` checks offline. Save it as
   * JSON. Throws RECEIPT_UNAVAILABLE before the first route, or when the
   * log cannot prove it yet. `meeting` names the meeting in the file
   * (default: the invite's, when the room accepted one).
   */
  routingReceipt(options: { readonly meeting?: string; readonly coverWaitMs?: number } = {}): Promise<RoutingReceiptFile> {
    const meeting = options.meeting ?? this.#meeting;
    return buildReceiptFile({ broker: this.#client.url, client: this.#client, routes: this.routes, ...(meeting !== undefined ? { meeting } : {}), ...(options.coverWaitMs !== undefined ? { coverWaitMs: options.coverWaitMs } : {}) });
  }

  async #publishOwn(source: 'camera' | 'microphone', track: Track | undefined): Promise<void> {
    this.#media.checkPublish();
    const next = track ?? (await this.#media.capture(source));
    this.#replaceLocal(source, { track: next, owned: track === undefined, muted: false });
    await this.#media.setOwn(kindOf(source), next);
    this.#sendMediaState();
  }

  async #unpublishOwn(source: 'camera' | 'microphone'): Promise<void> {
    if (!this.#local.has(source)) return;
    this.#replaceLocal(source, undefined);
    await this.#media.setOwn(kindOf(source), null);
    this.#sendMediaState();
  }

  #replaceLocal(source: TrackSource, next: Local<Track> | undefined): void {
    const before = this.#local.get(source);
    if (before && before.track !== next?.track && before.owned) this.#media.stop(before.track);
    if (next) this.#local.set(source, next);
    else this.#local.delete(source);
  }

  #sendMediaState(): void {
    this.#session?.setMediaState(this.isOn('microphone'), this.isOn('camera'));
  }

  #setState(change: Partial<RoomState>): void {
    const merged: { -readonly [K in keyof RoomState]: RoomState[K] } = { ...this.#state, ...change };
    // Where we are connected is said only while connected.
    if (merged.connection !== 'connected') {
      delete merged.datacenter;
      delete merged.jurisdiction;
      delete merged.role;
      delete merged.attempts;
    }
    merged.healthy = merged.connection === 'connected' && merged.keys !== 'agreeing' && merged.media !== 'waiting';
    this.#state = merged;
    this.#emit({ type: 'state', state: merged });
  }

  #emit(event: RoomEvent<Track>): void {
    for (const type of [event.type, '*']) for (const listener of [...(this.#listeners.get(type) ?? [])]) listener(event);
  }

  #onSession(e: SessionEvent<Track>): void {
    switch (e.type) {
      case 'call-state':
        this.#setState(roomStateOf(e));
        return;
      case 'connected':
        this.#setState({ datacenter: e.datacenter, jurisdiction: e.jurisdiction, role: e.role, attempts: e.attempts });
        this.#emit(e);
        {
          const route = this.routes.at(-1);
          if (route) this.#emit({ type: 'route', route });
        }
        return;
      case 'reconnecting':
        this.#participants.clear();
        this.#emit(e);
        return;
      case 'participant-joined':
      case 'participant-updated':
        this.#participants.set(e.peer.id, e.peer);
        this.#emit({ type: e.type, participant: e.peer });
        return;
      case 'participant-left':
        this.#participants.delete(e.id);
        this.#emit(e);
        return;
      case 'track-added':
        this.#emit({ type: 'track-added', participant: e.peer, kind: e.kind, source: sourceOf(e.kind, e.source), track: e.track });
        return;
      case 'track-removed':
        this.#emit({ type: 'track-removed', participant: e.peer, kind: e.kind, source: sourceOf(e.kind, e.source) });
        return;
      case 'e2ee':
        this.#emit({ type: 'e2ee', epoch: e.epoch, securityCode: e.securityCode, members: e.members });
        return;
      case 'roster':
        // The roster names us: our participant id is known from here even when joined with a bare token.
        this.#participant ??= e.members.find((m) => m.self)?.participant;
        this.#emit(e);
        return;
      case 'refused':
      case 'failed':
        for (const local of this.#local.values()) if (local.owned) this.#media.stop(local.track);
        this.#emit(e);
        return;
      default:
        this.#emit(e);
    }
  }
}

/** The room's state from the session's call state (the session says `connecting` for what the room calls `routing`). */
function roomStateOf(call: CallState): Partial<RoomState> {
  return { connection: call.routing === 'connecting' ? 'routing' : call.routing, keys: call.keys, media: call.media, ...(call.datacenter !== undefined ? { datacenter: call.datacenter } : {}) };
}
