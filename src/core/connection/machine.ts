/**
 * The client SDK's connection logic as a reducer:
 * `step(state, event, { now, random }) → { state, commands }`. The shell (the
 * SDK's I/O part) calls the broker, opens bridge connections and runs timers
 * as the commands say, and feeds each outcome back as an event. The machine
 * never reads a clock, draws randomness or throws, so every transition is
 * testable without sockets or timers (docs/client.md).
 *
 * The fence holds here as everywhere: a datacenter is contacted only if the
 * signed ticket names it and the decision puts it inside the ticket's
 * jurisdictions; a redirect from a bridge is held to the same rule. A failed
 * route is never reused: when its attempts run out, or its ticket expires,
 * the client asks the broker for a fresh one, paced by the retry policy. A
 * connected route goes on only past a bridge that vanished (`lost`): its plan,
 * without that datacenter, is tried before a fresh route is asked for.
 */
import { DEFAULT_RETRY_POLICY, nextRetryDelayMs } from './retry.js';
import { checkRoute, isTicketExpired, normalizeAttempts, planAttempts } from './route-check.js';
import type {
  Command,
  ConnectedState,
  ConnectingState,
  ConnectionEvent,
  ConnectionState,
  JoinEvent,
  JoinProgress,
  JoinTarget,
  RedirectRejection,
  RetryReason,
  RouteProgress,
  RouteReceivedEvent,
  RouteRefusedEvent,
  RouteTicket,
  RoutingState,
  StepContext,
  StepResult,
} from './types.js';
import type { Candidate } from '../select/select.js';
import { ADMISSION_TIMEOUT_MS, FINAL_BRIDGE_CODES } from './types.js';

/** The state before `join`. */
export const INITIAL_CONNECTION_STATE: ConnectionState = Object.freeze({ status: 'idle', nextId: 1 });

const CLOSED: ConnectionState = Object.freeze({ status: 'closed' });
const NO_COMMANDS: readonly Command[] = Object.freeze([]);

const RETRY_REASON_TEXT: Readonly<Record<RetryReason, string>> = {
  ATTEMPTS_EXHAUSTED: 'every attempt on the route failed',
  TICKET_EXPIRED: 'the route ticket expired',
  NO_VALID_CANDIDATE: 'no candidate passed the ticket checks',
  BROKER_UNAVAILABLE: 'the broker gave no answer',
  NO_CAPACITY_IN_FENCE: 'no capacity inside the fence',
};

/**
 * Advances the machine by one event. Events that do not apply to the state,
 * or carry an id that is no longer current, leave it unchanged (the same
 * object) with no commands.
 */
export function step(state: ConnectionState, event: ConnectionEvent, ctx: StepContext): StepResult {
  if (event.type === 'leave') return leave(state);
  switch (state.status) {
    case 'idle':
    case 'failed':
      return event.type === 'join' ? requestRoute(startJoin(state.nextId, event), 'routing', []) : ignore(state);
    case 'routing':
    case 'reconnecting':
      return onRouting(state, event, ctx);
    case 'waiting':
      return event.type === 'timeout' && event.timerId === state.timerId ? requestRoute(state, 'routing', []) : ignore(state);
    case 'connecting':
      return onConnecting(state, event, ctx);
    case 'connected':
      return onConnected(state, event, ctx);
    case 'closed':
      return ignore(state);
  }
}

function ignore(state: ConnectionState): StepResult {
  return { state, commands: NO_COMMANDS };
}

function startJoin(nextId: number, event: JoinEvent): JoinProgress {
  const join: JoinTarget = {
    ...(event.meeting !== undefined ? { meeting: event.meeting } : {}),
    ...(event.participant !== undefined ? { participant: event.participant } : {}),
  };
  return { nextId, join, retries: 0, attempts: 0 };
}

function progressOf(p: JoinProgress): JoinProgress {
  return { nextId: p.nextId, join: p.join, retries: p.retries, attempts: p.attempts };
}

