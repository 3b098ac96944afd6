/**
 * Resolves a manifest's written lists (groups, '*', '!CC') into sets once, so
 * that the decider and the verifier answer "which fences bind this country,
 * which jurisdictions do they permit" without re-reading the manifest.
 */
import { ALL_COUNTRY_CODES } from '../geo/countries.js';
import type { Datacenter, Fence, Manifest, Plan, Zone } from '../manifest/types.js';
import { compareStrings } from '../order.js';

/** A fence with its clients and permitted jurisdictions resolved to sets. */
export interface CompiledFence {
  readonly fence: Fence;
  /** Position in `manifest.fences`, for locating diagnostics. */
  readonly index: number;
  readonly clients: ReadonlySet<string>;
  /** Jurisdictions the fence permits its clients to use. */
  readonly permitted: ReadonlySet<string>;
}

/** A datacenter a zone lists, with its role, its position in `datacentersById` and the exclusive plans claiming it. */
export interface ListedDatacenter {
  readonly datacenter: Datacenter;
  readonly role: 'primary' | 'secondary';
  readonly index: number;
  /** `claimsOn(datacenter)`, kept here so the hot path reads it without a lookup in a manifest-sized map. */
  readonly claims: readonly Plan[];
}

/** A manifest with every list resolved; build it with `compilePolicy`. */
export interface CompiledPolicy {
  readonly manifest: Manifest;
  readonly datacenterById: ReadonlyMap<string, Datacenter>;
  readonly planById: ReadonlyMap<string, Plan>;
  readonly fences: readonly CompiledFence[];
  /** The datacenters in id order (code units), so decisions list exclusions without sorting. */
  readonly datacentersById: readonly Datacenter[];
  /** Each datacenter id's position in `datacentersById`. */
  readonly positionById: ReadonlyMap<string, number>;
  /** Every jurisdiction some datacenter is in. */
  readonly jurisdictionsInUse: ReadonlySet<string>;
  /** `claimsOn` of each datacenter of `datacentersById`, at the same position (no map lookup per datacenter). */
  readonly claimsById: readonly (readonly Plan[])[];
  /** The zone serving a country: the zone naming it, else the '*' zone. */
  zoneFor(country: string): Zone | undefined;
  /** Countries a zone serves (for '*', every country no other zone names). */
  countriesOf(zone: Zone): ReadonlySet<string>;
  /** Fences whose clients include the country. */
  fencesFor(country: string): readonly CompiledFence[];
  /** Jurisdictions every fence binding the country permits. */
  fenceAllowed(country: string): ReadonlySet<string>;
  /** The same jurisdictions as a sorted, frozen array (shared between decisions). */
  fenceAllowedSorted(country: string): readonly string[];
  /** Those of `country` that `host`'s fences also permit, sorted and frozen (the very same array when the host's fences take nothing away). */
  fenceAllowedSortedWithHost(country: string, host: string): readonly string[];
  /** Each datacenter a zone lists, with its role (a primary listed twice stays a primary). */
  rolesIn(zone: Zone): ReadonlyMap<string, 'primary' | 'secondary'>;
  /** The datacenters a zone lists that the manifest defines, in id order: the only ones a decision in the zone can offer. */
  listedIn(zone: Zone): readonly ListedDatacenter[];
  /** Exclusive plans whose tags a datacenter carries (they claim it). */
  claimsOn(datacenter: Datacenter): readonly Plan[];
  /** Expands codes and group names to country codes ('*' and '!' are not handled here). */
  expand(entries: readonly string[]): ReadonlySet<string>;
}

const cache = new WeakMap<Manifest, CompiledPolicy>();

/** Resolves a manifest's lists; memoized per manifest object, which is immutable. */
export function compilePolicy(manifest: Manifest): CompiledPolicy {
  let compiled = cache.get(manifest);
  if (!compiled) {
    compiled = compile(manifest);
    cache.set(manifest, compiled);
  }
  return compiled;
}

