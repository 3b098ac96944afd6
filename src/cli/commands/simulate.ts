/**
 * `geobridge simulate SCENARIO.yaml`: replays demand, growth, spikes and
 * outages through the real decider and reports what happened, with numbers
 * and (with --report) a self-contained HTML page of charts and a map.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { GeobridgeError } from '../../core/errors.js';
import type { Manifest } from '../../core/manifest/types.js';
import { checkManifest } from '../../core/verify/check.js';
import { formatCount } from '../../core/verify/format.js';
import { isWorldTopology, renderReport, type WorldTopology } from '../../sim/report/html.js';
import type { CascadeFigures, RunResult, SimulationResult } from '../../sim/result.js';
import { parseScenario, type Scenario } from '../../sim/scenario.js';
import { agentModeProblem, scenarioReferenceProblems, simulate } from '../../sim/simulate.js';
import { parseCommandArgs } from '../args.js';
import { EXIT, type Io } from '../io.js';
import { checkOutputFile, writeOutputFile } from '../output-file.js';
import { displayPath, loadManifest } from '../manifest-file.js';
import { formatDiagnostic } from './check.js';

export const SIMULATE_HELP = `Usage: geobridge simulate SCENARIO.yaml [--report out.html] [--json out.json]
                          [--seed N] [--mode fluid|agent] [--quiet]

Replays a scenario — demand per country with a diurnal curve, growth over
days, spikes, datacenter outages, degradations and congestion, manifest
changes — through the real selection engine, and reports joins served and
refused (by code), primary vs backup use, out-of-zone connections, fence
violations, RTT and time-to-connect, utilization per datacenter, which
countries touched which jurisdictions, and — on a sample of meetings —
cascading against one home per meeting (distance to the bridge, relayed
streams per fence, who cannot see whom). Format: docs/simulator.md.

Options:
  --report FILE   write a self-contained HTML report (charts, map, incident table)
  --json FILE     write the full result as JSON
  --seed N        override the scenario's seed (same seed, same result)
  --mode M        override the scenario's mode: fluid (cohorts) or agent (every join)
  --quiet         no progress on stderr

Exit codes: 0 simulated · 2 bad scenario or manifest

Examples:
  geobridge simulate examples/scenarios/april-2020.yaml --report april-2020.html
  geobridge simulate examples/scenarios/outage-eu.yaml --json out.json
`;

/** Runs `simulate`. */
export function runSimulate(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseCommandArgs('simulate', argv, {
    report: { type: 'string' },
    json: { type: 'string' },
    seed: { type: 'string' },
    mode: { type: 'string' },
    quiet: { type: 'boolean' },
  });
  if (values.help) {
    io.out(SIMULATE_HELP);
    return EXIT.ok;
  }
  const [file, ...rest] = positionals;
  if (file === undefined || rest.length > 0) throw new GeobridgeError('USAGE', "simulate: give one scenario file; see 'geobridge simulate --help'.");
  const scenario = withOverrides(loadScenario(file, io), values.seed, values.mode);
  const tooLarge = agentModeProblem(scenario);
  if (tooLarge !== undefined) throw new GeobridgeError('INVALID_SCENARIO', tooLarge);
  // Before the run: a path that cannot be written would lose it.
  if (values.json) checkOutputFile(values.json, '--json');
  if (values.report) checkOutputFile(values.report, '--report');
  const manifests = loadManifests(scenario, dirname(resolve(file)), io);
  let lastShown = '';
  // A terminal gets one redrawn line; a log gets a line every 25 %.
  const progress = (run: string, step: number, steps: number): void => {
    const percent = Math.floor((step / steps) * 100);
    const line = `simulating ${run}: ${io.interactive ? percent : percent - (percent % 25)}%`;
    if (line !== lastShown) io.err(`${line}${io.interactive && step < steps ? '\r' : '\n'}`);
    lastShown = line;
  };
  const result = simulate({ scenario, manifests, ...(values.quiet ? {} : { onProgress: progress }) });
  if (values.json) writeOutputFile(values.json, `${JSON.stringify(result)}\n`, '--json');
  if (values.report) writeOutputFile(values.report, renderReport(result, loadWorld()), '--report');
  io.out(summarize(result));
  if (values.json) io.out(`wrote ${values.json}\n`);
  if (values.report) io.out(`wrote ${values.report}\n`);
  return EXIT.ok;
}

function loadScenario(file: string, io: Io): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new GeobridgeError('UNREADABLE_FILE', `cannot read scenario '${file}'. Check the path.`);
  }
  const parsed = parseScenario(text, displayPath(file));
  for (const d of parsed.diagnostics) io.err(formatDiagnostic(d));
  if (!parsed.scenario) throw new GeobridgeError('INVALID_SCENARIO', `${displayPath(file)} has errors (listed above); fix them and run again.`);
  return parsed.scenario;
}

function withOverrides(scenario: Scenario, seed: string | undefined, mode: string | undefined): Scenario {
  let out = scenario;
  if (seed !== undefined) {
    const n = seed.trim() === '' ? Number.NaN : Number(seed);
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 32 - 1) throw new GeobridgeError('USAGE', `simulate: --seed '${seed}' must be a whole number from 0 to 4294967295.`);
    out = { ...out, seed: n };
  }
  if (mode !== undefined) {
    if (mode !== 'fluid' && mode !== 'agent') throw new GeobridgeError('USAGE', `simulate: --mode '${mode}' must be fluid or agent.`);
    out = { ...out, mode };
  }
  return out;
}

