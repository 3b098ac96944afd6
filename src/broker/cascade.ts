/**
 * Keeps a cascaded meeting's relays live (`serve --cascade`,
 * docs/cascading.md): after every admission, departure and lost bridge, and
 * after a policy change, the broker plans the meeting's hops from where its
 * members are admitted, with the core's `planRelays` (the one rule), and
 * opens, updates or closes hops until the bridges carry exactly that plan.
 * Plans of one meeting run one after another; each is made from the store
 * as it is when it runs, so a burst of joins ends with the plan of them all.
 * A member the meeting's policy in force no longer allows where it is (its
 * eviction under way) is planned as having no bridge: no hop carries media
 * to or from it.
 */
import { compareStrings } from '../core/order.js';
import { planRelays, type UnreachablePair } from '../core/plan/plan.js';
import { whyNotHeldAt } from '../core/select/meeting-policy.js';
import type { BrokerContext } from './context.js';
import { encryptingMembers, groupMembers } from './group-delivery.js';
import { closeRelay, openRelay, type Hop } from './relays.js';
import { meetingPolicyOf } from './route-request.js';
import type { Participant } from './store/store.js';

/** A meeting's hops as the bridges were last told, by `from → to`. */
type Hops = Map<string, Hop>;

interface State {
  readonly hops: Map<string, Hops>;
  /** When each hop (by meeting, then `from → to`) was last opened again on its receiving bridge's word, so that a hop failing over and over waits for the refresh. */
  readonly reopened: Map<string, Map<string, number>>;
  readonly queues: Map<string, Promise<void>>;
  /** The unreachable pairs each bridge was last told, by meeting and datacenter (JSON), so an unchanged list is not sent again. */
  readonly told: Map<string, Map<string, string>>;
}

const states = new WeakMap<BrokerContext, State>();

function stateOf(ctx: BrokerContext): State {
  let state = states.get(ctx);
  if (!state) states.set(ctx, (state = { hops: new Map(), reopened: new Map(), queues: new Map(), told: new Map() }));
  return state;
}

/** How often every hop gets a fresh ticket: a hop whose link broke while both bridges lived is opened again within this. */
export const HOP_REFRESH_MS = 15_000;

/** Plans the meeting's hops again (after the ones asked before); a no-op unless the broker cascades. Never rejects: a hop that could not be ordered is logged. */
export function replanMeeting(ctx: BrokerContext, meeting: string, log: (line: Readonly<Record<string, unknown>>) => void = () => undefined): Promise<void> {
  return inTurn(
    ctx,
    meeting,
    async () => {
      await replan(ctx, meeting);
    },
    log,
  );
}

/**
 * Sends every hop the bridges were told to hold a fresh ticket. A receiving
 * bridge that holds the hop hands the ticket on; one whose link broke (a
 * network fault, a sending bridge restarted) opens it again. Nothing new is
 * audited: the hops carry what they carried.
 */
export function refreshHops(ctx: BrokerContext, log: (line: Readonly<Record<string, unknown>>) => void = () => undefined): Promise<void> {
  const { hops } = stateOf(ctx);
  return Promise.all(
    [...hops.keys()].map((meeting) =>
      inTurn(
        ctx,
        meeting,
        async () => {
          for (const hop of hops.get(meeting)?.values() ?? []) await openRelay(ctx, hop, hop);
        },
        log,
      ),
    ),
  ).then(() => undefined);
}

/** How soon a hop its receiving bridge lost may be opened again on that bridge's word; sooner, the next refresh does it. */
export const HOP_REOPEN_MIN_MS = 3_000;

/**
 * The receiving bridge lost a hop the plan still holds (its media path
 * failed, or the sending bridge ended it): a fresh ticket at once, rather
 * than at the next refresh. Nothing new is audited: the hop carries what it
 * carried. Whether a ticket was sent: not for a hop the plan no longer holds
 * (this broker's plan; another broker's refresh keeps its own hops), nor
 * one opened again less than HOP_REOPEN_MIN_MS ago.
 */
