/**
 * Broker configuration from flags and environment, validated once at start-up
 * with every problem reported together. Only the entry point reads
 * `process.env`; it passes it here.
 */
import { isGeobridgeError } from '../core/errors.js';
import { checkTrustedProxies } from './client-ip.js';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from './connection-limit.js';
import { readConfigFile } from './config-file.js';
import type { RateLimits } from './context.js';

/** Flags as parsed by the CLI (strings as typed, undefined when absent). */
export interface ServeFlags {
  /** A YAML file of these settings (config-file.ts); flags and environment win over it. */
  readonly config?: string | undefined;
  readonly manifest?: string | undefined;
  readonly listen?: string | undefined;
  readonly data?: string | undefined;
  readonly store?: string | undefined;
  readonly bus?: string | undefined;
  readonly busPrefix?: string | undefined;
  readonly recordStores?: string | undefined;
  readonly dev?: boolean | undefined;
  readonly cascade?: boolean | undefined;
  readonly trustedProxies?: string | undefined;
  readonly bridgeKeys?: string | undefined;
  readonly geoip?: string | undefined;
  readonly issuer?: string | undefined;
  readonly heartbeatTimeoutMs?: string | undefined;
  readonly shedAt?: string | undefined;
  readonly ticketTtl?: string | undefined;
  readonly joinTokenTtl?: string | undefined;
  readonly placementReleaseMs?: string | undefined;
  readonly rateLimitRequests?: string | undefined;
  readonly rateLimitInvites?: string | undefined;
  readonly rateLimitFailures?: string | undefined;
  readonly rateLimitPresence?: string | undefined;
  readonly maxConnectionsPerAddress?: string | undefined;
}

/**
 * Per address and minute. A bridge's own signed messages and a participant's
 * routes never count against any of them, so neither 20 bridges on one
 * address nor a busy office behind one NAT gets near them; junk does.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = Object.freeze({ requests: 600, invites: 120, failures: 60, presence: 120 });

/** The validated settings of `geobridge serve`. */
export interface ServeSettings {
  readonly manifestPath: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** A PostgreSQL URL for the store (accounts, meetings, placements, manifests, public keys); undefined: SQLite in the data directory. */
  readonly storeUrl?: string | undefined;
  /** A Redis URL for the bus that brokers of one deployment share (presence, reports, control, replay guards, rate limits); undefined: one broker alone. */
  readonly busUrl?: string | undefined;
  /** What the bus's keys and channel start with, so deployments can share one Redis (default 'geobridge'). */
  readonly busPrefix?: string | undefined;
  /** The database of each record store the manifest declares (`stores:`): a PostgreSQL URL, or 'sqlite' for DATA/records-ID.sqlite. */
  readonly recordStores?: ReadonlyMap<string, string>;
  readonly dev: boolean;
  /** Datacenters whose bridge never reported count as up (so routes can be tried without bridges); `dev` unless set. */
  readonly assumeBridgesUp: boolean;
  /**
   * Meetings cascade (docs/cascading.md): each participant on its own
   * nearest in-fence bridge, the bridges relaying what the fences allow,
   * instead of one home datacenter per meeting. False when absent.
   */
  readonly cascade?: boolean;
  readonly trustedProxies: readonly string[];
  readonly bridgeKeysPath: string | undefined;
  readonly geoipPath: string | undefined;
  readonly issuer: string;
  /** From GEOBRIDGE_ADMIN_TOKEN; when absent one is generated into the data directory. */
  readonly adminToken: string | undefined;
  readonly heartbeatTimeoutMs: number;
  /** Load shedding: a bridge whose event loop is busy this share of the time (averaged over heartbeats) takes no new participants; off when absent. */
  readonly shedAt?: number | undefined;
  readonly routeTicketSeconds: number;
  readonly joinTokenSeconds: number;
  /** How long a placed meeting may stay empty before its placement is released. */
  readonly placementReleaseMs: number;
  /** DEFAULT_RATE_LIMITS when absent. */
  readonly rateLimits?: RateLimits;
  /** Connections open at once from one address (trusted proxies exempt); DEFAULT_MAX_CONNECTIONS_PER_ADDRESS when absent. */
  readonly maxConnectionsPerAddress?: number;
}