function compile(manifest: Manifest): CompiledPolicy {
  const groups = new Map(manifest.groups.map((g) => [g.id, g.members]));
  const expand = (entries: readonly string[]): Set<string> => {
    const out = new Set<string>();
    const seen = new Set<string>();
    const add = (entry: string): void => {
      const members = groups.get(entry);
      if (!members) {
        out.add(entry);
        return;
      }
      if (seen.has(entry)) return; // a cycle is reported by the parser; never loop on it
      seen.add(entry);
      members.forEach(add);
    };
    entries.forEach(add);
    return out;
  };

  const fences = manifest.fences.map((fence, index): CompiledFence => {
    const included = fence.clients.includes('*') ? new Set(ALL_COUNTRY_CODES) : expand(fence.clients.filter((c) => !c.startsWith('!')));
    for (const c of expand(fence.clients.filter((c) => c.startsWith('!')).map((c) => c.slice(1)))) included.delete(c);
    const rule = expand(fence.allow ?? fence.deny ?? []);
    const permitted = fence.allow ? rule : new Set(ALL_COUNTRY_CODES.filter((j) => !rule.has(j)));
    return { fence, index, clients: included, permitted };
  });

  const zoneByCountry = new Map<string, Zone>();
  let wildcard: Zone | undefined;
  for (const zone of manifest.zones) {
    if (zone.countries.includes('*')) wildcard ??= zone;
    for (const c of expand(zone.countries.filter((c) => c !== '*'))) if (!zoneByCountry.has(c)) zoneByCountry.set(c, zone);
  }
  const named = new Set(manifest.zones.flatMap((z) => [...expand(z.countries.filter((c) => c !== '*'))]));
  const zoneCountries = new Map<Zone, Set<string>>();
  const countriesOf = (zone: Zone): ReadonlySet<string> => {
    let set = zoneCountries.get(zone);
    if (!set) {
      set = expand(zone.countries.filter((c) => c !== '*'));
      if (zone.countries.includes('*')) for (const c of ALL_COUNTRY_CODES) if (!named.has(c)) set.add(c);
      zoneCountries.set(zone, set);
    }
    return set;
  };

  const fencesByCountry = new Map<string, readonly CompiledFence[]>();
  const fencesFor = (country: string): readonly CompiledFence[] => {
    let list = fencesByCountry.get(country);
    if (!list) {
      list = fences.filter((f) => f.clients.has(country));
      fencesByCountry.set(country, list);
    }
    return list;
  };

  // Countries bound by the same fences share one set (a manifest has few distinct combinations); each country
  // remembers its own, so a decision looks it up without building the key.
  const allowedByFences = new Map<string, ReadonlySet<string>>();
  const allowedByCountry = new Map<string, ReadonlySet<string>>();
  const fenceAllowed = (country: string): ReadonlySet<string> => {
    let allowed = allowedByCountry.get(country);
    if (allowed) return allowed;
    const binding = fencesFor(country);
    const key = binding.map((f) => f.index).join(',');
    allowed = allowedByFences.get(key);
    if (!allowed) {
      allowed = new Set(ALL_COUNTRY_CODES.filter((j) => binding.every((f) => f.permitted.has(j))));
      allowedByFences.set(key, allowed);
    }
    allowedByCountry.set(country, allowed);
    return allowed;
  };

  const sortedByCountry = new Map<string, readonly string[]>();
  const fenceAllowedSorted = (country: string): readonly string[] => {
    let sorted = sortedByCountry.get(country);
    if (!sorted) {
      sorted = Object.freeze([...fenceAllowed(country)].sort(compareStrings));
      sortedByCountry.set(country, sorted);
    }
    return sorted;
  };

  /** country → host → the list; nested, so a lookup builds no key string. */
  const sortedWithHost = new Map<string, Map<string, readonly string[]>>();
  const fenceAllowedSortedWithHost = (country: string, host: string): readonly string[] => {
    let byHost = sortedWithHost.get(country);
    if (!byHost) sortedWithHost.set(country, (byHost = new Map<string, readonly string[]>()));
    let sorted = byHost.get(host);
    if (!sorted) {
      const own = fenceAllowedSorted(country);
      const hosts = fenceAllowed(host);
      sorted = own.every((j) => hosts.has(j)) ? own : Object.freeze(own.filter((j) => hosts.has(j)));
      byHost.set(host, sorted);
    }
    return sorted;
  };

  const roles = new Map<Zone, ReadonlyMap<string, 'primary' | 'secondary'>>();
  const rolesIn = (zone: Zone): ReadonlyMap<string, 'primary' | 'secondary'> => {
    let map = roles.get(zone);
    if (!map) {
      const m = new Map<string, 'primary' | 'secondary'>();
      for (const id of zone.secondaries) m.set(id, 'secondary');
      for (const id of zone.primaries) m.set(id, 'primary');
      roles.set(zone, m);
      map = m;
    }
    return map;
  };

  const datacentersById = [...manifest.datacenters].sort((a, b) => compareStrings(a.id, b.id));
  const exclusive = manifest.plans.filter((p) => p.exclusive);
  const claims = new Map(manifest.datacenters.map((d) => [d, exclusive.filter((p) => p.tags.every((t) => d.tags.includes(t)))]));
  const claimsOn = (d: Datacenter): readonly Plan[] => claims.get(d) ?? exclusive.filter((p) => p.tags.every((t) => d.tags.includes(t)));
  const claimsById = datacentersById.map(claimsOn);
  // The decider's hot path walks a zone's lists, not the manifest: its cost follows the candidates.
  const listed = new Map<Zone, readonly ListedDatacenter[]>();
  const listedIn = (zone: Zone): readonly ListedDatacenter[] => {
    let list = listed.get(zone);
    if (!list) {
      const zoneRoles = rolesIn(zone);
      list = datacentersById.flatMap((datacenter, index): ListedDatacenter[] => {
        const role = zoneRoles.get(datacenter.id);
        return role === undefined ? [] : [{ datacenter, role, index, claims: claimsById[index] ?? [] }];
      });
      listed.set(zone, list);
    }
    return list;
  };


  return {
    manifest,
    datacenterById: new Map(manifest.datacenters.map((d) => [d.id, d])),
    planById: new Map(manifest.plans.map((p) => [p.id, p])),
    fences,
    datacentersById,
    positionById: new Map(datacentersById.map((d, i) => [d.id, i])),
    jurisdictionsInUse: new Set(manifest.datacenters.map((d) => d.jurisdiction)),
    claimsById,
    zoneFor: (country) => zoneByCountry.get(country) ?? (named.has(country) ? undefined : wildcard),
    countriesOf,
    fencesFor,
    fenceAllowed,
    fenceAllowedSorted,
    fenceAllowedSortedWithHost,
    rolesIn,
    listedIn,
    claimsOn,
    expand,
  };
}
