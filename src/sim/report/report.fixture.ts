/**
 * A small hand-made SimulationResult for the report's tests and screenshots:
 * two runs (fences not enforced vs geobridge), 48 half-hour steps, four
 * datacenters — one with a hostile id, to prove the report escapes it.
 */
import type { Flow, IncidentRow, RunResult, SimulationResult, StepSeries } from '../result.js';

export const HOSTILE_ID = '<script>alert(1)</script>';
const STEPS = 48;
const STEP_MINUTES = 30;
const MAX_UTIL = 0.85;

const DCS = [
  { id: 'fra-1', jurisdiction: 'DE', lat: 50.11, lon: 8.68, capacity: 3000 },
  { id: 'iad-1', jurisdiction: 'US', lat: 38.95, lon: -77.45, capacity: 5000 },
  { id: 'sin-1', jurisdiction: 'SG', lat: 1.35, lon: 103.82, capacity: 2000 },
  { id: HOSTILE_ID, jurisdiction: 'IE', lat: 53.35, lon: -6.26, capacity: 1500 },
] as const;

/** A smooth daily curve with an evening spike, deterministic. */
function demandAt(i: number): number {
  const day = Math.sin(((i - 12) / STEPS) * 2 * Math.PI);
  const spike = i >= 30 && i <= 34 ? 900 * (1 - Math.abs(i - 32) / 3) : 0;
  return Math.round(900 + 600 * day + spike);
}

/** fra-1 is down for steps 20–27 (an outage). */
function fraUp(i: number): boolean {
  return i < 20 || i >= 28;
}

