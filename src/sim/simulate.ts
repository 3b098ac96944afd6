/**
 * The simulation engine. Each step: datacenter events apply, sessions end,
 * demand arrives per country, and every group of joins is routed by the
 * core's `selectDatacenters` — never a copy of its logic. Clients follow the
 * decision (attempts per primary with the timeout, then the secondaries),
 * congestion makes attempts fail, and a datacenter that fills up mid-step
 * sends the rest back to the decider.
 *
 * Two modes share this loop. Fluid: a cohort is a real-valued amount split by
 * expected outcomes (world-scale days). Agent: every join is an event with
 * sampled outcomes (small scenarios, exact traces).
 *
 * Every hour a sample of meetings is also planned as a cascade and in one
 * home (cascade.ts), on the live state of that step.
 */
import { estimateRttMs, greatCircleKm } from '../core/geo/distance.js';
import { countryPoint } from '../core/geo/countries.js';
import type { Datacenter, Manifest } from '../core/manifest/types.js';
import { compilePolicy, type CompiledPolicy } from '../core/policy/compile.js';
import { isRefusal, selectDatacenters, type LiveState } from '../core/select/select.js';
import { CascadeTally } from './cascade.js';
import { arrivalRate, expandDemand } from './demand.js';
import { drawMeetings, MEETING_SAMPLE, type MeetingSample } from './meetings.js';
import { RunMetrics } from './metrics.js';
import { binomial, poisson, seededRandom, shuffle } from './random.js';
import type { CapacityShortfall, RunResult, SimulationResult } from './result.js';
import type { ManifestChange, RunSpec, Scenario } from './scenario.js';

/** What the engine needs; manifests are loaded by the caller, keyed by the path written in the scenario. */
export interface SimulateInput {
  readonly scenario: Scenario;
  readonly manifests: ReadonlyMap<string, Manifest>;
  /** Called every few steps with the run's progress. */
  readonly onProgress?: (run: string, step: number, steps: number) => void;
  /** A clock in ms; when given, each run reports the time spent inside the decider. */
  readonly clock?: () => number;
  /** How meetings are sampled for the cascade figures (default MEETING_SAMPLE). */
  readonly meetingSample?: MeetingSample;
}

/** Names the scenario entries that refer to datacenters or zones no manifest defines. */
export function scenarioReferenceProblems(scenario: Scenario, manifests: ReadonlyMap<string, Manifest>): string[] {
  const all = [...manifests.values()];
  const problems: string[] = [];
  scenario.events.forEach((e, i) => {
    if (!all.some((m) => m.datacenters.some((d) => d.id === e.datacenter))) problems.push(`events[${i}].datacenter: '${e.datacenter}' is not a datacenter of the scenario's manifests.`);
  });
  scenario.demand.forEach((d, i) => {
    if (d.zone !== undefined && !all.some((m) => m.zones.some((z) => z.id === d.zone))) problems.push(`demand[${i}].zone: '${d.zone}' is not a zone of the scenario's manifests.`);
  });
  return problems;
}

/** Joins an agent-mode run may sample (about three minutes at the `simulate` benchmark's 283,000 joins/s); fluid mode has no such bound. */
export const AGENT_JOINS_MAX = 50_000_000;

/** Why agent mode would not finish in reasonable time: its base demand asks for more joins per run than AGENT_JOINS_MAX (growth and spikes come on top). */
export function agentModeProblem(scenario: Scenario): string | undefined {
  if (scenario.mode !== 'agent') return undefined;
  const joins = (scenario.demand.reduce((sum, d) => sum + d.daily, 0) * scenario.duration) / (24 * 60);
  if (joins <= AGENT_JOINS_MAX) return undefined;
  return `agent mode samples every join, and this scenario's demand asks for about ${Math.round(joins).toLocaleString('en-US')} joins per run (the demand's daily sum × duration), more than ${AGENT_JOINS_MAX.toLocaleString('en-US')}: use mode: fluid (or --mode fluid), or less demand or a shorter duration.`;
}

/** Amounts below this are rounding noise in fluid mode. */
const EPSILON = 1e-9;
/** A connection takes about three round trips (ICE check, DTLS, signalling) once an attempt succeeds. */
const HANDSHAKE_RTTS = 3;

/** Runs every run of a scenario. */
export function simulate(input: SimulateInput): SimulationResult {
  const { scenario } = input;
  return {
    scenario: {
      name: scenario.name,
      description: scenario.description,
      mode: scenario.mode,
      seed: scenario.seed,
      durationMinutes: scenario.duration,
      stepMinutes: scenario.step,
      manifest: scenario.runs[0]?.manifest ?? scenario.manifest,
    },
    runs: scenario.runs.map((spec, i) => runOnce(input, spec, i)),
  };
}

