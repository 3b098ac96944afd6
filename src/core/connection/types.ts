/**
 * The client's connection state machine: its states, the events the shell
 * feeds it and the commands it gives back (docs/client.md has the table and
 * the diagram). Ids are numbers from one counter in the state: every command
 * that expects an answer carries a fresh one, and an answer whose id is no
 * longer current is ignored.
 */
import type { IceAllowance } from '../ice/allowed.js';
import type { AttemptPolicy, Candidate, Route } from '../select/select.js';
import type { RandomSource, RetryPolicy } from './retry.js';

/**
 * The route ticket claims the client's machine reads: src/protocol's
 * `RouteTicketClaims` extends this with the rest. The shell verifies the
 * ticket and says so in `routeReceived.ticketVerified`; the core only reads
 * claims.
 */
export interface RouteTicket {
  /** Participant id. */
  readonly sub: string;
  readonly meeting: string;
  /** Datacenter ids to try, in order: the signed list. */
  readonly candidates: readonly string[];
  /** The jurisdiction (ISO 3166-1 alpha-2) of each candidate, in the same order: the signed word on where each one is. */
  readonly candidateJurisdictions: readonly string[];
  /** Id of the routing decision. */
  readonly decision: string;
  readonly country: string;
  /** Expiry, in seconds since the epoch (a JWT NumericDate, RFC 7519 §4.1.4). */
  readonly exp: number;
  /** The STUN/TURN servers the participant may accept from each candidate's bridge (none for a datacenter not listed): the allowance the ticket signs (src/sdk/ice-servers.ts). */
  readonly ice: IceAllowance;
}

/**
 * The longest route ticket a bridge takes (in a join, a renewal, a claim) and
 * a receipt file keeps: its allowance grows with the STUN/TURN URLs the
 * manifest declares for the candidates, and the broker refuses to issue a
 * longer one (ROUTE_TICKET_TOO_LARGE) rather than hand out one no bridge
 * would take.
 */
export const ROUTE_TICKET_MAX_CHARS = 65_536;

/** What the machine needs of a route answer's decision (the default answer leaves `allowedJurisdictions` out). */
export type RouteOffer = Pick<Route, 'candidates' | 'attempts'>;

/** What the shell passes to every `step`. */
export interface StepContext {
  /** Milliseconds since the epoch. */
  readonly now: number;
  /** Uniform numbers in [0, 1), for the retry jitter. */
  readonly random: RandomSource;
  /** Defaults to `DEFAULT_RETRY_POLICY`. */
  readonly retry?: RetryPolicy;
}

/** Why a candidate of a decision is never contacted. */
export type CandidateRejection = 'OUTSIDE_FENCE' | 'NOT_IN_TICKET';

/** Why a bridge's redirect is not followed. */
export type RedirectRejection = CandidateRejection | 'REDIRECT_LOOP';

/** Why the client goes back to the broker for a fresh route. */
export type RetryReason =
  /** Every planned attempt on the route failed or timed out. */
  | 'ATTEMPTS_EXHAUSTED'
  /** The route ticket expired before a bridge admitted the participant. */
  | 'TICKET_EXPIRED'
  /** No candidate of the route passed the ticket checks. */
  | 'NO_VALID_CANDIDATE'
  /** The broker could not be reached or gave no usable answer. */
  | 'BROKER_UNAVAILABLE'
  /** The broker refused for lack of capacity inside the fence. */
  | 'NO_CAPACITY_IN_FENCE';

// ---------------------------------------------------------------- events

/** The application asks to join; `meeting` and `participant`, when given, must match every ticket. */
export interface JoinEvent {
  readonly type: 'join';
  readonly meeting?: string;
  readonly participant?: string;
}

/** The application leaves; valid in every state. */
export interface LeaveEvent {
  readonly type: 'leave';
}

/** The broker answered `requestRoute` with a decision and its ticket. */
export interface RouteReceivedEvent {
  readonly type: 'routeReceived';
  readonly requestId: number;
  /** The route answer's decision: the machine reads its candidates and attempt policy. */
  readonly decision: RouteOffer;
  readonly ticket: RouteTicket;
  /** Whether the ticket's signature verified against the broker's keys. */
  readonly ticketVerified: boolean;
}

/** The broker refused (its error `code`: a refusal code, or e.g. MEETING_ENDED). */
export interface RouteRefusedEvent {
  readonly type: 'routeRefused';
  readonly requestId: number;
  readonly code: string;
  readonly message: string;
  /** From `Retry-After`; honoured for NO_CAPACITY_IN_FENCE. */
  readonly retryAfterMs?: number;
}

