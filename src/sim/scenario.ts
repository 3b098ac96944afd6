/**
 * Scenario files: what to replay (demand, growth, spikes, datacenter events,
 * manifest changes) and for how long. Parsed like manifests, with every
 * problem located at file:line:col (docs/simulator.md has the format).
 */
import { isMap, isScalar, isSeq, type Node } from 'yaml';
import type { Diagnostic } from '../core/diagnostics.js';
import { isCountryCode } from '../core/geo/countries.js';
import {
  readBoolean,
  readFields,
  readNumber,
  readScalarList,
  readString,
  readYaml,
  type SourceReader,
} from '../core/yaml/reader.js';

/** Daily demand of a set of countries. */
export interface DemandSpec {
  /** Countries by code with their share of `daily` (shares sum to 1). */
  readonly countries?: Readonly<Record<string, number>>;
  /** Or a zone of the manifest: its countries share `daily` equally. */
  readonly zone?: string;
  /** Participants joining per day at the start. */
  readonly daily: number;
  /** Diurnal curve by local time: 24 hourly weights (normalized). */
  readonly diurnal: readonly number[];
}

/** Multiplier of all demand over days, interpolated exponentially between points. */
export interface GrowthPoint {
  readonly day: number;
  readonly factor: number;
}

/** A sudden surge of demand. */
export interface Spike {
  readonly at: number;
  readonly duration: number;
  readonly factor: number;
  /** Countries affected; all when absent. */
  readonly countries?: readonly string[];
}

/** Something that happens to a datacenter. */
export interface DatacenterEvent {
  readonly at: number;
  /** Minutes; until the end of the run when absent. */
  readonly duration?: number;
  readonly datacenter: string;
  readonly kind: 'outage' | 'degraded' | 'congestion';
  /** For `degraded`: share of capacity left. */
  readonly capacityFactor?: number;
  /** For `congestion`: probability that one connection attempt fails. */
  readonly failProbability?: number;
}

/** A switch to another manifest at a given time (to replay a bad change). */
export interface ManifestChange {
  readonly at: number;
  readonly manifest: string;
}

/** One run of the scenario; runs differ only in how they are configured here. */
export interface RunSpec {
  readonly name: string;
  /** The manifest for this run (default: the scenario's). */
  readonly manifest?: string;
  /** False replays a system that ignores the fences; violations are still counted against them. */
  readonly enforceFences: boolean;
  /** Manifest changes of this run (default: the scenario's). */
  readonly changes?: readonly ManifestChange[];
}

/** A whole scenario. All times are minutes from the start. */
export interface Scenario {
  readonly version: 1;
  readonly name: string;
  readonly description: string;
  /** Path of the manifest, relative to the scenario file. */
  readonly manifest: string;
  readonly mode: 'fluid' | 'agent';
  readonly seed: number;
  readonly duration: number;
  /** Minutes simulated but not counted, from minute 0: the datacenters fill up to a steady state first. */
  readonly warmup: number;
  readonly step: number;
  /** Mean length of a participant's session, minutes. */
  readonly sessionMinutes: number;
  readonly demand: readonly DemandSpec[];
  readonly growth: readonly GrowthPoint[];
  readonly spikes: readonly Spike[];
  readonly events: readonly DatacenterEvent[];
  readonly changes: readonly ManifestChange[];
  readonly runs: readonly RunSpec[];
}

/** The outcome of parsing a scenario file. */
export interface ScenarioParseResult {
  readonly scenario: Scenario | undefined;
  readonly diagnostics: readonly Diagnostic[];
}

/** Diurnal presets: weights per local hour 0..23. */
export const DIURNAL_PRESETS: Readonly<Record<string, readonly number[]>> = {
  flat: Array.from({ length: 24 }, () => 1),
  // Work meetings: quiet nights, a morning ramp, a lunch dip, an afternoon plateau.
  business: [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 4, 7, 8, 8, 7, 5, 6, 7, 7, 6, 4, 2.5, 1.8, 1.5, 1.3, 1.2, 1.1],
  // Schools and families: daytime classes, then evening calls.
  evening: [1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 2, 4, 5, 5, 4.5, 4, 4, 4, 4, 4, 5, 6, 7, 6.5, 5, 3, 1.8],
};

