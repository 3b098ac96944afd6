/**
 * The decider's request for a participant of a meeting: the host account's
 * plan and data routing control, and the meeting's own narrowing, apply to
 * every participant. Built in one place so that routing, admission, placement
 * claims and re-checks can never disagree about the policy.
 */
import type { RouteRequest } from '../core/select/select.js';
import type { Account, Meeting } from './store/store.js';

/** The request for a participant from `country`, under `account`'s and `meeting`'s policy. */
export function routeRequestFor(country: string, account: Account | undefined, meeting: Meeting | undefined, extra: Partial<RouteRequest> = {}): RouteRequest {
  return {
    country,
    ...(account?.plan !== undefined ? { plan: account.plan } : {}),
    ...(account?.allowedJurisdictions ? { accountJurisdictions: account.allowedJurisdictions } : {}),
    ...(meeting?.allowedJurisdictions ? { meetingJurisdictions: meeting.allowedJurisdictions } : {}),
    ...extra,
  };
}
