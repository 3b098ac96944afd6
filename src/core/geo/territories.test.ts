import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { geoBounds, geoContains } from 'd3-geo';
import fc from 'fast-check';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import { describe, expect, it } from 'vitest';
import type { Country } from 'world-countries';
import { ALL_COUNTRY_CODES } from './countries.js';
import { distanceToTerritoryKm, nearestTerritory, territoryCodes } from './territories.js';

const inside = (code: string, lat: number, lon: number): boolean => distanceToTerritoryKm(code, { lat, lon }) === 0;

describe('territories', () => {
  it('has shapes for most countries, by known codes, sorted', () => {
    const codes = territoryCodes();
    expect(codes.length).toBeGreaterThan(220);
    expect([...codes].sort()).toEqual(codes);
    for (const code of codes) expect(ALL_COUNTRY_CODES, code).toContain(code);
    // Features without an ISO numeric id, mapped by name in the generator.
    for (const code of ['XK', 'SO', 'CY', 'SG', 'HK', 'MC', 'VA']) expect(codes).toContain(code);
  });

  it('has no shape, and so no distance, for what the atlas leaves out', () => {
    for (const code of ['GI', 'TK', 'BQ']) {
      expect(territoryCodes()).not.toContain(code);
      expect(distanceToTerritoryKm(code, { lat: 0, lon: 0 })).toBeUndefined();
    }
  });

  it('finds capitals inside their countries', () => {
    expect(inside('CN', 39.9, 116.41)).toBe(true);
    expect(inside('US', 38.9, -77.04)).toBe(true);
    expect(inside('DE', 52.52, 13.4)).toBe(true);
    expect(inside('US', 39.9, 116.41)).toBe(false);
  });

  it('cuts holes out: Lesotho is not South Africa', () => {
    expect(inside('LS', -29.31, 27.48)).toBe(true);
    expect(inside('ZA', -29.31, 27.48)).toBe(false);
    expect(inside('ZA', -26.2, 28.05)).toBe(true);
  });

  it('holds shapes that cross the antimeridian on both sides', () => {
    expect(inside('RU', 67, 175)).toBe(true); // Chukotka, east of 180°
    expect(inside('RU', 66, -172)).toBe(true); // Chukotka, west of 180°
    expect(inside('FJ', -16.8, -179.97)).toBe(true); // Taveuni
    expect(inside('FJ', -17.8, 178)).toBe(true); // Viti Levu
    expect(inside('US', 51.85, -176.6)).toBe(true); // Adak, Aleutians
  });

  it('closes Antarctica along the South Pole', () => {
    expect(inside('AQ', -89.9, 0)).toBe(true);
    expect(inside('AQ', -80, 100)).toBe(true);
    expect(inside('AQ', -50, 0)).toBe(false);
    // The coast at 0°E is near 70°S: about 20° of latitude, 2,200 km away.
    expect(distanceToTerritoryKm('AQ', { lat: -50, lon: 0 })).toBeGreaterThan(2000);
    expect(distanceToTerritoryKm('AQ', { lat: -50, lon: 0 })).toBeLessThan(2400);
  });

  it('measures short distances in km', () => {
    // Dover Strait: Cap Gris-Nez is 33 km from the English coast (± the 11 km simplification).
    const grisNez = { lat: 50.87, lon: 1.58 };
    expect(distanceToTerritoryKm('GB', grisNez)).toBeGreaterThan(33 - 11);
    expect(distanceToTerritoryKm('GB', grisNez)).toBeLessThan(33 + 11);
    // A degree of latitude due south of the South Pole's continent is 111 km more.
    const south = distanceToTerritoryKm('AQ', { lat: -50, lon: 0 }) ?? 0;
    expect((distanceToTerritoryKm('AQ', { lat: -49, lon: 0 }) ?? 0) - south).toBeCloseTo(111.2, 0);
  });

  it('names the nearest other country, inside it or across the sea', () => {
    expect(nearestTerritory({ lat: 39.9, lon: 116.41 }, 'US')).toEqual({ code: 'CN', km: 0 });
    expect(nearestTerritory({ lat: 50.9, lon: 2.2 }, 'GB')).toEqual({ code: 'FR', km: 0 });
    const atSea = nearestTerritory({ lat: 33.87, lon: 151.21 }, 'AU');
    expect(atSea?.code).toBe('JP');
    expect(atSea?.km).toBeGreaterThan(500);
  });

  it("agrees with d3-geo's spherical test on the full 1:50m atlas, to within the simplification", () => {
    const require = createRequire(import.meta.url);
    const atlas = JSON.parse(readFileSync(require.resolve('world-atlas/countries-50m.json'), 'utf8')) as Topology<{ countries: GeometryCollection }>;
    const codeOf = new Map((require('world-countries') as readonly Country[]).map((c) => [c.ccn3, c.cca2]));
    const shapes = feature(atlas, atlas.objects.countries).features.flatMap((f) => {
      const code = codeOf.get(String(f.id));
      return code === undefined ? [] : [{ code, f, bounds: geoBounds(f) }];
    });
    // Uniform on the sphere; about a third of the points fall on land.
    const point = fc.record({ z: fc.double({ min: -1, max: 1, noNaN: true }), lon: fc.double({ min: -180, max: 180, noNaN: true }) }).map(({ z, lon }) => ({ lat: (Math.asin(z) * 180) / Math.PI, lon }));
    fc.assert(
      fc.property(point, (p) => {
        for (const { code, f, bounds: [[west, south], [east, north]] } of shapes) {
          if (p.lat < south || p.lat > north || (west <= east ? p.lon < west || p.lon > east : p.lon < west && p.lon > east)) continue;
          // 0.1° simplification (≤ 11 km) and 0.01° rounding.
          if (geoContains(f, [p.lon, p.lat])) expect(distanceToTerritoryKm(code, p), code).toBeLessThan(13);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
