/**
 * Exposure diff: what a manifest change does to where participants' data may
 * go. This is what a reviewer reads before approving a change.
 */
import { ALL_COUNTRY_CODES } from '../geo/countries.js';
import type { Datacenter, Manifest, Zone } from '../manifest/types.js';
import { compareStrings } from '../order.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { findFenceCrossings } from './check.js';

/** Countries whose reachable jurisdictions change the same way. */
export interface ExposureChange {
  readonly countries: readonly string[];
  /** Jurisdictions that become reachable (under some failure or load). */
  readonly gained: readonly string[];
  /** Jurisdictions that become unreachable. */
  readonly lost: readonly string[];
}

/** Added and removed entries of a list. */
export interface ListChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/** How one zone changed. */
export interface ZoneChange {
  readonly zone: string;
  readonly change: 'added' | 'removed' | 'changed';
  readonly countries: ListChange;
  readonly primaries: ListChange;
  readonly secondaries: ListChange;
}

/** A fence and the capacity of the datacenters it permits, before and after. */
export interface FenceCapacity {
  readonly fence: string;
  readonly change: 'added' | 'removed' | 'changed' | 'unchanged';
  readonly capacityBefore: number;
  readonly capacityAfter: number;
}

/** How one datacenter changed. */
export interface DatacenterChange {
  readonly datacenter: string;
  readonly change: 'added' | 'removed' | 'changed';
  readonly before?: { readonly jurisdiction: string; readonly capacity: number };
  readonly after?: { readonly jurisdiction: string; readonly capacity: number };
}

/** A list entry that crosses a fence: held by the decider, rejected by `check`. */
export interface CrossingChange {
  readonly change: 'added' | 'removed';
  readonly zone: string;
  readonly datacenter: string;
  readonly jurisdiction: string;
  readonly fence: string;
}

/** Everything a change does to exposure, lists and capacity. */
export interface ManifestDiff {
  readonly exposure: readonly ExposureChange[];
  /** Lists that start or stop crossing a fence (the 2020 misconfiguration shows up here). */
  readonly crossings: readonly CrossingChange[];
  readonly zones: readonly ZoneChange[];
  readonly fences: readonly FenceCapacity[];
  readonly datacenters: readonly DatacenterChange[];
}

/** Compares two manifests by what participants of each country could reach. */
export function diffManifests(before: Manifest, after: Manifest): ManifestDiff {
  const a = compilePolicy(before);
  const b = compilePolicy(after);
  return {
    exposure: diffExposure(a, b),
    crossings: diffCrossings(a, b),
    zones: diffZones(before, after),
    fences: diffFences(a, b),
    datacenters: diffDatacenters(before, after),
  };
}

/**
 * Jurisdictions a country's participants (without a plan) can reach when any
 * combination of failures and load makes the decider walk their whole lists.
 */
export function reachableJurisdictions(policy: CompiledPolicy, country: string): ReadonlySet<string> {
  const zone = policy.zoneFor(country);
  const out = new Set<string>();
  if (!zone) return out;
  const allowed = policy.fenceAllowed(country);
  for (const id of [...zone.primaries, ...zone.secondaries]) {
    const dc = policy.datacenterById.get(id);
    if (dc && allowed.has(dc.jurisdiction) && policy.claimsOn(dc).length === 0) out.add(dc.jurisdiction);
  }
  return out;
}

function diffExposure(a: CompiledPolicy, b: CompiledPolicy): ExposureChange[] {
  const rows = new Map<string, { countries: string[]; gained: string[]; lost: string[] }>();
  for (const country of ALL_COUNTRY_CODES) {
    const diff = diffSets(reachableJurisdictions(a, country), reachableJurisdictions(b, country));
    if (diff.added.length === 0 && diff.removed.length === 0) continue;
    const key = `${diff.added.join(',')}|${diff.removed.join(',')}`;
    const row = rows.get(key) ?? { countries: [], gained: [...diff.added], lost: [...diff.removed] };
    row.countries.push(country);
    rows.set(key, row);
  }
  return [...rows.values()].sort((x, y) => y.countries.length - x.countries.length || compareStrings(x.countries[0] ?? '', y.countries[0] ?? ''));
}