function requestRoute(p: JoinProgress, status: RoutingState['status'], commands: readonly Command[]): StepResult {
  const requestId = p.nextId;
  return {
    state: { ...progressOf(p), status, requestId, nextId: requestId + 1 },
    commands: [...commands, { type: 'requestRoute', requestId }],
  };
}

// ---------------------------------------------------------------- the broker

function onRouting(state: RoutingState, event: ConnectionEvent, ctx: StepContext): StepResult {
  if (!('requestId' in event) || event.requestId !== state.requestId) return ignore(state);
  switch (event.type) {
    case 'routeReceived':
      return receiveRoute(state, event, ctx);
    case 'routeRefused':
      return receiveRefusal(state, event, ctx);
    case 'routeFailed':
      return retryRoute(state, 'BROKER_UNAVAILABLE', ctx, []);
  }
}

function receiveRoute(state: RoutingState, event: RouteReceivedEvent, ctx: StepContext): StepResult {
  const { ticket, decision } = event;
  if (!event.ticketVerified) return fail(state, 'TICKET_INVALID', 'the route ticket does not verify against the broker’s keys; nothing was contacted.', []);
  if (state.join.meeting !== undefined && ticket.meeting !== state.join.meeting) {
    return fail(state, 'TICKET_INVALID', `the route ticket is for meeting '${ticket.meeting}', not '${state.join.meeting}'; nothing was contacted.`, []);
  }
  if (state.join.participant !== undefined && ticket.sub !== state.join.participant) {
    return fail(state, 'TICKET_INVALID', `the route ticket is for participant '${ticket.sub}', not '${state.join.participant}'; nothing was contacted.`, []);
  }
  if (isTicketExpired(ticket, ctx.now)) return retryRoute(state, 'TICKET_EXPIRED', ctx, []);

  const check = checkRoute(decision, ticket);
  const commands: Command[] = [];
  if (!check.matchesTicket) {
    commands.push({ type: 'emit', notice: { type: 'routeMismatch', decision: decision.candidates.map((c) => c.datacenter), ticket: [...ticket.candidates] } });
  }
  for (const r of check.rejected) commands.push({ type: 'emit', notice: { type: 'candidateRejected', ...r } });
  const attempts = normalizeAttempts(decision.attempts);
  const plan = planAttempts(check.candidates, attempts);
  const first = plan[0];
  if (first === undefined) return retryRoute(state, 'NO_VALID_CANDIDATE', ctx, commands);
  const route = { requestId: state.requestId, ticket, candidates: check.candidates, plan, attempts };
  return attempt({ ...progressOf(state), route, tried: [], redirects: [] }, first, 1, ctx, commands);
}

/**
 * A refusal is final unless the broker says it is for now: NO_CAPACITY_IN_FENCE, or any refusal that comes
 * with a Retry-After (its store, log or bus away: 503 with Retry-After, RFC 9110 §10.2.3). Those are asked
 * again after the delay, as the policy allows.
 */
function receiveRefusal(state: RoutingState, event: RouteRefusedEvent, ctx: StepContext): StepResult {
  const refusal = { code: event.code, message: event.message };
  const retryAfterMs = event.retryAfterMs !== undefined && event.retryAfterMs > 0 ? Math.ceil(event.retryAfterMs) : 0;
  if (event.code === 'NO_CAPACITY_IN_FENCE') return retryRoute(state, 'NO_CAPACITY_IN_FENCE', ctx, [], { retryAfterMs, refusal });
  if (retryAfterMs > 0) return retryRoute(state, 'BROKER_UNAVAILABLE', ctx, [], { retryAfterMs, refusal });
  return refuse(state, refusal, []);
}

interface Refusal {
  readonly code: string;
  readonly message: string;
}

/**
 * Back to the broker after the policy's delay, or give up when the policy
 * says so. A refusal with Retry-After is never retried sooner than asked;
 * one that asks for longer than the policy's longest delay ends the join.
 */
