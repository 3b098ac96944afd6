/**
 * The benchmark harness: `npm run bench -- <name> [--quick]`.
 *
 * Each benchmark is a module bench/<name>.ts exporting
 * `run(opts: BenchOptions): Promise<Record<string, unknown>>`; add it to
 * BENCHMARKS below. It receives the timing helpers in `opts` (so it imports
 * only types from this file), writes progress with `opts.log` (stderr), and
 * returns its figures. The harness prints them as ONE JSON line on stdout,
 * with the node version and CPU count:
 *
 *   {"name":"check","ratio":2.1,"checkMs":…,"parseMs":…,"node":"v20…","cpus":2}
 *
 * Keys holding a ratio contain the word `ratio`. Figures are rounded to three
 * significant digits (whole numbers from 100 up). Method (see docs/benchmarks.md):
 * a baseline measured in the same run, warm-up first, medians of repeats.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

/** What a benchmark receives. */
export interface BenchOptions {
  /** `--quick`: shorter measurements, for smoke tests and CI; figures are noisier. */
  readonly quick: boolean;
  /** Writes one progress line on stderr. */
  readonly log: (message: string) => void;
  /** Calibrated, interleaved throughput measurement of fast operations (see `measureLoops` below). */
  readonly measureLoops: <K extends string>(loops: Readonly<Record<K, LoopSpec>>, label?: string) => Record<K, LoopResult>;
  /** Interleaved timing of individual runs of slow operations (see `timeRuns` below). */
  readonly timeRuns: <K extends string>(fns: Readonly<Record<K, () => unknown>>, counts?: RunCounts) => Record<K, RunsResult>;
  /** The median of a non-empty list. */
  readonly median: (values: readonly number[]) => number;
}

/** A benchmark module. */
export interface Benchmark {
  run(opts: BenchOptions): Promise<Record<string, unknown>>;
}

interface Entry {
  readonly description: string;
  readonly load: () => Promise<Benchmark>;
}

/** The registry: one line per benchmark. */
const BENCHMARKS: Readonly<Record<string, Entry>> = {
  select: { description: 'decisions/s of the hot path of the decider (selectRoute) and of the explained selectDatacenters on world.yaml and a generated 1,000-datacenter manifest: generated ÷ world, and against a Map.get of the precomputed answer', load: () => import('./select.js') },
  check: { description: 'checkManifest(parseManifest(text)) on a generated 1,000-datacenter manifest, against parsing the YAML alone', load: () => import('./check.js') },
  'route-http': { description: 'POST /v1/route requests/s of the broker over loopback HTTP (ticket signing, fsynced audit), against a Fastify hello-world route', load: () => import('./route-http.js') },
  audit: { description: 'durable appends/s to the SQLite audit log, against raw better-sqlite3 single-row INSERT transactions (synchronous=FULL)', load: () => import('./audit.js') },
  simulate: { description: 'simulator: wall time of the fluid world day (300 M participants), and agent-mode joins/s with the share spent in the decider', load: () => import('./simulate.js') },
  join: { description: 'Chromium: join click → first decoded remote frame, for the newcomer and for the participant already in the meeting (median, p95)', load: () => import('./join.js') },
  failover: { description: 'SIGKILL of the meeting\'s bridge process → media flowing again for both Node participants (median, p95; goal p95 ≤ 3 s)', load: () => import('./failover.js') },
  'failover-chromium': { description: 'Chromium, three participants: SIGKILL of the meeting\'s bridge process → every page decoding every other one\'s video again, with E2EE against the same without (e2eeRatio), idle and with a core burning, camera at 30 and 10 frames/s (median, p95; goal p95 ≤ 1.5 s)', load: () => import('./failover-chromium.js') },
  'policy-enforcement': { description: 'PUT /v1/manifest with a fence → last packet forwarded by the bridge it forbids, and media again on the allowed one (median, p95; goal p95 ≤ 1 s)', load: () => import('./policy-enforcement.js') },
  'bridge-cpu': { description: 'bridge CPU per forwarded packet, 1 publisher → 1, 4, 8 subscribers, against a bare werift forwarder (goal ratio ≤ 1.1)', load: () => import('./bridge-cpu.js') },
  mls: { description: 'MLS meeting group (ts-mls, suite 1): commit creation and processing ms, and SFrame base-key export, for groups of 3, 10, 50, 100', load: () => import('./mls.js') },
  merkle: { description: 'transparency log (RFC 9162 Merkle tree, in memory): appends/s against hashing the leaves alone (appendRatio); proof sizes and µs to prove and verify in a log of 10^6 leaves, sizes at 10^8 computed', load: () => import('./merkle.js') },
  start: { description: 'seconds from `npm start` to its meeting link (six bridge processes), against its broker answering /healthz in the same run (linkRatio); built (dist/) and from source through tsx (sourceToBuiltRatio); goal: the link within 10 s', load: () => import('./start.js') },
  sframe: { description: 'encrypt+decrypt frames/s of 1,200-byte frames through SFrameContext (node:crypto), against raw node:crypto AES-128-GCM (goal ratio ≥ 0.8); WebCrypto in Node and in a Chromium worker', load: () => import('./sframe.js') },
};

