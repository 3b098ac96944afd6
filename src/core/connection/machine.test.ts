// Every transition of the connection machine, driven by events alone: no sockets, no timers.
import { describe, expect, it } from 'vitest';
import type { Candidate, Decision } from '../select/select.js';
import { INITIAL_CONNECTION_STATE, step } from './machine.js';
import type { RetryPolicy } from './retry.js';
import { ADMISSION_TIMEOUT_MS, type Command, type ConnectionEvent, type ConnectionNotice, type ConnectionState, type ConnectionStatus, type RouteTicket } from './types.js';

const T0 = 1_700_000_000_000;
const POLICY: RetryPolicy = { baseDelayMs: 1000, maxDelayMs: 8000, maxRetries: 3, jitter: 0.5 };

const fra: Candidate = { datacenter: 'eu-fra', role: 'primary', jurisdiction: 'DE' };
const dub: Candidate = { datacenter: 'eu-dub', role: 'primary', jurisdiction: 'IE' };
const ams: Candidate = { datacenter: 'eu-ams', role: 'secondary', jurisdiction: 'NL' };
const iad: Candidate = { datacenter: 'us-iad', role: 'secondary', jurisdiction: 'US' };

function decision(candidates: readonly Candidate[], attempts = { perPrimary: 2, timeoutMs: 1500 }): Decision {
  return { zone: 'eu', country: 'DE', allowedJurisdictions: ['DE', 'IE', 'NL'], candidates, excluded: [], attempts };
}

function ticket(d: Decision, overrides: Partial<RouteTicket> = {}): RouteTicket {
  return {
    sub: 'p-1',
    meeting: 'm-1',
    candidates: d.candidates.map((c) => c.datacenter),
    candidateJurisdictions: d.candidates.map((c) => c.jurisdiction),
    decision: 'dec_1',
    country: 'DE',
    exp: T0 / 1000 + 120,
    ice: {},
    ...overrides,
  };
}

/** Drives the machine and keeps what it said. */
class Driver {
  state: ConnectionState = INITIAL_CONNECTION_STATE;
  now = T0;
  random = 0.5;
  commands: readonly Command[] = [];
  readonly all: Command[] = [];

  send(event: ConnectionEvent): readonly Command[] {
    const r = step(this.state, event, { now: this.now, random: () => this.random, retry: POLICY });
    this.state = r.state;
    this.commands = r.commands;
    this.all.push(...r.commands);
    return r.commands;
  }

  get status(): ConnectionStatus {
    return this.state.status;
  }

  /** The id of the last command of `type` sent so far. */
  last<K extends 'requestRoute' | 'connect' | 'startTimer'>(type: K): Extract<Command, { type: K }> {
    const found = this.all.findLast((c): c is Extract<Command, { type: K }> => c.type === type);
    if (!found) throw new Error(`no ${type} command yet`);
    return found;
  }

  join(): number {
    this.send({ type: 'join', meeting: 'm-1', participant: 'p-1' });
    return this.last('requestRoute').requestId;
  }

  route(d: Decision, t: RouteTicket = ticket(d), ticketVerified = true): readonly Command[] {
    return this.send({ type: 'routeReceived', requestId: this.last('requestRoute').requestId, decision: d, ticket: t, ticketVerified });
  }

  fail(): readonly Command[] {
    const c = this.last('connect');
    return this.send({ type: 'connectFailed', attemptId: c.attemptId, datacenter: c.datacenter, reason: 'ICE failed' });
  }

  timeout(): readonly Command[] {
    return this.send({ type: 'timeout', timerId: this.last('startTimer').timerId });
  }

  succeed(): readonly Command[] {
    const c = this.last('connect');
    return this.send({ type: 'connected', attemptId: c.attemptId, datacenter: c.datacenter });
  }

  /** Every datacenter (and attempt number) this driver was told to connect to. */
  connects(): string[] {
    return this.all.flatMap((c) => (c.type === 'connect' ? [`${c.datacenter}#${c.attempt}`] : []));
  }
}

function notices(commands: readonly Command[]): ConnectionNotice[] {
  return commands.flatMap((c) => (c.type === 'emit' ? [c.notice] : []));
}

function joined(d = decision([fra, dub, ams])): Driver {
  const m = new Driver();
  m.join();
  m.route(d);
  return m;
}

describe('joining', () => {
  it('asks the broker for a route on join', () => {
    const m = new Driver();
    expect(m.send({ type: 'join' })).toEqual([{ type: 'requestRoute', requestId: 1 }]);
    expect(m.state).toMatchObject({ status: 'routing', requestId: 1, retries: 0, attempts: 0 });
  });

  it('ignores everything but join and leave while idle, and a second join while joining', () => {
    const m = new Driver();
    const idle = m.state;
    for (const event of [
      { type: 'timeout', timerId: 1 },
      { type: 'connected', attemptId: 1, datacenter: 'eu-fra' },
      { type: 'routeReceived', requestId: 1, decision: decision([fra]), ticket: ticket(decision([fra])), ticketVerified: true },
    ] satisfies ConnectionEvent[]) {
      expect(m.send(event)).toEqual([]);
      expect(m.state).toBe(idle);
    }
    m.join();
    const routing = m.state;
    expect(m.send({ type: 'join' })).toEqual([]);
    expect(m.state).toBe(routing);
  });
});

