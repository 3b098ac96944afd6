// Control-plane residency: the record store of a participant, and `check` on a manifest whose stores leave a country out.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../manifest/parse.js';
import { printManifest } from '../manifest/print.js';
import type { Manifest } from '../manifest/types.js';
import { checkManifest } from '../verify/check.js';
import { selectStore, storesFor } from './store.js';

const BASE = `version: 1
groups:
  EEA: [DE, FR, IE]
datacenters:
  us-east: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 }, capacity: 100 }
  eu-west: { jurisdiction: IE, location: { lat: 53.35, lon: -6.26 }, capacity: 100 }
  cn-beijing: { jurisdiction: CN, location: { lat: 39.9, lon: 116.4 }, capacity: 100 }
stores:
  us: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 } }
  eu-ie: { jurisdiction: IE, location: { lat: 53.35, lon: -6.26 } }
  eu-de: { jurisdiction: DE, location: { lat: 50.11, lon: 8.68 } }
zones:
  na: { countries: [US, CA], primaries: [us-east], secondaries: [eu-west] }
  eu: { countries: [EEA], primaries: [eu-west] }
  cn: { countries: [CN], primaries: [cn-beijing] }
fences:
  - { name: china-stays-in-china, clients: [CN], allow: [CN] }
  - { name: nobody-else-into-china, clients: ['*', '!CN'], deny: [CN] }
  - { name: eea-stays-in-eea, clients: [EEA], allow: [EEA] }
`;
const parsed = parseManifest(BASE, 'stores.yaml');

/** The code `run` throws with ('RETURNED' when it does not). */
function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code ?? 'NO_CODE';
  }
  return 'RETURNED';
}
const m = parsed.manifest as Manifest;

describe('selectStore', () => {
  it('keeps a participant’s records in the nearest store inside their fences', () => {
    expect(selectStore(m, { country: 'FR' })?.id).toBe('eu-de'); // Paris is nearer Frankfurt than Dublin
    expect(selectStore(m, { country: 'IE' })?.id).toBe('eu-ie');
    expect(selectStore(m, { country: 'US' })?.id).toBe('us');
    // Canada's fences allow the EU too; the US store is nearer.
    expect(storesFor(m, { country: 'CA' }).map((s) => s.id)).toEqual(['us', 'eu-ie', 'eu-de']);
    // An EEA participant never goes to the US store, even from next door to it.
    expect(storesFor(m, { country: 'DE', location: { lat: 40.7, lon: -74 } }).map((s) => s.id)).toEqual(['eu-ie', 'eu-de']);
  });

  it('narrows by the account’s jurisdictions, and refuses rather than cross a fence', () => {
    expect(selectStore(m, { country: 'US', accountJurisdictions: ['IE'] })?.id).toBe('eu-ie');
    expect(codeOf(() => selectStore(m, { country: 'CN' }))).toBe('NO_STORE_IN_FENCE');
    expect(codeOf(() => selectStore(m, { country: 'DE', accountJurisdictions: ['US'] }))).toBe('NO_STORE_IN_FENCE');
    expect(codeOf(() => selectStore(m, { country: 'XX' }))).toBe('INVALID_COUNTRY');
  });

  it('leaves records in the broker’s one store when the manifest declares none', () => {
    const none: Manifest = { ...m, stores: [] };
    expect(selectStore(none, { country: 'CN' })).toBeUndefined();
    expect(storesFor(none, { country: 'DE' })).toEqual([]);
  });
});

describe('check with record stores', () => {
  it('fails a manifest whose stores leave a served country nowhere to keep records, naming the zone, countries and fences', () => {
    const found = checkManifest(parsed).filter((d) => d.code === 'GB_NO_STORE_IN_FENCE');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ severity: 'error', path: 'zones.cn.countries', line: 15 });
    expect(found[0]?.message).toContain("zone 'cn' (CN)");
    expect(found[0]?.message).toContain("'china-stays-in-china'");
    // A store in China settles it.
    const fixed = parseManifest(BASE.replace('zones:\n', '  cn: { jurisdiction: CN, location: { lat: 31.2, lon: 121.5 } }\nzones:\n'));
    expect(checkManifest(fixed).filter((d) => d.code === 'GB_NO_STORE_IN_FENCE')).toEqual([]);
    expect(selectStore(fixed.manifest as Manifest, { country: 'CN' })?.id).toBe('cn');
  });

  it('reads stores field by field, with positions, and prints them back', () => {
    const bad = parseManifest(BASE.replace('us: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 } }', 'us: { jurisdiction: USA, location: { lat: 39.04, lon: -77.49 }, url: postgres://x }'), 'bad.yaml');
    expect(bad.diagnostics.map((d) => [d.code, d.path, d.line])).toEqual(
      expect.arrayContaining([
        ['GB_INVALID_CODE', 'stores.us.jurisdiction', 9],
        ['GB_UNKNOWN_FIELD', 'stores.us.url', 9],
      ]),
    );
    expect(parseManifest(printManifest(m)).manifest?.stores).toEqual(m.stores);
    expect(printManifest({ ...m, stores: [] })).not.toContain('stores');
  });
});
