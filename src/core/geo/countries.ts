/**
 * ISO 3166-1 alpha-2 country codes with a name, one representative point and
 * the numeric code (what world maps name countries by), from the generated
 * table in countries-data.ts (world-countries, ODbL-1.0).
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

const BY_NUMERIC: ReadonlyMap<string, string> = new Map(COUNTRY_ROWS.flatMap(([code, , , , numeric]) => (numeric === '' ? [] : [[numeric, code] as const])));

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

/** The alpha-2 code of an ISO 3166-1 numeric code ('276' → 'DE'), as world-atlas names its countries; undefined when unknown. */
export function countryOfNumeric(numeric: string): string | undefined {
  return BY_NUMERIC.get(numeric);
}