describe('trying the candidates', () => {
  it('connects to the first primary with the decision’s timeout and a deadline from now', () => {
    const m = new Driver();
    m.join();
    expect(m.route(decision([fra, dub, ams]))).toEqual([
      { type: 'connect', attemptId: 2, requestId: 1, datacenter: 'eu-fra', jurisdiction: 'DE', role: 'primary', attempt: 1, timeoutMs: 1500 },
      { type: 'startTimer', timerId: 2, deadline: T0 + 1500, delayMs: 1500 },
    ]);
    expect(m.status).toBe('connecting');
  });

  it('tries each primary perPrimary times, then each secondary once, in order', () => {
    const m = joined();
    m.fail();
    m.now += 3000;
    m.timeout();
    m.fail();
    m.fail();
    expect(m.connects()).toEqual(['eu-fra#1', 'eu-fra#2', 'eu-dub#1', 'eu-dub#2', 'eu-ams#1']);
    expect(m.last('startTimer').deadline).toBe(T0 + 3000 + 1500);
  });

  it('follows perPrimary from the decision, and brings a malformed one inside the manifest’s bounds', () => {
    const three = joined(decision([fra, ams], { perPrimary: 3, timeoutMs: 900 }));
    for (let i = 0; i < 3; i++) three.fail();
    expect(three.connects()).toEqual(['eu-fra#1', 'eu-fra#2', 'eu-fra#3', 'eu-ams#1']);
    expect(three.last('connect').timeoutMs).toBe(900);

    const odd = joined(decision([fra, ams], { perPrimary: 0, timeoutMs: Number.NaN }));
    odd.fail();
    expect(odd.connects()).toEqual(['eu-fra#1', 'eu-ams#1']);
    expect(odd.last('connect').timeoutMs).toBe(1500);
    expect(joined(decision([fra], { perPrimary: 1e9, timeoutMs: 1e9 })).last('connect').timeoutMs).toBe(60_000);
  });

  it('abandons an attempt that times out: disconnect, then the next attempt', () => {
    const m = joined();
    const first = m.last('connect');
    const commands = m.timeout();
    expect(commands[0]).toEqual({ type: 'disconnect', attemptId: first.attemptId, datacenter: 'eu-fra' });
    expect(commands[1]).toMatchObject({ type: 'connect', datacenter: 'eu-fra', attempt: 2 });
  });

  it('gives an attempt whose bridge answered the admission bound instead of the route’s attempt timeout, once', () => {
    const m = joined();
    const first = m.last('connect');
    m.now += 500;
    expect(m.send({ type: 'reached', attemptId: first.attemptId })).toEqual([
      { type: 'cancelTimer', timerId: first.attemptId },
      { type: 'startTimer', timerId: first.attemptId, deadline: T0 + 500 + ADMISSION_TIMEOUT_MS, delayMs: ADMISSION_TIMEOUT_MS },
    ]);
    expect(m.send({ type: 'reached', attemptId: first.attemptId })).toEqual([]);
    expect(m.send({ type: 'reached', attemptId: first.attemptId - 1 })).toEqual([]);
    // A slow admission still ends: the timer abandons the attempt.
    expect(m.timeout()[0]).toEqual({ type: 'disconnect', attemptId: first.attemptId, datacenter: 'eu-fra' });
  });

  it('treats a drop before admission as a failed attempt', () => {
    const m = joined();
    const first = m.last('connect');
    expect(m.send({ type: 'disconnected', attemptId: first.attemptId })[0]).toEqual({ type: 'cancelTimer', timerId: first.attemptId });
    expect(m.last('connect')).toMatchObject({ datacenter: 'eu-fra', attempt: 2 });
  });

  it('reports the connection with its jurisdiction, role and the attempts it took', () => {
    const m = joined();
    for (let i = 0; i < 4; i++) m.fail();
    const attemptId = m.last('connect').attemptId;
    expect(m.succeed()).toEqual([
      { type: 'cancelTimer', timerId: attemptId },
      { type: 'emit', notice: { type: 'connected', datacenter: 'eu-ams', jurisdiction: 'NL', role: 'secondary', attempts: 5 } },
    ]);
    expect(m.status).toBe('connected');
  });
});

