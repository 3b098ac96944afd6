import { describe, expect, it } from 'vitest';
import { generateManifest } from '../bench/generate-manifest.js';
import { ALL_COUNTRY_CODES, checkManifest, compilePolicy, parseManifest, type Manifest } from '../src/core/index.js';

function parsed(text: string): Manifest {
  const result = parseManifest(text, 'generated.yaml');
  expect(result.diagnostics).toEqual([]);
  if (!result.manifest) throw new Error('the generated manifest did not parse');
  return result.manifest;
}

describe('generateManifest', () => {
  const text = generateManifest({ datacenters: 1000, countries: 250, seed: 1 });

  it('passes checkManifest with no errors (and, by construction, no warnings)', () => {
    const diagnostics = checkManifest(parseManifest(text, 'generated.yaml'));
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(diagnostics).toEqual([]);
  });

  it('has the requested shape', () => {
    const manifest = parsed(text);
    expect(manifest.datacenters).toHaveLength(1000);
    expect(new Set(manifest.datacenters.map((d) => d.jurisdiction)).size).toBeGreaterThan(100);
    expect(manifest.zones.length).toBeGreaterThanOrEqual(55);
    expect(manifest.zones.length).toBeLessThanOrEqual(60);
    expect(manifest.zones.filter((z) => z.countries.includes('*'))).toHaveLength(1);
    expect(manifest.fences.length).toBeGreaterThanOrEqual(18);
    expect(manifest.fences.some((f) => f.allow) && manifest.fences.some((f) => f.deny)).toBe(true);
    expect(manifest.plans.map((p) => p.exclusive)).toEqual([true, false]);

    const policy = compilePolicy(manifest);
    expect(policy.expand(['EEA']).size).toBe(30);
    // Every country is named by exactly one zone.
    const named = manifest.zones.flatMap((z) => [...policy.expand(z.countries.filter((c) => c !== '*'))]);
    expect(named).toHaveLength(ALL_COUNTRY_CODES.length);
    expect(new Set(named)).toEqual(new Set(ALL_COUNTRY_CODES));

    for (const zone of manifest.zones) {
      const open = zone.primaries.flatMap((id) => policy.datacenterById.get(id) ?? []).filter((d) => policy.claimsOn(d).length === 0);
      expect(open.length).toBeGreaterThanOrEqual(3);
      expect(open.length).toBeLessThanOrEqual(8);
      expect(zone.secondaries.length).toBeGreaterThanOrEqual(5);
      expect(zone.secondaries.length).toBeLessThanOrEqual(15);
      expect(zone.demand).toBeGreaterThan(0);
    }
  });

  it('is deterministic per seed', () => {
    expect(generateManifest({ datacenters: 1000, countries: 250, seed: 1 })).toBe(text);
    const other = generateManifest({ datacenters: 1000, countries: 250, seed: 2 });
    expect(other).not.toBe(text);
    expect(generateManifest({ datacenters: 1000, countries: 250, seed: 2 })).toBe(other);
  });

  it.each([2, 3, 42])('passes checkManifest with no errors for seed %i', (seed) => {
    const diagnostics = checkManifest(parseManifest(generateManifest({ seed }), 'generated.yaml'));
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('leaves unnamed countries to the * zone without errors', () => {
    const manifest = parsed(generateManifest({ datacenters: 1000, countries: 120, seed: 7 }));
    const policy = compilePolicy(manifest);
    const wildcard = manifest.zones.find((z) => z.countries.includes('*'));
    expect(wildcard && policy.countriesOf(wildcard).size).toBe(ALL_COUNTRY_CODES.length - 120);
    expect(checkManifest(parseManifest(generateManifest({ datacenters: 1000, countries: 120, seed: 7 }))).filter((d) => d.severity === 'error')).toEqual([]);
  });
});
