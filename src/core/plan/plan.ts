/**
 * The cascade plan: a meeting's media graph when its participants are spread
 * over several bridges. Each participant connects to the first candidate of
 * its own decision (the one decider, `selectRoute`); each sender's stream then
 * goes from the sender's bridge straight to every other bridge that hosts a
 * receiver and may carry it. The rules and the JSON contract are in
 * docs/cascading.md.
 */
import { GeobridgeError } from '../errors.js';
import type { GeoPoint, Manifest } from '../manifest/types.js';
import { compareStrings } from '../order.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { isRefusal, selectRoute, type LiveState, type RouteChoice } from '../select/select.js';

/** Someone in the meeting: a unique name, a country and, optionally, where they are. */
export interface MeetingParticipant {
  readonly name: string;
  /** ISO 3166-1 alpha-2 code of the participant's country. */
  readonly country: string;
  /** Defaults to the country's representative point, as in a route request. */
  readonly location?: GeoPoint;
}

/** How the meeting's media is protected. */
export interface PlanOptions {
  /**
   * The meeting is end-to-end encrypted (the default): bridges see ciphertext
   * only, so a fence with `transit: e2ee` lets its clients' streams pass a
   * bridge outside it. Without E2EE every fence is `never`.
   */
  readonly e2ee?: boolean;
}

/** Where one participant connects; `datacenter` is null when its decision is a refusal. */
export interface PlannedParticipant {
  readonly name: string;
  readonly country: string;
  readonly datacenter: string | null;
}

/** One bridge-to-bridge hop and the participants whose streams it carries (names sorted). */
export interface PlannedRelay {
  readonly from: string;
  readonly to: string;
  readonly streams: readonly string[];
}

/**
 * Why `from`'s media cannot reach `to`, the first that applies: the sender has
 * no bridge, the receiver has none, or the receiver's bridge may not carry the
 * sender's stream (outside the sender's fences, and no transit allowed).
 */
export type UnreachableReason = 'SENDER_UNROUTED' | 'RECEIVER_UNROUTED' | 'FENCE';

/** Every reason code, with what it means (docs/errors.md lists each; a test keeps the two in sync). */
export const UNREACHABLE_REASONS: Readonly<Record<UnreachableReason, string>> = Object.freeze({
  SENDER_UNROUTED: 'the sender was refused a bridge',
  RECEIVER_UNROUTED: 'the receiver was refused a bridge',
  FENCE: "the receiver's bridge is outside the sender's fences, and they do not let E2EE media transit it",
});

/** A directed pair that cannot exchange media: `from`'s stream never reaches `to`. */
export interface UnreachablePair {
  readonly from: string;
  readonly to: string;
  readonly reason: UnreachableReason;
}

/** The media graph of a meeting (`geobridge plan --json` prints the first three fields). */
export interface MeetingPlan {
  /** In input order. */
  readonly participants: readonly PlannedParticipant[];
  /** Every hop, sorted by `from`, then `to`. A sender's stream crosses at most one. */
  readonly relays: readonly PlannedRelay[];
  /** Every ordered pair of distinct participants without media, by sender then receiver, in input order. */
  readonly unreachable: readonly UnreachablePair[];
  /**
   * Participants who can reach nobody, in input order: refused a bridge, or
   * (with two participants or more) neither sending to nor receiving from
   * anyone. `geobridge plan` exits 3 when there is one.
   */
  readonly isolated: readonly string[];
  /** Each participant's own decision, at the same position as `participants`. */
  readonly routes: readonly RouteChoice[];
}

/**
 * Plans a meeting's cascade: each participant's bridge (its own decision),
 * the relays between bridges, and the pairs that cannot exchange media.
 * Deterministic; never puts a stream on a bridge its sender's fences forbid,
 * unless the meeting is E2EE and every such fence declares `transit: e2ee`.
 */
export function planMeeting(manifest: Manifest, participants: readonly MeetingParticipant[], live: LiveState = {}, options: PlanOptions = {}): MeetingPlan {
  const seen = new Set<string>();
  for (const p of participants) {
    if (seen.has(p.name)) throw new GeobridgeError('DUPLICATE_PARTICIPANT', `participant '${p.name}' is named twice; give each participant of a meeting its own name.`);
    seen.add(p.name);
  }
  const routes = participants.map((p) => selectRoute(manifest, p.location ? { country: p.country, location: p.location } : { country: p.country }, live));
  const placed = participants.map((p, i): PlannedParticipant => {
    const route = routes[i];
    return { name: p.name, country: p.country, datacenter: route === undefined || isRefusal(route) ? null : (route.candidates[0]?.datacenter ?? null) };
  });
  return { participants: placed, ...planRelays(manifest, placed, options), routes };
}

