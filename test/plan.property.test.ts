/**
 * Properties of the cascade plan (docs/cascading.md), over random manifests ×
 * meetings × live states, E2EE or not. Whether a bridge may carry a stream is
 * judged by the reference model in arbitraries.ts (`mayCarry`),
 * never by compile.ts. 12,000 cases in all.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { isRefusal, planMeeting, planRelays, selectRoute, type LiveState, type Manifest, type MeetingParticipant, type MeetingPlan } from '../src/core/index.js';
import { JURISDICTIONS, liveEntriesArb, manifestArb, mayCarry, pointArb, REQUEST_COUNTRIES, toLiveState, type LiveEntries } from './arbitraries.js';

/** A meeting of one to six participants against a manifest, with live state and E2EE on or off. */
interface Meeting {
  readonly manifest: Manifest;
  readonly participants: readonly MeetingParticipant[];
  readonly live: LiveState;
  readonly e2ee: boolean;
  readonly plan: MeetingPlan;
}

const countryArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...JURISDICTIONS) }, { weight: 1, arbitrary: fc.constantFrom(...REQUEST_COUNTRIES) });
const NO_LIVE: LiveEntries = { down: [], utilization: [] };

const meetingArb: fc.Arbitrary<Meeting> = manifestArb.chain((manifest) =>
  fc
    .tuple(
      // Mostly countries the zones and fences name, so that most participants get a bridge and fences bite between them.
      fc.array(fc.tuple(countryArb, fc.option(pointArb, { nil: undefined })), { minLength: 1, maxLength: 6 }),
      // Mostly all up and idle: outages refuse participants, and a refused participant exchanges nothing to check.
      fc.oneof({ weight: 2, arbitrary: fc.constant(NO_LIVE) }, { weight: 1, arbitrary: liveEntriesArb(manifest) }),
      fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    )
    .map(([drafts, entries, e2ee]): Meeting => {
      const participants = drafts.map(([country, location], i): MeetingParticipant => (location ? { name: `p${String(i)}`, country, location } : { name: `p${String(i)}`, country }));
      const live = toLiveState(entries);
      return { manifest, participants, live, e2ee, plan: planMeeting(manifest, participants, live, { e2ee }) };
    }),
);

