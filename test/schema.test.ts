// The JSON Schema for editors must agree with the parser: the generated file
// matches the module, every example validates, and broken manifests are
// rejected by both the schema and parseManifest.
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { DiagnosticCode } from '../src/core/diagnostics.js';
import { parseManifest } from '../src/core/manifest/parse.js';
import { MANIFEST_JSON_SCHEMA } from '../src/core/manifest/schema.js';

const SCHEMA_FILE = new URL('../schema/manifest.schema.json', import.meta.url);
const EXAMPLES = new URL('../examples/', import.meta.url);

// Every strict check but strictRequired, which does not see that the fence's
// oneOf branches require properties declared by their parent.
const validate = new Ajv2020({ allErrors: true, strict: true, strictRequired: false }).compile(MANIFEST_JSON_SCHEMA);

/** Schema errors for a YAML text, as `path: message` lines (empty when valid). */
function schemaErrors(yaml: string): string[] {
  if (validate(parse(yaml))) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword}`);
}

/** Error codes parseManifest reports for a YAML text. */
function parserCodes(yaml: string): DiagnosticCode[] {
  return parseManifest(yaml).diagnostics.filter((d) => d.severity === 'error').map((d) => d.code);
}

/** us-east's STUN/TURN servers in VALID. */
const ICE_BLOCK = `    ice:
      - urls: [turn:turn.use1.example.com:3478, turns:turn.use1.example.com:5349]
      - urls: [stun:stun.use1.example.com:3478]
        jurisdiction: US
`;

/** A small manifest that parses cleanly; each case below breaks one thing. */
const VALID = `version: 1
groups:
  EU27: [DE, FR]
  europe-plus: [EU27, CH]
datacenters:
  us-east:
    jurisdiction: US
    location: { lat: 39.04, lon: -77.49 }
    capacity: 40000
${ICE_BLOCK}    tags: [gov]
  eu-central:
    jurisdiction: DE
    location: { lat: 50.11, lon: 8.68 }
    capacity: 120000
  cn-beijing:
    jurisdiction: CN
    location: { lat: 39.9, lon: 116.41 }
    capacity: 60000
zones:
  china:
    countries: [CN]
    primaries: [cn-beijing]
  rest:
    countries: ['*', europe-plus]
    primaries: [eu-central, us-east]
    secondaries: []
    demand: 1000
fences:
  - name: china-stays-in-china
    clients: [CN]
    allow: [CN]
  - name: nobody-else-into-china
    clients: ['*', '!CN']
    deny: [CN]
plans:
  government:
    tags: [gov]
    exclusive: true
selection:
  secondaries: 0
  primaryAttempts: 10
  attemptTimeoutMs: 60000
  maxUtilization: 1
