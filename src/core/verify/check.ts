/**
 * The verifier: every semantic problem of a parsed manifest, all at once.
 * Its centre is GB_FENCE_CROSSED — a list that would carry participants
 * across a fence, which is how the 2020 incident began.
 */
import { diagnostic, compareDiagnostics, type Diagnostic, type DiagnosticCode, type RelatedLocation, type SourcePosition } from '../diagnostics.js';
import { ALL_COUNTRY_CODES, countryName } from '../geo/countries.js';
import { iceUrlHost, isRelayUrl } from '../ice/rules.js';
import type { Datacenter, DeclaredIceServer, Manifest, Zone } from '../manifest/types.js';
import type { ParseResult, PositionIndex } from '../manifest/parse.js';
import { compareStrings } from '../order.js';
import { compilePolicy, type CompiledFence, type CompiledPolicy } from '../policy/compile.js';
import { storesInFence } from '../select/store.js';
import { formatCount, listCountries } from './format.js';
import { findMisplacement } from './location.js';

/** Parse diagnostics plus, when the manifest parsed, every semantic finding; sorted by place. */
export function checkManifest(parsed: ParseResult): Diagnostic[] {
  const out = [...parsed.diagnostics];
  if (parsed.manifest) out.push(...verify(parsed.manifest, new Locator(parsed.file, parsed.positions)));
  return out.sort(compareDiagnostics);
}

/** Finds the source position of a path, falling back to its nearest recorded parent. */
class Locator {
  readonly file: string;
  readonly #positions: PositionIndex;

  constructor(file: string, positions: PositionIndex) {
    this.file = file;
    this.#positions = positions;
  }

  at(path: string): SourcePosition {
    for (let p = path; p; p = parentPath(p)) {
      const pos = this.#positions.get(p);
      if (pos) return pos;
    }
    return { line: 1, column: 1 };
  }

  related(path: string, message: string): RelatedLocation {
    return { path, message, ...this.at(path) };
  }

  diag(code: DiagnosticCode, path: string, message: string, related: readonly RelatedLocation[] = []): Diagnostic {
    return diagnostic(code, this.file, path, this.at(path), message, related);
  }
}

function parentPath(path: string): string {
  const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
  return cut > 0 ? path.slice(0, cut) : '';
}

function verify(manifest: Manifest, loc: Locator): Diagnostic[] {
  const policy = compilePolicy(manifest);
  return [
    ...checkZoneLists(manifest, policy, loc),
    ...checkZoneCountries(manifest, policy, loc),
    ...checkFenceCrossings(policy, loc),
    ...checkIceCrossings(policy, loc),
    ...checkIceConflicts(manifest, loc),
    ...checkPrimariesInFence(manifest, policy, loc),
    ...checkFences(policy, loc),
    ...checkPlans(manifest, loc),
    ...checkCapacity(manifest, policy, loc),
    ...checkLocations(manifest, loc),
    ...checkStores(manifest, policy, loc),
  ];
}

/** With record stores declared, every country a zone serves needs one inside its fences (control-plane residency). */
function checkStores(manifest: Manifest, policy: CompiledPolicy, loc: Locator): Diagnostic[] {
  if (manifest.stores.length === 0) return [];
  const jurisdictions = new Set(manifest.stores.map((s) => s.jurisdiction));
  const out: Diagnostic[] = [];
  for (const zone of manifest.zones) {
    const stranded = [...policy.countriesOf(zone)].filter((c) => storesInFence(policy, c).length === 0).sort(compareStrings);
    if (stranded.length === 0) continue;
    const fences = [...new Set(stranded.flatMap((c) => policy.fencesFor(c).map((f) => f.fence.name)))].sort(compareStrings);
    out.push(
      loc.diag(
        'GB_NO_STORE_IN_FENCE',
        `zones.${zone.id}.countries`,
        `${formatCount(stranded.length)} ${stranded.length === 1 ? 'country' : 'countries'} of zone '${zone.id}' (${listCountries(stranded)}) may keep records in none of the stores (${[...jurisdictions].sort(compareStrings).join(', ')})${fences.length > 0 ? `: fences ${fences.map((f) => `'${f}'`).join(', ')}` : ''}; their participants would be refused. Declare a store inside their fences.`,
        [loc.related('stores', 'the record stores')],
      ),
    );
  }
  return out;
}

