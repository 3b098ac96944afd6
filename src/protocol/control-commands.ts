/**
 * The control channel from the broker to a bridge (docs/broker.md): commands
 * the broker pushes on the bridge's presence connection, so that a decision
 * taken in the broker's database reaches the data plane within a second.
 * Defined once here for both ends.
 *
 * Each frame is JSON `{ control, manifest? }`: `control` is a JWT the broker
 * signed (control-message.ts, `geobridge:control`) whose `command` claim
 * is one of the commands below, bound to the connection by the bridge's
 * nonce and ordered by `seq`; `manifest` carries the text a `policy` command
 * names by its SHA-256 (kept out of the JWT so it is not base64'd).
 *
 *   policy          the manifest in force (sent on connect and on every change)
 *   meeting-policy  a meeting's host policy changed (an account's data routing control)
 *   move            the meeting now lives elsewhere: its participants must take a fresh route
 *   end             the meeting has ended
 *   evict           one participant's session must leave (its join token was used again elsewhere)
 *   keys            the broker's signing keys changed (sent on connect, on rotation, on revocation):
 *                   refetch its JWKS now, and refuse the revoked kids from then on
 *   relay           pull a meeting's streams from another bridge with this relay ticket (a cascade
 *                   hop, docs/cascading.md); for a hop already open, hand it the newer ticket
 *   relay-end       close the hop from that bridge
 *   unreachable     who in a cascaded meeting cannot exchange media with whom, and why, for this
 *                   bridge's participants (with the display names of those they cannot reach)
 *   mls             a cascaded meeting's MLS delivery service (the broker) has messages for
 *                   participants on this bridge: relayed key packages, commits, Welcomes and chat,
 *                   answers to their commits, calls to found, the group's members
 */
import type { MeetingPolicy } from '../core/select/meeting-policy.js';
import { isGroupDeliveryMessage, type GroupDeliveryMessage } from './signalling.js';
import { arrayOf, count, nonEmpty, objectOf, optional, parseTagged, str, type Check, type Parsed, type Schema } from '../core/fields.js';

/** The manifest in force, by version and SHA-256; its text travels beside the JWT. */
export interface PolicyCommand {
  readonly type: 'policy';
  readonly version: number;
  readonly sha256: string;
}
/** A meeting's host policy, now (on admission the broker's answer carries it; this updates it). */
export interface MeetingPolicyCommand {
  readonly type: 'meeting-policy';
  readonly meeting: string;
  readonly policy: MeetingPolicy;
  /**
   * The host account's policy revision (`Account.policyRevision`, 0 before
   * the first change): a bridge keeps the highest it heard, so an older
   * policy, read before a newer change or sent by another broker, that
   * arrives late changes nothing. Only to bridges that said `policyRevisions`
   * in their hello (older ones refuse an unknown field); absent from an
   * older broker.
   */
  readonly revision?: number;
}
export interface MoveCommand {
  readonly type: 'move';
  readonly meeting: string;
  /** Where the meeting lives now (for logs: participants get their new route from the broker). */
  readonly to: string;
  readonly reason: string;
}
export interface EndCommand {
  readonly type: 'end';
  readonly meeting: string;
  readonly reason: string;
}
export interface EvictCommand {
  readonly type: 'evict';
  readonly meeting: string;
  readonly participant: string;
  /** Only this session (routing decision) leaves: a newer one of the same participant stays. */
  readonly session: string;
  /** What the client is told (`refused.code`). */
  readonly code: string;
  readonly reason: string;
}
/** The broker's signing keys changed: what its JWKS holds now, and which kids it revoked. */
export interface KeysCommand {
  readonly type: 'keys';
  /** Kids that verify nothing, ever: newest revocation first, at most MAX_REVOKED_KIDS. */
  readonly revoked: readonly string[];
}
/** Open (or update) the hop `from` → this bridge for a meeting. */
export interface RelayCommand {
  readonly type: 'relay';
  readonly meeting: string;
  readonly from: string;
  /** The sending bridge's signalling URL (its proof, checked against the ticket's key, says it is that bridge). */
  readonly url: string;
  /** The relay ticket (relay-ticket.ts) for the hop. */
  readonly ticket: string;
}
/** Close the hop `from` → this bridge for a meeting. */
export interface RelayEndCommand {
  readonly type: 'relay-end';
  readonly meeting: string;
  readonly from: string;
  readonly reason: string;
}
/** The directed pairs of a cascaded meeting without media that involve this bridge's participants (the whole list). */
export interface UnreachableCommand {
  readonly type: 'unreachable';
  readonly meeting: string;
  readonly pairs: readonly { readonly from: string; readonly to: string; readonly reason: string }[];
  /** Display names of the participants the pairs name. */
  readonly names: readonly { readonly id: string; readonly name: string }[];
}
/** Messages of a cascaded meeting's group for participants admitted on this bridge, in the order the delivery service sent them. */
export interface MlsCommand {
  readonly type: 'mls';
  readonly meeting: string;
  readonly deliveries: readonly { readonly to: readonly string[]; readonly message: GroupDeliveryMessage }[];
}
export type ControlCommand = MlsCommand | PolicyCommand | MeetingPolicyCommand | MoveCommand | EndCommand | EvictCommand | KeysCommand | RelayCommand | RelayEndCommand | UnreachableCommand;

/** The most revoked kids a `keys` command carries: a key revoked long ago is in no verifier's cache. */
export const MAX_REVOKED_KIDS = 1000;

/** The longest grace a bridge may announce in its presence hello (how long it keeps forwarding without this channel). */
export const MAX_BRIDGE_GRACE_MS = 5 * 60_000;

/** The largest control frame a bridge accepts (a manifest of up to 1 MiB and its envelope). */
export const MAX_CONTROL_FRAME_BYTES = 2 * 1024 * 1024;

const ID = nonEmpty(100);
const codes: Check = arrayOf((v) => typeof v === 'string' && /^[A-Z]{2}$/.test(v), 300);
const meetingPolicy = objectOf({ hostCountry: (v) => typeof v === 'string' && /^[A-Z]{2}$/.test(v), plan: optional(nonEmpty(64)), accountJurisdictions: optional(codes), meetingJurisdictions: optional(codes), cascade: optional((v) => v === true) });

const SCHEMAS: Readonly<Record<ControlCommand['type'], Schema>> = {
  policy: { version: count, sha256: (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) },
  'meeting-policy': { meeting: ID, policy: meetingPolicy, revision: optional(count) },
  move: { meeting: ID, to: ID, reason: str(500) },
  end: { meeting: ID, reason: str(500) },
  evict: { meeting: ID, participant: ID, session: ID, code: nonEmpty(64), reason: str(500) },
  keys: { revoked: arrayOf(ID, MAX_REVOKED_KIDS) },
  relay: { meeting: ID, from: ID, url: (v) => typeof v === 'string' && /^wss?:\/\/[^\s]{1,2000}$/.test(v), ticket: nonEmpty(16_384) },
  'relay-end': { meeting: ID, from: ID, reason: str(500) },
  mls: { meeting: ID, deliveries: arrayOf(objectOf({ to: arrayOf(ID, 10_000), message: isGroupDeliveryMessage }), 10_000) },
  unreachable: { meeting: ID, pairs: arrayOf(objectOf({ from: ID, to: ID, reason: nonEmpty(64) }), 100_000), names: arrayOf(objectOf({ id: ID, name: str(100) }), 10_000) },
};

/** Parses the `command` claim of a verified control message. */
export function parseControlCommand(value: unknown): Parsed<ControlCommand> {
  return parseTagged<ControlCommand>(value, SCHEMAS, 'command');
}
