/**
 * The one decider: which datacenters a participant may try, in which order.
 * Every other part of geobridge (CLI, broker, simulator, tests) calls this and
 * nothing else to pick datacenters. The scoring is in docs/selection.md.
 */
import { GeobridgeError } from '../errors.js';
import { estimateRttMs, greatCircleKm } from '../geo/distance.js';
import { countryPoint, isCountryCode } from '../geo/countries.js';
import type { Datacenter, GeoPoint, Manifest, Plan, Zone } from '../manifest/types.js';
import { compareStrings } from '../order.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';

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

/** A route: candidates in the order the client must try them. */
export interface Decision {
  readonly zone: string | null;
  readonly country: string;
  readonly allowedJurisdictions: readonly string[];
  readonly candidates: readonly Candidate[];
  readonly excluded: readonly Exclusion[];
  readonly attempts: AttemptPolicy;
}

/**
 * Refusal codes: nothing inside the fence is available; no zone serves the
 * country; the meeting lives in a datacenter the participant may not use.
 */
export type RefusalCode = 'NO_CAPACITY_IN_FENCE' | 'NO_ZONE' | 'FENCE_CONFLICT';

/** No route: the participant is refused rather than sent outside its fence. */
export interface Refusal {
  readonly error: { readonly code: RefusalCode; readonly message: string };
  readonly zone: string | null;
  readonly country: string;
  readonly allowedJurisdictions: readonly string[];
  readonly excluded: readonly Exclusion[];
}

/** The decider's answer. */
export type RouteResult = Decision | Refusal;

/** True when the result is a refusal. */
export function isRefusal(result: RouteResult): result is Refusal {
  return 'error' in result;
}

/** A penalty of this many ms at 50 % utilization; it grows without bound towards 100 %. */
const LOAD_PENALTY_MS = 20;
const EMPTY_SET: ReadonlySet<string> = new Set();
const EMPTY_MAP: ReadonlyMap<string, number> = new Map();
const EMPTY_ROLES: ReadonlyMap<string, 'primary' | 'secondary'> = new Map();

/**
 * Picks the datacenters a participant may try, in order, or refuses.
 * Never returns a datacenter outside the participant's effective allowed set.
 */
export function selectDatacenters(manifest: Manifest, request: RouteRequest, live: LiveState = {}): RouteResult {
  if (!isCountryCode(request.country)) {
    throw new GeobridgeError('INVALID_COUNTRY', `'${request.country}' is not an ISO 3166-1 alpha-2 country code (e.g. US, DE).`);
  }
  const policy = compilePolicy(manifest);
  const plan = request.plan === undefined ? undefined : policy.planById.get(request.plan);
  if (request.plan !== undefined && !plan) {
    throw new GeobridgeError('UNKNOWN_PLAN', `plan '${request.plan}' is not defined in the manifest (plans: ${[...policy.planById.keys()].join(', ') || 'none'}).`);
  }
  const allowed = effectiveJurisdictions(policy, request);
  const zone = policy.zoneFor(request.country) ?? null;
  const where = request.location ?? countryPoint(request.country) ?? { lat: 0, lon: 0 };
  const down = live.down ?? EMPTY_SET;
  const utilization = live.utilization ?? EMPTY_MAP;
  const maxUtilization = manifest.selection.maxUtilization;
  const roles = zone ? policy.rolesIn(zone) : EMPTY_ROLES;

  // Joining a placed meeting needs no ranking: its datacenter, or a refusal.
  const placed = request.placedAt === undefined ? undefined : joinPlaced(policy, request, request.placedAt, zone, allowed, live, maxUtilization);
  if (placed) return placed;

  // One reason per datacenter, in id order, so `excluded` needs no sort.
  const datacenters = policy.datacentersById;
  const reasons: (ExclusionReason | undefined)[] = new Array<ExclusionReason | undefined>(datacenters.length);
  const primaries: Ranked[] = [];
  const secondaries: Ranked[] = [];
  datacenters.forEach((dc, i) => {
    const role = roles.get(dc.id);
    const u = utilization.get(dc.id) ?? 0;
    const reason =
      policyReason(policy, dc, request, plan, allowed) ??
      (role === undefined ? 'NOT_LISTED' : down.has(dc.id) ? 'DOWN' : !(u < maxUtilization) ? 'FULL' : undefined); // `!(u < max)` also treats NaN as full: unknown load fails closed.
    if (reason) reasons[i] = reason;
    else (role === 'primary' ? primaries : secondaries).push(rank(dc, i, where, u));
  });
  primaries.sort(compareRanked);
  secondaries.sort(compareRanked);
  // Secondaries past the limit are on the backup list but not on this decision's list.
  for (const r of secondaries.splice(manifest.selection.secondaries)) reasons[r.index] = 'NOT_LISTED';
  const excluded: Exclusion[] = [];
  reasons.forEach((reason, i) => {
    if (reason) excluded.push({ datacenter: datacenters[i]?.id ?? '', reason });
  });

  const base = { zone: zone?.id ?? null, country: request.country, allowedJurisdictions: allowed.sorted, excluded };
  if (!zone) {
    return { error: { code: 'NO_ZONE', message: `no zone serves ${request.country}, so it has no datacenter lists; add it to a zone or add a zone with countries ['*'].` }, ...base };
  }
  const candidates = [
    ...primaries.map((r): Candidate => ({ datacenter: r.dc.id, role: 'primary', jurisdiction: r.dc.jurisdiction })),
    ...secondaries.map((r): Candidate => ({ datacenter: r.dc.id, role: 'secondary', jurisdiction: r.dc.jurisdiction })),
  ];
  if (candidates.length === 0) {
    // Waiting for capacity cannot help a guest whose fence and the host's share no datacenter: that refusal is final.
    if (request.hostCountry !== undefined && disjointFromHost(policy, request.country, request.hostCountry)) {
      return {
        error: {
          code: 'FENCE_CONFLICT',
          message: `this meeting is held only where participants from its host's country (${request.hostCountry}) may go, and no such datacenter is inside the fence of ${request.country} participants; a guest never takes a meeting across its host's fence.`,
        },
        ...base,
      };
    }
    return { error: { code: 'NO_CAPACITY_IN_FENCE', message: refusalMessage(request.country, zone.id, excluded) }, ...base };
  }
  return { ...base, candidates, attempts: { perPrimary: manifest.selection.primaryAttempts, timeoutMs: manifest.selection.attemptTimeoutMs } };
}