function diffCrossings(a: CompiledPolicy, b: CompiledPolicy): CrossingChange[] {
  const keyed = (policy: CompiledPolicy): Map<string, Omit<CrossingChange, 'change'>> =>
    new Map(
      findFenceCrossings(policy).map((c) => {
        const row = { zone: c.zone.id, datacenter: c.dc.id, jurisdiction: c.dc.jurisdiction, fence: c.fence.fence.name };
        return [`${row.zone}\u0000${row.datacenter}\u0000${row.fence}`, row];
      }),
    );
  const before = keyed(a);
  const after = keyed(b);
  const out: CrossingChange[] = [];
  for (const [key, row] of after) if (!before.has(key)) out.push({ change: 'added', ...row });
  for (const [key, row] of before) if (!after.has(key)) out.push({ change: 'removed', ...row });
  return out.sort((x, y) => compareStrings(x.change, y.change) || compareStrings(x.zone, y.zone) || compareStrings(x.datacenter, y.datacenter) || compareStrings(x.fence, y.fence));
}

function diffZones(before: Manifest, after: Manifest): ZoneChange[] {
  const old = new Map(before.zones.map((z) => [z.id, z]));
  const now = new Map(after.zones.map((z) => [z.id, z]));
  const ids = [...new Set([...old.keys(), ...now.keys()])].sort(compareStrings);
  const empty: Zone = { id: '', countries: [], primaries: [], secondaries: [] };
  const out: ZoneChange[] = [];
  for (const id of ids) {
    const x = old.get(id);
    const y = now.get(id);
    const change = {
      zone: id,
      change: !x ? 'added' : !y ? 'removed' : 'changed',
      countries: diffLists((x ?? empty).countries, (y ?? empty).countries),
      primaries: diffLists((x ?? empty).primaries, (y ?? empty).primaries),
      secondaries: diffLists((x ?? empty).secondaries, (y ?? empty).secondaries),
    } as const;
    const touched = [change.countries, change.primaries, change.secondaries].some((l) => l.added.length + l.removed.length > 0);
    if (change.change !== 'changed' || touched) out.push(change);
  }
  return out;
}

function fenceCapacity(policy: CompiledPolicy, permitted: ReadonlySet<string>): number {
  return policy.manifest.datacenters.reduce((sum, d) => sum + (permitted.has(d.jurisdiction) ? d.capacity : 0), 0);
}

function diffFences(a: CompiledPolicy, b: CompiledPolicy): FenceCapacity[] {
  const old = new Map(a.fences.map((f) => [f.fence.name, f]));
  const now = new Map(b.fences.map((f) => [f.fence.name, f]));
  const names = [...new Set([...old.keys(), ...now.keys()])].sort(compareStrings);
  return names.map((name) => {
    const x = old.get(name);
    const y = now.get(name);
    const same = x && y && JSON.stringify(x.fence) === JSON.stringify(y.fence);
    return {
      fence: name,
      change: !x ? 'added' : !y ? 'removed' : same ? 'unchanged' : 'changed',
      capacityBefore: x ? fenceCapacity(a, x.permitted) : 0,
      capacityAfter: y ? fenceCapacity(b, y.permitted) : 0,
    };
  });
}

function diffDatacenters(before: Manifest, after: Manifest): DatacenterChange[] {
  const old = new Map(before.datacenters.map((d) => [d.id, d]));
  const now = new Map(after.datacenters.map((d) => [d.id, d]));
  const summary = (d: Datacenter): { jurisdiction: string; capacity: number } => ({ jurisdiction: d.jurisdiction, capacity: d.capacity });
  const out: DatacenterChange[] = [];
  for (const id of [...new Set([...old.keys(), ...now.keys()])].sort(compareStrings)) {
    const x = old.get(id);
    const y = now.get(id);
    if (x && y && x.jurisdiction === y.jurisdiction && x.capacity === y.capacity) continue;
    const change = !x ? 'added' : !y ? 'removed' : 'changed';
    out.push({ datacenter: id, change, ...(x ? { before: summary(x) } : {}), ...(y ? { after: summary(y) } : {}) });
  }
  return out;
}

function diffLists(before: readonly string[], after: readonly string[]): ListChange {
  return diffSets(new Set(before), new Set(after));
}

function diffSets(before: ReadonlySet<string>, after: ReadonlySet<string>): ListChange {
  return {
    added: [...after].filter((x) => !before.has(x)).sort(compareStrings),
    removed: [...before].filter((x) => !after.has(x)).sort(compareStrings),
  };
}
