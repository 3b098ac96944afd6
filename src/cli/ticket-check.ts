/**
 * Checks the route ticket kept in a routing receipt against the broker's
 * published keys: signed by the broker (as of when it was issued: a receipt
 * outlives its ticket's two minutes), for the receipt's participant and
 * decision, under the manifest the receipt names, for the country and
 * candidates it names. The log's promise says a decision was recorded; the
 * ticket says what the broker decided under which rules, so the two must
 * agree.
 */
import { decodeProtectedHeader } from 'jose';
import type { Static } from 'typebox';
import { JwksAnswer, KeyHistoryAnswer } from '../protocol/answers.js';
import { answerOrWhy } from '../protocol/parse-answer.js';
import { CWT, type JwksDocument } from '../protocol/jwt.js';
import { routeTicketMapUnverified, verifyRouteTicket } from '../protocol/route-ticket.js';
import { isGeobridgeError } from '../core/errors.js';
import { isoTime, isTime } from '../core/time.js';
import { getJson } from './broker-client.js';
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

/** A key of the broker's history (GET /v1/keys/history). */
type HistoryKey = Static<typeof KeyHistoryAnswer>['keys'][number];

/** The broker's keys since ever, or undefined from a broker without GET /v1/keys/history (or one that answers it with no list of keys). */
async function keyHistory(broker: URL): Promise<readonly HistoryKey[] | undefined> {
  try {
    const body = answerOrWhy(KeyHistoryAnswer, await getJson(broker, '/v1/keys/history'), 'GET /v1/keys/history');
    return body.ok ? body.value.keys : undefined;
  } catch (error) {
    if (isGeobridgeError(error) && error.code === 'BROKER_UNREACHABLE' && / answered 404:/.test(error.message)) return undefined;
    throw error;
  }
}

/**
 * Why `ticket` is not the broker's ticket for that decision under that
 * manifest, or undefined when it is. Its key is looked up in the JWKS, and
 * when the JWKS no longer lists it (retired more than a day ago: a receipt
 * outlives that), in the broker's key history: a key retired since still
 * vouches for what it signed before, a revoked one for nothing.
 */
export async function ticketProblem(ticket: string, expected: ExpectedTicket, broker: URL): Promise<string | undefined> {
  let kid: unknown;
  let iat: unknown;
  try {
    kid = decodeProtectedHeader(ticket).kid;
    iat = routeTicketMapUnverified(ticket).get(CWT.iat);
  } catch {
    return 'the route ticket is not a route ticket (a compact JWS with CBOR claims)';
  }
  // In seconds; a time no date holds is none (and would make the checks below throw).
  if (typeof iat !== 'number' || !isTime(iat * 1000)) return 'the route ticket has no issue time';
  const published = answerOrWhy(JwksAnswer, await getJson(broker, '/.well-known/jwks.json'), 'GET /.well-known/jwks.json');
  if (!published.ok) return `${published.reason}, so it cannot vouch for the route ticket`;
  let jwks: JwksDocument = published.value;
  if (!jwks.keys.some((k) => k.kid === kid)) {
    const known = (await keyHistory(broker))?.find((k) => k.jwk.kid === kid);
    if (known === undefined || known.state === 'revoked') {
      const why = known?.state === 'revoked' ? `was revoked${known.revokedAt === undefined ? '' : ` at ${known.revokedAt}`}: a ticket it signed may be a forgery` : 'the broker no longer publishes (revoked, or retired more than a day ago), so it cannot vouch for the route: check the route against the log itself with --log DIR';
      return `the route ticket is signed with key ${String(kid)}, which ${why}`;
    }
    if (known.retiredAt !== undefined && iat * 1000 > Date.parse(known.retiredAt)) return `the route ticket says it was issued at ${isoTime(iat * 1000)}, after its key ${String(kid)} was retired (${known.retiredAt}): no broker signed it`;
    jwks = { keys: [known.jwk] };
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