/** Loads every manifest the scenario names (relative to the scenario file), keyed as written. */
function loadManifests(scenario: Scenario, base: string, io: Io): Map<string, Manifest> {
  const paths = new Set([scenario.manifest, ...scenario.changes.map((c) => c.manifest)]);
  for (const run of scenario.runs) {
    if (run.manifest) paths.add(run.manifest);
    for (const c of run.changes ?? []) paths.add(c.manifest);
  }
  const manifests = new Map<string, Manifest>();
  for (const path of paths) {
    const parsed = loadManifest(resolve(base, path));
    if (!parsed.manifest) {
      for (const d of parsed.diagnostics) io.err(formatDiagnostic(d));
      throw new GeobridgeError('INVALID_MANIFEST', `manifest '${path}' of the scenario does not parse (see above).`);
    }
    const errors = checkManifest(parsed).filter((d) => d.severity === 'error').length;
    if (errors > 0) io.err(`note: ${parsed.file} has ${errors} verifier error(s); simulating it as written — the decider holds the fences.\n`);
    manifests.set(path, parsed.manifest);
  }
  const problems = scenarioReferenceProblems(scenario, manifests);
  if (problems.length > 0) throw new GeobridgeError('INVALID_SCENARIO', problems.join(' '));
  return manifests;
}

/** The world's country outlines for the report map (world-atlas, public domain Natural Earth data). */
function loadWorld(): WorldTopology {
  const require = createRequire(import.meta.url);
  const world: unknown = JSON.parse(readFileSync(require.resolve('world-atlas/countries-110m.json'), 'utf8'));
  if (!isWorldTopology(world)) throw new GeobridgeError('INVALID_WORLD_MAP', 'world-atlas/countries-110m.json is not a TopoJSON topology; run npm ci to restore it.');
  return world;
}

function summarize(result: SimulationResult): string {
  const s = result.scenario;
  const lines = [`${s.name}: ${s.mode} mode, seed ${s.seed}, ${formatDuration(s.durationMinutes)} in steps of ${formatDuration(s.stepMinutes)}`];
  for (const run of result.runs) lines.push('', ...summarizeRun(run));
  return `${lines.join('\n')}\n`;
}

function summarizeRun(run: RunResult): string[] {
  const t = run.totals;
  // Reconnections are routed like joins, so both count in the shares.
  const attempts = t.joins + t.reconnects;
  const pct = (n: number): string => (attempts > 0 ? `${((n / attempts) * 100).toFixed(1)}%` : '-');
  const refused = Object.values(t.refused).reduce((a, b) => a + b, 0);
  const lines = [
    /fence/i.test(run.name) ? run.name : `${run.name} (fences ${run.enforceFences ? 'enforced' : 'NOT enforced'})`,
    `  joins            ${formatCount(t.joins).padStart(14)}`,
    `  reconnections    ${formatCount(t.reconnects).padStart(14)}  (after outages)`,
    `  served           ${formatCount(t.served).padStart(14)}  ${pct(t.served)}`,
    `    via backups    ${formatCount(t.servedSecondary).padStart(14)}  ${pct(t.servedSecondary)}`,
    `    out of zone    ${formatCount(t.outOfZone).padStart(14)}  ${pct(t.outOfZone)}`,
    `  refused          ${formatCount(refused).padStart(14)}  ${pct(refused)}  ${Object.entries(t.refused).map(([code, n]) => `${code} ${formatCount(n)}`).join(', ')}`,
    `  FENCE VIOLATIONS ${formatCount(t.violations).padStart(14)}`,
  ];
  const breaches = run.incident.filter((r) => r.violation).slice(0, 8);
  if (breaches.length > 0) lines.push(`  crossed fences: ${breaches.map((r) => `${r.country}→${r.jurisdiction} ${formatCount(r.participants)}`).join(', ')}`);
  for (const s of run.shortfall.slice(0, 5)) {
    lines.push(`  zone ${s.zone}: ${formatCount(s.peakRefusedConcurrent)} refused at peak; ${formatCount(s.extraCapacityNeeded)} more in-fence capacity would refuse no one`);
  }
  return [...lines, ...summarizeCascade(run.cascade)];
}

/** "FENCE 3, SENDER_UNROUTED 1", or "none". */
function counts(record: Readonly<Record<string, number>>): string {
  const entries = Object.entries(record);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ${formatCount(n)}`).join(', ');
}

/** The cascade sample: distances, relays per fence and pair, and who cannot see whom (docs/simulator.md#cascading). */
function summarizeCascade(c: CascadeFigures): string[] {
  const unreachable = Object.values(c.unreachable.byReason).reduce((a, b) => a + b, 0);
  const d = c.distanceKm;
  const top = c.relayHops.byPair.slice(0, 3).map((p) => `${p.from}→${p.to} ${formatCount(p.hops)}`);
  return [
    `  cascade sample   ${formatCount(c.meetings)} meetings of ${c.sample.size} (${c.sample.perSample} every ${formatDuration(c.sample.everyMinutes)}), ${formatCount(c.participants)} participants`,
    `    distance       ${formatCount(d.cascade)} km to own bridge vs ${formatCount(d.home)} km to one home: ratio ${c.distanceRatio === null ? '-' : c.distanceRatio.toFixed(3)} (${formatCount(d.participants)} with a bridge in both)`,
    `    relayed        ${formatCount(c.relayHops.total)} stream-hops; by fence: ${counts(c.relayHops.byFence)}`,
    ...(top.length > 0 ? [`    top relays     ${top.join(', ')}`] : []),
    `    unreachable    ${formatCount(unreachable)} of ${formatCount(c.unreachable.pairs)} pairs: ${counts(c.unreachable.byReason)}`,
    `    no bridge      cascading: ${counts(c.unrouted.cascade)}; one home: ${counts(c.unrouted.home)}`,
  ];
}

function formatDuration(minutes: number): string {
  if (minutes % 1440 === 0) return `${minutes / 1440}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return `${minutes}m`;
}
