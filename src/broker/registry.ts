/**
 * What the broker knows about live bridges, from their signed heartbeats. The
 * decider gets it as LiveState: a datacenter whose heartbeat is older than the
 * timeout (or that is draining) is down; utilization is load ÷ the capacity
 * the manifest gives — a bridge never reports its own jurisdiction, location
 * or capacity.
 *
 * Load shedding (`serve --shed-at`): a bridge also reports how busy its event
 * loop was since its last heartbeat. One whose average passes the threshold
 * is full to the decider, whatever its seat count, until the average falls
 * SHED_HYSTERESIS below it: a saturated bridge takes no new participants (they
 * go to the next datacenter inside their fences, or are refused), rather than
 * admitting people it cannot serve.
 */
import type { Manifest } from '../core/manifest/types.js';
import { indexLiveState, type LiveState } from '../core/select/select.js';

/** What a bridge reports in a heartbeat. */
export interface BridgeReport {
  readonly participants: number;
  readonly cpu: number;
  readonly draining: boolean;
  /** Where clients reach the bridge's signalling (ws: or wss:), as the bridge announces it. */
  readonly url?: string;
  /** The MLS groups it orders that someone holds, by meeting (the console's E2EE state). */
  readonly groups?: readonly { readonly meeting: string; readonly epoch: number; readonly members: number }[];
  /** The share of the time since its last heartbeat that its event loop was busy (0–1); bridges before it say nothing. */
  readonly loop?: number;
}

/** A shedding bridge takes participants again once its loop average is this far below the threshold. */
export const SHED_HYSTERESIS = 0.1;
/** The weight of the newest heartbeat in the loop average: a single busy second does not shed. */
const LOOP_WEIGHT = 0.5;

interface Entry extends BridgeReport {
  readonly lastSeenMs: number;
  /** `groups` by meeting: the console looks up each meeting's. */
  readonly groupByMeeting: ReadonlyMap<string, { readonly epoch: number; readonly members: number }>;
  /** `loop`, averaged over recent heartbeats. */
  readonly loopAverage: number;
  readonly shedding: boolean;
}

