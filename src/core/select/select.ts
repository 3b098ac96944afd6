/**
 * The one decider: which datacenters a participant may try, in which order.
 * Every other part of geobridge (CLI, broker, simulator, tests) calls this and
 * nothing else to pick datacenters: `selectDatacenters` explains every
 * datacenter not offered, `selectRoute` (the broker's hot path) runs the same
 * code over the zone's lists only. The scoring is in docs/selection.md.
 */
import { GeobridgeError } from '../errors.js';
import { estimateRttMs, greatCircleKm } from '../geo/distance.js';
import { countryPoint, isCountryCode } from '../geo/countries.js';
import type { Datacenter, GeoPoint, Manifest, Plan, Zone } from '../manifest/types.js';
import { compareStrings } from '../order.js';
import { compilePolicy, type CompiledPolicy, type ListedDatacenter } from '../policy/compile.js';

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
  return explain(resolve(manifest, request, live));
}

/**
 * The same decision as `selectDatacenters` without `excluded`: it looks only
 * at the datacenters the participant's zone lists (or the placed meeting's),
 * so its cost grows with the candidates, not the manifest. A refusal is
 * explained in full, as `selectDatacenters` gives it.
 */
export function selectRoute(manifest: Manifest, request: RouteRequest, live: LiveState = {}): RouteChoice {
  const inputs = resolve(manifest, request, live);
  const outcome = decide(inputs, undefined);
  // A refusal lists and counts its reasons: that rare path walks the manifest.
  return isRefused(outcome) ? explain(inputs) : outcome;
}

