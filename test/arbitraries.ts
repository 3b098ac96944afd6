/**
 * fast-check arbitraries for the decider's inputs (a valid Manifest, a
 * RouteRequest, a LiveState), and a reference model of the residency rules
 * written straight from PRODUCT.md — deliberately not through
 * src/core/policy/compile.ts, so that the properties check the decider
 * against an independent reading of the contract.
 */
import fc from 'fast-check';
import {
  ALL_COUNTRY_CODES,
  countryPoint,
  type CountryGroup,
  type Datacenter,
  type Fence,
  type GeoPoint,
  type LiveState,
  type Manifest,
  type Plan,
  type RecordStore,
  type RouteRequest,
  type SelectionConfig,
  type Zone,
} from '../src/core/index.js';

/** Jurisdictions of generated datacenters, and the countries zones and fences name. */
export const JURISDICTIONS = ['US', 'CA', 'DE', 'FR', 'CN', 'JP', 'GB', 'BR', 'IN', 'AU'] as const;
/** Countries no generated zone names: they reach the '*' zone, or no zone at all. */
export const OTHER_COUNTRIES = ['MX', 'IE', 'ZA', 'KR', 'SG', 'CH', 'AR', 'NG'] as const;
/** Every country a generated request may come from. */
export const REQUEST_COUNTRIES: readonly string[] = [...JURISDICTIONS, ...OTHER_COUNTRIES];
export const TAGS = ['gov', 'health'] as const;
/** Group names: never two capital letters ('G7' is a letter and a digit). */
const GROUP_NAMES = ['EU27', 'EEA', 'five-eyes', 'asia.pacific', 'G7'] as const;
const PLAN_NAMES = ['government', 'health_care', 'gov-health'] as const;
const MAX_DATACENTERS = 12;

/** Datacenter ids `dc-0` … `dc-11`. */
export const DATACENTER_IDS: readonly string[] = Array.from({ length: MAX_DATACENTERS }, (_, i) => `dc-${i}`);

/** A number with two decimals in [min, max]. */
export function twoDecimals(min: number, max: number): fc.Arbitrary<number> {
  return fc.integer({ min: Math.round(min * 100), max: Math.round(max * 100) }).map((n) => n / 100);
}

/** A point with two-decimal coordinates anywhere on Earth. */
export const pointArb: fc.Arbitrary<GeoPoint> = fc
  .tuple(twoDecimals(-90, 90), twoDecimals(-180, 180))
  .map(([lat, lon]) => ({ lat, lon }));

/** The type of the values an arbitrary generates. */
type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;

// Every arbitrary below is built once and fixed up in `manifestArb`'s one `map`
// (no `chain`): building arbitraries per value made generation ~10× slower.

/** Names of the country lists a draft may use: the pool's codes and every group name. */
const COUNTRY_TOKENS: readonly string[] = [...JURISDICTIONS, ...GROUP_NAMES];

/**
 * STUN/TURN URLs: plain ones, and ones a YAML printer must quote or a parser
 * could misread (an IPv6 host's '[', a query, ',', '#', a trailing ':').
 */
export const ICE_URLS = [
  'stun:stun-a.example.net:3478',
  'stuns:stun-a.example.net:5349',
  'turn:turn-a.example.net:3478',
  'turn:turn-a.example.net:3478?transport=tcp',
  'turns:turn-a.example.net:5349',
  'turn:turn-b.example.org',
  'turn:[2001:db8::1]:3478',
  'stun:198.51.100.7',
  'turn:x,y#z',
  'turns:host.example:',
] as const;

/** A datacenter's servers: URLs, and a jurisdiction or none (the datacenter's own). */
const draftIceArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant([]) },
  {
    weight: 1,
    arbitrary: fc.array(fc.tuple(fc.subarray([...ICE_URLS], { minLength: 1, maxLength: 3 }), fc.option(fc.constantFrom(...JURISDICTIONS), { nil: undefined })), { minLength: 1, maxLength: 3 }),
  },
);

const draftDatacenterArb = fc.tuple(
  fc.constantFrom(...JURISDICTIONS),
  pointArb,
  fc.integer({ min: 0, max: 200_000 }),
  fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.subarray([...TAGS]) }),
  draftIceArb,
);

