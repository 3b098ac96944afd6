/**
 * The sending end of a cascade hop: another bridge connected to this one's
 * signalling endpoint with a relay ticket (docs/cascading.md). It is
 * admitted when the broker signed the ticket for a hop from this datacenter,
 * and the connecting bridge proves it holds the key the ticket names for the
 * receiving datacenter. It is then sent only the streams of participants
 * that the ticket names, that are admitted here, and whose fences let their
 * media reach the receiving datacenter's jurisdiction under the policy in
 * force: the core's `mayCarry`, checked again on every new ticket, new
 * policy and new participant, so a hop never carries what policy forbids
 * even if the broker's plan is stale. A hop lives only as long as its
 * ticket: the bridge ends it when the ticket expires without a newer one,
 * or when the broker revokes the key that signed it.
 */
import { GeobridgeError } from '../core/errors.js';
import type { Manifest } from '../core/manifest/types.js';
import { mayCarry } from '../core/plan/plan.js';
import type { MeetingPolicy } from '../core/select/meeting-policy.js';
import { verifyBridgeProof } from '../protocol/bridge-proof.js';
import { CLOCK_TOLERANCE_SECONDS } from '../protocol/jwt.js';
import type { RelayTicketClaims } from '../protocol/relay-ticket.js';
import type { RouteTicketClaims } from '../protocol/route-ticket.js';
import type { BridgeMessage, RelayMessage } from '../protocol/signalling.js';
import type { BrokerLink } from './broker-link.js';
import { expectFingerprint, localDtlsFingerprint } from './dtls-fingerprint.js';
import { Participant, type Room } from './sfu.js';

/** What a relay session needs of its bridge. */
export interface RelayHost {
  readonly datacenter: string;
  readonly link: BrokerLink;
  /** The manifest in force, if known. */
  readonly manifest: Manifest | undefined;
  closedReason(): { code: string; message: string } | undefined;
  room(meeting: string): Room;
  /** A participant's admitted session here: its ticket's claims say whose fences bind its media. */
  admission(meeting: string, participant: string): { readonly claims: RouteTicketClaims } | undefined;
  /** The meeting's policy as the broker last sent it (admission answer, `meeting-policy`), if this bridge has one. */
  meetingPolicy(meeting: string): MeetingPolicy | undefined;
  /** Whether a relay ticket's `jti` is new (remembered until the ticket expires): each is good for one connection. */
  firstUse(jti: string, exp: number): boolean;
  log(line: Readonly<Record<string, unknown>>): void;
}

/** What the relaying bridge is told when the key that signed its ticket is revoked. */
const REVOKED_MESSAGE = "the broker revoked the key that signed this hop's relay ticket; the broker's next ticket opens it again.";

/** The id of the subscriber a relay is in the room: no participant id has a colon-prefixed `relay:`. */
export const relayId = (to: string): string => `relay:${to}`;

/** One relay connection, from `relay` to its close. */
export class RelaySession {
  readonly #host: RelayHost;
  readonly #send: (message: BridgeMessage) => void;
  /** Ends the relay's connection with a code: the receiving bridge closes the hop and the broker's next ticket opens it again. */
  readonly #end: (code: string, message: string) => void;
  #claims: RelayTicketClaims | undefined;
  /** The ticket `#claims` came from: the broker may revoke the key that signed it. */
  #ticket: string | undefined;
  #relay: Participant | undefined;
  /** The DTLS certificate the receiving bridge signed for: the only one its answers may name. */
  #peerFingerprint: string | undefined;
  #room: Room | undefined;
  /** The peers the relay has been told of (peer-joined), so that one it no longer carries is said to leave. */
  readonly #told = new Set<string>();

  constructor(host: RelayHost, send: (message: BridgeMessage) => void, end: (code: string, message: string) => void) {
    this.#host = host;
    this.#send = send;
    this.#end = end;
  }

