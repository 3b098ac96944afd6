/**
 * After a policy change (a new manifest, an account's new data routing
 * control), every live meeting is checked again: a meeting whose datacenter
 * is now outside its host's policy or some participant's fence is re-homed
 * to a datacenter everyone may use, or ended with a reason — never left
 * running across a border (edumeet's gap: placed rooms never re-checked).
 * A cascaded meeting has no home to move: each member the policy no longer
 * allows where it is is evicted instead. `announceRecheck` then tells the
 * bridges, which act before they forward another packet.
 */
import type { Manifest } from '../core/manifest/types.js';
import { compareStrings } from '../core/order.js';
import { routeRequestFor, whyNotHeldAt, type MeetingPolicy } from '../core/select/meeting-policy.js';
import { isRefusal, selectDatacenters, type LiveState, type RouteRequest } from '../core/select/select.js';
import { catchUpHops, hopsOf, replanCascades } from './cascade.js';
import { recordAudit, type BrokerContext } from './context.js';
import { resyncMembers } from './group-delivery.js';
import { meetingPolicyOf } from './route-request.js';
import type { Meeting, Participant } from './store/store.js';

/** A member of a cascaded meeting that the policy in force no longer allows at the datacenter that admitted it. */
export interface Eviction {
  readonly meeting: string;
  readonly participant: string;
  readonly session: string;
  readonly datacenter: string;
  readonly reason: string;
}

/** What a re-check did. */
export interface RecheckOutcome {
  readonly checked: number;
  readonly rehomed: readonly { meeting: string; from: string; to: string }[];
  readonly ended: readonly { meeting: string; reason: string }[];
  /** Cascaded meetings' members to evict (`TICKET_OUTSIDE_FENCE`, as a bridge's own re-check would). */
  readonly evicted: readonly Eviction[];
}

/** The members of a meeting that `policy` (under `manifest`) no longer allows where they were admitted. */
function outOfPolicy(manifest: Manifest, policy: MeetingPolicy, members: readonly Participant[]): Eviction[] {
  return members.flatMap((p) => {
    // A row from before members had a datacenter holds nobody anywhere.
    const why = p.datacenter === '' ? undefined : whyNotHeldAt(manifest, p.datacenter, p.country, policy);
    if (why === undefined) return [];
    const reason = `the policy changed: ${p.country} participants of this meeting may no longer use ${p.datacenter} (${why}); ask for a fresh route.`;
    return [{ meeting: p.meetingId, participant: p.id, session: p.session, datacenter: p.datacenter, reason }];
  });
}

/**
 * The datacenters that hold a meeting's media, which a change of its policy
 * must reach: its placement; in a cascade (no placement), every bridge with
 * members of it or an end of one of its planned hops.
 */
export async function holdersOf(ctx: BrokerContext, meeting: string): Promise<string[]> {
  if (ctx.config.cascade !== true) {
    const placement = await ctx.store.getPlacement(meeting);
    return placement ? [placement.datacenter] : [];
  }
  const members = (await ctx.store.listParticipants(meeting)).map((p) => p.datacenter).filter((dc) => dc !== '');
  const hops = hopsOf(ctx, meeting).flatMap((h) => [h.from, h.to]);
  return [...new Set([...members, ...hops])].sort(compareStrings);
}

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
  const policy = meetingPolicyOf(await ctx.store.getAccount(meeting.accountId), meeting, ctx.config.cascade);
  // Fail closed: without its host account, nobody can say where the meeting may be.
  if (!policy) return { kind: 'stranded', from: placement.datacenter };
  // The host counts as a participant: an empty meeting, too, must stay where its host may go.
  const countries = [...(await ctx.store.listParticipants(meeting.id)).map((p) => p.country), policy.hostCountry];
  if (countries.every((c) => whyNotHeldAt(manifest, placement.datacenter, c, policy) === undefined)) return { kind: 'ok' };
  // Somewhere everyone may go: the first one's order, filtered by everyone else's (each request carries the host's fence).
  const sets = countries.map((c) => usable(manifest, routeRequestFor(c, policy), live));
  const target = (sets[0] ?? []).find((dc) => sets.every((s) => s.includes(dc)));
  if (target === undefined) return { kind: 'stranded', from: placement.datacenter };
  const claim = await ctx.store.claimPlacement(meeting.id, target, placement.epoch, ctx.now().toISOString());
  if (!claim.won) return { kind: 'raced' };
  await recordAudit(ctx, 'placement.rehomed', { meeting: meeting.id, datacenter: target, epoch: claim.placement.epoch, from: placement.datacenter, reason: 'policy change' });
  return { kind: 'rehomed', from: placement.datacenter, to: target };
}

