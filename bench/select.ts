/**
 * `npm run bench -- select`: decisions per second of the decider's hot path
 * (`selectRoute`, what the broker answers) on examples/world.yaml (20
 * datacenters) and on a generated manifest (1,000 datacenters, seed 1), with
 * the cost of one decision as ratios measured in the same run, on the same
 * request stream with the same loop shape:
 *
 *   generatedVsWorldRatio = nsPerDecision / worldNsPerDecision   (goal ≤ 2: the
 *                           hot path grows with the zone's lists, not the manifest)
 *   decisionVsLookupRatio = nsPerDecision / nsPerLookup          (a Map.get of the
 *                           precomputed answer for the same input)
 *
 * `explainedNsPerDecision` is the explained decision (`selectDatacenters`,
 * with `excluded`: what `geobridge route` shows), which walks the manifest.
 * `…ListedPerRequest` is how many datacenters the requesters' zones list on
 * average: the hot path's work is per listed datacenter, and
 * `perListedGeneratedVsWorldRatio` divides the ratio by theirs (1 when the cost
 * grows with the lists and nothing else).
 *
 * All loops run in one interleaved measurement, the two manifests' hot paths
 * back to back in every repeat: on a shared machine the load changes between
 * repeats, so each ratio is the median of the repeats' own ratios (samples
 * taken moments apart), not a ratio of medians taken at different times.
 *
 * The decide and lookup loops fold only whether a result came back, so the
 * baseline is the Map.get itself; `nsPerLookupAndRead` also reads each
 * answer's candidates, which on large answers costs cache misses (a cache hit
 * that is used).
 *
 * The request stream (4,096 requests: countries drawn from the zones'
 * countries, some with a plan or an account restriction, each paired with one
 * of 16 live states with datacenters down or loaded) is built before timing,
 * so its generation cost is not measured.
 */
import { readFile } from 'node:fs/promises';
import {
  compilePolicy,
  indexLiveState,
  isRefusal,
  parseManifest,
  selectDatacenters,
  selectRoute,
  type LiveState,
  type Manifest,
  type RouteChoice,
  type RouteRequest,
} from '../src/core/index.js';
import { seededRandom, type Random } from '../src/sim/random.js';
import { generateManifest, pick } from './generate-manifest.js';
import type { BenchOptions, LoopResult, LoopSpec } from './harness.js';

const REQUESTS = 4096;
const LIVE_STATES = 16;
const WORKLOAD_SEED = 20240601;

interface Case {
  readonly request: RouteRequest;
  readonly live: LiveState;
  /** The input as a cache key: country, plan, account restriction, live state. */
  readonly key: string;
}

/** A manifest with its request stream and the hot path's answers to it. */
interface Stream {
  readonly manifest: Manifest;
  readonly cases: readonly Case[];
  readonly answers: ReadonlyMap<string, RouteChoice>;
  readonly refusedShare: number;
  /** Datacenters the requester's zone lists, on average over the stream: what the hot path walks. */
  readonly listedPerRequest: number;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const world = stream(opts, 'world', load(await readFile(new URL('../examples/world.yaml', import.meta.url), 'utf8'), 'examples/world.yaml'));
  opts.log('generating the 1,000-datacenter manifest (seed 1)…');
  const generated = stream(opts, 'generated', load(generateManifest({ datacenters: 1000, countries: 250, seed: 1 }), 'generated.yaml'));
  // `decide` and `lookup` first, each manifest's right after the other's: the ratios pair them repeat by repeat.
  const r = opts.measureLoops({
    worldDecide: decideLoop(world, selectRoute),
    generatedDecide: decideLoop(generated, selectRoute),
    worldExplain: decideLoop(world, selectDatacenters),
    generatedExplain: decideLoop(generated, selectDatacenters),
    worldLookup: lookupLoop(world, present),
    generatedLookup: lookupLoop(generated, present),
    worldLookupRead: lookupLoop(world, candidates),
    generatedLookupRead: lookupLoop(generated, candidates),
  });
  for (const [label, decide, explain, lookup, read] of [
    ['world', r.worldDecide, r.worldExplain, r.worldLookup, r.worldLookupRead],
    ['generated', r.generatedDecide, r.generatedExplain, r.generatedLookup, r.generatedLookupRead],
  ] as const) {
    opts.log(`${label}: ${decide.nsPerOp.toFixed(0)} ns/decision (${explain.nsPerOp.toFixed(0)} explained), ${lookup.nsPerOp.toFixed(1)} ns/lookup, ${read.nsPerOp.toFixed(1)} ns/lookup and read`);
  }
  const ratio = (a: LoopResult, b: LoopResult): number => opts.median(a.samplesNsPerOp.map((ns, i) => ns / (b.samplesNsPerOp[i] ?? Number.NaN)));
  return {
    generatedVsWorldRatio: ratio(r.generatedDecide, r.worldDecide),
    // The same per datacenter the zones list: 1 when the cost grows with the lists and nothing else.
    perListedGeneratedVsWorldRatio: ratio(r.generatedDecide, r.worldDecide) / (generated.listedPerRequest / world.listedPerRequest),
    worldDecisionsPerSec: 1e9 / r.worldDecide.nsPerOp,
    generatedDecisionsPerSec: 1e9 / r.generatedDecide.nsPerOp,
    // The headline figures are the generated manifest's.
    nsPerDecision: r.generatedDecide.nsPerOp,
    explainedNsPerDecision: r.generatedExplain.nsPerOp,
    explainedGeneratedVsWorldRatio: ratio(r.generatedExplain, r.worldExplain),
    nsPerLookup: r.generatedLookup.nsPerOp,
    nsPerLookupAndRead: r.generatedLookupRead.nsPerOp,
    decisionVsLookupRatio: ratio(r.generatedDecide, r.generatedLookup),
    worldNsPerDecision: r.worldDecide.nsPerOp,
    worldExplainedNsPerDecision: r.worldExplain.nsPerOp,
    worldNsPerLookup: r.worldLookup.nsPerOp,
    worldNsPerLookupAndRead: r.worldLookupRead.nsPerOp,
    worldDecisionVsLookupRatio: ratio(r.worldDecide, r.worldLookup),
    worldRefusedShare: world.refusedShare,
    generatedRefusedShare: generated.refusedShare,
    // What generatedVsWorldRatio is to be read against: the hot path's work is per listed datacenter.
    worldListedPerRequest: world.listedPerRequest,
    generatedListedPerRequest: generated.listedPerRequest,
    requests: REQUESTS,
    liveStates: LIVE_STATES,
  };
}

