/**
 * One client's signalling connection to a bridge: the join (ticket check,
 * placement, the broker's admission, the bridge's proof of identity), then
 * the client's messages in order, and its end.
 *
 * Membership is exact: an admission that completes after its socket closed
 * is rolled back at the broker, and a second connection of the same
 * participant replaces the first (one join token, one live session).
 */
import type { WebSocket } from 'ws';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import { checkIceServers } from '../core/ice/allowed.js';
import { routeRequestFor, type MeetingPolicy } from '../core/select/meeting-policy.js';
import { allowedJurisdictions } from '../core/select/select.js';
import { encodeMessage, parseClientMessage, SIGNALLING_SUBPROTOCOL, type BridgeMessage, type ClientMessage, type IceServer, type JoinMessage, type StateMessage } from '../protocol/signalling.js';
import type { RouteTicketClaims } from '../protocol/route-ticket.js';
import type { BrokerLink } from './broker-link.js';
import { LatestWins } from './latest-wins.js';
import { RelaySession, type RelayHost } from './relay-session.js';
import { Participant, type Room } from './sfu.js';
import type { Renewable } from './ticket-renewals.js';

/** An admitted session: the participant in its room, its ticket, and its socket. */
export interface Admission extends Renewable {
  readonly participant: Participant;
  readonly room: Room;
  /** A cascaded meeting: its MLS group spans bridges and the broker is its delivery service, not this room. */
  readonly cascaded: boolean;
  /** The STUN/TURN servers it was handed at admission: a policy that no longer allows one's jurisdiction ends the session. */
  iceServers: readonly IceServer[];
  send(message: BridgeMessage): void;
  /** Closes the socket: told to move (`MOVED`), refused with `code`, or simply closed (no code). */
  close(code: string | undefined, message: string): void;
}

/** What the bridge holds for one admission under way (`AdmissionHost.holdForAdmission`). */
export interface AdmissionHold {
  /** Registers the session under the meeting's policy; false when the policy in force or a held command rules it out (then it has been ended). */
  enter(admission: Admission, policy: MeetingPolicy, revision: number | undefined): boolean;
  /** Sends the held group messages to the admitted session, or drops them. */
  release(admission?: Admission): void;
}

/** What a connection needs of its bridge (a relay's, too). */
export interface AdmissionHost extends RelayHost {
  readonly datacenter: string;
  readonly link: BrokerLink;
  /** The STUN/TURN servers of the manifest in force for a participant with these allowed jurisdictions. */
  iceServersFor(allowedJurisdictions: readonly string[]): readonly IceServer[];
  closedReason(): { code: string; message: string } | undefined;
  log(line: Readonly<Record<string, unknown>>): void;
  room(meeting: string): Room;
  admission(meeting: string, participant: string): Admission | undefined;
  /**
   * Holds what the broker sends about this participant while its admission
   * is under way, since it may arrive before the broker's answer: its
   * group's messages (a cascaded meeting), which `release` sends to the
   * admitted session or drops, and the commands that change what the
   * meeting's sessions may do (`meeting-policy`, `move`, `end`, `evict`),
   * which `enter` applies to it.
   */
  holdForAdmission(meeting: string, participant: string): AdmissionHold;
  /** `byChoice`: the participant said it leaves (`leave`), so it is not coming back on another connection. */
  end(admission: Admission, code: string | undefined, message: string, byChoice?: boolean): void;
  /** In a cascaded meeting, tells the participant whom it cannot exchange media with (sent once it is in the room). */
  tellUnreachable(admission: Admission): void;
  /** A relay to another bridge was admitted, or its connection closed. */
  relayOpened(session: RelaySession): void;
  relayClosed(session: RelaySession): void;
}

/** How long a connection may take to say who it is, and an admitted participant's media path to come up (ms). */
export interface ConnectionTimeouts {
  readonly joinMs: number;
  readonly connectMs: number;
}

/** `state` messages a participant may have applied in a burst, then per second (latest-wins.ts): mute and share are human acts. */
export const STATE_BURST = 10;
export const STATE_PER_SECOND = 1;

