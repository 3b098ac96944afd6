/**
 * A bridge: the media server of one datacenter. Clients reach it over one
 * WebSocket (the signalling protocol in src/protocol/signalling.ts), present the
 * route ticket the broker signed, and are admitted only if the ticket names
 * this datacenter and its jurisdiction, is unexpired and verifies against
 * the broker's keys; the bridge proves in return that it holds its
 * datacenter's key. Every admission and departure is reported to the
 * broker, which keeps the member lists and the audit log.
 *
 * The broker's decisions reach the data plane through the control channel
 * (control-channel.ts): on a new policy the bridge re-checks every admitted
 * participant through the core's one rule and removes those now outside
 * their fence before it forwards another packet; it moves, ends or evicts
 * when told; it renews tickets while participants are entitled; and without
 * the channel it admits nobody and, after its grace, forwards nothing.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { JWK } from 'jose';
import { WebSocketServer } from 'ws';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import type { Manifest } from '../core/manifest/types.js';
import { routeRequestFor, whyNotHeldAt, type MeetingPolicy } from '../core/select/meeting-policy.js';
import { allowedJurisdictions } from '../core/select/select.js';
import { allowedIceServers } from '../core/ice/allowed.js';
import type { ControlCommand } from '../protocol/control-commands.js';
import { MAX_SIGNALLING_FRAME_BYTES, SIGNALLING_SUBPROTOCOL, type GroupDeliveryMessage, type IceServer, type UnreachablePeer } from '../protocol/signalling.js';
import { BrokerLink } from './broker-link.js';
import { ClientConnection, type Admission, type AdmissionHold, type AdmissionHost } from './client-connection.js';
import { MeetingPolicies } from './meeting-policies.js';
import { ControlChannel, type PolicyInForce } from './control-channel.js';
import { IceConfiguration } from './ice-servers.js';
import { RelayLink } from './relay-link.js';
import type { RelaySession } from './relay-session.js';
import { Room, warmUp, type MediaOptions } from './sfu.js';
import { TicketRenewals } from './ticket-renewals.js';
import { onDtlsKeyRefused } from '../node/dtls-key-proof.js';
import { listenFailure } from '../node/listen-failure.js';

/** Options of `startBridge` (the `geobridge bridge` flags). */
export interface BridgeOptions {
  readonly datacenter: string;
  /** The broker, or the brokers of one deployment (shared store and bus) in the order to try them; the bridge moves to the next when one fails. */
  readonly broker: string | readonly string[];
  readonly privateJwk: JWK;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The signalling URL clients use; defaults to ws://host:port/signal. */
  readonly publicUrl?: string;
  readonly media: MediaOptions;
  /**
   * The STUN/TURN servers this bridge uses, with their credentials. Each URL
   * must be one the manifest declares for this datacenter (startBridge
   * refuses ICE_SERVER_NOT_DECLARED otherwise); a participant is handed only
   * those inside their allowed jurisdictions (ice-servers.ts).
   */
  readonly iceServers?: readonly IceServer[];
  /** Every this many ms; the broker marks the datacenter down after a few missed. */
  readonly heartbeatMs: number;
  /** How long SIGTERM waits for clients to move before closing (ms). */
  readonly drainMs: number;
  /** How long the bridge keeps forwarding without its control channel to the broker (ms); then it drops everyone. */
  readonly controlGraceMs?: number;
  /** How long a client has to send `join` after connecting (ms). */
  readonly joinTimeoutMs?: number;
  /** How long an admitted participant's media path has to come up (ms; default 30 s): then the session ends (MEDIA_PATH_FAILED). */
  readonly connectTimeoutMs?: number;
  readonly log?: (line: Readonly<Record<string, unknown>>) => void;
}

/** A running bridge. */
export interface RunningBridge {
  readonly url: string;
  readonly datacenter: string;
  /** The broker the bridge talks to now (one of `BridgeOptions.broker`). */
  readonly broker: string;
  /** Participants by meeting, for tests and heartbeats. */
  readonly rooms: ReadonlyMap<string, Room>;
  /** What it keeps to tell a cascaded meeting's newcomers of the peers they cannot exchange media with. */
  unreachableOf(meeting: string): Extract<ControlCommand, { type: 'unreachable' }> | undefined;
  /** Stops admitting, tells every client to move, and closes when they are gone or after `drainMs`. */
  drain(): Promise<void>;
  /** Closes at once. */
  close(): Promise<void>;
}