type ListName = 'primaries' | 'secondaries';

/** Each existing datacenter a zone lists, with where it is written. */
interface Listed {
  readonly dc: Datacenter;
  readonly list: ListName;
  readonly path: string;
}

function listedDatacenters(zone: Zone, policy: CompiledPolicy): Listed[] {
  const out: Listed[] = [];
  for (const list of ['primaries', 'secondaries'] as const) {
    zone[list].forEach((id, i) => {
      const dc = policy.datacenterById.get(id);
      if (dc) out.push({ dc, list, path: `zones.${zone.id}.${list}[${i}]` });
    });
  }
  return out;
}

function checkZoneLists(manifest: Manifest, policy: CompiledPolicy, loc: Locator): Diagnostic[] {
  const out: Diagnostic[] = [];
  const ids = manifest.datacenters.map((d) => d.id);
  for (const zone of manifest.zones) {
    if (zone.primaries.length === 0) {
      out.push(loc.diag('GB_NO_PRIMARIES', `zones.${zone.id}.primaries`, `zone '${zone.id}' has no primaries; list at least one datacenter near its countries.`));
    }
    const seen = new Map<string, string>();
    for (const list of ['primaries', 'secondaries'] as const) {
      zone[list].forEach((id, i) => {
        const path = `zones.${zone.id}.${list}[${i}]`;
        if (!policy.datacenterById.has(id)) {
          const hint = ids.find((known) => known.toLowerCase() === id.toLowerCase());
          out.push(loc.diag('GB_UNKNOWN_DATACENTER', path, `zone '${zone.id}' lists '${id}', which is not defined under \`datacenters\`${hint ? `; did you mean '${hint}'?` : '.'}`));
        }
        const first = seen.get(id);
        if (first !== undefined) {
          out.push(loc.diag('GB_DUPLICATE_LIST_ENTRY', path, `zone '${zone.id}' lists '${id}' twice; keep it in one place.`, [loc.related(first, 'first listed here')]));
        } else {
          seen.set(id, path);
        }
      });
    }
  }
  return out;
}

function checkZoneCountries(manifest: Manifest, policy: CompiledPolicy, loc: Locator): Diagnostic[] {
  const out: Diagnostic[] = [];
  const claimedBy = new Map<string, { zone: string; path: string }>();
  const wildcards: string[] = [];
  for (const zone of manifest.zones) {
    zone.countries.forEach((entry, i) => {
      const path = `zones.${zone.id}.countries[${i}]`;
      if (entry === '*') {
        wildcards.push(path);
        return;
      }
      const clashes = new Map<string, { path: string; countries: string[] }>();
      for (const c of policy.expand([entry])) {
        const first = claimedBy.get(c);
        if (!first) claimedBy.set(c, { zone: zone.id, path });
        else if (first.zone !== zone.id) {
          const clash = clashes.get(first.zone) ?? { path: first.path, countries: [] };
          clash.countries.push(c);
          clashes.set(first.zone, clash);
        }
      }
      for (const [other, clash] of clashes) {
        out.push(loc.diag('GB_COUNTRY_IN_TWO_ZONES', path, `${listCountries(clash.countries)} ${clash.countries.length === 1 ? 'is' : 'are'} in zone '${zone.id}' and in zone '${other}'; a country belongs to one zone.`, [loc.related(clash.path, `claimed by zone '${other}' here`)]));
      }
    });
  }
  for (const path of wildcards.slice(1)) {
    out.push(loc.diag('GB_MULTIPLE_WILDCARD_ZONES', path, `only one zone may use '*'; it is already used at ${formatPos(loc.at(wildcards[0] ?? ''))}.`, [loc.related(wildcards[0] ?? '', "first '*' here")]));
  }
  const unzoned = ALL_COUNTRY_CODES.filter((c) => !policy.zoneFor(c));
  if (unzoned.length > 0) {
    out.push(loc.diag('GB_COUNTRY_UNZONED', 'zones', `${formatCount(unzoned.length)} countries are in no zone and would always be refused: ${listCountries(unzoned)}; add a zone with countries ['*'] or list them.`));
  }
  return out;
}

