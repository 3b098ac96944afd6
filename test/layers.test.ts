// Imports flow toward the core (ARCHITECTURE.md): the pure layers (core, sim,
// sframe, translog, protocol) import only pure packages; nothing in src/ reaches
// into a layer it must not, and the table in ARCHITECTURE.md states exactly these rules.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(import.meta.dirname, '..', 'src');

/** Which top-level folders of src/ each layer may import from (itself included). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: ['core'],
  sim: ['core', 'report', 'sim'],
  // The report kit: what the simulator's report and the audit report both write.
  report: ['report'],
  sframe: ['core', 'sframe'],
  translog: ['core', 'translog'],
  // The wire contracts, below every party that reads them.
  protocol: ['core', 'protocol'],
  // The delivery service (relay.ts) speaks the signalling contract's messages.
  mls: ['core', 'sframe', 'protocol', 'mls'],
  node: ['core', 'sframe', 'node'],
  // The audit log is a transparency log: its Merkle tree is translog's. The broker is a cascaded meeting's MLS delivery service (mls).
  broker: ['core', 'node', 'translog', 'protocol', 'mls', 'report', 'sim', 'broker'],
  // The bridge meets the broker in protocol only, never in its internals.
  bridge: ['core', 'node', 'protocol', 'mls', 'bridge'],
  // The SDK holds the participant's side of the MLS group (mls) and its media keys (sframe).
  sdk: ['core', 'protocol', 'mls', 'sframe', 'node', 'sdk'],
  // The meeting page is an application of the public SDK, and nothing else (ENTRY_ONLY).
  web: ['sdk', 'web'],
  // The operator console reads the broker's console API (its answers are protocol's) and draws with the report kit.
  console: ['protocol', 'report', 'console'],
  cli: ['core', 'sim', 'node', 'translog', 'protocol', 'report', 'broker', 'bridge', 'cli'],
};
/**
 * Layers that may reach another only through its public entry point: the
 * meeting page uses the SDK as any application would (`geobridge/sdk`).
 */
const ENTRY_ONLY: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  web: { sdk: 'sdk/index.ts' },
  // The Node SDK's werift checks a bridge's DTLS key as the bridge's does; the rest of src/node is the servers'.
  sdk: { node: 'node/dtls-key-proof.ts' },
};
/** npm packages each pure layer may use (exact specifiers): isomorphic, no I/O. Other layers may use any. */
const PURE_PACKAGES: Readonly<Record<string, ReadonlySet<string>>> = {
  core: new Set(['yaml']),
  sim: new Set(['yaml']),
  sframe: new Set(),
  report: new Set(['d3-geo', 'topojson-client', 'topojson-specification']),
  translog: new Set(['@noble/hashes/sha2.js']),
  protocol: new Set(['jose', 'typebox', 'typebox/value', 'typebox/error']),
};
/**
 * Extra folders a layer's tests (only) may import. The SFrame tests run the
 * RFC 9605 vectors against both crypto backends, and the node:crypto one lives
 * in src/node; the shipped SFrame code still never reaches it.
 */
const TEST_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  sframe: ['node'],
  // Bridge tests join meetings with the Node SDK, and start a broker for the bridges to talk to.
  bridge: ['sdk', 'broker'],
};

/** ARCHITECTURE.md's "What may import what" table, read into the same three rules. */
function documentedRules(): { allowed: Record<string, string[]>; packages: Record<string, string[] | 'any'>; tests: Record<string, string[]>; entries: Record<string, Record<string, string>> } {
  const text = readFileSync(join(src, '..', 'ARCHITECTURE.md'), 'utf8');
  const section = text.slice(text.indexOf('## What may import what'));
  const rows = [...section.matchAll(/^\| `src\/(\w+)` \|([^|]*)\|([^|]*)\|([^|]*)\|$/gm)];
  const folders = (cell: string): string[] => [...new Set([...cell.matchAll(/`src\/(\w+)(?:\/[\w./-]+)?`/g)].map((m) => m[1] ?? ''))];
  const out = { allowed: {} as Record<string, string[]>, packages: {} as Record<string, string[] | 'any'>, tests: {} as Record<string, string[]>, entries: {} as Record<string, Record<string, string>> };
  for (const [, layer = '', imports = '', packages = '', tests = ''] of rows) {
    out.allowed[layer] = [...folders(imports), layer].sort();
    // "`src/sdk/index.ts` only": that layer only through that entry point.
    for (const m of imports.matchAll(/`src\/((\w+)\/[\w./-]+\.ts)` only/g)) (out.entries[layer] ??= {})[m[2] ?? ''] = m[1] ?? '';
    out.packages[layer] = packages.trim().startsWith('any') ? 'any' : [...packages.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '').sort();
    const extra = folders(tests);
    if (extra.length > 0) out.tests[layer] = extra.sort();
  }
  return out;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return files(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? '');
}

