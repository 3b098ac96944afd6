/**
 * After a manifest change, every live meeting is checked again: a meeting
 * whose datacenter is now outside some participant's fence is re-homed to a
 * datacenter every participant may use, or ended with a reason — never left
 * running across a border (edumeet's gap: placed rooms never re-checked).
 */
import type { Manifest } from '../core/manifest/types.js';
import { isRefusal, selectDatacenters, type LiveState, type RouteRequest } from '../core/select/select.js';
import { recordAudit, type BrokerContext } from './context.js';
import { routeRequestFor } from './route-request.js';
import type { Meeting, Participant } from './store/store.js';

/** What a re-check did. */
export interface RecheckOutcome {
  readonly checked: number;
  readonly rehomed: readonly { meeting: string; from: string; to: string }[];
  readonly ended: readonly { meeting: string; reason: string }[];
}

const POLICY_REASONS = new Set(['FENCE', 'PLAN', 'ACCOUNT', 'MEETING']);

/** Datacenters a participant may use (policy) that are up and not full, best first. */
function usable(manifest: Manifest, request: RouteRequest, live: LiveState): string[] {
  const result = selectDatacenters(manifest, request, live);
  const offered = isRefusal(result) ? [] : result.candidates.map((c) => c.datacenter);
  // NOT_LISTED is decided before DOWN and FULL, so those still need checking here.
  const healthy = (id: string): boolean => !live.down?.has(id) && (live.utilization?.get(id) ?? 0) < manifest.selection.maxUtilization;
  const listedElsewhere = result.excluded.filter((e) => e.reason === 'NOT_LISTED' && healthy(e.datacenter)).map((e) => e.datacenter);
  return [...offered, ...listedElsewhere];
}

type MeetingOutcome = { kind: 'ok' } | { kind: 'rehomed'; from: string; to: string } | { kind: 'stranded'; from: string } | { kind: 'raced' };

async function recheckMeeting(ctx: BrokerContext, manifest: Manifest, live: LiveState, meeting: Meeting): Promise<MeetingOutcome> {
  const placement = await ctx.store.getPlacement(meeting.id);
  if (!placement) return { kind: 'ok' };
  const account = await ctx.store.getAccount(meeting.accountId);
  const participants = await ctx.store.listParticipants(meeting.id);
  const stillAllowed = (p: Participant): boolean => {
    const result = selectDatacenters(manifest, routeRequestFor(p.country, account, meeting, { placedAt: placement.datacenter }), { down: new Set(), utilization: new Map() });
    return !(isRefusal(result) && result.error.code === 'FENCE_CONFLICT') && result.excluded.every((e) => e.datacenter !== placement.datacenter || !POLICY_REASONS.has(e.reason));
  };
  const gone = !manifest.datacenters.some((d) => d.id === placement.datacenter);
  if (!gone && participants.every(stillAllowed)) return { kind: 'ok' };
  // Somewhere every participant may go: the first participant's order, filtered by everyone else's.
  const sets = participants.map((p) => usable(manifest, routeRequestFor(p.country, account, meeting), live));
  const target = (sets[0] ?? []).find((dc) => sets.every((s) => s.includes(dc)));
  if (target === undefined) return { kind: 'stranded', from: placement.datacenter };
  const claim = await ctx.store.claimPlacement(meeting.id, target, placement.epoch, ctx.now().toISOString());
  if (!claim.won) return { kind: 'raced' };
  await recordAudit(ctx, 'placement.rehomed', { meeting: meeting.id, datacenter: target, epoch: claim.placement.epoch, from: placement.datacenter, reason: 'policy change' });
  return { kind: 'rehomed', from: placement.datacenter, to: target };
}

/** Re-checks every live, placed meeting (of one account, when given) against `manifest`. */
export async function recheckLiveMeetings(ctx: BrokerContext, manifest: Manifest, onlyAccount?: string): Promise<RecheckOutcome> {
  const live = ctx.registry.liveState(manifest, ctx.monotonicMs());
  const rehomed: { meeting: string; from: string; to: string }[] = [];
  const ended: { meeting: string; reason: string }[] = [];
  const meetings = (await ctx.store.listLiveMeetings()).filter((m) => onlyAccount === undefined || m.accountId === onlyAccount);
  const end = async (meeting: Meeting, reason: string): Promise<void> => {
    await ctx.store.endMeeting(meeting.id, ctx.now().toISOString(), reason);
    ended.push({ meeting: meeting.id, reason });
    await recordAudit(ctx, 'meeting.ended', { meeting: meeting.id, reason });
  };
  for (const meeting of meetings) {
    try {
      // A bridge may claim the meeting meanwhile: re-read and decide again (bounded).
      for (let round = 0; round < 3; round++) {
        const outcome = await recheckMeeting(ctx, manifest, live, meeting);
        if (outcome.kind === 'ok') break;
        if (outcome.kind === 'rehomed') {
          rehomed.push({ meeting: meeting.id, from: outcome.from, to: outcome.to });
          break;
        }
        if (outcome.kind === 'stranded') {
          await end(meeting, `after the policy change no datacenter is allowed for every participant of the meeting (it was in ${outcome.from})`);
          break;
        }
      }
    } catch (error) {
      // Fail closed: a meeting that cannot be checked does not keep running where it may not be.
      await end(meeting, `the meeting could not be checked against the new policy (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  return { checked: meetings.length, rehomed, ended };
}
