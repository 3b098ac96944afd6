/**
 * `npm run bench -- simulate`: the simulator's speed, in two parts.
 *
 * (a) Fluid mode: examples/scenarios/world-day.yaml (a 24-hour day at 300 M
 *     daily participants over every zone of examples/world.yaml, 1-minute
 *     steps), wall time of `simulate()` on one thread (goal: ≤ 60 s) and the
 *     decisions it made. Median of 3 runs (1 quick; the first run is also the
 *     JIT's warm-up).
 * (b) Agent mode: an inline scenario (3 countries on examples/world.yaml,
 *     2 hours, flat demand of ~100,000 joins, every join an event), joins per
 *     second, and the ratio of the simulator's total time to the time spent
 *     inside the decider (`simulate({ …, clock })` reports `deciderMs`):
 *
 *       simulatorToDeciderRatio = wall ms / deciderMs     (1 = all decider)
 *
 *     One untimed warm-up run, then the median of 5 runs (3 quick).
 * (c) The console's what-if (src/broker/console/what-if.ts) on world.yaml
 *     with eu-central down and Europe's demand tripled: ms per answer (it
 *     runs on the broker's event loop), against the decider's pass over
 *     every country alone, which is what the what-if did before it ran the
 *     simulator (whatIfToDeciderPassRatio). The forecast steady state is
 *     cached per manifest, as in the broker. Median of 15 (5 quick), after 3.
 *
 * Inputs (scenario and manifest parsing) are built before timing.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseManifest } from '../src/core/manifest/parse.js';
import type { Manifest } from '../src/core/manifest/types.js';
import type { RunResult } from '../src/sim/result.js';
import { parseScenario, type Scenario } from '../src/sim/scenario.js';
import { scenarioReferenceProblems, simulate } from '../src/sim/simulate.js';
import { firstChoices, whatIf } from '../src/broker/console/what-if.js';
import type { BenchOptions } from './harness.js';

const WORLD_DAY = new URL('../examples/scenarios/world-day.yaml', import.meta.url);

/** The agent-mode scenario: 1.2 M a day on a flat curve is 100,000 joins in 2 hours. */
const AGENT_SCENARIO = `version: 1
name: Agent-mode benchmark
description: Three countries in three zones, every join an event.
manifest: world.yaml
mode: agent
seed: 42
duration: 2h
step: 1m
sessionMinutes: 40
demand:
  - { countries: { US: 0.5, DE: 0.3, JP: 0.2 }, daily: 1200000, diurnal: flat }
`;

