/**
 * The one decider: which datacenters a participant may try, in which order.
 * Every other part of geobridge (CLI, broker, simulator, tests) calls this and
 * nothing else to pick datacenters: `selectDatacenters` explains every
 * datacenter not offered, `selectRoute` (the broker's hot path) runs the same
 * code over the zone's lists only. The scoring is in docs/selection.md.
 */
import { GeobridgeError } from '../errors.js';
import { isCountryCode } from '../geo/countries.js';
import type { Datacenter, GeoPoint, Manifest, Plan, Zone } from '../manifest/types.js';
import { compareStrings } from '../order.js';
import { compilePolicy, type CompiledPolicy, type ListedDatacenter } from '../policy/compile.js';
import { fenceByIndex, listedView, type ListedFrom } from './listed-view.js';

/** Who is asking, from where, under which policies. */
export interface RouteRequest {
  /** ISO 3166-1 alpha-2 code of the participant's country. */
  readonly country: string;
  /** Defaults to the country's representative point. */
  readonly location?: GeoPoint;
  readonly plan?: string;
  /** Data routing control of the participant's account: it narrows, never widens. */
  readonly accountJurisdictions?: readonly string[];
  /** Jurisdictions the meeting may be held in. */
  readonly meetingJurisdictions?: readonly string[];
  /**
   * The country of the meeting's host account. A meeting is held only where
   * the host's own participants may go: a guest never pulls it across the
   * host's fence, even when nobody else has joined yet (reason MEETING).
   */
  readonly hostCountry?: string;
  /**
   * Where the meeting already lives, if it is placed. Joining a placed meeting
   * goes to that datacenter alone (zone lists do not apply, fences do); when
   * it is down the decision is a normal one, from which the meeting re-homes.
   */
  readonly placedAt?: string;
  /**
   * With `placedAt`: the decision names the meeting's datacenter alone, without
   * the participant's fallbacks. For checks that ask only whether media may be
   * held there (admission, renewals, re-checks), which need no ranking.
   */
  readonly placedOnly?: boolean;
}

/** What is known right now about the datacenters. */
export interface LiveState {
  readonly down?: ReadonlySet<string>;
  /** Share of capacity in use, 0..1, by datacenter id; absent means idle. */
  readonly utilization?: ReadonlyMap<string, number>;
  /** The same two facts by datacenter position for one manifest (`indexLiveState`); ignored on any other manifest. */
  readonly byIndex?: LiveByIndex;
}

/**
 * `down` and `utilization` as arrays in `compilePolicy(manifest).datacentersById`
 * order: a decision reads each listed datacenter's state at its position
 * instead of hashing its id into maps the size of the manifest, whose misses
 * in the CPU's caches are most of a decision's cost on a large manifest.
 */
export interface LiveByIndex {
  readonly manifest: Manifest;
  /** 1 where the datacenter is down. */
  readonly down: Uint8Array;
  /** The utilization, 0 where none is reported (idle), NaN kept as NaN (full: unknown load fails closed). */
  readonly utilization: Float64Array;
}

/**
 * The live state with its `byIndex` form for `manifest`: a snapshot, built
 * once per state by whoever decides many routes from it (the broker's
 * registry); the maps stay the truth, and a change means a new state.
 */
export function indexLiveState(manifest: Manifest, live: LiveState): LiveState {
  const datacenters = compilePolicy(manifest).datacentersById;
  const down = new Uint8Array(datacenters.length);
  const utilization = new Float64Array(datacenters.length);
  datacenters.forEach((dc, i) => {
    down[i] = live.down?.has(dc.id) === true ? 1 : 0;
    utilization[i] = live.utilization?.get(dc.id) ?? 0;
  });
  return { ...(live.down ? { down: live.down } : {}), ...(live.utilization ? { utilization: live.utilization } : {}), byIndex: { manifest, down, utilization } };
}

/** Why a datacenter was not offered, in the order the checks run. */
export type ExclusionReason = 'FENCE' | 'PLAN' | 'ACCOUNT' | 'MEETING' | 'NOT_LISTED' | 'DOWN' | 'FULL';

