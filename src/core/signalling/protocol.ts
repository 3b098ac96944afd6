/**
 * The signalling protocol between a client (SDK) and a bridge: JSON text
 * frames over one WebSocket, one message per frame, defined once here for
 * both ends (docs/media.md has the sequence). The bridge is always the SDP
 * offerer, so renegotiation never collides: it offers when the client joins
 * and whenever a peer's tracks come or go; the client only answers.
 *
 *   client → bridge: join, answer, state, leave, mls
 *   bridge → client: admitted, offer, peer-joined, peer-updated, peer-left,
 *                    redirect, refused, move, mls, mls-result
 *
 * `mls` carries the meeting's MLS handshake (docs/e2ee.md): the bridge is its
 * delivery service — it orders commits per epoch and relays, never decrypts.
 *
 * Parsers never throw: they return the message, or an error naming the field.
 */
import { ICE_SERVERS_MAX, ICE_URLS_PER_SERVER_MAX, isIceUrl } from '../ice/rules.js';

/** The WebSocket subprotocol both ends must agree on. */
export const SIGNALLING_SUBPROTOCOL = 'geobridge.v1';

/** A frame larger than this is refused before parsing (SDP of a big meeting fits easily). */
export const MAX_SIGNALLING_FRAME_BYTES = 256 * 1024;

/** What a participant shows others. */
export interface PeerInfo {
  readonly id: string;
  readonly name: string;
  readonly audio: boolean;
  readonly video: boolean;
}

/** A STUN or TURN server the client should use to reach the bridge (the RTCIceServer shape). */
export interface IceServer {
  readonly urls: readonly string[];
  readonly username?: string;
  readonly credential?: string;
}

/** Which peer's media a transceiver of the offer carries. */
export interface StreamInfo {
  readonly mid: string;
  readonly peer: string;
  readonly kind: 'audio' | 'video';
}

// ------------------------------------------------------------ client → bridge

/** First message: the route ticket the broker signed, and the display name. */
export interface JoinMessage {
  readonly type: 'join';
  readonly ticket: string;
  readonly name: string;
}
/** The answer to the bridge's latest offer. */
export interface AnswerMessage {
  readonly type: 'answer';
  readonly sdp: string;
}
/** Mute and camera state, shown to the others. */
export interface StateMessage {
  readonly type: 'state';
  readonly audio: boolean;
  readonly video: boolean;
}
export interface LeaveMessage {
  readonly type: 'leave';
}
/** An MLS key package, commit (with the Welcome for the members it adds) or proposal; bytes as base64url. */
export interface MlsSubmitMessage {
  readonly type: 'mls';
  readonly kind: 'key-package' | 'commit' | 'proposal';
  readonly data: string;
  readonly welcome?: string;
}
export type ClientMessage = JoinMessage | AnswerMessage | StateMessage | LeaveMessage | MlsSubmitMessage;

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
  /** STUN/TURN servers for the media connection, as the bridge's operator configured them. */
  readonly iceServers: readonly IceServer[];
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
/** The bridge is draining: ask the broker for a fresh route now. */
export interface MoveMessage {
  readonly type: 'move';
  readonly reason: string;
}
/** MLS handshake bytes from another participant, relayed (base64url). */
export interface MlsRelayMessage {
  readonly type: 'mls';
  readonly kind: 'key-package' | 'commit' | 'proposal' | 'welcome';
  readonly from: string;
  readonly data: string;
}
/** The delivery service's answer to the participant's own commit: accepted, or why not (rebase on `stale-epoch`). */
export interface MlsResultMessage {
  readonly type: 'mls-result';
  readonly accepted: boolean;
  readonly reason: string;
  readonly epoch: number;
}
export type BridgeMessage =
  | MlsRelayMessage
  | MlsResultMessage
  | AdmittedMessage
  | OfferMessage
  | PeerJoinedMessage
  | PeerUpdatedMessage
  | PeerLeftMessage
  | RedirectMessage
  | RefusedMessage
  | MoveMessage;

/** A parse result: the message, or what is wrong with the frame. */
export type Parsed<M> = { readonly ok: true; readonly message: M } | { readonly ok: false; readonly error: string };

type Fields = Readonly<Record<string, unknown>>;
type Check = ((value: unknown) => boolean) & { readonly optional?: true };

/** A field that may be absent. */
const optional = (check: Check): Check => Object.assign((v: unknown) => check(v), { optional: true as const });

const str =
  (max: number): Check =>
  (v) =>
    typeof v === 'string' && v.length <= max;
const nonEmpty =
  (max: number): Check =>
  (v) =>
    typeof v === 'string' && v.length > 0 && v.length <= max;