describe('running out', () => {
  it('goes back to the broker for a fresh route, after the policy’s delay, when every attempt failed', () => {
    const m = joined(decision([fra, ams], { perPrimary: 1, timeoutMs: 1000 }));
    m.fail();
    const commands = m.fail();
    expect(notices(commands)).toEqual([{ type: 'retrying', reason: 'ATTEMPTS_EXHAUSTED', retry: 1, delayMs: 750 }]);
    expect(commands.at(-1)).toEqual({ type: 'startTimer', timerId: 4, deadline: T0 + 750, delayMs: 750 });
    expect(m.status).toBe('waiting');
    m.now += 750;
    expect(m.timeout()).toEqual([{ type: 'requestRoute', requestId: 5 }]);
    expect(m.status).toBe('routing');
  });

  it('uses only the fresh route’s list, never the stale one', () => {
    const m = joined(decision([fra, ams], { perPrimary: 1, timeoutMs: 1000 }));
    m.fail();
    m.fail();
    m.timeout();
    m.route(decision([dub], { perPrimary: 1, timeoutMs: 1000 }));
    expect(m.last('connect')).toMatchObject({ datacenter: 'eu-dub', requestId: 5, attempt: 1 });
    m.succeed();
    expect(notices(m.commands)[0]).toMatchObject({ type: 'connected', datacenter: 'eu-dub', attempts: 3 });
  });

  it('fails with ATTEMPTS_EXHAUSTED when the policy gives up, with growing delays until then', () => {
    const m = joined(decision([fra], { perPrimary: 1, timeoutMs: 1000 }));
    const delays: number[] = [];
    for (;;) {
      const commands = m.fail();
      const retrying = notices(commands).find((n) => n.type === 'retrying');
      if (!retrying) break;
      delays.push(retrying.delayMs);
      m.timeout();
      m.route(decision([fra], { perPrimary: 1, timeoutMs: 1000 }));
    }
    expect(delays).toEqual([750, 1500, 3000]);
    expect(m.state).toMatchObject({ status: 'failed', code: 'ATTEMPTS_EXHAUSTED' });
    expect(notices(m.commands)).toEqual([{ type: 'failed', code: 'ATTEMPTS_EXHAUSTED', message: expect.stringContaining('4 routes and 4 connection attempts') as unknown }]);
  });

  it('retries an unreachable broker with the same policy, then fails', () => {
    const m = new Driver();
    for (let i = 0; i <= POLICY.maxRetries; i++) {
      if (i > 0) m.timeout();
      m.send({ type: 'routeFailed', requestId: i === 0 ? m.join() : m.last('requestRoute').requestId, reason: 'ECONNRESET' });
    }
    expect(m.all.filter((c) => c.type === 'requestRoute')).toHaveLength(POLICY.maxRetries + 1);
    expect(m.state).toMatchObject({ status: 'failed', code: 'ATTEMPTS_EXHAUSTED' });
    expect(m.connects()).toEqual([]);
  });

  it('starts over on a new join after failing', () => {
    const m = new Driver();
    m.join();
    m.route(decision([fra]), ticket(decision([fra])), false);
    const failed = m.state;
    expect(failed.status).toBe('failed');
    expect(m.send({ type: 'join' })).toEqual([{ type: 'requestRoute', requestId: 2 }]);
  });
});

