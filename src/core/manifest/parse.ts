/**
 * Manifest parser: YAML text → Manifest, with every structural problem
 * reported at file:line:col (never only the first). Semantic checks that need
 * the whole manifest (fence crossings, capacity) live in verify/check.ts.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from 'yaml';
import { diagnostic, type Diagnostic, type DiagnosticCode, type SourcePosition } from '../diagnostics.js';
import { isCountryCode } from '../geo/countries.js';
import {
  DEFAULT_SELECTION,
  type CountryGroup,
  type Datacenter,
  type Fence,
  type Manifest,
  type Plan,
  type SelectionConfig,
  type Zone,
} from './types.js';

/** Where each field of a parsed manifest came from, by dotted path. */
export type PositionIndex = ReadonlyMap<string, SourcePosition>;

/** The outcome of parsing: a manifest only when the text had no structural errors. */
export interface ParseResult {
  readonly manifest: Manifest | undefined;
  readonly diagnostics: readonly Diagnostic[];
  readonly positions: PositionIndex;
  readonly file: string;
}

const ID = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const TAG = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** How a list of countries may be written at a given place. */
type CountryListKind = 'zone' | 'clients' | 'jurisdictions' | 'members';

/** Parses manifest YAML; `file` is only used to label diagnostics. */
export function parseManifest(text: string, file = 'manifest.yaml'): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const ctx = new Context(file, lineCounter);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) ctx.reportAt('GB_YAML_SYNTAX', '', e.pos[0], `${e.message}.`);
    return ctx.result(undefined);
  }
  const manifest = readManifest(ctx, doc.contents);
  return ctx.result(ctx.failed ? undefined : manifest);
}

class Context {
  readonly diagnostics: Diagnostic[] = [];
  readonly positions = new Map<string, SourcePosition>();
  groupNames: ReadonlySet<string> = new Set();
  readonly file: string;
  readonly #lines: LineCounter;

  constructor(file: string, lines: LineCounter) {
    this.file = file;
    this.#lines = lines;
  }

  get failed(): boolean {
    return this.diagnostics.some((d) => d.severity === 'error');
  }

  at(offset: number): SourcePosition {
    const { line, col } = this.#lines.linePos(offset);
    return { line, column: col };
  }

  posOf(node: Node | null | undefined, fallback: SourcePosition = { line: 1, column: 1 }): SourcePosition {
    const offset = node?.range?.[0];
    return offset === undefined ? fallback : this.at(offset);
  }

  record(path: string, node: Node | null | undefined): SourcePosition {
    const pos = this.posOf(node);
    this.positions.set(path, pos);
    return pos;
  }

  report(code: DiagnosticCode, path: string, node: Node | null | undefined, message: string): void {
    this.diagnostics.push(diagnostic(code, this.file, path, this.posOf(node, this.positions.get(path)), message));
  }

  reportAt(code: DiagnosticCode, path: string, offset: number, message: string): void {
    this.diagnostics.push(diagnostic(code, this.file, path, this.at(offset), message));
  }

  result(manifest: Manifest | undefined): ParseResult {
    return { manifest, diagnostics: this.diagnostics, positions: this.positions, file: this.file };
  }
}

interface Entry {
  readonly key: string;
  readonly keyNode: Node;
  readonly value: Node | null;
  readonly path: string;
}