/**
 * A join of a placed meeting: the meeting's datacenter alone, or a refusal.
 * Returns undefined when that datacenter is down, so the caller decides as
 * usual and the meeting re-homes.
 */
function joinPlaced(
  policy: CompiledPolicy,
  request: RouteRequest,
  placedAt: string,
  zone: Zone | null,
  allowed: Allowed,
  live: LiveState,
  maxUtilization: number,
): RouteResult | undefined {
  const home = policy.datacenterById.get(placedAt);
  if (!home || live.down?.has(placedAt)) return undefined;
  const plan = request.plan === undefined ? undefined : policy.planById.get(request.plan);
  const excluded = policy.datacentersById.map((dc): Exclusion => ({ datacenter: dc.id, reason: policyReason(policy, dc, request, plan, allowed) ?? 'NOT_LISTED' }));
  const base = { zone: zone?.id ?? null, country: request.country, allowedJurisdictions: allowed.sorted };
  const reason = policyReason(policy, home, request, plan, allowed);
  if (reason) {
    return {
      error: { code: 'FENCE_CONFLICT', message: `the meeting is held in ${home.id} (${home.jurisdiction}), which ${request.country} participants may not use (${reason}); it is never moved across a fence for one participant.` },
      ...base,
      excluded,
    };
  }
  if (!((live.utilization?.get(placedAt) ?? 0) < maxUtilization)) {
    return {
      error: { code: 'NO_CAPACITY_IN_FENCE', message: `the meeting's datacenter ${home.id} is full; try again shortly.` },
      ...base,
      excluded: excluded.map((e) => (e.datacenter === placedAt ? { datacenter: placedAt, reason: 'FULL' } : e)),
    };
  }
  const role = zone?.primaries.includes(placedAt) ? 'primary' : 'secondary';
  return {
    ...base,
    candidates: [{ datacenter: home.id, role, jurisdiction: home.jurisdiction }],
    excluded: excluded.filter((e) => e.datacenter !== placedAt),
    attempts: { perPrimary: policy.manifest.selection.primaryAttempts, timeoutMs: policy.manifest.selection.attemptTimeoutMs },
  };
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

/** The first policy rule (fence, plan, account, meeting) that rules a datacenter out. */
function policyReason(policy: CompiledPolicy, dc: Datacenter, request: RouteRequest, plan: Plan | undefined, allowed: Allowed): ExclusionReason | undefined {
  if (!allowed.fence.has(dc.jurisdiction)) return 'FENCE';
  if (plan && !plan.tags.every((t) => dc.tags.includes(t))) return 'PLAN';
  // An exclusive plan's datacenters serve nobody else: the enclave works both ways.
  if (policy.claimsOn(dc).some((p) => p !== plan)) return 'PLAN';
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
 * set here (src/broker/tickets.ts, `ticketJurisdictions`).
 */
export function allowedJurisdictions(manifest: Manifest, request: RouteRequest): readonly string[] {
  if (!isCountryCode(request.country)) {
    throw new GeobridgeError('INVALID_COUNTRY', `'${request.country}' is not an ISO 3166-1 alpha-2 country code (e.g. US, DE).`);
  }
  return effectiveJurisdictions(compilePolicy(manifest), request).sorted;
}
