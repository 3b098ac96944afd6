/**
 * `geobridge table [manifest]`: each zone's candidates under normal load, as
 * seen from a representative country of the zone. `npm start` prints it.
 */
import { isRefusal, selectDatacenters } from '../../core/select/select.js';
import { compilePolicy } from '../../core/policy/compile.js';
import { compareStrings } from '../../core/order.js';
import { parseCommandArgs } from '../args.js';
import { DEFAULT_MANIFEST, EXIT, type Io } from '../io.js';
import { displayPath, requireManifest } from '../manifest-file.js';

export const TABLE_HELP = `Usage: geobridge table [--json] [manifest.yaml]

Prints the routing table: for each zone, the datacenters a participant from one
of its countries would try under normal load (primaries, then backups), and how
many datacenters each fence keeps out of reach. Default: examples/world.yaml.

Options:
  --json      print the rows as JSON: zone, countries, from (the country
              asked for), candidates, outsideFence, and refused (a refusal's
              code) when the zone's country gets no candidate
  -h, --help  show this help

Exit codes: 0 printed · 2 the manifest is unreadable or does not parse

Examples:
  geobridge table
  geobridge table --json examples/incident-2020.yaml | jq '.[] | select(.zone == "north-america")'
`;

/** One row of the routing table. */
interface Row {
  readonly zone: string;
  readonly countries: number;
  readonly from: string;
  readonly candidates: readonly string[];
  readonly outsideFence: number;
  readonly refused?: string;
}

/** Runs `table`. */
export function runTable(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseCommandArgs('table', argv, { json: { type: 'boolean' } }, 1);
  if (values.help) {
    io.out(TABLE_HELP);
    return EXIT.ok;
  }
  const file = positionals[0] ?? DEFAULT_MANIFEST;
  const manifest = requireManifest(file);
  const policy = compilePolicy(manifest);
  const rows: Row[] = [];
  for (const zone of manifest.zones) {
    const countries = [...policy.countriesOf(zone)].sort(compareStrings);
    // The first country the zone names (through groups too) stands for the zone.
    const from = zone.countries.flatMap((entry) => [...policy.expand([entry])]).find((c) => countries.includes(c)) ?? countries[0];
    if (from === undefined) continue;
    const result = selectDatacenters(manifest, { country: from });
    const outsideFence = result.excluded.filter((e) => e.reason === 'FENCE').length;
    rows.push(
      isRefusal(result)
        ? { zone: zone.id, countries: countries.length, from, candidates: [], outsideFence, refused: result.error.code }
        : { zone: zone.id, countries: countries.length, from, candidates: result.candidates.map((c) => `${c.datacenter}${c.role === 'secondary' ? '*' : ''}`), outsideFence },
    );
  }
  if (values.json) {
    io.out(`${JSON.stringify(rows, null, 2)}\n`);
    return EXIT.ok;
  }
  io.out(`Routing table for ${displayPath(file)} (normal load; * = backup)\n\n`);
  const width = Math.max(4, ...rows.map((r) => r.zone.length));
  io.out(`${'zone'.padEnd(width)}  from  countries  fenced-out  try in order\n`);
  for (const r of rows) {
    io.out(`${r.zone.padEnd(width)}  ${r.from.padEnd(4)}  ${String(r.countries).padStart(9)}  ${String(r.outsideFence).padStart(10)}  ${r.refused ?? r.candidates.join(' → ')}\n`);
  }
  return EXIT.ok;
}
