/**
 * The policy a meeting's host sets for every participant, and the one
 * question every party asks of it: may this participant's media be at that
 * datacenter? Routing, admission, placement claims, ticket renewals, the
 * broker's re-checks and the bridges' own re-checks all ask it here, through
 * the decider, so they can never disagree about the rules.
 */
import type { Manifest } from '../manifest/types.js';
import { compilePolicy } from '../policy/compile.js';
import { isRefusal, selectRoute, type ExclusionReason, type RouteRequest } from './select.js';

/** What a meeting carries into every participant's route: its host account's policy and its own narrowing. */
export interface MeetingPolicy {
  /** The host account's home country: the meeting is held only where its participants may go. */
  readonly hostCountry: string;
  /** The host account's plan, which every participant is on. */
  readonly plan?: string;
  /** The host account's data routing control (ISO codes); absent = no narrowing. */
  readonly accountJurisdictions?: readonly string[];
  /** The meeting's own narrowing (ISO codes); absent = none. */
  readonly meetingJurisdictions?: readonly string[];
  /**
   * The meeting cascades (docs/cascading.md): each participant is on its own
   * bridge, so the host's fence does not bind where the others connect (the
   * host's own media is held to it on every hop). Absent = one home.
   */
  readonly cascade?: boolean;
}

/** Why a participant's media may not be at a datacenter: a decider reason, or the datacenter left the manifest. */
export type HoldRefusal = ExclusionReason | 'GONE';

/** The decider's request for a participant from `country` of a meeting under `policy`. */
export function routeRequestFor(country: string, policy: MeetingPolicy | undefined, extra: Partial<RouteRequest> = {}): RouteRequest {
  return {
    country,
    ...(policy && policy.cascade !== true ? { hostCountry: policy.hostCountry } : {}),
    ...(policy?.plan !== undefined ? { plan: policy.plan } : {}),
    ...(policy?.accountJurisdictions ? { accountJurisdictions: policy.accountJurisdictions } : {}),
    ...(policy?.meetingJurisdictions ? { meetingJurisdictions: policy.meetingJurisdictions } : {}),
    ...extra,
  };
}

/**
 * Why a participant from `country` may not have media at `datacenter` under
 * the manifest and the meeting's policy (fence, plan, account, meeting, or
 * the datacenter is gone), or undefined when it may. Load and liveness do
 * not count: this is the rule, not the weather.
 */
export function whyNotHeldAt(manifest: Manifest, datacenter: string, country: string, policy: MeetingPolicy | undefined): HoldRefusal | undefined {
  if (!compilePolicy(manifest).datacenterById.has(datacenter)) return 'GONE';
  // With the datacenter placed (alone) and nothing down or full, the decider offers it or refuses with the policy
  // reason (the hot path: only a refusal walks the manifest, to explain itself).
  const result = selectRoute(manifest, routeRequestFor(country, policy, { placedAt: datacenter, placedOnly: true }));
  if (!isRefusal(result)) return undefined;
  return result.excluded.find((e) => e.datacenter === datacenter)?.reason ?? 'FENCE';
}