const bool: Check = (v) => typeof v === 'boolean';
const ID_MAX = 100;
const SDP_MAX = MAX_SIGNALLING_FRAME_BYTES;
/** Base64url of MLS bytes: a Welcome carries the ratchet tree of a large meeting. */
const mlsBytes: Check = (v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_SIGNALLING_FRAME_BYTES - 1024 && /^[A-Za-z0-9_-]+$/.test(v);
const oneOf =
  (...values: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);

const peerInfo: Check = (v) => isObject(v) && fieldsOk(v, { id: nonEmpty(ID_MAX), name: str(ID_MAX), audio: bool, video: bool }) === undefined;
const iceServer: Check = (v) =>
  isObject(v) && fieldsOk(v, { urls: (u) => Array.isArray(u) && u.length > 0 && u.length <= ICE_URLS_PER_SERVER_MAX && u.every(isIceUrl), username: optional(str(256)), credential: optional(str(256)) }) === undefined;
const streamInfo: Check = (v) =>
  isObject(v) && fieldsOk(v, { mid: nonEmpty(32), peer: nonEmpty(ID_MAX), kind: (k) => k === 'audio' || k === 'video' }) === undefined;
const arrayOf =
  (item: Check, max: number): Check =>
  (v) =>
    Array.isArray(v) && v.length <= max && v.every(item);

const CLIENT_SCHEMAS: Readonly<Record<ClientMessage['type'], Readonly<Record<string, Check>>>> = {
  join: { ticket: nonEmpty(16_384), name: nonEmpty(ID_MAX) },
  answer: { sdp: nonEmpty(SDP_MAX) },
  state: { audio: bool, video: bool },
  leave: {},
  mls: { kind: oneOf('key-package', 'commit', 'proposal'), data: mlsBytes, welcome: optional(mlsBytes) },
};

const BRIDGE_SCHEMAS: Readonly<Record<BridgeMessage['type'], Readonly<Record<string, Check>>>> = {
  admitted: { participant: nonEmpty(ID_MAX), meeting: nonEmpty(ID_MAX), datacenter: nonEmpty(ID_MAX), jurisdiction: nonEmpty(2), peers: arrayOf(peerInfo, 10_000), mlsFounder: bool, iceServers: arrayOf(iceServer, ICE_SERVERS_MAX) },
  offer: { sdp: nonEmpty(SDP_MAX), streams: arrayOf(streamInfo, 20_000) },
  'peer-joined': { peer: peerInfo },
  'peer-updated': { peer: peerInfo },
  'peer-left': { id: nonEmpty(ID_MAX) },
  redirect: { datacenter: nonEmpty(ID_MAX) },
  refused: { code: nonEmpty(64), message: str(1000) },
  move: { reason: str(200) },
  mls: { kind: oneOf('key-package', 'commit', 'proposal', 'welcome'), from: nonEmpty(ID_MAX), data: mlsBytes },
  'mls-result': { accepted: bool, reason: str(64), epoch: (v) => Number.isSafeInteger(v) && (v as number) >= 0 },
};

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

function parseWith<M>(frame: string, schemas: Readonly<Record<string, Readonly<Record<string, Check>>>>): Parsed<M> {
  if (frame.length > MAX_SIGNALLING_FRAME_BYTES) return { ok: false, error: `the frame is larger than ${MAX_SIGNALLING_FRAME_BYTES} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return { ok: false, error: 'the frame is not JSON' };
  }
  if (!isObject(value)) return { ok: false, error: 'the frame is not a JSON object' };
  const type = value.type;
  if (typeof type !== 'string' || !Object.hasOwn(schemas, type)) return { ok: false, error: `unknown message type ${JSON.stringify(type)}; expected one of ${Object.keys(schemas).join(', ')}` };
  const schema = schemas[type] ?? {};
  const problem = fieldsOk(value, { type: () => true, ...schema });
  return problem === undefined ? { ok: true, message: value as M } : { ok: false, error: `'${type}' message: ${problem}` };
}

/** The first problem with `value`'s fields: a missing, malformed or unknown one. */
function fieldsOk(value: Fields, schema: Readonly<Record<string, Check>>): string | undefined {
  for (const [name, check] of Object.entries(schema)) {
    if (!Object.hasOwn(value, name)) {
      if (check.optional) continue;
      return `field '${name}' is missing`;
    }
    if (!check(value[name])) return `field '${name}' is malformed`;
  }
  const unknown = Object.keys(value).find((k) => !Object.hasOwn(schema, k));
  return unknown === undefined ? undefined : `field '${unknown}' is not part of the protocol`;
}

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
