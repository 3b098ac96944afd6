// The engine's invariants: conservation, capacity, determinism, fluid/agent
// agreement, fences held (and the violation counter able to fail).
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../core/manifest/parse.js';
import type { Manifest } from '../core/manifest/types.js';
import { MEETING_SAMPLE } from './meetings.js';
import type { RunResult } from './result.js';
import { parseScenario, type Scenario } from './scenario.js';
import { scenarioReferenceProblems, simulate } from './simulate.js';

const MANIFEST = `version: 1
datacenters:
  a: { jurisdiction: US, location: { lat: 39.0, lon: -77.5 }, capacity: 300 }
  b: { jurisdiction: US, location: { lat: 37.3, lon: -121.9 }, capacity: 150 }
  c: { jurisdiction: CA, location: { lat: 45.5, lon: -73.6 }, capacity: 100 }
  e: { jurisdiction: DE, location: { lat: 50.1, lon: 8.7 }, capacity: 100 }
  cn: { jurisdiction: CN, location: { lat: 39.9, lon: 116.4 }, capacity: 400 }
zones:
  na: { countries: [US, CA], primaries: [a, b, c], secondaries: [e, cn] }
  china: { countries: [CN], primaries: [cn] }
fences:
  - { name: china-stays-in-china, clients: [CN], allow: [CN] }
  - { name: nobody-else-into-china, clients: ['*', '!CN'], deny: [CN] }
`;
const WITHOUT_B = MANIFEST.replace(/ {2}b: .*\n/, '').replace('primaries: [a, b, c]', 'primaries: [a, c]');

function scenario(extra = '', mode: 'fluid' | 'agent' = 'fluid'): Scenario {
  const text = `version: 1
name: small
manifest: m.yaml
mode: ${mode}
seed: 11
duration: 8h
step: 1m
sessionMinutes: 30
demand:
  - { countries: { US: 0.8, CA: 0.2 }, daily: 60000, diurnal: flat }
  - { countries: [CN], daily: 5000, diurnal: flat }
events:
  - { at: 2h, duration: 2h, datacenter: a, kind: outage }
  - { at: 0, datacenter: b, kind: congestion, failProbability: 0.4 }
${extra}`;
  const parsed = parseScenario(text, 'small.yaml');
  if (!parsed.scenario) throw new Error(JSON.stringify(parsed.diagnostics));
  return parsed.scenario;
}

function manifest(text: string): Manifest {
  const m = parseManifest(text).manifest;
  if (!m) throw new Error('test manifest does not parse');
  return m;
}

const manifests = new Map([
  ['m.yaml', manifest(MANIFEST)],
  ['without-b.yaml', manifest(WITHOUT_B)],
]);

function run(s: Scenario, i = 0): RunResult {
  const r = simulate({ scenario: s, manifests }).runs[i];
  if (!r) throw new Error('no run');
  return r;
}

function refusedTotal(r: RunResult): number {
  return Object.values(r.totals.refused).reduce((a, b) => a + b, 0);
}