/** A datacenter to try. */
export interface Candidate {
  readonly datacenter: string;
  readonly role: 'primary' | 'secondary';
  readonly jurisdiction: string;
}

/** A datacenter not offered, with the first reason that ruled it out. */
export interface Exclusion {
  readonly datacenter: string;
  readonly reason: ExclusionReason;
}

/** The retry rules the client must follow for the primaries. */
export interface AttemptPolicy {
  readonly perPrimary: number;
  readonly timeoutMs: number;
}

/** A route: candidates in the order the client must try them, without saying why the rest were left out (the broker's hot path, `selectRoute`). */
export interface Route {
  readonly zone: string | null;
  readonly country: string;
  readonly allowedJurisdictions: readonly string[];
  readonly candidates: readonly Candidate[];
  readonly attempts: AttemptPolicy;
}

/** A route explained: every other datacenter of the manifest with the reason it was not offered, in id order. */
export interface Decision extends Route {
  readonly excluded: readonly Exclusion[];
}

/**
 * Refusal codes: nothing inside the fence is available; no zone serves the
 * country; the meeting lives in a datacenter the participant may not use.
 */
export type RefusalCode = 'NO_CAPACITY_IN_FENCE' | 'NO_ZONE' | 'FENCE_CONFLICT';

/** No route: the participant is refused rather than sent outside its fence. Always explained. */
export interface Refusal {
  readonly error: { readonly code: RefusalCode; readonly message: string };
  readonly zone: string | null;
  readonly country: string;
  readonly allowedJurisdictions: readonly string[];
  readonly excluded: readonly Exclusion[];
}

/** The decider's explained answer (`selectDatacenters`). */
export type RouteResult = Decision | Refusal;

/** The hot path's answer (`selectRoute`): a route, or a refusal (explained, as refusals are rare). */
export type RouteChoice = Route | Refusal;

/** True when the result is a refusal. */
export function isRefusal(result: RouteChoice): result is Refusal {
  return 'error' in result;
}

/** A penalty of this many ms at 50 % utilization; it grows without bound towards 100 %. */
const LOAD_PENALTY_MS = 20;
const EMPTY_SET: ReadonlySet<string> = new Set();
const EMPTY_MAP: ReadonlyMap<string, number> = new Map();
const NONE_LISTED: readonly ListedDatacenter[] = [];

/**
 * Picks the datacenters a participant may try, in order, or refuses, and
 * explains every datacenter not offered (`excluded`): what `geobridge route`,
 * the simulator and audits show. Walks every datacenter of the manifest.
 * Never returns a datacenter outside the participant's effective allowed set.
 */
export function selectDatacenters(manifest: Manifest, request: RouteRequest, live: LiveState = {}): RouteResult {
  return explain(resolve(manifest, request, live), true);
}

/**
 * The same decision as `selectDatacenters` without `excluded`: it looks only
 * at the datacenters the participant's zone lists (or the placed meeting's),
 * so its cost grows with the candidates, not the manifest. A refusal is the
 * same refusal (code, message) explaining only the datacenters it examined:
 * the rest are fixed by the manifest and the request, and `selectDatacenters`
 * names them.
 */
export function selectRoute(manifest: Manifest, request: RouteRequest, live: LiveState = {}): RouteChoice {
  const inputs = resolve(manifest, request, live);
  const outcome = decide(inputs, undefined);
  return isRefused(outcome) ? explain(inputs, false) : outcome;
}

/** Everything one decision reads, resolved once. */
interface Inputs {
  readonly policy: CompiledPolicy;
  readonly request: RouteRequest;
  readonly plan: Plan | undefined;
  readonly allowed: Allowed;
  readonly zone: Zone | null;
  readonly down: ReadonlySet<string>;
  readonly utilization: ReadonlyMap<string, number>;
  readonly byIndex: LiveByIndex | undefined;
  readonly maxUtilization: number;
  /** A plan, an account or meeting restriction, or a host narrows the fence (else only exclusive plans' claims can). */
  readonly narrows: boolean;
}