/** The broker request failed without an answer (network, 5xx); retried by the policy. */
export interface RouteFailedEvent {
  readonly type: 'routeFailed';
  readonly requestId: number;
  readonly reason: string;
}

/** A bridge admitted the participant. */
export interface ConnectedEvent {
  readonly type: 'connected';
  readonly attemptId: number;
  readonly datacenter: string;
}

/**
 * The attempt's bridge answered (its signalling socket opened): the attempt
 * now has `ADMISSION_TIMEOUT_MS` to be admitted. The route's short attempt
 * timeout is for bridges that cannot be reached; one that answers but is
 * slow to admit (a loaded machine, the broker's round trips) is waited for,
 * since abandoning it would only start the same work on another bridge.
 */
export interface ReachedEvent {
  readonly type: 'reached';
  readonly attemptId: number;
}

/** How long a bridge that answered has to admit the participant. */
export const ADMISSION_TIMEOUT_MS = 10_000;

/** A connection attempt failed before its timeout. */
export interface ConnectFailedEvent {
  readonly type: 'connectFailed';
  readonly attemptId: number;
  readonly datacenter: string;
  readonly reason: string;
}

/** A timer from `startTimer` fired. */
export interface TimeoutEvent {
  readonly type: 'timeout';
  readonly timerId: number;
}

/** An established (or establishing) connection dropped. */
export interface DisconnectedEvent {
  readonly type: 'disconnected';
  readonly attemptId: number;
  readonly reason?: string;
  /** The bridge's `refused` code, when it ended the session with one (see `FINAL_BRIDGE_CODES`). */
  readonly code?: string;
  /**
   * The connection was lost without a word from the bridge (its socket closed
   * or failed): the bridge is gone, the route is not (see `onConnected`).
   */
  readonly lost?: boolean;
}

/**
 * Codes with which a bridge ends a session for good: the meeting is over, or
 * the same participant joined again elsewhere (reconnecting would only
 * throw that session out in turn). Any other drop is followed by a fresh
 * route, which is where a changed policy gives its final word.
 */
export const FINAL_BRIDGE_CODES: readonly string[] = ['MEETING_ENDED', 'SESSION_REPLACED'];

/** A bridge says the meeting lives in another datacenter. */
export interface RedirectEvent {
  readonly type: 'redirect';
  readonly attemptId: number;
  readonly datacenter: string;
}

/**
 * The bridge renewed the connection's route ticket (signature checked by the
 * shell): the route it came from stays usable past the old expiry, for the
 * next datacenter of its plan if this bridge vanishes (the plan narrowed to
 * the candidates the renewal still names).
 */
export interface TicketRenewedEvent {
  readonly type: 'ticketRenewed';
  readonly attemptId: number;
  readonly ticket: RouteTicket;
}

/** Everything `step` accepts. */
export type ConnectionEvent =
  | TicketRenewedEvent
  | JoinEvent
  | LeaveEvent
  | RouteReceivedEvent
  | RouteRefusedEvent
  | RouteFailedEvent
  | ConnectedEvent
  | ReachedEvent
  | ConnectFailedEvent
  | TimeoutEvent
  | DisconnectedEvent
  | RedirectEvent;

// ---------------------------------------------------------------- notices

/** What the machine reports to the application through `emit`. */
export type ConnectionNotice =
  /** The decision's candidate ids differ from the ticket's (the ticket's order is used). */
  | { readonly type: 'routeMismatch'; readonly decision: readonly string[]; readonly ticket: readonly string[] }
  | { readonly type: 'candidateRejected'; readonly datacenter: string; readonly jurisdiction: string; readonly reason: CandidateRejection }
  /** `attempts`: connection attempts since the join (or the drop), across routes. */
  | { readonly type: 'connected'; readonly datacenter: string; readonly jurisdiction: string; readonly role: Candidate['role']; readonly attempts: number }
  /** `retry` counts from 1; the fresh route is requested after `delayMs`. */
  | { readonly type: 'retrying'; readonly reason: RetryReason; readonly retry: number; readonly delayMs: number }
  | { readonly type: 'reconnecting'; readonly datacenter: string }
  | { readonly type: 'redirecting'; readonly from: string; readonly to: string }
  | { readonly type: 'redirectRejected'; readonly datacenter: string; readonly reason: RedirectRejection }
  /** The broker said no; the state is `failed` with this code. */
  | { readonly type: 'refused'; readonly code: string; readonly message: string }
  /** The client gave up: TICKET_INVALID or ATTEMPTS_EXHAUSTED. */
  | { readonly type: 'failed'; readonly code: string; readonly message: string };

// ---------------------------------------------------------------- commands