describe('simulate', () => {
  it('conserves joins exactly in agent mode: every join served or refused once', () => {
    const r = run(scenario('', 'agent'));
    expect(r.totals.joins).toBeGreaterThan(1000);
    expect(r.totals.served + refusedTotal(r)).toBe(r.totals.joins + r.totals.reconnects);
    expect(r.totals.servedPrimary + r.totals.servedSecondary).toBe(r.totals.served);
  });

  it('names who was refused: the refusals by country add up to the totals by code', () => {
    const r = run(scenario('', 'agent'));
    const byCode: Record<string, number> = {};
    for (const row of r.refusals) byCode[row.code] = (byCode[row.code] ?? 0) + row.participants;
    expect(r.refusals.length).toBeGreaterThan(0);
    expect(byCode).toEqual(r.totals.refused);
    expect(r.refusals.map((x) => x.participants)).toEqual([...r.refusals.map((x) => x.participants)].sort((a, b) => b - a));
  });

  it.each(['fluid', 'agent'] as const)('counts nothing of the warm-up, and the warm-up changes nothing that follows (%s)', (mode) => {
    const cold = run(scenario('', mode));
    const warm = run({ ...scenario('', mode), warmup: 180 });
    const from = 180; // step is 1 minute: one series point per step
    expect(warm.series.t[0]).toBe(180);
    expect(warm.series.concurrent).toEqual(cold.series.concurrent.slice(from));
    expect(warm.series.refused).toEqual(cold.series.refused.slice(from));
    expect(warm.series.utilization).toEqual(Object.fromEntries(Object.entries(cold.series.utilization).map(([d, xs]) => [d, xs.slice(from)])));
    const tail = cold.series.arrivals.slice(from).reduce((a, b) => a + b, 0);
    expect(Math.abs(warm.totals.joins - tail)).toBeLessThanOrEqual(from); // the series rounds each point
    expect(warm.totals.joins).toBeLessThan(cold.totals.joins);
  });

  it('conserves joins in fluid mode (up to rounding of the totals)', () => {
    const r = run(scenario());
    expect(Math.abs(r.totals.served + refusedTotal(r) - (r.totals.joins + r.totals.reconnects))).toBeLessThanOrEqual(3);
  });

  it.each(['fluid', 'agent'] as const)('never fills a datacenter past maxUtilization, nor below zero (%s)', (mode) => {
    const r = run(scenario('', mode));
    let busiest = 0;
    for (const series of Object.values(r.series.utilization)) {
      for (const u of series) {
        expect(u).toBeGreaterThanOrEqual(0);
        expect(u).toBeLessThanOrEqual(0.9 + 1e-6 + (mode === 'agent' ? 0.01 : 0));
        busiest = Math.max(busiest, u);
      }
    }
    expect(busiest).toBeGreaterThan(0.85); // the scenario does fill datacenters
    expect(r.totals.refused.NO_CAPACITY_IN_FENCE ?? 0).toBeGreaterThan(0);
  });

  it('is deterministic per seed', () => {
    expect(JSON.stringify(simulate({ scenario: scenario('', 'agent'), manifests }))).toBe(JSON.stringify(simulate({ scenario: scenario('', 'agent'), manifests })));
    expect(JSON.stringify(run({ ...scenario('', 'agent'), seed: 12 }).totals)).not.toBe(JSON.stringify(run(scenario('', 'agent')).totals));
  });

  it('agrees between agent and fluid mode within 5 %', () => {
    const fluid = run(scenario());
    const agent = run(scenario('', 'agent'));
    const close = (a: number, b: number): void => {
      expect(Math.abs(a - b) / Math.max(a, b)).toBeLessThan(0.05);
    };
    close(agent.totals.joins, fluid.totals.joins);
    close(agent.totals.served, fluid.totals.served);
    close(agent.totals.servedSecondary, fluid.totals.servedSecondary);
    close(refusedTotal(agent), refusedTotal(fluid));
    close(agent.totals.reconnects, fluid.totals.reconnects);
  });

  it('holds the fences: nobody from North America lands in China, Chinese participants stay', () => {
    for (const mode of ['fluid', 'agent'] as const) {
      const r = run(scenario('', mode));
      expect(r.totals.violations).toBe(0);
      expect(r.incident.filter((row) => (row.country === 'CN') !== (row.jurisdiction === 'CN'))).toEqual([]);
    }
  });

  it('counts violations when a run does not enforce the fences (the counter can fail)', () => {
    const s = scenario('runs:\n  - { name: unfenced, enforceFences: false }\n  - { name: fenced, enforceFences: true }\n');
    const [unfenced, fenced] = simulate({ scenario: s, manifests }).runs;
    expect(unfenced?.totals.violations).toBeGreaterThan(0);
    expect(unfenced?.incident.some((row) => row.violation && row.country === 'US' && row.jurisdiction === 'CN')).toBe(true);
    expect(fenced?.totals.violations).toBe(0);
  });

  it('empties a datacenter during its outage and routes its participants again', () => {
    const r = run(scenario());
    const a = r.series.utilization.a ?? [];
    expect(Math.max(...a.slice(125, 235))).toBe(0);
    expect(Math.max(...a.slice(60, 119))).toBeGreaterThan(0);
    expect(r.totals.reconnects).toBeGreaterThan(0);
  });

  it('applies manifest changes at their time', () => {
    const r = run(scenario('changes:\n  - { at: 5h, manifest: without-b.yaml }\n'));
    const b = r.series.utilization.b ?? [];
    expect(Math.max(...b.slice(240, 299))).toBeGreaterThan(0);
    expect(Math.max(...b.slice(301))).toBe(0);
  });

  it('reports the capacity that would have refused no one', () => {
    const r = run(scenario());
    const na = r.shortfall.find((s) => s.zone === 'na');
    expect(na?.extraCapacityNeeded).toBeGreaterThan(0);
    // The refused peak, at maxUtilization 0.9 (± rounding).
    expect(Math.abs((na?.extraCapacityNeeded ?? 0) - (na?.peakRefusedConcurrent ?? 0) / 0.9)).toBeLessThanOrEqual(2);
  });

  it('names references to unknown datacenters and zones', () => {
    const s = scenario('');
    expect(scenarioReferenceProblems({ ...s, events: [{ at: 0, datacenter: 'mars', kind: 'outage' }], demand: [{ zone: 'atlantis', daily: 1, diurnal: [] }] }, manifests)).toHaveLength(2);
    expect(scenarioReferenceProblems(s, manifests)).toEqual([]);
  });
});