export function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const world = loadManifest(fileURLToPath(new URL('../examples/world.yaml', import.meta.url)));

  // (a) Fluid: the world day.
  const worldDay = loadScenario(readFileSync(WORLD_DAY, 'utf8'), 'world-day.yaml');
  const worldManifests = new Map([[worldDay.manifest, loadManifest(fileURLToPath(new URL(worldDay.manifest, WORLD_DAY)))]]);
  checkReferences(worldDay, worldManifests);
  opts.log(`fluid: ${worldDay.name}, ${worldDay.duration / 60} h in ${worldDay.step}-minute steps, ${worldDay.demand.length} demand entries`);
  const fluidRuns = opts.quick ? 1 : 3;
  const fluid: Timed[] = [];
  for (let i = 0; i < fluidRuns; i++) {
    const t = timeSimulate(worldDay, worldManifests);
    fluid.push(t);
    opts.log(`fluid run ${i + 1}/${fluidRuns}: ${(t.ms / 1000).toFixed(2)} s, ${t.run.decisions} decisions, ${(t.deciderMs / 1000).toFixed(2)} s in the decider, ${t.run.totals.joins.toExponential(3)} joins`);
  }
  const fluidMs = opts.median(fluid.map((t) => t.ms));
  const fluidRun = fluid[0]?.run;
  if (!fluidRun) throw new Error('no fluid run');

  // (b) Agent: every join an event.
  const agent = loadScenario(AGENT_SCENARIO, 'agent-bench.yaml');
  const agentManifests = new Map([[agent.manifest, world]]);
  checkReferences(agent, agentManifests);
  const warm = timeSimulate(agent, agentManifests);
  opts.log(`agent warm-up: ${warm.run.totals.joins} joins in ${(warm.ms / 1000).toFixed(2)} s`);
  const agentRuns = opts.quick ? 3 : 5;
  const agentTimes: Timed[] = [];
  for (let i = 0; i < agentRuns; i++) {
    const t = timeSimulate(agent, agentManifests);
    agentTimes.push(t);
    opts.log(`agent run ${i + 1}/${agentRuns}: ${t.run.totals.joins} joins, ${t.run.decisions} decisions in ${(t.ms / 1000).toFixed(2)} s, ${(t.deciderMs / 1000).toFixed(2)} s in the decider`);
  }
  const joins = agentTimes[0]?.run.totals.joins ?? 0;
  const agentMs = opts.median(agentTimes.map((t) => t.ms));

  // (c) The console's what-if, against the decider's pass alone; interleaved, so that both see the same machine.
  const europe = (world.zones.find((z) => z.id === 'europe')?.demand ?? 0) * 3;
  const whatIfTimes: number[] = [];
  const passTimes: number[] = [];
  const rounds = opts.quick ? 5 : 15;
  for (let i = -3; i < rounds; i++) {
    const a = performance.now();
    // A new demand each round: nothing of the what-if's own answer is cached.
    whatIf(world, { down: 'eu-central', demand: `europe:${europe + i + 3}` });
    const b = performance.now();
    firstChoices(world, ['eu-central']);
    const c = performance.now();
    if (i < 0) continue;
    whatIfTimes.push(b - a);
    passTimes.push(c - b);
  }
  const whatIfMs = opts.median(whatIfTimes);
  const passMs = opts.median(passTimes);
  opts.log(`what-if: ${whatIfMs.toFixed(1)} ms per answer, the decider's pass ${passMs.toFixed(1)} ms`);
  return Promise.resolve({
    whatIfMs,
    whatIfDeciderPassMs: passMs,
    whatIfToDeciderPassRatio: whatIfMs / passMs,
    fluidWorldDaySeconds: fluidMs / 1000,
    fluidDecisions: fluidRun.decisions,
    fluidSimulatorToDeciderRatio: opts.median(fluid.map((t) => t.ms / t.deciderMs)),
    fluidJoins: fluidRun.totals.joins,
    agentJoinsPerSec: (joins * 1000) / agentMs,
    simulatorToDeciderRatio: opts.median(agentTimes.map((t) => t.ms / t.deciderMs)),
    agentJoins: joins,
    agentDecisions: agentTimes[0]?.run.decisions ?? 0,
    agentSeconds: agentMs / 1000,
    agentDeciderUsPerDecision: opts.median(agentTimes.map((t) => (t.deciderMs * 1000) / t.run.decisions)),
  });
}

interface Timed {
  readonly ms: number;
  readonly deciderMs: number;
  readonly run: RunResult;
}

function timeSimulate(scenario: Scenario, manifests: ReadonlyMap<string, Manifest>): Timed {
  const start = performance.now();
  const result = simulate({ scenario, manifests, clock: () => performance.now() });
  const ms = performance.now() - start;
  const run = result.runs[0];
  if (!run || result.runs.length !== 1) throw new Error(`${scenario.name}: expected one run, got ${result.runs.length}`);
  return { ms, deciderMs: run.deciderMs ?? Number.NaN, run };
}

function loadScenario(text: string, file: string): Scenario {
  const parsed = parseScenario(text, file);
  if (!parsed.scenario) throw new Error(`${file} does not parse: ${parsed.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`).join('; ')}`);
  return parsed.scenario;
}

function loadManifest(path: string): Manifest {
  const parsed = parseManifest(readFileSync(path, 'utf8'), path);
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
  if (!parsed.manifest || errors.length > 0) throw new Error(`${path} does not parse: ${errors.map((d) => `${d.line}:${d.column} ${d.message}`).join('; ')}`);
  return parsed.manifest;
}

function checkReferences(scenario: Scenario, manifests: ReadonlyMap<string, Manifest>): void {
  const problems = scenarioReferenceProblems(scenario, manifests);
  if (problems.length > 0) throw new Error(`${scenario.name}: ${problems.join(' ')}`);
}