describe('a tampered broker answer', () => {
  it('fails with TICKET_INVALID when the ticket does not verify, contacting nothing', () => {
    const m = new Driver();
    m.join();
    const commands = m.route(decision([fra, dub]), ticket(decision([fra, dub])), false);
    expect(commands).toEqual([{ type: 'emit', notice: { type: 'failed', code: 'TICKET_INVALID', message: expect.any(String) as unknown } }]);
    expect(m.state).toMatchObject({ status: 'failed', code: 'TICKET_INVALID' });
  });

  it('fails with TICKET_INVALID when the ticket is for another meeting or participant', () => {
    for (const wrong of [{ meeting: 'm-2' }, { sub: 'p-2' }]) {
      const m = new Driver();
      m.join();
      m.route(decision([fra]), ticket(decision([fra]), wrong));
      expect(m.state).toMatchObject({ status: 'failed', code: 'TICKET_INVALID' });
      expect(m.connects()).toEqual([]);
    }
  });

  it('never contacts a candidate the decision places elsewhere than the ticket signs, and tries the rest', () => {
    const moved: Candidate = { ...iad, jurisdiction: 'DE' };
    const m = new Driver();
    m.join();
    const commands = m.route(decision([fra, moved, ams]), ticket(decision([fra, iad, ams])));
    expect(notices(commands)).toEqual([{ type: 'candidateRejected', datacenter: 'us-iad', jurisdiction: 'DE', reason: 'OUTSIDE_FENCE' }]);
    m.fail();
    m.fail();
    expect(m.connects()).toEqual(['eu-fra#1', 'eu-fra#2', 'eu-ams#1']);
  });

  it('never contacts a candidate the ticket does not name, and reports the mismatch', () => {
    const signed = decision([fra, ams]);
    const m = new Driver();
    m.join();
    const commands = m.route(decision([fra, iad, ams]), ticket(signed));
    expect(notices(commands)).toEqual([
      { type: 'routeMismatch', decision: ['eu-fra', 'us-iad', 'eu-ams'], ticket: ['eu-fra', 'eu-ams'] },
      { type: 'candidateRejected', datacenter: 'us-iad', jurisdiction: 'US', reason: 'NOT_IN_TICKET' },
    ]);
    m.fail();
    m.fail();
    expect(m.connects()).toEqual(['eu-fra#1', 'eu-fra#2', 'eu-ams#1']);
  });

  it('follows the signed order when the decision reorders the candidates', () => {
    const m = new Driver();
    m.join();
    const commands = m.route(decision([dub, fra], { perPrimary: 1, timeoutMs: 1000 }), ticket(decision([fra, dub])));
    expect(notices(commands)).toEqual([{ type: 'routeMismatch', decision: ['eu-dub', 'eu-fra'], ticket: ['eu-fra', 'eu-dub'] }]);
    m.fail();
    expect(m.connects()).toEqual(['eu-fra#1', 'eu-dub#1']);
  });

  it('rejects a datacenter listed twice with different jurisdictions', () => {
    const m = new Driver();
    m.join();
    const lying: Candidate = { ...fra, jurisdiction: 'US' };
    const commands = m.route(decision([fra, lying, ams]), ticket(decision([fra, ams])));
    expect(notices(commands).filter((n) => n.type === 'candidateRejected')).toEqual([{ type: 'candidateRejected', datacenter: 'eu-fra', jurisdiction: 'US', reason: 'OUTSIDE_FENCE' }]);
    expect(m.connects()).toEqual(['eu-ams#1']);
  });

  it('asks for a fresh route when no candidate is left, contacting nothing', () => {
    const m = new Driver();
    m.join();
    const commands = m.route(decision([{ ...iad, jurisdiction: 'DE' }]), ticket(decision([iad])));
    expect(notices(commands).map((n) => n.type)).toEqual(['candidateRejected', 'retrying']);
    expect(notices(commands)[1]).toMatchObject({ reason: 'NO_VALID_CANDIDATE' });
    expect(m.connects()).toEqual([]);
  });
});

describe('ticket expiry', () => {
  it('asks for a fresh route when the ticket arrives expired (now ≥ exp)', () => {
    const m = new Driver();
    m.join();
    const commands = m.route(decision([fra]), ticket(decision([fra]), { exp: T0 / 1000 }));
    expect(notices(commands)).toEqual([{ type: 'retrying', reason: 'TICKET_EXPIRED', retry: 1, delayMs: 750 }]);
    expect(m.connects()).toEqual([]);
  });

  it('asks for a fresh route instead of the next attempt once the ticket has expired', () => {
    const m = joined();
    m.now = T0 + 120_000;
    const commands = m.fail();
    expect(notices(commands)).toMatchObject([{ type: 'retrying', reason: 'TICKET_EXPIRED' }]);
    expect(m.connects()).toEqual(['eu-fra#1']);
  });

  it('treats a malformed exp as expired', () => {
    const m = new Driver();
    m.join();
    m.route(decision([fra]), ticket(decision([fra]), { exp: Number.NaN }));
    expect(m.status).toBe('waiting');
  });
});