/** Every flag with its environment variable (flags win). */
export const ENV_NAMES: Readonly<Record<keyof ServeFlags, string>> = {
  config: 'GEOBRIDGE_CONFIG',
  manifest: 'GEOBRIDGE_MANIFEST',
  listen: 'GEOBRIDGE_LISTEN',
  data: 'GEOBRIDGE_DATA',
  store: 'GEOBRIDGE_STORE',
  bus: 'GEOBRIDGE_BUS',
  busPrefix: 'GEOBRIDGE_BUS_PREFIX',
  recordStores: 'GEOBRIDGE_RECORD_STORES',
  dev: 'GEOBRIDGE_DEV',
  cascade: 'GEOBRIDGE_CASCADE',
  trustedProxies: 'GEOBRIDGE_TRUSTED_PROXIES',
  bridgeKeys: 'GEOBRIDGE_BRIDGE_KEYS',
  geoip: 'GEOBRIDGE_GEOIP',
  issuer: 'GEOBRIDGE_ISSUER',
  heartbeatTimeoutMs: 'GEOBRIDGE_HEARTBEAT_TIMEOUT_MS',
  shedAt: 'GEOBRIDGE_SHED_AT',
  ticketTtl: 'GEOBRIDGE_TICKET_TTL',
  joinTokenTtl: 'GEOBRIDGE_JOIN_TOKEN_TTL',
  placementReleaseMs: 'GEOBRIDGE_PLACEMENT_RELEASE_MS',
  rateLimitRequests: 'GEOBRIDGE_RATE_LIMIT_REQUESTS',
  rateLimitInvites: 'GEOBRIDGE_RATE_LIMIT_INVITES',
  rateLimitFailures: 'GEOBRIDGE_RATE_LIMIT_FAILURES',
  rateLimitPresence: 'GEOBRIDGE_RATE_LIMIT_PRESENCE',
  maxConnectionsPerAddress: 'GEOBRIDGE_MAX_CONNECTIONS_PER_ADDRESS',
};

/** What a config file may set: every flag but --config itself. */
const SETTINGS = (Object.keys(ENV_NAMES) as (keyof ServeFlags)[]).filter((key) => key !== 'config');

/** Validates flags, environment and config file; returns the settings or every problem found. */
export function parseServeSettings(flags: ServeFlags, env: Readonly<Record<string, string | undefined>>): { settings?: ServeSettings; problems: string[] } {
  const problems: string[] = [];
  const configPath = flags.config ?? env[ENV_NAMES.config];
  const file = configPath === undefined ? undefined : readConfigFile(configPath, SETTINGS);
  problems.push(...(file?.problems ?? []));
  const get = (key: keyof ServeFlags): string | undefined => {
    const flag = flags[key];
    if (typeof flag === 'string') return flag;
    if (flag === true) return 'true';
    return env[ENV_NAMES[key]] ?? file?.values[key];
  };
  const integer = (key: keyof ServeFlags, fallback: number, min: number, max: number): number => {
    const text = get(key);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`--${kebab(key)} (${ENV_NAMES[key]}) is '${text}'; it must be a whole number from ${min} to ${max}.`);
    return n;
  };

  const manifestPath = get('manifest');
  if (!manifestPath) problems.push(`--manifest FILE (${ENV_NAMES.manifest}) is required: the manifest the broker routes with.`);
  const listen = get('listen') ?? '127.0.0.1:8080';
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port > 65535) problems.push(`--listen (${ENV_NAMES.listen}) is '${listen}'; write HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080.`);
  const host = (match?.[1] ?? '127.0.0.1').replace(/^\[|\]$/g, '');
  const dev = ['1', 'true', 'yes'].includes((get('dev') ?? '').toLowerCase());
  const cascade = ['1', 'true', 'yes'].includes((get('cascade') ?? '').toLowerCase());
  const storeUrl = parseStoreUrl(get('store'), problems);
  const busUrl = parseBusUrl(get('bus'), problems);
  const busPrefix = get('busPrefix') ?? 'geobridge';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(busPrefix)) problems.push(`--bus-prefix (${ENV_NAMES.busPrefix}) is '${busPrefix}'; use 1–64 letters, digits, '_', '.' or '-'.`);
  const recordStores = parseRecordStores(get('recordStores'), problems);
  // Fail closed rather than split a meeting: a broker keeps each cascaded meeting's plan and MLS group in memory.
  if (cascade && busUrl !== undefined) problems.push(`--cascade (${ENV_NAMES.cascade}) runs with one broker: each cascaded meeting's plan and MLS group live in its memory, not yet in the shared store; drop --bus (${ENV_NAMES.bus}) or --cascade.`);
  if (busUrl !== undefined && storeUrl === undefined) problems.push(`--bus (${ENV_NAMES.bus}) needs --store postgres://…: brokers that share a bus must share their store and audit log too.`);
  const trustedProxies = (get('trustedProxies') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  try {
    checkTrustedProxies(trustedProxies);
  } catch (error) {
    problems.push(isGeobridgeError(error) ? `--trusted-proxies: ${error.message}` : String(error));
  }
  const issuer = get('issuer') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (!/^https?:\/\/\S+$/.test(issuer)) problems.push(`--issuer (${ENV_NAMES.issuer}) is '${issuer}'; it must be the broker's URL, e.g. https://broker.example.com.`);
  const adminToken = env.GEOBRIDGE_ADMIN_TOKEN;
  if (adminToken !== undefined && adminToken.length < 16) problems.push('GEOBRIDGE_ADMIN_TOKEN must be at least 16 characters (a random secret).');
  const heartbeatTimeoutMs = integer('heartbeatTimeoutMs', 5000, 500, 600_000);
  const shedText = get('shedAt');
  const shedAt = shedText === undefined ? undefined : Number(shedText);
  // Below half, a bridge would shed in ordinary operation; 1 sheds only a loop that never rests.
  if (shedAt !== undefined && !(shedAt >= 0.5 && shedAt <= 1)) problems.push(`--shed-at (${ENV_NAMES.shedAt}) is '${String(shedText)}'; it must be a share from 0.5 to 1, e.g. 0.9 (a bridge whose event loop is busy 90 % of the time takes no new participants).`);
  const routeTicketSeconds = integer('ticketTtl', 120, 5, 3600);
  const joinTokenSeconds = integer('joinTokenTtl', 600, 10, 86_400);
  const placementReleaseMs = integer('placementReleaseMs', 30_000, 100, 86_400_000);
  const rateLimits: RateLimits = Object.freeze({
    requests: integer('rateLimitRequests', DEFAULT_RATE_LIMITS.requests, 1, 1_000_000),
    invites: integer('rateLimitInvites', DEFAULT_RATE_LIMITS.invites, 1, 1_000_000),
    failures: integer('rateLimitFailures', DEFAULT_RATE_LIMITS.failures, 1, 1_000_000),
    presence: integer('rateLimitPresence', DEFAULT_RATE_LIMITS.presence, 1, 1_000_000),
  });
  const maxConnectionsPerAddress = integer('maxConnectionsPerAddress', DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, 1, 1_000_000);
  if (problems.length > 0 || !manifestPath) return { problems };
  return {
    problems,
    settings: Object.freeze({
      manifestPath,
      host,
      port,
      dataDir: get('data') ?? './data',
      storeUrl,
      busUrl,
      busPrefix,
      recordStores,
      dev,
      assumeBridgesUp: dev,
      cascade,
      trustedProxies,
      bridgeKeysPath: get('bridgeKeys'),
      geoipPath: get('geoip'),
      issuer,
      adminToken,
      heartbeatTimeoutMs,
      shedAt,
      routeTicketSeconds,
      joinTokenSeconds,
      placementReleaseMs,
      rateLimits,
      maxConnectionsPerAddress,
    }),
  };
}

