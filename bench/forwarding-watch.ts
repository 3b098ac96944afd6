/**
 * Watches one meeting's `Room.forwarded` on one bridge (src/bridge/sfu.ts):
 * when it last grew, to the microsecond, and whether it has stopped.
 *
 * The counter is a plain public field that the room increments on the
 * event loop each time it writes a packet to subscribers. Rather than only
 * polling it (which sees an increment up to one period plus the loop's lag
 * late), the watch replaces the field on that room object with an accessor
 * that notes the time of every change, so the last increment is timed
 * exactly; the product code is not touched. A 5 ms poll runs beside it: it
 * picks up a new Room object should the bridge make one for the meeting
 * (it deletes a room when it empties), and gives the sampled time of the last
 * change as a cross-check.
 */
import type { Room } from '../src/bridge/sfu.js';

/** How often the poll runs, ms. */
export const SAMPLE_MS = 5;

/** What a watch saw since it started. */
export interface ForwardingSeen {
  /** `performance.now()` of the last increment seen by the accessor; undefined if none since the start. */
  readonly lastIncrementAt: number | undefined;
  /** `performance.now()` of the poll that first saw the last change; undefined if none. */
  readonly lastPolledChangeAt: number | undefined;
  /** Packets forwarded since the start, over every room object of the meeting. */
  readonly packets: number;
}

/** A running watch over `rooms().get(meeting)`. */
export class ForwardingWatch {
  readonly #lookup: () => Room | undefined;
  readonly #rooms = new Map<Room, { readonly start: number; polled: number }>();
  readonly #timer: ReturnType<typeof setInterval>;
  #lastIncrementAt: number | undefined;
  #lastPolledChangeAt: number | undefined;

  constructor(lookup: () => Room | undefined) {
    this.#lookup = lookup;
    this.#poll();
    this.#timer = setInterval(() => {
      this.#poll();
    }, SAMPLE_MS);
  }

  /** What was seen so far. */
  seen(): ForwardingSeen {
    let packets = 0;
    for (const [room, r] of this.#rooms) packets += room.forwarded - r.start;
    return { lastIncrementAt: this.#lastIncrementAt, lastPolledChangeAt: this.#lastPolledChangeAt, packets };
  }

  /**
   * Resolves once `settled()` holds and nothing was forwarded for `quietMs`;
   * rejects after `limitMs` (forwarding that never stops fails the run), saying `state()`.
   */
  async quiet(quietMs: number, limitMs: number, settled: () => boolean, state: () => string): Promise<ForwardingSeen> {
    const started = performance.now();
    for (;;) {
      const now = performance.now();
      // Quiet counts from the later of the last increment and the call.
      const since = Math.max(this.#lastIncrementAt ?? started, started);
      if (settled() && now - since >= quietMs) return this.seen();
      if (now - started > limitMs) throw new Error(`${limitMs} ms after the change, ${settled() ? `still forwarding (last ${(now - since).toFixed(0)} ms ago)` : 'not settled'}: ${state()}`);
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  }

  /** Stops polling; the accessors stay on their (discarded) room objects. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #poll(): void {
    const room = this.#lookup();
    if (room && !this.#rooms.has(room)) this.#instrument(room);
    for (const [r, seen] of this.#rooms) {
      if (r.forwarded === seen.polled) continue;
      seen.polled = r.forwarded;
      this.#lastPolledChangeAt = performance.now();
    }
  }

  #instrument(room: Room): void {
    let value = room.forwarded;
    this.#rooms.set(room, { start: value, polled: value });
    Object.defineProperty(room, 'forwarded', {
      configurable: true,
      enumerable: true,
      get: () => value,
      set: (next: number) => {
        if (next !== value) this.#lastIncrementAt = performance.now();
        value = next;
      },
    });
  }
}