describe('refusals', () => {
  it('fails on FENCE_CONFLICT, NO_ZONE or any other broker error, reporting the code', () => {
    for (const code of ['FENCE_CONFLICT', 'NO_ZONE', 'MEETING_ENDED']) {
      const m = new Driver();
      const commands = m.send({ type: 'routeRefused', requestId: m.join(), code, message: 'no' });
      expect(commands).toEqual([{ type: 'emit', notice: { type: 'refused', code, message: 'no' } }]);
      expect(m.state).toMatchObject({ status: 'failed', code });
    }
  });

  it('retries NO_CAPACITY_IN_FENCE by the policy, then reports the refusal', () => {
    const m = new Driver();
    m.join();
    let retries = 0;
    for (;;) {
      const commands = m.send({ type: 'routeRefused', requestId: m.last('requestRoute').requestId, code: 'NO_CAPACITY_IN_FENCE', message: 'full' });
      if (m.status !== 'waiting') {
        expect(notices(commands)).toEqual([{ type: 'refused', code: 'NO_CAPACITY_IN_FENCE', message: 'full' }]);
        break;
      }
      retries++;
      m.timeout();
    }
    expect(retries).toBe(POLICY.maxRetries);
    expect(m.state).toMatchObject({ status: 'failed', code: 'NO_CAPACITY_IN_FENCE' });
  });

  it('never retries sooner than Retry-After asks', () => {
    const m = new Driver();
    const commands = m.send({ type: 'routeRefused', requestId: m.join(), code: 'NO_CAPACITY_IN_FENCE', message: 'full', retryAfterMs: 5000 });
    expect(notices(commands)).toEqual([{ type: 'retrying', reason: 'NO_CAPACITY_IN_FENCE', retry: 1, delayMs: 5000 }]);
    expect(commands.at(-1)).toMatchObject({ type: 'startTimer', deadline: T0 + 5000 });
  });

  it('asks again after Retry-After when the broker is away for now (its store, log or bus), and reports the refusal if it stays away', () => {
    for (const code of ['STORE_UNAVAILABLE', 'AUDIT_UNAVAILABLE', 'BUS_UNAVAILABLE']) {
      const m = new Driver();
      const commands = m.send({ type: 'routeRefused', requestId: m.join(), code, message: 'away', retryAfterMs: 5000 });
      expect(notices(commands)).toEqual([{ type: 'retrying', reason: 'BROKER_UNAVAILABLE', retry: 1, delayMs: 5000 }]);
      expect(m.status).toBe('waiting');
      let retries = 1;
      for (;;) {
        m.timeout();
        const again = m.send({ type: 'routeRefused', requestId: m.last('requestRoute').requestId, code, message: 'away', retryAfterMs: 5000 });
        if (m.status !== 'waiting') {
          expect(notices(again)).toEqual([{ type: 'refused', code, message: 'away' }]);
          break;
        }
        retries++;
      }
      expect(retries).toBe(POLICY.maxRetries);
      expect(m.state).toMatchObject({ status: 'failed', code });
    }
  });

  it('gives up at once when Retry-After is beyond the policy’s longest delay', () => {
    const m = new Driver();
    m.send({ type: 'routeRefused', requestId: m.join(), code: 'NO_CAPACITY_IN_FENCE', message: 'full', retryAfterMs: 60_000 });
    expect(m.state).toMatchObject({ status: 'failed', code: 'NO_CAPACITY_IN_FENCE' });
  });
});

