/**
 * A zone's lists as one country sees them: each listed datacenter with its
 * distance, its RTT estimate and whether the country's fences allow its
 * jurisdiction, nearest first. None of that depends on the live state or the
 * request's other inputs, so it is worked out once per country and manifest
 * and the decider's hot path does only what changes between decisions.
 */
import { estimateRttMs, greatCircleKm } from '../geo/distance.js';
import { countryPoint } from '../geo/countries.js';
import type { GeoPoint } from '../manifest/types.js';
import { compareStrings } from '../order.js';
import type { CompiledPolicy, ListedDatacenter } from '../policy/compile.js';

/** One listed datacenter seen from a point. */
export interface ListedFrom {
  readonly listed: ListedDatacenter;
  readonly km: number;
  readonly rttMs: number;
  /** The country's fences allow the datacenter's jurisdiction (before plans, accounts and the meeting narrow it). */
  readonly inFence: boolean;
  /** The `Candidate` it becomes when offered in its listed role: one frozen object shared by every decision. */
  readonly candidate: { readonly datacenter: string; readonly role: 'primary' | 'secondary'; readonly jurisdiction: string };
}

/** A zone's primaries and secondaries, each nearest first (ties in id order). */
export interface ListedView {
  readonly primaries: readonly ListedFrom[];
  readonly secondaries: readonly ListedFrom[];
}

const byPolicy = new WeakMap<CompiledPolicy, Map<string, ListedView>>();
const fencesByPolicy = new WeakMap<CompiledPolicy, Map<string, Uint8Array>>();

/**
 * The zone's lists seen from `country`'s representative point, or from
 * `location` when the request gives one (worked out for that decision alone).
 */
export function listedView(policy: CompiledPolicy, country: string, location: GeoPoint | undefined): ListedView {
  let views = byPolicy.get(policy);
  if (!views) byPolicy.set(policy, (views = new Map<string, ListedView>()));
  let view = views.get(country);
  if (!view) views.set(country, (view = build(policy, country, countryPoint(country) ?? { lat: 0, lon: 0 })));
  return location === undefined ? view : seenFrom(view, location);
}

function build(policy: CompiledPolicy, country: string, from: GeoPoint): ListedView {
  const zone = policy.zoneFor(country);
  const fence = policy.fenceAllowed(country);
  const entries = (zone ? policy.listedIn(zone) : []).map((listed): ListedFrom => {
    const { datacenter, role } = listed;
    const km = greatCircleKm(from, datacenter.location);
    const candidate = Object.freeze({ datacenter: datacenter.id, role, jurisdiction: datacenter.jurisdiction });
    return { listed, km, rttMs: estimateRttMs(km), inFence: fence.has(datacenter.jurisdiction), candidate };
  });
  return split(entries);
}

function seenFrom(view: ListedView, from: GeoPoint): ListedView {
  const again = (e: ListedFrom): ListedFrom => {
    const km = greatCircleKm(from, e.listed.datacenter.location);
    return { ...e, km, rttMs: estimateRttMs(km) };
  };
  return split([...view.primaries.map(again), ...view.secondaries.map(again)]);
}

function split(entries: readonly ListedFrom[]): ListedView {
  const nearest = [...entries].sort((a, b) => a.km - b.km || compareStrings(a.listed.datacenter.id, b.listed.datacenter.id));
  return {
    primaries: nearest.filter((e) => e.listed.role === 'primary'),
    secondaries: nearest.filter((e) => e.listed.role === 'secondary'),
  };
}

/**
 * 1 at each position of `policy.datacentersById` whose jurisdiction the
 * country's fences allow: what explaining a decision checks for every
 * datacenter of the manifest, worked out once per country.
 */
export function fenceByIndex(policy: CompiledPolicy, country: string): Uint8Array {
  let byCountry = fencesByPolicy.get(policy);
  if (!byCountry) fencesByPolicy.set(policy, (byCountry = new Map<string, Uint8Array>()));
  let inFence = byCountry.get(country);
  if (!inFence) {
    const fence = policy.fenceAllowed(country);
    inFence = Uint8Array.from(policy.datacentersById, (dc) => (fence.has(dc.jurisdiction) ? 1 : 0));
    byCountry.set(country, inFence);
  }
  return inFence;
}
