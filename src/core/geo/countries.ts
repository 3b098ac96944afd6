/**
 * ISO 3166-1 alpha-2 country codes with a name and one representative point,
 * from the generated table in countries-data.ts (world-countries, ODbL-1.0).
 */
import type { GeoPoint } from '../manifest/types.js';
import { COUNTRY_ROWS } from './countries-data.js';

interface CountryEntry {
  readonly name: string;
  readonly point: GeoPoint;
}

const COUNTRIES: ReadonlyMap<string, CountryEntry> = new Map(
  COUNTRY_ROWS.map(([code, name, lat, lon]) => [code, { name, point: Object.freeze({ lat, lon }) }] as const),
);

/** Every known country code, sorted. */
export const ALL_COUNTRY_CODES: readonly string[] = Object.freeze([...COUNTRIES.keys()].sort());

/** True when `code` is a known country code, exactly as two uppercase letters. */
export function isCountryCode(code: string): boolean {
  return COUNTRIES.has(code);
}

/** The common English name of a country, or undefined for an unknown code. */
export function countryName(code: string): string | undefined {
  return COUNTRIES.get(code)?.name;
}

/** The country's representative point (its centroid, from world-countries), or undefined for an unknown code. */
export function countryPoint(code: string): GeoPoint | undefined {
  return COUNTRIES.get(code)?.point;
}