describe('reconnecting', () => {
  it('asks for a fresh route when the connection drops, and counts attempts afresh', () => {
    const m = joined();
    m.succeed();
    const { attemptId } = m.last('connect');
    const commands = m.send({ type: 'disconnected', attemptId, reason: 'bridge gone' });
    expect(commands).toEqual([
      { type: 'emit', notice: { type: 'reconnecting', datacenter: 'eu-fra' } },
      { type: 'requestRoute', requestId: attemptId + 1 },
    ]);
    expect(m.state).toMatchObject({ status: 'reconnecting', retries: 0, attempts: 0 });
    m.route(decision([dub]));
    expect(m.last('connect')).toMatchObject({ datacenter: 'eu-dub', requestId: attemptId + 1 });
    m.succeed();
    expect(notices(m.commands)).toMatchObject([{ type: 'connected', datacenter: 'eu-dub', attempts: 1 }]);
  });

  it('goes on to the next datacenter of its route, without the broker, when the bridge vanishes', () => {
    const m = joined();
    m.succeed();
    const { attemptId, requestId } = m.last('connect');
    const commands = m.send({ type: 'disconnected', attemptId, reason: 'the bridge closed the connection', lost: true });
    // eu-fra's second planned attempt is skipped: it is the datacenter that just went.
    expect(commands).toEqual([
      { type: 'emit', notice: { type: 'reconnecting', datacenter: 'eu-fra' } },
      { type: 'connect', attemptId: attemptId + 1, requestId, datacenter: 'eu-dub', jurisdiction: 'IE', role: 'primary', attempt: 1, timeoutMs: 1500 },
      { type: 'startTimer', timerId: attemptId + 1, deadline: T0 + 1500, delayMs: 1500 },
    ]);
    expect(m.state).toMatchObject({ status: 'connecting', retries: 0, attempts: 1 });
    m.succeed();
    expect(notices(m.commands)).toMatchObject([{ type: 'connected', datacenter: 'eu-dub', attempts: 1 }]);
    // Again, without either datacenter that went; when that plan fails too, a fresh route at once, as for any drop (no back-off).
    m.send({ type: 'disconnected', attemptId: m.last('connect').attemptId, lost: true });
    expect(m.last('connect')).toMatchObject({ datacenter: 'eu-ams', requestId });
    const ams = m.last('connect').attemptId;
    expect(m.fail()).toEqual([
      { type: 'cancelTimer', timerId: ams },
      { type: 'requestRoute', requestId: ams + 1 },
    ]);
    expect(m.state).toMatchObject({ status: 'reconnecting', retries: 0 });
  });

  it('asks the broker when the vanished bridge leaves no datacenter in the plan, or the ticket has expired', () => {
    const alone = joined(decision([fra]));
    alone.succeed();
    alone.send({ type: 'disconnected', attemptId: alone.last('connect').attemptId, lost: true });
    expect(alone.state).toMatchObject({ status: 'reconnecting' });
    const late = joined();
    late.succeed();
    late.now = T0 + 120_000;
    late.send({ type: 'disconnected', attemptId: late.last('connect').attemptId, lost: true });
    expect(late.state).toMatchObject({ status: 'reconnecting' });
  });

  it('keeps a ticket the bridge renewed for the same candidates, so the route outlives the first ticket; ignores any other', () => {
    const d = decision([fra, dub, ams]);
    const m = joined(d);
    m.succeed();
    const { attemptId } = m.last('connect');
    const renewed = ticket(d, { exp: T0 / 1000 + 600 });
    expect(m.send({ type: 'ticketRenewed', attemptId, ticket: { ...renewed, candidates: ['eu-dub', 'eu-fra', 'eu-ams', 'us-east'], candidateJurisdictions: ['IE', 'DE', 'NL', 'US'] } })).toEqual([]);
    const before = m.state;
    m.send({ type: 'ticketRenewed', attemptId: attemptId + 7, ticket: renewed });
    expect(m.state).toBe(before);
    m.send({ type: 'ticketRenewed', attemptId, ticket: { ...renewed, candidateJurisdictions: ['DE', 'IE', 'US'] } });
    expect(m.state).toBe(before);
    m.send({ type: 'ticketRenewed', attemptId, ticket: { ...renewed, exp: T0 / 1000 } });
    expect(m.state).toBe(before);
    m.send({ type: 'ticketRenewed', attemptId, ticket: renewed });
    expect(m.state).toMatchObject({ status: 'connected', route: { ticket: { exp: T0 / 1000 + 600 } } });
    m.now = T0 + 300_000;
    m.send({ type: 'disconnected', attemptId, lost: true });
    expect(m.last('connect')).toMatchObject({ datacenter: 'eu-dub' });
  });

  it('narrows the plan to a renewal that leaves out a candidate the policy no longer allows', () => {
    const d = decision([fra, dub, ams]);
    const m = joined(d);
    m.succeed();
    const { attemptId } = m.last('connect');
    const held = ticket(d);
    const narrowed = { ...held, candidates: ['eu-fra', 'eu-ams'], candidateJurisdictions: ['DE', 'NL'], exp: held.exp + 600 };
    m.send({ type: 'ticketRenewed', attemptId, ticket: { ...narrowed, candidates: ['eu-dub', 'eu-ams'], candidateJurisdictions: ['IE', 'NL'] } });
    expect(m.state).toMatchObject({ route: { ticket: { exp: held.exp } } });
    m.send({ type: 'ticketRenewed', attemptId, ticket: narrowed });
    expect(m.state).toMatchObject({ route: { ticket: { exp: held.exp + 600 } } });
    // The plan is the route's attempts (two per primary): eu-dub's are gone.
    expect(m.state.status === 'connected' && m.state.route.plan.map((c) => c.datacenter)).toEqual(['eu-fra', 'eu-fra', 'eu-ams']);
    m.send({ type: 'disconnected', attemptId, lost: true });
    expect(m.last('connect')).toMatchObject({ datacenter: 'eu-ams' });
  });

  it.each(['MEETING_ENDED', 'SESSION_REPLACED'])('ends the join for good when the bridge drops it with %s', (code) => {
    const m = joined();
    m.succeed();
    const commands = m.send({ type: 'disconnected', attemptId: m.last('connect').attemptId, reason: 'gone', code });
    expect(commands).toEqual([{ type: 'emit', notice: { type: 'refused', code, message: 'gone' } }]);
    expect(m.state).toMatchObject({ status: 'failed', code });
  });

  it.each(['TICKET_OUTSIDE_FENCE', 'BRIDGE_CUT_OFF', 'TICKET_EXPIRED'])('takes a fresh route when the bridge drops it with %s', (code) => {
    const m = joined();
    m.succeed();
    m.send({ type: 'disconnected', attemptId: m.last('connect').attemptId, code });
    expect(m.state).toMatchObject({ status: 'reconnecting' });
  });
});