function run(enforce: boolean): RunResult {
  const t: number[] = [];
  const arrivals: number[] = [];
  const served: number[] = [];
  const primary: number[] = [];
  const secondary: number[] = [];
  const refused: number[] = [];
  const violations: number[] = [];
  const outOfZone: number[] = [];
  const concurrent: number[] = [];
  const capacity: number[] = [];
  const util: Record<string, number[]> = Object.fromEntries(DCS.map((d) => [d.id, [] as number[]]));
  for (let i = 0; i < STEPS; i++) {
    const want = demandAt(i);
    const cap = DCS.reduce((sum, d) => sum + (d.id === 'fra-1' && !fraUp(i) ? 0 : d.capacity * MAX_UTIL), 0);
    const conc = Math.round(want * 4.2);
    // With fences, Europe cannot spill to iad-1 during the outage: some are refused.
    const lost = enforce && !fraUp(i) ? Math.round(want * 0.18) : enforce && i >= 31 && i <= 33 ? Math.round(want * 0.06) : 0;
    const ok = want - lost;
    const backup = !fraUp(i) ? Math.round(ok * 0.35) : Math.round(ok * 0.04);
    t.push(i * STEP_MINUTES);
    arrivals.push(want);
    served.push(ok);
    primary.push(ok - backup);
    secondary.push(backup);
    refused.push(lost);
    violations.push(!enforce && !fraUp(i) ? Math.round(ok * 0.21) : 0);
    outOfZone.push(!fraUp(i) ? Math.round(ok * (enforce ? 0.1 : 0.24)) : Math.round(ok * 0.02));
    concurrent.push(Math.min(conc - lost * 4, cap));
    capacity.push(cap);
    const load = Math.min(conc - lost * 4, cap);
    const shares = fraUp(i) ? [0.34, 0.4, 0.14, 0.12] : [0, 0.55 + (enforce ? 0 : 0.1), 0.15, enforce ? 0.3 : 0.2];
    for (const [k, d] of DCS.entries()) {
      util[d.id]?.push(d.id === 'fra-1' && !fraUp(i) ? 0 : Math.round(((load * (shares[k] ?? 0)) / d.capacity) * 1000) / 1000);
    }
  }
  const series: StepSeries = { t, arrivals, served, servedPrimary: primary, servedSecondary: secondary, refused, violations, outOfZone, concurrent, capacity, utilization: util };
  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
  const flows: Flow[] = [
    { country: 'DE', datacenter: 'fra-1', participants: 8200, violation: false },
    { country: 'FR', datacenter: 'fra-1', participants: 5100, violation: false },
    { country: 'GB', datacenter: HOSTILE_ID, participants: 3900, violation: false },
    { country: 'DE', datacenter: HOSTILE_ID, participants: enforce ? 2600 : 900, violation: false },
    { country: 'US', datacenter: 'iad-1', participants: 14800, violation: false },
    { country: 'CA', datacenter: 'iad-1', participants: 2300, violation: false },
    { country: 'BR', datacenter: 'iad-1', participants: 2100, violation: false },
    { country: 'MX', datacenter: 'iad-1', participants: 1200, violation: false },
    { country: 'SG', datacenter: 'sin-1', participants: 3100, violation: false },
    { country: 'IN', datacenter: 'sin-1', participants: 4400, violation: false },
    { country: 'JP', datacenter: 'sin-1', participants: 2000, violation: false },
    { country: 'AU', datacenter: 'sin-1', participants: 1700, violation: false },
    ...(enforce
      ? []
      : [
          { country: 'DE', datacenter: 'iad-1', participants: 2300, violation: true },
          { country: 'FR', datacenter: 'iad-1', participants: 1400, violation: true },
        ]),
  ];
  const incident: IncidentRow[] = flows.map((f) => ({
    country: f.country,
    jurisdiction: DCS.find((d) => d.id === f.datacenter)?.jurisdiction ?? '??',
    participants: f.participants,
    violation: f.violation,
  }));
  const peak = (id: string): number => Math.max(...(util[id] ?? [0]));
  return {
    name: enforce ? 'geobridge' : 'fences not enforced',
    enforceFences: enforce,
    maxUtilization: 0.85,
    totals: {
      joins: sum(arrivals),
      served: sum(served),
      servedPrimary: sum(primary),
      servedSecondary: sum(secondary),
      outOfZone: sum(outOfZone),
      violations: sum(violations),
      reconnects: enforce ? 310 : 240,
      refused: enforce ? { NO_CAPACITY_IN_FENCE: Math.round(sum(refused) * 0.9), ATTEMPTS_EXHAUSTED: sum(refused) - Math.round(sum(refused) * 0.9) } : {},
    },
    series,
    rttMs: { bounds: [10, 20, 50, 100, 150, 200, 300, 500], counts: enforce ? [900, 5200, 14100, 9800, 4200, 1900, 700, 150, 20] : [900, 5000, 12800, 8600, 5100, 3300, 1700, 400, 40] },
    connectMs: { bounds: [100, 200, 400, 800, 1500, 3000, 6000], counts: enforce ? [8200, 17400, 8600, 2900, 900, 600, 300, 40] : [8600, 18100, 9200, 3100, 800, 700, 150, 10] },
    incident,
    flows,
    refusals: enforce
      ? [
          { country: 'DE', code: 'NO_CAPACITY_IN_FENCE', participants: Math.round(sum(refused) * 0.9) },
          { country: 'US', code: 'ATTEMPTS_EXHAUSTED', participants: sum(refused) - Math.round(sum(refused) * 0.9) },
        ]
      : [],
    datacenters: DCS.map((d) => ({ ...d, peakUtilization: peak(d.id) })),
    shortfall: enforce ? [{ zone: 'europe', peakRefusedConcurrent: 1240, extraCapacityNeeded: 1240 / MAX_UTIL }] : [],
    decisions: sum(arrivals) + (enforce ? 3120 : 0),
    cascade: {
      sample: { size: 4, everyMinutes: 60, perSample: 100, localShare: 0.5 },
      meetings: 2400,
      participants: 9600,
      distanceKm: { cascade: 812.4, home: enforce ? 2210.9 : 2630.2, participants: enforce ? 9120 : 9600 },
      distanceRatio: enforce ? 0.367 : 0.309,
      relayHops: {
        total: enforce ? 3900 : 4700,
        byFence: { 'eea-stays-in-eea': enforce ? 1500 : 2300, 'nobody-else-into-china': 3900 },
        byPair: [
          { from: 'fra-1', to: 'iad-1', hops: enforce ? 1400 : 2200 },
          { from: 'iad-1', to: 'fra-1', hops: 1300 },
          { from: HOSTILE_ID, to: 'sin-1', hops: 1200 },
        ],
      },
      unreachable: { pairs: 28800, byReason: enforce ? { FENCE: 640, RECEIVER_UNROUTED: 90, SENDER_UNROUTED: 90 } : {} },
      unrouted: { cascade: enforce ? { NO_CAPACITY_IN_FENCE: 30 } : {}, home: enforce ? { FENCE_CONFLICT: 480 } : {} },
    },
  };
}

/** The fixture: same bytes every call. */
export function fixtureResult(): SimulationResult {
  return {
    scenario: {
      name: 'EU outage on a Monday',
      description: 'fra-1 fails at 10:00 for four hours during the European peak.\nDoes Europe stay in Europe?',
      mode: 'fluid',
      seed: 42,
      durationMinutes: STEPS * STEP_MINUTES,
      stepMinutes: STEP_MINUTES,
      manifest: `version: 1\ndatacenters:\n  - id: "${HOSTILE_ID}"\n    jurisdiction: IE\n`,
    },
    runs: [run(false), run(true)],
  };
}
