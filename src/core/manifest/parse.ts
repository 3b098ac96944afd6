/**
 * Manifest parser: YAML text → Manifest, with every structural problem
 * reported at file:line:col (never only the first). Semantic checks that need
 * the whole manifest (fence crossings, capacity) live in verify/check.ts.
 */
import { isMap, isScalar, isSeq, YAMLMap, type Node, type Pair } from 'yaml';
import type { Diagnostic, SourcePosition } from '../diagnostics.js';
import { isCountryCode } from '../geo/countries.js';
import { ICE_SERVERS_MAX, ICE_URLS_PER_SERVER_MAX, isIceUrl } from '../ice/rules.js';
import {
  COUNT_MAX,
  DEFAULT_SELECTION,
  type CountryGroup,
  type Datacenter,
  type DeclaredIceServer,
  type Fence,
  type FenceTransit,
  type Manifest,
  type Plan,
  type RecordStore,
  type SelectionConfig,
  type Zone,
} from './types.js';
import {
  readBoolean,
  readFields,
  keyText,
  readIdMap,
  readNumber,
  readScalarList,
  readString,
  readYaml,
  SourceReader,
  type Entry,
  type NumberRange,
  type PositionIndex,
} from '../yaml/reader.js';

export type { PositionIndex } from '../yaml/reader.js';


/** The outcome of parsing: a manifest only when the text had no structural errors. */
export interface ParseResult {
  readonly manifest: Manifest | undefined;
  readonly diagnostics: readonly Diagnostic[];
  readonly positions: PositionIndex;
  readonly file: string;
}

const TAG = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** How a list of countries may be written at a given place. */
type CountryListKind = 'zone' | 'clients' | 'jurisdictions' | 'members';

/** Parses manifest YAML; `file` is only used to label diagnostics. */
export function parseManifest(text: string, file = 'manifest.yaml'): ParseResult {
  const { reader, root } = readYaml(text, file);
  const ctx = new ManifestReader(reader);
  const manifest = root === undefined ? undefined : readManifest(ctx, root);
  return { manifest: ctx.failed ? undefined : manifest, diagnostics: ctx.diagnostics, positions: ctx.positions, file };
}

/** A reader that also knows the manifest's group names, for country lists. */
class ManifestReader extends SourceReader {
  groupNames: ReadonlySet<string> = new Set();

  constructor(base: SourceReader) {
    super(base.file, base.lines);
    this.diagnostics.push(...base.diagnostics);
  }
}

