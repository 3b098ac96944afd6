/**
 * A rate bound for messages whose latest value is all that matters (a
 * participant's `state`: muted, sharing a screen). Each one the bridge
 * applies is told to every other participant, and a screen turned on and off
 * renegotiates every subscriber: a client could make the bridge do that as
 * fast as it could send. Up to `burst` are applied at once, then `perSecond`;
 * one that comes faster waits, and a later one replaces it, so the last
 * value sent is always applied, a little late at worst.
 */
export class LatestWins<T> {
  readonly #apply: (value: T) => void;
  readonly #burst: number;
  readonly #perSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;
  #pending: { readonly value: T } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(apply: (value: T) => void, burst: number, perSecond: number, now: () => number = () => performance.now()) {
    this.#apply = apply;
    this.#burst = burst;
    this.#perSecond = perSecond;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  /** Applies `value` now if the budget allows, else once it does (unless a later value comes first). */
  submit(value: T): void {
    this.#refill();
    if (this.#pending === undefined && this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#apply(value);
      return;
    }
    this.#pending = { value };
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, Math.ceil(((1 - this.#tokens) / this.#perSecond) * 1000));
  }

  /** Drops what waits: the session ended. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
  }

  #flush(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    this.submit(pending.value);
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#perSecond);
    this.#at = now;
  }
}
