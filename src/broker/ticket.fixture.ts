/**
 * Tests that need a ticket the broker did not issue (expired, racing, for
 * another datacenter) start from a genuine one: its manifest, policy inputs
 * and allowance are the broker's, so only what the test changes differs.
 */
import type { KeyRing } from './keys.js';
import { readRouteTicketUnverified, type RouteTicketClaims } from '../protocol/route-ticket.js';
import { issueRouteTicket, type Issued, type RouteTicketInput } from './tickets.js';

/** A route ticket with `genuine`'s claims, `changes` applied, signed by `keys` (on the key ring's clock). */
export function reissueRouteTicket(keys: KeyRing, genuine: string, changes: Partial<RouteTicketInput>): Promise<Issued<RouteTicketClaims>> {
  const c = readRouteTicketUnverified(genuine);
  return issueRouteTicket(keys, {
    issuer: c.iss,
    participant: c.sub,
    meeting: c.meeting,
    candidates: c.candidates,
    candidateJurisdictions: c.candidateJurisdictions,
    decision: c.decision,
    country: c.country,
    name: c.name,
    manifest: c.manifest,
    policy: c.policy,
    ice: c.ice,
    // A candidate keeps its role; one the genuine ticket did not name is a primary.
    candidateRoles: (changes.candidates ?? c.candidates).map((dc) => c.candidateRoles[c.candidates.indexOf(dc)] ?? 'primary'),
    attempts: c.attempts,
    ...changes,
  });
}