  /** The ticket's participant streams this relay may be sent now (a filter for the room). */
  accepts(participant: string): boolean {
    const claims = this.#claims;
    const manifest = this.#host.manifest;
    if (claims === undefined || manifest === undefined || !claims.streams.includes(participant)) return false;
    const admission = this.#host.admission(claims.meeting, participant);
    const jurisdiction = manifest.datacenters.find((d) => d.id === claims.to)?.jurisdiction;
    if (admission === undefined || jurisdiction === undefined) return false;
    // The policy in force, not the one the route ticket was issued under: a narrowed account or meeting stops the hop at once.
    const policy = this.#host.meetingPolicy(claims.meeting) ?? admission.claims.policy;
    // Transit carries ciphertext only: never the stream of a sender the ticket says does not encrypt.
    return mayCarry(manifest, admission.claims.country, jurisdiction, { e2ee: claims.e2ee && claims.clear?.includes(participant) !== true }) && insideMeetingPolicy(policy, jurisdiction);
  }

  /**
   * Ends the hop when its ticket expired (plus the clock tolerance every
   * token gets) and no newer one came: the broker renews a hop it still
   * plans every HOP_REFRESH_MS (15 s; a third of a shorter ticket life), well inside it.
   */
  endIfExpired(nowMs: number): void {
    const claims = this.#claims;
    if (claims === undefined || this.#relay === undefined || nowMs < (claims.exp + CLOCK_TOLERANCE_SECONDS) * 1000) return;
    this.end('RELAY_TICKET_EXPIRED', "the hop's relay ticket expired and the broker sent no newer one; the broker's next ticket opens it again.");
  }

  /** Ends the hop when the broker revoked the key that signed its ticket (the first, or the latest `relay-update`): it may be a forgery. */
  endIfRevoked(): void {
    if (this.#ticket === undefined || this.#relay === undefined || !this.#host.link.signedByRevokedKey(this.#ticket)) return;
    this.end('KEY_REVOKED', REVOKED_MESSAGE);
  }

  /** Stops sending at once and closes the relay's connection with `code` (the receiving bridge tells the broker it lost the hop). */
  end(code: string, message: string): void {
    const claims = this.#claims;
    this.#host.log({ level: 'warn', msg: 'relay ended', code, meeting: claims?.meeting, to: claims?.to, jti: claims?.jti });
    void this.close();
    this.#end(code, message);
  }

  /** Checks the ticket and the relaying bridge's proof, then starts sending. Throws why not. */
  async open(message: RelayMessage): Promise<void> {
    const host = this.#host;
    const closed = host.closedReason();
    if (closed) throw new GeobridgeError(closed.code, closed.message);
    const claims = await host.link.verifyRelayTicket(message.ticket, 'from');
    const proved = await verifyBridgeProof({ kty: 'OKP', crv: 'Ed25519', x: claims.toKey }, message.proof, { datacenter: claims.to, challenge: message.challenge, participant: claims.jti });
    // The challenge is the connecting side's: only the certificate it signed keeps a relay in the middle from answering the offers.
    if (proved.fingerprint === undefined) throw new GeobridgeError('BRIDGE_PROOF_INVALID', `the proof of ${claims.to} names no DTLS certificate: its bridge is of a geobridge before hops were bound to one; upgrade it.`);
    if (!host.firstUse(claims.jti, claims.exp)) throw new GeobridgeError('RELAY_TICKET_REUSED', 'this relay ticket was already used for a connection; the broker sends a fresh one.');
    this.#claims = claims;
    this.#peerFingerprint = proved.fingerprint;
    this.#ticket = message.ticket;
    const room = host.room(claims.meeting);
    const id = relayId(claims.to);
    // One relay per hop: a newer connection of the same receiving bridge replaces the old one.
    await room.removeRelay(id);
    const relay = new Participant(id, `relay to ${claims.to}`, room.peerConfig(), {
      offer: (sdp, streams) => {
        this.#send({ type: 'offer', sdp, streams });
      },
      notify: (m) => {
        this.#notify(m);
      },
      failed: () => {
        host.log({ level: 'warn', msg: 'relay media path failed', meeting: claims.meeting, to: claims.to });
        this.#end('RELAY_FAILED', "the hop's media path failed (ICE or DTLS); the broker's next ticket opens it again.");
      },
    });
    relay.accepts = (participant): boolean => this.accepts(participant);
    // A hop's receiving end takes a mid an offer stopped labelling and a later one labels again as a new stream
    // (relay-link.ts, since hops exist): a long cascaded meeting's hop offers stay the size of what they carry.
    relay.recycles = true;
    this.#relay = relay;
    this.#room = room;
    const peers = [...room.participants.values()].filter((p) => this.accepts(p.id)).map((p) => p.info());
    for (const p of peers) this.#told.add(p.id);
    this.#send({ type: 'relay-admitted', proof: await host.link.prove(message.challenge, claims.to, await localDtlsFingerprint()), peers });
    await room.addRelay(relay);
    host.log({ level: 'info', msg: 'relay admitted', meeting: claims.meeting, to: claims.to, streams: peers.map((p) => p.id) });
  }

  /** The receiving bridge's answer to an offer: taken only over the DTLS certificate it signed for. */
  async answer(sdp: string): Promise<void> {
    if (this.#peerFingerprint === undefined || this.#relay === undefined) return;
    expectFingerprint(sdp, this.#peerFingerprint, 'answer of the receiving bridge');
    await this.#relay.answer(sdp);
  }

  /** A newer ticket for the same hop: the streams it names from now on. */
  async update(ticket: string): Promise<void> {
    const claims = await this.#host.link.verifyRelayTicket(ticket, 'from');
    // Revoked while it was being verified (its key was still good when asked for): the bridge dropped the hops it knew of then.
    if (this.#host.link.signedByRevokedKey(ticket)) throw new GeobridgeError('KEY_REVOKED', REVOKED_MESSAGE);
    const old = this.#claims;
    if (old === undefined || claims.meeting !== old.meeting || claims.to !== old.to || claims.toKey !== old.toKey) {
      throw new GeobridgeError('RELAY_TICKET_INVALID', 'a relay update must be for the same meeting, receiving bridge and key');
    }
    this.#claims = claims;
    this.#ticket = ticket;
    this.recheck();
  }

  /** Applies the filter again (a new ticket or policy, a participant gone): streams no longer allowed stop now, and the relay hears who it no longer carries. */
  recheck(): void {
    const relay = this.#relay;
    const room = this.#room;
    if (!relay || !room) return;
    room.refilter(relay);
    for (const p of room.participants.values()) {
      const carried = this.accepts(p.id);
      if (carried && !this.#told.has(p.id)) this.#notify({ type: 'peer-joined', peer: p.info() });
      if (!carried && this.#told.has(p.id)) this.#notify({ type: 'peer-left', id: p.id });
    }
    for (const id of this.#told) if (!room.participants.has(id)) this.#notify({ type: 'peer-left', id });
  }

  async close(): Promise<void> {
    const relay = this.#relay;
    if (!relay || !this.#room) return;
    this.#relay = undefined;
    if (this.#room.relays.get(relay.id) === relay) await this.#room.removeRelay(relay.id);
    else await relay.close();
  }

  get room(): Room | undefined {
    return this.#room;
  }

  get participant(): Participant | undefined {
    return this.#relay;
  }

  #notify(m: BridgeMessage): void {
    if (m.type === 'peer-joined') this.#told.add(m.peer.id);
    if (m.type === 'peer-left') {
      if (!this.#told.delete(m.id)) return;
    }
    this.#send(m);
  }
}

/** An account's or meeting's own jurisdiction lists narrow where its participants' media may be, on hops as well. */
function insideMeetingPolicy(policy: MeetingPolicy, jurisdiction: string): boolean {
  return (policy.accountJurisdictions?.includes(jurisdiction) ?? true) && (policy.meetingJurisdictions?.includes(jurisdiction) ?? true);
}