function readManifest(ctx: ManifestReader, root: Node | null): Manifest | undefined {
  if (root === null) {
    ctx.report('GB_UNSUPPORTED_VERSION', 'version', null, 'the manifest is empty; start it with `version: 1`.');
    return undefined;
  }
  const top = readFields(ctx, root, '', {
    version: false,
    groups: false,
    datacenters: true,
    stores: false,
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
  // A missing required map is reported once, as missing: not again as the wrong type.
  const datacenters = top.has('datacenters') ? readIdMap(ctx, top.get('datacenters') ?? null, 'datacenters', 'datacenter').map((e) => readDatacenter(ctx, e)) : [];
  const stores = top.has('stores') ? readIdMap(ctx, top.get('stores') ?? null, 'stores', 'store').map((e) => readStore(ctx, e)) : [];
  const zones = top.has('zones') ? readIdMap(ctx, top.get('zones') ?? null, 'zones', 'zone').map((e) => readZone(ctx, e)) : [];
  const fences = top.has('fences') ? readFences(ctx, top.get('fences') ?? null) : [];
  const plans = top.has('plans') ? readIdMap(ctx, top.get('plans') ?? null, 'plans', 'plan').map((e) => readPlan(ctx, e)) : [];
  const selection = top.has('selection') ? readSelection(ctx, top.get('selection') ?? null) : DEFAULT_SELECTION;
  return { version: 1, groups, datacenters, stores, zones, fences, plans, selection };
}

function readGroup(ctx: ManifestReader, e: Entry): CountryGroup {
  if (/^[A-Za-z]{2}$/.test(e.key)) {
    ctx.report('GB_INVALID_ID', e.path, e.keyNode, `group name '${e.key}' looks like a country code; use a longer name (e.g. '${e.key.toUpperCase()}-group').`);
  }
  return { id: e.key, members: readCountryList(ctx, e.value, e.path, 'members') };
}

function checkGroupCycles(ctx: ManifestReader, groups: readonly CountryGroup[]): void {
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

function readDatacenter(ctx: ManifestReader, e: Entry): Datacenter {
  const f = readFields(ctx, e.value, e.path, { jurisdiction: true, location: true, capacity: true, tags: false, ice: false }, e.keyNode);
  const jurisdiction = readCode(ctx, f?.get('jurisdiction'), `${e.path}.jurisdiction`);
  const location = readLocation(ctx, f?.get('location'), `${e.path}.location`);
  const capacity = readNumber(ctx, f?.get('capacity'), `${e.path}.capacity`, { min: 0, max: COUNT_MAX, integer: true });
  const tags = f?.has('tags') ? readTags(ctx, f.get('tags'), `${e.path}.tags`) : [];
  const ice = f?.has('ice') ? readIce(ctx, f.get('ice') ?? null, `${e.path}.ice`, jurisdiction) : [];
  return { id: e.key, jurisdiction, location, capacity, tags, ice };
}

function readStore(ctx: ManifestReader, e: Entry): RecordStore {
  const f = readFields(ctx, e.value, e.path, { jurisdiction: true, location: true }, e.keyNode);
  return { id: e.key, jurisdiction: readCode(ctx, f?.get('jurisdiction'), `${e.path}.jurisdiction`), location: readLocation(ctx, f?.get('location'), `${e.path}.location`) };
}

/** Reads a datacenter's STUN/TURN servers; a server without a jurisdiction is the datacenter's own. */
function readIce(ctx: ManifestReader, node: Node | null, path: string, own: string): DeclaredIceServer[] {
  if (!isSeq(node)) {
    ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be a list of STUN/TURN servers, each \`- urls: [turn:HOST:PORT]\`.`);
    return [];
  }
  if (node.items.length > ICE_SERVERS_MAX) {
    ctx.report('GB_INVALID_VALUE', path, node, `\`${path}\` declares ${node.items.length} servers; a bridge can hand out at most ${ICE_SERVERS_MAX}.`);
  }
  return (node.items as (Node | null)[]).map((item, i) => {
    const itemPath = `${path}[${i}]`;
    ctx.record(itemPath, item);
    const f = readFields(ctx, withoutCredentials(ctx, item, itemPath), itemPath, { urls: true, jurisdiction: false }, item);
    const urlsNode = f?.get('urls');
    const urls = readScalarList(ctx, urlsNode, `${itemPath}.urls`, 'STUN/TURN URLs');
    if (isSeq(urlsNode) && (urlsNode.items.length === 0 || urlsNode.items.length > ICE_URLS_PER_SERVER_MAX)) {
      ctx.report('GB_INVALID_VALUE', `${itemPath}.urls`, urlsNode, `\`${itemPath}.urls\` has ${urlsNode.items.length} URLs; give 1 to ${ICE_URLS_PER_SERVER_MAX}.`);
    }
    // By the node's own items, so that a URL after a non-string entry is still located at its own index.
    if (isSeq(urlsNode)) {
      (urlsNode.items as (Node | null)[]).forEach((url, j) => {
        if (isScalar(url) && typeof url.value === 'string' && url.value !== '' && !url.tag && !isIceUrl(url.value)) {
          ctx.report('GB_INVALID_VALUE', `${itemPath}.urls[${j}]`, url, `'${url.value}' is not a STUN/TURN URL; write stun:HOST:PORT, stuns:…, turn:HOST:PORT or turns:HOST:PORT (RFC 7064, RFC 7065).`);
        }
      });
    }
    const jurisdiction = f?.has('jurisdiction') ? readCode(ctx, f.get('jurisdiction'), `${itemPath}.jurisdiction`) : own;
    return { urls, jurisdiction };
  });
}

/**
 * username and credential are RTCIceServer fields, so they are the likely
 * mistake here: each is reported with why it does not belong, and the rest of
 * the server is read without them.
 */
function withoutCredentials(ctx: ManifestReader, item: Node | null, path: string): Node | null {
  if (!isMap(item)) return item;
  const secret = (pair: Pair): boolean => ['username', 'credential'].includes(keyText(pair.key) ?? '');
  for (const pair of item.items.filter(secret)) {
    const key = keyText(pair.key) ?? '';
    ctx.report('GB_UNKNOWN_FIELD', `${path}.${key}`, pair.key as Node, `\`${path}.${key}\`: TURN credentials never go in the manifest, which is reviewed, versioned and audited; give them to the bridge (--turn-username, --turn-credential).`);
  }
  const rest = new YAMLMap();
  rest.items = item.items.filter((pair) => !secret(pair));
  return rest;
}

function readZone(ctx: ManifestReader, e: Entry): Zone {
  const f = readFields(ctx, e.value, e.path, { countries: true, primaries: true, secondaries: false, demand: false }, e.keyNode);
  const countries = readCountryList(ctx, f?.get('countries'), `${e.path}.countries`, 'zone');
  const primaries = readIdList(ctx, f?.get('primaries'), `${e.path}.primaries`);
  const secondaries = f?.has('secondaries') ? readIdList(ctx, f.get('secondaries'), `${e.path}.secondaries`) : [];
  const zone: Zone = { id: e.key, countries, primaries, secondaries };
  if (f?.has('demand')) return { ...zone, demand: readNumber(ctx, f.get('demand'), `${e.path}.demand`, { min: 0, max: COUNT_MAX, integer: true }) };
  return zone;
}

function readFences(ctx: ManifestReader, node: Node | null): Fence[] {
  if (!isSeq(node)) {
    ctx.report('GB_INVALID_TYPE', 'fences', node, '`fences` must be a list of fences, each `- name: …`.');
    return [];
  }
  const seen = new Map<string, SourcePosition>();
  return (node.items as (Node | null)[]).map((item, i) => {
    const path = `fences[${i}]`;
    ctx.record(path, item);
    const f = readFields(ctx, item, path, { name: true, clients: true, allow: false, deny: false, transit: false });
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
    const transit = f?.has('transit') ? readTransit(ctx, f.get('transit'), `${path}.transit`) : 'never';
    // 'never' is the default and is not kept: a fence prints back as it was written without it.
    const fence: Fence = transit === 'e2ee' ? { name, clients, transit } : { name, clients };
    if (hasAllow) return { ...fence, allow: readCountryList(ctx, f?.get('allow'), `${path}.allow`, 'jurisdictions') };
    if (hasDeny) return { ...fence, deny: readCountryList(ctx, f?.get('deny'), `${path}.deny`, 'jurisdictions') };
    return fence;
  });
}

/** Reads a fence's `transit`: `never` or `e2ee`. */
function readTransit(ctx: ManifestReader, node: Node | null | undefined, path: string): FenceTransit {
  const value = readString(ctx, node, path);
  if (value === 'never' || value === 'e2ee') return value;
  if (value !== '') ctx.report('GB_INVALID_VALUE', path, node, `\`${path}\` is '${value}'; write \`never\` (the default: the clients' media never passes a bridge outside the fence) or \`e2ee\` (end-to-end encrypted media may transit one as ciphertext).`);
  return 'never';
}

function readPlan(ctx: ManifestReader, e: Entry): Plan {
  const f = readFields(ctx, e.value, e.path, { tags: true, exclusive: false }, e.keyNode);
  const tags = readTags(ctx, f?.get('tags'), `${e.path}.tags`);
  if (f?.has('tags') && tags.length === 0) {
    ctx.report('GB_INVALID_VALUE', `${e.path}.tags`, f.get('tags'), `plan '${e.key}' needs at least one tag; a plan without tags would allow every datacenter.`);
  }
  const exclusive = f?.has('exclusive') ? readBoolean(ctx, f.get('exclusive'), `${e.path}.exclusive`) : false;
  return { id: e.key, tags, exclusive };
}

function readSelection(ctx: ManifestReader, node: Node | null): SelectionConfig {
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

function readCode(ctx: ManifestReader, node: Node | null | undefined, path: string): string {
  const code = readString(ctx, node, path);
  if (code && !isCountryCode(code)) {
    ctx.report('GB_INVALID_CODE', path, node, invalidCodeMessage(code, 'a jurisdiction'));
  }
  return code;
}

function readLocation(ctx: ManifestReader, node: Node | null | undefined, path: string): { lat: number; lon: number } {
  if (node === undefined) return { lat: 0, lon: 0 };
  const f = readFields(ctx, node, path, { lat: true, lon: true });
  return {
    lat: f?.has('lat') ? readNumber(ctx, f.get('lat'), `${path}.lat`, { min: -90, max: 90 }) : 0,
    lon: f?.has('lon') ? readNumber(ctx, f.get('lon'), `${path}.lon`, { min: -180, max: 180 }) : 0,
  };
}

/** Reads a list of scalars, recording each item's position as `path[i]`. */
function readIdList(ctx: ManifestReader, node: Node | null | undefined, path: string): string[] {
  return readScalarList(ctx, node, path, 'datacenter ids');
}

function readTags(ctx: ManifestReader, node: Node | null | undefined, path: string): string[] {
  const tags = readScalarList(ctx, node, path, 'tags');
  tags.forEach((tag, i) => {
    if (!TAG.test(tag)) ctx.report('GB_INVALID_ID', `${path}[${i}]`, null, `tag '${tag}' is not valid: use letters, digits, '-', '_' or '.'.`);
  });
  return tags;
}

/** Reads a list of country codes and groups, with '*' and '!X' where `kind` allows them. */
function readCountryList(ctx: ManifestReader, node: Node | null | undefined, path: string, kind: CountryListKind): string[] {
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
