/**
 * The relay ticket (audience `geobridge:relay`, `typ` gb-relay+jwt): the
 * broker's permission for the bridge of datacenter `to` to pull the named
 * participants' streams of one meeting from the bridge of `from` (a cascade
 * hop, docs/cascading.md). It names both bridges' public keys, so each end
 * can check that the other holds its datacenter's key without asking the
 * broker, and the manifest whose fences the hop was planned under: the
 * sending bridge checks every stream against them again before it forwards
 * one packet. The broker issues it; both bridges verify it.
 */
import type { JWTPayload } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { ClaimReader, type BaseClaims, type ClaimsResult } from './claims.js';
import { checkJwt, keyRevoked, keysUnavailable, type TokenKeys } from './jwt.js';

/** Audience of relay tickets: bridges. */
export const RELAY_TICKET_AUDIENCE = 'geobridge:relay';
/** The `typ` header of relay tickets. */
export const RELAY_TICKET_TYPE = 'gb-relay+jwt';
/** The most streams one hop carries: a meeting's participants on one bridge. */
export const MAX_RELAY_STREAMS = 1000;

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** An Ed25519 public key's `x` (RFC 8037): 32 bytes in base64url. */
const ED25519_X = /^[A-Za-z0-9_-]{43}$/;
const ID = /^[^\s]{1,100}$/;

/** Claims of a relay ticket; `sub` is the receiving datacenter (`to`). */
export interface RelayTicketClaims extends BaseClaims {
  /** The broker that planned the hop (its URL). */
  readonly iss: string;
  readonly aud: typeof RELAY_TICKET_AUDIENCE;
  readonly meeting: string;
  /** The datacenter whose bridge sends (where the streams' participants are). */
  readonly from: string;
  /** The datacenter whose bridge receives and connects. */
  readonly to: string;
  /** `x` of the Ed25519 key the broker has configured for `from`'s bridge. */
  readonly fromKey: string;
  /** `x` of the Ed25519 key the broker has configured for `to`'s bridge. */
  readonly toKey: string;
  /** SHA-256 (hex) of the manifest the hop was planned under. */
  readonly manifest: string;
  /** Whether the meeting is end-to-end encrypted: only then may a fence's `transit: e2ee` let a stream cross. */
  readonly e2ee: boolean;
  /** The participants whose streams may cross, sorted, at most MAX_RELAY_STREAMS. */
  readonly streams: readonly string[];
  /** Those of `streams` whose senders do not (yet) encrypt end to end: `transit: e2ee` never carries them. Absent when none. */
  readonly clear?: readonly string[];
}

/** Options of `verifyRelayTicket`. */
export interface VerifyRelayTicketOptions {
  readonly now: Date;
  /** The verifying bridge's datacenter: must be the ticket's `from` or `to`, as `side` says. */
  readonly datacenter?: { readonly id: string; readonly side: 'from' | 'to' };
  /** The broker expected as `iss`. */
  readonly issuer?: string;
}

/** Reads a relay ticket's claims, naming every claim that is missing or malformed. */
export function parseRelayTicket(payload: JWTPayload): ClaimsResult<RelayTicketClaims> {
  const r = new ClaimReader(payload);
  const streams = r.list('streams', ID);
  if (streams.length > MAX_RELAY_STREAMS) r.problems.push(`claim 'streams' names more than ${MAX_RELAY_STREAMS} participants`);
  if (new Set(streams).size !== streams.length) r.problems.push(`claim 'streams' names a participant twice`);
  const e2ee = payload.e2ee;
  if (typeof e2ee !== 'boolean') r.problems.push(`claim 'e2ee' must be true or false`);
  const clear = payload.clear === undefined ? undefined : r.list('clear', ID);
  if (clear?.some((id) => !streams.includes(id)) === true) r.problems.push(`claim 'clear' names a participant that 'streams' does not`);
  const base = r.base();
  const from = r.text('from', ID);
  const to = r.text('to', ID);
  if (from !== '' && from === to) r.problems.push(`claims 'from' and 'to' name the same datacenter`);
  if (base.sub !== '' && base.sub !== to) r.problems.push(`claim 'sub' must be the receiving datacenter ('to')`);
  return r.result({
    iss: r.text('iss'),
    ...base,
    aud: RELAY_TICKET_AUDIENCE,
    meeting: r.text('meeting', ID),
    from,
    to,
    fromKey: r.text('fromKey', ED25519_X),
    toKey: r.text('toKey', ED25519_X),
    manifest: r.text('manifest', SHA256_HEX),
    e2ee: e2ee === true,
    streams,
    ...(clear === undefined ? {} : { clear }),
  });
}

/**
 * Verifies a relay ticket and, when given, that the verifying datacenter is
 * its sending or receiving end. Throws RELAY_TICKET_INVALID,
 * RELAY_TICKET_EXPIRED, RELAY_TICKET_WRONG_DATACENTER, KEY_REVOKED or
 * JWKS_UNAVAILABLE.
 */
export async function verifyRelayTicket(keys: TokenKeys, token: string, options: VerifyRelayTicketOptions): Promise<RelayTicketClaims> {
  const check = await checkJwt(token, keys, {
    audience: RELAY_TICKET_AUDIENCE,
    type: RELAY_TICKET_TYPE,
    now: options.now,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
  });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'relay ticket');
    if (check.reason === 'expired') throw new GeobridgeError('RELAY_TICKET_EXPIRED', 'The relay ticket has expired; the broker sends a fresh one with the next plan.', { cause: check.cause });
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('RELAY_TICKET_INVALID', `The relay ticket does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseRelayTicket(check.payload);
  if (!result.ok) throw new GeobridgeError('RELAY_TICKET_INVALID', `The relay ticket is malformed: ${result.problems.join('; ')}.`);
  const claims = result.claims;
  const expected = options.datacenter;
  if (expected !== undefined && claims[expected.side] !== expected.id) {
    throw new GeobridgeError('RELAY_TICKET_WRONG_DATACENTER', `The relay ticket is for a hop ${claims.from} → ${claims.to}; this bridge is '${expected.id}'.`);
  }
  return claims;
}