function layerOf(file: string): string {
  return relative(src, file).split('/')[0] ?? '';
}

/** Every import that breaks the layer rules, as "file → specifier". */
function violations(): string[] {
  const out: string[] = [];
  for (const file of files(src)) {
    const layer = layerOf(file);
    // Fixtures (`*.fixture.ts`) serve tests only, and are held to the tests' rules.
    const isTest = file.endsWith('.test.ts') || file.endsWith('.fixture.ts');
    for (const spec of imports(file)) {
      if (spec.startsWith('.')) {
        const resolved = resolve(dirname(file), spec);
        const target = layerOf(resolved);
        const allowed = [...(ALLOWED[layer] ?? []), ...(isTest ? (TEST_ALLOWED[layer] ?? []) : [])];
        const entry = ENTRY_ONLY[layer]?.[target];
        if (!allowed.includes(target) || (entry !== undefined && relative(src, resolved).replace(/\.js$/, '.ts') !== entry)) out.push(`${relative(src, file)} → ${spec}`);
      } else if (!isTest && PURE_PACKAGES[layer] && !PURE_PACKAGES[layer].has(spec)) {
        out.push(`${relative(src, file)} → ${spec}`);
      }
    }
  }
  return out;
}

/**
 * Import circles among the modules of src/ and bench/, type-only and dynamic
 * imports included, each as "a → b → … → a": one side of a circle cannot be
 * read or changed without the other.
 */
function circles(): string[] {
  const root = join(src, '..');
  const modules = [...files(src), ...files(join(root, 'bench'))];
  const known = new Set(modules);
  const edges = new Map(modules.map((file) => [file, imports(file).filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts'))).filter((f) => known.has(f))]));
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, path: string[]): void => {
    state.set(file, 'open');
    path.push(file);
    for (const next of edges.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next].map((f) => relative(root, f)).join(' → '));
      else if (!state.has(next)) visit(next, path);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of modules) if (!state.has(file)) visit(file, []);
  return found;
}

describe('layering', () => {
  it('has no import circles (a type-only or dynamic import counts)', () => {
    expect(circles()).toEqual([]);
  });

  it('every layer imports only what ARCHITECTURE.md allows', () => {
    expect(violations()).toEqual([]);
  });

  it('enforces exactly the rules ARCHITECTURE.md states', () => {
    const documented = documentedRules();
    expect(documented.allowed).toEqual(Object.fromEntries(Object.entries(ALLOWED).map(([layer, folders]) => [layer, [...folders].sort()])));
    expect(documented.packages).toEqual(Object.fromEntries(Object.keys(ALLOWED).map((layer) => [layer, PURE_PACKAGES[layer] ? [...PURE_PACKAGES[layer]].sort() : 'any'])));
    expect(documented.tests).toEqual(Object.fromEntries(Object.entries(TEST_ALLOWED).map(([layer, folders]) => [layer, [...folders].sort()])));
    expect(documented.entries).toEqual(ENTRY_ONLY);
  });

  it('knows every folder under src/ (a new layer must be added to the rules)', () => {
    const layers = new Set(files(src).map(layerOf));
    expect([...layers].filter((l) => !(l in ALLOWED))).toEqual([]);
  });

  it('sees imports (the scanner itself works)', () => {
    expect(imports(join(src, 'core', 'index.ts')).length).toBeGreaterThan(3);
    expect(imports(join(src, 'cli', 'main.ts'))).toContain('../core/errors.js');
  });
});
