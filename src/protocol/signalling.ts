/**
 * The signalling protocol between a client (SDK) and a bridge: JSON text
 * frames over one WebSocket, one message per frame, defined once here for
 * both ends (docs/media.md has the sequence). The bridge is always the SDP
 * offerer, so renegotiation never collides: it offers when the client joins
 * and whenever a peer's tracks come or go; the client only answers.
 *
 *   client → bridge: join, answer, candidate, state, leave, mls, mls-joined
 *   bridge → client: admitted, offer, peer-joined, peer-updated, peer-left,
 *                    redirect, refused, move, ticket, mls, mls-result,
 *                    mls-found, mls-resync, mls-members, unreachable
 *
 * Another bridge may connect instead of a participant, to relay a cascaded
 * meeting (docs/cascading.md): it sends `relay` first, with the relay ticket
 * the broker signed and its own proof of identity, and `relay-update` when
 * the broker changes the hop; the sending bridge answers `relay-admitted`
 * with its proof, then offers the streams the ticket allows and tells the
 * peers behind them (peer-joined, -updated, -left) as it would a client.
 *
 * ICE trickles from the client when the bridge says it takes candidates
 * (`admitted.trickle`): the answer goes out at once and each local candidate
 * follows in a `candidate` message, so the bridge starts its checks without
 * waiting for the client's gathering (slow STUN or TURN servers). Without
 * it, the answer waits for gathering and carries every candidate.
 *
 * The bridge proves who it is in `admitted`: a JWS over the client's `join`
 * challenge, signed with its datacenter's key, which the broker publishes
 * (`GET /v1/bridges/keys`; bridge-proof.ts). Names come from the route ticket the broker
 * signed, never from the client. While a participant is connected the bridge
 * renews its ticket with the broker and hands it on (`ticket`); a renewal the
 * broker refuses, a ticket left to expire, or a policy that no longer allows
 * the participant here ends the connection with `refused` and its code.
 *
 * A participant publishes up to three streams on the m-lines of the
 * bridge's first offer that `streams` leaves unlabelled, in this order:
 * audio, camera video and screen video. The screen m-line is negotiated
 * from the start (the client answers it sendonly, with no track until it
 * shares), so sharing needs no renegotiation of the client's own m-lines;
 * the bridge forwards a screen only while the sharer's `state` says
 * `screen: true` and its packets flow. Others see it as a stream labelled
 * `source: 'screen'`; a stream the bridge no longer labels has ended. A
 * client that says in `join` what it sends (`sends`) has those streams in
 * the others' offers before its own answer, one offer round sooner.
 *
 * `mls` carries the meeting's MLS handshake (docs/e2ee.md): the bridge is its
 * delivery service — it orders commits per epoch and relays, never decrypts.
 * Kind `application` carries MLS application messages (the chat), relayed to
 * the room's other participants; only the group's members can read them.
 * So that a group can never be lost while participants wait for it, members
 * say when they hold it (`mls-joined`), and when the last holder leaves the
 * bridge asks one of those still waiting to found a new one (`mls-found`).
 * A delivery service that lost what it knew of the group (a cascading
 * broker that restarted), or whose messages to a bridge were lost (its
 * control channel broke), asks each participant there what it holds
 * (`mls-resync`): a member says so again (`mls-joined`), one still waiting
 * sends its key package again.
 * A participant that held the group on its last bridge names it in `join`
 * (`mls`: epoch and tag); a bridge whose room has no group yet, or that one,
 * lets it go on in it (`admitted.mlsContinues`), so a meeting that moves
 * keeps its keys and its security code.
 *
 * Parsers never throw: they return the message, or an error naming the field.
 */
import { arrayOf, bool, count, isObject, nonEmpty, objectOf, oneOf, optional, parseTagged, str, type Check, type Parsed, type Schema } from '../core/fields.js';
import { ICE_SERVERS_MAX, ICE_URLS_PER_SERVER_MAX, isIceUrl, type IceServer } from '../core/ice/rules.js';
import { ROUTE_TICKET_MAX_CHARS } from './route-ticket.js';

export type { Parsed } from '../core/fields.js';
// The ICE server shape is core's (its rules judge it); messages carry it.
export type { IceServer } from '../core/ice/rules.js';

/** The WebSocket subprotocol both ends must agree on. */
export const SIGNALLING_SUBPROTOCOL = 'geobridge.v1';

/** A frame larger than this is refused before parsing (SDP of a big meeting fits easily). */
export const MAX_SIGNALLING_FRAME_BYTES = 256 * 1024;