/** Live bridges by datacenter. */
export class BridgeRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #timeoutMs: number;
  readonly #assumeUp: boolean;
  /** The last live state built, and until when it holds: every route asks, and building it walks the whole manifest. */
  #cached: { readonly manifest: Manifest; readonly state: LiveState; readonly untilMs: number } | undefined;
  /** Set while this broker cannot hear the others (their bus is away): every datacenter counts as down. */
  #suspended = false;
  /** Load shedding's threshold: the loop average at which a bridge counts as full; undefined when off. */
  readonly shedAt: number | undefined;

  /**
   * @param timeoutMs heartbeats older than this mark a datacenter down
   * @param assumeUp  treat datacenters that never reported as up and idle (local demos without bridges)
   * @param shedAt    load shedding's threshold (serve --shed-at); off when absent
   */
  constructor(timeoutMs: number, assumeUp: boolean, shedAt?: number) {
    this.#timeoutMs = timeoutMs;
    this.#assumeUp = assumeUp;
    this.shedAt = shedAt;
  }

  /** Records a heartbeat; returns true when this is the datacenter's first since it was down or unknown. */
  report(datacenter: string, report: BridgeReport, nowMs: number): boolean {
    const before = this.#entries.get(datacenter);
    const first = !before || nowMs - before.lastSeenMs > this.#timeoutMs;
    const loop = report.loop ?? 0;
    const loopAverage = first ? loop : LOOP_WEIGHT * loop + (1 - LOOP_WEIGHT) * before.loopAverage;
    const wasShedding = before?.shedding === true;
    const at = this.shedAt;
    // A bridge back from down starts afresh; one that sheds goes on until its average is well below the threshold.
    const shedding = at !== undefined && (wasShedding && !first ? loopAverage >= at - SHED_HYSTERESIS : loopAverage >= at);
    this.#entries.set(datacenter, { ...report, lastSeenMs: nowMs, groupByMeeting: new Map((report.groups ?? []).map((g) => [g.meeting, g])), loopAverage, shedding });
    this.#cached = undefined;
    return first;
  }

  /** Whether the datacenter's bridge sheds load now (a stale report sheds nothing: the bridge is down). */
  isShedding(datacenter: string, nowMs: number): boolean {
    return this.isLive(datacenter, nowMs) && this.#entries.get(datacenter)?.shedding === true;
  }

  /** The bridge's event-loop load averaged over its recent heartbeats (0–1); undefined when it is not live. */
  loopAverage(datacenter: string, nowMs: number): number | undefined {
    return this.isLive(datacenter, nowMs) ? this.#entries.get(datacenter)?.loopAverage : undefined;
  }

  /** The bridge's presence connection dropped: down now, until its next heartbeat. */
  lost(datacenter: string): void {
    const e = this.#entries.get(datacenter);
    // Kept as an entry that is infinitely stale: a datacenter that never reported counts as up in dev mode.
    if (e) this.#entries.set(datacenter, { ...e, lastSeenMs: Number.NEGATIVE_INFINITY });
    this.#cached = undefined;
  }

  /** The MLS group of `meeting` as the live bridge of `datacenter` last reported it. */
  groupAt(datacenter: string, meeting: string, nowMs: number): { readonly epoch: number; readonly members: number } | undefined {
    if (!this.isLive(datacenter, nowMs)) return undefined;
    return this.#entries.get(datacenter)?.groupByMeeting.get(meeting);
  }

  /** True when the datacenter's bridge reported within the timeout (and the registry is not suspended). */
  isLive(datacenter: string, nowMs: number): boolean {
    const e = this.#entries.get(datacenter);
    return !this.#suspended && e !== undefined && nowMs - e.lastSeenMs <= this.#timeoutMs;
  }

  /**
   * Fails closed while the brokers' bus is away: a bridge lost by another
   * broker would go unheard, so no datacenter counts as up (not even in dev
   * mode) until `resume`.
   */
  suspend(): void {
    this.#suspended = true;
    this.#cached = undefined;
  }

  resume(): void {
    this.#suspended = false;
    this.#cached = undefined;
  }

  /** Every datacenter but `keep` is down until its next heartbeat (what was heard before an outage is not trusted after it). */
  loseAllExcept(keep: ReadonlySet<string>): void {
    for (const datacenter of this.#entries.keys()) if (!keep.has(datacenter)) this.lost(datacenter);
  }

  /** The signalling URL the datacenter's bridge last announced, live or not. */
  url(datacenter: string): string | undefined {
    return this.#entries.get(datacenter)?.url;
  }

  /** The signalling URL of each live bridge among `datacenters`. */
  endpoints(datacenters: readonly string[], nowMs: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const id of datacenters) {
      const url = this.#entries.get(id)?.url;
      if (url !== undefined && this.isLive(id, nowMs)) out[id] = url;
    }
    return out;
  }

  /** True when the datacenter's bridge is live and not draining: it keeps the meetings placed on it. */
  isServing(datacenter: string, nowMs: number): boolean {
    return this.isLive(datacenter, nowMs) && this.#entries.get(datacenter)?.draining === false;
  }

  /** Datacenters with a live bridge. */
  liveCount(nowMs: number): number {
    return [...this.#entries.keys()].filter((d) => this.isLive(d, nowMs)).length;
  }

  /** The live state the decider needs, for the manifest in force. */
  liveState(manifest: Manifest, nowMs: number): LiveState {
    const cached = this.#cached;
    // It changes only with a report, a lost bridge, a new manifest, or a heartbeat growing stale.
    if (cached?.manifest === manifest && nowMs < cached.untilMs) return cached.state;
    if (this.#suspended) return { down: new Set(manifest.datacenters.map((d) => d.id)), utilization: new Map() };
    const down = new Set<string>();
    const utilization = new Map<string, number>();
    let untilMs = Number.POSITIVE_INFINITY;
    for (const dc of manifest.datacenters) {
      const e = this.#entries.get(dc.id);
      if (!e) {
        if (!this.#assumeUp) down.add(dc.id);
        continue;
      }
      const staleAtMs = e.lastSeenMs + this.#timeoutMs;
      if (nowMs > staleAtMs || e.draining) down.add(dc.id);
      else untilMs = Math.min(untilMs, staleAtMs);
      const seats = dc.capacity > 0 ? e.participants / dc.capacity : 1;
      utilization.set(dc.id, e.shedding ? Math.max(seats, 1) : seats);
    }
    // Indexed once per state: every route until the next change reads it by datacenter position.
    const state = indexLiveState(manifest, { down, utilization });
    this.#cached = { manifest, state, untilMs };
    return state;
  }
}