function resolve(manifest: Manifest, request: RouteRequest, live: LiveState): Inputs {
  if (!isCountryCode(request.country)) {
    throw new GeobridgeError('INVALID_COUNTRY', `'${request.country}' is not an ISO 3166-1 alpha-2 country code (e.g. US, DE).`);
  }
  const policy = compilePolicy(manifest);
  const plan = request.plan === undefined ? undefined : policy.planById.get(request.plan);
  if (request.plan !== undefined && !plan) {
    throw new GeobridgeError('UNKNOWN_PLAN', `plan '${request.plan}' is not defined in the manifest (plans: ${[...policy.planById.keys()].join(', ') || 'none'}).`);
  }
  const allowed = effectiveJurisdictions(policy, request);
  return {
    policy,
    request,
    plan,
    allowed,
    zone: policy.zoneFor(request.country) ?? null,
    down: live.down ?? EMPTY_SET,
    utilization: live.utilization ?? EMPTY_MAP,
    byIndex: live.byIndex?.manifest === manifest ? live.byIndex : undefined,
    maxUtilization: manifest.selection.maxUtilization,
    narrows: plan !== undefined || request.accountJurisdictions !== undefined || request.meetingJurisdictions !== undefined || allowed.host !== undefined,
  };
}

/** Why a decision is refused, before the refusal is explained. */
type Refused =
  | { readonly refused: 'NO_ZONE' }
  | { readonly refused: 'NOTHING_LEFT'; readonly zone: Zone }
  | { readonly refused: 'PLACED_ELSEWHERE'; readonly home: Datacenter; readonly reason: ExclusionReason }
  | { readonly refused: 'PLACED_FULL'; readonly home: Datacenter };

function isRefused(outcome: Route | Refused): outcome is Refused {
  return 'refused' in outcome;
}

/** One reason slot per datacenter of `policy.datacentersById`. */
type Reasons = (ExclusionReason | undefined)[];

/**
 * An explanation being written: every datacenter of the manifest gets its
 * reason (`all`), or only those the decision examines (the zone's listed
 * ones and the placed meeting's). Undefined on the hot path, which writes none.
 */
interface Why {
  readonly reasons: Reasons;
  readonly all: boolean;
}

/** The one decision, with or without its explanation. */
function decide(inputs: Inputs, why: Why | undefined): Route | Refused {
  const placedAt = inputs.request.placedAt;
  return (placedAt === undefined ? undefined : joinPlaced(inputs, placedAt, why)) ?? rankListed(inputs, why);
}

/** The decision with `excluded` (in id order, so it needs no sort), or the refusal it explains; `all`: every datacenter, else those examined. */
function explain(inputs: Inputs, all: boolean): RouteResult {
  const { policy } = inputs;
  const reasons: Reasons = new Array<ExclusionReason | undefined>(policy.datacentersById.length);
  const outcome = decide(inputs, { reasons, all });
  if (isRefused(outcome)) {
    const examined = exclusionsAt(policy, reasons, examinedBy(inputs, outcome));
    return refusal(inputs, outcome, all ? exclusionsAt(policy, reasons, reasons.keys()) : examined, examined);
  }
  const { zone, country, allowedJurisdictions, candidates, attempts } = outcome;
  // The key order `geobridge route --json` has always printed.
  return { zone, country, allowedJurisdictions, excluded: exclusionsAt(policy, reasons, reasons.keys()), candidates, attempts };
}

/** The exclusions written at `positions` (in the order given), as shared frozen objects. */
function exclusionsAt(policy: CompiledPolicy, reasons: Reasons, positions: Iterable<number>): Exclusion[] {
  const shared = exclusionsOf(policy);
  const excluded: Exclusion[] = [];
  for (const i of positions) {
    const reason = reasons[i];
    if (reason) excluded.push(shared[i]?.get(reason) ?? newExclusion(shared, i, policy.datacentersById[i]?.id ?? '', reason));
  }
  return excluded;
}