/** The largest MLS application message (encoded bytes) a bridge relays: a chat of 2,000 four-byte characters, padded, fits. */
export const MAX_MLS_APPLICATION_BYTES = 12 * 1024;

/** What a participant shows others. */
export interface PeerInfo {
  readonly id: string;
  readonly name: string;
  readonly audio: boolean;
  readonly video: boolean;
  /** Sharing a screen; absent means false (a bridge sends it only when true, so older clients parse the rest). */
  readonly screen?: boolean;
}

/** What a video stream shows: the camera (or, for audio, the microphone) or a shared screen. */
export type StreamSource = 'camera' | 'screen';

/** Which peer's media a transceiver of the offer carries. */
export interface StreamInfo {
  readonly mid: string;
  readonly peer: string;
  readonly kind: 'audio' | 'video';
  /** Absent means 'camera': a bridge labels only screens, so offers without one parse as before. */
  readonly source?: StreamSource;
}

/** A stream's source, absent meaning camera. */
export function streamSource(stream: StreamInfo): StreamSource {
  return stream.source ?? 'camera';
}

// ------------------------------------------------------------ client → bridge

/** First message: the route ticket the broker signed, and a fresh challenge the bridge must sign (`admitted.proof`). */
export interface JoinMessage {
  readonly type: 'join';
  readonly ticket: string;
  /** 32 random bytes, base64url without padding. */
  readonly challenge: string;
  /** The meeting's MLS group as this participant holds it from its last connection: the bridge lets it go on in it (`admitted.mlsContinues`) when the room has no group yet or this one. */
  readonly mls?: MlsHolding;
  /**
   * What it will send on its microphone and camera m-lines. The bridge puts
   * these streams in the others' next offers at once, before this client has
   * answered, and withdraws one its answer does not send. Absent: the bridge
   * waits for the answer.
   */
  readonly sends?: readonly ('audio' | 'video')[];
  /**
   * False: this client takes no part in the meeting's MLS group (it does not
   * encrypt), so the bridge never asks it to found the group; the first
   * participant that encrypts does. Absent means true.
   */
  readonly e2ee?: boolean;
  /**
   * True: this client takes a receiving m-line the bridge reuses for another
   * stream (a mid an offer stopped labelling, labelled again by a later one,
   * is a new stream). The bridge then reuses the m-lines of streams that
   * ended, and a long meeting's offers stay the size of what it carries.
   * Absent: every stream gets an m-line of its own for the connection's life.
   */
  readonly recycles?: boolean;
}
/** An MLS group a participant holds: its epoch and `groupTag` (src/mls/security-code.ts), which names the epoch without revealing a key. */
export interface MlsHolding {
  readonly epoch: number;
  readonly tag: string;
}
/** The answer to the bridge's latest offer. */
export interface AnswerMessage {
  readonly type: 'answer';
  readonly sdp: string;
}
/** One of the client's ICE candidates, gathered after its answer went out (RTCIceCandidateInit, without end-of-candidates). */
export interface CandidateMessage {
  readonly type: 'candidate';
  /** The `candidate:` attribute line (RFC 8839 §5.1). */
  readonly candidate: string;
  readonly sdpMid?: string;
  readonly sdpMLineIndex?: number;
}
/** Mute, camera and screen-share state, shown to the others. */
export interface StateMessage {
  readonly type: 'state';
  readonly audio: boolean;
  readonly video: boolean;
  /** Sharing a screen on the screen m-line; absent means false (the SDK sends it only when true, so older bridges parse the rest). */
  readonly screen?: boolean;
}
export interface LeaveMessage {
  readonly type: 'leave';
}
/** An MLS key package, commit (with the Welcome for the members it adds), proposal or application message; bytes as base64url. */
export interface MlsSubmitMessage {
  readonly type: 'mls';
  readonly kind: 'key-package' | 'commit' | 'proposal' | 'application';
  readonly data: string;
  readonly welcome?: string;
  /** With a commit: the `groupTag` of the epoch it makes, which the bridge keeps for members that come back carrying the group. */
  readonly tag?: string;
}
/** The participant now holds the meeting's group (joined by Welcome, or founded it): the bridge counts it among the holders. */
export interface MlsJoinedMessage {
  readonly type: 'mls-joined';
  readonly epoch: number;
  /** The epoch's `groupTag`. */
  readonly tag?: string;
}
/**
 * First message of a bridge that relays (instead of `join`): the relay
 * ticket, a fresh challenge for the sending bridge's proof, and the relaying
 * bridge's own proof (`BridgeProof` by the ticket's `to`, over this
 * challenge, for participant = the ticket's `jti`, which is good once).
 */
