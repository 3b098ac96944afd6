import { describe, expect, it } from 'vitest';
import { ALL_COUNTRY_CODES, countryName, countryOfNumeric, countryPoint, isCountryCode } from './countries.js';

describe('countries', () => {
  it('knows all 250 world-countries entries, sorted and unique', () => {
    expect(ALL_COUNTRY_CODES).toHaveLength(250);
    expect(new Set(ALL_COUNTRY_CODES).size).toBe(250);
    expect([...ALL_COUNTRY_CODES].sort()).toEqual(ALL_COUNTRY_CODES);
  });

  it('includes US, CN, DE and XK (Kosovo)', () => {
    for (const code of ['US', 'CN', 'DE', 'XK']) expect(isCountryCode(code)).toBe(true);
    expect(countryName('XK')).toBe('Kosovo');
    expect(countryName('DE')).toBe('Germany');
  });

  it('names a country by its ISO numeric code, as world maps do, and nothing for an unknown one', () => {
    expect([countryOfNumeric('276'), countryOfNumeric('840'), countryOfNumeric('156'), countryOfNumeric('036')]).toEqual(['DE', 'US', 'CN', 'AU']);
    expect(countryOfNumeric('999')).toBeUndefined();
    expect(countryOfNumeric('')).toBeUndefined();
  });

  it('accepts only exact uppercase two-letter codes', () => {
    for (const code of ['us', 'Us', 'ZZ', 'USA', '', ' US', 'U']) {
      expect(isCountryCode(code)).toBe(false);
      expect(countryName(code)).toBeUndefined();
      expect(countryPoint(code)).toBeUndefined();
    }
  });

  it('gives every country a point within lat/lon ranges', () => {
    for (const code of ALL_COUNTRY_CODES) {
      const point = countryPoint(code);
      expect(point, code).toBeDefined();
      if (point === undefined) continue;
      expect(Math.abs(point.lat), code).toBeLessThanOrEqual(90);
      expect(Math.abs(point.lon), code).toBeLessThanOrEqual(180);
    }
  });

  it('puts the US point inside the contiguous United States', () => {
    // world-countries 5.x has no capital coordinates, so this is the country
    // centroid (38, -97), not Washington DC; the box holds for either.
    const point = countryPoint('US');
    expect(point?.lat).toBeGreaterThan(24);
    expect(point?.lat).toBeLessThan(50);
    expect(point?.lon).toBeGreaterThan(-125);
    expect(point?.lon).toBeLessThan(-66);
  });
});