/** Where a zone's countries bound by a fence are written: one note per list entry. */
function countryNotes(zone: Zone, bound: ReadonlySet<string>, policy: CompiledPolicy, loc: Locator): RelatedLocation[] {
  const notes: RelatedLocation[] = [];
  zone.countries.forEach((entry, i) => {
    const path = `zones.${zone.id}.countries[${i}]`;
    if (entry === '*') {
      const rest = [...bound].filter((c) => !policy.expand(zone.countries.filter((e) => e !== '*')).has(c));
      if (rest.length > 0) notes.push(loc.related(path, `'*' gives zone '${zone.id}' ${listCountries(rest)}`));
      return;
    }
    const hit = [...policy.expand([entry])].filter((c) => bound.has(c));
    if (hit.length > 0) notes.push(loc.related(path, `${entry === hit[0] ? entry : `${entry} (${listCountries(hit)})`} is served by zone '${zone.id}'`));
  });
  return notes;
}

/** A zone list entry that a fence forbids for some of the zone's countries. */
export interface FenceCrossing {
  readonly zone: Zone;
  readonly dc: Datacenter;
  readonly list: ListName;
  /** Path of the list entry, e.g. `zones.north-america.secondaries[3]`. */
  readonly path: string;
  readonly fence: CompiledFence;
  /** The zone's countries that the fence binds. */
  readonly countries: ReadonlySet<string>;
}

/** Every list entry that crosses a fence (shared by the verifier and the diff). */
export function findFenceCrossings(policy: CompiledPolicy): FenceCrossing[] {
  const out: FenceCrossing[] = [];
  for (const zone of policy.manifest.zones) {
    const countries = policy.countriesOf(zone);
    const boundBy = policy.fences.map((f) => new Set([...countries].filter((c) => f.clients.has(c))));
    for (const { dc, list, path } of listedDatacenters(zone, policy)) {
      policy.fences.forEach((fence, i) => {
        const bound = boundBy[i] ?? new Set<string>();
        if (bound.size > 0 && !fence.permitted.has(dc.jurisdiction)) out.push({ zone, dc, list, path, fence, countries: bound });
      });
    }
  }
  return out;
}

function checkFenceCrossings(policy: CompiledPolicy, loc: Locator): Diagnostic[] {
  return findFenceCrossings(policy).map(({ zone, dc, list, path, fence: f, countries: bound }) =>
    loc.diag(
      'GB_FENCE_CROSSED',
      path,
      `zone '${zone.id}' lists ${dc.id} (jurisdiction ${dc.jurisdiction}) as a ${list === 'primaries' ? 'primary' : 'secondary'}, but fence '${f.fence.name}' forbids ${dc.jurisdiction} for ${listCountries([...bound])}; ` +
        `under load or failure these participants would be sent across the fence. Remove ${dc.id} from \`zones.${zone.id}.${list}\`.`,
      [
        loc.related(fencePath(f), `fence '${f.fence.name}' is defined here`),
        loc.related(`datacenters.${dc.id}.jurisdiction`, `${dc.id} is in ${dc.jurisdiction}`),
        ...enclaveNote(policy, f, loc),
        ...countryNotes(zone, bound, policy, loc),
      ],
    ),
  );
}

/** A zone that sends participants to a datacenter, and which of them a fence binds. */
export interface IceServedZone {
  readonly zone: Zone;
  /** Path of the zone's (first) list entry for the datacenter. */
  readonly path: string;
  readonly countries: ReadonlySet<string>;
}

/** A declared STUN/TURN server that a fence forbids for participants its datacenter may serve. */
export interface IceCrossing {
  readonly dc: Datacenter;
  /** Position in the datacenter's `ice` list. */
  readonly index: number;
  readonly server: DeclaredIceServer;
  readonly fence: CompiledFence;
  readonly zones: readonly IceServedZone[];
}

