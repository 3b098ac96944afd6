// The cascade figures on meetings small enough to work out by hand: three
// bridges (Frankfurt, São Paulo, Tokyo) and a participant near each.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../core/manifest/parse.js';
import type { Manifest } from '../core/manifest/types.js';
import type { MeetingParticipant } from '../core/plan/plan.js';
import { compilePolicy } from '../core/policy/compile.js';
import type { LiveState } from '../core/select/select.js';
import { CascadeTally, placeAtHome } from './cascade.js';
import { MEETING_SAMPLE } from './meetings.js';
import type { CascadeFigures } from './result.js';

const BASE = `version: 1
datacenters:
  fra: { jurisdiction: DE, location: { lat: 50.11, lon: 8.68 }, capacity: 100 }
  gru: { jurisdiction: BR, location: { lat: -23.55, lon: -46.63 }, capacity: 100 }
  nrt: { jurisdiction: JP, location: { lat: 35.68, lon: 139.69 }, capacity: 100 }
zones:
  europe: { countries: [DE], primaries: [fra] }
  latam: { countries: [BR], primaries: [gru] }
  asia: { countries: [JP], primaries: [nrt] }
`;
/** German media may be in Germany and Japan only. */
const FENCED = `${BASE}fences:
  - { name: eea, clients: [DE], allow: [DE, JP] }
`;

function manifest(text: string): Manifest {
  const m = parseManifest(text).manifest;
  if (!m) throw new Error('test manifest does not parse');
  return m;
}

// Berlin, Rio de Janeiro and Osaka: near Frankfurt, São Paulo and Tokyo, far from one another.
const anna: MeetingParticipant = { name: 'anna', country: 'DE', location: { lat: 52.52, lon: 13.4 } };
const bruno: MeetingParticipant = { name: 'bruno', country: 'BR', location: { lat: -22.91, lon: -43.17 } };
const kenji: MeetingParticipant = { name: 'kenji', country: 'JP', location: { lat: 34.69, lon: 135.5 } };

function figures(text: string, meetings: readonly (readonly MeetingParticipant[])[], live: LiveState = {}): CascadeFigures {
  const m = manifest(text);
  const tally = new CascadeTally(MEETING_SAMPLE);
  for (const meeting of meetings) tally.add(compilePolicy(m), m, meeting, live);
  return tally.figures();
}