export interface RelayMessage {
  readonly type: 'relay';
  readonly ticket: string;
  readonly challenge: string;
  readonly proof: string;
}
/** A newer relay ticket for the same hop (other streams, or a renewal). */
export interface RelayUpdateMessage {
  readonly type: 'relay-update';
  readonly ticket: string;
}
export type ClientMessage = JoinMessage | AnswerMessage | CandidateMessage | StateMessage | LeaveMessage | MlsSubmitMessage | MlsJoinedMessage | RelayMessage | RelayUpdateMessage;

// ------------------------------------------------------------ bridge → client

/** The bridge admitted the participant into the meeting. */
export interface AdmittedMessage {
  readonly type: 'admitted';
  readonly participant: string;
  readonly meeting: string;
  readonly datacenter: string;
  readonly jurisdiction: string;
  readonly peers: readonly PeerInfo[];
  /** This participant founds the meeting's MLS group on this bridge (everyone else joins it). */
  readonly mlsFounder: boolean;
  /** The group `join.mls` names is the room's: go on in it, with no key package and no Welcome. Absent means false. */
  readonly mlsContinues?: boolean;
  /**
   * In a cascaded meeting, whose group spans its bridges: everyone admitted
   * to the meeting on any bridge, this participant included. Those are the
   * members the group keeps (`peers` are only whose media reaches this
   * bridge); `mls-members` updates the list. Absent: the group is this
   * bridge's room.
   */
  readonly mlsMembers?: readonly GroupMember[];
  /** STUN/TURN servers for the media connection, as the bridge's operator configured them. */
  readonly iceServers: readonly IceServer[];
  /** The bridge takes the client's ICE candidates in `candidate` messages: answer at once. Absent means false. */
  readonly trickle?: boolean;
  /** The display name the others see: the one in the route ticket. */
  readonly name: string;
  /** A compact JWS (`BRIDGE_PROOF_TYPE`) over `BridgeProof`, signed with the datacenter's key. */
  readonly proof: string;
}
/**
 * In a cascaded meeting, who this participant cannot exchange media with
 * and why (the plan's reason, e.g. FENCE): `from` — it cannot receive that
 * peer's media; `to` — that peer cannot receive its media. The whole list,
 * replacing the last (empty: nobody).
 */
export interface UnreachableMessage {
  readonly type: 'unreachable';
  readonly peers: readonly UnreachablePeer[];
}
export interface UnreachablePeer {
  readonly id: string;
  readonly name: string;
  readonly direction: 'from' | 'to';
  readonly reason: string;
}
/** The sending bridge took a relay: its proof over the relay's challenge (participant = the ticket's `to`), and the peers whose streams it will offer. */
export interface RelayAdmittedMessage {
  readonly type: 'relay-admitted';
  readonly proof: string;
  readonly peers: readonly PeerInfo[];
}
/** An SDP offer; `streams` labels the transceivers that carry other peers' media. */
export interface OfferMessage {
  readonly type: 'offer';
  readonly sdp: string;
  readonly streams: readonly StreamInfo[];
}
export interface PeerJoinedMessage {
  readonly type: 'peer-joined';
  readonly peer: PeerInfo;
}
export interface PeerUpdatedMessage {
  readonly type: 'peer-updated';
  readonly peer: PeerInfo;
}
export interface PeerLeftMessage {
  readonly type: 'peer-left';
  readonly id: string;
}
/** The meeting lives in another datacenter of the participant's ticket: connect there. */
export interface RedirectMessage {
  readonly type: 'redirect';
  readonly datacenter: string;
}
/** The bridge will not admit (or keep) the participant; the socket closes after this. */
export interface RefusedMessage {
  readonly type: 'refused';
  readonly code: string;
  readonly message: string;
}
/** The participant's route ticket, renewed by the broker while it is entitled to stay. */
export interface TicketMessage {
  readonly type: 'ticket';
  readonly ticket: string;
}
/** The bridge is draining, or the meeting moved: ask the broker for a fresh route now. */
export interface MoveMessage {
  readonly type: 'move';
  readonly reason: string;
}
/** MLS bytes from another participant, relayed (base64url): handshake, or an application message only members can read. */
export interface MlsRelayMessage {
  readonly type: 'mls';
  readonly kind: 'key-package' | 'commit' | 'proposal' | 'welcome' | 'application';
  readonly from: string;
  readonly data: string;
}
/**
 * The delivery service's answer to the participant's own commit: accepted, or
 * why not (rebase on `stale-epoch`). With `kind: 'application'` it says that
 * one of the participant's application messages was dropped (never sent when
 * one is relayed); its `reason` is a delivery rejection or `rate-limited` /
 * `too-large`.
 */