// ---------------------------------------------------------------------------
// Measurement helpers, handed to benchmarks through BenchOptions.

/**
 * A loop to measure: `run(ops)` performs exactly `ops` operations and returns
 * a number derived from their results (the harness keeps it, so that the
 * optimizer cannot drop the work).
 */
export interface LoopSpec {
  readonly run: (ops: number) => number;
  /** Operations the warm-up must cover at least, e.g. one pass over a request stream. */
  readonly warmupOps?: number;
}

/** The outcome of one measured loop. */
export interface LoopResult {
  /** Median over the repeats of nanoseconds per operation. */
  readonly nsPerOp: number;
  readonly samplesNsPerOp: readonly number[];
  /** Operations in each timed repeat (fixed after calibration). */
  readonly opsPerSample: number;
}

interface Timing {
  readonly quick: boolean;
  readonly log: (message: string) => void;
}

/** Keeps loop results observable, so that the optimizer cannot drop the work. */
let blackhole = 0;

/**
 * Measures fast operations. For each loop: doubles the operations until one
 * call takes ≥ 100 ms (30 ms quick) and keeps running it until the warm-up has
 * lasted ≥ 0.5 s (0.1 s quick) and covered `warmupOps`; then times one more
 * call and fixes the number of operations so that one repeat takes ~1.5 s
 * (0.2 s quick). Then it runs 5 repeats (3 quick) of every loop, interleaved
 * (a, b, a, b…), and reports the median ns per operation of each.
 */
function measureLoops<K extends string>(timing: Timing, loops: Readonly<Record<K, LoopSpec>>, label = ''): Record<K, LoopResult> {
  const { quick } = timing;
  const log = (message: string): void => {
    timing.log(label ? `${label}/${message}` : message);
  };
  const callMs = quick ? 30 : 100;
  const warmupMs = quick ? 100 : 500;
  const targetMs = quick ? 200 : 1500;
  const repeats = quick ? 3 : 5;
  const names = Object.keys(loops) as K[];
  const opsPerSample = new Map<K, number>();
  for (const name of names) {
    const spec = loops[name];
    let ops = 1;
    let lastMs = timeMs(() => (blackhole += spec.run(ops)));
    let spentMs = lastMs;
    let doneOps = ops;
    while (lastMs < callMs) {
      ops *= 2;
      lastMs = timeMs(() => (blackhole += spec.run(ops)));
      spentMs += lastMs;
      doneOps += ops;
    }
    const warmupOps = spec.warmupOps ?? 0;
    while (spentMs < warmupMs || doneOps < warmupOps) {
      const n = Math.max(ops, warmupOps - doneOps);
      spentMs += timeMs(() => (blackhole += spec.run(n)));
      doneOps += n;
    }
    // Size the repeats from a call made after the warm-up, with the code optimized.
    lastMs = timeMs(() => (blackhole += spec.run(ops)));
    const chosen = Math.max(1, Math.round((ops * targetMs) / lastMs));
    opsPerSample.set(name, chosen);
    log(`${name}: warmed up ${doneOps} ops in ${spentMs.toFixed(0)} ms; ${chosen} ops per repeat (~${((lastMs * 1e6) / ops).toFixed(0)} ns/op)`);
  }
  const samples = new Map<K, number[]>(names.map((n) => [n, []]));
  for (let r = 0; r < repeats; r++) {
    for (const name of names) {
      const ops = opsPerSample.get(name) ?? 1;
      const ms = timeMs(() => (blackhole += loops[name].run(ops)));
      const ns = (ms * 1e6) / ops;
      samples.get(name)?.push(ns);
      log(`${name}: repeat ${r + 1}/${repeats}: ${ns.toFixed(1)} ns/op (${ms.toFixed(0)} ms)`);
    }
  }
  const out = {} as Record<K, LoopResult>;
  for (const name of names) {
    const s = samples.get(name) ?? [];
    out[name] = { nsPerOp: median(s), samplesNsPerOp: s, opsPerSample: opsPerSample.get(name) ?? 1 };
  }
  return out;
}