/** Positions, in id order, of the datacenters a refused decision examined: the zone's listed ones, or the placed meeting's. */
function examinedBy(inputs: Inputs, why: Refused): readonly number[] {
  switch (why.refused) {
    case 'NO_ZONE':
      return [];
    case 'NOTHING_LEFT':
      return inputs.policy.listedIn(why.zone).map((e) => e.index);
    case 'PLACED_ELSEWHERE':
    case 'PLACED_FULL':
      return [inputs.policy.positionById.get(why.home.id) ?? -1];
  }
}

/** Per datacenter position, its exclusions by reason: frozen, and shared by every explanation that names them. */
type SharedExclusions = Map<ExclusionReason, Exclusion>[];
const exclusionsByPolicy = new WeakMap<CompiledPolicy, SharedExclusions>();

function exclusionsOf(policy: CompiledPolicy): SharedExclusions {
  let shared = exclusionsByPolicy.get(policy);
  if (!shared) exclusionsByPolicy.set(policy, (shared = []));
  return shared;
}

function newExclusion(shared: SharedExclusions, index: number, datacenter: string, reason: ExclusionReason): Exclusion {
  const exclusion = Object.freeze({ datacenter, reason });
  (shared[index] ??= new Map()).set(reason, exclusion);
  return exclusion;
}

/**
 * Ranks the datacenters the zone lists, nearest first as the country sees
 * them (listed-view.ts). Explaining, it checks every one (and with `all`
 * gives each unlisted datacenter its reason); on the hot path it stops
 * walking the secondaries once no further one can be cheaper than those it keeps.
 */
function rankListed(inputs: Inputs, why: Why | undefined): Route | Refused {
  const { policy, zone } = inputs;
  const reasons = why?.reasons;
  if (why?.all) explainUnlisted(inputs, why.reasons);
  if (!zone) return { refused: 'NO_ZONE' };
  const view = listedView(policy, inputs.request.country, inputs.request.location);
  const primaries: Ranked[] = [];
  for (const entry of view.primaries) {
    const ranked = offer(inputs, entry, reasons);
    if (ranked) primaries.push(ranked);
  }
  primaries.sort(compareRanked);
  const limit = policy.manifest.selection.secondaries;
  // The `limit` cheapest so far, in order.
  const secondaries: Ranked[] = [];
  for (const entry of view.secondaries) {
    // A load only adds to the RTT, and the rest are farther: none of them could displace a kept one.
    if (!why && secondaries.length === limit && (limit === 0 || entry.rttMs > (secondaries[limit - 1]?.cost ?? Infinity))) break;
    const ranked = offer(inputs, entry, reasons);
    if (!ranked) continue;
    let at = secondaries.length;
    while (at > 0 && compareRanked(ranked, secondaries[at - 1] as Ranked) < 0) at--;
    secondaries.splice(at, 0, ranked);
    // Past the limit: on the backup list but not on this decision's list.
    const cut = secondaries.length > limit ? secondaries.pop() : undefined;
    if (cut && reasons) reasons[cut.index] = 'NOT_LISTED';
  }
  if (primaries.length + secondaries.length === 0) return { refused: 'NOTHING_LEFT', zone };
  const candidates: Candidate[] = [];
  for (const r of primaries) candidates.push(r.candidate);
  for (const r of secondaries) candidates.push(r.candidate);
  return route(inputs, candidates);
}

/** A listed datacenter ranked for this decision, or undefined with its reason written when it is ruled out. */
function offer(inputs: Inputs, entry: ListedFrom, reasons: Reasons | undefined): Ranked | undefined {
  const { datacenter: dc, index, claims } = entry.listed;
  const byIndex = inputs.byIndex;
  const down = byIndex ? byIndex.down[index] === 1 : inputs.down.has(dc.id);
  const policy = !entry.inFence ? 'FENCE' : inputs.narrows || claims.length > 0 ? narrowingReason(inputs, dc, claims) : undefined;
  const ruledOut = policy ?? (down ? 'DOWN' : undefined);
  if (ruledOut !== undefined) {
    if (reasons) reasons[index] = ruledOut;
    return undefined;
  }
  // The load is read last: only a datacenter that passed every other check needs it.
  const u = byIndex ? (byIndex.utilization[index] ?? 0) : (inputs.utilization.get(dc.id) ?? 0);
  // `!(u < max)` also treats NaN as full: unknown load fails closed.
  if (u < inputs.maxUtilization) return rank(entry, u);
  if (reasons) reasons[index] = 'FULL';
  return undefined;
}