/** Reads a mapping whose keys are ids (datacenters, zones, …), reporting duplicates and bad ids. */
function readIdMap(ctx: Context, node: Node | null, path: string, what: string): Entry[] {
  if (!isMap(node)) {
    ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be a map of ${what} ids to their definitions.`);
    return [];
  }
  const entries: Entry[] = [];
  const seen = new Map<string, SourcePosition>();
  for (const pair of node.items as Pair<Node | null, Node | null>[]) {
    const key = keyText(pair.key);
    const entryPath = `${path}.${key ?? '?'}`;
    if (key === undefined || !ID.test(key)) {
      ctx.report('GB_INVALID_ID', path, pair.key, `${what} id ${JSON.stringify(key ?? String(pair.key))} is not valid: start with a letter, then letters, digits, '-', '_' or '.' (64 at most).`);
      continue;
    }
    const first = seen.get(key);
    if (first) {
      ctx.report('GB_DUPLICATE_ID', entryPath, pair.key, `${what} '${key}' is defined twice (first at ${first.line}:${first.column}); rename or merge one.`);
      continue;
    }
    seen.set(key, ctx.record(entryPath, pair.key));
    entries.push({ key, keyNode: pair.key as Node, value: pair.value, path: entryPath });
  }
  return entries;
}

/** Reads a mapping with a fixed set of fields; unknown and missing fields are errors. */
function readFields(
  ctx: Context,
  node: Node | null,
  path: string,
  fields: Readonly<Record<string, boolean>>,
  owner: Node | null = node,
): Map<string, Node | null> | undefined {
  if (!isMap(node)) {
    ctx.report('GB_INVALID_TYPE', path, node ?? owner, `\`${path || 'the manifest'}\` must be a map with fields ${Object.keys(fields).join(', ')}.`);
    return undefined;
  }
  const out = new Map<string, Node | null>();
  for (const pair of node.items as Pair<Node | null, Node | null>[]) {
    const key = keyText(pair.key) ?? '';
    const fieldPath = path ? `${path}.${key}` : key;
    if (!(key in fields)) {
      const hint = closest(key, Object.keys(fields));
      ctx.report('GB_UNKNOWN_FIELD', fieldPath, pair.key, `unknown field '${key}' in \`${path || 'the manifest'}\`${hint ? `; did you mean '${hint}'?` : `; expected one of ${Object.keys(fields).join(', ')}`}.`);
      continue;
    }
    if (out.has(key)) {
      ctx.report('GB_DUPLICATE_ID', fieldPath, pair.key, `field '${key}' is given twice in \`${path || 'the manifest'}\`; keep one.`);
      continue;
    }
    ctx.record(fieldPath, isScalar(pair.value) || pair.value === null ? (pair.value ?? pair.key) : pair.key);
    out.set(key, pair.value);
  }
  for (const [name, required] of Object.entries(fields)) {
    if (required && !out.has(name)) {
      ctx.report('GB_MISSING_FIELD', path, owner, `\`${path || 'the manifest'}\` is missing the required field '${name}'.`);
    }
  }
  return out;
}

function keyText(node: unknown): string | undefined {
  return isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
}

function readManifest(ctx: Context, root: Node | null): Manifest | undefined {
  if (root === null) {
    ctx.report('GB_UNSUPPORTED_VERSION', 'version', null, 'the manifest is empty; start it with `version: 1`.');
    return undefined;
  }
  const top = readFields(ctx, root, '', {
    version: false,
    groups: false,
    datacenters: true,
    zones: true,
    fences: false,
    plans: false,
    selection: false,
  });
  if (!top) return undefined;
  const version = top.get('version');
  if (!(isScalar(version) && version.value === 1)) {
    ctx.report('GB_UNSUPPORTED_VERSION', 'version', version, 'this geobridge reads manifest version 1; write `version: 1`.');
  }
  const groupEntries = top.has('groups') ? readIdMap(ctx, top.get('groups') ?? null, 'groups', 'group') : [];
  ctx.groupNames = new Set(groupEntries.map((e) => e.key));
  const groups = groupEntries.map((e) => readGroup(ctx, e));
  checkGroupCycles(ctx, groups);
  const datacenters = readIdMap(ctx, top.get('datacenters') ?? null, 'datacenters', 'datacenter').map((e) => readDatacenter(ctx, e));
  const zones = readIdMap(ctx, top.get('zones') ?? null, 'zones', 'zone').map((e) => readZone(ctx, e));
  const fences = top.has('fences') ? readFences(ctx, top.get('fences') ?? null) : [];
  const plans = top.has('plans') ? readIdMap(ctx, top.get('plans') ?? null, 'plans', 'plan').map((e) => readPlan(ctx, e)) : [];
  const selection = top.has('selection') ? readSelection(ctx, top.get('selection') ?? null) : DEFAULT_SELECTION;
  return { version: 1, groups, datacenters, zones, fences, plans, selection };
}

