/**
 * Runs tasks in lanes: a lane's tasks one after another, in the order given;
 * different lanes side by side, at most `limit` tasks at once. The bridge's
 * reports to the broker go through it, a lane per participant (or meeting,
 * or kind), so an admission does not wait behind another participant's, nor
 * a heartbeat behind an admission.
 */
export class Lanes {
  readonly #limit: number;
  /** The last task of each lane, settled (never rejects). */
  readonly #tails = new Map<string, Promise<void>>();
  readonly #waiting: (() => void)[] = [];
  #running = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  run<T>(lane: string, task: () => Promise<T>): Promise<T> {
    const result = (this.#tails.get(lane) ?? Promise.resolve()).then(async () => {
      await this.#slot();
      try {
        return await task();
      } finally {
        this.#release();
      }
    });
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(lane, tail);
    // A lane that went quiet is forgotten, so lanes per participant do not pile up.
    void tail.then(() => {
      if (this.#tails.get(lane) === tail) this.#tails.delete(lane);
    });
    return result;
  }

  /** Lanes with a task queued or running. */
  get busy(): number {
    return this.#tails.size;
  }

  #slot(): Promise<void> {
    if (this.#running < this.#limit) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    // The slot passes straight to the next waiting task.
    if (next) next();
    else this.#running--;
  }
}