/** Parses a scenario file; `file` only labels diagnostics. */
export function parseScenario(text: string, file = 'scenario.yaml'): ScenarioParseResult {
  const { reader, root } = readYaml(text, file, 'the scenario');
  const scenario = root === undefined ? undefined : readScenario(reader, root);
  return { scenario: reader.failed ? undefined : scenario, diagnostics: reader.diagnostics };
}

function readScenario(r: SourceReader, root: Node | null): Scenario | undefined {
  const f = readFields(r, root, '', {
    version: true,
    name: true,
    description: false,
    manifest: true,
    mode: false,
    seed: false,
    duration: true,
    warmup: false,
    step: false,
    sessionMinutes: false,
    demand: true,
    growth: false,
    spikes: false,
    events: false,
    changes: false,
    runs: false,
  });
  if (!f) return undefined;
  const version = f.get('version');
  if (f.has('version') && !(isScalar(version) && version.value === 1)) {
    r.report('GB_UNSUPPORTED_VERSION', 'version', version, 'this geobridge reads scenario version 1; write `version: 1`.');
  }
  const duration = readDuration(r, f.get('duration'), 'duration');
  const step = f.has('step') ? readDuration(r, f.get('step'), 'step') : 1;
  if (step > 0 && duration > 0 && step > duration) r.report('GB_INVALID_VALUE', 'step', f.get('step'), `\`step\` (${step} min) is longer than \`duration\` (${duration} min).`);
  if (step > 0 && duration / step > 1_000_000) r.report('GB_INVALID_VALUE', 'step', f.get('step'), `${Math.ceil(duration / step)} steps is too many; use a longer \`step\` (at most 1,000,000 steps).`);
  const warmup = f.has('warmup') ? readDuration(r, f.get('warmup'), 'warmup', true) : 0;
  if (duration > 0 && warmup >= duration) r.report('GB_INVALID_VALUE', 'warmup', f.get('warmup'), `\`warmup\` (${warmup} min) must be shorter than \`duration\` (${duration} min): nothing would be counted.`);
  const mode = f.has('mode') ? readEnum(r, f.get('mode'), 'mode', ['fluid', 'agent'] as const) : 'fluid';
  const changes = f.has('changes') ? readList(r, f.get('changes'), 'changes', readChange) : [];
  return {
    version: 1,
    name: readString(r, f.get('name'), 'name'),
    description: f.has('description') ? readString(r, f.get('description'), 'description') : '',
    manifest: readString(r, f.get('manifest'), 'manifest'),
    mode: mode ?? 'fluid',
    seed: f.has('seed') ? readNumber(r, f.get('seed'), 'seed', { min: 0, max: 2 ** 32 - 1, integer: true }) : 1,
    duration,
    warmup,
    step,
    sessionMinutes: f.has('sessionMinutes') ? readNumber(r, f.get('sessionMinutes'), 'sessionMinutes', { min: 1, max: 24 * 60 }) : 40,
    demand: readList(r, f.get('demand'), 'demand', readDemand),
    growth: f.has('growth') ? readList(r, f.get('growth'), 'growth', readGrowth) : [],
    spikes: f.has('spikes') ? readList(r, f.get('spikes'), 'spikes', readSpike) : [],
    events: f.has('events') ? readList(r, f.get('events'), 'events', readEvent) : [],
    changes,
    runs: f.has('runs') ? readList(r, f.get('runs'), 'runs', readRun) : [{ name: 'geobridge', enforceFences: true }],
  };
}

function readList<T>(r: SourceReader, node: Node | null | undefined, path: string, item: (r: SourceReader, node: Node | null, path: string) => T): T[] {
  if (!isSeq(node)) {
    r.report('GB_INVALID_TYPE', path, node ?? null, `\`${path}\` must be a list (each entry starting with '- ').`);
    return [];
  }
  return (node.items as (Node | null)[]).map((n, i) => {
    r.record(`${path}[${i}]`, n);
    return item(r, n, `${path}[${i}]`);
  });
}