function readGroup(ctx: Context, e: Entry): CountryGroup {
  if (/^[A-Za-z]{2}$/.test(e.key)) {
    ctx.report('GB_INVALID_ID', e.path, e.keyNode, `group name '${e.key}' looks like a country code; use a longer name (e.g. '${e.key.toUpperCase()}-group').`);
  }
  return { id: e.key, members: readCountryList(ctx, e.value, e.path, 'members') };
}

function checkGroupCycles(ctx: Context, groups: readonly CountryGroup[]): void {
  const byId = new Map(groups.map((g) => [g.id, g]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, trail: string[]): void => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(id)), id];
      ctx.report('GB_GROUP_CYCLE', `groups.${id}`, null, `groups include each other in a cycle: ${cycle.join(' → ')}; remove one of these references.`);
      return;
    }
    state.set(id, 'visiting');
    for (const m of byId.get(id)?.members ?? []) if (byId.has(m)) visit(m, [...trail, id]);
    state.set(id, 'done');
  };
  for (const g of groups) visit(g.id, []);
}

function readDatacenter(ctx: Context, e: Entry): Datacenter {
  const f = readFields(ctx, e.value, e.path, { jurisdiction: true, location: true, capacity: true, tags: false }, e.keyNode);
  const jurisdiction = readCode(ctx, f?.get('jurisdiction'), `${e.path}.jurisdiction`);
  const location = readLocation(ctx, f?.get('location'), `${e.path}.location`);
  const capacity = readNumber(ctx, f?.get('capacity'), `${e.path}.capacity`, { min: 0, integer: true });
  const tags = f?.has('tags') ? readTags(ctx, f.get('tags'), `${e.path}.tags`) : [];
  return { id: e.key, jurisdiction, location, capacity, tags };
}

function readZone(ctx: Context, e: Entry): Zone {
  const f = readFields(ctx, e.value, e.path, { countries: true, primaries: true, secondaries: false, demand: false }, e.keyNode);
  const countries = readCountryList(ctx, f?.get('countries'), `${e.path}.countries`, 'zone');
  const primaries = readIdList(ctx, f?.get('primaries'), `${e.path}.primaries`);
  const secondaries = f?.has('secondaries') ? readIdList(ctx, f.get('secondaries'), `${e.path}.secondaries`) : [];
  const zone: Zone = { id: e.key, countries, primaries, secondaries };
  if (f?.has('demand')) return { ...zone, demand: readNumber(ctx, f.get('demand'), `${e.path}.demand`, { min: 0, integer: true }) };
  return zone;
}

function readFences(ctx: Context, node: Node | null): Fence[] {
  if (!isSeq(node)) {
    ctx.report('GB_INVALID_TYPE', 'fences', node, '`fences` must be a list of fences, each `- name: …`.');
    return [];
  }
  const seen = new Map<string, SourcePosition>();
  return (node.items as (Node | null)[]).map((item, i) => {
    const path = `fences[${i}]`;
    ctx.record(path, item);
    const f = readFields(ctx, item, path, { name: true, clients: true, allow: false, deny: false });
    const name = readString(ctx, f?.get('name'), `${path}.name`);
    const first = seen.get(name);
    if (first && name) {
      ctx.report('GB_DUPLICATE_ID', `${path}.name`, f?.get('name'), `fence '${name}' is defined twice (first at ${first.line}:${first.column}); give each fence its own name.`);
    } else if (name) {
      seen.set(name, ctx.posOf(f?.get('name')));
    }
    const clients = readCountryList(ctx, f?.get('clients'), `${path}.clients`, 'clients');
    const hasAllow = f?.has('allow') ?? false;
    const hasDeny = f?.has('deny') ?? false;
    if (f && hasAllow === hasDeny) {
      ctx.report('GB_FENCE_RULE', path, item, `fence '${name}' needs exactly one of \`allow\` and \`deny\` (it has ${hasAllow ? 'both' : 'neither'}).`);
    }
    const fence: Fence = { name, clients };
    if (hasAllow) return { ...fence, allow: readCountryList(ctx, f?.get('allow'), `${path}.allow`, 'jurisdictions') };
    if (hasDeny) return { ...fence, deny: readCountryList(ctx, f?.get('deny'), `${path}.deny`, 'jurisdictions') };
    return fence;
  });
}