/** Untimed and timed runs for `timeRuns`. */
export interface RunCounts {
  readonly warmup?: number;
  readonly runs?: number;
}

/** The outcome of timing individual runs. */
export interface RunsResult {
  /** Median over the runs, in ms. */
  readonly ms: number;
  readonly samplesMs: readonly number[];
}

/**
 * Times slow operations (tens of ms or more) run by run: `warmup` untimed runs
 * of each, then `runs` timed runs of each, interleaved (a, b, a, b…); the
 * median of each. Defaults: 3 warm-up and 15 timed runs (1 and 5 quick).
 */
function timeRuns<K extends string>(
  timing: Timing,
  fns: Readonly<Record<K, () => unknown>>,
  counts: RunCounts = {},
): Record<K, RunsResult> {
  const { quick, log } = timing;
  const warmup = counts.warmup ?? (quick ? 1 : 3);
  const runs = counts.runs ?? (quick ? 5 : 15);
  const names = Object.keys(fns) as K[];
  const timeOne = (name: K): number =>
    timeMs(() => {
      keep(fns[name]());
    });
  for (let i = 0; i < warmup; i++) for (const name of names) log(`${name}: warm-up ${i + 1}/${warmup}: ${timeOne(name).toFixed(1)} ms`);
  const samples = new Map<K, number[]>(names.map((n) => [n, []]));
  for (let i = 0; i < runs; i++) {
    const line: string[] = [];
    for (const name of names) {
      const ms = timeOne(name);
      samples.get(name)?.push(ms);
      line.push(`${name} ${ms.toFixed(1)} ms`);
    }
    log(`run ${i + 1}/${runs}: ${line.join(', ')}`);
  }
  const out = {} as Record<K, RunsResult>;
  for (const name of names) {
    const s = samples.get(name) ?? [];
    out[name] = { ms: median(s), samplesMs: s };
  }
  return out;
}

/** The median of a non-empty list (mean of the middle two for even lengths). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? Number.NaN) + hi) / 2;
}

function timeMs(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

function keep(value: unknown): void {
  if (value === blackhole) blackhole++;
}

// ---------------------------------------------------------------------------

/** Three significant digits; whole numbers from 100 up. Applied to every figure. */
function tidy(value: unknown): unknown {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(3));
  if (Array.isArray(value)) return value.map(tidy);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tidy(v)]));
  return value;
}

function usage(): string {
  const width = Math.max(...Object.keys(BENCHMARKS).map((n) => n.length));
  const list = Object.entries(BENCHMARKS).map(([name, e]) => `  ${name.padEnd(width)}  ${e.description}`);
  return ['usage: npm run bench -- <name> [--quick]', '', 'benchmarks:', ...list, ''].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const flags = argv.filter((a) => a.startsWith('-'));
  const names = argv.filter((a) => !a.startsWith('-'));
  if (flags.includes('--help') || flags.includes('-h')) {
    process.stderr.write(usage());
    return 0;
  }
  const unknownFlag = flags.find((f) => f !== '--quick');
  const name = names[0];
  const entry = name !== undefined && Object.hasOwn(BENCHMARKS, name) ? BENCHMARKS[name] : undefined;
  if (unknownFlag !== undefined || names.length !== 1 || name === undefined || entry === undefined) {
    const problem = unknownFlag ? `unknown option '${unknownFlag}'` : names.length > 1 ? 'give one benchmark' : name === undefined ? 'no benchmark given' : `unknown benchmark '${name}'`;
    process.stderr.write(`bench: ${problem}.\n${usage()}`);
    return 2;
  }
  const log = (message: string): void => {
    process.stderr.write(`[${name}] ${message}\n`);
  };
  const timing = { quick, log };
  const opts: BenchOptions = {
    quick,
    log,
    measureLoops: (loops, label) => measureLoops(timing, loops, label),
    timeRuns: (fns, counts) => timeRuns(timing, fns, counts),
    median,
  };
  log(`node ${process.version}, ${availableParallelism()} cpus${quick ? ', quick' : ''}`);
  const started = performance.now();
  const benchmark = await entry.load();
  const figures = await benchmark.run(opts);
  log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const record = { name, ...(tidy(figures) as Record<string, unknown>), ...(quick ? { quick: true } : {}), node: process.version, cpus: availableParallelism() };
  process.stdout.write(`${JSON.stringify(record)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