function retryRoute(
  p: JoinProgress,
  reason: RetryReason,
  ctx: StepContext,
  commands: readonly Command[],
  refused?: { readonly retryAfterMs: number; readonly refusal: Refusal },
): StepResult {
  const policy = ctx.retry ?? DEFAULT_RETRY_POLICY;
  const delay = nextRetryDelayMs(p.retries, ctx.random, policy);
  if (refused !== undefined && (delay === null || !(refused.retryAfterMs <= policy.maxDelayMs))) return refuse(p, refused.refusal, commands);
  if (delay === null) {
    const routes = p.retries + 1;
    return fail(p, 'ATTEMPTS_EXHAUSTED', `gave up after ${routes} route${routes === 1 ? '' : 's'} and ${p.attempts} connection attempt${p.attempts === 1 ? '' : 's'}: ${RETRY_REASON_TEXT[reason]}.`, commands);
  }
  const delayMs = Math.max(delay, refused?.retryAfterMs ?? 0);
  const timerId = p.nextId;
  const retries = p.retries + 1;
  return {
    state: { ...progressOf(p), status: 'waiting', nextId: timerId + 1, retries, timerId, deadline: ctx.now + delayMs, reason },
    commands: [...commands, { type: 'emit', notice: { type: 'retrying', reason, retry: retries, delayMs } }, { type: 'startTimer', timerId, deadline: ctx.now + delayMs, delayMs }],
  };
}

function fail(p: JoinProgress, code: string, message: string, commands: readonly Command[]): StepResult {
  return { state: { status: 'failed', nextId: p.nextId, code, message }, commands: [...commands, { type: 'emit', notice: { type: 'failed', code, message } }] };
}

function refuse(p: JoinProgress, refusal: Refusal, commands: readonly Command[]): StepResult {
  return {
    state: { status: 'failed', nextId: p.nextId, code: refusal.code, message: refusal.message },
    commands: [...commands, { type: 'emit', notice: { type: 'refused', ...refusal } }],
  };
}

// ---------------------------------------------------------------- the bridges

type RouteSnapshot = Omit<RouteProgress, 'current' | 'next'>;

/** Connects to `candidate` with the route's timeout; `next` is where the plan resumes after it. */
function attempt(p: RouteSnapshot, candidate: Candidate, next: number, ctx: StepContext, commands: readonly Command[]): StepResult {
  const attemptId = p.nextId;
  const { datacenter, jurisdiction, role } = candidate;
  const n = p.tried.filter((d) => d === datacenter).length + 1;
  const { timeoutMs } = p.route.attempts;
  const deadline = ctx.now + timeoutMs;
  const state: ConnectingState = {
    ...progressOf(p),
    status: 'connecting',
    nextId: attemptId + 1,
    attempts: p.attempts + 1,
    route: p.route,
    next,
    current: { attemptId, candidate, attempt: n, deadline },
    tried: [...p.tried, datacenter],
    redirects: p.redirects,
    ...(p.resumed === true ? { resumed: true } : {}),
  };
  return {
    state,
    commands: [
      ...commands,
      { type: 'connect', attemptId, requestId: p.route.requestId, datacenter, jurisdiction, role, attempt: n, timeoutMs },
      { type: 'startTimer', timerId: attemptId, deadline, delayMs: timeoutMs },
    ],
  };
}

/** The next planned attempt, or a fresh route when the plan is done or the ticket has expired (at once for a resumed route, else paced). */
function advance(state: RouteProgress, ctx: StepContext, commands: readonly Command[]): StepResult {
  const candidate = state.route.plan[state.next];
  const spent = isTicketExpired(state.route.ticket, ctx.now) || candidate === undefined;
  // A route resumed after a drop stood in for the fresh route that drop would have asked for: ask for it now.
  if (spent && state.resumed === true) return requestRoute({ ...progressOf(state), retries: 0, attempts: 0 }, 'reconnecting', commands);
  if (isTicketExpired(state.route.ticket, ctx.now)) return retryRoute(state, 'TICKET_EXPIRED', ctx, commands);
  if (candidate === undefined) return retryRoute(state, 'ATTEMPTS_EXHAUSTED', ctx, commands);
  return attempt(state, candidate, state.next + 1, ctx, commands);
}