export async function reopenHop(ctx: BrokerContext, meeting: string, from: string, to: string, log: (line: Readonly<Record<string, unknown>>) => void = () => undefined): Promise<boolean> {
  const state = stateOf(ctx);
  const key = `${from} → ${to}`;
  let sent = false;
  await inTurn(
    ctx,
    meeting,
    async () => {
      const hop = state.hops.get(meeting)?.get(key);
      const reopened = state.reopened.get(meeting) ?? new Map<string, number>();
      const last = reopened.get(key);
      if (hop === undefined || (last !== undefined && ctx.now().getTime() - last < HOP_REOPEN_MIN_MS)) return;
      state.reopened.set(meeting, reopened.set(key, ctx.now().getTime()));
      await openRelay(ctx, hop, hop);
      sent = true;
    },
    log,
  );
  return sent;
}

/** Runs `work` on a meeting's hops after whatever was asked of them before. */
function inTurn(ctx: BrokerContext, meeting: string, work: () => Promise<void>, log: (line: Readonly<Record<string, unknown>>) => void): Promise<void> {
  if (ctx.config.cascade !== true) return Promise.resolve();
  const { queues } = stateOf(ctx);
  const next = (queues.get(meeting) ?? Promise.resolve())
    .then(work)
    .catch((error: unknown) => {
      log({ level: 'warn', msg: 'cascade plan not applied', meeting, error: error instanceof Error ? error.message : String(error) });
    });
  queues.set(meeting, next);
  void next.then(() => {
    if (queues.get(meeting) === next) queues.delete(meeting);
  });
  return next;
}

/**
 * The bridge of `datacenter` is back in touch (this broker restarted, or
 * the bridge's control channel broke and the commands sent meanwhile were
 * lost): the meeting is planned again from the store, and every hop into
 * that bridge that the plan did not just open gets a fresh ticket, which
 * the bridge hands on to a hop it still holds or opens again.
 */
export function catchUpHops(ctx: BrokerContext, meeting: string, datacenter: string, log: (line: Readonly<Record<string, unknown>>) => void = () => undefined): Promise<void> {
  return inTurn(
    ctx,
    meeting,
    async () => {
      const opened = await replan(ctx, meeting);
      for (const [key, hop] of stateOf(ctx).hops.get(meeting) ?? []) if (hop.to === datacenter && !opened.has(key)) await openRelay(ctx, hop, hop);
    },
    log,
  );
}

/** Plans every cascaded meeting with hops again, and the meetings `also` names (after a policy change). */
export async function replanCascades(ctx: BrokerContext, also: Iterable<string> = [], log?: (line: Readonly<Record<string, unknown>>) => void): Promise<void> {
  await Promise.all([...new Set([...stateOf(ctx).hops.keys(), ...also])].map((meeting) => replanMeeting(ctx, meeting, log)));
}

/** The hops of a meeting the bridges were told to hold (for tests and the console). */
export function hopsOf(ctx: BrokerContext, meeting: string): readonly Hop[] {
  return [...(stateOf(ctx).hops.get(meeting)?.values() ?? [])];
}

