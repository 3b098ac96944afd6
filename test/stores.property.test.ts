/**
 * Control-plane residency (issue 15): which record store holds a
 * participant's records, over random manifests × countries × accounts. The
 * fences are judged by the reference model in arbitraries.ts, never by
 * compile.ts; `check` and the selector are held to agree.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_COUNTRY_CODES, checkManifest, countryPoint, greatCircleKm, isGeobridgeError, parseManifest, printManifest, selectStore, storesFor, type Manifest, type RecordStore } from '../src/core/index.js';
import { JURISDICTIONS, REQUEST_COUNTRIES, insideFences, manifestArb, zoneOf } from './arbitraries.js';

const accountArb: fc.Arbitrary<readonly string[] | undefined> = fc.option(fc.subarray<string>([...JURISDICTIONS]), { nil: undefined });

/** What the selector answers: a store, none declared, or the refusal. */
function outcome(manifest: Manifest, country: string, accountJurisdictions?: readonly string[]): RecordStore | 'none' | 'NO_STORE_IN_FENCE' {
  try {
    return selectStore(manifest, { country, ...(accountJurisdictions ? { accountJurisdictions } : {}) }) ?? 'none';
  } catch (error) {
    if (isGeobridgeError(error) && error.code === 'NO_STORE_IN_FENCE') return 'NO_STORE_IN_FENCE';
    throw error;
  }
}

describe('record stores', () => {
  it('property: a participant’s records go only to a store inside their fences and their account’s jurisdictions, the nearest such; refused only when there is none', () => {
    fc.assert(
      fc.property(manifestArb, fc.constantFrom(...REQUEST_COUNTRIES), accountArb, (manifest, country, account) => {
        const usable = manifest.stores.filter((s) => insideFences(manifest, country, s.jurisdiction) && (account?.includes(s.jurisdiction) ?? true));
        const got = outcome(manifest, country, account);
        if (manifest.stores.length === 0) return got === 'none';
        if (usable.length === 0) return got === 'NO_STORE_IN_FENCE';
        if (typeof got === 'string' || !usable.includes(got)) return false;
        const from = countryPoint(country);
        if (!from) return true;
        // The nearest usable one, and the order storesFor gives is by distance.
        const km = (s: RecordStore): number => greatCircleKm(from, s.location);
        const listed = storesFor(manifest, { country, ...(account ? { accountJurisdictions: account } : {}) });
        return usable.every((s) => km(got) <= km(s)) && listed.length === usable.length && listed.every((s, i) => i === 0 || km(listed[i - 1] as RecordStore) <= km(s));
      }),
      { numRuns: 10_000 },
    );
  });

  it('property: check fails a manifest exactly when some zoned country’s fences allow no store (no account narrowing)', () => {
    fc.assert(
      fc.property(manifestArb, (manifest) => {
        const flagged = checkManifest(parseManifest(printManifest(manifest))).some((d) => d.code === 'GB_NO_STORE_IN_FENCE');
        const stranded = manifest.stores.length > 0 && ALL_COUNTRY_CODES.some((c) => zoneOf(manifest, c) !== undefined && !manifest.stores.some((s) => insideFences(manifest, c, s.jurisdiction)));
        return flagged === stranded;
      }),
      { numRuns: 1_000 },
    );
  });

  it('property: stores survive printing and parsing unchanged', () => {
    fc.assert(
      fc.property(manifestArb, (manifest) => {
        expect(parseManifest(printManifest(manifest)).manifest?.stores).toEqual(manifest.stores);
      }),
      { numRuns: 2_000 },
    );
  });
});