function readDemand(r: SourceReader, node: Node | null, path: string): DemandSpec {
  const f = readFields(r, node, path, { countries: false, zone: false, daily: true, diurnal: false });
  const hasCountries = f?.has('countries') ?? false;
  if (f && hasCountries === f.has('zone')) r.report('GB_MISSING_FIELD', path, node, `\`${path}\` needs exactly one of \`countries\` and \`zone\`.`);
  const daily = readNumber(r, f?.get('daily'), `${path}.daily`, { min: 0 });
  const diurnal = f?.has('diurnal') ? readDiurnal(r, f.get('diurnal'), `${path}.diurnal`) : DIURNAL_PRESETS.business ?? [];
  const base = { daily, diurnal };
  if (hasCountries) return { ...base, countries: readShares(r, f?.get('countries'), `${path}.countries`) };
  return { ...base, zone: readString(r, f?.get('zone'), `${path}.zone`) };
}

/** `[US, CA]` (equal shares) or `{ US: 0.8, CA: 0.2 }` (weights, normalized). */
function readShares(r: SourceReader, node: Node | null | undefined, path: string): Record<string, number> {
  const weights = new Map<string, number>();
  if (isMap(node)) {
    const f = readFields(r, node, path, Object.fromEntries(node.items.map((p) => [String((p.key as { value?: unknown } | null)?.value), false])));
    for (const [code, value] of f ?? []) weights.set(code, readNumber(r, value, `${path}.${code}`, { min: 0 }));
  } else {
    for (const code of readScalarList(r, node, path, 'country codes')) weights.set(code, 1);
  }
  for (const code of weights.keys()) {
    if (!isCountryCode(code)) r.report('GB_INVALID_CODE', path, node ?? null, `'${code}' in \`${path}\` is not an ISO 3166-1 alpha-2 country code.`);
  }
  const total = [...weights.values()].reduce((a, b) => a + b, 0);
  if (weights.size === 0 || total <= 0) r.report('GB_INVALID_VALUE', path, node ?? null, `\`${path}\` must name at least one country with a positive share.`);
  return Object.fromEntries([...weights].map(([c, w]) => [c, total > 0 ? w / total : 0]));
}

function readDiurnal(r: SourceReader, node: Node | null | undefined, path: string): readonly number[] {
  if (isScalar(node) && typeof node.value === 'string') {
    const preset = DIURNAL_PRESETS[node.value];
    if (preset) return preset;
    r.report('GB_INVALID_VALUE', path, node, `unknown diurnal curve '${node.value}'; use ${Object.keys(DIURNAL_PRESETS).join(', ')} or a list of 24 hourly weights.`);
    return DIURNAL_PRESETS.flat ?? [];
  }
  if (!isSeq(node) || node.items.length !== 24) {
    r.report('GB_INVALID_VALUE', path, node ?? null, `\`${path}\` must be a preset (${Object.keys(DIURNAL_PRESETS).join(', ')}) or a list of 24 hourly weights.`);
    return DIURNAL_PRESETS.flat ?? [];
  }
  return (node.items as (Node | null)[]).map((n, i) => readNumber(r, n, `${path}[${i}]`, { min: 0 }));
}

function readGrowth(r: SourceReader, node: Node | null, path: string): GrowthPoint {
  const f = readFields(r, node, path, { day: true, factor: true });
  return {
    day: readNumber(r, f?.get('day'), `${path}.day`, { min: 0 }),
    factor: readNumber(r, f?.get('factor'), `${path}.factor`, { min: 0, minExclusive: true }),
  };
}

function readSpike(r: SourceReader, node: Node | null, path: string): Spike {
  const f = readFields(r, node, path, { at: true, duration: true, factor: true, countries: false });
  const spike = {
    at: readDuration(r, f?.get('at'), `${path}.at`, true),
    duration: readDuration(r, f?.get('duration'), `${path}.duration`),
    factor: readNumber(r, f?.get('factor'), `${path}.factor`, { min: 0 }),
  };
  if (!f?.has('countries')) return spike;
  const countries = readScalarList(r, f.get('countries'), `${path}.countries`, 'country codes');
  countries.forEach((c, i) => {
    if (!isCountryCode(c)) r.report('GB_INVALID_CODE', `${path}.countries[${i}]`, null, `'${c}' is not an ISO 3166-1 alpha-2 country code.`);
  });
  return { ...spike, countries };
}