/** A participant where its bridge admitted it, for `planRelays`. */
export interface RelayMember extends PlannedParticipant {
  /**
   * Whether this participant's own media is end-to-end encrypted; absent:
   * as the meeting (`PlanOptions.e2ee`). A fence's `transit: e2ee` carries a
   * stream outside it only when both the meeting and its sender encrypt.
   */
  readonly e2ee?: boolean;
}

/** The relays and unreachable pairs of a meeting whose participants are where they are (`planMeeting` without the routing). */
export interface RelayPlan {
  readonly relays: readonly PlannedRelay[];
  readonly unreachable: readonly UnreachablePair[];
  readonly isolated: readonly string[];
}

/**
 * The relays between the bridges participants are on (rules 2–6 of
 * docs/cascading.md): what `planMeeting` does once each participant has its
 * bridge, and what the broker does for a live meeting, whose participants
 * are where their bridges admitted them.
 */
export function planRelays(manifest: Manifest, participants: readonly RelayMember[], options: PlanOptions = {}): RelayPlan {
  const policy = compilePolicy(manifest);
  const e2ee = options.e2ee ?? true;
  const bridges = participants.map((p) => p.datacenter);
  const jurisdictions = bridges.map((id) => (id === null ? null : (policy.datacenterById.get(id)?.jurisdiction ?? null)));

  const relays = new Map<string, { from: string; to: string; streams: string[] }>();
  const unreachable: UnreachablePair[] = [];
  const sends = new Array<boolean>(participants.length).fill(false);
  const receives = new Array<boolean>(participants.length).fill(false);
  participants.forEach((sender, s) => {
    const from = bridges[s] ?? null;
    const carries = carrier(policy, sender.country, e2ee && sender.e2ee !== false);
    participants.forEach((receiver, r) => {
      if (r === s) return;
      const to = bridges[r] ?? null;
      const reason: UnreachableReason | undefined =
        from === null ? 'SENDER_UNROUTED' : to === null ? 'RECEIVER_UNROUTED' : to !== from && !carries(jurisdictions[r] ?? '') ? 'FENCE' : undefined;
      if (reason !== undefined) {
        unreachable.push({ from: sender.name, to: receiver.name, reason });
        return;
      }
      sends[s] = true;
      receives[r] = true;
      // Both are routed here; the sender's own bridge needs no hop to reach its receivers.
      if (from === null || to === null || from === to) return;
      const key = `${from}\u0000${to}`;
      const relay = relays.get(key) ?? { from, to, streams: [] };
      if (!relay.streams.includes(sender.name)) relay.streams.push(sender.name);
      relays.set(key, relay);
    });
  });

  const isolated = participants.filter((_, i) => bridges[i] === null || (participants.length > 1 && !sends[i] && !receives[i])).map((p) => p.name);
  return {
    relays: [...relays.values()]
      .map((relay): PlannedRelay => ({ from: relay.from, to: relay.to, streams: relay.streams.sort(compareStrings) }))
      .sort((a, b) => compareStrings(a.from, b.from) || compareStrings(a.to, b.to)),
    unreachable,
    isolated,
  };
}

/**
 * Whether a bridge in `jurisdiction` may carry the stream of a participant
 * from `country` (rule 2 of docs/cascading.md): the plan's rule, which a
 * sending bridge applies again to every stream before a relay hop.
 */
export function mayCarry(manifest: Manifest, country: string, jurisdiction: string, options: PlanOptions = {}): boolean {
  return carrier(compilePolicy(manifest), country, options.e2ee ?? true)(jurisdiction);
}

/**
 * Which jurisdictions may carry the stream of a participant from `country`:
 * those every binding fence permits, and in an E2EE meeting also those that
 * every binding fence forbidding them lets ciphertext transit.
 */
function carrier(policy: CompiledPolicy, country: string, e2ee: boolean): (jurisdiction: string) => boolean {
  const binding = policy.fencesFor(country);
  return (jurisdiction) => binding.every((f) => f.permitted.has(jurisdiction) || (e2ee && f.fence.transit === 'e2ee'));
}
