// A routing receipt's ticket checked against a broker long after it was issued: its key has left the JWKS (retired
// more than a day ago), and the broker's key history says whether it still vouches for what it signed.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing, type KeyHistoryEntry } from '../broker/keys.js';
import { MemoryStore } from '../broker/store/memory-store.js';
import { issueRouteTicket } from '../broker/tickets.js';
import { ticketProblem, type ExpectedTicket } from './ticket-check.js';

const MANIFEST = 'ab'.repeat(32);
const route = { country: 'DE', candidates: [{ datacenter: 'eu-central', jurisdiction: 'DE' }] };
const expected: ExpectedTicket = { decisionId: 'dec_1', participant: 'p1', manifestSha256: MANIFEST, route };

/** What the fake broker serves: its JWKS and, unless undefined (a broker from before it), its key history. */
const served: { history: KeyHistoryEntry[] | undefined } = { history: [] };
let server: Server;
let broker: URL;

beforeAll(async () => {
  server = createServer((req, res) => {
    // Every key has left the JWKS: what is asked is the history.
    if (req.url === '/.well-known/jwks.json') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
    if (req.url === '/v1/keys/history' && served.history !== undefined) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served.history }));
    return res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  broker = new URL(`http://127.0.0.1:${String((server.address() as AddressInfo).port)}`);
});
afterAll(() => {
  server.close();
});

/** A key ring on a clock that the test moves, and a ticket its current key signed at `at`. */
async function ringWithTicket(at: number): Promise<{ keys: KeyRing; ticket: string; clock: { now: number } }> {
  const clock = { now: at };
  const keys = await KeyRing.load(new MemoryStore(), () => new Date(clock.now), { retiredGraceSeconds: 0 });
  const issued = await issueRouteTicket(keys, { issuer: 'http://broker.test', participant: 'p1', meeting: 'm1', candidates: ['eu-central'], candidateJurisdictions: ['DE'], decision: 'dec_1', country: 'DE', name: 'Anna', manifest: MANIFEST, policy: { hostCountry: 'DE' }, ice: {}, candidateRoles: ['primary'], attempts: { perPrimary: 2, timeoutMs: 1500 } });
  return { keys, ticket: issued.token, clock };
}

describe('a receipt’s ticket whose key has left the JWKS', () => {
  it('still vouches for what it signed when the key was retired since, and for the route it names only', async () => {
    const { keys, ticket, clock } = await ringWithTicket(Date.parse('2026-03-01T09:00:00Z'));
    clock.now += 3_600_000;
    await keys.rotate();
    served.history = keys.history();
    expect(served.history.map((k) => k.state)).toEqual(['current', 'retired']);
    expect(await ticketProblem(ticket, expected, broker)).toBeUndefined();
    expect(await ticketProblem(ticket, { ...expected, route: { ...route, country: 'CN' } }, broker)).toMatch(/^the route ticket says the broker decided DE → eu-central \(DE\), not CN → eu-central \(DE\)/);
  });

  it('vouches for nothing when the key was revoked, or when the ticket claims a time after its key was retired', async () => {
    const { keys, ticket, clock } = await ringWithTicket(Date.parse('2026-03-01T09:00:00Z'));
    const kid = keys.currentKid;
    clock.now += 60_000;
    await keys.revoke(kid);
    served.history = keys.history();
    expect(await ticketProblem(ticket, expected, broker)).toBe(`the route ticket is signed with key ${kid}, which was revoked at 2026-03-01T09:01:00.000Z: a ticket it signed may be a forgery`);
    // A history that says the key retired before the ticket's own issue time.
    served.history = keys.history().map((k) => (k.jwk.kid === kid ? { jwk: k.jwk, state: 'retired', createdAt: k.createdAt, retiredAt: '2026-03-01T08:00:00.000Z' } : k));
    expect(await ticketProblem(ticket, expected, broker)).toMatch(/^the route ticket says it was issued at 2026-03-01T09:00:00.000Z, after its key \S+ was retired \(2026-03-01T08:00:00.000Z\): no broker signed it$/);
  });

  it('says to check against the log when the broker keeps no history of its keys', async () => {
    const { ticket } = await ringWithTicket(Date.parse('2026-03-01T09:00:00Z'));
    served.history = undefined;
    expect(await ticketProblem(ticket, expected, broker)).toMatch(/which the broker no longer publishes \(revoked, or retired more than a day ago\), so it cannot vouch for the route: check the route against the log itself with --log DIR$/);
  });
});