`;

/** Replaces one exact line-or-fragment of VALID, failing loudly if it is absent. */
function broken(find: string, replace: string): string {
  if (!VALID.includes(find)) throw new Error(`test bug: ${JSON.stringify(find)} is not in VALID`);
  return VALID.replace(find, replace);
}

/** [what, yaml, parser code] — each must be rejected by the schema and by the parser with that code. */
const BROKEN: readonly (readonly [string, string, DiagnosticCode])[] = [
  ['an unknown field', broken('    demand: 1000', '    demnd: 1000'), 'GB_UNKNOWN_FIELD'],
  ['an unknown top-level field', `${VALID}fence: []\n`, 'GB_UNKNOWN_FIELD'],
  ['an unknown location field', broken('lat: 39.04, lon', 'lat: 39.04, alt: 3, lon'), 'GB_UNKNOWN_FIELD'],
  ['a negative capacity', broken('capacity: 40000', 'capacity: -1'), 'GB_INVALID_VALUE'],
  ['a fractional capacity', broken('capacity: 40000', 'capacity: 1.5'), 'GB_INVALID_VALUE'],
  ['a negative demand', broken('demand: 1000', 'demand: -5'), 'GB_INVALID_VALUE'],
  ['a fence with both allow and deny', broken('    allow: [CN]', '    allow: [CN]\n    deny: [US]'), 'GB_FENCE_RULE'],
  ['a fence with neither allow nor deny', broken('    allow: [CN]\n', ''), 'GB_FENCE_RULE'],
  ["'!CN' in zone countries", broken('countries: [CN]', "countries: [CN, '!US']"), 'GB_WILDCARD_MISPLACED'],
  ["'*' in a fence's allow", broken('allow: [CN]', "allow: ['*']"), 'GB_WILDCARD_MISPLACED'],
  ["'!CN' in a fence's deny", broken('deny: [CN]', "deny: ['!CN']"), 'GB_WILDCARD_MISPLACED'],
  ["'*' in a group", broken('EU27: [DE, FR]', "EU27: [DE, '*']"), 'GB_WILDCARD_MISPLACED'],
  ['lat 91', broken('lat: 39.04', 'lat: 91'), 'GB_INVALID_VALUE'],
  ['lon -180.5', broken('lon: -77.49', 'lon: -180.5'), 'GB_INVALID_VALUE'],
  ['a lower-case jurisdiction', broken('jurisdiction: US', 'jurisdiction: us'), 'GB_INVALID_CODE'],
  ['a lower-case country in a zone', broken('countries: [CN]', 'countries: [cn]'), 'GB_INVALID_CODE'],
  ['a lower-case country in fence clients', broken("clients: ['*', '!CN']", "clients: ['*', '!cn']"), 'GB_INVALID_CODE'],
  ['a group as a jurisdiction', broken('jurisdiction: DE', 'jurisdiction: EU27'), 'GB_INVALID_CODE'],
  ['a group named like a country code', broken('EU27: [DE, FR]', 'EU: [DE, FR]'), 'GB_INVALID_ID'],
  ['a datacenter id starting with a digit', broken('  cn-beijing:', '  1cn-beijing:'), 'GB_INVALID_ID'],
  ['a tag with a space', broken('tags: [gov]\n  eu', "tags: ['g v']\n  eu"), 'GB_INVALID_ID'],
  ['a plan with no tags', broken('    tags: [gov]\n    exclusive', '    tags: []\n    exclusive'), 'GB_INVALID_VALUE'],
  ['a non-boolean exclusive', broken('exclusive: true', 'exclusive: yes'), 'GB_INVALID_TYPE'],
  ['a zone with no countries', broken('countries: [CN]', 'countries: []'), 'GB_INVALID_VALUE'],
  ['a fence with an empty allow', broken('allow: [CN]', 'allow: []'), 'GB_INVALID_VALUE'],
  ['a capacity written as a string', broken('capacity: 40000', "capacity: '40000'"), 'GB_INVALID_TYPE'],
  ['a missing capacity', broken('    capacity: 60000\n', ''), 'GB_MISSING_FIELD'],
  ['a missing fence name', broken('  - name: china-stays-in-china\n    clients', '  - clients'), 'GB_MISSING_FIELD'],
  ['an ICE URL with another scheme', broken('turn:turn.use1.example.com:3478,', 'http://turn.use1.example.com,'), 'GB_INVALID_VALUE'],
  ['an ICE URL with a space', broken('turn:turn.use1.example.com:3478,', "'turn:turn.use1.example.com 3478',"), 'GB_INVALID_VALUE'],
  ['an ICE URL in upper case', broken('stun:stun.use1', 'STUN:stun.use1'), 'GB_INVALID_VALUE'],
  ['an ICE server without URLs', broken('urls: [stun:stun.use1.example.com:3478]', 'urls: []'), 'GB_INVALID_VALUE'],
  ['an ICE server with nine URLs', broken('urls: [stun:stun.use1.example.com:3478]', `urls: [${Array.from({ length: 9 }, (_, i) => `stun:s${i}.example.com`).join(', ')}]`), 'GB_INVALID_VALUE'],
  ['seventeen ICE servers', broken('    ice:\n', `    ice:\n${'      - urls: [stun:stun.example.com]\n'.repeat(16)}`), 'GB_INVALID_VALUE'],
  ['TURN credentials in the manifest', broken('        jurisdiction: US\n', '        jurisdiction: US\n        credential: s3cret\n'), 'GB_UNKNOWN_FIELD'],
  ['an unknown ICE server field', broken('        jurisdiction: US\n', '        jurisdction: US\n'), 'GB_UNKNOWN_FIELD'],
  ['a lower-case ICE jurisdiction', broken('        jurisdiction: US\n', '        jurisdiction: us\n'), 'GB_INVALID_CODE'],
  ['a group as an ICE jurisdiction', broken('        jurisdiction: US\n', '        jurisdiction: EU27\n'), 'GB_INVALID_CODE'],
  ['ICE servers that are not a list', broken(ICE_BLOCK, '    ice: turn:turn.use1.example.com:3478\n'), 'GB_INVALID_TYPE'],
  ['version 2', broken('version: 1', 'version: 2'), 'GB_UNSUPPORTED_VERSION'],
  ['selection.secondaries 17', broken('secondaries: 0', 'secondaries: 17'), 'GB_INVALID_VALUE'],
  ['selection.primaryAttempts 0', broken('primaryAttempts: 10', 'primaryAttempts: 0'), 'GB_INVALID_VALUE'],
  ['selection.attemptTimeoutMs 60001', broken('attemptTimeoutMs: 60000', 'attemptTimeoutMs: 60001'), 'GB_INVALID_VALUE'],
  ['selection.maxUtilization 0', broken('maxUtilization: 1', 'maxUtilization: 0'), 'GB_INVALID_VALUE'],
  ['selection.maxUtilization 1.01', broken('maxUtilization: 1', 'maxUtilization: 1.01'), 'GB_INVALID_VALUE'],
];

describe('schema/manifest.schema.json', () => {
  it('equals the schema module', () => {
    const expected = `${JSON.stringify(MANIFEST_JSON_SCHEMA, null, 2)}\n`;
    expect(readFileSync(SCHEMA_FILE, 'utf8'), 'schema/manifest.schema.json is stale: run `npx tsx scripts/write-schema.ts`').toBe(expected);
  });
});

describe('MANIFEST_JSON_SCHEMA', () => {
  it('closes every object and documents every property', () => {
    const problems: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) {
        node.forEach((item, i) => {
          walk(item, `${path}/${String(i)}`);
        });
        return;
      }
      if (typeof node !== 'object' || node === null) return;
      const schema = node as Record<string, unknown>;
      if (schema.type === 'object') {
        // Maps keyed by id constrain their keys and values instead of listing fields.
        const closed = schema.additionalProperties === false || (schema.propertyNames !== undefined && typeof schema.additionalProperties === 'object');
        if (!closed) problems.push(`${path}: object is not closed`);
      }
      const properties = schema.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [name, property] of Object.entries(properties ?? {})) {
        if (typeof property.title !== 'string' || typeof property.description !== 'string') problems.push(`${path}/properties/${name}: no title or description`);
      }
      for (const [key, value] of Object.entries(schema)) walk(value, `${path}/${key}`);
    };
    walk(MANIFEST_JSON_SCHEMA, '#');
    expect(problems).toEqual([]);
  });

  const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();

  it('has examples to check', () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  it.each(examples)('accepts examples/%s, as the parser does', (name) => {
    const text = readFileSync(new URL(name, EXAMPLES), 'utf8');
    expect(schemaErrors(text)).toEqual([]);
    expect(parserCodes(text)).toEqual([]);
  });

  it('accepts the base manifest of the cases below, as the parser does', () => {
    expect(schemaErrors(VALID)).toEqual([]);
    expect(parserCodes(VALID)).toEqual([]);
  });

  it('accepts a minimal manifest, as the parser does', () => {
    const minimal = 'version: 1\ndatacenters: {}\nzones: {}\n';
    expect(schemaErrors(minimal)).toEqual([]);
    expect(parserCodes(minimal)).toEqual([]);
  });

  it.each(BROKEN)('rejects %s, as the parser does', (_what, yaml, code) => {
    expect(schemaErrors(yaml)).not.toEqual([]);
    expect(parserCodes(yaml)).toContain(code);
  });

  // The schema checks shapes, not references or whole-manifest rules; these are
  // the parser's alone. Listed so that the limit is explicit.
  it.each([
    ['an unknown group', broken('countries: [CN]', 'countries: [CN, europa]'), 'GB_UNKNOWN_GROUP'],
    ['an unassigned country code', broken('jurisdiction: US', 'jurisdiction: XX'), 'GB_INVALID_CODE'],
    ['an ICE server in an unassigned country', broken('        jurisdiction: US\n', '        jurisdiction: XX\n'), 'GB_INVALID_CODE'],
    ['a group cycle', broken('EU27: [DE, FR]', 'EU27: [DE, europe-plus]'), 'GB_GROUP_CYCLE'],
    ['two fences with one name', broken('name: nobody-else-into-china', 'name: china-stays-in-china'), 'GB_DUPLICATE_ID'],
  ] as const)('leaves %s to the parser', (_what, yaml, code) => {
    expect(schemaErrors(yaml)).toEqual([]);
    expect(parserCodes(yaml)).toContain(code);
  });

  // The one place the schema is stricter: the parser forbids group names of two
  // capitals, the schema any two letters, so that 'cn' is always a bad code
  // rather than, silently, a group.
  it('rejects a two-letter lower-case group name, like the parser', () => {
    const yaml = broken('europe-plus: [EU27, CH]', 'europe-plus: [EU27, CH, eu]\n  eu: [DE]');
    expect(schemaErrors(yaml)).not.toEqual([]);
    expect(parserCodes(yaml)).toContain('GB_INVALID_ID');
  });
});
