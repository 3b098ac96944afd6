import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIAGNOSTIC_CODES } from '../diagnostics.js';
import { countryPoint } from '../geo/countries.js';
import { distanceToTerritoryKm, territoryCodes } from '../geo/territories.js';
import { parseManifest } from '../manifest/parse.js';
import { findMisplacement, LOCATION_TOLERANCE_KM } from './location.js';

const examples = join(import.meta.dirname, '../../../examples');

/** Real datacenter sites: coastal cities, small states, islands, border towns. */
const SITES: readonly (readonly [site: string, jurisdiction: string, lat: number, lon: number])[] = [
  ['Singapore', 'SG', 1.35, 103.82],
  ['Hong Kong', 'HK', 22.32, 114.17],
  ['Macau', 'MO', 22.2, 113.55],
  ['Sydney', 'AU', -33.87, 151.21],
  ['Perth', 'AU', -31.95, 115.86],
  ['Mumbai', 'IN', 19.08, 72.88],
  ['Chennai', 'IN', 13.08, 80.27],
  ['Tokyo', 'JP', 35.68, 139.69],
  ['Osaka', 'JP', 34.69, 135.5],
  ['Dublin', 'IE', 53.35, -6.26],
  ['Frankfurt', 'DE', 50.11, 8.68],
  ['São Paulo', 'BR', -23.55, -46.63],
  ['Cape Town', 'ZA', -33.92, 18.42],
  ['Copenhagen', 'DK', 55.68, 12.57],
  ['Istanbul', 'TR', 41.01, 28.98],
  ['Auckland', 'NZ', -36.85, 174.76],
  ['Honolulu', 'US', 21.31, -157.86],
  ['Miami', 'US', 25.76, -80.19],
  ['Reykjavik', 'IS', 64.15, -21.94],
  ['Bahrain', 'BH', 26.07, 50.55],
  ['Malta', 'MT', 35.9, 14.51],
  ['Monaco', 'MC', 43.73, 7.42],
  ['Vaduz', 'LI', 47.14, 9.52],
  ['Luxembourg', 'LU', 49.61, 6.13],
  ['Geneva', 'CH', 46.2, 6.14],
  ['Basel', 'CH', 47.56, 7.59],
  ['El Paso', 'US', 31.76, -106.49],
  ['Windsor', 'CA', 42.31, -83.04],
  ['Jersey', 'JE', 49.21, -2.13],
  ['Suva', 'FJ', -18.14, 178.44],
  ['Papeete', 'PF', -17.55, -149.56],
  ['Malé', 'MV', 4.18, 73.51],
  ['Pristina', 'XK', 42.66, 21.17],
  ['Hargeisa', 'SO', 9.56, 44.06],
  ['Gibraltar', 'GI', 36.14, -5.35],
  ['McMurdo', 'AQ', -77.85, 166.67],
];

describe('findMisplacement', () => {
  it('flags a US datacenter in Beijing as lying in China', () => {
    const miss = findMisplacement({ jurisdiction: 'US', location: { lat: 39.9, lon: 116.41 } });
    expect(miss?.nearest).toEqual({ code: 'CN', km: 0 });
    expect(miss?.km).toBeGreaterThan(4000);
  });

  it('flags a point at sea far from its country, naming the nearest one', () => {
    // Sydney with the sign of its latitude lost: in the Pacific, east of Japan.
    const miss = findMisplacement({ jurisdiction: 'AU', location: { lat: 33.87, lon: 151.21 } });
    expect(miss?.nearest.code).toBe('JP');
    expect(miss?.nearest.km).toBeGreaterThan(0);
    expect(miss?.km).toBeGreaterThan(4000);
    // Mid-Atlantic, labelled US.
    expect(findMisplacement({ jurisdiction: 'US', location: { lat: 35, lon: -45 } })).toBeDefined();
  });

  it('flags a neighbour well inside the border, not one across it', () => {
    expect(findMisplacement({ jurisdiction: 'DE', location: { lat: 48.86, lon: 2.35 } })?.nearest).toEqual({ code: 'FR', km: 0 }); // Paris
    expect(findMisplacement({ jurisdiction: 'DE', location: { lat: 48.57, lon: 7.75 } })).toBeUndefined(); // Strasbourg, 5 km from Germany
  });

  it('never flags a point at sea that is still nearer its own country than any other', () => {
    // French Polynesia's representative point: open sea among its islands, nearly 300 km from the nearest.
    const location = { lat: -15, lon: -140 };
    expect(distanceToTerritoryKm('PF', location)).toBeGreaterThan(LOCATION_TOLERANCE_KM);
    expect(findMisplacement({ jurisdiction: 'PF', location })).toBeUndefined();
  });

  it.each(SITES)('never flags %s (%s)', (_site, jurisdiction, lat, lon) => {
    expect(findMisplacement({ jurisdiction, location: { lat, lon } })).toBeUndefined();
  });

  it('never flags a datacenter of the example manifests', () => {
    const files = readdirSync(examples).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const { manifest } = parseManifest(readFileSync(join(examples, file), 'utf8'), file);
      expect(manifest?.datacenters.length, file).toBeGreaterThan(0);
      for (const dc of manifest?.datacenters ?? []) expect(findMisplacement(dc), `${file}: ${dc.id}`).toBeUndefined();
    }
  });

  it("never flags a datacenter at its country's own representative point, for every country the atlas has", () => {
    // Exhaustive over the ~236 codes rather than sampled: the tightest are
    // Kuwait (its point lies 88 km inside Iraq), Saint Martin and Saint
    // Barthélemy (at sea, nearer Anguilla), within the 100 km tolerance.
    for (const jurisdiction of territoryCodes()) {
      const location = countryPoint(jurisdiction);
      expect(location, jurisdiction).toBeDefined();
      if (location) expect(findMisplacement({ jurisdiction, location }), jurisdiction).toBeUndefined();
    }
  });

  it('never flags a point on land labelled with the country it lies in', () => {
    const point = fc.record({ lat: fc.double({ min: -90, max: 90, noNaN: true }), lon: fc.double({ min: -180, max: 180, noNaN: true }) });
    fc.assert(
      fc.property(point, (location) => {
        for (const jurisdiction of territoryCodes().filter((code) => distanceToTerritoryKm(code, location) === 0)) {
          expect(findMisplacement({ jurisdiction, location })).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never flags a jurisdiction the atlas has no shape for', () => {
    expect(findMisplacement({ jurisdiction: 'GI', location: { lat: 39.9, lon: 116.41 } })).toBeUndefined();
  });

  it('states its tolerance in the diagnostic summary', () => {
    expect(DIAGNOSTIC_CODES.GB_LOCATION_OUTSIDE_JURISDICTION.summary).toContain(`${LOCATION_TOLERANCE_KM} km`);
  });
});
