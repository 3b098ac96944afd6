/**
 * Properties of the connection machine over random (often tampered) broker
 * answers and random event sequences: the fence holds for every `connect`,
 * the machine never throws, ids only grow, `closed` absorbs everything, and an
 * always-failing world ends in `failed` within the retry policy's budget.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Candidate, Decision } from '../select/select.js';
import { INITIAL_CONNECTION_STATE, step } from './machine.js';
import type { RetryPolicy } from './retry.js';
import type { Command, ConnectionEvent, ConnectionState, RouteOffer, RouteTicket } from './types.js';

const T0 = 1_700_000_000_000;
const POLICY: RetryPolicy = { baseDelayMs: 200, maxDelayMs: 5000, maxRetries: 4, jitter: 0.5 };
const DATACENTERS = ['a', 'b', 'c', 'd', 'e', 'f'] as const;
const JURISDICTION: Readonly<Record<string, string>> = { a: 'DE', b: 'DE', c: 'IE', d: 'US', e: 'CN', f: 'NL' };
const CODES = ['DE', 'IE', 'US', 'CN', 'NL'] as const;

interface RouteSpec {
  readonly decision: Decision;
  readonly ticket: RouteTicket;
  readonly verified: boolean;
}

/** A candidate, usually honest about its jurisdiction, sometimes not. */
const candidateArb: fc.Arbitrary<Candidate> = fc
  .record({ datacenter: fc.constantFrom(...DATACENTERS), role: fc.constantFrom('primary' as const, 'secondary' as const), lie: fc.option(fc.constantFrom(...CODES), { freq: 4 }) })
  .map(({ datacenter, role, lie }) => ({ datacenter, role, jurisdiction: lie ?? JURISDICTION[datacenter] ?? 'ZZ' }));

/** A broker answer: honest, or with a ticket that disagrees with the decision, expired, unverified or for another meeting. */
const routeArb: fc.Arbitrary<RouteSpec> = fc
  .record({
    candidates: fc.array(candidateArb, { maxLength: 6 }),
    perPrimary: fc.oneof(fc.integer({ min: -1, max: 4 }), fc.constant(Number.NaN), fc.constant(2.5)),
    timeoutMs: fc.oneof(fc.integer({ min: -10, max: 5000 }), fc.constant(Number.NaN), fc.constant(Number.POSITIVE_INFINITY)),
    ticketCandidates: fc.option(fc.array(fc.constantFrom(...DATACENTERS, 'zz'), { maxLength: 7 }), { freq: 4 }),
    jurisdictions: fc.oneof({ arbitrary: fc.constant(['DE', 'IE', 'NL']), weight: 2 }, { arbitrary: fc.subarray([...CODES]), weight: 1 }),
    expInS: fc.oneof({ arbitrary: fc.integer({ min: -5, max: 300 }), weight: 9 }, { arbitrary: fc.constant(Number.NaN), weight: 1 }),
    verified: fc.oneof({ arbitrary: fc.constant(true), weight: 5 }, { arbitrary: fc.constant(false), weight: 1 }),
    meeting: fc.oneof({ arbitrary: fc.constant('m-1'), weight: 5 }, { arbitrary: fc.constant('m-2'), weight: 1 }),
  })
  .map((r) => {
    const ticketCandidates = r.ticketCandidates ?? r.candidates.map((c) => c.datacenter);
    const decision: Decision = {
      zone: 'z',
      country: 'DE',
      allowedJurisdictions: r.jurisdictions,
      candidates: r.candidates,
      excluded: [],
      attempts: { perPrimary: r.perPrimary, timeoutMs: r.timeoutMs },
    };
    const ticket: RouteTicket = {
      sub: 'p-1',
      meeting: r.meeting,
      candidates: ticketCandidates,
      // The broker signs where each candidate is: the truth, whatever the unsigned decision says.
      candidateJurisdictions: ticketCandidates.map((dc) => JURISDICTION[dc] ?? 'ZZ'),
      decision: 'dec',
      country: 'DE',
      exp: r.expInS, // seconds from delivery: made absolute when the route is delivered
      ice: {},
    };
    return { decision, ticket, verified: r.verified };
  });

/** `lag` 0 is the current id; more is an older one (a stale event). */
const lagArb = fc.oneof({ arbitrary: fc.constant(0), weight: 5 }, { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 1 });

const KINDS = ['join', 'leave', 'route', 'refused', 'routeFailed', 'connected', 'reached', 'connectFailed', 'timeout', 'disconnected', 'redirect', 'tick'] as const;
type Kind = (typeof KINDS)[number];

/**
 * One move of the simulated shell. Steered, it answers what the machine is
 * waiting for (so walks get deep); otherwise it sends any event, often stale.
 */
interface Move {
  readonly steered: boolean;
  readonly kind: Kind;
  readonly pick: number;
  readonly lag: number;
  readonly route: RouteSpec;
  readonly code: string;
  readonly retryAfterMs: number | null;
  readonly otherDatacenter: boolean;
  readonly lost: boolean;
  readonly datacenter: string;
  readonly ms: number;
}

