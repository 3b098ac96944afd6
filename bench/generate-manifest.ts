/**
 * A deterministic, seeded generator of large manifests for the benchmarks
 * (bench/select.ts, bench/check.ts): by default 1,000 datacenters, ~60 zones
 * that name all 250 countries exactly once, groups, ~20 fences (allow and
 * deny, two two-way enclaves), an exclusive and an ordinary plan, and demand
 * figures that survive the loss of each zone's largest datacenter.
 *
 * Every choice comes from the seeded PRNG below, never from Math.random, so
 * the same options give byte-identical YAML. The output passes `checkManifest`
 * with no errors or warnings (test/generate-manifest.test.ts holds it to
 * that): every zone holds countries bound by exactly the same fences, and its
 * lists only use jurisdictions all of those fences permit.
 */
import { ALL_COUNTRY_CODES, countryPoint, DEFAULT_SELECTION, findMisplacement, isCountryCode, printManifest } from '../src/core/index.js';
import type { CountryGroup, Datacenter, Fence, GeoPoint, Manifest, Plan, Zone } from '../src/core/index.js';
import { seededRandom, type Random } from '../src/sim/random.js';

/** What to generate; every field has a default. */
export interface GenerateOptions {
  /** Datacenters in total, including the exclusive plan's (default 1000). */
  readonly datacenters?: number;
  /** Countries the zones name explicitly (default 250, i.e. all); the rest fall to the '*' zone. */
  readonly countries?: number;
  /** Zones in total, including the '*' zone (default 60). */
  readonly zones?: number;
  /** Adds a zone with countries ['*'] (default true). With all 250 countries named it serves nobody. */
  readonly wildcardZone?: boolean;
  /** PRNG seed (default 1). */
  readonly seed?: number;
}

/** A uniform integer in [min, max]. */
export function randomInt(rand: Random, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/** A uniformly chosen element of a non-empty list. */
export function pick<T>(rand: Random, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) throw new RangeError('pick: empty list');
  return item;
}