function onConnecting(state: ConnectingState, event: ConnectionEvent, ctx: StepContext): StepResult {
  const { attemptId, candidate } = state.current;
  const cancel: Command = { type: 'cancelTimer', timerId: attemptId };
  const drop: Command = { type: 'disconnect', attemptId, datacenter: candidate.datacenter };
  switch (event.type) {
    case 'connected': {
      if (event.attemptId !== attemptId || event.datacenter !== candidate.datacenter) return ignore(state);
      const { datacenter, jurisdiction, role } = candidate;
      const connected: ConnectedState = { ...state, status: 'connected', retries: 0 };
      return { state: connected, commands: [cancel, { type: 'emit', notice: { type: 'connected', datacenter, jurisdiction, role, attempts: state.attempts } }] };
    }
    case 'reached': {
      if (event.attemptId !== attemptId) return ignore(state);
      const deadline = ctx.now + ADMISSION_TIMEOUT_MS;
      if (deadline <= state.current.deadline) return ignore(state);
      const reached: ConnectingState = { ...state, current: { ...state.current, deadline } };
      return { state: reached, commands: [cancel, { type: 'startTimer', timerId: attemptId, deadline, delayMs: ADMISSION_TIMEOUT_MS }] };
    }
    case 'connectFailed':
      if (event.attemptId !== attemptId || event.datacenter !== candidate.datacenter) return ignore(state);
      return advance(state, ctx, [cancel]);
    case 'disconnected':
      return event.attemptId === attemptId ? advance(state, ctx, [cancel]) : ignore(state);
    case 'timeout':
      // An attempt that timed out is abandoned, so a late success cannot land on it.
      return event.timerId === attemptId ? advance(state, ctx, [drop]) : ignore(state);
    case 'redirect':
      return event.attemptId === attemptId ? redirect(state, event.datacenter, ctx) : ignore(state);
    default:
      return ignore(state);
  }
}

function onConnected(state: ConnectedState, event: ConnectionEvent, ctx: StepContext): StepResult {
  if (event.type === 'ticketRenewed') return renewTicket(state, event.attemptId, event.ticket);
  if ((event.type !== 'disconnected' && event.type !== 'redirect') || event.attemptId !== state.current.attemptId) return ignore(state);
  if (event.type === 'redirect') return redirect(state, event.datacenter, ctx);
  if (event.code !== undefined && FINAL_BRIDGE_CODES.includes(event.code)) {
    return refuse(state, { code: event.code, message: event.reason ?? event.code }, []);
  }
  const dropped = state.current.candidate.datacenter;
  const notice: Command = { type: 'emit', notice: { type: 'reconnecting', datacenter: dropped } };
  // A bridge that vanished (a crash, a cut link) leaves the route good: its ticket is signed and fresh, and the
  // next bridge checks it, and the broker the policy in force, before admitting. So its plan, without the
  // datacenter that went, is tried again from the top at once, without a broker round trip on the way back;
  // only when that fails, a fresh route.
  const plan = state.route.plan.filter((c) => c.datacenter !== dropped);
  const candidate = plan[0];
  if (lost(event) && candidate !== undefined && !isTicketExpired(state.route.ticket, ctx.now)) {
    return attempt({ ...state, retries: 0, attempts: 0, route: { ...state.route, plan }, tried: [], redirects: [], resumed: true }, candidate, 1, ctx, [notice]);
  }
  // Any other drop may mean the route is stale (a drain, a policy that moved the meeting): a fresh one.
  return requestRoute({ nextId: state.nextId, join: state.join, retries: 0, attempts: 0 }, 'reconnecting', [notice]);
}

/**
 * Takes a renewed ticket for the route only if it signs the same participant
 * and meeting, lasts longer, and names the datacenter we are on and no
 * datacenter (or jurisdiction) the route's ticket did not: the plan stays
 * what was checked, narrowed to what the policy in force still allows.
 */
