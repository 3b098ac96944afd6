/**
 * Cascade figures: each sampled meeting planned as a cascade by the core's
 * `planMeeting`, and placed in one home as the broker does (the first
 * participant's decision places it, the others join it through the decider
 * with `placedAt`). Both ask the one decider; nothing here picks a datacenter
 * or judges a fence itself.
 */
import { greatCircleKm } from '../core/geo/distance.js';
import { countryPoint } from '../core/geo/countries.js';
import type { Manifest } from '../core/manifest/types.js';
import { compareStrings } from '../core/order.js';
import { planMeeting, type MeetingParticipant, type MeetingPlan } from '../core/plan/plan.js';
import { compilePolicy, type CompiledPolicy } from '../core/policy/compile.js';
import { routeRequestFor } from '../core/select/meeting-policy.js';
import { isRefusal, selectRoute, type LiveState } from '../core/select/select.js';
import type { MeetingSample } from './meetings.js';
import type { CascadeFigures } from './result.js';

/** Where a participant is under one model: a datacenter, or the code of the refusal. */
export type Placement = { readonly datacenter: string } | { readonly refused: string };

/**
 * One home per meeting, as the broker places it: the first participant the
 * decider routes places the meeting at its first candidate (everyone routes
 * with the first participant as host); the rest join that datacenter or are
 * refused (`FENCE_CONFLICT` when their fences forbid it).
 */
export function placeAtHome(manifest: Manifest, participants: readonly MeetingParticipant[], live: LiveState): Placement[] {
  const hostCountry = participants[0]?.country;
  const policy = hostCountry === undefined ? undefined : { hostCountry };
  let home: string | undefined;
  return participants.map((p): Placement => {
    const extra = { ...(p.location ? { location: p.location } : {}), ...(home === undefined ? {} : { placedAt: home }) };
    const route = selectRoute(manifest, routeRequestFor(p.country, policy, extra), live);
    if (isRefusal(route)) return { refused: route.error.code };
    const first = route.candidates[0];
    // The decider refuses rather than answer an empty list; counted as no capacity should that ever change.
    if (first === undefined) return { refused: 'NO_CAPACITY_IN_FENCE' };
    home ??= first.datacenter;
    return { datacenter: first.datacenter };
  });
}

/** What one meeting adds to the figures. */
export interface MeetingOutcome {
  readonly plan: MeetingPlan;
  readonly home: readonly Placement[];
}

/** Plans one meeting both ways under the same manifest and live state (E2EE, the default meeting). */
export function compareMeeting(manifest: Manifest, participants: readonly MeetingParticipant[], live: LiveState): MeetingOutcome {
  return { plan: planMeeting(manifest, participants, live), home: placeAtHome(manifest, participants, live) };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function sortedRecord(map: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...map].sort((a, b) => compareStrings(a[0], b[0])));
}

/** Accumulates the cascade figures of a run's sampled meetings. */
export class CascadeTally {
  readonly #sample: MeetingSample;
  #meetings = 0;
  #participants = 0;
  #pairs = 0;
  #compared = 0;
  #cascadeKm = 0;
  #homeKm = 0;
  #relayHops = 0;
  readonly #byFence = new Map<string, number>();
  readonly #byPair = new Map<string, { from: string; to: string; hops: number }>();
  readonly #unreachable = new Map<string, number>();
  readonly #unroutedCascade = new Map<string, number>();
  readonly #unroutedHome = new Map<string, number>();

  constructor(sample: MeetingSample) {
    this.#sample = sample;
  }

  /** Lists every fence of a manifest in force, so a fence whose senders never relayed shows 0. */
  knowFences(manifest: Manifest): void {
    for (const f of manifest.fences) if (!this.#byFence.has(f.name)) this.#byFence.set(f.name, 0);
  }

  /**
   * Adds one meeting, planned on `decider` (the manifest the run routes with);
   * relays are attributed to the fences of `reference` (the manifest in force,
   * with its fences even in a run that does not enforce them).
   */
  add(reference: CompiledPolicy, decider: Manifest, participants: readonly MeetingParticipant[], live: LiveState): void {
    this.knowFences(reference.manifest);
    const { plan, home } = compareMeeting(decider, participants, live);
    const datacenters = compilePolicy(decider).datacenterById;
    this.#meetings++;
    this.#participants += participants.length;
    this.#pairs += participants.length * (participants.length - 1);
    participants.forEach((p, i) => {
      const cascade = plan.routes[i];
      const there = plan.participants[i]?.datacenter ?? null;
      const atHome = home[i];
      if (there === null) bump(this.#unroutedCascade, cascade && isRefusal(cascade) ? cascade.error.code : 'NO_CAPACITY_IN_FENCE');
      if (atHome && 'refused' in atHome) bump(this.#unroutedHome, atHome.refused);
      const from = p.location ?? countryPoint(p.country);
      const near = there === null ? undefined : datacenters.get(there)?.location;
      const far = atHome && 'datacenter' in atHome ? datacenters.get(atHome.datacenter)?.location : undefined;
      // Only participants with a bridge under both models are compared, so the ratio is like for like.
      if (from === undefined || near === undefined || far === undefined) return;
      this.#compared++;
      this.#cascadeKm += greatCircleKm(from, near);
      this.#homeKm += greatCircleKm(from, far);
    });
    const countryOf = new Map(participants.map((p) => [p.name, p.country]));
    for (const relay of plan.relays) {
      const pair = this.#byPair.get(`${relay.from}\u0000${relay.to}`) ?? { from: relay.from, to: relay.to, hops: 0 };
      pair.hops += relay.streams.length;
      this.#byPair.set(`${relay.from}\u0000${relay.to}`, pair);
      this.#relayHops += relay.streams.length;
      for (const name of relay.streams) {
        for (const f of reference.fencesFor(countryOf.get(name) ?? '')) bump(this.#byFence, f.fence.name);
      }
    }
    for (const u of plan.unreachable) bump(this.#unreachable, u.reason);
  }

  /** The figures so far (km rounded to 0.1, the ratio to 0.001). */
  figures(): CascadeFigures {
    const n = this.#compared;
    const cascadeKm = n > 0 ? this.#cascadeKm / n : 0;
    const homeKm = n > 0 ? this.#homeKm / n : 0;
    return {
      sample: { ...this.#sample },
      meetings: this.#meetings,
      participants: this.#participants,
      distanceKm: { cascade: round1(cascadeKm), home: round1(homeKm), participants: n },
      distanceRatio: homeKm > 0 ? Math.round((cascadeKm / homeKm) * 1000) / 1000 : null,
      relayHops: {
        total: this.#relayHops,
        byFence: sortedRecord(this.#byFence),
        byPair: [...this.#byPair.values()].sort((a, b) => b.hops - a.hops || compareStrings(a.from, b.from) || compareStrings(a.to, b.to)),
      },
      unreachable: { pairs: this.#pairs, byReason: sortedRecord(this.#unreachable) },
      unrouted: { cascade: sortedRecord(this.#unroutedCascade), home: sortedRecord(this.#unroutedHome) },
    };
  }
}