/** Fisher–Yates shuffle into a new array. */
function shuffled<T>(rand: Random, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The fixed policy part: groups and fences, written the way an operator would.

const GROUPS: readonly CountryGroup[] = [
  { id: 'EU27', members: ['AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE'] },
  /** 30 countries: the EU plus Iceland, Liechtenstein and Norway (a group inside a group). */
  { id: 'EEA', members: ['EU27', 'IS', 'LI', 'NO'] },
  /** Countries with an EU adequacy decision (roughly). */
  { id: 'ADEQUATE', members: ['AD', 'AR', 'CA', 'CH', 'FO', 'GB', 'GG', 'IL', 'IM', 'JE', 'JP', 'KR', 'NZ', 'UY'] },
  { id: 'GCC', members: ['AE', 'BH', 'KW', 'OM', 'QA', 'SA'] },
  { id: 'ASEAN', members: ['BN', 'ID', 'KH', 'LA', 'MM', 'MY', 'PH', 'SG', 'TH', 'VN'] },
  { id: 'SANCTIONED', members: ['CU', 'IR', 'KP', 'SY'] },
];

const FENCES: readonly Fence[] = [
  // A China-like two-way enclave: its clients stay in, everyone else stays out.
  { name: 'china-stays-in-china', clients: ['CN'], allow: ['CN'] },
  { name: 'nobody-else-into-china', clients: ['*', '!CN'], deny: ['CN'] },
  // A second two-way enclave.
  { name: 'russia-stays-in-russia', clients: ['RU'], allow: ['RU'] },
  { name: 'nobody-else-into-russia', clients: ['*', '!RU'], deny: ['RU'] },
  { name: 'no-hosting-in-sanctioned', clients: ['*'], deny: ['SANCTIONED'] },
  { name: 'eea-stays-in-eea-or-adequate', clients: ['EEA'], allow: ['EEA', 'ADEQUATE'] },
  { name: 'swiss-in-europe', clients: ['CH'], allow: ['CH', 'EEA'] },
  { name: 'uk-in-europe-or-adequate', clients: ['GB'], allow: ['GB', 'EEA', 'ADEQUATE', 'US'] },
  { name: 'gcc-in-gcc-or-eea', clients: ['GCC'], allow: ['GCC', 'EEA'] },
  { name: 'india-local', clients: ['IN'], allow: ['IN', 'SG', 'AE'] },
  { name: 'indonesia-local', clients: ['ID'], allow: ['ID', 'SG', 'MY'] },
  { name: 'vietnam-local', clients: ['VN'], allow: ['VN', 'SG'] },
  { name: 'singapore-in-asean-or-adequate', clients: ['SG'], allow: ['ASEAN', 'JP', 'AU'] },
  { name: 'turkey-in-turkey-or-eea', clients: ['TR'], allow: ['TR', 'EEA'] },
  { name: 'australia-in-oceania', clients: ['AU'], allow: ['AU', 'NZ'] },
  { name: 'canada-in-north-america', clients: ['CA'], allow: ['CA', 'US'] },
  { name: 'korea-in-korea-or-japan', clients: ['KR'], allow: ['KR', 'JP'] },
  { name: 'us-no-adversaries', clients: ['US'], deny: ['SANCTIONED', 'VE', 'BY'] },
  { name: 'africa-no-us', clients: ['ZA', 'NG', 'KE', 'EG'], deny: ['US'] },
  { name: 'nigeria-in-africa', clients: ['NG'], allow: ['NG', 'ZA', 'GH', 'KE'] },
  { name: 'brazil-no-offshore-outside-latam', clients: ['BR'], allow: ['BR', 'AR', 'CL', 'UY', 'CO', 'PE', 'MX'] },
];

const PLANS: readonly Plan[] = [
  { id: 'government', tags: ['gov'], exclusive: true },
  { id: 'premium', tags: ['premium'], exclusive: false },
];

/** Countries whose zones get the exclusive plan's datacenters, and how many each. */
const GOV_COUNTRIES: readonly string[] = ['US', 'DE'];
const GOV_PER_ZONE = 3;
/** Every zone's allowed jurisdictions hold at least this many open datacenters: 3 primaries + 5 secondaries. */
const MIN_PER_ZONE = 8;
/** Datacenters are never placed here (a point at the pole is not a plausible site). */
const NOT_HOSTING: ReadonlySet<string> = new Set(['AQ']);

// ---------------------------------------------------------------------------

/** Generates a manifest as YAML text (canonical form, as `printManifest` writes it). */
export function generateManifest(options: GenerateOptions = {}): string {
  return printManifest(generateManifestModel(options));
}

/** The same manifest as an object, before printing. */
export function generateManifestModel(options: GenerateOptions = {}): Manifest {
  const datacenterCount = options.datacenters ?? 1000;
  const countryCount = options.countries ?? ALL_COUNTRY_CODES.length;
  const wildcard = options.wildcardZone ?? true;
  const zoneCount = options.zones ?? 60;
  const rand = seededRandom(options.seed ?? 1);

  const resolver = new Resolver(GROUPS);
  const fences = FENCES.map((f) => resolver.fence(f));

  // Countries bound by the same fences form a class; a zone never mixes classes.
  const signatureOf = (c: string): string => fences.flatMap((f, i) => (f.clients.has(c) ? [i] : [])).join(',');
  const classes = new Map<string, string[]>();
  for (const c of ALL_COUNTRY_CODES) {
    const sig = signatureOf(c);
    const members = classes.get(sig) ?? [];
    members.push(c);
    classes.set(sig, members);
  }
  const allowedFor = (sig: string): ReadonlySet<string> => {
    const binding = sig === '' ? [] : sig.split(',').map((i) => fences[Number(i)]);
    return new Set(ALL_COUNTRY_CODES.filter((j) => binding.every((f) => f?.permitted.has(j))));
  };
  // The largest class is everyone no specific fence names; only its countries may be left to '*'.
  const [defaultSig, defaultMembers] = [...classes].reduce((a, b) => (b[1].length > a[1].length ? b : a));

  // Which countries the zones name.
  const specific = ALL_COUNTRY_CODES.length - defaultMembers.length;
  if (countryCount < specific || countryCount > ALL_COUNTRY_CODES.length) {
    throw new RangeError(`countries must be between ${specific} (those the fences name) and ${ALL_COUNTRY_CODES.length}; got ${countryCount}.`);
  }
  const keptDefault = new Set(shuffled(rand, defaultMembers).slice(0, countryCount - specific));
  classes.set(defaultSig, defaultMembers.filter((c) => keptDefault.has(c)));

  // Zones: one per class at least; the rest split the larger classes by geography.
  const classList = [...classes].filter(([, members]) => members.length > 0).sort(([a], [b]) => compare(a, b));
  const budget = zoneCount - (wildcard ? 1 : 0) - classList.length;
  if (budget < 0) throw new RangeError(`zones must be at least ${classList.length + (wildcard ? 1 : 0)}; got ${zoneCount}.`);
  const splits = allocate(
    classList.map(([, members]) => (resolver.groupEqualTo(members) ? 0 : members.length - 1)),
    budget,
  );
  const drafts: ZoneDraft[] = [];
  classList.forEach(([sig, members], i) => {
    const allowed = allowedFor(sig);
    for (const cluster of clusterByDistance(rand, members, 1 + (splits[i] ?? 0))) drafts.push({ countries: cluster, allowed, center: medoid(cluster) });
  });
  if (wildcard) {
    // It serves the unfenced countries no zone names (none when all 250 are named).
    const rest = defaultMembers.filter((c) => !keptDefault.has(c));
    drafts.push({ countries: rest, allowed: allowedFor(defaultSig), center: pointOf(pick(rand, defaultMembers)), wildcard: true });
  }

  // Datacenters: the exclusive plan's first, then a floor per zone, then the rest at random.
  const gov = drafts.filter((d) => !d.wildcard && d.countries.some((c) => GOV_COUNTRIES.includes(c)));
  const open = datacenterCount - gov.length * GOV_PER_ZONE;
  if (open < drafts.length * MIN_PER_ZONE) {
    throw new RangeError(`datacenters must be at least ${drafts.length * MIN_PER_ZONE + gov.length * GOV_PER_ZONE} for ${drafts.length} zones; got ${datacenterCount}.`);
  }
  const placed: Placed[] = [];
  const place = (draft: ZoneDraft, tags: readonly string[]): void => {
    const jurisdiction = pick(rand, hostsFor(draft));
    const base = pointOf(jurisdiction);
    const jittered = {
      lat: round2(Math.min(85, Math.max(-85, base.lat + (rand() - 0.5) * 3))),
      lon: round2(wrapLon(base.lon + (rand() - 0.5) * 3)),
    };
    // Jitter can carry a small or island country's datacenter off its territory
    // (GB_LOCATION_OUTSIDE_JURISDICTION); the country's own point is never
    // flagged (src/core/verify/location.test.ts).
    const location = findMisplacement({ jurisdiction, location: jittered }) ? base : jittered;
    const capacity = randomInt(rand, 5, 100) * 1000;
    placed.push({ jurisdiction, location, capacity, tags, gov: tags.includes('gov'), zone: draft });
  };
  for (const draft of gov) for (let i = 0; i < GOV_PER_ZONE; i++) place(draft, ['gov']);
  const openTags = (): string[] => [...(rand() < 0.25 ? ['premium'] : []), ...(rand() < 0.15 ? ['edge'] : [])];
  for (const draft of drafts) for (let i = 0; i < MIN_PER_ZONE; i++) place(draft, openTags());
  const weights = drafts.map((d) => 1 + Math.sqrt(d.countries.length));
  while (placed.length < datacenterCount) place(weighted(rand, drafts, weights), openTags());

  const datacenters = placed.map((p, i): Datacenter & { readonly gov: boolean; readonly zone: ZoneDraft } => ({
    id: `dc-${p.jurisdiction.toLowerCase()}-${String(i + 1).padStart(4, '0')}`,
    jurisdiction: p.jurisdiction,
    location: p.location,
    capacity: p.capacity,
    tags: p.tags,
    ice: [],
    gov: p.gov,
    zone: p.zone,
  }));

  // Zone lists: the nearest open datacenters the zone's fences permit.
  const zones = drafts.map((draft, index): Zone => {
    const candidates = datacenters
      .filter((d) => !d.gov && draft.allowed.has(d.jurisdiction))
      .map((d) => ({ d, km: angle(draft.center, d.location) }))
      .sort((a, b) => a.km - b.km || compare(a.d.id, b.d.id))
      .map((x) => x.d);
    const k = Math.min(randomInt(rand, 3, 8), candidates.length - 5);
    const m = Math.min(randomInt(rand, 5, 15), candidates.length - k);
    const primaries = candidates.slice(0, k);
    // Secondaries: m of the next 2m nearest, kept in distance order.
    const pool = candidates.slice(k, k + 2 * m);
    const chosen = new Set(shuffled(rand, pool).slice(0, m));
    const secondaries = pool.filter((d) => chosen.has(d));
    const govHere = datacenters.filter((d) => d.gov && d.zone === draft);
    const listed = [...primaries, ...secondaries];
    const total = listed.reduce((sum, d) => sum + d.capacity, 0);
    const largest = listed.reduce((max, d) => Math.max(max, d.capacity), 0);
    const usable = Math.floor((total - largest) * DEFAULT_SELECTION.maxUtilization);
    const demand = Math.max(1000, Math.floor((usable * (0.3 + 0.5 * rand())) / 1000) * 1000);
    const label = draft.wildcard ? 'rest-of-world' : `zone-${String(index + 1).padStart(2, '0')}-${(draft.countries[0] ?? 'xx').toLowerCase()}`;
    return {
      id: label,
      countries: draft.wildcard ? ['*'] : resolver.writeCountries(draft.countries),
      primaries: [...primaries, ...govHere].map((d) => d.id),
      secondaries: secondaries.map((d) => d.id),
      demand,
    };
  });

  return {
    version: 1,
    groups: GROUPS,
    datacenters: datacenters.map(({ id, jurisdiction, location, capacity, tags, ice }) => ({ id, jurisdiction, location, capacity, tags, ice })),
    stores: [],
    zones,
    fences: FENCES,
    plans: PLANS,
    selection: DEFAULT_SELECTION,
  };
}

// ---------------------------------------------------------------------------

interface ZoneDraft {
  readonly countries: readonly string[];
  /** Jurisdictions every fence binding these countries permits. */
  readonly allowed: ReadonlySet<string>;
  readonly center: GeoPoint;
  readonly wildcard?: boolean;
}

interface Placed {
  readonly jurisdiction: string;
  readonly location: GeoPoint;
  readonly capacity: number;
  readonly tags: readonly string[];
  readonly gov: boolean;
  readonly zone: ZoneDraft;
}

/** Jurisdictions to put a zone's datacenters in: its own countries if allowed, else the nearest allowed ones. */
function hostsFor(draft: ZoneDraft): readonly string[] {
  const own = draft.countries.filter((c) => draft.allowed.has(c) && !NOT_HOSTING.has(c));
  if (own.length > 0) return own;
  return [...draft.allowed]
    .filter((c) => !NOT_HOSTING.has(c))
    .map((c) => ({ c, km: angle(draft.center, pointOf(c)) }))
    .sort((a, b) => a.km - b.km || compare(a.c, b.c))
    .slice(0, 5)
    .map((x) => x.c);
}

/** Resolves the generator's own groups and fences (independently of src/core/policy). */
class Resolver {
  readonly #groups: ReadonlyMap<string, readonly string[]>;

  constructor(groups: readonly CountryGroup[]) {
    this.#groups = new Map(groups.map((g) => [g.id, g.members]));
    for (const g of groups) for (const c of this.expand([g.id])) if (!isCountryCode(c)) throw new Error(`group ${g.id}: '${c}' is not a country code`);
  }

  expand(entries: readonly string[]): Set<string> {
    const out = new Set<string>();
    const add = (e: string): void => {
      const members = this.#groups.get(e);
      if (members) members.forEach(add);
      else out.add(e);
    };
    entries.forEach(add);
    return out;
  }

  fence(f: Fence): { readonly clients: ReadonlySet<string>; readonly permitted: ReadonlySet<string> } {
    const plus = f.clients.filter((c) => !c.startsWith('!'));
    const clients = plus.includes('*') ? new Set(ALL_COUNTRY_CODES) : this.expand(plus);
    for (const c of this.expand(f.clients.filter((c) => c.startsWith('!')).map((c) => c.slice(1)))) clients.delete(c);
    const rule = this.expand(f.allow ?? f.deny ?? []);
    for (const c of [...clients, ...rule]) if (!isCountryCode(c)) throw new Error(`fence ${f.name}: '${c}' is not a country code`);
    const permitted = f.allow ? rule : new Set(ALL_COUNTRY_CODES.filter((j) => !rule.has(j)));
    return { clients, permitted };
  }

  /** The name of a group with exactly these members, if any. */
  groupEqualTo(countries: readonly string[]): string | undefined {
    const wanted = new Set(countries);
    for (const id of this.#groups.keys()) {
      const members = this.expand([id]);
      if (members.size === wanted.size && [...members].every((c) => wanted.has(c))) return id;
    }
    return undefined;
  }

  /** A zone's countries as written: a group name when one fits exactly, else sorted codes. */
  writeCountries(countries: readonly string[]): string[] {
    const group = this.groupEqualTo(countries);
    return group ? [group] : [...countries].sort(compare);
  }
}

/** Splits `extra` among items by largest remainder, in proportion to `capacity`, never above it. */
function allocate(capacity: readonly number[], extra: number): number[] {
  const out = capacity.map(() => 0);
  let left = Math.min(extra, capacity.reduce((a, b) => a + b, 0));
  while (left > 0) {
    const open = capacity.map((c, i) => c - (out[i] ?? 0));
    const total = open.reduce((a, b) => a + b, 0);
    const shares = open.map((o) => (o * left) / total);
    let given = 0;
    shares.forEach((s, i) => {
      const n = Math.floor(s);
      out[i] = (out[i] ?? 0) + n;
      given += n;
    });
    if (given === 0) {
      // Hand out one by one to the largest remainders.
      const order = shares.map((s, i) => ({ r: s - Math.floor(s), i })).sort((a, b) => b.r - a.r || a.i - b.i);
      for (const { i } of order.slice(0, left)) out[i] = (out[i] ?? 0) + 1;
      given = Math.min(left, order.length);
    }
    left -= given;
  }
  return out;
}

/** k clusters of nearby countries: k-means on the unit sphere with k-means++ seeding. Empty clusters are dropped. */
function clusterByDistance(rand: Random, countries: readonly string[], k: number): string[][] {
  if (k <= 1) return [[...countries]];
  const points = countries.map((c) => toVector(pointOf(c)));
  const centers: Vec[] = [pick(rand, points)];
  while (centers.length < k) {
    const d2 = points.map((p) => Math.min(...centers.map((c) => chord2(p, c))));
    const total = d2.reduce((a, b) => a + b, 0);
    centers.push(total === 0 ? pick(rand, points) : weighted(rand, points, d2));
  }
  let assignment: number[] = [];
  for (let round = 0; round < 8; round++) {
    assignment = points.map((p) => nearest(p, centers));
    centers.forEach((_, i) => {
      const members = points.filter((_, j) => assignment[j] === i);
      if (members.length > 0) centers[i] = normalize(members.reduce((a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]]));
    });
  }
  const clusters = centers.map((_, i) => countries.filter((_, j) => assignment[j] === i));
  return clusters.filter((c) => c.length > 0);
}