describe('redirects', () => {
  it('follows a redirect to another candidate of the ticket while connecting', () => {
    const m = joined();
    const first = m.last('connect');
    const commands = m.send({ type: 'redirect', attemptId: first.attemptId, datacenter: 'eu-ams' });
    expect(commands).toEqual([
      { type: 'cancelTimer', timerId: first.attemptId },
      { type: 'disconnect', attemptId: first.attemptId, datacenter: 'eu-fra' },
      { type: 'emit', notice: { type: 'redirecting', from: 'eu-fra', to: 'eu-ams' } },
      { type: 'connect', attemptId: first.attemptId + 1, requestId: 1, datacenter: 'eu-ams', jurisdiction: 'NL', role: 'secondary', attempt: 1, timeoutMs: 1500 },
      { type: 'startTimer', timerId: first.attemptId + 1, deadline: T0 + 1500, delayMs: 1500 },
    ]);
    // If the meeting's datacenter fails, the plan resumes after the redirecting bridge.
    m.fail();
    expect(m.connects()).toEqual(['eu-fra#1', 'eu-ams#1', 'eu-dub#1']);
  });

  it('follows a redirect while connected, leaving the current bridge', () => {
    const m = joined();
    m.succeed();
    const { attemptId } = m.last('connect');
    const commands = m.send({ type: 'redirect', attemptId, datacenter: 'eu-dub' });
    expect(commands.map((c) => c.type)).toEqual(['disconnect', 'emit', 'connect', 'startTimer']);
    expect(m.status).toBe('connecting');
    m.succeed();
    expect(notices(m.commands)).toMatchObject([{ type: 'connected', datacenter: 'eu-dub', attempts: 2 }]);
  });

  it('rejects a redirect to a datacenter the ticket does not name', () => {
    const m = joined();
    const first = m.last('connect');
    const commands = m.send({ type: 'redirect', attemptId: first.attemptId, datacenter: 'cn-pek' });
    expect(notices(commands)[0]).toEqual({ type: 'redirectRejected', datacenter: 'cn-pek', reason: 'NOT_IN_TICKET' });
    // The redirecting bridge will not host the meeting: move past it.
    expect(m.connects()).toEqual(['eu-fra#1', 'eu-dub#1']);
  });

  it('rejects a redirect to a datacenter of the ticket that the decision places elsewhere', () => {
    const m = new Driver();
    m.join();
    m.route(decision([fra, { ...iad, jurisdiction: 'DE' }]), ticket(decision([fra, iad])));
    m.succeed();
    const { attemptId } = m.last('connect');
    const commands = m.send({ type: 'redirect', attemptId, datacenter: 'us-iad' });
    // Connected, the client stays where it is; a drop would bring a fresh route.
    expect(commands).toEqual([{ type: 'emit', notice: { type: 'redirectRejected', datacenter: 'us-iad', reason: 'OUTSIDE_FENCE' } }]);
    expect(m.status).toBe('connected');
    expect(m.connects()).toEqual(['eu-fra#1']);
  });

  it('follows each datacenter at most once per route, so bridges cannot bounce the client forever', () => {
    const m = joined();
    m.send({ type: 'redirect', attemptId: m.last('connect').attemptId, datacenter: 'eu-dub' });
    m.send({ type: 'redirect', attemptId: m.last('connect').attemptId, datacenter: 'eu-fra' });
    const commands = m.send({ type: 'redirect', attemptId: m.last('connect').attemptId, datacenter: 'eu-dub' });
    expect(notices(commands)[0]).toEqual({ type: 'redirectRejected', datacenter: 'eu-dub', reason: 'REDIRECT_LOOP' });
    expect(m.connects()).toEqual(['eu-fra#1', 'eu-dub#1', 'eu-fra#2', 'eu-ams#1']);
  });

  it('asks for a fresh route instead when the ticket has expired', () => {
    const m = joined();
    m.now = T0 + 121_000;
    const commands = m.send({ type: 'redirect', attemptId: m.last('connect').attemptId, datacenter: 'eu-dub' });
    expect(notices(commands).map((n) => n.type)).toEqual(['redirecting', 'retrying']);
    expect(m.connects()).toEqual(['eu-fra#1']);
  });
});