/**
 * Every declared ICE server that a fence forbids for some participant its
 * datacenter may serve (shared by the verifier and the diff). A datacenter
 * serves the countries of each zone that lists it, primary or secondary, whose
 * fences allow its own jurisdiction: the others never reach it (the decider
 * filters them out, and GB_FENCE_CROSSED reports the list). Plans change
 * nothing here: a plan narrows which datacenters its participants use, but
 * they are still bound by their country's fences.
 */
export function findIceCrossings(policy: CompiledPolicy): IceCrossing[] {
  const served = new Map<Datacenter, { zone: Zone; path: string; countries: string[] }[]>();
  for (const zone of policy.manifest.zones) {
    const countries = [...policy.countriesOf(zone)];
    for (const { dc, path } of listedDatacenters(zone, policy)) {
      const zones = served.get(dc) ?? [];
      if (dc.ice.length === 0 || zones.some((z) => z.zone === zone)) continue;
      const reaching = countries.filter((c) => policy.fenceAllowed(c).has(dc.jurisdiction));
      if (reaching.length > 0) served.set(dc, [...zones, { zone, path, countries: reaching }]);
    }
  }
  const out: IceCrossing[] = [];
  for (const dc of policy.datacentersById) {
    const zones = served.get(dc) ?? [];
    dc.ice.forEach((server, index) => {
      for (const fence of policy.fences) {
        if (fence.permitted.has(server.jurisdiction)) continue;
        const bound = zones.map((z) => ({ zone: z.zone, path: z.path, countries: new Set(z.countries.filter((c) => fence.clients.has(c))) })).filter((z) => z.countries.size > 0);
        if (bound.length > 0) out.push({ dc, index, server, fence, zones: bound });
      }
    });
  }
  return out;
}

function checkIceCrossings(policy: CompiledPolicy, loc: Locator): Diagnostic[] {
  return findIceCrossings(policy).map(({ dc, index, server, fence: f, zones }) => {
    const path = `datacenters.${dc.id}.ice[${index}]`;
    const relays = server.urls.some(isRelayUrl);
    const countries = listCountries(zones.flatMap((z) => [...z.countries]));
    return loc.diag(
      'GB_ICE_OUTSIDE_FENCE',
      `${path}.jurisdiction`,
      `${dc.id} may hand out ${relays ? 'TURN relay' : 'STUN server'} ${server.urls.join(', ')} (jurisdiction ${server.jurisdiction}), but fence '${f.fence.name}' forbids ${server.jurisdiction} for ${countries}, whom ${dc.id} serves; ` +
        `${relays ? 'their media would be relayed' : 'their addresses would be sent'} across the fence. Remove it from \`datacenters.${dc.id}.ice\`, or declare a server in a jurisdiction the fence allows.`,
      [
        loc.related(fencePath(f), `fence '${f.fence.name}' is defined here`),
        ...enclaveNote(policy, f, loc),
        ...zones.flatMap((z) => [loc.related(z.path, `zone '${z.zone.id}' sends participants to ${dc.id} here`), ...countryNotes(z.zone, z.countries, policy, loc)]),
      ],
    );
  });
}

/**
 * One host declared in two jurisdictions: at least one declaration is wrong,
 * or the name resolves to relays in several countries (anycast, geo-DNS) and
 * has no one jurisdiction a fence could be checked against.
 */
function checkIceConflicts(manifest: Manifest, loc: Locator): Diagnostic[] {
  const byHost = new Map<string, { path: string; jurisdiction: string }[]>();
  for (const dc of manifest.datacenters) {
    dc.ice.forEach((server, i) => {
      for (const host of new Set(server.urls.map(iceUrlHost))) {
        const declared = byHost.get(host) ?? [];
        declared.push({ path: `datacenters.${dc.id}.ice[${i}]`, jurisdiction: server.jurisdiction });
        byHost.set(host, declared);
      }
    });
  }
  const out: Diagnostic[] = [];
  for (const [host, declared] of byHost) {
    const [first, ...rest] = declared;
    const others = rest.filter((d) => d.jurisdiction !== first?.jurisdiction);
    if (!first || others.length === 0) continue;
    const jurisdictions = [...new Set(declared.map((d) => d.jurisdiction))].sort(compareStrings);
    out.push(
      loc.diag(
        'GB_ICE_JURISDICTION_CONFLICT',
        `${first.path}.jurisdiction`,
        `STUN/TURN host '${host}' is declared in ${jurisdictions.length} jurisdictions (${jurisdictions.join(', ')}); a server is in one place. Correct the jurisdiction, or give each relay location its own host name.`,
        others.map((d) => loc.related(`${d.path}.jurisdiction`, `declared in ${d.jurisdiction} here`)),
      ),
    );
  }
  return out;
}

