/**
 * The broker's side of its tokens: issuing them with its key ring. Each kind
 * has its own audience and `typ` header (RFC 8725 §3.11), so a token of one
 * kind never verifies as another; their claims, parsers and verifiers live
 * in src/protocol, below every party that reads them:
 *
 * - route ticket (route-ticket.ts): verified by client and bridge;
 * - join token (join-token.ts): lets a participant ask to be routed; the
 *   broker verifies it on every route request (`verifyJoinTokenOnce`);
 * - identity assertion (identity-assertion.ts): checked by the other members
 *   of the meeting's MLS group;
 * - control message (control-message.ts): a command to one bridge on its
 *   presence connection;
 * - relay ticket (relay-ticket.ts): lets one bridge pull named participants'
 *   streams of a meeting from another (a cascade hop);
 * - invite (invite.ts, issued by invites.ts).
 */
import type { JWTPayload } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import type { IceAllowance } from '../core/ice/allowed.js';
import type { MeetingPolicy } from '../core/select/meeting-policy.js';
import type { AttemptPolicy, Candidate } from '../core/select/select.js';
import type { ClaimsResult } from '../protocol/claims.js';
import type { ControlCommand } from '../protocol/control-commands.js';
import { CONTROL_AUDIENCE, CONTROL_TYPE, parseControlMessage, type ControlMessageClaims } from '../protocol/control-message.js';
import { IDENTITY_AUDIENCE, IDENTITY_TYPE, parseIdentityAssertion, type IdentityAssertionClaims } from '../protocol/identity-assertion.js';
import { checkJoinToken, checkJoinTokenMeeting, JOIN_TOKEN_AUDIENCE, JOIN_TOKEN_TYPE, joinTokenExpired, parseJoinToken, type JoinTokenClaims, type VerifyJoinTokenOptions } from '../protocol/join-token.js';
import { CLOCK_TOLERANCE_SECONDS } from '../protocol/jwt.js';
import { parseRelayTicket, RELAY_TICKET_AUDIENCE, RELAY_TICKET_TYPE, type RelayTicketClaims } from '../protocol/relay-ticket.js';
import { decodeCbor } from '../protocol/cbor.js';
import { encodeRouteTicketClaims, parseRouteTicket, ROUTE_TICKET_MAX_CHARS, ROUTE_TICKET_TYPE, routeTicketPayload, type RouteTicketClaims } from '../protocol/route-ticket.js';
import type { KeyRing } from './keys.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

/** Default lifetimes, in seconds. */
export const DEFAULT_LIFETIMES = { routeTicket: 120, joinToken: 600, identityAssertion: 3600, controlMessage: 60, relayTicket: 120 } as const;

/** A signed token and the claims it carries. */
export interface Issued<Claims> {
  readonly token: string;
  readonly claims: Claims;
}

/** What the broker decided, to be put in a route ticket. */
export interface RouteTicketInput {
  readonly issuer: string;
  readonly participant: string;
  readonly meeting: string;
  readonly candidates: readonly string[];
  readonly candidateJurisdictions: readonly string[];
  readonly decision: string;
  readonly country: string;
  readonly name: string;
  readonly manifest: string;
  readonly policy: MeetingPolicy;
  /** The STUN/TURN servers allowed per candidate (`routeIceAllowance`). */
  readonly ice: IceAllowance;
  /** The role of each of `candidates`, in order. */
  readonly candidateRoles: readonly Candidate['role'][];
  readonly attempts: AttemptPolicy;
  /** Default 120. */
  readonly expiresInSeconds?: number;
}

/** A planned cascade hop, to be put in a relay ticket: its claims but the registered ones, and who issues it. */
export type RelayTicketInput = Pick<RelayTicketClaims, 'meeting' | 'from' | 'to' | 'fromKey' | 'toKey' | 'manifest' | 'e2ee' | 'streams' | 'clear'> & {
  readonly issuer: string;
  /** Default 120. */
  readonly expiresInSeconds?: number;
};

/** Input of `issueJoinToken`. */
export interface JoinTokenInput {
  readonly participant: string;
  readonly meeting: string;
  readonly account: string;
  readonly name: string;
  /** Default 600. */
  readonly expiresInSeconds?: number;
}

