/**
 * Checks the route ticket kept in a routing receipt against the broker's
 * published keys: signed by the broker (as of when it was issued: a receipt
 * outlives its ticket's two minutes), for the receipt's participant and
 * decision, under the manifest the receipt names, for the country and
 * candidates it names. The log's promise says a decision was recorded; the
 * ticket says what the broker decided under which rules, so the two must
 * agree.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { JwksDocument } from '../protocol/jwt.js';
import { verifyRouteTicket } from '../protocol/route-ticket.js';
import { isGeobridgeError } from '../core/errors.js';
import { routeWords, sameRoute, type ClaimedRoute } from '../broker/audit/verify-log.js';

/** What the ticket must say. */
export interface ExpectedTicket {
  readonly decisionId: string;
  /** The participant, when the receipt names one (a bare /v1/route answer does not). */
  readonly participant?: string;
  readonly manifestSha256: string;
  /** The country and candidates the receipt says were decided. */
  readonly route: ClaimedRoute;
}

/** Why `ticket` is not the broker's ticket for that decision under that manifest, or undefined when it is. */
export async function ticketProblem(ticket: string, expected: ExpectedTicket, jwks: JwksDocument): Promise<string | undefined> {
  let kid: unknown;
  let iat: unknown;
  try {
    kid = decodeProtectedHeader(ticket).kid;
    iat = decodeJwt(ticket).iat;
  } catch {
    return 'the route ticket is not a JWT';
  }
  if (typeof iat !== 'number') return 'the route ticket has no issue time';
  if (!jwks.keys.some((k) => k.kid === kid)) {
    return `the route ticket is signed with key ${String(kid)}, which the broker no longer publishes (revoked, or retired more than a day ago), so it cannot vouch for the route: check the route against the log itself with --log DIR`;
  }
  try {
    const claims = await verifyRouteTicket(jwks, ticket, { now: new Date(iat * 1000) });
    if (claims.decision !== expected.decisionId || (expected.participant !== undefined && claims.sub !== expected.participant)) {
      return `the route ticket is for decision ${claims.decision} of ${claims.sub}, not ${expected.decisionId}${expected.participant === undefined ? '' : ` of ${expected.participant}`}`;
    }
    if (claims.manifest !== expected.manifestSha256) return `wrong manifest: the ticket was issued under manifest ${claims.manifest}, the receipt names ${expected.manifestSha256}`;
    const signed = { country: claims.country, candidates: claims.candidates.map((datacenter, i) => ({ datacenter, jurisdiction: claims.candidateJurisdictions[i] })) };
    if (!sameRoute(expected.route, signed)) return `the route ticket says the broker decided ${routeWords(signed)}, not ${routeWords(expected.route)} as the receipt says: the receipt was altered`;
    return undefined;
  } catch (error) {
    return isGeobridgeError(error) ? error.message : 'the route ticket does not verify';
  }
}
