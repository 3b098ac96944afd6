/**
 * Golden decisions: every test/golden/*.yaml is
 * `{ name, manifest, request, live: { down, utilization }, expected }`, where
 * `manifest` is a path from the repository root or inline manifest YAML, and
 * `expected` is the decision or refusal as `geobridge route --json` prints it.
 * The expected values were reviewed by hand against PRODUCT.md; there is
 * deliberately no script that rewrites them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseManifest, selectDatacenters, type Manifest, type RouteRequest } from '../src/core/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GOLDEN = fileURLToPath(new URL('golden/', import.meta.url));

interface GoldenCase {
  readonly file: string;
  readonly name: string;
  readonly manifest: Manifest;
  readonly request: RouteRequest;
  readonly down: readonly string[];
  readonly utilization: ReadonlyMap<string, number>;
  readonly expected: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function loadCase(file: string): GoldenCase {
  const raw: unknown = parse(readFileSync(GOLDEN + file, 'utf8'));
  const fail = (what: string): never => {
    throw new Error(`test/golden/${file}: ${what}`);
  };
  if (!isRecord(raw)) return fail('must be a map with name, manifest, request, live, expected');
  const { name, manifest, request, live, expected } = raw;
  const extra = Object.keys(raw).filter((k) => !['name', 'manifest', 'request', 'live', 'expected'].includes(k));
  if (extra.length > 0) fail(`unknown fields ${extra.join(', ')}`);
  if (typeof name !== 'string' || name === '') return fail('`name` must be a non-empty string');
  if (typeof manifest !== 'string') return fail('`manifest` must be a path or inline YAML');
  if (!isRecord(request) || typeof request.country !== 'string') return fail('`request` must be a map with a `country`');
  if (!isRecord(live) || !isStringList(live.down) || !isRecord(live.utilization)) return fail('`live` must be `{ down: [ids], utilization: { id: load } }`');
  if (!isRecord(expected)) return fail('`expected` must be a decision or a refusal');

  // One line: a path from the repository root; several lines: the manifest itself.
  const inline = manifest.includes('\n');
  const text = inline ? manifest : readFileSync(ROOT + manifest, 'utf8');
  const parsed = parseManifest(text, inline ? `${file}#manifest` : manifest);
  if (!parsed.manifest) return fail(`its manifest does not parse: ${parsed.diagnostics.map((d) => `${d.line}:${d.column} ${d.code}`).join('; ')}`);

  const utilization = new Map<string, number>();
  for (const [id, load] of Object.entries(live.utilization)) {
    if (typeof load !== 'number') fail(`live.utilization.${id} must be a number`);
    else utilization.set(id, load);
  }
  return { file, name, manifest: parsed.manifest, request: request as unknown as RouteRequest, down: live.down, utilization, expected };
}

const files = readdirSync(GOLDEN).filter((f) => f.endsWith('.yaml')).sort();

describe('golden decisions', () => {
  it('has the cases the contract calls for', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  for (const file of files) {
    const golden = loadCase(file);
    it(`${file}: ${golden.name}`, () => {
      const result = selectDatacenters(golden.manifest, golden.request, { down: new Set(golden.down), utilization: new Map(golden.utilization) });
      // Compared as JSON: the contract is what `geobridge route --json` prints.
      // A refusal's message is prose for people; its code is the contract.
      const actual = JSON.parse(JSON.stringify(result)) as Record<string, unknown>;
      const expected = golden.expected as Record<string, unknown>;
      if ('error' in expected) {
        const error = actual.error as { code: string; message: string };
        expect(error.code).toBe((expected.error as { code: string }).code);
        expect(error.message.length).toBeGreaterThan(0);
        expect({ ...actual, error: undefined }).toStrictEqual({ ...expected, error: undefined });
      } else {
        expect(actual).toStrictEqual(expected);
      }
    });
  }
});