const draftZoneArb = fc.tuple(
  fc.shuffledSubarray([...COUNTRY_TOKENS], { minLength: 1, maxLength: 4 }),
  fc.boolean(), // countries include '*' (only the first zone that asks keeps it)
  // Drawn from all twelve ids; those the manifest does not define are dropped.
  fc.shuffledSubarray([...DATACENTER_IDS], { maxLength: 9 }),
  // Sometimes overlaps the primaries (the check flags that; the decider must cope).
  fc.shuffledSubarray([...DATACENTER_IDS], { maxLength: 9 }),
  fc.option(fc.integer({ min: 0, max: 500_000 }), { nil: undefined }),
);

/** Fence names are free text (quotes, colons, emoji…) but not blank. */
const fenceNameArb = fc
  .oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 6, unit: 'grapheme' }) },
  )
  .filter((name) => name.trim() !== '');

const draftFenceArb = fc.tuple(
  fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), // clients start with '*'
  fc.subarray([...COUNTRY_TOKENS], { minLength: 1, maxLength: 4 }),
  fc.subarray([...COUNTRY_TOKENS], { maxLength: 3 }), // '!X' exclusions
  fc.boolean(), // allow (else deny)
  fc.subarray([...COUNTRY_TOKENS], { minLength: 1, maxLength: 5 }),
  fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), // transit: e2ee
);

const draftPlanArb = fc.tuple(fc.subarray([...TAGS], { minLength: 1 }), fc.boolean());

/** Valid selection tunables, biased towards the interesting small values and boundaries. */
export const selectionArb: fc.Arbitrary<SelectionConfig> = fc
  .tuple(
    fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 16 }) }),
    fc.integer({ min: 1, max: 10 }),
    fc.integer({ min: 1, max: 60_000 }),
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 100 }).map((n) => n / 100) },
      { weight: 1, arbitrary: fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }) },
    ),
  )
  .map(([secondaries, primaryAttempts, attemptTimeoutMs, maxUtilization]) => ({ secondaries, primaryAttempts, attemptTimeoutMs, maxUtilization }));

/**
 * Makes zone country lists disjoint: an entry naming a country that an
 * earlier zone already names is dropped, and at most one zone keeps '*'. A
 * zone left with nothing to name is dropped (the first one never is).
 */
function settleZones(drafts: readonly ValueOf<typeof draftZoneArb>[], groups: readonly CountryGroup[], ids: ReadonlySet<string>): Zone[] {
  const claimed = new Set<string>();
  let wildcardTaken = false;
  const zones: Zone[] = [];
  drafts.forEach(([entries, wildcard, primaries, secondaries, demand], i) => {
    const countries: string[] = [];
    for (const entry of entries) {
      const expanded = expandEntries(groups, [entry]);
      if ([...expanded].some((c) => claimed.has(c))) continue;
      for (const c of expanded) claimed.add(c);
      countries.push(entry);
    }
    if (wildcard && !wildcardTaken) {
      wildcardTaken = true;
      countries.push('*');
    }
    if (countries.length === 0) return;
    const zone: Zone = { id: `zone-${i}`, countries, primaries: primaries.filter((id) => ids.has(id)), secondaries: secondaries.filter((id) => ids.has(id)) };
    zones.push(demand === undefined ? zone : { ...zone, demand });
  });
  return zones;
}

/**
 * A manifest that `parseManifest(printManifest(m))` accepts unchanged (it may
 * well fail `checkManifest`: lists cross fences on purpose).
 */