describe('simulate: cascade sample', () => {
  it('plans a sample of meetings every hour: 100 meetings of 4 at each of the 8 hours', () => {
    const r = run(scenario());
    expect(r.cascade.meetings).toBe(800);
    expect(r.cascade.participants).toBe(3200);
    expect(r.cascade.unreachable.pairs).toBe(800 * 4 * 3);
    expect(r.cascade.distanceKm.participants).toBeGreaterThan(0);
  });

  it("attributes relays to the manifest's fences, enforced or not", () => {
    const s = scenario('runs:\n  - { name: unfenced, enforceFences: false }\n  - { name: fenced, enforceFences: true }\n');
    const [unfenced, fenced] = simulate({ scenario: s, manifests }).runs;
    // Fenced: Chinese streams never leave China, nobody else's enter it; those pairs are FENCE.
    expect(fenced?.cascade.relayHops.byFence['china-stays-in-china']).toBe(0);
    expect(fenced?.cascade.relayHops.byFence['nobody-else-into-china']).toBeGreaterThan(0);
    expect(fenced?.cascade.unreachable.byReason.FENCE).toBeGreaterThan(0);
    expect(fenced?.cascade.relayHops.byPair.some((p) => (p.from === 'cn') !== (p.to === 'cn'))).toBe(false);
    // Unfenced: the same sample relays Chinese media abroad, and every pair talks (when routed).
    expect(unfenced?.cascade.relayHops.byFence['china-stays-in-china']).toBeGreaterThan(0);
    expect(unfenced?.cascade.unreachable.byReason.FENCE).toBeUndefined();
  });

  it('plans on the live state of the step: a datacenter down all run carries no relay', () => {
    const up = run(scenario());
    expect(up.cascade.relayHops.byPair.some((p) => p.from === 'a' || p.to === 'a')).toBe(true);
    const down = run(scenario('  - { at: 0, datacenter: a, kind: outage }\n'));
    expect(down.cascade.relayHops.byPair.some((p) => p.from === 'a' || p.to === 'a')).toBe(false);
  });

  it('draws meetings from their own random stream and changes nothing else in the result', () => {
    const s = scenario('', 'agent');
    const [none] = simulate({ scenario: s, manifests, meetingSample: { ...MEETING_SAMPLE, perSample: 0 } }).runs;
    const [some] = simulate({ scenario: s, manifests }).runs;
    expect(none?.cascade.meetings).toBe(0);
    expect(some?.cascade.meetings).toBeGreaterThan(0);
    expect(JSON.stringify({ ...some, cascade: undefined })).toBe(JSON.stringify({ ...none, cascade: undefined }));
  });
});
