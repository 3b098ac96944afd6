/**
 * The pure retry policy for going back to the broker: capped exponential
 * backoff with jitter, and a maximum number of retries. Randomness is passed
 * in, so the same source gives the same delays (tests, simulator).
 */

/** Uniform numbers in [0, 1), like `Math.random`, but passed in. */
export type RandomSource = () => number;

/** How long to wait before each fresh route, and how many to ask for. */
export interface RetryPolicy {
  /** Delay before the first retry, before jitter. */
  readonly baseDelayMs: number;
  /** No delay is longer than this. */
  readonly maxDelayMs: number;
  /** Fresh routes to ask for before giving up (at most `RETRY_LIMIT`). */
  readonly maxRetries: number;
  /** Share of each delay that is random: 0 none, 1 full jitter. */
  readonly jitter: number;
}

/** 0.5 s, 1 s, 2 s, 4 s, 8 s, 15 s, each minus up to half at random. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ baseDelayMs: 500, maxDelayMs: 15_000, maxRetries: 6, jitter: 0.5 });

/** No policy retries more often than this, whatever it says: the policy always terminates. */
export const RETRY_LIMIT = 100;

/**
 * The delay before retry number `attempt` (0 for the first retry), or null
 * when the client should give up. The delay is in
 * `[ceil(c × (1 − jitter)), c]` with `c = min(maxDelayMs, baseDelayMs × 2^attempt)`;
 * jitter spreads the clients a failure disconnects at once, so they do not
 * come back to the broker in step. Out-of-range policy values are clamped,
 * and an attempt that is not a non-negative integer gives null.
 */
export function nextRetryDelayMs(attempt: number, random: RandomSource, policy: RetryPolicy = DEFAULT_RETRY_POLICY): number | null {
  const maxRetries = Math.min(whole(policy.maxRetries), RETRY_LIMIT);
  if (!Number.isInteger(attempt) || attempt < 0 || attempt >= maxRetries) return null;
  const ceiling = Math.min(whole(policy.maxDelayMs), whole(policy.baseDelayMs) * 2 ** attempt);
  const jitter = unit(policy.jitter);
  return Math.ceil(ceiling * (1 - jitter * unit(random())));
}

/** A safe non-negative integer: NaN and negatives are 0, fractions round down, Infinity is capped. */
function whole(value: number): number {
  return value > 0 ? Math.floor(Math.min(value, Number.MAX_SAFE_INTEGER)) : 0;
}

/** Clamped into [0, 1]; NaN is 0. */
function unit(value: number): number {
  return value > 0 ? Math.min(value, 1) : 0;
}
