/**
 * Keeps a cascaded meeting's relays live (`serve --cascade`,
 * docs/cascading.md): after every admission, departure and lost bridge, and
 * after a policy change, the broker plans the meeting's hops from where its
 * members are admitted, with the core's `planRelays` (the one rule), and
 * opens, updates or closes hops until the bridges carry exactly that plan.
 * Plans of one meeting run one after another; each is made from the store
 * as it is when it runs, so a burst of joins ends with the plan of them all.
 */
import { planRelays } from '../core/plan/plan.js';
import type { BrokerContext } from './context.js';
import { closeRelay, openRelay, type Hop } from './relays.js';

/** A meeting's hops as the bridges were last told, by `from → to`. */
type Hops = Map<string, Hop>;

interface State {
  readonly hops: Map<string, Hops>;
  readonly queues: Map<string, Promise<void>>;
}

const states = new WeakMap<BrokerContext, State>();

function stateOf(ctx: BrokerContext): State {
  let state = states.get(ctx);
  if (!state) states.set(ctx, (state = { hops: new Map(), queues: new Map() }));
  return state;
}

/** Plans the meeting's hops again (after the ones asked before); a no-op unless the broker cascades. Never rejects: a hop that could not be ordered is logged. */
export function replanMeeting(ctx: BrokerContext, meeting: string, log: (line: Readonly<Record<string, unknown>>) => void = () => undefined): Promise<void> {
  if (ctx.config.cascade !== true) return Promise.resolve();
  const { queues } = stateOf(ctx);
  const next = (queues.get(meeting) ?? Promise.resolve())
    .then(() => replan(ctx, meeting))
    .catch((error: unknown) => {
      log({ level: 'warn', msg: 'cascade plan not applied', meeting, error: error instanceof Error ? error.message : String(error) });
    });
  queues.set(meeting, next);
  void next.then(() => {
    if (queues.get(meeting) === next) queues.delete(meeting);
  });
  return next;
}

/** Plans every cascaded meeting with hops again (after a policy change). */
export async function replanCascades(ctx: BrokerContext, log?: (line: Readonly<Record<string, unknown>>) => void): Promise<void> {
  await Promise.all([...stateOf(ctx).hops.keys()].map((meeting) => replanMeeting(ctx, meeting, log)));
}

/** The hops of a meeting the bridges were told to hold (for tests and the console). */
export function hopsOf(ctx: BrokerContext, meeting: string): readonly Hop[] {
  return [...(stateOf(ctx).hops.get(meeting)?.values() ?? [])];
}

async function replan(ctx: BrokerContext, meeting: string): Promise<void> {
  const members = await ctx.store.listParticipants(meeting);
  const { manifest } = ctx.policy.current;
  // The broker does not know whether a meeting's clients encrypt end to end, so no fence's `transit: e2ee` is taken.
  const e2ee = false;
  const plan = planRelays(
    manifest,
    members.map((m) => ({ name: m.id, country: m.country, datacenter: m.datacenter === '' ? null : m.datacenter })),
    { e2ee },
  );
  const { hops } = stateOf(ctx);
  const before: Hops = hops.get(meeting) ?? new Map<string, Hop>();
  const countries = Object.fromEntries(members.map((m) => [m.id, m.country]));
  const pick = (ids: readonly string[]): Record<string, string> => Object.fromEntries(ids.flatMap((id) => (countries[id] === undefined ? [] : [[id, countries[id]]])));
  const after: Hops = new Map(plan.relays.map((r) => [`${r.from} → ${r.to}`, { meeting, from: r.from, to: r.to, streams: r.streams, countries: pick(r.streams), e2ee }]));
  if (after.size === 0) hops.delete(meeting);
  else hops.set(meeting, after);
  for (const [key, hop] of before) if (!after.has(key)) await closeRelay(ctx, hop, 'the plan no longer needs this hop');
  for (const [key, hop] of after) {
    const was = before.get(key);
    if (was !== undefined && sameStreams(was.streams, hop.streams)) continue;
    // Streams no longer carried are audited as closed; the new ticket (or a new hop) carries the rest.
    if (was) {
      const gone = was.streams.filter((s) => !hop.streams.includes(s));
      if (gone.length > 0) await closeRelay(ctx, { ...was, streams: gone }, 'the plan no longer carries these streams', { keepOpen: true });
    }
    await openRelay(ctx, hop, was?.streams ?? []);
  }
}

function sameStreams(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