function readPlan(ctx: Context, e: Entry): Plan {
  const f = readFields(ctx, e.value, e.path, { tags: true, exclusive: false }, e.keyNode);
  const tags = readTags(ctx, f?.get('tags'), `${e.path}.tags`);
  if (f?.has('tags') && tags.length === 0) {
    ctx.report('GB_INVALID_VALUE', `${e.path}.tags`, f.get('tags'), `plan '${e.key}' needs at least one tag; a plan without tags would allow every datacenter.`);
  }
  const exclusive = f?.has('exclusive') ? readBoolean(ctx, f.get('exclusive'), `${e.path}.exclusive`) : false;
  return { id: e.key, tags, exclusive };
}

function readSelection(ctx: Context, node: Node | null): SelectionConfig {
  const f = readFields(ctx, node, 'selection', { secondaries: false, primaryAttempts: false, attemptTimeoutMs: false, maxUtilization: false });
  const num = (key: keyof SelectionConfig, range: NumberRange): number =>
    f?.has(key) ? readNumber(ctx, f.get(key), `selection.${key}`, range) : DEFAULT_SELECTION[key];
  return {
    secondaries: num('secondaries', { min: 0, max: 16, integer: true }),
    primaryAttempts: num('primaryAttempts', { min: 1, max: 10, integer: true }),
    attemptTimeoutMs: num('attemptTimeoutMs', { min: 1, max: 60_000, integer: true }),
    maxUtilization: num('maxUtilization', { min: 0, max: 1, minExclusive: true }),
  };
}

interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
  readonly minExclusive?: boolean;
}

function readNumber(ctx: Context, node: Node | null | undefined, path: string, range: NumberRange): number {
  if (node === undefined) return 0;
  const value = isScalar(node) ? node.value : undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be a number${range.integer ? ' (a whole number)' : ''}.`);
    return 0;
  }
  const { min, max, integer, minExclusive } = range;
  const tooLow = min !== undefined && (minExclusive ? value <= min : value < min);
  if ((integer && !Number.isInteger(value)) || tooLow || (max !== undefined && value > max)) {
    const lo = min === undefined ? '' : `${minExclusive ? 'above' : 'at least'} ${min}`;
    const hi = max === undefined ? '' : `at most ${max}`;
    const bounds = [lo, hi].filter(Boolean).join(' and ');
    ctx.report('GB_INVALID_VALUE', path, node, `\`${path}\` is ${value}; it must be ${integer ? 'a whole number ' : ''}${bounds}.`);
  }
  return value;
}

function readString(ctx: Context, node: Node | null | undefined, path: string): string {
  if (node === undefined) return '';
  if (!isScalar(node) || typeof node.value !== 'string' || node.value.trim() === '') {
    ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be a non-empty string.`);
    return '';
  }
  return node.value;
}

function readBoolean(ctx: Context, node: Node | null | undefined, path: string): boolean {
  if (isScalar(node) && typeof node.value === 'boolean') return node.value;
  ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be true or false.`);
  return false;
}

function readCode(ctx: Context, node: Node | null | undefined, path: string): string {
  const code = readString(ctx, node, path);
  if (code && !isCountryCode(code)) {
    ctx.report('GB_INVALID_CODE', path, node, invalidCodeMessage(code, 'a jurisdiction'));
  }
  return code;
}