/** Broker answers that say "not now" rather than "no". */
const RETRYABLE_ENROLMENT_CODES = new Set(['STORE_UNAVAILABLE', 'AUDIT_UNAVAILABLE', 'INTERNAL', 'RATE_LIMITED', 'BROKER_UNREACHABLE']);

/** How long the channel may lag the broker's policy version before the bridge resets it. */
const STUCK_CHANNEL_MS = 5000;

/** How long an admitted participant's media path may take to come up: about as long as a browser's ICE takes to give up. */
const CONNECT_TIMEOUT_MS = 30_000;
/** What a participant whose ticket was signed by a revoked key is told. */
const REVOKED_MESSAGE = 'the broker revoked the key that signed your route ticket; ask the broker for a fresh route.';

/** How long `close` waits for peer connections to shut. */
const CLOSE_WAIT_MS = 2000;

/** The default grace without a control channel: long enough for a broker restart, short enough that a cut-off bridge does not linger. */
export const DEFAULT_CONTROL_GRACE_MS = 10_000;

/** Starts a bridge: listens, opens its control channel, enrols with the broker (first heartbeat), then keeps heart-beating. */
export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const http = createServer();
  await new Promise<void>((resolve, reject) => {
    http.once('error', (error) => {
      reject(listenFailure(error, options.host, options.port));
    });
    http.listen(options.port, options.host, resolve);
  });
  const port = (http.address() as AddressInfo).port;
  const url = options.publicUrl ?? `ws://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/signal`;
  const link = await BrokerLink.open({ broker: options.broker, datacenter: options.datacenter, privateJwk: options.privateJwk, url, ...(options.log ? { log: options.log } : {}) });
  const bridge = new Bridge(options, url, link, http);
  await bridge.start();
  return bridge;
}

/** A bridge and everything it owns: rooms, client connections, the control channel, timers, the HTTP server. */
class Bridge implements RunningBridge, AdmissionHost {
  readonly url: string;
  readonly datacenter: string;
  readonly #options: BridgeOptions;
  readonly #link: BrokerLink;
  readonly #http: ReturnType<typeof createServer>;
  readonly #wss: WebSocketServer;
  readonly #rooms = new Map<string, Room>();
  /** Admitted sessions, by participant, per meeting. */
  readonly #admissions = new Map<string, Map<string, Admission>>();
  /** The policy each meeting's participants and hops are held to, as the broker last gave it (admission answers, `meeting-policy`). */
  readonly #meetingPolicies = new MeetingPolicies();
  readonly #control: ControlChannel;
  readonly #renewals: TicketRenewals<Admission>;
  readonly #ice: IceConfiguration;
  /** Relays other bridges take from this one (the sending ends of cascade hops). */
  readonly #relaySessions = new Set<RelaySession>();
  /** Hops into this bridge (the receiving ends), by meeting and sending datacenter. */
  readonly #relayLinks = new Map<string, RelayLink>();
  /** Who cannot exchange media with whom in each cascaded meeting here, as the broker last said. */
  readonly #unreachable = new Map<string, Extract<ControlCommand, { type: 'unreachable' }>>();
  /** What the broker sent for participants whose admission is under way (`holdForAdmission`), one per admission, oldest first. */
  readonly #held = new Set<HeldForAdmission>();
  /** Relay tickets used for a connection, with their expiry (s): each is good once. */
  readonly #usedRelayTickets = new Map<string, number>();
  readonly #log: (line: Readonly<Record<string, unknown>>) => void;
  #beat: ReturnType<typeof setInterval> | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #draining = false;
  #closed = false;
  /** Stops logging DTLS peers that did not prove their certificate's key (process-wide: werift has one DTLS stack). */
  readonly #stopDtlsLog: () => void;
  /** Since when the broker's policy version has been ahead of the channel's (monotonic ms). */
  #behindSince: number | undefined;
  #cpuBefore = process.cpuUsage();
  #cpuAt = performance.now();
  /** The event loop's busy time up to the last heartbeat: the broker sheds load from a bridge whose loop cannot keep up. */
  #loopBefore = performance.eventLoopUtilization();

