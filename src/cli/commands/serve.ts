/**
 * `geobridge serve`: runs the broker until SIGINT/SIGTERM.
 */
import { GeobridgeError } from '../../core/errors.js';
import { DEFAULT_RATE_LIMITS, parseServeSettings, ENV_NAMES } from '../../broker/config.js';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from '../../broker/connection-limit.js';
import { startBroker } from '../../broker/server.js';
import { parseCommandArgs } from '../args.js';
import { EXIT, untilStopSignal, type Io } from '../io.js';

export const SERVE_HELP = `Usage: geobridge serve --manifest FILE | --config FILE [--listen 127.0.0.1:8080] [--data ./data]
                       [--store sqlite|postgres://…] [--bus redis://…] [--dev] [--cascade]
                       [--record-stores ID=URL,…]
                       [--trusted-proxies IP,CIDR,…]
                       [--bridge-keys FILE] [--geoip FILE] [--issuer URL]

Runs the broker: it decides where each participant may connect (the core's
decider), signs route tickets (Ed25519 JWTs, keys at /.well-known/jwks.json),
places meetings, takes signed heartbeats from bridges, and writes every
decision to a hash-chained audit log before answering. OpenAPI UI at /docs,
Prometheus metrics at /metrics, JSON logs on stdout.

Options (environment variable in brackets; flags win, then the environment,
then the config file):
  --config FILE            a YAML file of these settings, keys as the flags
                           without '--' (store: postgres://…); its paths are
                           read from its own directory                              [${ENV_NAMES.config}]
  --manifest FILE          manifest to route with; it must pass 'geobridge check'   [${ENV_NAMES.manifest}]
  --listen HOST:PORT       address to listen on (default 127.0.0.1:8080)           [${ENV_NAMES.listen}]
  --data DIR               SQLite store, audit log, keys (default ./data)           [${ENV_NAMES.data}]
  --store URL              'sqlite' (DATA/broker.sqlite, the default) or a
                           PostgreSQL URL for the store and audit log
                           (docs/postgres.md)                                       [${ENV_NAMES.store}]
  --bus URL                a Redis URL shared with the other brokers of this
                           deployment: bridges' presence and reports, commands,
                           replay guards, rate limits; needs a PostgreSQL
                           --store (docs/deploy.md)                                 [${ENV_NAMES.bus}]
  --bus-prefix NAME        start of the bus's Redis keys and channel, for several
                           deployments on one Redis (default geobridge)             [${ENV_NAMES.busPrefix}]
  --record-stores LIST     the database of each record store the manifest declares
                           (stores:), as ID=URL,…: what is recorded about a
                           participant goes to a store inside their fences, one
                           transparency log per store; URL is postgres://… or
                           'sqlite' (DATA/records-ID.sqlite) (docs/deploy.md)      [${ENV_NAMES.recordStores}]
  --dev                    local demos only: a request may name its country, and
                           datacenters without a bridge count as up                [${ENV_NAMES.dev}]
  --cascade                meetings cascade: each participant on its own nearest
                           in-fence bridge, bridges relaying what the fences
                           allow, every hop audited, one E2EE group across the
                           bridges (docs/cascading.md); one broker only (no --bus) [${ENV_NAMES.cascade}]
  --trusted-proxies LIST   peers whose X-Forwarded-For is believed (IPs, CIDRs)     [${ENV_NAMES.trustedProxies}]
  --bridge-keys FILE       YAML map datacenter → bridge Ed25519 public key, or
                           → { key, url } to bind its signalling URL               [${ENV_NAMES.bridgeKeys}]
  --geoip FILE             GeoLite2/GeoIP2 Country .mmdb instead of DB-IP Lite      [${ENV_NAMES.geoip}]
  --issuer URL             broker URL put in tickets (default http://LISTEN)        [${ENV_NAMES.issuer}]
  --heartbeat-timeout-ms N a bridge silent this long is down (default 5000)         [${ENV_NAMES.heartbeatTimeoutMs}]
  --shed-at SHARE          load shedding: a bridge whose event loop is busy this
                           share of the time (0.5–1, e.g. 0.9, averaged over its
                           heartbeats) takes no new participants until it is 0.1
                           below; they go to the next datacenter inside their
                           fences, or are refused (default: off)                   [${ENV_NAMES.shedAt}]
  --ticket-ttl S           route ticket lifetime, seconds (default 120)             [${ENV_NAMES.ticketTtl}]
  --join-token-ttl S       join token lifetime, seconds (default 600)               [${ENV_NAMES.joinTokenTtl}]
  --placement-release-ms N a meeting empty this long loses its datacenter (30000)  [${ENV_NAMES.placementReleaseMs}]
Per-address limits, per minute (a limited request gets 429 RATE_LIMITED):
  --rate-limit-requests N  requests to routes without a credential (default ${DEFAULT_RATE_LIMITS.requests})    [${ENV_NAMES.rateLimitRequests}]
  --rate-limit-invites N   invite accepts; invite previews (default ${DEFAULT_RATE_LIMITS.invites})            [${ENV_NAMES.rateLimitInvites}]
  --rate-limit-failures N  malformed or unauthenticated requests (default ${DEFAULT_RATE_LIMITS.failures})       [${ENV_NAMES.rateLimitFailures}]
  --rate-limit-presence N  bridge presence connections (default ${DEFAULT_RATE_LIMITS.presence})                [${ENV_NAMES.rateLimitPresence}]
and at once (the connection over it gets 429 and is closed):
  --max-connections-per-address N
                           connections open from one address, trusted proxies
                           exempt (default ${DEFAULT_MAX_CONNECTIONS_PER_ADDRESS})     [${ENV_NAMES.maxConnectionsPerAddress}]
The admin token comes from GEOBRIDGE_ADMIN_TOKEN; without it one is generated
into DATA/admin-token (mode 600) and its path is printed.

Examples (the README walks through accounts, meetings and routes with curl):
  geobridge serve --config /etc/geobridge/broker.yaml
  geobridge serve --manifest examples/world.yaml --dev
  geobridge serve --manifest world.yaml --listen 10.0.0.5:8080 \
    --store postgres://geobridge@db:5432/geobridge --bus redis://redis:6379 \
    --record-stores eu=postgres://geobridge@db-eu:5432/geobridge,us=postgres://geobridge@db-us:5432/geobridge
`;

