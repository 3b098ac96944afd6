/**
 * `geobridge route`: asks the decider where a participant may connect and
 * explains the answer. Exit 0 decided, 3 refused, 2 bad input.
 */
import { GeobridgeError } from '../../core/errors.js';
import { countryName, countryPoint, isCountryCode } from '../../core/geo/countries.js';
import { estimateRttMs, greatCircleKm } from '../../core/geo/distance.js';
import type { Manifest } from '../../core/manifest/types.js';
import { isRefusal, selectDatacenters, type Decision, type LiveState, type Refusal, type RouteRequest } from '../../core/select/select.js';
import { compilePolicy } from '../../core/policy/compile.js';
import { checkManifest } from '../../core/verify/check.js';
import { openGeoIp } from '../../node/geoip.js';
import { parseCommandArgs, splitList } from '../args.js';
import { buildLiveState, parseLocation } from '../route-flags.js';
import { EXIT, type Io } from '../io.js';
import { loadManifest } from '../manifest-file.js';

export const ROUTE_HELP = `Usage: geobridge route --manifest FILE (--country CC [--location LAT,LON] | --ip ADDR)
                       [--plan P] [--allow J,J] [--meeting J,J]
                       [--down DC,DC] [--utilization DC=0.95,…] [--json]

Asks the selection engine where a participant may connect: the datacenters to
try in order (primaries, then backups) and, for every other datacenter, why it
is not offered (FENCE, PLAN, ACCOUNT, MEETING, NOT_LISTED, DOWN, FULL).
It works on any manifest that parses, even one 'check' rejects: the decider
holds the fences when the lists are wrong.

Options:
  --manifest FILE        the manifest (required)
  --country CC           participant's country (ISO 3166-1 alpha-2)
  --location LAT,LON     participant's coordinates (default: the country's point)
  --ip ADDR              locate the participant by IP (embedded DB-IP Lite database)
  --geoip FILE           a GeoLite2/GeoIP2 Country .mmdb to use instead
  --plan P               the participant's plan (e.g. government)
  --allow J,J            the account's allowed jurisdictions (codes or groups)
  --meeting J,J          the meeting's allowed jurisdictions (codes or groups)
  --down DC,DC           datacenters that are down
  --utilization DC=U,…   load per datacenter, 0..1 (at or above maxUtilization = full)
  --json                 print the decision JSON (a contract: docs/selection.md, section 7)

Exit codes: 0 decided · 3 refused · 2 bad input

Examples:
  geobridge route --manifest examples/world.yaml --country US
  geobridge route --manifest examples/world.yaml --country CN --down cn-beijing,cn-shanghai
  geobridge route --manifest examples/incident-2020.yaml --country US --utilization us-east=0.95,us-west=0.95 --json
`;