/** Explaining a join of the meeting at position `home`: every other datacenter is ruled out by policy, else simply not that one. */
function explainAllButHome(inputs: Inputs, home: number, reasons: Reasons): void {
  const { policy } = inputs;
  policy.datacentersById.forEach((dc, i) => {
    if (i !== home) reasons[i] = policyReason(inputs, dc, policy.claimsById[i] ?? []) ?? 'NOT_LISTED';
  });
}

/** Explaining: every datacenter the zone does not list gets the first policy rule against it, else NOT_LISTED. */
function explainUnlisted(inputs: Inputs, reasons: Reasons): void {
  const { policy, zone } = inputs;
  const listed = zone ? policy.listedIn(zone) : NONE_LISTED;
  const inFence = fenceByIndex(policy, inputs.request.country);
  // Both lists are in id order: walk them together, so the listed ones are known without a lookup.
  let next = 0;
  policy.datacentersById.forEach((dc, i) => {
    if (listed[next]?.index === i) next++;
    else reasons[i] = (inFence[i] === 1 ? narrowingReason(inputs, dc, policy.claimsById[i] ?? []) : 'FENCE') ?? 'NOT_LISTED';
  });
}

/**
 * A join of a placed meeting: the meeting's datacenter first, or why not.
 * After it come the participant's own ranked candidates, as fallbacks for
 * the moment that datacenter vanishes: a bridge reached through one of them
 * either re-homes the meeting there (the home is down) or redirects back to
 * the home, so the meeting is never split, and a client can go on through
 * its plan at once instead of asking the broker again.
 * Returns undefined when that datacenter is down or gone, so the caller
 * decides as usual and the meeting re-homes.
 */
function joinPlaced(inputs: Inputs, placedAt: string, why: Why | undefined): Route | Refused | undefined {
  const { policy } = inputs;
  const home = policy.datacenterById.get(placedAt);
  if (!home || inputs.down.has(placedAt)) return undefined;
  const at = policy.positionById.get(placedAt) ?? -1;
  const reason = policyReason(inputs, home, policy.claimsOn(home));
  const full = !((inputs.utilization.get(placedAt) ?? 0) < inputs.maxUtilization);
  if (reason || full) {
    // Zone lists do not apply to joining someone else's meeting: every other datacenter is simply not this one.
    if (why?.all) explainAllButHome(inputs, at, why.reasons);
    if (why) why.reasons[at] = reason ?? 'FULL';
    return reason ? { refused: 'PLACED_ELSEWHERE', home, reason } : { refused: 'PLACED_FULL', home };
  }
  const role = inputs.zone && policy.rolesIn(inputs.zone).get(placedAt) === 'primary' ? 'primary' : 'secondary';
  const placed: Candidate = { datacenter: home.id, role, jurisdiction: home.jurisdiction };
  if (inputs.request.placedOnly === true) {
    if (why?.all) explainAllButHome(inputs, at, why.reasons);
    return route(inputs, [placed]);
  }
  const ranked = rankListed(inputs, why);
  if (why) why.reasons[at] = undefined;
  const fallbacks = isRefused(ranked) ? [] : ranked.candidates.filter((c) => c.datacenter !== home.id);
  return route(inputs, [placed, ...fallbacks]);
}

function route(inputs: Inputs, candidates: readonly Candidate[]): Route {
  const { request, allowed, zone, policy } = inputs;
  const selection = policy.manifest.selection;
  return {
    zone: zone?.id ?? null,
    country: request.country,
    allowedJurisdictions: allowed.sorted,
    candidates,
    attempts: { perPrimary: selection.primaryAttempts, timeoutMs: selection.attemptTimeoutMs },
  };
}