type Vec = readonly [number, number, number];

function toVector(p: GeoPoint): Vec {
  const rad = Math.PI / 180;
  const lat = p.lat * rad;
  const lon = p.lon * rad;
  return [Math.cos(lat) * Math.cos(lon), Math.cos(lat) * Math.sin(lon), Math.sin(lat)];
}

function normalize(v: Vec): Vec {
  const n = Math.hypot(v[0], v[1], v[2]) || 1;
  return [v[0] / n, v[1] / n, v[2] / n];
}

function chord2(a: Vec, b: Vec): number {
  return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2;
}

function nearest(p: Vec, centers: readonly Vec[]): number {
  let best = 0;
  let bestD = Infinity;
  centers.forEach((c, i) => {
    const d = chord2(p, c);
    if (d < bestD) [best, bestD] = [i, d];
  });
  return best;
}

/** Angular distance between two points (monotonic in great-circle distance). */
function angle(a: GeoPoint, b: GeoPoint): number {
  return chord2(toVector(a), toVector(b));
}

/** The member country closest to all the others. */
function medoid(countries: readonly string[]): GeoPoint {
  let best = countries[0] ?? 'DE';
  let bestSum = Infinity;
  for (const c of countries) {
    const sum = countries.reduce((s, o) => s + angle(pointOf(c), pointOf(o)), 0);
    if (sum < bestSum) [best, bestSum] = [c, sum];
  }
  return pointOf(best);
}

function weighted<T>(rand: Random, items: readonly T[], weights: readonly number[]): T {
  let r = rand() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < items.length; i++) {
    r -= weights[i] ?? 0;
    if (r < 0) return items[i] as T;
  }
  return items[items.length - 1] as T;
}

function pointOf(code: string): GeoPoint {
  const p = countryPoint(code);
  if (!p) throw new Error(`no point for country '${code}'`);
  return p;
}

function wrapLon(lon: number): number {
  return lon > 180 ? lon - 360 : lon < -180 ? lon + 360 : lon;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
