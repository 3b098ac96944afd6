/**
 * The broker's side of a meeting's policy: the host account's plan, data
 * routing control and home country, and the meeting's own narrowing, read
 * from the store rows. The rules themselves live in the core
 * (src/core/select/meeting-policy.ts), shared with the bridges.
 */
import type { MeetingPolicy } from '../core/select/meeting-policy.js';
import type { Account, Meeting } from './store/store.js';

/** The policy every participant of `meeting` is held to; undefined without an account (the meeting's owner is gone). */
export function meetingPolicyOf(account: Account, meeting: Meeting | undefined, cascade?: boolean): MeetingPolicy;
export function meetingPolicyOf(account: Account | undefined, meeting: Meeting | undefined, cascade?: boolean): MeetingPolicy | undefined;
/** With `cascade` (a broker started with --cascade) the meeting cascades: the host's fence does not bind where others connect. */
export function meetingPolicyOf(account: Account | undefined, meeting: Meeting | undefined, cascade = false): MeetingPolicy | undefined {
  if (!account) return undefined;
  return {
    hostCountry: account.homeCountry,
    ...(account.plan !== undefined ? { plan: account.plan } : {}),
    ...(account.allowedJurisdictions ? { accountJurisdictions: account.allowedJurisdictions } : {}),
    ...(meeting?.allowedJurisdictions ? { meetingJurisdictions: meeting.allowedJurisdictions } : {}),
    ...(cascade ? { cascade: true } : {}),
  };
}
