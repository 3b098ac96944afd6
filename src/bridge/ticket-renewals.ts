/**
 * Route tickets live as long as the right to use them. A ticket is short
 * (minutes); while its participant stays connected, the bridge asks the
 * broker to renew it once half its lifetime has passed, in one signed batch
 * for every ticket due. The broker renews only while the participant is
 * entitled; a refusal ends the session with the broker's code, and a ticket
 * that expires unrenewed (the broker unreachable) ends it with
 * TICKET_EXPIRED. So admission is not a licence for ever.
 */
import type { RouteTicketClaims } from '../protocol/route-ticket.js';
import type { BrokerLink } from './broker-link.js';

/** A session whose ticket the renewals keep fresh. */
export interface Renewable {
  ticket: string;
  claims: RouteTicketClaims;
}

/** What the renewals tell the bridge. */
export interface RenewalHandlers<S extends Renewable> {
  /** The broker renewed the session's ticket: already verified, and stored on the session. */
  onRenewed(session: S): void;
  /** The session must end: the broker refused (its code), or the ticket expired. */
  onEnded(session: S, code: string, message: string): void;
  onLog(line: Readonly<Record<string, unknown>>): void;
}

/** Tickets per renewal request (the broker accepts at most 500). */
const BATCH = 500;
/**
 * Characters of tickets per renewal request: the broker takes a signed message
 * of at most 1 MiB, and signing writes its JSON as base64url (4/3 as long). A
 * ticket grows with the STUN/TURN URLs it allows, so a batch is bounded by
 * its length too, not only by its count.
 */
const BATCH_CHARS = 600_000;

/** Renews the tickets of a bridge's sessions; call `tick()` every second. */
export class TicketRenewals<S extends Renewable> {
  readonly #link: BrokerLink;
  readonly #handlers: RenewalHandlers<S>;
  readonly #inFlight = new Set<S>();

  constructor(link: BrokerLink, handlers: RenewalHandlers<S>) {
    this.#link = link;
    this.#handlers = handlers;
  }

  /** Ends sessions whose ticket expired, and renews those past half their lifetime. */
  tick(sessions: Iterable<S>, nowMs: number): void {
    const due: S[] = [];
    for (const session of sessions) {
      const { iat, exp } = session.claims;
      if (exp * 1000 <= nowMs) {
        this.#handlers.onEnded(session, 'TICKET_EXPIRED', 'your route ticket expired and the broker could not renew it; ask for a fresh route.');
        continue;
      }
      if (!this.#inFlight.has(session) && nowMs >= ((iat + exp) / 2) * 1000) due.push(session);
    }
    for (const batch of batches(due)) void this.#renew(batch);
  }

  /** Forgets a session that ended. */
  forget(session: S): void {
    this.#inFlight.delete(session);
  }

  async #renew(batch: readonly S[]): Promise<void> {
    for (const s of batch) this.#inFlight.add(s);
    try {
      const results = await this.#link.renew(batch.map((s) => s.ticket));
      for (const [i, result] of results.entries()) {
        const session = batch[i];
        // A session that ended meanwhile is not renewed or ended again.
        if (!session || !this.#inFlight.has(session)) continue;
        if (!result.ok) {
          this.#handlers.onEnded(session, result.code, result.message);
          continue;
        }
        const claims = await this.#link.verifyTicket(result.ticket);
        if (claims.sub !== session.claims.sub || claims.meeting !== session.claims.meeting) throw new Error('the broker renewed a ticket for someone else');
        session.ticket = result.ticket;
        session.claims = claims;
        this.#handlers.onRenewed(session);
      }
    } catch (error) {
      // Tried again at the next tick; the ticket's own expiry bounds how long this can go on.
      this.#handlers.onLog({ level: 'warn', msg: 'ticket renewal failed', error: error instanceof Error ? error.message : String(error) });
    } finally {
      for (const s of batch) this.#inFlight.delete(s);
    }
  }
}

/** `due` in order, cut into batches of at most BATCH tickets and BATCH_CHARS characters of them. */
function batches<S extends Renewable>(due: readonly S[]): S[][] {
  const out: S[][] = [];
  let batch: S[] = [];
  let chars = 0;
  for (const session of due) {
    if (batch.length > 0 && (batch.length === BATCH || chars + session.ticket.length > BATCH_CHARS)) {
      out.push(batch);
      batch = [];
      chars = 0;
    }
    batch.push(session);
    chars += session.ticket.length;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}
