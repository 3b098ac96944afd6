// A renewal request stays under the broker's 1 MiB for a signed message, whatever the tickets weigh.
import { describe, expect, it } from 'vitest';
import type { RouteTicketClaims } from '../protocol/route-ticket.js';
import type { BrokerLink } from './broker-link.js';
import { TicketRenewals, type Renewable } from './ticket-renewals.js';

/** Sessions whose tickets (of `length` characters each) are due: past half their lifetime at t = 60 s. */
function due(count: number, length: number): Renewable[] {
  return Array.from({ length: count }, (_, i) => ({ ticket: `${String(i).padStart(6, '0')}${'x'.repeat(length - 6)}`, claims: { iat: 0, exp: 100 } as RouteTicketClaims }));
}

/** The batches `tick` sends, as the tickets of each request. */
function sent(sessions: readonly Renewable[]): string[][] {
  const requests: string[][] = [];
  const link = { renew: (tickets: readonly string[]) => (requests.push([...tickets]), new Promise<never>(() => undefined)) } as unknown as BrokerLink;
  new TicketRenewals(link, { onRenewed: () => undefined, onEnded: () => undefined, onLog: () => undefined }).tick(sessions, 60_000);
  return requests;
}

describe('ticket renewals', () => {
  it('sends at most 500 tickets in a request, every due ticket once, in order', () => {
    const sessions = due(1_200, 640);
    const requests = sent(sessions);
    expect(requests.map((r) => r.length)).toEqual([500, 500, 200]);
    expect(requests.flat()).toEqual(sessions.map((s) => s.ticket));
  });

  it('cuts a request at 600,000 characters of tickets, so that signed (4/3 longer) it stays under 1 MiB', () => {
    // A ticket allowing three STUN/TURN servers per candidate is ~2,000 characters: 500 of them would pass 1 MiB signed.
    const sessions = due(700, 2_000);
    const requests = sent(sessions);
    expect(requests.map((r) => r.length)).toEqual([300, 300, 100]);
    for (const r of requests) expect(r.reduce((n, t) => n + t.length, 0)).toBeLessThanOrEqual(600_000);
    // The longest ticket the broker issues still goes, alone if need be.
    expect(sent(due(10, 65_536)).map((r) => r.length)).toEqual([9, 1]);
  });
});
