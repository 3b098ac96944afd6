/**
 * A per-KID anti-replay window over CTR values. RFC 9605 §9.3 leaves
 * anti-replay to the application and points to SRTP's (RFC 3711 §3.3.2):
 * remember the highest CTR accepted and which of the `size` CTRs below it were
 * seen; accept anything newer, and older CTRs once, while they are inside the
 * window. §7.5: with anti-replay, one forged tag buys at most one frame.
 */
import { joinU64, splitU64 } from './bytes.js';

/** The outcome of checking a CTR against the window. */
export type ReplayVerdict = 'fresh' | 'duplicate' | 'too-old';

/** Default window: 128 counters of reordering (SRTP's minimum is 64). */
export const DEFAULT_REPLAY_WINDOW = 128;

/** A sliding window of accepted CTRs for one KID. */
export class ReplayWindow {
  /** How many CTRs at and below the highest one the window remembers. */
  readonly size: number;
  /** Whether any CTR was accepted yet. */
  #started = false;
  /** The highest accepted CTR as 32-bit halves: per-frame work stays off BigInt, exact to 2^64 − 1. */
  #hi = 0;
  #lo = 0;
  /**
   * A ring of `#mask + 1` bits (a power of two ≥ size): bit (c mod ring) is set
   * ⇔ CTR c was accepted, for every c in (highest − ring, highest]. Only ages
   * below `size` are ever read, so the verdicts are those of SRTP's bitmap.
   */
  readonly #bits: Uint32Array;
  readonly #mask: number;

  constructor(size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isSafeInteger(size) || size < 1 || size > 65536) throw new RangeError(`replay window size must be an integer in 1..65536, got ${String(size)}`);
    this.size = size;
    let ring = 32;
    while (ring < size) ring *= 2;
    this.#bits = new Uint32Array(ring / 32);
    this.#mask = ring - 1;
  }

  /** The highest CTR accepted so far, if any. */
  get highest(): bigint | undefined {
    return this.#started ? joinU64(this.#hi, this.#lo) : undefined;
  }

  /** Whether `ctr` would be accepted, without recording it (check before authenticating). */
  check(ctr: bigint): ReplayVerdict {
    const [hi, lo] = splitU64(ctr);
    return this.checkHalves(hi, lo);
  }

  /**
   * Records `ctr` if it is still fresh and returns the verdict. Call only after
   * the frame authenticated, so forgeries cannot move the window; checking
   * again here closes the race between two concurrent decrypts of one frame.
   */
  accept(ctr: bigint): ReplayVerdict {
    const [hi, lo] = splitU64(ctr);
    return this.acceptHalves(hi, lo);
  }

  /** check() for the CTR hi · 2^32 + lo (halves in 0..2^32 − 1), without BigInt. */
  checkHalves(hi: number, lo: number): ReplayVerdict {
    if (!this.#started || hi > this.#hi || (hi === this.#hi && lo > this.#lo)) return 'fresh';
    if (ageAtLeast(this.#hi, this.#lo, hi, lo, this.size)) return 'too-old';
    const bit = lo & this.#mask; // 2^32 is a multiple of the ring, so lo alone gives c mod ring
    return ((this.#bits[bit >>> 5] ?? 0) >>> (bit & 31)) & 1 ? 'duplicate' : 'fresh';
  }

  /** accept() for the CTR hi · 2^32 + lo (halves in 0..2^32 − 1), without BigInt. */
  acceptHalves(hi: number, lo: number): ReplayVerdict {
    const verdict = this.checkHalves(hi, lo);
    if (verdict !== 'fresh') return verdict;
    if (!this.#started || hi > this.#hi || (hi === this.#hi && lo > this.#lo)) {
      // Newer than the highest: forget what the ring held for the CTRs it now slides over.
      if (!this.#started || ageAtLeast(hi, lo, this.#hi, this.#lo, this.#mask + 1)) this.#bits.fill(0);
      else this.#clear((this.#lo + 1) & this.#mask, (lo - this.#lo + 2 ** 32) % 2 ** 32);
      this.#started = true;
      this.#hi = hi;
      this.#lo = lo;
    }
    const bit = lo & this.#mask;
    this.#bits[bit >>> 5] = (this.#bits[bit >>> 5] ?? 0) | (1 << (bit & 31));
    return 'fresh';
  }

  /** Clears `count` (< ring) bits of the ring from position `from`, wrapping; whole words where it can. */
  #clear(from: number, count: number): void {
    const bits = this.#bits;
    let at = from;
    for (let left = count; left > 0; ) {
      if ((at & 31) === 0 && left >= 32) {
        bits[at >>> 5] = 0;
        at = (at + 32) & this.#mask;
        left -= 32;
      } else {
        bits[at >>> 5] = (bits[at >>> 5] ?? 0) & ~(1 << (at & 31));
        at = (at + 1) & this.#mask;
        left--;
      }
    }
  }
}

/** Whether (aHi, aLo) − (bHi, bLo) ≥ `limit`, for a ≥ b as 64-bit halves and a limit below 2^32. */
function ageAtLeast(aHi: number, aLo: number, bHi: number, bLo: number, limit: number): boolean {
  const hi = aHi - bHi;
  if (hi === 0) return aLo - bLo >= limit;
  // hi ≥ 1: the difference is (hi − 1) · 2^32 + (2^32 + aLo − bLo), at least the second term.
  return hi > 1 || 2 ** 32 + aLo - bLo >= limit;
}
