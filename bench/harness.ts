/**
 * The measurement helpers every benchmark gets through `BenchOptions`, and
 * the types a benchmark module implements. bench/run.ts is the command that
 * picks a benchmark and prints its figures; benchmarks import only types from
 * here, so neither side imports the other.
 */
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


/** The options a benchmark runs with: the helpers above, bound to `quick` and `log`. */
export function benchOptions(quick: boolean, log: (message: string) => void): BenchOptions {
  const timing = { quick, log };
  return {
    quick,
    log,
    measureLoops: (loops, label) => measureLoops(timing, loops, label),
    timeRuns: (fns, counts) => timeRuns(timing, fns, counts),
    median,
  };
}

/** Three significant digits; whole numbers from 100 up. Applied to every figure. */
export function tidy(value: unknown): unknown {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(3));
  if (Array.isArray(value)) return value.map(tidy);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tidy(v)]));
  return value;
}