/** Plans the meeting and brings the bridges' hops to the plan; the hops (`from → to`) it sent a ticket. */
async function replan(ctx: BrokerContext, meeting: string): Promise<Set<string>> {
  const context = await ctx.store.getMeetingContext(meeting);
  const members = await ctx.store.listParticipants(meeting);
  const { manifest } = ctx.policy.current;
  // The plan's rule knows fences only: the account's and the meeting's narrowing are applied here, so a relay ticket
  // never names a datacenter they rule out, even before an evicted member's bridge reports it gone.
  const policy = context && meetingPolicyOf(context.account, context.meeting, true);
  const held = (m: Participant): boolean => m.datacenter !== '' && policy !== undefined && whyNotHeldAt(manifest, m.datacenter, m.country, policy) === undefined;
  // A fence's `transit: e2ee` carries only the streams of members who showed they are in the meeting's group (their SDK encrypts).
  const encrypting = encryptingMembers(ctx, meeting);
  const plan = planRelays(
    manifest,
    members.map((m) => ({ name: m.id, country: m.country, datacenter: held(m) ? m.datacenter : null, e2ee: encrypting.has(m.id) })),
    { e2ee: true },
  );
  await tellUnreachable(ctx, meeting, members, plan.unreachable);
  const { hops } = stateOf(ctx);
  const before: Hops = hops.get(meeting) ?? new Map<string, Hop>();
  const countries = Object.fromEntries(members.map((m) => [m.id, m.country]));
  const pick = (ids: readonly string[]): Record<string, string> => Object.fromEntries(ids.flatMap((id) => (countries[id] === undefined ? [] : [[id, countries[id]]])));
  const after: Hops = new Map(
    plan.relays.map((r) => {
      const clear = r.streams.filter((s) => !encrypting.has(s));
      return [`${r.from} → ${r.to}`, { meeting, from: r.from, to: r.to, streams: r.streams, countries: pick(r.streams), e2ee: clear.length < r.streams.length, clear }];
    }),
  );
  if (after.size === 0) hops.delete(meeting);
  else hops.set(meeting, after);
  const reopened = stateOf(ctx).reopened.get(meeting);
  for (const key of reopened?.keys() ?? []) if (!after.has(key)) reopened?.delete(key);
  if (reopened?.size === 0) stateOf(ctx).reopened.delete(meeting);
  for (const [key, hop] of before) if (!after.has(key)) await closeRelay(ctx, hop, 'the plan no longer needs this hop');
  const opened = new Set<string>();
  for (const [key, hop] of after) {
    const was = before.get(key);
    if (was !== undefined && sameStreams(was.streams, hop.streams) && sameStreams(was.clear, hop.clear)) continue;
    // Streams no longer carried are audited as closed; the new ticket (or a new hop) carries the rest.
    if (was) {
      const gone = was.streams.filter((s) => !hop.streams.includes(s));
      if (gone.length > 0) await closeRelay(ctx, { ...was, streams: gone }, 'the plan no longer carries these streams', { keepOpen: true });
    }
    await openRelay(ctx, hop, was);
    opened.add(key);
  }
  return opened;
}

/**
 * Tells each bridge of the meeting which of its participants cannot
 * exchange media with whom, and why: the pairs that involve them, with the
 * display names they name. Only a changed list is sent.
 */
async function tellUnreachable(ctx: BrokerContext, meeting: string, members: readonly Participant[], pairs: readonly UnreachablePair[]): Promise<void> {
  const state = stateOf(ctx);
  // Display names from the admitted tickets, as the meeting's group keeps them (group-delivery.ts): kept with each
  // admission and departure, so a plan made from an older view of the store cannot lose a newer member's name.
  const names = new Map(groupMembers(ctx, meeting).map((m) => [m.id, m.name]));
  if (members.length === 0) {
    state.told.delete(meeting);
    return;
  }
  const told = state.told.get(meeting) ?? new Map<string, string>();
  state.told.set(meeting, told);
  const where = new Map(members.map((m) => [m.id, m.datacenter]));
  for (const datacenter of new Set([...members.map((m) => m.datacenter), ...told.keys()])) {
    const mine = pairs.filter((p) => where.get(p.from) === datacenter || where.get(p.to) === datacenter);
    const ids = [...new Set(mine.flatMap((p) => [p.from, p.to]))].sort(compareStrings);
    const command = { meeting, pairs: mine.map((p) => ({ from: p.from, to: p.to, reason: p.reason })), names: ids.map((id) => ({ id, name: names.get(id) ?? '' })) };
    const text = JSON.stringify(command);
    if ((told.get(datacenter) ?? JSON.stringify({ meeting, pairs: [], names: [] })) === text) continue;
    told.set(datacenter, text);
    await ctx.control.unreachable(datacenter, command);
  }
}

function sameStreams(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** Every meeting's hops the bridges were told to hold, by meeting, then from, then to (for the console). */
export function allHops(ctx: BrokerContext): readonly Hop[] {
  return [...stateOf(ctx).hops.values()]
    .flatMap((hops) => [...hops.values()])
    .sort((a, b) => compareStrings(a.meeting, b.meeting) || compareStrings(a.from, b.from) || compareStrings(a.to, b.to));
}
