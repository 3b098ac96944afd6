/**
 * Placements are leases, not titles. A meeting whose room has been empty for
 * `placementReleaseMs` (nobody admitted anywhere), or that has ended, is
 * unplaced, so the next participant places it afresh under the policy then
 * in force: a guest who joined first and left cannot pin a meeting to one
 * datacenter for good.
 */
import { recordAudit, type BrokerContext } from './context.js';

/** Sweeps placements on a timer; `stop()` ends it. */
export class PlacementReleaser {
  readonly #ctx: BrokerContext;
  /** When each placed meeting was first seen empty (monotonic ms). */
  readonly #emptySince = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #sweeping: Promise<readonly string[]> | undefined;

  constructor(ctx: BrokerContext) {
    this.#ctx = ctx;
  }

  /** Sweeps every `everyMs` until stopped. */
  start(everyMs: number): void {
    this.#timer ??= setInterval(() => {
      void this.sweep().catch(() => undefined);
    }, everyMs);
    this.#timer.unref();
  }

  /** Stops sweeping and waits for a sweep in progress; idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping?.catch(() => undefined);
  }

  /** Releases what is due now; returns the meetings released. One sweep at a time. */
  sweep(): Promise<readonly string[]> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweep(): Promise<readonly string[]> {
    const { store } = this.#ctx;
    const now = this.#ctx.monotonicMs();
    const released: string[] = [];
    const placements = await store.listPlacements();
    const placed = new Set(placements.map((p) => p.meetingId));
    for (const id of this.#emptySince.keys()) if (!placed.has(id)) this.#emptySince.delete(id);
    for (const placement of placements) {
      const meeting = await store.getMeeting(placement.meetingId);
      const empty = (await store.listParticipants(placement.meetingId)).length === 0;
      if (!empty && !meeting?.endedAt) {
        this.#emptySince.delete(placement.meetingId);
        continue;
      }
      const since = this.#emptySince.get(placement.meetingId) ?? now;
      this.#emptySince.set(placement.meetingId, since);
      if (!meeting?.endedAt && now - since < this.#ctx.config.placementReleaseMs) continue;
      if (!(await store.releasePlacement(placement.meetingId, placement.epoch))) continue;
      this.#emptySince.delete(placement.meetingId);
      released.push(placement.meetingId);
      await recordAudit(this.#ctx, 'placement.released', {
        meeting: placement.meetingId,
        datacenter: placement.datacenter,
        epoch: placement.epoch,
        reason: meeting?.endedAt ? 'the meeting ended' : `nobody in the meeting for ${Math.round((now - since) / 1000)} s`,
      });
    }
    return released;
  }
}
