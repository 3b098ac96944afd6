/**
 * Exposure diff: what a manifest change does to where participants' data may
 * go. This is what a reviewer reads before approving a change.
 */
import { ALL_COUNTRY_CODES } from '../geo/countries.js';
import { allowedIceServers } from '../ice/allowed.js';
import { isRelayUrl } from '../ice/rules.js';
import type { Datacenter, FenceTransit, Manifest, Zone } from '../manifest/types.js';
import { compareStrings } from '../order.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { storesInFence } from '../select/store.js';
import { findFenceCrossings, findIceCrossings } from './check.js';

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

/**
 * A fence whose `transit` changed: whether E2EE ciphertext of its clients may
 * transit a bridge outside it. A fence added or removed is listed only when
 * it lets ciphertext transit (null: the fence is not in that manifest).
 */
export interface TransitChange {
  readonly fence: string;
  readonly before: FenceTransit | null;
  readonly after: FenceTransit | null;
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

/** A declared STUN/TURN server outside a fence: rejected by `check`, never handed to the participants the fence binds. */
export interface IceCrossingChange {
  readonly change: 'added' | 'removed';
  readonly datacenter: string;
  readonly urls: readonly string[];
  readonly jurisdiction: string;
  readonly fence: string;
}

/** How one declared STUN/TURN URL of a datacenter changed: its jurisdiction before and after (', '-joined if it is declared twice). */
export interface IceChange {
  readonly datacenter: string;
  readonly url: string;
  readonly change: 'added' | 'removed' | 'changed';
  readonly before?: string;
  readonly after?: string;
}

/** Everything a change does to exposure, lists and capacity. */
export interface ManifestDiff {
  readonly exposure: readonly ExposureChange[];
  /** Jurisdictions a country's media may be relayed through by the TURN servers its datacenters hand out. */
  readonly relayExposure: readonly ExposureChange[];
  /** Jurisdictions of the record stores that may hold what the broker records about a country's participants (`stores:`; none declared: none compared). */
  readonly recordExposure: readonly ExposureChange[];
  /** Lists that start or stop crossing a fence (the 2020 misconfiguration shows up here). */
  readonly crossings: readonly CrossingChange[];
  /** Declared STUN/TURN servers that start or stop being outside a fence. */
  readonly iceCrossings: readonly IceCrossingChange[];
  readonly zones: readonly ZoneChange[];
  readonly fences: readonly FenceCapacity[];
  /** Fences whose `transit` rule changed (where a cascaded meeting may relay their clients' ciphertext). */
  readonly transit: readonly TransitChange[];
  readonly datacenters: readonly DatacenterChange[];
  readonly ice: readonly IceChange[];
}

/** Compares two manifests by what participants of each country could reach. */
export function diffManifests(before: Manifest, after: Manifest): ManifestDiff {
  const a = compilePolicy(before);
  const b = compilePolicy(after);
  return {
    exposure: diffExposure(a, b, reachableJurisdictions),
    relayExposure: diffExposure(a, b, relayJurisdictions),
    recordExposure: diffExposure(a, b, recordJurisdictions),
    crossings: diffCrossings(a, b),
    iceCrossings: diffIceCrossings(a, b),
    zones: diffZones(before, after),
    fences: diffFences(a, b),
    transit: diffTransit(before, after),
    datacenters: diffDatacenters(before, after),
    ice: diffIce(before, after),
  };
}

/** Datacenters a country's participants (without a plan) can reach when failures and load make the decider walk their whole lists. */
function reachableDatacenters(policy: CompiledPolicy, country: string): Datacenter[] {
  const zone = policy.zoneFor(country);
  if (!zone) return [];
  const allowed = policy.fenceAllowed(country);
  return [...zone.primaries, ...zone.secondaries].flatMap((id) => {
    const dc = policy.datacenterById.get(id);
    return dc && allowed.has(dc.jurisdiction) && policy.claimsOn(dc).length === 0 ? [dc] : [];
  });
}

/**
 * Jurisdictions a country's participants (without a plan) can reach when any
 * combination of failures and load makes the decider walk their whole lists.
 */
export function reachableJurisdictions(policy: CompiledPolicy, country: string): ReadonlySet<string> {
  return new Set(reachableDatacenters(policy, country).map((dc) => dc.jurisdiction));
}

/**
 * Jurisdictions of the TURN servers those datacenters may hand the country's
 * participants, by the runtime rule (`allowedIceServers`): where their media
 * may be relayed. STUN servers relay nothing and are left out.
 */
export function relayJurisdictions(policy: CompiledPolicy, country: string): ReadonlySet<string> {
  const allowed = policy.fenceAllowed(country);
  const servers = reachableDatacenters(policy, country).flatMap((dc) => allowedIceServers(policy.manifest, dc.id, allowed));
  return new Set(servers.filter((s) => s.urls.some(isRelayUrl)).map((s) => s.jurisdiction));
}

/**
 * Jurisdictions of the record stores a zoned country's participants may have
 * their records kept in (`storesFor` before any account narrows it): the
 * nearest holds them, an account's jurisdictions may pick another of these.
 */
export function recordJurisdictions(policy: CompiledPolicy, country: string): ReadonlySet<string> {
  if (!policy.zoneFor(country)) return new Set();
  return new Set(storesInFence(policy, country).map((s) => s.jurisdiction));
}

function diffExposure(a: CompiledPolicy, b: CompiledPolicy, reachable: (policy: CompiledPolicy, country: string) => ReadonlySet<string>): ExposureChange[] {
  const rows = new Map<string, { countries: string[]; gained: string[]; lost: string[] }>();
  for (const country of ALL_COUNTRY_CODES) {
    const diff = diffSets(reachable(a, country), reachable(b, country));
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

function diffIceCrossings(a: CompiledPolicy, b: CompiledPolicy): IceCrossingChange[] {
  const keyed = (policy: CompiledPolicy): Map<string, Omit<IceCrossingChange, 'change'>> =>
    new Map(
      findIceCrossings(policy).map((c) => {
        const row = { datacenter: c.dc.id, urls: c.server.urls, jurisdiction: c.server.jurisdiction, fence: c.fence.fence.name };
        return [JSON.stringify([row.datacenter, row.urls, row.jurisdiction, row.fence]), row];
      }),
    );
  const before = keyed(a);
  const after = keyed(b);
  const out: IceCrossingChange[] = [];
  for (const [key, row] of after) if (!before.has(key)) out.push({ change: 'added', ...row });
  for (const [key, row] of before) if (!after.has(key)) out.push({ change: 'removed', ...row });
  return out.sort(
    (x, y) => compareStrings(x.change, y.change) || compareStrings(x.datacenter, y.datacenter) || compareStrings(x.urls.join(' '), y.urls.join(' ')) || compareStrings(x.jurisdiction, y.jurisdiction) || compareStrings(x.fence, y.fence),
  );
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

function diffTransit(before: Manifest, after: Manifest): TransitChange[] {
  const rule = (manifest: Manifest): Map<string, FenceTransit> => new Map(manifest.fences.map((f) => [f.name, f.transit ?? 'never']));
  const old = rule(before);
  const now = rule(after);
  const out: TransitChange[] = [];
  for (const name of [...new Set([...old.keys(), ...now.keys()])].sort(compareStrings)) {
    const x = old.get(name) ?? null;
    const y = now.get(name) ?? null;
    // A fence added or removed with the default says nothing new about transit: capacity lists it.
    if ((x ?? 'never') !== (y ?? 'never')) out.push({ fence: name, before: x, after: y });
  }
  return out;
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

function diffIce(before: Manifest, after: Manifest): IceChange[] {
  // By datacenter and URL: how servers group their URLs is presentation, where each URL relays is not.
  const declared = (manifest: Manifest): Map<string, Map<string, string>> =>
    new Map(
      manifest.datacenters.map((dc) => {
        const byUrl = new Map<string, Set<string>>();
        for (const server of dc.ice) for (const url of server.urls) byUrl.set(url, (byUrl.get(url) ?? new Set()).add(server.jurisdiction));
        return [dc.id, new Map([...byUrl].map(([url, set]) => [url, [...set].sort(compareStrings).join(', ')]))];
      }),
    );
  const old = declared(before);
  const now = declared(after);
  const out: IceChange[] = [];
  for (const datacenter of new Set([...old.keys(), ...now.keys()])) {
    const x = old.get(datacenter) ?? new Map<string, string>();
    const y = now.get(datacenter) ?? new Map<string, string>();
    for (const url of new Set([...x.keys(), ...y.keys()])) {
      const was = x.get(url);
      const is = y.get(url);
      if (was === is) continue;
      out.push({ datacenter, url, change: was === undefined ? 'added' : is === undefined ? 'removed' : 'changed', ...(was === undefined ? {} : { before: was }), ...(is === undefined ? {} : { after: is }) });
    }
  }
  return out.sort((p, q) => compareStrings(p.datacenter, q.datacenter) || compareStrings(p.url, q.url));
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

/**
 * One line on what a change did, for the manifest history (`geobridge
 * manifest log`): who gains or loses reach first, since that is what a
 * reviewer of residency looks for.
 */
export function summarizeDiff(diff: ManifestDiff): string {
  const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
  const parts: string[] = [];
  const gain = diff.exposure.filter((e) => e.gained.length > 0).reduce((n, e) => n + e.countries.length, 0);
  const lose = diff.exposure.filter((e) => e.lost.length > 0).reduce((n, e) => n + e.countries.length, 0);
  if (gain > 0) parts.push(`${count(gain, 'country', 'countries')} gain jurisdictions`);
  if (lose > 0) parts.push(`${count(lose, 'country', 'countries')} lose jurisdictions`);
  const crossing = diff.crossings.filter((c) => c.change === 'added').length;
  if (crossing > 0) parts.push(`${count(crossing, 'list')} start crossing a fence`);
  const relays = diff.iceCrossings.filter((c) => c.change === 'added').length;
  if (relays > 0) parts.push(`${count(relays, 'relay')} start crossing a fence`);
  const dcs = (change: DatacenterChange['change']): number => diff.datacenters.filter((d) => d.change === change).length;
  for (const change of ['added', 'removed', 'changed'] as const) if (dcs(change) > 0) parts.push(`${count(dcs(change), 'datacenter')} ${change}`);
  const transit = diff.transit.filter((t) => t.after === 'e2ee').length;
  if (transit > 0) parts.push(`${count(transit, 'fence')} ${transit === 1 ? 'lets' : 'let'} E2EE media transit`);
  const zones = diff.zones.length;
  if (zones > 0) parts.push(`${count(zones, 'zone')} changed`);
  return parts.length === 0 ? 'no change in exposure, lists or datacenters' : parts.join('; ');
}