export interface MlsResultMessage {
  readonly type: 'mls-result';
  readonly accepted: boolean;
  readonly reason: string;
  readonly epoch: number;
  /** Absent for commits. */
  readonly kind?: 'application';
}
/** Nobody on this bridge holds the meeting's group any more: found a new one (and add those waiting). */
export interface MlsFoundMessage {
  readonly type: 'mls-found';
}
/** The delivery service lost what it knew of the group (a cascading broker restarted), or its messages to this bridge were lost: say again whether you hold it (`mls-joined`), or send your key package again. */
export interface MlsResyncMessage {
  readonly type: 'mls-resync';
}
/** A participant in a cascaded meeting's group scope: `since` changes each time it is admitted again (a new connection). */
export interface GroupMember {
  readonly id: string;
  readonly name: string;
  readonly since: number;
}
/** A cascaded meeting's members on every bridge, now (the whole list, replacing `admitted.mlsMembers` or the last one). */
export interface MlsMembersMessage {
  readonly type: 'mls-members';
  readonly members: readonly GroupMember[];
  /** Those who just left and said so: not moving to another bridge, so their leaves go at once. */
  readonly gone?: readonly string[];
}
/** What the MLS delivery service sends a participant: relayed bytes, its answer, a call to found, the group's scope. */
export type GroupDeliveryMessage = MlsRelayMessage | MlsResultMessage | MlsFoundMessage | MlsResyncMessage | MlsMembersMessage;
export type BridgeMessage =
  | MlsRelayMessage
  | MlsFoundMessage
  | MlsResyncMessage
  | MlsResultMessage
  | MlsMembersMessage
  | AdmittedMessage
  | UnreachableMessage
  | RelayAdmittedMessage
  | OfferMessage
  | PeerJoinedMessage
  | PeerUpdatedMessage
  | PeerLeftMessage
  | RedirectMessage
  | RefusedMessage
  | MoveMessage
  | TicketMessage;

/** A challenge: 32 bytes in base64url without padding. */
export function isChallenge(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);
}