export const manifestArb: fc.Arbitrary<Manifest> = fc
  .record(
    {
      groupMembers: fc.tuple(...GROUP_NAMES.map(() => fc.subarray([...REQUEST_COUNTRIES], { maxLength: 6 }))),
      keepUnusedGroup: fc.tuple(...GROUP_NAMES.map(() => fc.boolean())),
      // A permutation of the ids, so that the manifest's order is not the ids' order.
      ids: fc.shuffledSubarray([...DATACENTER_IDS], { minLength: MAX_DATACENTERS }),
      datacenters: fc.array(draftDatacenterArb, { minLength: 1, maxLength: MAX_DATACENTERS }),
      // Record stores: none (the broker's one store) now and then.
      stores: fc.array(fc.tuple(fc.constantFrom(...JURISDICTIONS), pointArb), { maxLength: 4 }),
      zones: fc.array(draftZoneArb, { minLength: 1, maxLength: 5 }),
      fenceNames: fc.uniqueArray(fenceNameArb, { maxLength: 4 }),
      fences: fc.array(draftFenceArb, { minLength: 4, maxLength: 4 }),
      plans: fc.subarray([...PLAN_NAMES], { maxLength: 2 }),
      planRules: fc.array(draftPlanArb, { minLength: 2, maxLength: 2 }),
      selection: selectionArb,
    },
    { noNullPrototype: true },
  )
  .map((d): Manifest => {
    const datacenters = d.datacenters.map(([jurisdiction, location, capacity, tags, ice], i): Datacenter => ({
      id: d.ids[i] ?? `dc-${i}`,
      jurisdiction,
      location,
      capacity,
      tags,
      ice: ice.map(([urls, own]) => ({ urls, jurisdiction: own ?? jurisdiction })),
    }));
    const ids = new Set(datacenters.map((dc) => dc.id));
    const fences = d.fenceNames.map((name, i): Fence => {
      const [everyone, included, excluded, isAllow, rule, e2ee] = d.fences[i] ?? [true, [], [], false, ['CN'], false];
      const clients = [...(everyone ? ['*'] : included), ...excluded.map((c) => `!${c}`)];
      const fence: Fence = isAllow ? { name, clients, allow: rule } : { name, clients, deny: rule };
      return e2ee ? { ...fence, transit: 'e2ee' } : fence;
    });
    // Define every group that a list names, and some that none does.
    const used = new Set([...d.zones.flatMap(([countries]) => countries), ...d.fences.slice(0, fences.length).flatMap(([, inc, exc, , rule]) => [...inc, ...exc, ...rule])]);
    const groups = GROUP_NAMES.flatMap((id, i): CountryGroup[] => (used.has(id) || d.keepUnusedGroup[i] ? [{ id, members: d.groupMembers[i] ?? [] }] : []));
    const plans = d.plans.map((id, i): Plan => {
      const [tags, exclusive] = d.planRules[i] ?? [['gov'], false];
      return { id, tags, exclusive };
    });
    const stores = d.stores.map(([jurisdiction, location], i): RecordStore => ({ id: `store-${String(i)}`, jurisdiction, location }));
    return { version: 1, groups, datacenters, stores, zones: settleZones(d.zones, groups, ids), fences, plans, selection: d.selection };
  });

/** `arb` about once in `1 + absent` times, else undefined. */
function sometimes<T>(arb: fc.Arbitrary<T>, absent: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

/** A subset of `pool`, usually a large one (small ones refuse nearly everything), sometimes empty. */
function mostOf(pool: readonly string[]): fc.Arbitrary<string[]> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.subarray([...pool], { minLength: Math.ceil(pool.length * 0.6) }) },
    { weight: 1, arbitrary: fc.subarray([...pool]) },
  );
}

const draftRequestArb = fc.tuple(
  fc.constantFrom(...REQUEST_COUNTRIES),
  sometimes(pointArb, 1),
  sometimes(fc.nat(), 2), // the plan, by index into the manifest's plans
  sometimes(mostOf(JURISDICTIONS), 3),
  sometimes(mostOf(REQUEST_COUNTRIES), 3),
  sometimes(fc.constantFrom(...REQUEST_COUNTRIES), 2), // the host account's country
);

function settleRequest(manifest: Manifest, [country, location, planIndex, account, meeting, host]: ValueOf<typeof draftRequestArb>): RouteRequest {
  let request: RouteRequest = { country };
  if (location) request = { ...request, location };
  const plan = planIndex === undefined || manifest.plans.length === 0 ? undefined : manifest.plans[planIndex % manifest.plans.length];
  if (plan) request = { ...request, plan: plan.id };
  if (account) request = { ...request, accountJurisdictions: account };
  if (meeting) request = { ...request, meetingJurisdictions: meeting };
  if (host) request = { ...request, hostCountry: host };
  return request;
}

/** A request against `manifest`: a country from the pool or beyond, a plan it defines, account and meeting subsets. */
export function requestArb(manifest: Manifest): fc.Arbitrary<RouteRequest> {
  return draftRequestArb.map((draft) => settleRequest(manifest, draft));
}

/** Live state as entries, so that a test can insert them in another order. */
export interface LiveEntries {
  readonly down: readonly string[];
  readonly utilization: readonly (readonly [string, number])[];
}

/** Stands for "exactly the manifest's maxUtilization" until the manifest is known. */
const AT_LIMIT = -1;