/** What the shell must do, in order. */
export type Command =
  /** POST /v1/route; answer with routeReceived, routeRefused or routeFailed carrying `requestId`. */
  | { readonly type: 'requestRoute'; readonly requestId: number }
  /** Abort the broker request, if still in flight. */
  | { readonly type: 'cancelRoute'; readonly requestId: number }
  /**
   * Open a connection to the bridge of `datacenter`, presenting the ticket of
   * route `requestId`; answer with connected, connectFailed, redirect or
   * disconnected carrying `attemptId`. `attempt` counts tries of this
   * datacenter on this route, from 1.
   */
  | {
      readonly type: 'connect';
      readonly attemptId: number;
      readonly requestId: number;
      readonly datacenter: string;
      readonly jurisdiction: string;
      readonly role: Candidate['role'];
      readonly attempt: number;
      readonly timeoutMs: number;
    }
  /** Close (or abandon) the connection of `attemptId`; idempotent. */
  | { readonly type: 'disconnect'; readonly attemptId: number; readonly datacenter: string }
  /** Send `timeout { timerId }` at `deadline` (ms since the epoch), `delayMs` from now. */
  | { readonly type: 'startTimer'; readonly timerId: number; readonly deadline: number; readonly delayMs: number }
  | { readonly type: 'cancelTimer'; readonly timerId: number }
  | { readonly type: 'emit'; readonly notice: ConnectionNotice };

// ---------------------------------------------------------------- states

/** Where a join stands; carried from the join (or a drop) until connected or failed. */
export interface JoinProgress {
  /** The next id to hand out. */
  readonly nextId: number;
  readonly join: JoinTarget;
  /** Fresh routes already requested after the first one (the retry policy's `attempt`). */
  readonly retries: number;
  /** Connection attempts made so far. */
  readonly attempts: number;
}

/** What the tickets must be for. */
export interface JoinTarget {
  readonly meeting?: string;
  readonly participant?: string;
}

/** A route that passed the checks: what may be contacted, and in which order. */
export interface CheckedRoute {
  readonly requestId: number;
  readonly ticket: RouteTicket;
  /** Candidates that are in the ticket, in the jurisdiction it signs for them, in the ticket's order. */
  readonly candidates: readonly Candidate[];
  /** One entry per attempt: each primary `perPrimary` times, then each secondary once. */
  readonly plan: readonly Candidate[];
  readonly attempts: AttemptPolicy;
}

/** The connection attempt in flight (or the one that succeeded). */
export interface Attempt {
  /** Also the id of its timeout timer. */
  readonly attemptId: number;
  readonly candidate: Candidate;
  readonly attempt: number;
  readonly deadline: number;
}

/** Progress along a checked route. */
export interface RouteProgress extends JoinProgress {
  readonly route: CheckedRoute;
  /** Index in `route.plan` of the next attempt. */
  readonly next: number;
  readonly current: Attempt;
  /** Datacenters contacted on this route, in order. */
  readonly tried: readonly string[];
  /** Datacenters a bridge redirected to on this route. */
  readonly redirects: readonly string[];
  /** The route goes on after its bridge vanished (see `onConnected`): when it runs out, a fresh one at once, not after a back-off. */
  readonly resumed?: boolean;
}

/** Not joined yet. */
export interface IdleState {
  readonly status: 'idle';
  readonly nextId: number;
}

/** Waiting for the broker: `routing` for a join or a retry, `reconnecting` after a drop. */
export interface RoutingState extends JoinProgress {
  readonly status: 'routing' | 'reconnecting';
  readonly requestId: number;
}

/** Backing off before asking the broker again. */
export interface WaitingState extends JoinProgress {
  readonly status: 'waiting';
  readonly timerId: number;
  readonly deadline: number;
  readonly reason: RetryReason;
}

/** Trying a candidate. */
export interface ConnectingState extends RouteProgress {
  readonly status: 'connecting';
}

/** Admitted by a bridge. */
export interface ConnectedState extends RouteProgress {
  readonly status: 'connected';
}

/** Gave up or was refused; a new `join` starts over. */
export interface FailedState {
  readonly status: 'failed';
  readonly nextId: number;
  readonly code: string;
  readonly message: string;
}

/** Left; absorbs every event. */
export interface ClosedState {
  readonly status: 'closed';
}

/** Every state of the machine. */
export type ConnectionState = IdleState | RoutingState | WaitingState | ConnectingState | ConnectedState | FailedState | ClosedState;

/** The status names. */
export type ConnectionStatus = ConnectionState['status'];

/** What `step` returns. */
export interface StepResult {
  readonly state: ConnectionState;
  readonly commands: readonly Command[];
}