/**
 * What the bridge may hold unsent for one connection: far more than a
 * healthy client ever lets build up (an offer is at most 256 KiB). A client
 * that stops reading its socket would otherwise have the bridge keep every
 * message for it, without end.
 */
export const MAX_UNSENT_BYTES = 4 * 1024 * 1024;

export class ClientConnection {
  readonly #socket: WebSocket;
  readonly #remote: string;
  readonly #host: AdmissionHost;
  readonly #timeouts: ConnectionTimeouts;
  #admission: Admission | undefined;
  /** Set when another bridge connected to relay (`relay` instead of `join`). */
  #relay: RelaySession | undefined;
  #joining = false;
  #closed = false;
  /** The participant's `state` messages, rate-bounded. */
  #state: LatestWins<StateMessage> | undefined;
  /** Messages are applied one after another, the join included: a client may answer or send MLS as soon as `admitted` arrives. */
  #applied: Promise<void> = Promise.resolve();

  constructor(socket: WebSocket, remote: string, host: AdmissionHost, timeouts: ConnectionTimeouts) {
    this.#socket = socket;
    this.#remote = remote;
    this.#host = host;
    this.#timeouts = timeouts;
  }

  serve(): void {
    const socket = this.#socket;
    if (socket.protocol !== SIGNALLING_SUBPROTOCOL) {
      this.#refuse('PROTOCOL', `speak the ${SIGNALLING_SUBPROTOCOL} subprotocol`);
      return;
    }
    const joinTimer = setTimeout(() => {
      if (!this.#admission) this.#refuse('JOIN_TIMEOUT', 'send a join message with your route ticket first');
    }, this.#timeouts.joinMs);
    socket.on('message', (data, isBinary) => {
      const parsed = isBinary ? { ok: false as const, error: 'binary frames are not part of the protocol' } : parseClientMessage(rawText(data));
      if (!parsed.ok) {
        this.#refuse('BAD_MESSAGE', parsed.error);
        return;
      }
      const message = parsed.message;
      if (message.type === 'relay' && !this.#joining) {
        this.#joining = true;
        const session = new RelaySession(
          this.#host,
          (m) => {
            this.#send(m);
          },
          (code, why) => {
            this.#refuse(code, why);
          },
        );
        this.#relay = session;
        this.#applied = session
          .open(message)
          .then(() => {
            if (!this.#closed) {
              this.#host.relayOpened(session);
              return;
            }
            // Closed while its ticket was checked: the room it made goes with it.
            void session.close().finally(() => {
              this.#host.relayClosed(session);
            });
          })
          .catch((error: unknown) => {
            this.#relay = undefined;
            const code = isGeobridgeError(error) ? error.code : 'BRIDGE_ERROR';
            this.#refuse(code, isGeobridgeError(error) ? error.message : 'the bridge failed to take the relay');
            this.#host.log({ level: 'info', msg: 'relay refused', code, remote: this.#remote, ...(isGeobridgeError(error) ? {} : { error: String(error) }) });
          })
          .finally(() => {
            clearTimeout(joinTimer);
          });
        return;
      }
      if (this.#relay) {
        const session = this.#relay;
        this.#applied = this.#applied.then(async () => {
          if (this.#relay !== session) return;
          await this.#handleRelay(session, message).catch((error: unknown) => {
            this.#refuse(isGeobridgeError(error) ? error.code : 'BAD_MESSAGE', isGeobridgeError(error) ? error.message : 'the message could not be applied');
          });
        });
        return;
      }
      if (message.type === 'join') {
        if (this.#joining) {
          this.#refuse('BAD_MESSAGE', 'join was already sent');
          return;
        }
        this.#joining = true;
        this.#applied = this.#join(message)
          .catch((error: unknown) => {
            const code = isGeobridgeError(error) ? error.code : 'BRIDGE_ERROR';
            this.#refuse(code, isGeobridgeError(error) ? error.message : 'the bridge failed to admit you; try again');
            this.#host.log({ level: 'info', msg: 'not admitted', code, remote: this.#remote, ...(isGeobridgeError(error) ? {} : { error: String(error) }) });
          })
          .finally(() => {
            clearTimeout(joinTimer);
          });
        return;
      }
      if (!this.#joining) {
        this.#refuse('BAD_MESSAGE', 'send join first');
        return;
      }
      this.#applied = this.#applied.then(async () => {
        // A failed or redirected admission has already closed the socket; so has a session that ended (left, replaced,
        // moved, evicted): what its client sends after that, until the close completes, is not applied.
        const admission = this.#admission;
        if (!admission || this.#socket.readyState !== this.#socket.OPEN) return;
        await this.#handle(admission, message).catch((error: unknown) => {
          this.#host.log({ level: 'warn', msg: 'signalling failed', participant: admission.claims.sub, error: error instanceof Error ? error.message : String(error) });
          // The bridge's own refusals keep their code; what werift could not take names the message and why, for the client's developer.
          if (isGeobridgeError(error)) this.#refuse(error.code, error.message);
          else this.#refuse('BAD_MESSAGE', `the '${message.type}' message could not be applied${error instanceof Error ? ` (${error.message.slice(0, 160)})` : ''}; check it against the signalling protocol (docs/media.md).`);
        });
      });
    });
    socket.on('close', () => {
      this.#closed = true;
      clearTimeout(joinTimer);
      this.#state?.close();
      if (this.#admission) this.#host.end(this.#admission, undefined, 'left');
      const relay = this.#relay;
      if (relay) {
        this.#relay = undefined;
        // Told once the relay has left its room, so that a room it leaves empty is dropped.
        void relay.close().finally(() => {
          this.#host.relayClosed(relay);
        });
      }
    });
    socket.on('error', () => undefined);
  }

  /** Admits the participant, or redirects it, or throws why not. */
  async #join(join: JoinMessage): Promise<void> {
    const { ticket: token, challenge } = join;
    const host = this.#host;
    const { link } = host;
    const closed = host.closedReason();
    if (closed) throw new GeobridgeError(closed.code, closed.message);
    let claims: RouteTicketClaims;
    try {
      claims = await link.verifyTicket(token);
    } catch (error) {
      // Who presented it is unknown until the ticket verifies; the audit still records the refusal, without the client waiting for it.
      link.refusedUnverified(isGeobridgeError(error) ? error.code : 'TICKET_INVALID');
      throw error;
    }
    const { meeting, sub } = claims;
    const proof = link.prove(challenge, sub);
    const placed = await link.claim(meeting, token);
    if (!placed.won && placed.datacenter !== host.datacenter) {
      if (!claims.candidates.includes(placed.datacenter)) {
        throw new GeobridgeError('PLACED_ELSEWHERE', `the meeting lives in ${placed.datacenter}, which your route ticket does not allow; ask the broker for a fresh route.`);
      }
      this.#send({ type: 'redirect', datacenter: placed.datacenter });
      this.#socket.close(1000, 'redirect');
      await link.refused(sub, meeting, `redirected to ${placed.datacenter}, where the meeting lives`).catch(() => undefined);
      return;
    }
    const signedProof = await proof;
    const earlier = host.admission(meeting, sub);
    const held = host.holdForAdmission(meeting, sub);
    try {
      await this.#admit(claims, signedProof, earlier, join, held);
    } finally {
      held.release();
    }
  }

  /** The broker's admission, then the participant into the room. */
  async #admit(claims: RouteTicketClaims, signedProof: string, earlier: Admission | undefined, join: JoinMessage, held: AdmissionHold): Promise<void> {
    const { ticket: token, mls: carried, sends = [] } = join;
    const encrypts = join.e2ee !== false;
    const host = this.#host;
    const { link } = host;
    const { meeting, sub } = claims;
    // The broker re-checks the ticket against the policy in force before the participant gets media, and records the member
    // (and, in a cascaded meeting, takes it into the group it orders: only there is the carried group the broker's business).
    const { policy, revision, group } = await link.admitted(sub, meeting, token, earlier !== undefined, claims.policy.cascade === true ? { carried, encrypts } : undefined);
    if (this.#closed) {
      await this.#rollBack(claims, earlier);
      return;
    }
    // From here to `room.add` nothing awaits: membership here and at the broker change together.
    if (earlier) host.end(earlier, 'SESSION_REPLACED', 'you joined this meeting again from another connection.');
    const room = host.room(meeting);
    const participant = new Participant(sub, claims.name, room.peerConfig(), {
      offer: (sdp, streams) => {
        this.#send({ type: 'offer', sdp, streams });
      },
      notify: (m) => {
        this.#send(m);
      },
      failed: (why) => {
        host.end(admission, 'MEDIA_PATH_FAILED', `${why ?? 'the media connection to this bridge failed (ICE or DTLS)'}; reconnect with a fresh route.`);
      },
    });
    participant.recycles = join.recycles === true;
    const admission: Admission = {
      participant,
      room,
      cascaded: group !== undefined,
      iceServers: [],
      ticket: token,
      claims,
      send: (m) => {
        this.#send(m);
      },
      close: (code, message) => {
        this.#end(code, message);
      },
    };
    this.#admission = admission;
    if (!held.enter(admission, policy, revision)) return;
    // Under the meeting's policy as it is now: a command held during the admission may have narrowed it.
    admission.iceServers = this.#iceServers(claims, host.meetingPolicy(meeting) ?? policy);
    const entry = group?.entry ?? room.mls.admit(sub, room.participants.size, carried, encrypts);
    this.#send({
      type: 'admitted',
      participant: sub,
      meeting,
      datacenter: host.datacenter,
      jurisdiction: link.jurisdiction ?? '',
      peers: room.peers(),
      mlsFounder: entry === 'found',
      mlsContinues: entry === 'continue',
      ...(group ? { mlsMembers: group.members } : {}),
      iceServers: admission.iceServers,
      trickle: true,
      name: claims.name,
      proof: signedProof,
    });
    held.release(admission);
    room.tell(sub, { type: 'peer-joined', peer: participant.info() });
    participant.expectConnected(this.#timeouts.connectMs);
    await room.add(participant, sends);
    if (host.admission(meeting, sub) === admission) host.tellUnreachable(admission);
    host.log({ level: 'info', msg: 'admitted', participant: sub, meeting, country: claims.country });
  }

  /**
   * What `admitted` hands out: the servers of the manifest in force inside
   * the jurisdictions the ticket allows and the policy the broker just
   * answered still allows (a narrowing since the route applies at this
   * admission), and of those only the URLs the ticket's allowance lists
   * (what its `ice` signs; the SDK would refuse any other).
   */
  #iceServers(claims: RouteTicketClaims, policy: MeetingPolicy): readonly IceServer[] {
    const { link, manifest } = this.#host;
    if (!manifest) return [];
    const now = new Set(allowedJurisdictions(manifest, routeRequestFor(claims.country, policy)));
    const handed = this.#host.iceServersFor(link.ticketJurisdictions(claims).filter((j) => now.has(j)));
    return checkIceServers(handed, link.ticketIceAllowance(claims)).accepted;
  }

  /**
   * The socket closed while the broker was recording the admission: the
   * broker now lists a member nobody is connected as. Take it back, and give
   * the row back to an earlier session of the same participant still here.
   */
  async #rollBack(claims: RouteTicketClaims, earlier: Admission | undefined): Promise<void> {
    const { link } = this.#host;
    await link.left(claims.sub, claims.meeting, claims.decision);
    if (earlier && this.#host.admission(claims.meeting, claims.sub) === earlier) await link.admitted(claims.sub, claims.meeting, earlier.ticket, false);
    this.#host.log({ level: 'info', msg: 'admission rolled back: the client left during it', participant: claims.sub, meeting: claims.meeting });
  }

  async #handle(admission: Admission, message: ClientMessage): Promise<void> {
    const { participant, room } = admission;
    switch (message.type) {
      case 'answer':
        await participant.answer(message.sdp);
        return;
      case 'candidate':
        // Not awaited: werift resolves a browser's mDNS (.local) candidate before it returns, which can
        // take seconds, and the connection's later messages (MLS commits, answers) must not wait behind it.
        // One the bridge cannot use is dropped, not fatal: the client's other candidates may do.
        void participant.addCandidate(message).then((used) => {
          if (!used) this.#host.log({ level: 'info', msg: 'trickled ICE candidate not used', participant: participant.id });
        });
        return;
      case 'state':
        (this.#state ??= new LatestWins((state) => { this.#applyState(admission, state); }, STATE_BURST, STATE_PER_SECOND)).submit(message);
        return;
      case 'leave':
        this.#host.end(admission, undefined, 'left', true);
        return;
      case 'mls':
      case 'mls-joined':
        if (admission.cascaded) {
          // The broker orders a cascaded meeting's group; its answers come back as control commands. Not awaited: answers and candidates do not wait for it.
          void this.#host.link.mls(participant.id, admission.claims.meeting, admission.claims.decision, message, admission.ticket).catch((error: unknown) => {
            this.#host.log({ level: 'warn', msg: 'MLS message not passed to the broker', participant: participant.id, code: isGeobridgeError(error) ? error.code : 'BRIDGE_ERROR', error: error instanceof Error ? error.message : String(error) });
          });
        } else if (message.type === 'mls') {
          const others = [...room.participants.keys()].filter((id) => id !== participant.id);
          for (const out of room.mls.submit(participant.id, message, others)) room.participants.get(out.to)?.notify(out.message);
        } else {
          room.mls.joined(participant.id, message.epoch, message.tag);
        }
        return;
      case 'join':
        return;
      case 'relay':
      case 'relay-update':
        throw new GeobridgeError('BAD_MESSAGE', `${message.type} is for bridges that relay, not for participants`);
    }
  }

  /** Tells the others a participant's mute and screen-share state (unless its session ended while the state waited). */
  #applyState(admission: Admission, state: StateMessage): void {
    const { participant, room } = admission;
    if (this.#host.admission(admission.claims.meeting, admission.claims.sub) !== admission) return;
    participant.audio = state.audio;
    participant.video = state.video;
    room.setScreen(participant, state.screen ?? false);
    room.tell(participant.id, { type: 'peer-updated', peer: participant.info() });
  }

  /** A relaying bridge's messages after `relay`: answers, candidates and newer tickets only. */
  async #handleRelay(session: RelaySession, message: ClientMessage): Promise<void> {
    switch (message.type) {
      case 'answer':
        await session.answer(message.sdp);
        return;
      case 'candidate':
        void session.participant?.addCandidate(message);
        return;
      case 'relay-update':
        await session.update(message.ticket);
        return;
      default:
        throw new GeobridgeError('BAD_MESSAGE', `a relay sends answer, candidate and relay-update only, not ${message.type}`);
    }
  }

  #send(message: BridgeMessage): void {
    const socket = this.#socket;
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount <= MAX_UNSENT_BYTES) {
      socket.send(encodeMessage(message));
      return;
    }
    // Not read for long: the session ends with its code (the broker hears it), and the socket goes without a goodbye it would not read.
    const admission = this.#admission;
    this.#host.log({ level: 'warn', msg: 'client not reading its socket', remote: this.#remote, unsentBytes: socket.bufferedAmount, ...(admission ? { participant: admission.claims.sub } : {}) });
    socket.terminate();
    if (admission) this.#host.end(admission, 'CLIENT_TOO_SLOW', `the bridge held more than ${String(MAX_UNSENT_BYTES / 1024 / 1024)} MiB your client did not read; reconnect.`);
  }

  #refuse(code: string, message: string): void {
    this.#send({ type: 'refused', code, message });
    this.#socket.close(1008, code.slice(0, 100));
  }

  /** The session ended (the bridge's `end`): tell the client how, and close. */
  #end(code: string | undefined, message: string): void {
    if (code === undefined) {
      this.#socket.close(1000, 'bye');
    } else if (code === 'MOVED') {
      this.#send({ type: 'move', reason: message.slice(0, 200) });
      this.#socket.close(1001, 'move');
    } else {
      this.#refuse(code, message);
    }
  }
}

function rawText(data: unknown): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return '';
}