function stream(opts: BenchOptions, label: string, manifest: Manifest): Stream {
  const cases = workload(manifest, seededRandom(WORKLOAD_SEED));
  const answers = new Map<string, RouteChoice>();
  for (const c of cases) answers.set(c.key, selectRoute(manifest, c.request, c.live));
  const refused = cases.filter((c) => candidates(answers.get(c.key)) === 0).length;
  opts.log(`${label}: ${manifest.datacenters.length} datacenters, ${cases.length} requests (${answers.size} distinct inputs, ${refused} refused)`);
  const policy = compilePolicy(manifest);
  const listed = cases.reduce((sum, c) => {
    const zone = policy.zoneFor(c.request.country);
    return sum + (zone ? policy.listedIn(zone).length : 0);
  }, 0);
  return { manifest, cases, answers, refusedShare: refused / cases.length, listedPerRequest: listed / cases.length };
}

// The loops have the same shape: walk the stream, get a result, fold it into the sink.

/** Decides every request of the stream in turn. */
function decideLoop({ manifest, cases }: Stream, decide: (m: Manifest, r: RouteRequest, l: LiveState) => RouteChoice): LoopSpec {
  return {
    warmupOps: cases.length,
    run: (ops: number): number => {
      let sink = 0;
      let left = ops;
      while (left > 0) {
        for (const c of cases) {
          sink += present(decide(manifest, c.request, c.live));
          if (--left === 0) break;
        }
      }
      return sink;
    },
  };
}

/** Looks every request's precomputed answer up in turn, folding it with `use`. */
function lookupLoop({ cases, answers }: Stream, use: (result: RouteChoice | undefined) => number): LoopSpec {
  return {
    warmupOps: cases.length,
    run: (ops: number): number => {
      let sink = 0;
      let left = ops;
      while (left > 0) {
        for (const c of cases) {
          sink += use(answers.get(c.key));
          if (--left === 0) break;
        }
      }
      return sink;
    },
  };
}

/** 1 for an answer, 0 for none: the cheapest use of a result. */
function present(result: RouteChoice | undefined): number {
  return result === undefined ? 0 : 1;
}

/** The number of candidates offered (0 for a refusal or no answer): reads the result. */
function candidates(result: RouteChoice | undefined): number {
  return result === undefined || isRefusal(result) ? 0 : result.candidates.length;
}

function load(text: string, file: string): Manifest {
  const parsed = parseManifest(text, file);
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
  if (!parsed.manifest || errors.length > 0) throw new Error(`${file} does not parse: ${errors.map((d) => `${d.line}:${d.column} ${d.message}`).join('; ')}`);
  return parsed.manifest;
}

/** The request stream: random countries of the zones, some with a plan or account restriction, each with a random live state. */
function workload(manifest: Manifest, rand: Random): Case[] {
  const policy = compilePolicy(manifest);
  const countries = manifest.zones.flatMap((z) => [...policy.countriesOf(z)]);
  const ids = manifest.datacenters.map((d) => d.id);
  const lives: LiveState[] = Array.from({ length: LIVE_STATES }, () => {
    const down = new Set(ids.filter(() => rand() < 0.03));
    // 80 % report a load; about 7 % of those are at or above maxUtilization 0.9.
    const utilization = new Map(ids.filter(() => rand() < 0.8).map((id) => [id, Math.round(rand() * 97) / 100]));
    // Indexed by datacenter position once per state, as the broker's registry hands it to the decider.
    return indexLiveState(manifest, { down, utilization });
  });
  return Array.from({ length: REQUESTS }, (): Case => {
    const country = pick(rand, countries);
    const zone = policy.zoneFor(country);
    const listed = zone ? [...zone.primaries, ...zone.secondaries].flatMap((id) => policy.datacenterById.get(id) ?? []) : [];
    // A plan only where the zone lists datacenters carrying its tags (as a real account would).
    const plans = manifest.plans.filter((p) => listed.some((d) => p.tags.every((t) => d.tags.includes(t))));
    const plan = plans.length > 0 && rand() < 0.1 ? pick(rand, plans).id : undefined;
    // 5 %: the account's data routing control names its own country and the first two primaries' jurisdictions.
    const account = rand() < 0.05 ? [...new Set([country, ...listed.slice(0, 2).map((d) => d.jurisdiction)])].sort() : undefined;
    const liveIndex = Math.floor(rand() * LIVE_STATES);
    const live = lives[liveIndex] ?? {};
    const request: RouteRequest = { country, ...(plan ? { plan } : {}), ...(account ? { accountJurisdictions: account } : {}) };
    return { request, live, key: `${country}|${plan ?? ''}|${account?.join(',') ?? ''}|${liveIndex}` };
  });
}
