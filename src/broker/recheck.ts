/**
 * After a manifest change, every live meeting is checked again: a meeting
 * whose datacenter is now outside some participant's fence is re-homed to a
 * datacenter every participant may use, or ended with a reason — never left
 * running across a border (edumeet's gap: placed rooms never re-checked).
 */
import type { Manifest } from '../core/manifest/types.js';
import { isRefusal, selectDatacenters, type LiveState, type RouteRequest } from '../core/select/select.js';
import { recordAudit, type BrokerContext } from './context.js';
import type { Account, Meeting, Participant } from './store/store.js';

/** What a re-check did. */
export interface RecheckOutcome {
  readonly checked: number;
  readonly rehomed: readonly { meeting: string; from: string; to: string }[];
  readonly ended: readonly { meeting: string; reason: string }[];
}

const POLICY_REASONS = new Set(['FENCE', 'PLAN', 'ACCOUNT', 'MEETING']);

function requestFor(p: Participant, account: Account | undefined, meeting: Meeting): RouteRequest {
  return {
    country: p.country,
    ...(account?.plan !== undefined ? { plan: account.plan } : {}),
    ...(account?.allowedJurisdictions ? { accountJurisdictions: account.allowedJurisdictions } : {}),
    ...(meeting.allowedJurisdictions ? { meetingJurisdictions: meeting.allowedJurisdictions } : {}),
  };
}

/** Datacenters a participant may use (policy) that are up and not full, best first. */
function usable(manifest: Manifest, request: RouteRequest, live: LiveState): string[] {
  const result = selectDatacenters(manifest, request, live);
  const offered = isRefusal(result) ? [] : result.candidates.map((c) => c.datacenter);
  const listedElsewhere = result.excluded.filter((e) => e.reason === 'NOT_LISTED').map((e) => e.datacenter);
  return [...offered, ...listedElsewhere];
}

/** Re-checks every live, placed meeting against `manifest`. */
export async function recheckLiveMeetings(ctx: BrokerContext, manifest: Manifest): Promise<RecheckOutcome> {
  const live = ctx.registry.liveState(manifest, ctx.now().getTime());
  const rehomed: { meeting: string; from: string; to: string }[] = [];
  const ended: { meeting: string; reason: string }[] = [];
  const meetings = await ctx.store.listLiveMeetings();
  for (const meeting of meetings) {
    const placement = await ctx.store.getPlacement(meeting.id);
    if (!placement) continue;
    const account = await ctx.store.getAccount(meeting.accountId);
    const participants = await ctx.store.listParticipants(meeting.id);
    const stillAllowed = (p: Participant): boolean => {
      const result = selectDatacenters(manifest, { ...requestFor(p, account, meeting), placedAt: placement.datacenter }, { down: new Set(), utilization: new Map() });
      return !(isRefusal(result) && result.error.code === 'FENCE_CONFLICT') && result.excluded.every((e) => e.datacenter !== placement.datacenter || !POLICY_REASONS.has(e.reason));
    };
    const gone = !manifest.datacenters.some((d) => d.id === placement.datacenter);
    if (!gone && participants.every(stillAllowed)) continue;

    // Somewhere every participant may go: the first participant's order, filtered by everyone else's.
    const sets = participants.map((p) => usable(manifest, requestFor(p, account, meeting), live));
    const target = (sets[0] ?? []).find((dc) => sets.every((s) => s.includes(dc)));
    const claim = target === undefined ? undefined : await ctx.store.claimPlacement(meeting.id, target, placement.epoch, ctx.now().toISOString());
    if (target !== undefined && claim?.won) {
      rehomed.push({ meeting: meeting.id, from: placement.datacenter, to: target });
      await recordAudit(ctx, 'placement.rehomed', { meeting: meeting.id, datacenter: target, epoch: claim.placement.epoch, from: placement.datacenter, reason: 'manifest change' });
      continue;
    }
    const reason = `after the manifest change no datacenter is allowed for every participant of the meeting (it was in ${placement.datacenter})`;
    await ctx.store.endMeeting(meeting.id, ctx.now().toISOString(), reason);
    ended.push({ meeting: meeting.id, reason });
    await recordAudit(ctx, 'meeting.ended', { meeting: meeting.id, reason });
  }
  return { checked: meetings.length, rehomed, ended };
}