function readLocation(ctx: Context, node: Node | null | undefined, path: string): { lat: number; lon: number } {
  if (node === undefined) return { lat: 0, lon: 0 };
  const f = readFields(ctx, node, path, { lat: true, lon: true });
  return {
    lat: f?.has('lat') ? readNumber(ctx, f.get('lat'), `${path}.lat`, { min: -90, max: 90 }) : 0,
    lon: f?.has('lon') ? readNumber(ctx, f.get('lon'), `${path}.lon`, { min: -180, max: 180 }) : 0,
  };
}

/** Reads a list of scalars, recording each item's position as `path[i]`. */
function readScalarList(ctx: Context, node: Node | null | undefined, path: string, what: string): string[] {
  if (node === undefined) return [];
  if (!isSeq(node)) {
    ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be a list of ${what}, e.g. [a, b].`);
    return [];
  }
  const out: string[] = [];
  (node.items as (Node | null)[]).forEach((item, i) => {
    const itemPath = `${path}[${i}]`;
    ctx.record(itemPath, item);
    if (isScalar(item) && typeof item.value === 'string' && item.value !== '' && !item.tag?.startsWith('!')) out.push(item.value);
    else if (item?.tag?.startsWith('!')) {
      // YAML reads an unquoted !CN as a tag, not as text.
      ctx.report('GB_INVALID_TYPE', itemPath, item, `\`${itemPath}\`: write '${item.tag}' in quotes; unquoted, YAML reads it as a tag.`);
    } else ctx.report('GB_INVALID_TYPE', itemPath, item ?? node, `\`${itemPath}\` must be a string (one of ${what}).`);
  });
  return out;
}

function readIdList(ctx: Context, node: Node | null | undefined, path: string): string[] {
  return readScalarList(ctx, node, path, 'datacenter ids');
}

function readTags(ctx: Context, node: Node | null | undefined, path: string): string[] {
  const tags = readScalarList(ctx, node, path, 'tags');
  tags.forEach((tag, i) => {
    if (!TAG.test(tag)) ctx.report('GB_INVALID_ID', `${path}[${i}]`, null, `tag '${tag}' is not valid: use letters, digits, '-', '_' or '.'.`);
  });
  return tags;
}

/** Reads a list of country codes and groups, with '*' and '!X' where `kind` allows them. */
function readCountryList(ctx: Context, node: Node | null | undefined, path: string, kind: CountryListKind): string[] {
  if (node === undefined) return [];
  const list = readScalarList(ctx, node, path, 'country codes or group names');
  if (isSeq(node) && node.items.length === 0 && kind !== 'members') {
    ctx.report('GB_INVALID_VALUE', path, node, `\`${path}\` must name at least one country.`);
  }
  list.forEach((entry, i) => {
    const itemPath = `${path}[${i}]`;
    if (entry === '*') {
      if (kind !== 'zone' && kind !== 'clients') {
        ctx.report('GB_WILDCARD_MISPLACED', itemPath, null, `'*' has no meaning in \`${path}\`; list the countries or a group.`);
      }
      return;
    }
    const negated = entry.startsWith('!');
    if (negated && kind !== 'clients') {
      ctx.report('GB_WILDCARD_MISPLACED', itemPath, null, `'${entry}' : exclusions with '!' are only allowed in fence \`clients\`.`);
      return;
    }
    const name = negated ? entry.slice(1) : entry;
    if (isCountryCode(name)) return;
    if (ctx.groupNames.has(name)) return;
    if (/^[A-Za-z]{2}$/.test(name)) ctx.report('GB_INVALID_CODE', itemPath, null, invalidCodeMessage(name, 'a country'));
    else ctx.report('GB_UNKNOWN_GROUP', itemPath, null, `'${name}' is neither an ISO 3166-1 alpha-2 code nor a group defined under \`groups:\`.`);
  });
  return list;
}

function invalidCodeMessage(code: string, what: string): string {
  const upper = code.toUpperCase();
  const hint = upper !== code && isCountryCode(upper) ? `; did you mean '${upper}'?` : '; use an upper-case ISO 3166-1 alpha-2 code such as DE or US.';
  return `'${code}' is not ${what} code${hint}`;
}

/** The candidate within edit distance 2 of `word`, if any (for "did you mean"). */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
