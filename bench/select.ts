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
 *
 * Both loops fold only whether a result came back, so the baseline is the
 * Map.get itself; `nsPerLookupAndRead` also reads each answer's candidates,
 * which on large answers costs cache misses (a cache hit that is used).
 *
 * The request stream (4,096 requests: countries drawn from the zones'
 * countries, some with a plan or an account restriction, each paired with one
 * of 16 live states with datacenters down or loaded) is built before timing,
 * so its generation cost is not measured.
 */
import { readFile } from 'node:fs/promises';
import {
  compilePolicy,
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
import type { BenchOptions } from './run.js';

const REQUESTS = 4096;
const LIVE_STATES = 16;
const WORKLOAD_SEED = 20240601;

interface Case {
  readonly request: RouteRequest;
  readonly live: LiveState;
  /** The input as a cache key: country, plan, account restriction, live state. */
  readonly key: string;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const world = load(await readFile(new URL('../examples/world.yaml', import.meta.url), 'utf8'), 'examples/world.yaml');
  opts.log('generating the 1,000-datacenter manifest (seed 1)…');
  const generated = load(generateManifest({ datacenters: 1000, countries: 250, seed: 1 }), 'generated.yaml');
  const w = measure(opts, 'world', world);
  const g = measure(opts, 'generated', generated);
  return {
    generatedVsWorldRatio: g.nsPerDecision / w.nsPerDecision,
    worldDecisionsPerSec: 1e9 / w.nsPerDecision,
    generatedDecisionsPerSec: 1e9 / g.nsPerDecision,
    // The headline figures are the generated manifest's.
    nsPerDecision: g.nsPerDecision,
    explainedNsPerDecision: g.explainedNsPerDecision,
    explainedGeneratedVsWorldRatio: g.explainedNsPerDecision / w.explainedNsPerDecision,
    nsPerLookup: g.nsPerLookup,
    nsPerLookupAndRead: g.nsPerLookupAndRead,
    decisionVsLookupRatio: g.nsPerDecision / g.nsPerLookup,
    worldNsPerDecision: w.nsPerDecision,
    worldExplainedNsPerDecision: w.explainedNsPerDecision,
    worldNsPerLookup: w.nsPerLookup,
    worldNsPerLookupAndRead: w.nsPerLookupAndRead,
    worldDecisionVsLookupRatio: w.nsPerDecision / w.nsPerLookup,
    worldRefusedShare: w.refusedShare,
    generatedRefusedShare: g.refusedShare,
    requests: REQUESTS,
    liveStates: LIVE_STATES,
  };
}

interface Figures {
  readonly nsPerDecision: number;
  readonly explainedNsPerDecision: number;
  readonly nsPerLookup: number;
  readonly nsPerLookupAndRead: number;
  readonly refusedShare: number;
}

function measure(opts: BenchOptions, label: string, manifest: Manifest): Figures {
  const cases = workload(manifest, seededRandom(WORKLOAD_SEED));
  const answers = new Map<string, RouteChoice>();
  for (const c of cases) answers.set(c.key, selectRoute(manifest, c.request, c.live));
  const refused = cases.filter((c) => candidates(answers.get(c.key)) === 0).length;
  opts.log(`${label}: ${manifest.datacenters.length} datacenters, ${cases.length} requests (${answers.size} distinct inputs, ${refused} refused)`);

  // The loops have the same shape: walk the stream, get a result, fold it into the sink.
  // `decide`, `explain` and `lookup` fold only the result's presence; `lookupRead` also reads
  // it (its candidates), which shows what a cache hit costs once the answer is used.
  const { decide, explain, lookup, lookupRead } = opts.measureLoops(
    {
      decide: {
        warmupOps: cases.length,
        run: (ops: number): number => {
          let sink = 0;
          let left = ops;
          while (left > 0) {
            for (const c of cases) {
              const result = selectRoute(manifest, c.request, c.live);
              sink += present(result);
              if (--left === 0) break;
            }
          }
          return sink;
        },
      },
      explain: {
        warmupOps: cases.length,
        run: (ops: number): number => {
          let sink = 0;
          let left = ops;
          while (left > 0) {
            for (const c of cases) {
              const result = selectDatacenters(manifest, c.request, c.live);
              sink += present(result);
              if (--left === 0) break;
            }
          }
          return sink;
        },
      },
      lookup: {
        warmupOps: cases.length,
        run: (ops: number): number => {
          let sink = 0;
          let left = ops;
          while (left > 0) {
            for (const c of cases) {
              const result = answers.get(c.key);
              sink += present(result);
              if (--left === 0) break;
            }
          }
          return sink;
        },
      },
      lookupRead: {
        warmupOps: cases.length,
        run: (ops: number): number => {
          let sink = 0;
          let left = ops;
          while (left > 0) {
            for (const c of cases) {
              const result = answers.get(c.key);
              sink += candidates(result);
              if (--left === 0) break;
            }
          }
          return sink;
        },
      },
    },
    label,
  );
  opts.log(`${label}: ${decide.nsPerOp.toFixed(0)} ns/decision (${explain.nsPerOp.toFixed(0)} explained), ${lookup.nsPerOp.toFixed(1)} ns/lookup, ${lookupRead.nsPerOp.toFixed(1)} ns/lookup and read`);
  return { nsPerDecision: decide.nsPerOp, explainedNsPerDecision: explain.nsPerOp, nsPerLookup: lookup.nsPerOp, nsPerLookupAndRead: lookupRead.nsPerOp, refusedShare: refused / cases.length };
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
    return { down, utilization };
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
