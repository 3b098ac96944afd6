import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SELECTION, type Manifest } from '../core/manifest/types.js';
import { BridgeRegistry, SHED_HYSTERESIS } from './registry.js';

const TIMEOUT_MS = 5000;
const IDS = ['a', 'b', 'c', 'd'] as const;
const manifest = {
  version: 1,
  groups: [],
  datacenters: IDS.map((id) => ({ id, jurisdiction: 'US', location: { lat: 0, lon: 0 }, capacity: 100, tags: [], ice: [] })),
  stores: [],
  zones: [],
  fences: [],
  plans: [],
  selection: DEFAULT_SELECTION,
} satisfies Manifest;

/** The live state as the registry defines it, built from scratch from what it was told. */
function expected(told: ReadonlyMap<string, { lastSeenMs: number; participants: number; draining: boolean }>, nowMs: number, assumeUp: boolean): { down: string[]; utilization: [string, number][] } {
  const down: string[] = [];
  const utilization: [string, number][] = [];
  for (const id of IDS) {
    const e = told.get(id);
    if (!e) {
      if (!assumeUp) down.push(id);
      continue;
    }
    if (nowMs - e.lastSeenMs > TIMEOUT_MS || e.draining) down.push(id);
    utilization.push([id, e.participants / 100]);
  }
  return { down, utilization };
}

type Step = { kind: 'report'; id: string; participants: number; draining: boolean } | { kind: 'lost'; id: string } | { kind: 'wait'; ms: number } | { kind: 'ask' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('report' as const), id: fc.constantFrom(...IDS), participants: fc.nat(100), draining: fc.boolean() }),
  fc.record({ kind: fc.constant('lost' as const), id: fc.constantFrom(...IDS) }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.oneof(fc.nat(10), fc.constantFrom(TIMEOUT_MS - 1, TIMEOUT_MS, TIMEOUT_MS + 1), fc.nat(3 * TIMEOUT_MS)) }),
  fc.constant({ kind: 'ask' as const }),
);

describe('BridgeRegistry.liveState', () => {
  it('property: the remembered state is always the one built afresh (reports, lost bridges, heartbeats going stale)', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), fc.boolean(), (steps, assumeUp) => {
        const registry = new BridgeRegistry(TIMEOUT_MS, assumeUp);
        const told = new Map<string, { lastSeenMs: number; participants: number; draining: boolean }>();
        let now = 1000;
        for (const s of steps) {
          if (s.kind === 'report') {
            registry.report(s.id, { participants: s.participants, cpu: 0, draining: s.draining }, now);
            told.set(s.id, { lastSeenMs: now, participants: s.participants, draining: s.draining });
          } else if (s.kind === 'lost') {
            registry.lost(s.id);
            const e = told.get(s.id);
            if (e) told.set(s.id, { ...e, lastSeenMs: Number.NEGATIVE_INFINITY });
          } else if (s.kind === 'wait') {
            now += s.ms;
          }
          const live = registry.liveState(manifest, now);
          expect({ down: [...(live.down ?? [])].sort(), utilization: [...(live.utilization ?? new Map<string, number>())].sort() }).toEqual(expected(told, now, assumeUp));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('builds the state once while nothing changes, and again for another manifest', () => {
    const registry = new BridgeRegistry(TIMEOUT_MS, false);
    registry.report('a', { participants: 1, cpu: 0, draining: false }, 0);
    const first = registry.liveState(manifest, 10);
    expect(registry.liveState(manifest, 20)).toBe(first);
    // Indexed for that manifest: every route until the next change reads it by position.
    expect(first.byIndex?.manifest).toBe(manifest);
    expect(registry.liveState({ ...manifest }, 20)).not.toBe(first);
  });

  describe('load shedding', () => {
    const report = (loop: number | undefined, participants = 10) => ({ participants, cpu: 0, draining: false, ...(loop === undefined ? {} : { loop }) });

    it('makes a bridge whose loop average passes the threshold full to the decider, and takes it back only well below it', () => {
      const registry = new BridgeRegistry(TIMEOUT_MS, false, 0.9);
      const utilization = (now: number): number | undefined => registry.liveState(manifest, now).utilization?.get('a');
      registry.report('a', report(0.5), 0);
      expect(utilization(0)).toBe(0.1);
      // Busy seconds shed only once the average passes 0.9: 0.75, 0.875, then 0.9375.
      registry.report('a', report(1), 1000);
      registry.report('a', report(1), 2000);
      expect(registry.isShedding('a', 2000)).toBe(false);
      registry.report('a', report(1), 3000);
      expect(registry.isShedding('a', 3000)).toBe(true);
      expect(utilization(3000)).toBe(1);
      // Just under the threshold (0.89) it goes on shedding; well under (0.695), it takes participants again.
      registry.report('a', report(0.85), 4000);
      expect(registry.isShedding('a', 4000)).toBe(true);
      registry.report('a', report(0.5), 5000);
      expect(registry.isShedding('a', 5000)).toBe(false);
      expect(utilization(5000)).toBe(0.1);
      expect(registry.loopAverage('a', 5000)).toBeCloseTo(0.695);
    });

    it('sheds nothing when off, for a bridge that does not report its loop, or for one that is down', () => {
      const off = new BridgeRegistry(TIMEOUT_MS, false);
      for (let t = 0; t < 5; t++) off.report('a', report(1), t * 1000);
      expect(off.isShedding('a', 5000)).toBe(false);
      const on = new BridgeRegistry(TIMEOUT_MS, false, 0.9);
      for (let t = 0; t < 5; t++) on.report('a', report(undefined), t * 1000);
      expect(on.isShedding('a', 5000)).toBe(false);
      on.report('b', report(1), 0);
      on.lost('b');
      expect(on.isShedding('b', 1)).toBe(false);
    });

    it('property: sheds exactly when the loop average, with hysteresis, says so, and is full to the decider while it does', () => {
      fc.assert(
        fc.property(fc.double({ min: 0.5, max: 1, noNaN: true }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 }), (at, loops) => {
          const registry = new BridgeRegistry(TIMEOUT_MS, false, at);
          let average: number | undefined;
          let shedding = false;
          loops.forEach((loop, i) => {
            registry.report('a', report(loop), i * 1000);
            average = average === undefined ? loop : (loop + average) / 2;
            shedding = shedding ? average >= at - SHED_HYSTERESIS : average >= at;
            expect(registry.isShedding('a', i * 1000)).toBe(shedding);
            expect(registry.liveState(manifest, i * 1000).utilization?.get('a')).toBe(shedding ? 1 : 0.1);
          });
        }),
        { numRuns: 500 },
      );
    });
  });
});