const ID_MAX = 100;
const SDP_MAX = MAX_SIGNALLING_FRAME_BYTES;
/** A candidate line is under 200 characters; 512 leaves room for long hostnames and extensions. */
const CANDIDATE_MAX = 512;
/** Base64url of MLS bytes: a Welcome carries the ratchet tree of a large meeting. */
const mlsBytes: Check = (v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_SIGNALLING_FRAME_BYTES - 1024 && /^[A-Za-z0-9_-]+$/.test(v);

const peerInfo = objectOf({ id: nonEmpty(ID_MAX), name: str(ID_MAX), audio: bool, video: bool, screen: optional(bool) });
const iceServer = objectOf({ urls: (u) => Array.isArray(u) && u.length > 0 && u.length <= ICE_URLS_PER_SERVER_MAX && u.every(isIceUrl), username: optional(str(256)), credential: optional(str(256)) });
// A screen is video: an audio stream labelled 'screen' is refused.
const streamInfo: Check = (v) => objectOf({ mid: nonEmpty(32), peer: nonEmpty(ID_MAX), kind: oneOf('audio', 'video'), source: optional(oneOf('camera', 'screen')) })(v) && !(isObject(v) && v.kind === 'audio' && v.source === 'screen');
/** A `groupTag`: 16 bytes, base64url without padding. */
const groupTag: Check = (v) => typeof v === 'string' && /^[A-Za-z0-9_-]{22}$/.test(v);
const mlsHolding = objectOf({ epoch: count, tag: groupTag });
const groupMembers: Check = arrayOf(objectOf({ id: nonEmpty(ID_MAX), name: str(ID_MAX), since: count }), 10_000);
/** `join.sends`: 'audio' and 'video', each at most once. */
const sends: Check = (v) => arrayOf(oneOf('audio', 'video'), 2)(v) && new Set(v as unknown[]).size === (v as unknown[]).length;
const jwsOf = (max: number): Check => (v) => typeof v === 'string' && v.length <= max && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(v);
const jws = jwsOf(16_384);
/** A route ticket carries its STUN/TURN allowance, so it may be longer than the other tokens. */
const routeTicket = jwsOf(ROUTE_TICKET_MAX_CHARS);

const CLIENT_SCHEMAS: Readonly<Record<ClientMessage['type'], Schema>> = {
  join: { ticket: nonEmpty(ROUTE_TICKET_MAX_CHARS), challenge: isChallenge, mls: optional(mlsHolding), sends: optional(sends), e2ee: optional(bool), recycles: optional(bool) },
  answer: { sdp: nonEmpty(SDP_MAX) },
  candidate: { candidate: nonEmpty(CANDIDATE_MAX), sdpMid: optional(str(32)), sdpMLineIndex: optional(count) },
  state: { audio: bool, video: bool, screen: optional(bool) },
  leave: {},
  mls: { kind: oneOf('key-package', 'commit', 'proposal', 'application'), data: mlsBytes, welcome: optional(mlsBytes), tag: optional(groupTag) },
  'mls-joined': { epoch: count, tag: optional(groupTag) },
  relay: { ticket: jws, challenge: isChallenge, proof: jws },
  'relay-update': { ticket: jws },
};

const BRIDGE_SCHEMAS: Readonly<Record<BridgeMessage['type'], Schema>> = {
  admitted: { participant: nonEmpty(ID_MAX), meeting: nonEmpty(ID_MAX), datacenter: nonEmpty(ID_MAX), jurisdiction: nonEmpty(2), peers: arrayOf(peerInfo, 10_000), mlsFounder: bool, mlsContinues: optional(bool), mlsMembers: optional(groupMembers), iceServers: arrayOf(iceServer, ICE_SERVERS_MAX), trickle: optional(bool), name: str(ID_MAX), proof: jws },
  'relay-admitted': { proof: jws, peers: arrayOf(peerInfo, 10_000) },
  unreachable: { peers: arrayOf(objectOf({ id: nonEmpty(ID_MAX), name: str(ID_MAX), direction: oneOf('from', 'to'), reason: nonEmpty(64) }), 20_000) },
  offer: { sdp: nonEmpty(SDP_MAX), streams: arrayOf(streamInfo, 20_000) },
  'peer-joined': { peer: peerInfo },
  'peer-updated': { peer: peerInfo },
  'peer-left': { id: nonEmpty(ID_MAX) },
  redirect: { datacenter: nonEmpty(ID_MAX) },
  refused: { code: nonEmpty(64), message: str(1000) },
  move: { reason: str(200) },
  ticket: { ticket: routeTicket },
  mls: { kind: oneOf('key-package', 'commit', 'proposal', 'welcome', 'application'), from: nonEmpty(ID_MAX), data: mlsBytes },
  'mls-result': { accepted: bool, reason: str(64), epoch: count, kind: optional(oneOf('application')) },
  'mls-found': {},
  'mls-resync': {},
  'mls-members': { members: groupMembers, gone: optional(arrayOf(nonEmpty(ID_MAX), 10_000)) },
};

const GROUP_DELIVERY_SCHEMAS: Readonly<Record<GroupDeliveryMessage['type'], Schema>> = {
  mls: BRIDGE_SCHEMAS.mls,
  'mls-result': BRIDGE_SCHEMAS['mls-result'],
  'mls-found': BRIDGE_SCHEMAS['mls-found'],
  'mls-resync': BRIDGE_SCHEMAS['mls-resync'],
  'mls-members': BRIDGE_SCHEMAS['mls-members'],
};

/** A message the MLS delivery service may send a participant (what the broker's `mls` control command carries). */
export function isGroupDeliveryMessage(value: unknown): value is GroupDeliveryMessage {
  return parseTagged<GroupDeliveryMessage>(value, GROUP_DELIVERY_SCHEMAS, 'message').ok;
}

/** Parses a frame a client sent. */
export function parseClientMessage(frame: string): Parsed<ClientMessage> {
  return parseWith<ClientMessage>(frame, CLIENT_SCHEMAS);
}

/** Parses a frame a bridge sent. */
export function parseBridgeMessage(frame: string): Parsed<BridgeMessage> {
  return parseWith<BridgeMessage>(frame, BRIDGE_SCHEMAS);
}

/** Serializes a message (either direction). */
export function encodeMessage(message: ClientMessage | BridgeMessage): string {
  return JSON.stringify(message);
}

function parseWith<M>(frame: string, schemas: Readonly<Record<string, Schema>>): Parsed<M> {
  if (frame.length > MAX_SIGNALLING_FRAME_BYTES) return { ok: false, error: `the frame is larger than ${MAX_SIGNALLING_FRAME_BYTES} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return { ok: false, error: 'the frame is not JSON' };
  }
  return parseTagged<M>(value, schemas, 'frame');
}