  constructor(options: BridgeOptions, url: string, link: BrokerLink, http: ReturnType<typeof createServer>) {
    this.#options = options;
    this.url = url;
    this.datacenter = options.datacenter;
    this.#link = link;
    this.#http = http;
    this.#log = options.log ?? ((): void => undefined);
    this.#stopDtlsLog = onDtlsKeyRefused((reason) => {
      this.#log({ level: 'warn', msg: 'a DTLS peer did not prove it holds its certificate key; its connection failed', reason });
    });
    this.#ice = new IceConfiguration(options.iceServers);
    http.on('request', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ datacenter: this.datacenter, status: this.#draining ? 'draining' : this.#control.ready ? 'ok' : 'cut-off' }));
    });
    this.#wss = new WebSocketServer({
      server: http,
      path: '/signal',
      maxPayload: MAX_SIGNALLING_FRAME_BYTES,
      handleProtocols: (protocols) => (protocols.has(SIGNALLING_SUBPROTOCOL) ? SIGNALLING_SUBPROTOCOL : false),
    });
    this.#wss.on('connection', (socket, request) => {
      new ClientConnection(socket, request.socket.remoteAddress ?? '', this, { joinMs: options.joinTimeoutMs ?? 10_000, connectMs: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS }).serve();
    });
    this.#control = new ControlChannel(
      { link, graceMs: options.controlGraceMs ?? DEFAULT_CONTROL_GRACE_MS },
      {
        onPolicy: (policy) => {
          this.#recheck(policy);
        },
        onCommand: (command) => {
          this.#obey(command);
        },
        onKeysRevoked: () => {
          this.#dropRevoked();
        },
        onCutOff: () => {
          this.#cutOff();
        },
        onLog: this.#log,
      },
    );
    this.#renewals = new TicketRenewals(link, {
      onRenewed: (admission) => {
        admission.send({ type: 'ticket', ticket: admission.ticket });
      },
      onEnded: (admission, code, message) => {
        this.end(admission, code, message);
      },
      onLog: this.#log,
    });
  }

  get rooms(): ReadonlyMap<string, Room> {
    return this.#rooms;
  }

  /** What this bridge keeps to tell a cascaded meeting's newcomers of the peers they cannot exchange media with, if anything. */
  unreachableOf(meeting: string): Extract<ControlCommand, { type: 'unreachable' }> | undefined {
    return this.#unreachable.get(meeting);
  }

  /**
   * A meeting nobody here attends any more, nor relays: its room goes, and
   * what was kept for its newcomers (the broker tells a bridge again when a
   * newcomer's list differs, and a meeting everyone left at once is never
   * told an empty one).
   */
  #forgetRoom(meeting: string): void {
    this.#rooms.delete(meeting);
    this.#unreachable.delete(meeting);
  }

  get broker(): string {
    return this.#link.broker;
  }

  /** Enrols (retrying while the broker is busy or starting), then heart-beats; a bridge that cannot enrol closes what it opened. */
  async start(): Promise<void> {
    this.#control.open();
    try {
      await this.#checkIceServers();
      await warmUp(this.#options.media);
      await this.#enrol();
    } catch (error) {
      await this.close();
      throw error;
    }
    // Clients routed here as soon as the heartbeat enrolled the bridge find it admitting.
    await this.#control.whenReady(5000);
    this.#beat = setInterval(() => {
      this.#heartbeat().catch((error: unknown) => {
        this.#log({ level: 'warn', msg: 'heartbeat failed', error: error instanceof Error ? error.message : String(error) });
      });
    }, this.#options.heartbeatMs);
    this.#tick = setInterval(() => {
      const now = Date.now();
      for (const room of this.#rooms.values()) room.tick();
      this.#renewals.tick(this.#allAdmissions(), now);
      for (const session of [...this.#relaySessions]) session.endIfExpired(now);
    }, 1000);
  }

  // ------------------------------------------------------------ AdmissionHost (client-connection.ts)

  get link(): BrokerLink {
    return this.#link;
  }

  /** The servers a participant with these allowed jurisdictions is handed: declared in the manifest in force, inside them, and configured here. */
  iceServersFor(allowedJurisdictions: readonly string[]): readonly IceServer[] {
    return this.#ice.handOut(this.#control.policy?.manifest, this.datacenter, allowedJurisdictions);
  }

  /** Before enrolling, so a bridge refused for its STUN/TURN configuration was never routable; without the manifest in 5 s it starts, and warns when it comes. */
  async #checkIceServers(): Promise<void> {
    if (!this.#ice.configured) return;
    await this.#control.whenReady(5000);
    const manifest = this.#control.policy?.manifest;
    if (manifest) this.#ice.refuseUndeclared(manifest, this.datacenter);
  }

  get media(): MediaOptions {
    return this.#options.media;
  }

  /** The manifest in force, once the control channel delivered it. */
  get manifest(): Manifest | undefined {
    return this.#control.policy?.manifest;
  }

  firstUse(jti: string, exp: number): boolean {
    const now = Date.now() / 1000;
    for (const [used, until] of this.#usedRelayTickets) if (until < now) this.#usedRelayTickets.delete(used);
    if (this.#usedRelayTickets.has(jti)) return false;
    this.#usedRelayTickets.set(jti, exp);
    return true;
  }

  relayOpened(session: RelaySession): void {
    this.#relaySessions.add(session);
    // Revoked while the hop was being admitted: #dropRevoked did not know of it yet.
    session.endIfRevoked();
  }

  relayClosed(session: RelaySession): void {
    this.#relaySessions.delete(session);
    const room = session.room;
    if (room?.empty === true && this.#rooms.get(room.meeting) === room) this.#forgetRoom(room.meeting);
  }

  /** Why nobody may be admitted now, if so. */
  closedReason(): { code: string; message: string } | undefined {
    if (this.#draining || this.#closed) return { code: 'BRIDGE_DRAINING', message: 'this bridge is shutting down; ask the broker for a fresh route.' };
    if (!this.#control.ready) return { code: 'BRIDGE_CUT_OFF', message: 'this bridge has lost its control channel to the broker and admits nobody until it is back; ask the broker for a fresh route.' };
    return undefined;
  }

  log(line: Readonly<Record<string, unknown>>): void {
    this.#log(line);
  }

  /** The room of a meeting, made on first use. */
  room(meeting: string): Room {
    let room = this.#rooms.get(meeting);
    if (!room) {
      room = new Room(meeting, this.#options.media);
      this.#rooms.set(meeting, room);
    }
    return room;
  }

  meetingPolicy(meeting: string): MeetingPolicy | undefined {
    return this.#meetingPolicies.get(meeting);
  }

  /** The session of a participant in a meeting, if admitted here. */
  admission(meeting: string, participant: string): Admission | undefined {
    return this.#admissions.get(meeting)?.get(participant);
  }

  holdForAdmission(meeting: string, participant: string): AdmissionHold {
    const held: HeldForAdmission = { meeting, participant, messages: [], commands: [] };
    this.#held.add(held);
    return {
      enter: (admission, policy, revision) => this.#enter(admission, policy, revision, held),
      release: (admission) => {
        this.#held.delete(held);
        const messages = held.messages.splice(0);
        if (admission) for (const message of messages) admission.send(message);
      },
    };
  }

  /**
   * Records an admitted session and the policy its meeting is held to, unless
   * the policy in force already rules it out, or a command the broker sent
   * while it answered does (`held`): then it has been ended.
   */
  #enter(admission: Admission, policy: MeetingPolicy, revision: number | undefined, held: HeldForAdmission): boolean {
    const { meeting, sub } = admission.claims;
    // Unless a later revision came first (a command, or another admission's answer): then that one holds.
    this.#meetingPolicies.take(meeting, policy, revision);
    let inMeeting = this.#admissions.get(meeting);
    if (!inMeeting) this.#admissions.set(meeting, (inMeeting = new Map<string, Admission>()));
    inMeeting.set(sub, admission);
    // Revoked while the broker was answering this admission.
    if (this.#link.signedByRevokedKey(admission.ticket)) {
      this.end(admission, 'KEY_REVOKED', REVOKED_MESSAGE);
      return false;
    }
    const reason = this.#outOfPolicy(admission);
    if (reason !== undefined) {
      this.end(admission, 'TICKET_OUTSIDE_FENCE', `under the policy in force, ${reason}; ask for a fresh route.`);
      return false;
    }
    // Sent after the broker's answer was made (a change that saw this member's row), but arrived before it.
    for (const command of held.commands.splice(0)) this.#obeyFor(admission, command);
    return this.admission(meeting, sub) === admission;
  }

  /**
   * Ends a session: forwarding to and from it stops at once, the client is
   * told why (or to move, for `MOVED`), and the broker hears who left and
   * why. Idempotent.
   */
  end(admission: Admission, code: string | undefined, message: string, byChoice = false): void {
    const { meeting, sub } = admission.claims;
    const inMeeting = this.#admissions.get(meeting);
    if (inMeeting?.get(sub) !== admission) return;
    inMeeting.delete(sub);
    if (inMeeting.size === 0) {
      this.#admissions.delete(meeting);
      this.#meetingPolicies.forget(meeting);
    }
    this.#renewals.forget(admission);
    const room = this.#rooms.get(meeting);
    if (room?.participants.get(sub) === admission.participant) {
      void room.remove(sub).catch(() => undefined);
      room.tell(sub, { type: 'peer-left', id: sub });
      // A cascaded meeting's group is the broker's: it hears of the departure below.
      if (!admission.cascaded) for (const out of room.mls.left(sub, [...room.participants.keys()])) room.participants.get(out.to)?.notify(out.message);
      // Hops into a meeting nobody here attends any more carry nothing anyone receives.
      if (room.participants.size === 0) for (const [key, link] of this.#relayLinks) if (key.startsWith(meetingKey(meeting, ''))) link.close('nobody here attends the meeting any more');
      if (room.empty) this.#forgetRoom(meeting);
    }
    admission.close(code, message);
    // A session that left by itself has no code; one the bridge removed is audited with its reason.
    void this.#link.left(sub, meeting, admission.claims.decision, code === 'MOVED' ? undefined : code, message, byChoice).catch(() => undefined);
    this.#log({ level: 'info', msg: code === undefined ? 'left' : 'removed', participant: sub, meeting, ...(code !== undefined ? { code } : {}) });
  }

  // ------------------------------------------------------------ the broker's decisions

  /** A new manifest is in force: everyone admitted is checked again, through the decider. */
  #recheck(policy: PolicyInForce): void {
    this.#log({ level: 'info', msg: 'policy in force', version: policy.version });
    const undeclared = this.#ice.undeclared(policy.manifest, this.datacenter);
    if (undeclared.length > 0) this.#log({ level: 'warn', msg: 'configured STUN/TURN servers the manifest does not declare for this datacenter are not handed out', code: 'ICE_SERVER_NOT_DECLARED', urls: undeclared });
    for (const admission of [...this.#allAdmissions()]) {
      const reason = this.#outOfPolicy(admission);
      if (reason !== undefined) this.end(admission, 'TICKET_OUTSIDE_FENCE', `the policy changed: ${reason}; ask for a fresh route.`);
    }
    // Every hop from here is held to the new fences before another packet crosses it.
    for (const session of this.#relaySessions) session.recheck();
  }

  /**
   * Why the policy in force no longer allows this session here, if it does
   * not: this datacenter, or a STUN/TURN server it was handed at admission
   * (its media may be relayed there), is outside what the participant may use.
   */
  #outOfPolicy(admission: Admission): string | undefined {
    const manifest = this.#control.policy?.manifest;
    // No manifest yet means no admission either (closedReason); fail closed all the same.
    if (!manifest) return `no policy is known for ${this.datacenter}`;
    const { country, meeting } = admission.claims;
    const policy = this.#meetingPolicies.get(meeting);
    const why = whyNotHeldAt(manifest, this.datacenter, country, policy);
    if (why !== undefined) return `${this.datacenter} is outside what your participants may use (${why})`;
    if (admission.iceServers.length === 0) return undefined;
    const still = new Set(allowedIceServers(manifest, this.datacenter, allowedJurisdictions(manifest, routeRequestFor(country, policy))).flatMap((server) => server.urls));
    const outside = admission.iceServers.flatMap((server) => server.urls).filter((url) => !still.has(url));
    return outside.length === 0 ? undefined : `the STUN/TURN servers you were handed (${outside.join(', ')}) are outside what your participants may use`;
  }

  /**
   * The broker revoked a signing key: whoever holds a ticket it signed leaves
   * at once, since that ticket may be a forgery. The client takes a fresh
   * route with its join token (or needs a new link, if that key signed it);
   * a hop's receiving bridge tells the broker, which opens the hop again
   * with a ticket of its new key.
   */
  #dropRevoked(): void {
    for (const admission of [...this.#allAdmissions()]) if (this.#link.signedByRevokedKey(admission.ticket)) this.end(admission, 'KEY_REVOKED', REVOKED_MESSAGE);
    for (const session of [...this.#relaySessions]) session.endIfRevoked();
  }

  #obey(command: Exclude<ControlCommand, { type: 'policy' | 'keys' }>): void {
    // A cascaded meeting's group messages are many and say nothing an operator needs.
    if (command.type !== 'mls') this.#log({ level: 'info', msg: 'control', command: command.type, meeting: command.meeting });
    const inMeeting = [...(this.#admissions.get(command.meeting)?.values() ?? [])];
    if (isAdmissionCommand(command)) {
      // Also for sessions being admitted: the broker's answer to their admission may come after this.
      for (const held of this.#held.values()) {
        if (held.meeting === command.meeting && (command.type !== 'evict' || held.participant === command.participant)) held.commands.push(command);
      }
    }
    switch (command.type) {
      case 'meeting-policy':
        // Held to it while someone here attends the meeting; a revision older than the one held changes nothing.
        if (inMeeting.length > 0 && !this.#meetingPolicies.take(command.meeting, command.policy, command.revision)) {
          this.#log({ level: 'warn', msg: 'a meeting policy older than the one held was not taken', meeting: command.meeting, revision: command.revision });
          return;
        }
        for (const admission of inMeeting) this.#recheckPolicy(admission);
        for (const session of this.#relaySessions) if (session.room?.meeting === command.meeting) session.recheck();
        return;
      case 'move':
      case 'evict':
        for (const admission of inMeeting) this.#obeyFor(admission, command);
        return;
      case 'end':
        for (const admission of inMeeting) this.#obeyFor(admission, command);
        this.#closeRelays(command.meeting, `the meeting has ended (${command.reason})`);
        return;
      case 'relay':
        void this.#relay(command.meeting, command.from, command.url, command.ticket).catch((error: unknown) => {
          this.#log({ level: 'warn', msg: 'relay not opened', meeting: command.meeting, from: command.from, code: isGeobridgeError(error) ? error.code : 'BRIDGE_ERROR', error: error instanceof Error ? error.message : String(error) });
        });
        return;
      case 'relay-end':
        this.#relayLinks.get(meetingKey(command.meeting, command.from))?.close(command.reason);
        return;
      case 'mls':
        for (const { to, message } of command.deliveries) {
          for (const id of to) {
            // The participant's latest admission under way, if any: an earlier one is being replaced.
            const held = [...this.#held].findLast((h) => h.meeting === command.meeting && h.participant === id);
            if (held) held.messages.push(message);
            else this.admission(command.meeting, id)?.send(message);
          }
        }
        return;
      case 'unreachable':
        if (command.pairs.length === 0) this.#unreachable.delete(command.meeting);
        else this.#unreachable.set(command.meeting, command);
        for (const admission of inMeeting) this.tellUnreachable(admission, true);
        return;
    }
  }

  /** What a command about its meeting does to one of its sessions (`meeting-policy` also holds the meeting to the policy). */
  #obeyFor(admission: Admission, command: AdmissionCommand): void {
    switch (command.type) {
      case 'meeting-policy':
        if (this.#meetingPolicies.take(command.meeting, command.policy, command.revision)) this.#recheckPolicy(admission);
        return;
      case 'move':
        this.end(admission, 'MOVED', command.reason);
        return;
      case 'end':
        this.end(admission, 'MEETING_ENDED', `the meeting has ended (${command.reason}).`);
        return;
      case 'evict':
        if (admission.claims.sub === command.participant && admission.claims.decision === command.session) this.end(admission, command.code, command.reason);
        return;
    }
  }

  /** Ends a session its meeting's new policy rules out. */
  #recheckPolicy(admission: Admission): void {
    const reason = this.#outOfPolicy(admission);
    if (reason !== undefined) this.end(admission, 'TICKET_OUTSIDE_FENCE', `your organisation's policy changed: ${reason}; ask for a fresh route.`);
  }

  /** Tells a participant of a cascaded meeting whom it cannot exchange media with, and why (the whole list; with `clear`, also an empty one). */
  tellUnreachable(admission: Admission, clear = false): void {
    const command = this.unreachableOf(admission.claims.meeting);
    // Only a cascaded meeting's participants hear of it (an older client refuses a message it does not know).
    if (command === undefined && !clear) return;
    const id = admission.claims.sub;
    const names = new Map(command?.names.map((n) => [n.id, n.name]));
    const peers = (command?.pairs ?? []).flatMap((p): UnreachablePeer[] => {
      if (p.to === id) return [{ id: p.from, name: names.get(p.from) ?? '', direction: 'from', reason: p.reason }];
      if (p.from === id) return [{ id: p.to, name: names.get(p.to) ?? '', direction: 'to', reason: p.reason }];
      return [];
    });
    admission.send({ type: 'unreachable', peers });
  }

  /** Opens the hop `from` → here for a meeting with a relay ticket the broker signed, or hands an open one the newer ticket. */
  async #relay(meeting: string, from: string, url: string, ticket: string): Promise<void> {
    const claims = await this.#link.verifyRelayTicket(ticket, 'to');
    if (claims.meeting !== meeting || claims.from !== from) throw new GeobridgeError('RELAY_TICKET_INVALID', `the relay ticket is for ${claims.meeting} from ${claims.from}, not ${meeting} from ${from}`);
    const key = meetingKey(meeting, from);
    const open = this.#relayLinks.get(key);
    if (open) {
      open.update(ticket);
      return;
    }
    if (this.closedReason()) return;
    const link = new RelayLink({
      room: this.room(meeting),
      url,
      ticket,
      claims,
      link: this.#link,
      log: this.#log,
      onClosed: (why, lost) => {
        if (this.#relayLinks.get(key) === link) this.#relayLinks.delete(key);
        // Lost while both bridges live: the broker sends a fresh ticket at once if its plan still holds the hop.
        if (lost && !this.closedReason()) {
          void this.#link.relayLost(meeting, from, why).catch((error: unknown) => {
            this.#log({ level: 'warn', msg: 'relay loss not reported', meeting, from, error: error instanceof Error ? error.message : String(error) });
          });
        }
        const room = this.#rooms.get(meeting);
        if (room?.empty === true) this.#forgetRoom(meeting);
      },
    });
    this.#relayLinks.set(key, link);
  }

  /** Closes every hop into and out of a meeting here. */
  #closeRelays(meeting: string, why: string): void {
    for (const [key, link] of this.#relayLinks) if (key.startsWith(meetingKey(meeting, ''))) link.close(why);
    const room = this.#rooms.get(meeting);
    for (const id of [...(room?.relays.keys() ?? [])]) void room?.removeRelay(id);
  }

  /** The control channel stayed down for the whole grace: forward nothing more. */
  #cutOff(): void {
    const all = [...this.#allAdmissions()];
    if (all.length > 0) this.#log({ level: 'warn', msg: 'cut off from the broker: dropping every participant', participants: all.length });
    for (const admission of all) this.end(admission, 'BRIDGE_CUT_OFF', 'this bridge lost its connection to the broker; ask the broker for a fresh route.');
    for (const meeting of [...this.#rooms.keys()]) this.#closeRelays(meeting, 'this bridge lost its connection to the broker');
  }

  *#allAdmissions(): Iterable<Admission> {
    for (const inMeeting of this.#admissions.values()) yield* inMeeting.values();
  }

  /** The first heartbeat, tried for up to a minute: a broker that is starting, or busy, answers late. */
  async #enrol(): Promise<void> {
    const deadline = performance.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#heartbeat();
        return;
      } catch (error) {
        // A refusal is final; only an unreachable or slow broker is worth waiting for.
        const final = isGeobridgeError(error) && !RETRYABLE_ENROLMENT_CODES.has(error.code) && !error.code.startsWith('HTTP_5');
        if (final || performance.now() > deadline) throw error;
        this.#log({ level: 'warn', msg: 'enrolment failed; trying again', attempt, error: error instanceof Error ? error.message : String(error) });
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }

  async #heartbeat(): Promise<void> {
    const used = process.cpuUsage(this.#cpuBefore);
    const elapsed = performance.now() - this.#cpuAt;
    this.#cpuBefore = process.cpuUsage();
    this.#cpuAt = performance.now();
    const cpu = elapsed > 0 ? (used.user + used.system) / 1000 / elapsed : 0;
    const loopNow = performance.eventLoopUtilization();
    const loop = performance.eventLoopUtilization(loopNow, this.#loopBefore).utilization;
    this.#loopBefore = loopNow;
    const participants = [...this.#rooms.values()].reduce((n, r) => n + r.participants.size, 0);
    // A cascaded meeting's group is the broker's to order: its rooms' own relays stay empty.
    const groups = [...this.#rooms.values()].map((r) => ({ meeting: r.meeting, ...r.mls.status })).filter((g) => g.members > 0);
    const brokerVersion = await this.#link.heartbeat({ participants, cpu: Math.round(cpu * 1000) / 1000, loop: Math.min(1, Math.round(loop * 1000) / 1000), draining: this.#draining, ...(groups.length > 0 ? { groups } : {}) });
    // The broker has been on a newer policy than the channel delivered for a while: the channel is stuck, not
    // merely a moment behind (a change is announced right after it takes effect; resetting then would lose it).
    const ours = this.#control.policy?.version;
    const behind = this.#control.ready && ours !== undefined && brokerVersion > ours;
    this.#behindSince = behind ? (this.#behindSince ?? performance.now()) : undefined;
    if (this.#behindSince !== undefined && performance.now() - this.#behindSince > STUCK_CHANNEL_MS) {
      this.#behindSince = undefined;
      this.#control.reconnect(`the broker has been on policy ${brokerVersion} for ${STUCK_CHANNEL_MS / 1000} s; the channel delivered ${ours ?? 'none'}`);
    }
  }

  // ------------------------------------------------------------ lifecycle

  async drain(): Promise<void> {
    this.#draining = true;
    // The broker stops routing here at once, and a moving client's fresh route will not name this datacenter.
    await this.#heartbeat().catch(() => undefined);
    for (const admission of [...this.#allAdmissions()]) this.end(admission, 'MOVED', 'this bridge is shutting down');
    const deadline = performance.now() + this.#options.drainMs;
    while ([...this.#rooms.values()].some((r) => r.participants.size > 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await this.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopDtlsLog();
    clearInterval(this.#beat);
    clearInterval(this.#tick);
    this.#control.close();
    for (const link of [...this.#relayLinks.values()]) link.close('the bridge is closing');
    for (const socket of this.#wss.clients) socket.terminate();
    // werift can take long to tear down a connection caught mid-handshake: close them all together, and wait a bounded time.
    const closing = [...this.#rooms.values()].flatMap((room) => [...room.participants.values()].map((p) => p.close()));
    await Promise.race([Promise.all(closing), new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
    this.#rooms.clear();
    this.#admissions.clear();
    await new Promise<void>((resolve) => {
      this.#wss.close(() => {
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      this.#http.close(() => {
        resolve();
      });
      this.#http.closeAllConnections();
    });
  }
}

/** The commands that change what a meeting's sessions may do: they reach a session being admitted once it is in. */
type AdmissionCommand = Extract<ControlCommand, { type: 'meeting-policy' | 'move' | 'end' | 'evict' }>;

function isAdmissionCommand(command: ControlCommand): command is AdmissionCommand {
  return command.type === 'meeting-policy' || command.type === 'move' || command.type === 'end' || command.type === 'evict';
}

/** What the broker sent about a participant while the broker answered its admission. */
interface HeldForAdmission {
  readonly meeting: string;
  readonly participant: string;
  /** Its group's messages (a cascaded meeting), sent to it once it is told it is in. */
  readonly messages: GroupDeliveryMessage[];
  /** Applied to it as it enters. */
  readonly commands: AdmissionCommand[];
}

/** Something of a meeting, by id: a hop into this bridge by its sending datacenter, a participant by its id. */
function meetingKey(meeting: string, id: string): string {
  return `${meeting}\u0000${id}`;
}
