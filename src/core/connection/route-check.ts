/**
 * The client's own check of a broker answer against its signed ticket. The
 * decision travels unsigned next to the ticket, so the ticket wins: only a
 * datacenter the ticket names, in the jurisdiction the ticket signs for it,
 * is ever contacted, in the ticket's order. Bridges check the same ticket again
 * (docs/broker.md); this is the client's line of that defence.
 */
import { DEFAULT_SELECTION } from '../manifest/types.js';
import type { AttemptPolicy, Candidate } from '../select/select.js';
import type { CandidateRejection, RouteOffer, RouteTicket } from './types.js';

/** A candidate that must not be contacted, and why. */
export interface RejectedCandidate {
  readonly datacenter: string;
  readonly jurisdiction: string;
  readonly reason: CandidateRejection;
}

/** The outcome of `checkRoute`. */
export interface RouteCheck {
  /** Candidates to try, in the ticket's order, each once. */
  readonly candidates: readonly Candidate[];
  /** Candidates of the decision that are never contacted, in the decision's order. */
  readonly rejected: readonly RejectedCandidate[];
  /** Whether the decision's candidate ids equal the ticket's, in order. */
  readonly matchesTicket: boolean;
}

/** Bounds of the manifest's `selection.primaryAttempts` and `attemptTimeoutMs` (docs/manifest.md). */
const MAX_PER_PRIMARY = 10;
const MAX_TIMEOUT_MS = 60_000;

/**
 * Splits a decision's candidates into those that may be contacted and those
 * that may not. A datacenter listed twice with different jurisdictions (in
 * the decision or in the ticket) is rejected: its jurisdiction is then
 * unknown, and unknown fails closed.
 */
export function checkRoute(decision: RouteOffer, ticket: RouteTicket): RouteCheck {
  const inTicket = new Set(ticket.candidates);
  const signed = signedJurisdictions(ticket);
  const accepted = new Map<string, Candidate>();
  const bad = new Set<string>();
  const rejected: RejectedCandidate[] = [];
  for (const c of decision.candidates) {
    const seen = accepted.get(c.datacenter);
    const reason: CandidateRejection | undefined = !inTicket.has(c.datacenter)
      ? 'NOT_IN_TICKET'
      : signed.get(c.datacenter) !== c.jurisdiction || (seen !== undefined && seen.jurisdiction !== c.jurisdiction)
        ? 'OUTSIDE_FENCE'
        : undefined;
    if (reason === undefined) {
      if (seen === undefined) accepted.set(c.datacenter, c);
    } else {
      bad.add(c.datacenter);
      rejected.push({ datacenter: c.datacenter, jurisdiction: c.jurisdiction, reason });
    }
  }
  const candidates: Candidate[] = [];
  for (const id of new Set(ticket.candidates)) {
    const c = accepted.get(id);
    if (c !== undefined && !bad.has(id)) candidates.push(c);
  }
  const ids = decision.candidates.map((c) => c.datacenter);
  const matchesTicket = ids.length === ticket.candidates.length && ids.every((id, i) => id === ticket.candidates[i]);
  return { candidates, rejected, matchesTicket };
}

/** Each candidate's signed jurisdiction; one the ticket lists twice with different jurisdictions maps to none. */
function signedJurisdictions(ticket: RouteTicket): ReadonlyMap<string, string | undefined> {
  const signed = new Map<string, string | undefined>();
  ticket.candidates.forEach((id, i) => {
    const j = ticket.candidateJurisdictions[i];
    signed.set(id, signed.has(id) && signed.get(id) !== j ? undefined : j);
  });
  return signed;
}

/** The decision's attempt rules, brought inside the manifest's bounds (a malformed answer must not stall or flood the client). */
export function normalizeAttempts(attempts: AttemptPolicy): AttemptPolicy {
  const perPrimary = Number.isInteger(attempts.perPrimary) ? Math.min(Math.max(attempts.perPrimary, 1), MAX_PER_PRIMARY) : 1;
  const timeoutMs = attempts.timeoutMs > 0 ? Math.min(Math.ceil(attempts.timeoutMs), MAX_TIMEOUT_MS) : DEFAULT_SELECTION.attemptTimeoutMs;
  return { perPrimary, timeoutMs };
}

/** One entry per attempt: each primary `perPrimary` times in a row, then each secondary once (docs/selection.md §4). */
export function planAttempts(candidates: readonly Candidate[], attempts: AttemptPolicy): readonly Candidate[] {
  const primaries = candidates.filter((c) => c.role === 'primary').flatMap((c) => Array.from({ length: attempts.perPrimary }, () => c));
  return [...primaries, ...candidates.filter((c) => c.role !== 'primary')];
}

/** True when the ticket is past its `exp` at `now` (ms); a malformed `exp` counts as expired. */
export function isTicketExpired(ticket: RouteTicket, now: number): boolean {
  return !(now < ticket.exp * 1000);
}