/** The manifest in force: what the decider sees, and what violations are measured against. */
interface Policy {
  readonly reference: Manifest;
  readonly decider: Manifest;
  readonly compiled: CompiledPolicy;
}

function policyFor(manifest: Manifest, enforce: boolean): Policy {
  // A run that replays an unfenced system gives the decider the same lists without fences.
  return { reference: manifest, decider: enforce ? manifest : { ...manifest, fences: [] }, compiled: compilePolicy(manifest) };
}

function lookup(manifests: ReadonlyMap<string, Manifest>, path: string): Manifest {
  const m = manifests.get(path);
  if (!m) throw new Error(`simulate: manifest '${path}' was not loaded`);
  return m;
}

/** Live numbers of one datacenter. */
interface DcState {
  readonly dc: Datacenter;
  capacityFactor: number;
  failProbability: number;
  down: boolean;
  /** Connected participants by country. */
  readonly load: Map<string, number>;
  total: number;
}

function runOnce(input: SimulateInput, spec: RunSpec, index: number): RunResult {
  const { scenario, manifests, clock } = input;
  const agent = scenario.mode === 'agent';
  const random = seededRandom((scenario.seed + index * 0x9e3779b1) >>> 0);
  const changes: readonly ManifestChange[] = [...(spec.changes ?? scenario.changes)].sort((a, b) => a.at - b.at);
  let policy = policyFor(lookup(manifests, spec.manifest ?? scenario.manifest), spec.enforceFences);
  const allManifests = [policy.reference, ...changes.map((c) => lookup(manifests, c.manifest))];
  const dcs = new Map<string, DcState>();
  for (const m of allManifests) for (const dc of m.datacenters) if (!dcs.has(dc.id)) dcs.set(dc.id, { dc, capacityFactor: 1, failProbability: 0, down: false, load: new Map(), total: 0 });
  const steps = Math.max(1, Math.ceil(scenario.duration / scenario.step));
  const warmupSteps = Math.min(steps - 1, Math.ceil(scenario.warmup / scenario.step));
  // The warm-up's observations go to metrics of their own, dropped when counting starts.
  const warmupMetrics = new RunMetrics(warmupSteps, [...dcs.keys()]);
  let metrics = warmupSteps > 0 ? warmupMetrics : new RunMetrics(steps, [...dcs.keys()]);
  const stay = Math.exp(-scenario.step / scenario.sessionMinutes);
  const refusedConcurrent = new Map<string, number>();
  const peakRefused = new Map<string, number>();
  const utilization = new Map<string, number>();
  let cohorts = expandDemand(scenario, policy.compiled);
  let nextChange = 0;
  let deciderMs = 0;
  let reconnecting: [string, number][] = [];
  // The meeting sample draws from its own stream, so adding it left every other figure as it was.
  const meetingRandom = seededRandom(((scenario.seed + index * 0x9e3779b1) ^ 0x5bd1e995) >>> 0);
  const sample = input.meetingSample ?? MEETING_SAMPLE;
  const cascade = new CascadeTally(sample);
  let nextSample = 0;
  cascade.knowFences(policy.reference);

  const capacityOf = (s: DcState): number => s.dc.capacity * s.capacityFactor;
  const refreshUtilization = (s: DcState): void => {
    const cap = capacityOf(s);
    utilization.set(s.dc.id, cap > 0 ? s.total / cap : s.total > 0 ? Infinity : 1);
  };
  const addLoad = (s: DcState, country: string, amount: number): void => {
    s.load.set(country, (s.load.get(country) ?? 0) + amount);
    s.total += amount;
    refreshUtilization(s);
  };
  /** Drops everyone on an unavailable datacenter; they come back through the decider next step. */
  const evacuate = (s: DcState, keep: number): void => {
    if (s.total <= keep + EPSILON) return;
    const share = (s.total - keep) / s.total;
    for (const [country, n] of s.load) {
      const moved = agent ? Math.round(n * share) : n * share;
      if (moved <= 0) continue;
      reconnecting.push([country, moved]);
      s.load.set(country, n - moved);
      s.total -= moved;
    }
    refreshUtilization(s);
  };

  const decide = (country: string, live: LiveState) => {
    metrics.decisions++;
    if (!clock) return selectDatacenters(policy.decider, { country }, live);
    const start = clock();
    const result = selectDatacenters(policy.decider, { country }, live);
    deciderMs += clock() - start;
    return result;
  };

  /** Routes `amount` joins (or reconnections) from `country`; fluid splits, agent samples. */
  const join = (country: string, amount: number, live: LiveState): void => {
    const zone = policy.compiled.zoneFor(country);
    const zoneCountries = zone ? policy.compiled.countriesOf(zone) : new Set<string>();
    const fenceAllowed = policy.compiled.fenceAllowed(country);
    const from = countryPoint(country) ?? { lat: 0, lon: 0 };
    const { primaryAttempts, attemptTimeoutMs, maxUtilization } = policy.decider.selection;
    let remaining = amount;
    let carriedMs = 0;
    for (let round = 0; remaining > EPSILON && round <= dcs.size; round++) {
      const result = decide(country, live);
      if (isRefusal(result)) {
        refuse(country, result.error.code, remaining, zone?.id);
        return;
      }
      let reach = remaining;
      let overflow = 0;
      let overflowMs = 0;
      let failed = 0;
      for (const c of result.candidates) {
        const s = dcs.get(c.datacenter);
        if (!s) continue;
        const attempts = c.role === 'primary' ? primaryAttempts : 1;
        const rtt = estimateRttMs(greatCircleKm(from, s.dc.location));
        for (let k = 0; k < attempts && reach > EPSILON; k++, failed++) {
          const ok = agent ? (random() >= s.failProbability ? reach : 0) : reach * (1 - s.failProbability);
          reach -= ok;
          if (ok <= EPSILON) continue;
          const headroom = Math.max(0, capacityOf(s) * maxUtilization - s.total);
          const admitted = agent ? (headroom >= 1 ? ok : 0) : Math.min(ok, headroom);
          const connectMs = carriedMs + failed * attemptTimeoutMs + HANDSHAKE_RTTS * rtt;
          if (admitted > EPSILON) {
            addLoad(s, country, admitted);
            metrics.served({
              country,
              datacenter: s.dc.id,
              jurisdiction: s.dc.jurisdiction,
              primary: c.role === 'primary',
              amount: admitted,
              rttMs: rtt,
              connectMs,
              violation: !fenceAllowed.has(s.dc.jurisdiction),
              outOfZone: !zoneCountries.has(s.dc.jurisdiction),
            });
          }
          // Those who found it full go back to the decider, which now sees it full.
          overflowMs += (ok - admitted) * (connectMs + rtt);
          overflow += ok - admitted;
        }
        if (reach <= EPSILON) break;
      }
      if (reach > EPSILON) refuse(country, 'ATTEMPTS_EXHAUSTED', reach, zone?.id);
      carriedMs = overflow > EPSILON ? overflowMs / overflow : 0;
      remaining = overflow;
    }
    if (remaining > EPSILON) refuse(country, 'NO_CAPACITY_IN_FENCE', remaining, zone?.id);
  };

  const refuse = (country: string, code: string, amount: number, zone: string | undefined): void => {
    metrics.refused(country, code, amount);
    if (code === 'NO_CAPACITY_IN_FENCE' && zone) refusedConcurrent.set(zone, (refusedConcurrent.get(zone) ?? 0) + amount);
  };

  for (let stepIndex = 0; stepIndex < steps; stepIndex++) {
    const t = stepIndex * scenario.step;
    if (stepIndex === warmupSteps && warmupSteps > 0) {
      metrics = new RunMetrics(steps - warmupSteps, [...dcs.keys()]);
      peakRefused.clear();
    }
    metrics.beginStep(stepIndex - (metrics === warmupMetrics ? 0 : warmupSteps), t);
    while (nextChange < changes.length && (changes[nextChange]?.at ?? Infinity) <= t) {
      policy = policyFor(lookup(manifests, changes[nextChange]?.manifest ?? ''), spec.enforceFences);
      cohorts = expandDemand(scenario, policy.compiled);
      cascade.knowFences(policy.reference);
      nextChange++;
    }
    // Sessions end (exponential lengths): the expected share in fluid mode, each participant sampled in agent mode.
    for (const s of dcs.values()) {
      s.total = 0;
      for (const [country, n] of s.load) {
        const left = agent ? n - binomial(random, n, 1 - stay) : n * stay;
        s.load.set(country, left);
        s.total += left;
      }
    }
    for (const [zone, n] of refusedConcurrent) refusedConcurrent.set(zone, n * stay);

    applyEvents(scenario, t, dcs, policy.reference);
    const down = new Set<string>();
    for (const s of dcs.values()) {
      if (s.down) {
        down.add(s.dc.id);
        evacuate(s, 0);
      } else {
        evacuate(s, capacityOf(s));
      }
      refreshUtilization(s);
    }
    const live: LiveState = { down, utilization };

    const queue = reconnecting;
    reconnecting = [];
    for (const [country, n] of queue) {
      metrics.reconnects += n;
      if (agent) for (let i = 0; i < n; i++) join(country, 1, live);
      else join(country, n, live);
    }
    for (const cohort of shuffle(random, [...cohorts])) {
      const expected = arrivalRate(scenario, cohort, t) * scenario.step;
      const n = agent ? poisson(random, expected) : expected;
      if (n <= 0) continue;
      metrics.arrivals(n);
      if (agent) for (let i = 0; i < n; i++) join(cohort.country, 1, live);
      else join(cohort.country, n, live);
    }

    if (t >= nextSample && metrics !== warmupMetrics) {
      // Meetings of the demand of this minute, planned on the live state the step's joins left.
      const weights = cohorts.map((c) => ({ country: c.country, weight: arrivalRate(scenario, c, t) }));
      for (const meeting of drawMeetings(meetingRandom, weights, sample)) cascade.add(policy.compiled, policy.decider, meeting, live);
      nextSample = (Math.floor(t / sample.everyMinutes) + 1) * sample.everyMinutes;
    }
    for (const [zone, n] of refusedConcurrent) if (n > (peakRefused.get(zone) ?? 0)) peakRefused.set(zone, n);
    let concurrent = 0;
    let usable = 0;
    const inForce = new Set(policy.reference.datacenters.map((d) => d.id));
    for (const s of dcs.values()) {
      concurrent += s.total;
      if (!s.down && inForce.has(s.dc.id)) usable += capacityOf(s) * policy.reference.selection.maxUtilization;
    }
    metrics.endStep(concurrent, usable, utilization);
    if (input.onProgress && (stepIndex % 60 === 0 || stepIndex === steps - 1)) input.onProgress(spec.name, stepIndex + 1, steps);
  }

  const shortfall: CapacityShortfall[] = [...peakRefused]
    .filter(([, n]) => n >= 0.5)
    .map(([zone, n]) => ({ zone, peakRefusedConcurrent: Math.round(n), extraCapacityNeeded: Math.ceil(n / policy.reference.selection.maxUtilization) }))
    .sort((a, b) => b.extraCapacityNeeded - a.extraCapacityNeeded || (a.zone < b.zone ? -1 : 1));
  return {
    name: spec.name,
    enforceFences: spec.enforceFences,
    maxUtilization: policy.reference.selection.maxUtilization,
    totals: metrics.totals(),
    series: metrics.series(),
    rttMs: metrics.rttMs(),
    connectMs: metrics.connectMs(),
    incident: metrics.incident(),
    flows: metrics.flows(),
    refusals: metrics.refusals(),
    datacenters: [...dcs.values()].map((s) => ({
      id: s.dc.id,
      jurisdiction: s.dc.jurisdiction,
      lat: s.dc.location.lat,
      lon: s.dc.location.lon,
      capacity: s.dc.capacity,
      peakUtilization: metrics.peakUtilization(s.dc.id),
    })),
    shortfall,
    decisions: metrics.decisions + (metrics === warmupMetrics ? 0 : warmupMetrics.decisions),
    ...(clock ? { deciderMs } : {}),
    cascade: cascade.figures(),
  };
}

/** Sets each datacenter's state from the events active at minute `t`; a datacenter missing from the manifest in force is down. */
function applyEvents(scenario: Scenario, t: number, dcs: ReadonlyMap<string, DcState>, manifest: Manifest): void {
  const present = new Set(manifest.datacenters.map((d) => d.id));
  for (const s of dcs.values()) {
    s.down = !present.has(s.dc.id);
    s.capacityFactor = 1;
    s.failProbability = 0;
  }
  for (const e of scenario.events) {
    const s = dcs.get(e.datacenter);
    if (!s || t < e.at || (e.duration !== undefined && t >= e.at + e.duration)) continue;
    if (e.kind === 'outage') s.down = true;
    else if (e.kind === 'degraded') s.capacityFactor = Math.min(s.capacityFactor, e.capacityFactor ?? 1);
    else s.failProbability = Math.max(s.failProbability, e.failProbability ?? 0);
  }
}

