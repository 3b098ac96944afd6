/**
 * A per-KID anti-replay window over CTR values. RFC 9605 §9.3 leaves
 * anti-replay to the application and points to SRTP's (RFC 3711 §3.3.2):
 * remember the highest CTR accepted and which of the `size` CTRs below it were
 * seen; accept anything newer, and older CTRs once, while they are inside the
 * window. §7.5: with anti-replay, one forged tag buys at most one frame.
 */

/** The outcome of checking a CTR against the window. */
export type ReplayVerdict = 'fresh' | 'duplicate' | 'too-old';

/** Default window: 128 counters of reordering (SRTP's minimum is 64). */
export const DEFAULT_REPLAY_WINDOW = 128;

/** A sliding window of accepted CTRs for one KID. */
export class ReplayWindow {
  /** How many CTRs at and below the highest one the window remembers. */
  readonly size: number;
  #highest: bigint | undefined;
  /** Bit i set ⇔ CTR (highest − i) was accepted. */
  #seen = 0n;
  readonly #mask: bigint;

  constructor(size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isSafeInteger(size) || size < 1 || size > 65536) throw new RangeError(`replay window size must be an integer in 1..65536, got ${String(size)}`);
    this.size = size;
    this.#mask = (1n << BigInt(size)) - 1n;
  }

  /** The highest CTR accepted so far, if any. */
  get highest(): bigint | undefined {
    return this.#highest;
  }

  /** Whether `ctr` would be accepted, without recording it (check before authenticating). */
  check(ctr: bigint): ReplayVerdict {
    if (this.#highest === undefined || ctr > this.#highest) return 'fresh';
    const age = this.#highest - ctr;
    if (age >= BigInt(this.size)) return 'too-old';
    return (this.#seen >> age) & 1n ? 'duplicate' : 'fresh';
  }

  /**
   * Records `ctr` if it is still fresh and returns the verdict. Call only after
   * the frame authenticated, so forgeries cannot move the window; checking
   * again here closes the race between two concurrent decrypts of one frame.
   */
  accept(ctr: bigint): ReplayVerdict {
    const verdict = this.check(ctr);
    if (verdict !== 'fresh') return verdict;
    if (this.#highest === undefined || ctr > this.#highest) {
      const shift = this.#highest === undefined ? BigInt(this.size) : ctr - this.#highest;
      this.#seen = shift >= BigInt(this.size) ? 1n : ((this.#seen << shift) | 1n) & this.#mask;
      this.#highest = ctr;
    } else {
      this.#seen |= 1n << (this.#highest - ctr);
    }
    return 'fresh';
  }
}