const draftLiveArb = fc.tuple(
  fc.shuffledSubarray([...DATACENTER_IDS, 'dc-unknown'], { maxLength: 6 }),
  fc.uniqueArray(
    fc.tuple(
      fc.constantFrom(...DATACENTER_IDS),
      fc.oneof(
        { weight: 6, arbitrary: fc.double({ min: 0, max: 1.2, noNaN: true }) },
        { weight: 2, arbitrary: fc.constantFrom(0, 0.25, 0.5, 0.95, 1, 1.2) },
        { weight: 1, arbitrary: fc.constant(AT_LIMIT) },
        { weight: 1, arbitrary: fc.constant(Number.NaN) },
      ),
    ),
    { selector: ([id]) => id, maxLength: MAX_DATACENTERS },
  ),
);

function settleLive(manifest: Manifest, [down, loads]: ValueOf<typeof draftLiveArb>): LiveEntries {
  const ids = new Set(manifest.datacenters.map((d) => d.id));
  return {
    // Ids the manifest does not define stay in `down` (the decider must ignore them), not in `utilization`.
    down: down.filter((id) => ids.has(id) || id === 'dc-unknown'),
    utilization: loads.filter(([id]) => ids.has(id)).map(([id, u]) => [id, u === AT_LIMIT ? manifest.selection.maxUtilization : u] as const),
  };
}

/** Live state for `manifest`: some datacenters down (and an unknown id), loads in [0, 1.2], NaN and the exact limit included. */
export function liveEntriesArb(manifest: Manifest): fc.Arbitrary<LiveEntries> {
  return draftLiveArb.map((draft) => settleLive(manifest, draft));
}

/** Builds a LiveState, inserting entries in the given order. */
export function toLiveState(entries: LiveEntries): LiveState {
  return { down: new Set(entries.down), utilization: new Map(entries.utilization) };
}

/** A random manifest with a request and live state against it. */
export interface Scenario {
  readonly manifest: Manifest;
  readonly request: RouteRequest;
  readonly entries: LiveEntries;
  readonly live: LiveState;
}

export const scenarioArb: fc.Arbitrary<Scenario> = fc.tuple(manifestArb, draftRequestArb, draftLiveArb).map(([manifest, draftRequest, draftLive]) => {
  const entries = settleLive(manifest, draftLive);
  return { manifest, request: settleRequest(manifest, draftRequest), entries, live: toLiveState(entries) };
});

// ---------------------------------------------------------------------------
// Reference model: the residency rules of PRODUCT.md, read literally.
// ---------------------------------------------------------------------------

const expansions = new WeakMap<readonly CountryGroup[], Map<string, ReadonlySet<string>>>();

/** Expands codes and (nested) group names to country codes; '*' and '!' are the caller's business. */
export function expandEntries(groups: readonly CountryGroup[], entries: readonly string[]): ReadonlySet<string> {
  // Memoized per groups array (manifests are immutable): the properties ask the same question thousands of times.
  let byKey = expansions.get(groups);
  if (!byKey) {
    byKey = new Map();
    expansions.set(groups, byKey);
  }
  const key = entries.join('\u0000');
  let expanded = byKey.get(key);
  if (!expanded) {
    expanded = expandUncached(groups, entries);
    byKey.set(key, expanded);
  }
  return expanded;
}

function expandUncached(groups: readonly CountryGroup[], entries: readonly string[]): Set<string> {
  const out = new Set<string>();
  const visiting = new Set<string>();
  const add = (entry: string): void => {
    const group = groups.find((g) => g.id === entry);
    if (!group) {
      out.add(entry);
      return;
    }
    if (visiting.has(entry)) return;
    visiting.add(entry);
    group.members.forEach(add);
  };
  entries.forEach(add);
  return out;
}

/** Does the fence bind participants from `country`? '*' is everyone; '!X' takes X (a code or a group) back out. */
export function fenceBinds(manifest: Manifest, fence: Fence, country: string): boolean {
  const positives = fence.clients.filter((c) => !c.startsWith('!'));
  const negatives = fence.clients.filter((c) => c.startsWith('!')).map((c) => c.slice(1));
  const included = positives.includes('*') || expandEntries(manifest.groups, positives.filter((c) => c !== '*')).has(country);
  return included && !expandEntries(manifest.groups, negatives).has(country);
}

/** Does the fence let its clients use a datacenter in `jurisdiction`? */
export function fencePermits(manifest: Manifest, fence: Fence, jurisdiction: string): boolean {
  if (fence.allow) return expandEntries(manifest.groups, fence.allow).has(jurisdiction);
  return !expandEntries(manifest.groups, fence.deny ?? []).has(jurisdiction);
}