/** Re-checks every live meeting (of one account, when given) against `manifest`: placed ones, or with --cascade each member. */
export async function recheckLiveMeetings(ctx: BrokerContext, manifest: Manifest, onlyAccount?: string): Promise<RecheckOutcome> {
  const live = ctx.registry.liveState(manifest, ctx.monotonicMs());
  const rehomed: { meeting: string; from: string; to: string }[] = [];
  const ended: { meeting: string; reason: string }[] = [];
  const evicted: Eviction[] = [];
  const meetings = (await ctx.store.listLiveMeetings()).filter((m) => onlyAccount === undefined || m.accountId === onlyAccount);
  const end = async (meeting: Meeting, reason: string): Promise<void> => {
    // Its host may have ended it meanwhile: that end stands, and was audited.
    if (!(await ctx.store.endMeeting(meeting.id, ctx.now().toISOString(), reason))) return;
    ended.push({ meeting: meeting.id, reason });
    await recordAudit(ctx, 'meeting.ended', { meeting: meeting.id, reason });
  };
  for (const meeting of meetings) {
    try {
      if (ctx.config.cascade === true) {
        const policy = meetingPolicyOf(await ctx.store.getAccount(meeting.accountId), meeting, true);
        // Fail closed, as for a placed meeting: without its host account, nobody can say where its media may be.
        if (!policy) await end(meeting, "the meeting's account no longer exists, so nobody can say where its media may be");
        else evicted.push(...outOfPolicy(manifest, policy, await ctx.store.listParticipants(meeting.id)));
        continue;
      }
      // A bridge may claim the meeting meanwhile: re-read and decide again (bounded), and fail closed when it keeps racing.
      let outcome: MeetingOutcome = { kind: 'raced' };
      for (let round = 0; round < 3 && outcome.kind === 'raced'; round++) outcome = await recheckMeeting(ctx, manifest, live, meeting);
      if (outcome.kind === 'rehomed') rehomed.push({ meeting: meeting.id, from: outcome.from, to: outcome.to });
      if (outcome.kind === 'stranded') await end(meeting, `after the policy change no datacenter is allowed for every participant of the meeting (it was in ${outcome.from})`);
      if (outcome.kind === 'raced') await end(meeting, 'the meeting kept changing datacenter while it was checked against the new policy');
    } catch (error) {
      // Fail closed: a meeting that cannot be checked does not keep running where it may not be.
      await end(meeting, `the meeting could not be checked against the new policy (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  return { checked: meetings.length, rehomed, ended, evicted };
}

/**
 * Tells the bridges what a re-check decided: a re-homed meeting's old bridge
 * moves its participants; an ended one closes; an evicted member's bridge
 * ends that session. Its bridge reports the departure, which is audited
 * (`bridge.eviction`) and removes the member, as for any eviction.
 */
export async function announceRecheck(ctx: BrokerContext, outcome: RecheckOutcome): Promise<void> {
  for (const r of outcome.rehomed) await ctx.control.move(r.from, r.meeting, r.to, `the policy changed: the meeting now lives in ${r.to}`);
  for (const e of outcome.ended) await ctx.control.end(e.meeting, e.reason);
  for (const e of outcome.evicted) await ctx.control.evict(e.datacenter, { meeting: e.meeting, participant: e.participant, session: e.session, code: 'TICKET_OUTSIDE_FENCE', reason: e.reason });
  // Cascaded meetings' hops are planned again under the new policy: the plan leaves out the members it evicts, so their
  // hops close now, not when their bridges report them gone.
  await replanCascades(ctx, outcome.evicted.map((e) => e.meeting));
}

/**
 * Tells a bridge that has just (re)connected its control channel what it may
 * have missed while it was away: meetings it still carries members of that
 * have since moved elsewhere or ended, the policy of each it still holds
 * (with its revision: an older one is ignored); in a cascade, its hops
 * (`catchUpHops`), and its members are asked what MLS group they hold
 * (`resyncMembers`: those a restarted broker forgot, and those it knows,
 * who may have missed a commit). (The manifest in force it gets on
 * connect, and re-checks everyone against it.)
 */
export async function catchUpBridge(ctx: BrokerContext, datacenter: string, log?: (line: Readonly<Record<string, unknown>>) => void): Promise<void> {
  const present = await ctx.store.listParticipantsAt(datacenter);
  const meetings = new Set(present.map((p) => p.meetingId));
  // Members are asked what they hold, and each meeting is planned once those a restart made the broker forget have
  // answered: a plan made before would hold their streams to `transit: never` until then.
  const answers = new Map<string, Promise<void>>();
  if (ctx.config.cascade === true) for (const id of meetings) answers.set(id, resyncMembers(ctx, id, datacenter, present.filter((p) => p.meetingId === id)));
  const plans: Promise<void>[] = [];
  for (const id of meetings) {
    // One read for the meeting, its account and its placement.
    const context = await ctx.store.getMeetingContext(id);
    const meeting = context?.meeting;
    if (!context || !meeting || meeting.endedAt !== undefined) {
      await ctx.control.end(id, meeting?.endedReason ?? 'the meeting no longer exists', datacenter);
      continue;
    }
    const policy = meetingPolicyOf(context.account, meeting, ctx.config.cascade);
    const revision = context.account?.policyRevision ?? 0;
    // A cascaded meeting has no home: its members stay on their own bridges, held to the policy in force (a change of
    // it sent while the bridge was away was lost), and its hops are planned again.
    if (ctx.config.cascade === true) {
      if (policy) {
        await ctx.control.meetingPolicy(datacenter, id, policy, revision);
        const here = present.filter((p) => p.meetingId === id);
        for (const e of outOfPolicy(ctx.policy.current.manifest, policy, here)) await ctx.control.evict(datacenter, { meeting: id, participant: e.participant, session: e.session, code: 'TICKET_OUTSIDE_FENCE', reason: e.reason });
      }
      plans.push((answers.get(id) ?? Promise.resolve()).then(() => catchUpHops(ctx, id, datacenter, log)));
      continue;
    }
    if (context.placement?.datacenter !== datacenter) {
      await ctx.control.move(datacenter, id, context.placement?.datacenter ?? 'nowhere yet', 'the meeting is held elsewhere now');
      continue;
    }
    // Still held here: under the policy in force (a narrowing that left it here, sent while the bridge was away).
    if (policy) await ctx.control.meetingPolicy(datacenter, id, policy, revision);
  }
  await Promise.all(plans);
}