/** The refusal for `why`, carrying its explanation; its message counts the reasons of the datacenters it `examined`. */
function refusal(inputs: Inputs, why: Refused, excluded: readonly Exclusion[], examined: readonly Exclusion[]): Refusal {
  const { request, zone, policy } = inputs;
  const country = request.country;
  const error = (code: RefusalCode, message: string): Refusal => ({ error: { code, message }, zone: zone?.id ?? null, country, allowedJurisdictions: inputs.allowed.sorted, excluded });
  switch (why.refused) {
    case 'PLACED_ELSEWHERE':
      return error(
        'FENCE_CONFLICT',
        `the meeting is held in ${why.home.id} (${why.home.jurisdiction}), which ${country} participants may not use (${why.reason}); it is never moved across a fence for one participant.`,
      );
    case 'PLACED_FULL':
      return error('NO_CAPACITY_IN_FENCE', `the meeting's datacenter ${why.home.id} is full; try again shortly.`);
    case 'NO_ZONE':
      return error('NO_ZONE', `no zone serves ${country}, so it has no datacenter lists; add it to a zone or add a zone with countries ['*'].`);
    case 'NOTHING_LEFT':
      // Waiting for capacity cannot help a guest whose fence and the host's share no datacenter: that refusal is final.
      if (request.hostCountry !== undefined && disjointFromHost(policy, country, request.hostCountry)) {
        return error(
          'FENCE_CONFLICT',
          `this meeting is held only where participants from its host's country (${request.hostCountry}) may go, and no such datacenter is inside the fence of ${country} participants; a guest never takes a meeting across its host's fence.`,
        );
      }
      return error('NO_CAPACITY_IN_FENCE', refusalMessage(country, why.zone.id, examined));
  }
}

interface Allowed {
  /** Jurisdictions every binding fence permits. */
  readonly fence: ReadonlySet<string>;
  /** Jurisdictions the host's fences permit, when the meeting has a host. */
  readonly host: ReadonlySet<string> | undefined;
  /** The effective set, fences ∩ account ∩ meeting, sorted. */
  readonly sorted: readonly string[];
}

function effectiveJurisdictions(policy: CompiledPolicy, request: RouteRequest): Allowed {
  const fence = policy.fenceAllowed(request.country);
  const hostCountry = request.hostCountry;
  if (hostCountry !== undefined && !isCountryCode(hostCountry)) throw new GeobridgeError('INVALID_COUNTRY', `hostCountry '${hostCountry}' is not an ISO 3166-1 alpha-2 country code (e.g. US, DE).`);
  const host = hostCountry === undefined ? undefined : policy.fenceAllowed(hostCountry);
  // The host's fences narrow where the meeting may be held: a guest never takes it outside them.
  const sorted = hostCountry === undefined ? policy.fenceAllowedSorted(request.country) : policy.fenceAllowedSortedWithHost(request.country, hostCountry);
  const { accountJurisdictions: account, meetingJurisdictions: meeting } = request;
  if (!account && !meeting) return { fence, host, sorted };
  // The restriction names a few jurisdictions and the fence ~250: walk the short list, keep what every rule permits.
  const short = account && meeting ? (account.length <= meeting.length ? account : meeting) : (account ?? meeting ?? []);
  const kept = new Set(short.filter((j) => fence.has(j) && (!host || host.has(j)) && (!account || account.includes(j)) && (!meeting || meeting.includes(j))));
  return { fence, host, sorted: [...kept].sort(compareStrings) };
}

/** No datacenter of the manifest is inside both the participant's fences and the host's. */
function disjointFromHost(policy: CompiledPolicy, country: string, host: string): boolean {
  return !policy.fenceAllowedSortedWithHost(country, host).some((j) => policy.jurisdictionsInUse.has(j));
}

