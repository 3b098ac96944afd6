/**
 * The route ticket (audience `geobridge:bridge`, `typ` gb-route+jwt): which
 * datacenters a participant may use, and the manifest and policy inputs that
 * fix the jurisdictions its media must stay in. Compact: a verifier derives
 * that set through the core's decider (`ticketJurisdictions`). The broker
 * issues it; the client, the bridge and `geobridge receipt verify` check it.
 */
import type { JWTPayload } from 'jose';
import type { RouteTicket } from '../core/connection/types.js';
import { GeobridgeError } from '../core/errors.js';
import type { Manifest } from '../core/manifest/types.js';
import { routeRequestFor, type MeetingPolicy } from '../core/select/meeting-policy.js';
import { allowedJurisdictions } from '../core/select/select.js';
import { ClaimReader, COUNTRY, type BaseClaims, type ClaimsResult } from './claims.js';
import { checkJwt, keyRevoked, keysUnavailable, type TokenKeys } from './jwt.js';

/** Audience of route tickets: bridges (and clients reading them). */
export const ROUTE_TICKET_AUDIENCE = 'geobridge:bridge';
/** The `typ` header of route tickets. */
export const ROUTE_TICKET_TYPE = 'gb-route+jwt';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const SHA256_BASE64URL = /^[A-Za-z0-9_-]{43}$/;

/** Claims of a route ticket: what the client's connection machine reads (`RouteTicket`), and what the bridges need besides. */
export interface RouteTicketClaims extends RouteTicket, BaseClaims {
  /** The broker that decided (its URL). */
  readonly iss: string;
  readonly aud: typeof ROUTE_TICKET_AUDIENCE;
  /** The display name from the participant's join token: what bridges show the others, whatever the client says. */
  readonly name: string;
  /** SHA-256 (hex) of the manifest the decision was made under: a bridge that does not know it refuses the ticket. */
  readonly manifest: string;
  /** The meeting's policy inputs which, with the manifest and `country`, fix the jurisdictions the media may be in. */
  readonly policy: MeetingPolicy;
}

/** A verifier's jurisdiction, and the manifests it knows by SHA-256 (hex). */
export interface FenceCheck {
  readonly code: string;
  readonly manifests: (sha256: string) => Manifest | undefined;
}

/** Options of `verifyRouteTicket`. */
export interface VerifyRouteTicketOptions {
  readonly now: Date;
  /** The verifying bridge's datacenter: must be one of the ticket's candidates. */
  readonly datacenter?: string;
  /**
   * The verifying bridge's jurisdiction, with the manifests it knows by
   * SHA-256: the ticket's manifest must be one of them, and the jurisdiction
   * inside the set the ticket's policy inputs allow under it.
   */
  readonly jurisdiction?: FenceCheck;
  /** The broker expected as `iss`. */
  readonly issuer?: string;
}

/** Reads a route ticket's claims from a payload, naming every claim that is missing or malformed. */
export function parseRouteTicket(payload: JWTPayload): ClaimsResult<RouteTicketClaims> {
  const r = new ClaimReader(payload);
  const candidates = r.list('candidates');
  const candidateJurisdictions = r.list('candidateJurisdictions', COUNTRY);
  // The client's machine reads the two lists by index.
  if (candidateJurisdictions.length !== candidates.length) r.problems.push(`claim 'candidateJurisdictions' must have one jurisdiction per candidate`);
  return r.result({
    iss: r.text('iss'),
    ...r.base(),
    aud: ROUTE_TICKET_AUDIENCE,
    meeting: r.text('meeting'),
    candidates,
    candidateJurisdictions,
    decision: r.text('decision'),
    country: r.text('country', COUNTRY),
    name: r.text('name'),
    manifest: r.text('manifest', SHA256_HEX),
    policy: r.policy('policy'),
    ice: r.text('ice', SHA256_BASE64URL),
  });
}

/**
 * Verifies a route ticket and, when given, that `datacenter` is one of its
 * candidates and `jurisdiction` inside its fence. Throws TICKET_INVALID,
 * TICKET_EXPIRED, TICKET_WRONG_DATACENTER, TICKET_UNKNOWN_MANIFEST,
 * TICKET_OUTSIDE_FENCE, KEY_REVOKED or JWKS_UNAVAILABLE.
 */
export async function verifyRouteTicket(keys: TokenKeys, token: string, options: VerifyRouteTicketOptions): Promise<RouteTicketClaims> {
  const check = await checkJwt(token, keys, {
    audience: ROUTE_TICKET_AUDIENCE,
    type: ROUTE_TICKET_TYPE,
    now: options.now,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
  });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'route ticket');
    if (check.reason === 'expired') throw new GeobridgeError('TICKET_EXPIRED', `The route ticket has expired; ask the broker for a new one.`, { cause: check.cause });
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('TICKET_INVALID', `The route ticket does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseRouteTicket(check.payload);
  if (!result.ok) throw new GeobridgeError('TICKET_INVALID', `The route ticket is malformed: ${result.problems.join('; ')}.`);
  const claims = result.claims;
  if (options.datacenter !== undefined && !claims.candidates.includes(options.datacenter)) {
    throw new GeobridgeError('TICKET_WRONG_DATACENTER', `The route ticket does not allow datacenter '${options.datacenter}'; it allows ${claims.candidates.join(', ')}.`);
  }
  if (options.jurisdiction !== undefined) checkInsideFence(claims, options.jurisdiction.code, options.jurisdiction.manifests(claims.manifest));
  return claims;
}

/**
 * The jurisdictions a route ticket keeps its participant's media in: what the
 * decider allows a participant of the ticket's country under the ticket's
 * manifest and meeting policy. The one core function, so a bridge, the
 * broker and the client can never disagree about a ticket's fence.
 */
export function ticketJurisdictions(manifest: Manifest, claims: Pick<RouteTicketClaims, 'country' | 'policy'>): readonly string[] {
  return allowedJurisdictions(manifest, routeRequestFor(claims.country, claims.policy));
}

function checkInsideFence(claims: RouteTicketClaims, jurisdiction: string, manifest: Manifest | undefined): void {
  if (manifest === undefined) {
    throw new GeobridgeError(
      'TICKET_UNKNOWN_MANIFEST',
      `The route ticket was issued under manifest ${claims.manifest.slice(0, 12)}…, which this bridge has not been given; ask the broker for a new route.`,
    );
  }
  const allowed = ticketJurisdictions(manifest, claims);
  if (!allowed.includes(jurisdiction)) {
    throw new GeobridgeError('TICKET_OUTSIDE_FENCE', `The route ticket keeps the participant in ${allowed.join(', ') || 'no jurisdiction'}; this bridge is in '${jurisdiction}'.`);
  }
}