/** Input of `issueIdentityAssertion`. */
export interface IdentityAssertionInput {
  readonly participant: string;
  readonly meeting: string;
  readonly name: string;
  /** The participant's raw Ed25519 MLS signature public key, base64url without padding (43 characters). */
  readonly signatureKey?: string;
  /** Default 3600. */
  readonly expiresInSeconds?: number;
}

/** Input of `issueControlMessage`. */
export interface ControlMessageInput {
  readonly datacenter: string;
  readonly nonce: string;
  readonly seq: number;
  readonly command: ControlCommand;
}

/**
 * Signs, then reads the claims through the verifier's own parser, so we never
 * hand out a token we would refuse. It parses the payload object the token was
 * serialized from rather than decoding the token: the claims are strings,
 * string lists and integers, which JSON round-trips unchanged.
 */
async function issue<Claims>(
  keys: KeyRing,
  claims: Readonly<Record<string, unknown>>,
  options: { audience: string; subject: string; type: string; expiresInSeconds: number; issuer?: string },
  parse: (payload: JWTPayload) => ClaimsResult<Claims>,
): Promise<Issued<Claims>> {
  const { token, payload } = await keys.signJwt(claims, options);
  const result = parse(payload);
  if (!result.ok) {
    throw new GeobridgeError('INVALID_TOKEN_REQUEST', `Cannot issue a ${options.type} token: ${result.problems.join('; ')}.`);
  }
  return { token, claims: result.claims };
}

/**
 * Issues a route ticket for a routing decision (default lifetime 120 s): its
 * claims as CBOR (route-ticket.ts), read back through the verifier's own
 * decoder and parser, so we never hand out a ticket we would refuse.
 */
export async function issueRouteTicket(keys: KeyRing, input: RouteTicketInput): Promise<Issued<RouteTicketClaims>> {
  const lifetime = input.expiresInSeconds ?? DEFAULT_LIFETIMES.routeTicket;
  if (!Number.isInteger(lifetime) || lifetime <= 0) throw new GeobridgeError('INVALID_TOKEN_REQUEST', `expiresInSeconds must be a positive integer, got ${lifetime}.`);
  const { token, payload } = await keys.signPayload(ROUTE_TICKET_TYPE, (iat) =>
    encodeRouteTicketClaims({
      iss: input.issuer,
      sub: input.participant,
      iat,
      exp: iat + lifetime,
      meeting: input.meeting,
      candidates: input.candidates,
      candidateJurisdictions: input.candidateJurisdictions,
      decision: input.decision,
      country: input.country,
      name: input.name,
      manifest: input.manifest,
      policy: input.policy,
      ice: input.ice,
      candidateRoles: input.candidateRoles,
      attempts: input.attempts,
    }),
  );
  if (token.length > ROUTE_TICKET_MAX_CHARS) {
    const declaring = Object.keys(input.ice).join(', ');
    throw new GeobridgeError(
      'ROUTE_TICKET_TOO_LARGE',
      `The route ticket would be ${String(token.length)} characters, more than the ${String(ROUTE_TICKET_MAX_CHARS)} a bridge takes: the manifest declares too many STUN/TURN URLs for this route's candidates (${declaring || 'none'}). Declare fewer in their \`ice\` lists.`,
    );
  }
  const decoded = decodeCbor(payload);
  const result = parseRouteTicket(decoded instanceof Map ? routeTicketPayload(decoded) : {});
  if (!result.ok) throw new GeobridgeError('INVALID_TOKEN_REQUEST', `Cannot issue a ${ROUTE_TICKET_TYPE} token: ${result.problems.join('; ')}.`);
  return { token, claims: result.claims };
}

