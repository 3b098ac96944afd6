/**
 * Tests that read a decision from a POST /v1/route answer: the answer says
 * its route only in the ticket (unless explained), so this spells it out, as
 * the SDK reads it (`ticketCandidates`), without checking the signature.
 */
import type { Candidate } from '../core/select/select.js';
import { readRouteTicketUnverified, ticketCandidates, type RouteTicketClaims } from '../protocol/route-ticket.js';

/** A route answer with what its ticket says: country, decision id, candidates (with roles) and manifest. */
export type DecidedAnswer<Body> = Body & {
  readonly country: string;
  readonly decisionId: string;
  readonly candidates: readonly Candidate[];
  readonly manifestSha256: string;
  readonly claims: RouteTicketClaims;
};

/** `answer` with the route its ticket signs spelled out. */
export function decided<Body extends { readonly ticket: string }>(answer: Body): DecidedAnswer<Body> {
  const claims = readRouteTicketUnverified(answer.ticket);
  return { ...answer, country: claims.country, decisionId: claims.decision, candidates: ticketCandidates(claims), manifestSha256: claims.manifest, claims };
}