/** `--store`: `sqlite` (the default: DATA/broker.sqlite) or a postgres:// URL, which the problem text never repeats (it may hold a password). */
export function parseStoreUrl(text: string | undefined, problems: string[]): string | undefined {
  if (text === undefined || text === 'sqlite') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !['postgres:', 'postgresql:'].includes(url.protocol) || url.hostname === '') {
    problems.push(`--store (${ENV_NAMES.store}) must be 'sqlite' or a PostgreSQL URL such as postgres://geobridge@db.example.com:5432/geobridge; got ${url ? `a ${url.protocol} URL` : 'something that is not a URL'}.`);
    return undefined;
  }
  return text;
}

/**
 * `--record-stores`: `ID=URL,ID=URL…`, one per record store the manifest
 * declares; URL is a PostgreSQL URL, or `sqlite` for DATA/records-ID.sqlite.
 * A comma starts a new entry only before `ID=`, so URLs keep theirs.
 */
export function parseRecordStores(text: string | undefined, problems: string[]): ReadonlyMap<string, string> {
  const stores = new Map<string, string>();
  if (text === undefined || text.trim() === '') return stores;
  for (const entry of text.split(/,(?=\s*[A-Za-z][A-Za-z0-9_.-]*=)/)) {
    const match = /^\s*([A-Za-z][A-Za-z0-9_.-]{0,63})=(.+?)\s*$/.exec(entry);
    const where = `--record-stores (${ENV_NAMES.recordStores})`;
    if (!match) {
      problems.push(`${where}: '${entry.split('=')[0] ?? ''}…' is not ID=URL; write e.g. eu=postgres://geobridge@db-eu.example.com/geobridge,us=postgres://…`);
      continue;
    }
    const [, id = '', url = ''] = match;
    if (stores.has(id)) problems.push(`${where} names store '${id}' twice; give each store one database.`);
    const storeProblems: string[] = [];
    const parsed = url === 'sqlite' ? 'sqlite' : parseStoreUrl(url, storeProblems);
    if (parsed === undefined) problems.push(`${where}: store '${id}' must be 'sqlite' (DATA/records-${id}.sqlite) or a PostgreSQL URL such as postgres://geobridge@db-eu.example.com/geobridge.`);
    else stores.set(id, parsed);
  }
  return stores;
}

/** `--bus`: a redis:// or rediss:// URL, which the problem text never repeats (it may hold a password). */
export function parseBusUrl(text: string | undefined, problems: string[]): string | undefined {
  if (text === undefined) return undefined;
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (!url || !['redis:', 'rediss:'].includes(url.protocol) || url.hostname === '') {
    problems.push(`--bus (${ENV_NAMES.bus}) must be a Redis URL such as redis://redis.example.com:6379; got ${url ? `a ${url.protocol} URL` : 'something that is not a URL'}.`);
    return undefined;
  }
  return text;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
