/**
 * The benchmark harness: `npm run bench -- <name> [--quick]`.
 *
 * Each benchmark is a module bench/<name>.ts exporting
 * `run(opts: BenchOptions): Promise<Record<string, unknown>>`; add it to
 * BENCHMARKS below. It receives the timing helpers in `opts` (bench/harness.ts;
 * it imports only types from there), writes progress with `opts.log` (stderr), and
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
import { benchOptions, tidy, type Benchmark } from './harness.js';

interface Entry {
  readonly description: string;
  readonly load: () => Promise<Benchmark>;
}

/** The registry: one line per benchmark. */
const BENCHMARKS: Readonly<Record<string, Entry>> = {
  select: { description: 'decisions/s of the hot path of the decider (selectRoute) and of the explained selectDatacenters on world.yaml and a generated 1,000-datacenter manifest: generated ÷ world, and against a Map.get of the precomputed answer', load: () => import('./select.js') },
  check: { description: 'checkManifest(parseManifest(text)) on a generated 1,000-datacenter manifest, against parsing the YAML alone', load: () => import('./check.js') },
  'route-http': { description: 'POST /v1/route requests/s of the broker over loopback HTTP (ticket signing, fsynced audit), against a Fastify hello-world route', load: () => import('./route-http.js') },
  'route-pg': { description: 'route-http\'s workload on brokers on PostgreSQL: one broker vs the same on SQLite (pgRatio), two brokers sharing the database and a Redis bus vs one (twoBrokerRatio); CPU and pg statements per route', load: () => import('./route-pg.js') },
  audit: { description: 'durable appends/s to the SQLite audit log, against raw better-sqlite3 single-row INSERT transactions (synchronous=FULL)', load: () => import('./audit.js') },
  'audit-pg': { description: 'durable appends/s to the PostgreSQL audit log (group commit, 8 at once and one at a time), against raw INSERT transactions of the same rows, one per batch, synchronous_commit=on (goal ratio ≥ 0.7)', load: () => import('./audit-pg.js') },
  'claim-pg': { description: 'placement claims on PostgreSQL: K brokers\' stores race to claim the same meeting, p50/p99 ms, exactly one winner per round, against one uncontended claim', load: () => import('./claim-pg.js') },
  simulate: { description: 'simulator: wall time of the fluid world day (300 M participants), and agent-mode joins/s with the share spent in the decider', load: () => import('./simulate.js') },
  join: { description: 'Chromium: join click → first decoded remote frame, for the newcomer and for the participant already in the meeting (median, p95)', load: () => import('./join.js') },
  failover: { description: 'SIGKILL of the meeting\'s bridge process → media flowing again for both Node participants (median, p95; goal p95 ≤ 3 s)', load: () => import('./failover.js') },
  'failover-chromium': { description: 'Chromium, three participants: SIGKILL of the meeting\'s bridge process → every page decoding every other one\'s video again, with E2EE against the same without (e2eeRatio), idle and with a core burning, camera at 30 and 10 frames/s (median, p95; goal p95 ≤ 1.5 s)', load: () => import('./failover-chromium.js') },
  'policy-enforcement': { description: 'PUT /v1/manifest with a fence → last packet forwarded by the bridge it forbids, and media again on the allowed one (median, p95; goal p95 ≤ 1 s)', load: () => import('./policy-enforcement.js') },
  'bridge-cpu': { description: 'bridge CPU per forwarded packet, 1 publisher → 1, 4, 8 subscribers, against a bare werift forwarder (goal ratio ≤ 1.1)', load: () => import('./bridge-cpu.js') },
  mls: { description: 'MLS meeting group (ts-mls, suite 1): commit creation and processing ms, and SFrame base-key export, for groups of 3, 10, 50, 100', load: () => import('./mls.js') },
  merkle: { description: 'transparency log (RFC 9162 Merkle tree, in memory): appends/s against hashing the leaves alone (appendRatio); proof sizes and µs to prove and verify in a log of 10^6 leaves, sizes at 10^8 computed', load: () => import('./merkle.js') },
  start: { description: 'seconds from `npm start` to its meeting link (six bridge processes), against its broker answering /healthz in the same run (linkRatio); built (dist/) and from source through tsx (sourceToBuiltRatio); goal: the link within 10 s', load: () => import('./start.js') },
  relay: { description: 'one cascade hop: both bridges\' CPU per packet a relayed stream adds, against a bridge forwarding it to a local subscriber (relayToLocalCpuRatio, goal ≤ 1.2); glass-to-glass ms added by the hop (median), loopback', load: () => import('./relay.js') },
  sframe: { description: 'encrypt+decrypt frames/s of 1,200-byte frames through SFrameContext (node:crypto), against raw node:crypto AES-128-GCM (goal ratio ≥ 0.8); WebCrypto in Node and in a Chromium worker', load: () => import('./sframe.js') },
};


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
  const opts = benchOptions(quick, log);
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