/** The first policy rule (fence, plan, account, meeting) that rules a datacenter out; `claims` are the exclusive plans claiming it. */
function policyReason(inputs: Inputs, dc: Datacenter, claims: readonly Plan[]): ExclusionReason | undefined {
  return inputs.allowed.fence.has(dc.jurisdiction) ? narrowingReason(inputs, dc, claims) : 'FENCE';
}

/** The rules after the fence: what the plan, the account and the meeting take away from it. */
function narrowingReason({ request, plan, allowed }: Inputs, dc: Datacenter, claims: readonly Plan[]): ExclusionReason | undefined {
  if (plan && !plan.tags.every((t) => dc.tags.includes(t))) return 'PLAN';
  // An exclusive plan's datacenters serve nobody else: the enclave works both ways.
  if (claims.length > 0 && claims.some((p) => p !== plan)) return 'PLAN';
  if (request.accountJurisdictions && !request.accountJurisdictions.includes(dc.jurisdiction)) return 'ACCOUNT';
  if (request.meetingJurisdictions && !request.meetingJurisdictions.includes(dc.jurisdiction)) return 'MEETING';
  if (allowed.host && !allowed.host.has(dc.jurisdiction)) return 'MEETING';
  return undefined;
}

interface Ranked {
  readonly candidate: Candidate;
  /** Position in `policy.datacentersById`. */
  readonly index: number;
  readonly km: number;
  readonly utilization: number;
  readonly cost: number;
}

function rank(entry: ListedFrom, utilization: number): Ranked {
  // The cap keeps the penalty finite; ties are still broken on the real load.
  const u = Math.min(Math.max(utilization, 0), 0.999);
  return { candidate: entry.candidate, index: entry.listed.index, km: entry.km, utilization, cost: entry.rttMs + (LOAD_PENALTY_MS * u) / (1 - u) };
}

/** Cost first; distance, load and id break ties, so the order is total and deterministic. */
function compareRanked(a: Ranked, b: Ranked): number {
  return a.cost - b.cost || a.km - b.km || a.utilization - b.utilization || compareStrings(a.candidate.datacenter, b.candidate.datacenter);
}

/** Why nothing the zone lists can serve: each listed datacenter's reason, counted, and the ones an operator has to bring back. */
function refusalMessage(country: string, zone: string, listed: readonly Exclusion[]): string {
  const counts = new Map<ExclusionReason, number>();
  for (const e of listed) counts.set(e.reason, (counts.get(e.reason) ?? 0) + 1);
  const parts = [...counts].map(([reason, n]) => `${n} ${reason}`).join(', ');
  // The ones that would serve if they were up or had room.
  const named = (reason: ExclusionReason): string[] => listed.filter((e) => e.reason === reason).map((e) => e.datacenter);
  const down = named('DOWN');
  const full = named('FULL');
  const wanted = [...(down.length > 0 ? [`down: ${down.join(', ')}`] : []), ...(full.length > 0 ? [`full: ${full.join(', ')}`] : [])].join('; ');
  const lists = listed.length === 0 ? 'the zone lists none' : `of the ${listed.length} the zone lists: ${parts}`;
  return `no datacenter inside the fence of ${country} participants (zone ${zone}) is up and below its utilization limit (${lists}${wanted === '' ? '' : `; ${wanted}`}); refusing rather than leaving the fence.`;
}

/**
 * The jurisdictions a participant's media may be in: fences ∩ host's fences ∩
 * account ∩ meeting, sorted — the decision's `allowedJurisdictions`, without
 * the ranking. Compact route tickets carry the inputs, and bridges derive the
 * set here (src/protocol/route-ticket.ts, `ticketJurisdictions`).
 */
export function allowedJurisdictions(manifest: Manifest, request: RouteRequest): readonly string[] {
  if (!isCountryCode(request.country)) {
    throw new GeobridgeError('INVALID_COUNTRY', `'${request.country}' is not an ISO 3166-1 alpha-2 country code (e.g. US, DE).`);
  }
  return effectiveJurisdictions(compilePolicy(manifest), request).sorted;
}
