// Imports flow toward the core (ARCHITECTURE.md): the pure layers (core, sim,
// sframe, translog) import only pure packages; nothing in src/ reaches into a layer it must not.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(import.meta.dirname, '..', 'src');

/** Which top-level folders of src/ each layer may import from. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: ['core'],
  sim: ['core', 'sim'],
  sframe: ['core', 'sframe'],
  node: ['core', 'sframe', 'node'],
  // The audit log is a transparency log: its Merkle tree is translog's.
  broker: ['core', 'node', 'translog', 'protocol', 'broker'],
  // The bridge speaks the broker's bridge API: it signs with attestation.ts and checks tickets with tickets.ts.
  bridge: ['core', 'node', 'protocol', 'broker', 'e2ee', 'bridge'],
  // The SDK holds the participant's side of the MLS group (e2ee) and its media keys (sframe).
  sdk: ['core', 'protocol', 'e2ee', 'sframe', 'sdk'],
  web: ['core', 'protocol', 'e2ee', 'sframe', 'sdk', 'web'],
  cli: ['core', 'sim', 'node', 'translog', 'protocol', 'broker', 'bridge', 'cli'],
  e2ee: ['core', 'sframe', 'e2ee'],
  translog: ['core', 'translog'],
  protocol: ['core', 'protocol'],
};
/** npm packages each pure layer may use: isomorphic, no I/O. Other layers may use any. */
const PURE_PACKAGES: Readonly<Record<string, ReadonlySet<string>>> = {
  core: new Set(['yaml']),
  sim: new Set(['yaml', 'd3-geo', 'topojson-client', 'topojson-specification']),
  sframe: new Set(),
  translog: new Set(['@noble/hashes/sha2.js']),
};
/**
 * Extra folders a layer's tests (only) may import. The SFrame tests run the
 * RFC 9605 vectors against both crypto backends, and the node:crypto one lives
 * in src/node; the shipped SFrame code still never reaches it.
 */
const TEST_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  sframe: ['node'],
  // Bridge tests join meetings with the Node SDK.
  bridge: ['sdk'],
};

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
        const target = layerOf(resolve(dirname(file), spec));
        const allowed = [...(ALLOWED[layer] ?? []), ...(isTest ? (TEST_ALLOWED[layer] ?? []) : [])];
        if (!allowed.includes(target)) out.push(`${relative(src, file)} → ${spec}`);
      } else if (!isTest && PURE_PACKAGES[layer] && !PURE_PACKAGES[layer].has(spec)) {
        out.push(`${relative(src, file)} → ${spec}`);
      }
    }
  }
  return out;
}

describe('layering', () => {
  it('every layer imports only what ARCHITECTURE.md allows', () => {
    expect(violations()).toEqual([]);
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