describe('cascade figures', () => {
  it('DE+BR+JP: each on its own bridge is ~394 km away on average, against ~6,415 km in a Frankfurt home', () => {
    const f = figures(BASE, [[anna, bruno, kenji]]);
    // Berlin–Frankfurt 423.4 km, Rio–São Paulo 360.6 km, Osaka–Tokyo 396.3 km: mean 393.5.
    expect(f.distanceKm.cascade).toBe(393.5);
    // At home in Frankfurt (anna placed it): 423.4 + Rio–Frankfurt 9,585.4 + Osaka–Frankfurt 9,236.9, mean 6,415.3.
    expect(f.distanceKm.home).toBe(6415.3);
    expect(f.distanceKm.participants).toBe(3);
    expect(f.distanceRatio).toBe(0.061);
    // Every stream to both other bridges: 3 senders × 2 hops, one stream on each of the 6 ordered pairs.
    expect(f.relayHops.total).toBe(6);
    expect(f.relayHops.byPair).toHaveLength(6);
    expect(f.relayHops.byPair.every((p) => p.hops === 1)).toBe(true);
    expect(f.relayHops.byFence).toEqual({});
    expect(f.unreachable).toEqual({ pairs: 6, byReason: {} });
    expect(f.unrouted).toEqual({ cascade: {}, home: {} });
    expect(f.meetings).toBe(1);
    expect(f.participants).toBe(3);
  });

  it('counts a stream once per hop: two Germans on Frankfurt make two stream-hops on its relay to Tokyo', () => {
    const f = figures(BASE, [[anna, { ...anna, name: 'greta' }, kenji]]);
    expect(f.relayHops.byPair).toEqual([
      { from: 'fra', to: 'nrt', hops: 2 },
      { from: 'nrt', to: 'fra', hops: 1 },
    ]);
    expect(f.relayHops.total).toBe(3);
  });

  it('a fence that forbids a hop: no relay of its senders on it, and a FENCE pair instead', () => {
    // anna and bruno only: anna's one possible hop (to São Paulo) is forbidden.
    const two = figures(FENCED, [[anna, bruno]]);
    expect(two.relayHops.byFence).toEqual({ eea: 0 });
    expect(two.relayHops.byPair).toEqual([{ from: 'gru', to: 'fra', hops: 1 }]);
    expect(two.unreachable).toEqual({ pairs: 2, byReason: { FENCE: 1 } });
    // With kenji too, anna's stream still reaches Tokyo: one hop for the fence, none to São Paulo.
    const three = figures(FENCED, [[anna, bruno, kenji]]);
    expect(three.relayHops.byFence).toEqual({ eea: 1 });
    expect(three.relayHops.total).toBe(5);
    expect(three.relayHops.byPair.find((p) => p.from === 'fra' && p.to === 'gru')).toBeUndefined();
    expect(three.unreachable.byReason).toEqual({ FENCE: 1 });
  });

  it("lets E2EE media transit where the fence says so: the core's rule, not a copy", () => {
    const f = figures(FENCED.replace('allow: [DE, JP] }', 'allow: [DE, JP], transit: e2ee }'), [[anna, bruno, kenji]]);
    expect(f.relayHops.byFence).toEqual({ eea: 2 });
    expect(f.unreachable.byReason).toEqual({});
  });

  it('one home: a guest whose fence forbids the host’s bridge is refused FENCE_CONFLICT, and left out of the distances', () => {
    const m = manifest(FENCED);
    // kenji, bound by no fence, joins bruno's home in São Paulo; anna may not.
    expect(placeAtHome(m, [bruno, anna, kenji], {})).toEqual([{ datacenter: 'gru' }, { refused: 'FENCE_CONFLICT' }, { datacenter: 'gru' }]);
    // The first participant the decider routes places the meeting: here kenji, since the German host's bridge is down.
    expect(placeAtHome(m, [anna, kenji, bruno], { down: new Set(['fra']) })).toEqual([{ refused: 'NO_CAPACITY_IN_FENCE' }, { datacenter: 'nrt' }, { datacenter: 'nrt' }]);
    const f = figures(FENCED, [[bruno, anna]]);
    expect(f.unrouted).toEqual({ cascade: {}, home: { FENCE_CONFLICT: 1 } });
    // Only bruno has a bridge in both (São Paulo, 360.6 km): ratio 1.
    expect(f.distanceKm).toEqual({ cascade: 360.6, home: 360.6, participants: 1 });
    expect(f.distanceRatio).toBe(1);
  });

  it('plans on the live state it is given: a full or down bridge leaves its participants unrouted', () => {
    const f = figures(BASE, [[anna, bruno, kenji]], { down: new Set(['nrt']), utilization: new Map([['gru', 0.95]]) });
    expect(f.unrouted.cascade).toEqual({ NO_CAPACITY_IN_FENCE: 2 });
    // anna → bruno, anna → kenji: receivers unrouted; bruno's and kenji's streams to anyone: senders unrouted.
    expect(f.unreachable.byReason).toEqual({ RECEIVER_UNROUTED: 2, SENDER_UNROUTED: 4 });
    expect(f.relayHops.total).toBe(0);
    expect(f.distanceRatio).toBe(1);
  });

  it('has no ratio when nothing is compared', () => {
    const f = figures(BASE, []);
    expect(f.distanceRatio).toBeNull();
    expect(f.distanceKm).toEqual({ cascade: 0, home: 0, participants: 0 });
  });
});