/** Throws with the message when the condition fails (cheaper than expect() in hot properties). */
function ensure(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

function jurisdictionOf(manifest: Manifest, id: string): string {
  const dc = manifest.datacenters.find((d) => d.id === id);
  if (!dc) throw new Error(`the plan named '${id}', which the manifest does not define`);
  return dc.jurisdiction;
}

/** The bridge of each participant by name, as the plan gives it. */
function bridges(plan: MeetingPlan): Map<string, string | null> {
  return new Map(plan.participants.map((p) => [p.name, p.datacenter]));
}

/** By the reference model: may `receiver` get `sender`'s media where both connect? */
function mayTalk(m: Meeting, sender: MeetingParticipant, receiver: MeetingParticipant): boolean {
  const at = bridges(m.plan);
  const from = at.get(sender.name) ?? null;
  const to = at.get(receiver.name) ?? null;
  return from !== null && to !== null && (from === to || mayCarry(m.manifest, sender.country, jurisdictionOf(m.manifest, to), m.e2ee));
}

describe('planMeeting: residency of every hop', () => {
  it('(a) connects each participant where its own decision says, inside its fences, and never puts a stream on a bridge its sender’s fences (or transit rule) forbid', () => {
    fc.assert(
      fc.property(meetingArb, (m) => {
        const { manifest, participants, live, plan } = m;
        const byName = new Map(participants.map((p) => [p.name, p]));
        ensure(plan.participants.map((p) => p.name).join() === participants.map((p) => p.name).join(), () => 'participants are not in input order');
        plan.participants.forEach((p, i) => {
          const input = participants[i];
          const route = selectRoute(manifest, input?.location ? { country: p.country, location: input.location } : { country: p.country }, live);
          const expected = isRefusal(route) ? null : (route.candidates[0]?.datacenter ?? null);
          ensure(p.datacenter === expected, () => `${p.name} is on ${String(p.datacenter)}, its decision says ${String(expected)}`);
          // Strictly inside: transit is for relays, never for where a participant connects.
          if (p.datacenter !== null) ensure(mayCarry(manifest, p.country, jurisdictionOf(manifest, p.datacenter), false), () => `${p.name} (${p.country}) connects to ${String(p.datacenter)} outside its fences`);
        });
        const at = bridges(plan);
        const seen = new Set<string>();
        for (const relay of plan.relays) {
          ensure(relay.from !== relay.to, () => `a relay from ${relay.from} to itself`);
          ensure(plan.participants.some((p) => p.datacenter === relay.to), () => `a relay to ${relay.to}, where nobody receives`);
          for (const name of relay.streams) {
            const sender = byName.get(name);
            ensure(sender !== undefined, () => `a relay carries '${name}', who is not in the meeting`);
            // A star: the one hop leaves the sender's own bridge, so a stream never crosses a second bridge.
            ensure(at.get(name) === relay.from, () => `${name}'s stream leaves ${relay.from}, not its own bridge ${String(at.get(name))}`);
            ensure(!seen.has(`${name}\u0000${relay.to}`), () => `${name}'s stream reaches ${relay.to} twice`);
            seen.add(`${name}\u0000${relay.to}`);
            ensure(
              mayCarry(manifest, sender?.country ?? '', jurisdictionOf(manifest, relay.to), m.e2ee),
              () => `${name} (${sender?.country ?? ''}) is relayed to ${relay.to} (${jurisdictionOf(manifest, relay.to)}), outside its fences (e2ee: ${String(m.e2ee)})`,
            );
          }
        }
      }),
      { numRuns: 4_000 },
    );
  });
});

describe('planMeeting: completeness and honesty of the graph', () => {
  it('(b) every pair that may talk under the fences does: on one bridge, or through a relay from the sender’s bridge to the receiver’s', () => {
    fc.assert(
      fc.property(meetingArb, (m) => {
        const at = bridges(m.plan);
        const unreachable = new Set(m.plan.unreachable.map((u) => `${u.from}\u0000${u.to}`));
        for (const sender of m.participants) {
          for (const receiver of m.participants) {
            if (sender === receiver || !mayTalk(m, sender, receiver)) continue;
            ensure(!unreachable.has(`${sender.name}\u0000${receiver.name}`), () => `${sender.name} → ${receiver.name} may talk but is reported unreachable`);
            const from = at.get(sender.name);
            const to = at.get(receiver.name);
            if (from === to) continue;
            ensure(
              m.plan.relays.some((r) => r.from === from && r.to === to && r.streams.includes(sender.name)),
              () => `${sender.name}'s stream is not relayed from ${String(from)} to ${String(to)}, where ${receiver.name} is`,
            );
          }
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('(c) a pair reported unable truly has no allowed path, with the first reason that applies; and the isolated truly reach nobody', () => {
    fc.assert(
      fc.property(meetingArb, (m) => {
        const at = bridges(m.plan);
        const byName = new Map(m.participants.map((p) => [p.name, p]));
        const reported = new Set<string>();
        for (const u of m.plan.unreachable) {
          const sender = byName.get(u.from);
          const receiver = byName.get(u.to);
          ensure(sender !== undefined && receiver !== undefined && sender !== receiver, () => `unreachable names ${u.from} → ${u.to}`);
          if (!sender || !receiver) return;
          ensure(!reported.has(`${u.from}\u0000${u.to}`), () => `${u.from} → ${u.to} reported twice`);
          reported.add(`${u.from}\u0000${u.to}`);
          // The receiver is on one bridge (or none): a path must end there, so "no allowed path" is that bridge refusing the stream.
          ensure(!mayTalk(m, sender, receiver), () => `${u.from} → ${u.to} reported ${u.reason}, but the receiver's bridge may carry the stream`);
          const from = at.get(u.from) ?? null;
          const to = at.get(u.to) ?? null;
          const expected = from === null ? 'SENDER_UNROUTED' : to === null ? 'RECEIVER_UNROUTED' : 'FENCE';
          ensure(u.reason === expected, () => `${u.from} → ${u.to}: ${u.reason}, expected ${expected}`);
        }
        // Every pair is either reachable (checked by (b)) or reported: nothing falls between.
        let pairs = 0;
        for (const s of m.participants) for (const r of m.participants) if (s !== r && !mayTalk(m, s, r)) pairs++;
        ensure(pairs === reported.size, () => `${String(pairs)} pairs cannot talk, ${String(reported.size)} reported`);
        const names = m.participants.map((p) => p.name);
        const expectedIsolated = names.filter(
          (n) => at.get(n) === null || (names.length > 1 && m.participants.every((o) => o.name === n || (!mayTalk(m, byName.get(n) ?? o, o) && !mayTalk(m, o, byName.get(n) ?? o)))),
        );
        ensure(m.plan.isolated.join() === expectedIsolated.join(), () => `isolated ${m.plan.isolated.join()} ≠ ${expectedIsolated.join()}`);
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('planRelays: senders that do not encrypt', () => {
  it('(d) carries a stream through a transit bridge only when both the meeting and its sender encrypt, and every other allowed pair still talks', () => {
    fc.assert(
      fc.property(
        meetingArb.chain((m) => fc.tuple(fc.constant(m), fc.array(fc.boolean(), { minLength: m.participants.length, maxLength: m.participants.length }))),
        ([m, encrypts]) => {
          const members = m.plan.participants.map((p, i) => ({ ...p, e2ee: encrypts[i] ?? true }));
          const plan = planRelays(m.manifest, members, { e2ee: m.e2ee });
          const byName = new Map(members.map((p) => [p.name, p]));
          // The reference model, per sender: transit only for one that encrypts in an encrypted meeting.
          const allowed = (sender: (typeof members)[number], receiver: (typeof members)[number]): boolean =>
            sender.datacenter !== null &&
            receiver.datacenter !== null &&
            (sender.datacenter === receiver.datacenter || mayCarry(m.manifest, sender.country, jurisdictionOf(m.manifest, receiver.datacenter), m.e2ee && sender.e2ee));
          for (const relay of plan.relays) {
            for (const name of relay.streams) {
              const sender = byName.get(name);
              ensure(sender !== undefined && mayCarry(m.manifest, sender.country, jurisdictionOf(m.manifest, relay.to), m.e2ee && sender.e2ee), () => `${name} (encrypts: ${String(sender?.e2ee)}) is relayed to ${relay.to} outside its fences`);
            }
          }
          const unreachable = new Set(plan.unreachable.map((u) => `${u.from}\u0000${u.to}`));
          for (const s of members) {
            for (const r of members) {
              if (s === r) continue;
              const may = allowed(s, r);
              ensure(may !== unreachable.has(`${s.name}\u0000${r.name}`), () => `${s.name} → ${r.name}: allowed ${String(may)}, reported unreachable ${String(!may)}`);
              if (may && s.datacenter !== r.datacenter) ensure(plan.relays.some((x) => x.from === s.datacenter && x.to === r.datacenter && x.streams.includes(s.name)), () => `${s.name} not relayed to ${String(r.datacenter)}`);
            }
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