const moveArb: fc.Arbitrary<Move> = fc.record({
  steered: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
  kind: fc.constantFrom(...KINDS),
  pick: fc.nat(99),
  lag: lagArb,
  route: routeArb,
  code: fc.constantFrom('NO_CAPACITY_IN_FENCE', 'FENCE_CONFLICT', 'NO_ZONE', 'MEETING_ENDED'),
  retryAfterMs: fc.option(fc.integer({ min: -100, max: 20_000 })),
  otherDatacenter: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
  lost: fc.boolean(),
  datacenter: fc.constantFrom(...DATACENTERS, 'zz'),
  ms: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 150_000 })),
});

/** What a shell would plausibly send in `status`; `pick` is 0..99. */
function steer(status: ConnectionState['status'], pick: number): Kind {
  if (pick === 99) return 'leave';
  switch (status) {
    case 'idle':
    case 'failed':
      return 'join';
    case 'routing':
    case 'reconnecting':
      return pick < 65 ? 'route' : pick < 78 ? 'refused' : pick < 90 ? 'routeFailed' : 'tick';
    case 'waiting':
      return 'timeout';
    case 'connecting':
      return pick < 20 ? 'connected' : pick < 30 ? 'reached' : pick < 50 ? 'connectFailed' : pick < 70 ? 'timeout' : pick < 78 ? 'disconnected' : pick < 92 ? 'redirect' : 'tick';
    case 'connected':
      return pick < 40 ? 'disconnected' : pick < 85 ? 'redirect' : 'tick';
    case 'closed':
      return KINDS[pick % KINDS.length] ?? 'tick';
  }
}

/** The shell's view: the latest ids the machine handed out. */
interface Shell {
  now: number;
  requestId: number;
  attemptId: number;
  datacenter: string;
  timerId: number;
  deadline: number;
}

function eventFor(move: Move, status: ConnectionState['status'], shell: Shell): ConnectionEvent | undefined {
  const kind = move.steered ? steer(status, move.pick) : move.kind;
  switch (kind) {
    case 'join':
      return { type: 'join', meeting: 'm-1', participant: 'p-1' };
    case 'leave':
      return { type: 'leave' };
    case 'route': {
      const { decision, ticket, verified } = move.route;
      const exp = Math.floor(shell.now / 1000) + ticket.exp;
      return { type: 'routeReceived', requestId: shell.requestId - move.lag, decision, ticket: { ...ticket, exp }, ticketVerified: verified };
    }
    case 'refused':
      return {
        type: 'routeRefused',
        requestId: shell.requestId - move.lag,
        code: move.code,
        message: 'no',
        ...(move.retryAfterMs === null ? {} : { retryAfterMs: move.retryAfterMs }),
      };
    case 'routeFailed':
      return { type: 'routeFailed', requestId: shell.requestId - move.lag, reason: 'x' };
    case 'reached':
      return { type: 'reached', attemptId: shell.attemptId - move.lag };
    case 'connectFailed':
      return { type: 'connectFailed', attemptId: shell.attemptId - move.lag, datacenter: shell.datacenter, reason: 'x' };
    case 'timeout':
      // A timer fires at its deadline, not before: time moves on to it.
      if (move.lag === 0) shell.now = Math.max(shell.now, shell.deadline);
      return { type: 'timeout', timerId: shell.timerId - move.lag };
    case 'disconnected':
      // A bridge that vanished (lost): the route may go on to its next datacenter.
      return { type: 'disconnected', attemptId: shell.attemptId - move.lag, ...(move.lost ? { lost: true } : {}) };
    case 'connected':
      return { type: 'connected', attemptId: shell.attemptId - move.lag, datacenter: move.otherDatacenter ? 'zz' : shell.datacenter };
    case 'redirect':
      return { type: 'redirect', attemptId: shell.attemptId - move.lag, datacenter: move.datacenter };
    case 'tick':
      shell.now += move.ms;
      return undefined;
  }
}

/** A random source from fast-check's seed, so failures replay. */
function sourceOf(values: readonly number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}

