import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SELECTION, type Manifest } from '../core/manifest/types.js';
import { BridgeRegistry } from './registry.js';

const TIMEOUT_MS = 5000;
const IDS = ['a', 'b', 'c', 'd'] as const;
const manifest = {
  version: 1,
  groups: {},
  datacenters: IDS.map((id) => ({ id, jurisdiction: 'US', location: { lat: 0, lon: 0 }, capacity: 100, tags: [], ice: [] })),
  zones: [],
  fences: [],
  plans: [],
  selection: DEFAULT_SELECTION,
} as unknown as Manifest;

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
    expect(registry.liveState({ ...manifest }, 20)).not.toBe(first);
  });
});