/** Issues a relay ticket for one hop of a meeting's cascade (default lifetime 120 s); its streams are sorted. */
export function issueRelayTicket(keys: KeyRing, input: RelayTicketInput): Promise<Issued<RelayTicketClaims>> {
  return issue(
    keys,
    {
      meeting: input.meeting,
      from: input.from,
      to: input.to,
      fromKey: input.fromKey,
      toKey: input.toKey,
      manifest: input.manifest,
      e2ee: input.e2ee,
      streams: [...input.streams].sort(),
      ...(input.clear !== undefined && input.clear.length > 0 ? { clear: [...input.clear].sort() } : {}),
    },
    { audience: RELAY_TICKET_AUDIENCE, subject: input.to, type: RELAY_TICKET_TYPE, issuer: input.issuer, expiresInSeconds: input.expiresInSeconds ?? DEFAULT_LIFETIMES.relayTicket },
    parseRelayTicket,
  );
}

/** Issues a join token (default lifetime 10 min). */
export function issueJoinToken(keys: KeyRing, input: JoinTokenInput): Promise<Issued<JoinTokenClaims>> {
  return issue(
    keys,
    { meeting: input.meeting, account: input.account, name: input.name },
    { audience: JOIN_TOKEN_AUDIENCE, subject: input.participant, type: JOIN_TOKEN_TYPE, expiresInSeconds: input.expiresInSeconds ?? DEFAULT_LIFETIMES.joinToken },
    parseJoinToken,
  );
}

/** Join tokens whose signature each key ring has verified (participants re-route with the same token). */
const verifiedJoinTokens = new WeakMap<KeyRing, VerifiedTokenCache<JoinTokenClaims>>();

/**
 * Verifies a join token as src/protocol's `verifyJoinToken` does, but checks
 * its signature only the first time its exact text is seen, and only while
 * its signing key is active; expiry is checked on every use, as jose would
 * (`exp` ≤ now − tolerance is expired). Audience and `typ` are in the signed
 * bytes, so they passed with the signature. A token that fails is never
 * remembered, so a forged token is always checked in full. Throws as
 * `verifyJoinToken` does.
 */
export async function verifyJoinTokenOnce(keys: KeyRing, token: string, options: VerifyJoinTokenOptions): Promise<JoinTokenClaims> {
  const claims = await verifiedOnce(keys, token, options.now);
  checkJoinTokenMeeting(claims, options.meeting);
  return claims;
}

async function verifiedOnce(keys: KeyRing, token: string, now: Date): Promise<JoinTokenClaims> {
  let cache = verifiedJoinTokens.get(keys);
  if (cache === undefined) verifiedJoinTokens.set(keys, (cache = new VerifiedTokenCache()));
  const known = cache.get(token);
  if (known !== undefined && keys.isActive(known.kid)) {
    if (known.claims.exp > Math.floor(now.getTime() / 1000) - CLOCK_TOLERANCE_SECONDS) return known.claims;
    cache.forget(token);
    throw joinTokenExpired();
  }
  if (known !== undefined) cache.forget(token);
  const { claims, kid } = await checkJoinToken(keys, token, now);
  if (kid !== undefined && keys.isActive(kid)) cache.remember(token, { claims: Object.freeze(claims), kid });
  return claims;
}

/** Issues an identity assertion (default lifetime 1 h), bound to an MLS signature key when `signatureKey` is given. */
export function issueIdentityAssertion(keys: KeyRing, input: IdentityAssertionInput): Promise<Issued<IdentityAssertionClaims>> {
  return issue(
    keys,
    { meeting: input.meeting, name: input.name, ...(input.signatureKey === undefined ? {} : { signatureKey: input.signatureKey }) },
    { audience: IDENTITY_AUDIENCE, subject: input.participant, type: IDENTITY_TYPE, expiresInSeconds: input.expiresInSeconds ?? DEFAULT_LIFETIMES.identityAssertion },
    parseIdentityAssertion,
  );
}

/** Signs a command for one bridge's presence connection (default lifetime 60 s). */
export function issueControlMessage(keys: KeyRing, input: ControlMessageInput): Promise<Issued<ControlMessageClaims>> {
  return issue(
    keys,
    { nonce: input.nonce, seq: input.seq, command: input.command },
    { audience: CONTROL_AUDIENCE, subject: input.datacenter, type: CONTROL_TYPE, expiresInSeconds: DEFAULT_LIFETIMES.controlMessage },
    parseControlMessage,
  );
}