describe('leaving', () => {
  const reach: Record<Exclude<ConnectionStatus, 'closed'>, () => Driver> = {
    idle: () => new Driver(),
    routing: () => {
      const m = new Driver();
      m.join();
      return m;
    },
    waiting: () => {
      const m = new Driver();
      m.send({ type: 'routeFailed', requestId: m.join(), reason: 'timeout' });
      return m;
    },
    connecting: () => joined(),
    connected: () => {
      const m = joined();
      m.succeed();
      return m;
    },
    reconnecting: () => {
      const m = joined();
      m.succeed();
      m.send({ type: 'disconnected', attemptId: m.last('connect').attemptId });
      return m;
    },
    failed: () => {
      const m = new Driver();
      m.send({ type: 'routeRefused', requestId: m.join(), code: 'NO_ZONE', message: 'no zone' });
      return m;
    },
  };
  const teardown: Record<Exclude<ConnectionStatus, 'closed'>, (m: Driver) => Command[]> = {
    idle: () => [],
    routing: (m) => [{ type: 'cancelRoute', requestId: m.last('requestRoute').requestId }],
    reconnecting: (m) => [{ type: 'cancelRoute', requestId: m.last('requestRoute').requestId }],
    waiting: (m) => [{ type: 'cancelTimer', timerId: m.last('startTimer').timerId }],
    connecting: (m) => [
      { type: 'cancelTimer', timerId: m.last('connect').attemptId },
      { type: 'disconnect', attemptId: m.last('connect').attemptId, datacenter: 'eu-fra' },
    ],
    connected: (m) => [{ type: 'disconnect', attemptId: m.last('connect').attemptId, datacenter: 'eu-fra' }],
    failed: () => [],
  };

  for (const [status, make] of Object.entries(reach) as [Exclude<ConnectionStatus, 'closed'>, () => Driver][]) {
    it(`closes from ${status}, releasing what is open, and then ignores everything`, () => {
      const m = make();
      expect(m.status).toBe(status);
      expect(m.send({ type: 'leave' })).toEqual(teardown[status](m));
      expect(m.status).toBe('closed');
      const closed = m.state;
      const ids = [1, 2, 3, 4, 5, 6];
      const after: ConnectionEvent[] = [
        { type: 'join' },
        { type: 'leave' },
        ...ids.map((id): ConnectionEvent => ({ type: 'timeout', timerId: id })),
        ...ids.map((id): ConnectionEvent => ({ type: 'connected', attemptId: id, datacenter: 'eu-fra' })),
        ...ids.map((id): ConnectionEvent => ({ type: 'routeReceived', requestId: id, decision: decision([fra]), ticket: ticket(decision([fra])), ticketVerified: true })),
        { type: 'routeRefused', requestId: 1, code: 'NO_ZONE', message: 'x' },
        { type: 'routeFailed', requestId: 1, reason: 'x' },
        { type: 'disconnected', attemptId: 2 },
        { type: 'redirect', attemptId: 2, datacenter: 'eu-dub' },
        { type: 'connectFailed', attemptId: 2, datacenter: 'eu-fra', reason: 'x' },
      ];
      for (const event of after) {
        expect(m.send(event)).toEqual([]);
        expect(m.state).toBe(closed);
      }
    });
  }
});

describe('stale events', () => {
  it('ignores a success or timeout of an attempt that is no longer current', () => {
    const m = joined();
    const old = m.last('connect');
    m.timeout();
    const current = m.state;
    expect(m.send({ type: 'connected', attemptId: old.attemptId, datacenter: old.datacenter })).toEqual([]);
    expect(m.send({ type: 'timeout', timerId: old.attemptId })).toEqual([]);
    expect(m.send({ type: 'connectFailed', attemptId: old.attemptId, datacenter: old.datacenter, reason: 'late' })).toEqual([]);
    expect(m.send({ type: 'redirect', attemptId: old.attemptId, datacenter: 'eu-ams' })).toEqual([]);
    expect(m.send({ type: 'disconnected', attemptId: old.attemptId })).toEqual([]);
    expect(m.state).toBe(current);
  });

  it('ignores a success that names another datacenter than the attempt’s', () => {
    const m = joined();
    const c = m.last('connect');
    expect(m.send({ type: 'connected', attemptId: c.attemptId, datacenter: 'us-iad' })).toEqual([]);
    expect(m.send({ type: 'connectFailed', attemptId: c.attemptId, datacenter: 'us-iad', reason: 'x' })).toEqual([]);
    expect(m.status).toBe('connecting');
  });

  it('ignores broker answers to an earlier request', () => {
    const m = new Driver();
    const first = m.join();
    m.send({ type: 'routeFailed', requestId: first, reason: 'x' });
    m.timeout();
    const routing = m.state;
    const d = decision([fra]);
    expect(m.send({ type: 'routeReceived', requestId: first, decision: d, ticket: ticket(d), ticketVerified: true })).toEqual([]);
    expect(m.send({ type: 'routeRefused', requestId: first, code: 'FENCE_CONFLICT', message: 'x' })).toEqual([]);
    expect(m.state).toBe(routing);
  });

  it('ignores a late timer while connected or waiting, and a stale drop while connected', () => {
    const m = joined();
    m.succeed();
    const connected = m.state;
    const { attemptId } = m.last('connect');
    expect(m.send({ type: 'timeout', timerId: attemptId })).toEqual([]);
    expect(m.send({ type: 'disconnected', attemptId: attemptId - 1 })).toEqual([]);
    expect(m.send({ type: 'connectFailed', attemptId, datacenter: 'eu-fra', reason: 'x' })).toEqual([]);
    expect(m.send({ type: 'join' })).toEqual([]);
    expect(m.state).toBe(connected);

    const w = new Driver();
    w.send({ type: 'routeFailed', requestId: w.join(), reason: 'x' });
    const waiting = w.state;
    expect(w.send({ type: 'timeout', timerId: 1 })).toEqual([]);
    expect(w.send({ type: 'connected', attemptId: 2, datacenter: 'eu-fra' })).toEqual([]);
    expect(w.state).toBe(waiting);
  });
});