function renewTicket(state: ConnectedState, attemptId: number, renewed: RouteTicket): StepResult {
  const held = state.route.ticket;
  const heldAt = new Map(held.candidates.map((dc, i) => [dc, held.candidateJurisdictions[i]]));
  const narrows =
    renewed.candidates.length === renewed.candidateJurisdictions.length &&
    renewed.candidates.includes(state.current.candidate.datacenter) &&
    renewed.candidates.every((dc, i) => heldAt.get(dc) === renewed.candidateJurisdictions[i]);
  if (attemptId !== state.current.attemptId || renewed.sub !== held.sub || renewed.meeting !== held.meeting || !narrows || !(renewed.exp > held.exp)) return ignore(state);
  const plan = state.route.plan.filter((c) => renewed.candidates.includes(c.datacenter));
  return { state: { ...state, route: { ...state.route, ticket: renewed, plan } }, commands: NO_COMMANDS };
}

function lost(event: ConnectionEvent): boolean {
  return event.type === 'disconnected' && event.lost === true;
}

/**
 * A bridge says the meeting lives at `target`. Followed only to a datacenter
 * this route may contact anyway (in the ticket, inside its jurisdictions), and
 * at most once per datacenter per route, so two bridges cannot bounce the
 * client forever.
 */
function redirect(state: ConnectingState | ConnectedState, target: string, ctx: StepContext): StepResult {
  const { attemptId, candidate } = state.current;
  const from = candidate.datacenter;
  const drop: Command = { type: 'disconnect', attemptId, datacenter: from };
  const cancel: Command[] = state.status === 'connecting' ? [{ type: 'cancelTimer', timerId: attemptId }] : [];
  // The bridge of `from` will not host the meeting: its remaining planned attempts are pointless.
  const next = state.status === 'connecting' ? skipDatacenter(state.route.plan, state.next, from) : state.next;
  const reason = redirectRejection(state, target);
  if (reason !== undefined) {
    const notice: Command = { type: 'emit', notice: { type: 'redirectRejected', datacenter: target, reason } };
    // Connected: stay; if the bridge drops the participant, a fresh route follows.
    if (state.status === 'connected') return { state, commands: [notice] };
    return advance({ ...state, next }, ctx, [notice, ...cancel, drop]);
  }
  const to = state.route.candidates.find((c) => c.datacenter === target);
  if (to === undefined) return ignore(state); // unreachable: redirectRejection checked it
  const commands: Command[] = [...cancel, drop, { type: 'emit', notice: { type: 'redirecting', from, to: target } }];
  const after = { ...state, redirects: [...state.redirects, target] };
  if (isTicketExpired(state.route.ticket, ctx.now)) return retryRoute(after, 'TICKET_EXPIRED', ctx, commands);
  return attempt(after, to, next, ctx, commands);
}

function redirectRejection(state: RouteProgress, target: string): RedirectRejection | undefined {
  if (!state.route.ticket.candidates.includes(target)) return 'NOT_IN_TICKET';
  if (!state.route.candidates.some((c) => c.datacenter === target)) return 'OUTSIDE_FENCE';
  if (target === state.current.candidate.datacenter || state.redirects.includes(target)) return 'REDIRECT_LOOP';
  return undefined;
}

function skipDatacenter(plan: readonly Candidate[], from: number, datacenter: string): number {
  let i = from;
  while (plan[i]?.datacenter === datacenter) i++;
  return i;
}

// ---------------------------------------------------------------- leaving

/** Closes from any state, with the commands that release what is open. */
function leave(state: ConnectionState): StepResult {
  switch (state.status) {
    case 'closed':
      return ignore(state);
    case 'idle':
    case 'failed':
      return { state: CLOSED, commands: NO_COMMANDS };
    case 'routing':
    case 'reconnecting':
      return { state: CLOSED, commands: [{ type: 'cancelRoute', requestId: state.requestId }] };
    case 'waiting':
      return { state: CLOSED, commands: [{ type: 'cancelTimer', timerId: state.timerId }] };
    case 'connecting':
      return {
        state: CLOSED,
        commands: [
          { type: 'cancelTimer', timerId: state.current.attemptId },
          { type: 'disconnect', attemptId: state.current.attemptId, datacenter: state.current.candidate.datacenter },
        ],
      };
    case 'connected':
      return { state: CLOSED, commands: [{ type: 'disconnect', attemptId: state.current.attemptId, datacenter: state.current.candidate.datacenter }] };
  }
}