function readEvent(r: SourceReader, node: Node | null, path: string): DatacenterEvent {
  const f = readFields(r, node, path, { at: true, duration: false, datacenter: true, kind: true, capacityFactor: false, failProbability: false });
  const kind = readEnum(r, f?.get('kind'), `${path}.kind`, ['outage', 'degraded', 'congestion'] as const) ?? 'outage';
  const needs = kind === 'degraded' ? 'capacityFactor' : kind === 'congestion' ? 'failProbability' : undefined;
  if (f && needs && !f.has(needs)) r.report('GB_MISSING_FIELD', path, node, `a '${kind}' event needs \`${needs}\` (0..1).`);
  const event: DatacenterEvent = {
    at: readDuration(r, f?.get('at'), `${path}.at`, true),
    datacenter: readString(r, f?.get('datacenter'), `${path}.datacenter`),
    kind,
    ...(f?.has('duration') ? { duration: readDuration(r, f.get('duration'), `${path}.duration`) } : {}),
    ...(f?.has('capacityFactor') ? { capacityFactor: readNumber(r, f.get('capacityFactor'), `${path}.capacityFactor`, { min: 0, max: 1 }) } : {}),
    ...(f?.has('failProbability') ? { failProbability: readNumber(r, f.get('failProbability'), `${path}.failProbability`, { min: 0, max: 1 }) } : {}),
  };
  return event;
}

function readChange(r: SourceReader, node: Node | null, path: string): ManifestChange {
  const f = readFields(r, node, path, { at: true, manifest: true });
  return { at: readDuration(r, f?.get('at'), `${path}.at`, true), manifest: readString(r, f?.get('manifest'), `${path}.manifest`) };
}

function readRun(r: SourceReader, node: Node | null, path: string): RunSpec {
  const f = readFields(r, node, path, { name: true, manifest: false, enforceFences: false, changes: false });
  return {
    name: readString(r, f?.get('name'), `${path}.name`),
    enforceFences: f?.has('enforceFences') ? readBoolean(r, f.get('enforceFences'), `${path}.enforceFences`) : true,
    ...(f?.has('manifest') ? { manifest: readString(r, f.get('manifest'), `${path}.manifest`) } : {}),
    ...(f?.has('changes') ? { changes: readList(r, f.get('changes'), `${path}.changes`, readChange) } : {}),
  };
}

function readEnum<T extends string>(r: SourceReader, node: Node | null | undefined, path: string, values: readonly T[]): T | undefined {
  const value = readString(r, node, path);
  if ((values as readonly string[]).includes(value)) return value as T;
  if (value) r.report('GB_INVALID_VALUE', path, node ?? null, `\`${path}\` is '${value}'; use one of ${values.join(', ')}.`);
  return undefined;
}

const DURATION = /^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?$/;

/** Reads a duration: minutes as a number, or text like `120d`, `3d9h`, `90m`; returns minutes. */
function readDuration(r: SourceReader, node: Node | null | undefined, path: string, zeroAllowed = false): number {
  if (node === undefined) return 0;
  const value = isScalar(node) ? node.value : undefined;
  let minutes = Number.NaN;
  if (typeof value === 'number') minutes = value;
  else if (typeof value === 'string' && value !== '') {
    const m = DURATION.exec(value.trim());
    if (m) minutes = Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  }
  if (!Number.isFinite(minutes) || minutes < 0 || (!zeroAllowed && minutes === 0)) {
    r.report('GB_INVALID_VALUE', path, node, `\`${path}\` must be a ${zeroAllowed ? '' : 'positive '}duration: minutes, or text like 120d, 3d9h, 90m.`);
    return 0;
  }
  return minutes;
}