function fencePath(f: CompiledFence): string {
  return `fences[${f.index}]`;
}

/** Datacenters a country may use by fence and that no exclusive plan claims. */
function openTo(policy: CompiledPolicy, country: string, dc: Datacenter): boolean {
  return policy.fenceAllowed(country).has(dc.jurisdiction) && policy.claimsOn(dc).length === 0;
}

function checkPrimariesInFence(manifest: Manifest, policy: CompiledPolicy, loc: Locator): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const zone of manifest.zones) {
    const primaries = zone.primaries.flatMap((id) => policy.datacenterById.get(id) ?? []);
    if (zone.primaries.length === 0) continue;
    const stranded = [...policy.countriesOf(zone)].filter((c) => !primaries.some((dc) => openTo(policy, c, dc)));
    if (stranded.length === 0) continue;
    out.push(
      loc.diag(
        'GB_NO_PRIMARY_IN_FENCE',
        `zones.${zone.id}.primaries`,
        `${listCountries(stranded)} in zone '${zone.id}' ${stranded.length === 1 ? 'has' : 'have'} no primary inside ${stranded.length === 1 ? 'its' : 'their'} fences (or open to participants without a plan); they would get backups only, or be refused. Add an in-fence primary.`,
      ),
    );
  }
  return out;
}

/**
 * Two fences form a two-way enclave when one keeps its clients inside their own
 * territory and the other keeps everyone else out of it (China in PRODUCT.md).
 * A crossing of either half is named as a leak of the enclave.
 */
function enclaveNote(policy: CompiledPolicy, crossed: CompiledFence, loc: Locator): RelatedLocation[] {
  for (const keepIn of policy.fences) {
    if (!keepIn.fence.allow || ![...keepIn.permitted].every((j) => keepIn.clients.has(j))) continue;
    for (const keepOut of policy.fences) {
      if (!keepOut.fence.deny || keepOut === keepIn) continue;
      const sealed = ALL_COUNTRY_CODES.every((c) => keepIn.clients.has(c) || keepOut.clients.has(c)) && [...keepIn.permitted].every((j) => !keepOut.permitted.has(j));
      if (!sealed || (crossed !== keepIn && crossed !== keepOut)) continue;
      const territory = listCountries([...keepIn.permitted]);
      const direction = crossed === keepIn ? `lets ${listCountries([...keepIn.clients])} participants out of ${territory}` : `lets others into ${territory}`;
      return [loc.related(fencePath(crossed === keepIn ? keepOut : keepIn), `this ${direction}: it leaks the two-way enclave formed with fence '${(crossed === keepIn ? keepOut : keepIn).fence.name}'`)];
    }
  }
  return [];
}

function checkFences(policy: CompiledPolicy, loc: Locator): Diagnostic[] {
  return policy.fences
    .filter((f) => f.clients.size === 0)
    .map((f) => loc.diag('GB_FENCE_BINDS_NOBODY', `${fencePath(f)}.clients`, `fence '${f.fence.name}' binds no country, so it protects nobody; '!CC' only subtracts — start the list with '*' or a country.`));
}

function checkPlans(manifest: Manifest, loc: Locator): Diagnostic[] {
  return manifest.plans
    .filter((p) => !manifest.datacenters.some((d) => p.tags.every((t) => d.tags.includes(t))))
    .map((p) => loc.diag('GB_PLAN_WITHOUT_DATACENTER', `plans.${p.id}`, `no datacenter carries all the tags of plan '${p.id}' (${p.tags.join(', ')}), so its participants would always be refused.`));
}