const fenceSets = new WeakMap<Manifest, Map<string, ReadonlySet<string>>>();

/** Every jurisdiction that all the fences binding `country` permit (memoized per manifest and country). */
export function fenceAllowedSet(manifest: Manifest, country: string): ReadonlySet<string> {
  let byCountry = fenceSets.get(manifest);
  if (!byCountry) {
    byCountry = new Map();
    fenceSets.set(manifest, byCountry);
  }
  let allowed = byCountry.get(country);
  if (!allowed) {
    const binding = manifest.fences.filter((f) => fenceBinds(manifest, f, country));
    allowed = new Set(ALL_COUNTRY_CODES.filter((j) => binding.every((f) => fencePermits(manifest, f, j))));
    byCountry.set(country, allowed);
  }
  return allowed;
}

/** Every fence that binds `country` permits `jurisdiction`. */
export function insideFences(manifest: Manifest, country: string, jurisdiction: string): boolean {
  return fenceAllowedSet(manifest, country).has(jurisdiction);
}

/** The effective allowed set: fences ∩ account ∩ meeting ∩ the host's fences (each narrows only when given). */
export function effectivelyAllowed(manifest: Manifest, request: RouteRequest, jurisdiction: string): boolean {
  return insideFences(manifest, request.country, jurisdiction) && meetingPermits(manifest, request, jurisdiction) && (request.accountJurisdictions?.includes(jurisdiction) ?? true);
}

/** The meeting may be held in `jurisdiction`: its own list and its host's fences allow it. */
export function meetingPermits(manifest: Manifest, request: RouteRequest, jurisdiction: string): boolean {
  return (request.meetingJurisdictions?.includes(jurisdiction) ?? true) && (request.hostCountry === undefined || insideFences(manifest, request.hostCountry, jurisdiction));
}

/** Every jurisdiction of the effective allowed set, sorted. */
export function effectiveJurisdictions(manifest: Manifest, request: RouteRequest): string[] {
  return ALL_COUNTRY_CODES.filter((j) => effectivelyAllowed(manifest, request, j));
}

/** Carries every tag of the participant's plan, and no exclusive plan the participant is not on has claimed it. */
export function planPermits(manifest: Manifest, request: RouteRequest, dc: Datacenter): boolean {
  const carries = (p: Plan): boolean => p.tags.every((t) => dc.tags.includes(t));
  const own = manifest.plans.find((p) => p.id === request.plan);
  if (own && !carries(own)) return false;
  return !manifest.plans.some((p) => p.exclusive && p.id !== request.plan && carries(p));
}

/** May this participant use this datacenter at all, by policy (fence, plan, account, meeting)? */
export function policyPermits(manifest: Manifest, request: RouteRequest, dc: Datacenter): boolean {
  return effectivelyAllowed(manifest, request, dc.jurisdiction) && planPermits(manifest, request, dc);
}

/** The zone that names the country, else the '*' zone when no zone names it. */
export function zoneOf(manifest: Manifest, country: string): Zone | undefined {
  const named = manifest.zones.find((z) => expandEntries(manifest.groups, z.countries.filter((c) => c !== '*')).has(country));
  return named ?? manifest.zones.find((z) => z.countries.includes('*'));
}

/** Where the participant is: the request's location, else the country's representative point. */
export function whereIs(request: RouteRequest): GeoPoint {
  return request.location ?? countryPoint(request.country) ?? { lat: 0, lon: 0 };
}

/** The load the decider sees: absent means idle. */
export function loadOf(live: LiveState, id: string): number {
  return live.utilization?.get(id) ?? 0;
}

/** Up and strictly below the limit (NaN is never below it: unknown load fails closed). */
export function operational(manifest: Manifest, live: LiveState, id: string): boolean {
  return !(live.down?.has(id) ?? false) && loadOf(live, id) < manifest.selection.maxUtilization;
}

/**
 * May a bridge in `jurisdiction` carry the media of a participant from
 * `country` (the cascade's rule, docs/cascading.md)? Inside every binding
 * fence; or, in an E2EE meeting, every binding fence that forbids it lets
 * ciphertext transit (`transit: e2ee`).
 */
export function mayCarry(manifest: Manifest, country: string, jurisdiction: string, e2ee: boolean): boolean {
  return manifest.fences.every((f) => !fenceBinds(manifest, f, country) || fencePermits(manifest, f, jurisdiction) || (e2ee && f.transit === 'e2ee'));
}
