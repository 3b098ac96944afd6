/**
 * A steady state on paper: the simulator on one manifest, with some
 * datacenters down and a number of participants wanting to be connected in
 * each zone, run until the datacenters have filled (the warm-up) and then
 * measured for a session's length. The console's what-if compares two: the
 * live demand with every datacenter up, and the operator's (docs/console.md).
 */
import type { Manifest } from '../core/manifest/types.js';
import { compareStrings } from '../core/order.js';
import { compilePolicy } from '../core/policy/compile.js';
import type { CapacityShortfall } from './result.js';
import { DIURNAL_PRESETS, type Scenario } from './scenario.js';
import { simulate } from './simulate.js';

/** Mean session, minutes: the simulator's default (docs/simulator.md). */
export const SESSION_MINUTES = 40;
/** Three sessions of warm-up: the load is within e⁻³ (5 %) of steady when measuring starts. */
export const WARMUP_MINUTES = 3 * SESSION_MINUTES;
/** One session measured after the warm-up; the load ends within e⁻⁴ (2 %) of steady. */
export const MEASURED_MINUTES = SESSION_MINUTES;
/** A tenth of a session: fine enough for the load to settle, coarse enough to answer in tens of milliseconds. */
const STEP_MINUTES = 4;

export interface SteadyStateSpec {
  /** Datacenters out for the whole run. */
  readonly down: readonly string[];
  /** Participants wanting to be connected at once, by zone id; the zone's countries share it equally, as in a scenario. */
  readonly demand: ReadonlyMap<string, number>;
}

/** A country some of whose participants were refused. */
export interface CountryRefusal {
  readonly country: string;
  /** The zone whose demand it is. */
  readonly zone: string;
  /** Its participants wanting to be connected at once. */
  readonly wanted: number;
  /** Share of its joins refused while measured, 0 … 1. */
  readonly share: number;
  /** The reason most of them got. */
  readonly code: string;
}

export interface SteadyState {
  /** The manifest's `selection.maxUtilization`: a datacenter at it is full. */
  readonly maxUtilization: number;
  /** Participants connected at each datacenter of the manifest at the end, with its capacity. */
  readonly datacenters: readonly { readonly datacenter: string; readonly capacity: number; readonly participants: number }[];
  /** Countries with refused joins, the largest share first. */
  readonly refused: readonly CountryRefusal[];
  /** Capacity each zone would need inside its fences so that nobody is refused. */
  readonly shortfall: readonly CapacityShortfall[];
}

/** Simulates `spec` on `manifest` (fluid, fences enforced) and reads its end state. */
export function steadyState(manifest: Manifest, spec: SteadyStateSpec): SteadyState {
  const scenario: Scenario = {
    version: 1,
    name: 'steady state',
    description: '',
    manifest: 'live',
    mode: 'fluid',
    seed: 1,
    duration: WARMUP_MINUTES + MEASURED_MINUTES,
    warmup: WARMUP_MINUTES,
    step: STEP_MINUTES,
    sessionMinutes: SESSION_MINUTES,
    demand: [...spec.demand].filter(([, n]) => n > 0).map(([zone, n]) => ({ zone, daily: dailyKeeping(n), diurnal: DIURNAL_PRESETS.flat ?? [] })),
    growth: [],
    spikes: [],
    events: spec.down.map((datacenter) => ({ at: 0, datacenter, kind: 'outage' as const })),
    changes: [],
    runs: [{ name: 'steady state', enforceFences: true }],
  };
  const run = simulate({ scenario, manifests: new Map([['live', manifest]]), meetingSample: { size: 2, everyMinutes: MEASURED_MINUTES, perSample: 0, localShare: 0 } }).runs[0];
  if (!run) throw new Error('steadyState: the simulator returned no run');
  const datacenters = manifest.datacenters.map((d) => ({
    datacenter: d.id,
    capacity: d.capacity,
    participants: Math.round((run.series.utilization[d.id]?.at(-1) ?? 0) * d.capacity),
  }));
  return { maxUtilization: manifest.selection.maxUtilization, datacenters, refused: countryRefusals(manifest, spec.demand, run.refusals, run.flows), shortfall: run.shortfall };
}

/**
 * Joins per day that keep `n` connected at once. Each step a share
 * e^(−step/session) of the connected stay (simulate.ts), so `n` holds when
 * each step brings n·(1 − e^(−step/session)) joins: Little's law, n/session
 * per minute, for the discrete steps (5 % more at this step otherwise).
 */
function dailyKeeping(n: number): number {
  return ((n * (1 - Math.exp(-STEP_MINUTES / SESSION_MINUTES))) / STEP_MINUTES) * 1440;
}

/** Refused ÷ (served + refused) per country, with the demand it had. */
function countryRefusals(
  manifest: Manifest,
  demand: ReadonlyMap<string, number>,
  refusals: readonly { country: string; code: string; participants: number }[],
  flows: readonly { country: string; participants: number }[],
): CountryRefusal[] {
  const policy = compilePolicy(manifest);
  const wanted = new Map<string, number>();
  for (const zone of manifest.zones) {
    const countries = policy.countriesOf(zone);
    for (const country of countries) wanted.set(country, (demand.get(zone.id) ?? 0) / countries.size);
  }
  const served = new Map<string, number>();
  for (const f of flows) served.set(f.country, (served.get(f.country) ?? 0) + f.participants);
  const byCountry = new Map<string, { refused: number; code: string; codeCount: number }>();
  for (const r of refusals) {
    const entry = byCountry.get(r.country) ?? { refused: 0, code: r.code, codeCount: 0 };
    entry.refused += r.participants;
    if (r.participants > entry.codeCount) Object.assign(entry, { code: r.code, codeCount: r.participants });
    byCountry.set(r.country, entry);
  }
  return [...byCountry]
    .map(([country, e]) => ({ country, zone: policy.zoneFor(country)?.id ?? '', wanted: Math.round(wanted.get(country) ?? 0), share: round3(e.refused / (e.refused + (served.get(country) ?? 0))), code: e.code }))
    .filter((r) => r.share > 0)
    .sort((a, b) => b.share - a.share || b.wanted - a.wanted || compareStrings(a.country, b.country));
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