function checkCapacity(manifest: Manifest, policy: CompiledPolicy, loc: Locator): Diagnostic[] {
  const out: Diagnostic[] = [];
  const { maxUtilization, secondaries: wanted } = manifest.selection;
  for (const zone of manifest.zones) {
    const countries = [...policy.countriesOf(zone)];
    const inFence = (dc: Datacenter): boolean => countries.every((c) => openTo(policy, c, dc));
    const listed = dedupe(listedDatacenters(zone, policy).filter((l) => inFence(l.dc)));
    if (zone.demand !== undefined && countries.length > 0) {
      const largest = listed.reduce<Listed | undefined>((a, l) => (!a || l.dc.capacity > a.dc.capacity ? l : a), undefined);
      const usable = Math.floor(listed.reduce((sum, l) => sum + l.dc.capacity, 0) * maxUtilization - (largest?.dc.capacity ?? 0) * maxUtilization);
      if (usable < zone.demand) {
        const lost = largest ? `after losing ${largest.dc.id} (${formatCount(largest.dc.capacity)})` : 'with no in-fence datacenter';
        out.push(
          loc.diag('GB_CAPACITY_N1', `zones.${zone.id}.demand`, `zone '${zone.id}' needs ${formatCount(zone.demand)} concurrent participants at peak, but ${lost} its in-fence datacenters carry ${formatCount(usable)} at maxUtilization ${maxUtilization}: short by ${formatCount(zone.demand - usable)}. Add in-fence capacity; never widen a list across a fence.`),
        );
      }
    }
    const backups = listed.filter((l) => l.list === 'secondaries').length;
    if (backups < wanted && countries.length > 0) {
      const listedIds = new Set([...zone.primaries, ...zone.secondaries]);
      const spare = manifest.datacenters.filter((d) => !listedIds.has(d.id) && inFence(d)).map((d) => d.id).sort(compareStrings);
      if (spare.length > 0) {
        out.push(loc.diag('GB_FEW_SECONDARIES', `zones.${zone.id}.secondaries`, `zone '${zone.id}' has ${backups} in-fence secondar${backups === 1 ? 'y' : 'ies'} but selection.secondaries is ${wanted}; in-fence datacenters not on its lists: ${spare.slice(0, 8).join(', ')}${spare.length > 8 ? ', …' : ''}.`));
      }
    }
  }
  return out;
}

/** Datacenters whose location is clearly outside their jurisdiction (the rule is in location.ts). */
function checkLocations(manifest: Manifest, loc: Locator): Diagnostic[] {
  const named = (code: string): string => `${countryName(code) ?? code} (${code})`;
  return manifest.datacenters.flatMap((dc) => {
    const miss = findMisplacement(dc);
    if (!miss) return [];
    const { nearest } = miss;
    const away = `${formatCount(miss.km)} km from ${dc.jurisdiction} territory`;
    const where = nearest.km === 0 ? `lies in ${named(nearest.code)}, ${away}` : `lies at sea, ${away}; the nearest country is ${named(nearest.code)}, ${formatCount(nearest.km)} km away`;
    return [
      loc.diag(
        'GB_LOCATION_OUTSIDE_JURISDICTION',
        `datacenters.${dc.id}.location`,
        `${dc.id} has jurisdiction ${named(dc.jurisdiction)}, but its location (lat ${dc.location.lat}, lon ${dc.location.lon}) ${where}. ` +
          'Fences go by jurisdiction and routes by location, so one of the two is wrong: correct `location` (swapped or sign-flipped coordinates?), or `jurisdiction` if the datacenter really is there.',
        [loc.related(`datacenters.${dc.id}.jurisdiction`, `${dc.id} is declared in ${dc.jurisdiction} here`)],
      ),
    ];
  });
}

function dedupe(listed: readonly Listed[]): Listed[] {
  const seen = new Set<string>();
  return listed.filter((l) => !seen.has(l.dc.id) && seen.add(l.dc.id));
}

function formatPos(pos: SourcePosition): string {
  return `${pos.line}:${pos.column}`;
}