describe('connection machine properties', () => {
  it('never connects outside the ticket, never throws, only grows ids, and stays closed once closed', () => {
    fc.assert(
      fc.property(fc.array(moveArb, { minLength: 10, maxLength: 100, size: 'max' }), fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 8 }), (moves, draws) => {
        const random = sourceOf(draws);
        const shell: Shell = { now: T0, requestId: 0, attemptId: 0, datacenter: '', timerId: 0, deadline: T0 };
        let state: ConnectionState = INITIAL_CONNECTION_STATE;
        let maxId = 0;
        /** The route each request id was answered with, as the machine accepted it. */
        const accepted = new Map<number, { decision: RouteOffer; ticket: RouteTicket; verified: boolean }>();
        for (const move of moves) {
          const event = eventFor(move, state.status, shell);
          if (event === undefined) continue;
          const before = state;
          const { state: after, commands } = step(before, event, { now: shell.now, random, retry: POLICY });
          if (before.status === 'closed') {
            expect(commands).toEqual([]);
            expect(after).toBe(before);
          }
          if (event.type === 'routeReceived' && (before.status === 'routing' || before.status === 'reconnecting') && before.requestId === event.requestId) {
            accepted.set(event.requestId, { decision: event.decision, ticket: event.ticket, verified: event.ticketVerified });
          }
          const connectIds = new Set<number>();
          for (const c of commands) checkCommand(c, shell, accepted, connectIds, () => maxId, (id) => (maxId = id));
          state = after;
        }
      }),
      { numRuns: 400 },
    );
  });

  it('ends in failed within the retry budget when every attempt fails, whatever the broker answers', () => {
    fc.assert(
      fc.property(
        fc.array(routeArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.constantFrom('fail', 'timeout', 'drop', 'redirect-a', 'redirect-c', 'redirect-f'), { minLength: 1, maxLength: 10 }),
        (routes, outcomes) => {
          let state: ConnectionState = INITIAL_CONNECTION_STATE;
          let now = T0;
          let steps = 0;
          let requests = 0;
          let i = 0;
          const timesOut = new Set<number>();
          const queue: ConnectionEvent[] = [{ type: 'join', meeting: 'm-1', participant: 'p-1' }];
          for (let event = queue.shift(); event !== undefined; event = queue.shift()) {
            steps++;
            expect(steps).toBeLessThan(5000);
            const result = step(state, event, { now, random: () => 0.5, retry: POLICY });
            state = result.state;
            const connects = new Set(result.commands.flatMap((c) => (c.type === 'connect' ? [c.attemptId] : [])));
            for (const c of result.commands) {
              if (c.type === 'requestRoute') {
                requests++;
                const r = routes[i++ % routes.length];
                if (r === undefined) continue;
                queue.push({ type: 'routeReceived', requestId: c.requestId, decision: r.decision, ticket: { ...r.ticket, exp: Math.floor(now / 1000) + 60 }, ticketVerified: r.verified });
              } else if (c.type === 'connect') {
                const o = outcomes[i++ % outcomes.length];
                if (o === 'fail') queue.push({ type: 'connectFailed', attemptId: c.attemptId, datacenter: c.datacenter, reason: 'x' });
                else if (o === 'drop') queue.push({ type: 'disconnected', attemptId: c.attemptId });
                else if (o?.startsWith('redirect-')) queue.push({ type: 'redirect', attemptId: c.attemptId, datacenter: o.slice('redirect-'.length) });
                else timesOut.add(c.attemptId); // its own timer fires (below)
              } else if (c.type === 'startTimer') {
                if (!connects.has(c.timerId) || timesOut.has(c.timerId)) {
                  now = Math.max(now, c.deadline);
                  queue.push({ type: 'timeout', timerId: c.timerId });
                }
              }
            }
          }
          expect(state.status).toBe('failed');
          expect(requests).toBeLessThanOrEqual(POLICY.maxRetries + 1);
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** The per-command invariants of the first property. */
function checkCommand(
  c: Command,
  shell: Shell,
  accepted: ReadonlyMap<number, { decision: RouteOffer; ticket: RouteTicket; verified: boolean }>,
  connectIds: Set<number>,
  maxId: () => number,
  setMax: (id: number) => void,
): void {
  switch (c.type) {
    case 'requestRoute':
      expect(c.requestId).toBeGreaterThan(maxId());
      setMax(c.requestId);
      shell.requestId = c.requestId;
      break;
    case 'connect': {
      // The fence: only a datacenter the verified ticket names, in the jurisdiction it signs for it, never after it expired.
      const route = accepted.get(c.requestId);
      expect(route).toBeDefined();
      if (route === undefined) return;
      expect(route.verified).toBe(true);
      expect(route.ticket.meeting).toBe('m-1');
      expect(route.ticket.candidates).toContain(c.datacenter);
      expect(route.ticket.candidates.some((id, i) => id === c.datacenter && route.ticket.candidateJurisdictions[i] === c.jurisdiction)).toBe(true);
      const declared = route.decision.candidates.filter((d) => d.datacenter === c.datacenter);
      expect(declared.length).toBeGreaterThan(0);
      expect(declared.every((d) => d.jurisdiction === c.jurisdiction)).toBe(true);
      expect(shell.now).toBeLessThan(route.ticket.exp * 1000);
      expect(c.timeoutMs).toBeGreaterThan(0);
      expect(c.timeoutMs).toBeLessThanOrEqual(60_000);
      expect(c.attemptId).toBeGreaterThan(maxId());
      setMax(c.attemptId);
      connectIds.add(c.attemptId);
      shell.attemptId = c.attemptId;
      shell.datacenter = c.datacenter;
      break;
    }
    case 'startTimer':
      expect(Number.isFinite(c.delayMs) && c.delayMs >= 0).toBe(true);
      expect(c.deadline).toBe(shell.now + c.delayMs);
      // A timer is new, or the attempt's own (started with it, or re-armed when its bridge answered).
      if (!connectIds.has(c.timerId) && c.timerId !== shell.attemptId) {
        expect(c.timerId).toBeGreaterThan(maxId());
        setMax(c.timerId);
      }
      shell.timerId = c.timerId;
      shell.deadline = c.deadline;
      break;
    default:
      break;
  }
}