/** Runs `serve` until a signal; resolves to the exit code. */
export async function runServe(argv: readonly string[], io: Io, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  const { values } = parseCommandArgs('serve', argv, {
    config: { type: 'string' },
    manifest: { type: 'string' },
    listen: { type: 'string' },
    data: { type: 'string' },
    store: { type: 'string' },
    bus: { type: 'string' },
    'bus-prefix': { type: 'string' },
    'record-stores': { type: 'string' },
    dev: { type: 'boolean' },
    cascade: { type: 'boolean' },
    'trusted-proxies': { type: 'string' },
    'bridge-keys': { type: 'string' },
    geoip: { type: 'string' },
    issuer: { type: 'string' },
    'heartbeat-timeout-ms': { type: 'string' },
    'shed-at': { type: 'string' },
    'ticket-ttl': { type: 'string' },
    'join-token-ttl': { type: 'string' },
    'placement-release-ms': { type: 'string' },
    'rate-limit-requests': { type: 'string' },
    'rate-limit-invites': { type: 'string' },
    'rate-limit-failures': { type: 'string' },
    'rate-limit-presence': { type: 'string' },
    'max-connections-per-address': { type: 'string' },
  }, 0);
  if (values.help) {
    io.out(SERVE_HELP);
    return EXIT.ok;
  }
  const { settings, problems } = parseServeSettings(
    {
      config: values.config,
      manifest: values.manifest,
      listen: values.listen,
      data: values.data,
      store: values.store,
      bus: values.bus,
      busPrefix: values['bus-prefix'],
      recordStores: values['record-stores'],
      dev: values.dev,
      cascade: values.cascade,
      trustedProxies: values['trusted-proxies'],
      bridgeKeys: values['bridge-keys'],
      geoip: values.geoip,
      issuer: values.issuer,
      heartbeatTimeoutMs: values['heartbeat-timeout-ms'],
      shedAt: values['shed-at'],
      ticketTtl: values['ticket-ttl'],
      joinTokenTtl: values['join-token-ttl'],
      placementReleaseMs: values['placement-release-ms'],
      rateLimitRequests: values['rate-limit-requests'],
      rateLimitInvites: values['rate-limit-invites'],
      rateLimitFailures: values['rate-limit-failures'],
      rateLimitPresence: values['rate-limit-presence'],
      maxConnectionsPerAddress: values['max-connections-per-address'],
    },
    env,
  );
  if (!settings) {
    for (const p of problems) io.err(`error: ${p}\n`);
    throw new GeobridgeError('USAGE', `serve: ${problems.length} configuration problem(s) above; see 'geobridge serve --help'.`);
  }
  const broker = await startBroker(settings, { level: env.GEOBRIDGE_LOG_LEVEL ?? 'info' });
  io.err(`geobridge broker listening on ${broker.url} (OpenAPI UI at ${broker.url}/docs)\n`);
  if (broker.adminTokenFile) io.err(`admin token: ${broker.adminTokenFile}\n`);
  await untilStopSignal();
  io.err('stopping…\n');
  await broker.close();
  return EXIT.ok;
}