/** Everything one decision reads, resolved once. */
interface Inputs {
  readonly policy: CompiledPolicy;
  readonly request: RouteRequest;
  readonly plan: Plan | undefined;
  readonly allowed: Allowed;
  readonly zone: Zone | null;
  readonly where: GeoPoint;
  readonly down: ReadonlySet<string>;
  readonly utilization: ReadonlyMap<string, number>;
  readonly maxUtilization: number;
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
  return {
    policy,
    request,
    plan,
    allowed: effectiveJurisdictions(policy, request),
    zone: policy.zoneFor(request.country) ?? null,
    where: request.location ?? countryPoint(request.country) ?? { lat: 0, lon: 0 },
    down: live.down ?? EMPTY_SET,
    utilization: live.utilization ?? EMPTY_MAP,
    maxUtilization: manifest.selection.maxUtilization,
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

/**
 * One reason slot per datacenter of `policy.datacentersById` when the caller
 * asked why; undefined on the hot path, which looks at listed datacenters only.
 */
type Reasons = (ExclusionReason | undefined)[];

/** The one decision, with or without its explanation written into `reasons`. */
function decide(inputs: Inputs, reasons: Reasons | undefined): Route | Refused {
  const placedAt = inputs.request.placedAt;
  return (placedAt === undefined ? undefined : joinPlaced(inputs, placedAt, reasons)) ?? rankListed(inputs, reasons);
}

/** The decision with `excluded` (in id order, so it needs no sort), or the refusal it explains. */
function explain(inputs: Inputs): RouteResult {
  const datacenters = inputs.policy.datacentersById;
  const reasons: Reasons = new Array<ExclusionReason | undefined>(datacenters.length);
  const outcome = decide(inputs, reasons);
  const excluded: Exclusion[] = [];
  reasons.forEach((reason, i) => {
    if (reason) excluded.push({ datacenter: datacenters[i]?.id ?? '', reason });
  });
  if (isRefused(outcome)) return refusal(inputs, outcome, excluded);
  const { zone, country, allowedJurisdictions, candidates, attempts } = outcome;
  // The key order `geobridge route --json` has always printed.
  return { zone, country, allowedJurisdictions, excluded, candidates, attempts };
}

/**
 * Ranks the datacenters the zone lists. Explaining, it walks every datacenter
 * instead, through the same check, so the unlisted ones get their reason.
 */
function rankListed(inputs: Inputs, reasons: Reasons | undefined): Route | Refused {
  const { policy, zone } = inputs;
  const primaries: Ranked[] = [];
  const secondaries: Ranked[] = [];
  const consider = (dc: Datacenter, index: number, role: 'primary' | 'secondary' | undefined, claims: readonly Plan[]): void => {
    const ruledOut = policyReason(inputs, dc, claims) ?? (role === undefined ? 'NOT_LISTED' : inputs.down.has(dc.id) ? 'DOWN' : undefined);
    if (ruledOut !== undefined) {
      if (reasons) reasons[index] = ruledOut;
      return;
    }
    // The load is read last: only a datacenter that passed every other check needs it.
    const u = inputs.utilization.get(dc.id) ?? 0;
    // `!(u < max)` also treats NaN as full: unknown load fails closed.
    if (u < inputs.maxUtilization) (role === 'primary' ? primaries : secondaries).push(rank(dc, index, inputs.where, u));
    else if (reasons) reasons[index] = 'FULL';
  };
  const listed = zone ? policy.listedIn(zone) : NONE_LISTED;
  if (reasons) {
    // Both lists are in id order: walk them together, so the listed ones are known without a lookup.
    let next = 0;
    policy.datacentersById.forEach((dc, i) => {
      const entry = listed[next]?.index === i ? listed[next++] : undefined;
      consider(dc, i, entry?.role, policy.claimsById[i] ?? []);
    });
  } else {
    for (const entry of listed) consider(entry.datacenter, entry.index, entry.role, entry.claims);
  }
  primaries.sort(compareRanked);
  secondaries.sort(compareRanked);
  // Secondaries past the limit are on the backup list but not on this decision's list.
  const cut = secondaries.splice(policy.manifest.selection.secondaries);
  if (reasons) for (const r of cut) reasons[r.index] = 'NOT_LISTED';
  if (!zone) return { refused: 'NO_ZONE' };
  if (primaries.length + secondaries.length === 0) return { refused: 'NOTHING_LEFT', zone };
  return route(inputs, [
    ...primaries.map((r): Candidate => ({ datacenter: r.dc.id, role: 'primary', jurisdiction: r.dc.jurisdiction })),
    ...secondaries.map((r): Candidate => ({ datacenter: r.dc.id, role: 'secondary', jurisdiction: r.dc.jurisdiction })),
  ]);
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
function joinPlaced(inputs: Inputs, placedAt: string, reasons: Reasons | undefined): Route | Refused | undefined {
  const { policy } = inputs;
  const home = policy.datacenterById.get(placedAt);
  if (!home || inputs.down.has(placedAt)) return undefined;
  const reason = policyReason(inputs, home, policy.claimsOn(home));
  const full = !((inputs.utilization.get(placedAt) ?? 0) < inputs.maxUtilization);
  if (reason || full) {
    // Zone lists do not apply to joining someone else's meeting: every other datacenter is simply not this one.
    if (reasons) {
      policy.datacentersById.forEach((dc, i) => {
        reasons[i] = dc === home ? (reason ?? 'FULL') : (policyReason(inputs, dc, policy.claimsById[i] ?? []) ?? 'NOT_LISTED');
      });
    }
    return reason ? { refused: 'PLACED_ELSEWHERE', home, reason } : { refused: 'PLACED_FULL', home };
  }
  const role = inputs.zone && policy.rolesIn(inputs.zone).get(placedAt) === 'primary' ? 'primary' : 'secondary';
  const placed: Candidate = { datacenter: home.id, role, jurisdiction: home.jurisdiction };
  if (inputs.request.placedOnly === true) {
    if (reasons) {
      policy.datacentersById.forEach((dc, i) => {
        reasons[i] = dc === home ? undefined : (policyReason(inputs, dc, policy.claimsById[i] ?? []) ?? 'NOT_LISTED');
      });
    }
    return route(inputs, [placed]);
  }
  const ranked = rankListed(inputs, reasons);
  if (reasons) reasons[policy.datacentersById.indexOf(home)] = undefined;
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

/** The refusal for `why`, carrying its explanation. */
function refusal(inputs: Inputs, why: Refused, excluded: readonly Exclusion[]): Refusal {
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
      return error('NO_CAPACITY_IN_FENCE', refusalMessage(country, why.zone.id, excluded));
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
  if (!request.accountJurisdictions && !request.meetingJurisdictions) return { fence, host, sorted };
  const account = request.accountJurisdictions && new Set(request.accountJurisdictions);
  const meeting = request.meetingJurisdictions && new Set(request.meetingJurisdictions);
  return { fence, host, sorted: sorted.filter((j) => (!account || account.has(j)) && (!meeting || meeting.has(j))) };
}

/** No datacenter of the manifest is inside both the participant's fences and the host's. */
function disjointFromHost(policy: CompiledPolicy, country: string, host: string): boolean {
  const own = policy.fenceAllowed(country);
  const hosts = policy.fenceAllowed(host);
  return policy.datacentersById.every((dc) => !own.has(dc.jurisdiction) || !hosts.has(dc.jurisdiction));
}

/** The first policy rule (fence, plan, account, meeting) that rules a datacenter out; `claims` are the exclusive plans claiming it. */
function policyReason({ request, plan, allowed }: Inputs, dc: Datacenter, claims: readonly Plan[]): ExclusionReason | undefined {
  if (!allowed.fence.has(dc.jurisdiction)) return 'FENCE';
  if (plan && !plan.tags.every((t) => dc.tags.includes(t))) return 'PLAN';
  // An exclusive plan's datacenters serve nobody else: the enclave works both ways.
  if (claims.some((p) => p !== plan)) return 'PLAN';
  if (request.accountJurisdictions && !request.accountJurisdictions.includes(dc.jurisdiction)) return 'ACCOUNT';
  if (request.meetingJurisdictions && !request.meetingJurisdictions.includes(dc.jurisdiction)) return 'MEETING';
  if (allowed.host && !allowed.host.has(dc.jurisdiction)) return 'MEETING';
  return undefined;
}

interface Ranked {
  readonly dc: Datacenter;
  /** Position in `policy.datacentersById`. */
  readonly index: number;
  readonly km: number;
  readonly utilization: number;
  readonly cost: number;
}

function rank(dc: Datacenter, index: number, from: GeoPoint, utilization: number): Ranked {
  const km = greatCircleKm(from, dc.location);
  // The cap keeps the penalty finite; ties are still broken on the real load.
  const u = Math.min(Math.max(utilization, 0), 0.999);
  return { dc, index, km, utilization, cost: estimateRttMs(km) + (LOAD_PENALTY_MS * u) / (1 - u) };
}

/** Cost first; distance, load and id break ties, so the order is total and deterministic. */
function compareRanked(a: Ranked, b: Ranked): number {
  return a.cost - b.cost || a.km - b.km || a.utilization - b.utilization || compareStrings(a.dc.id, b.dc.id);
}

function refusalMessage(country: string, zone: string, excluded: readonly Exclusion[]): string {
  const counts = new Map<ExclusionReason, number>();
  for (const e of excluded) counts.set(e.reason, (counts.get(e.reason) ?? 0) + 1);
  const parts = [...counts].map(([reason, n]) => `${n} ${reason}`).join(', ');
  // The ones that would serve if they were up or had room: what an operator has to bring back.
  const named = (reason: ExclusionReason): string[] => excluded.filter((e) => e.reason === reason).map((e) => e.datacenter);
  const down = named('DOWN');
  const full = named('FULL');
  const wanted = [...(down.length > 0 ? [`down: ${down.join(', ')}`] : []), ...(full.length > 0 ? [`full: ${full.join(', ')}`] : [])].join('; ');
  return `no datacenter inside the fence of ${country} participants (zone ${zone}) is up and below its utilization limit (${parts}${wanted === '' ? '' : `; ${wanted}`}); refusing rather than leaving the fence.`;
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