/** Runs `route`. */
export async function runRoute(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs('route', argv, {
    manifest: { type: 'string' },
    country: { type: 'string' },
    location: { type: 'string' },
    ip: { type: 'string' },
    geoip: { type: 'string' },
    plan: { type: 'string' },
    allow: { type: 'string' },
    meeting: { type: 'string' },
    down: { type: 'string' },
    utilization: { type: 'string' },
    json: { type: 'boolean' },
  }, 0);
  if (values.help) {
    io.out(ROUTE_HELP);
    return EXIT.ok;
  }
  if (!values.manifest) throw usage('--manifest FILE is required');
  const parsed = loadManifest(values.manifest);
  const manifest = parsed.manifest;
  if (!manifest) {
    const first = parsed.diagnostics[0];
    const where = first ? ` (first: ${first.file}:${first.line}:${first.column}: ${first.code}: ${first.message})` : '';
    throw new GeobridgeError('INVALID_MANIFEST', `${parsed.file} does not parse, so no route can be decided${where}; run 'geobridge check ${parsed.file}'.`);
  }
  const errors = checkManifest(parsed).filter((d) => d.severity === 'error').length;
  if (errors > 0) io.err(`warning: ${parsed.file} has ${errors} error(s) (run 'geobridge check'); deciding anyway — the decider holds the fences.\n`);

  const request = await buildRequest(manifest, values);
  const live = buildLiveState(manifest, values.down, values.utilization);
  const result = selectDatacenters(manifest, request, live);
  if (values.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else io.out(isRefusal(result) ? formatRefusal(result) : formatDecision(manifest, request, result, live));
  return isRefusal(result) ? EXIT.refused : EXIT.ok;
}

interface RequestFlags {
  readonly country?: string | undefined;
  readonly location?: string | undefined;
  readonly ip?: string | undefined;
  readonly geoip?: string | undefined;
  readonly plan?: string | undefined;
  readonly allow?: string | undefined;
  readonly meeting?: string | undefined;
}

async function buildRequest(manifest: Manifest, flags: RequestFlags): Promise<RouteRequest> {
  if ((flags.country === undefined) === (flags.ip === undefined)) throw usage('give exactly one of --country CC and --ip ADDR');
  let country = flags.country?.toUpperCase() ?? '';
  if (flags.ip !== undefined) {
    const geoip = await openGeoIp(flags.geoip);
    const found = geoip.lookup(flags.ip);
    if (!found) throw new GeobridgeError('IP_NOT_LOCATED', `${flags.ip} is not in ${geoip.source} (private, reserved or unassigned); pass --country instead.`);
    country = found;
  }
  if (!isCountryCode(country)) throw new GeobridgeError('INVALID_COUNTRY', `--country '${flags.country ?? ''}' is not an ISO 3166-1 alpha-2 code (e.g. US, DE).`);
  const policy = compilePolicy(manifest);
  const jurisdictions = (flag: string, value: string | undefined): string[] | undefined => {
    if (value === undefined) return undefined;
    const codes = [...policy.expand(splitList(value).map((v) => (isCountryCode(v.toUpperCase()) ? v.toUpperCase() : v)))];
    const bad = codes.filter((c) => !isCountryCode(c));
    if (bad.length > 0) throw new GeobridgeError('INVALID_COUNTRY', `${flag}: ${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} neither country codes nor groups of the manifest.`);
    return codes;
  };
  const location = flags.location === undefined ? undefined : parseLocation(flags.location);
  const accountJurisdictions = jurisdictions('--allow', flags.allow);
  const meetingJurisdictions = jurisdictions('--meeting', flags.meeting);
  return {
    country,
    ...(location ? { location } : {}),
    ...(flags.plan !== undefined ? { plan: flags.plan } : {}),
    ...(accountJurisdictions ? { accountJurisdictions } : {}),
    ...(meetingJurisdictions ? { meetingJurisdictions } : {}),
  };
}

function usage(message: string): GeobridgeError {
  return new GeobridgeError('USAGE', `route: ${message}; see 'geobridge route --help'.`);
}

function formatDecision(manifest: Manifest, request: RouteRequest, d: Decision, live: LiveState): string {
  const from = request.location ?? countryPoint(request.country) ?? { lat: 0, lon: 0 };
  const byId = new Map(manifest.datacenters.map((dc) => [dc.id, dc]));
  const lines = [
    `${countryName(d.country) ?? d.country} (${d.country}) → zone ${d.zone ?? '-'}; may use ${d.allowedJurisdictions.length} jurisdictions`,
    `Try in order (${d.attempts.perPrimary} attempt(s) per primary, ${d.attempts.timeoutMs} ms each):`,
  ];
  d.candidates.forEach((c, i) => {
    const dc = byId.get(c.datacenter);
    const rtt = dc ? `~${Math.round(estimateRttMs(greatCircleKm(from, dc.location)))} ms` : '';
    const load = live.utilization?.get(c.datacenter);
    lines.push(`  ${String(i + 1).padStart(2)}. ${c.datacenter.padEnd(18)} ${c.role.padEnd(9)} ${c.jurisdiction}  ${rtt.padStart(8)}${load === undefined ? '' : `  load ${Math.round(load * 100)}%`}`);
  });
  if (d.excluded.length > 0) lines.push('Not offered:', ...d.excluded.map((e) => `      ${e.datacenter.padEnd(18)} ${e.reason.padEnd(10)} ${byId.get(e.datacenter)?.jurisdiction ?? ''}`));
  return `${lines.join('\n')}\n`;
}

function formatRefusal(r: Refusal): string {
  const lines = [`REFUSED ${r.error.code}: ${r.error.message}`];
  if (r.excluded.length > 0) lines.push('Not offered:', ...r.excluded.map((e) => `      ${e.datacenter.padEnd(18)} ${e.reason}`));
  return `${lines.join('\n')}\n`;
}
