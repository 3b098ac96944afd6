/**
 * `geobridge diff old.yaml new.yaml`: what a manifest change does to exposure,
 * lists and per-fence capacity — what a reviewer reads before approving it.
 */
import { GeobridgeError } from '../../core/errors.js';
import { diffManifests, type ListChange, type ManifestDiff } from '../../core/verify/diff.js';
import { formatCount, listCountries } from '../../core/verify/format.js';
import { parseCommandArgs } from '../args.js';
import { EXIT, type Io } from '../io.js';
import { requireManifest } from '../manifest-file.js';

export const DIFF_HELP = `Usage: geobridge diff [--json] OLD.yaml NEW.yaml

Shows what a manifest change does to where participants' data may go:
  - exposure: for each client country, the jurisdictions that become reachable
    or unreachable (under any failure or load, for participants without a plan),
    and those its media may be relayed through by the TURN servers it is handed,
    and those of the record stores that may keep what the broker records
    about its participants (\`stores:\`);
  - list entries and STUN/TURN servers that start or stop crossing a fence
    (check rejects them; the decider holds the fence anyway);
  - list changes per zone; datacenters added, removed or changed; STUN/TURN
    servers added, removed or moved to another jurisdiction;
  - fences whose \`transit\` changed: whether E2EE media of their clients may
    transit a bridge outside them in a cascaded meeting (never or e2ee);
  - the capacity inside each fence, before and after.

Options:
  --json      print the diff as JSON: exposure, crossings, iceCrossings,
              zones, datacenters, transit and capacity, each a list of
              changes (the same facts as the text)
  -h, --help  show this help

Exit codes: 0 compared · 2 a file is unreadable or does not parse

Example:
  geobridge diff examples/incident-2020.yaml examples/incident-2020-fixed.yaml
`;

/** Runs `diff`. */
export function runDiff(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseCommandArgs('diff', argv, { json: { type: 'boolean' } });
  if (values.help) {
    io.out(DIFF_HELP);
    return EXIT.ok;
  }
  const [oldFile, newFile, ...rest] = positionals;
  if (oldFile === undefined || newFile === undefined || rest.length > 0) {
    throw new GeobridgeError('USAGE', "diff: give exactly two manifests, OLD and NEW; see 'geobridge diff --help'.");
  }
  const diff = diffManifests(requireManifest(oldFile), requireManifest(newFile));
  io.out(values.json ? `${JSON.stringify(diff, null, 2)}\n` : formatDiff(diff));
  return EXIT.ok;
}

function formatDiff(diff: ManifestDiff): string {
  const lines: string[] = ['Exposure (jurisdictions reachable under any failure):'];
  lines.push(...exposureLines(diff.exposure));
  lines.push('', 'Exposure via TURN relays (jurisdictions media may be relayed through):');
  lines.push(...exposureLines(diff.relayExposure));
  lines.push('', 'Exposure of records (jurisdictions of the record stores that may hold them):');
  lines.push(...exposureLines(diff.recordExposure));
  lines.push('', 'Lists crossing a fence (held by the decider, rejected by check):');
  if (diff.crossings.length === 0) lines.push('  no change');
  for (const c of diff.crossings) {
    lines.push(`  ${c.change === 'added' ? '+' : '-'} zone ${c.zone} lists ${c.datacenter} (${c.jurisdiction}) across fence '${c.fence}'`);
  }
  lines.push('', 'STUN/TURN servers outside a fence (rejected by check):');
  if (diff.iceCrossings.length === 0) lines.push('  no change');
  for (const c of diff.iceCrossings) {
    lines.push(`  ${c.change === 'added' ? '+' : '-'} ${c.datacenter} declares ${c.urls.join(', ')} (${c.jurisdiction}) across fence '${c.fence}'`);
  }
  lines.push('', 'Zones:');
  if (diff.zones.length === 0) lines.push('  no change');
  for (const z of diff.zones) {
    const parts = (['countries', 'primaries', 'secondaries'] as const).map((k) => listChange(k, z[k])).filter(Boolean);
    lines.push(`  ${z.zone} (${z.change})${parts.length ? `: ${parts.join('; ')}` : ''}`);
  }
  lines.push('', 'Datacenters:');
  if (diff.datacenters.length === 0) lines.push('  no change');
  for (const d of diff.datacenters) {
    const show = (s?: { jurisdiction: string; capacity: number }): string => (s ? `${s.jurisdiction}, ${formatCount(s.capacity)}` : '—');
    lines.push(`  ${d.datacenter} (${d.change}): ${show(d.before)} → ${show(d.after)}`);
  }
  lines.push('', 'STUN/TURN servers:');
  if (diff.ice.length === 0) lines.push('  no change');
  for (const i of diff.ice) {
    const mark = i.change === 'added' ? '+' : i.change === 'removed' ? '-' : ' ';
    const where = [i.before, i.after].filter((j) => j !== undefined).join(' → ');
    lines.push(`  ${mark} ${i.datacenter} ${i.url} (${where})`);
  }
  lines.push('', 'Transit of E2EE media outside a fence (cascaded meetings):');
  if (diff.transit.length === 0) lines.push('  no change');
  for (const t of diff.transit) lines.push(`  ${t.fence}: ${t.before ?? '—'} → ${t.after ?? '—'}`);
  lines.push('', 'Capacity inside each fence:');
  for (const f of diff.fences) {
    const delta = f.capacityAfter - f.capacityBefore;
    lines.push(`  ${f.fence}${f.change === 'unchanged' ? '' : ` (${f.change})`}: ${formatCount(f.capacityBefore)} → ${formatCount(f.capacityAfter)}${delta ? ` (${delta > 0 ? '+' : ''}${formatCount(delta)})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

function exposureLines(exposure: ManifestDiff['exposure']): string[] {
  if (exposure.length === 0) return ['  no change'];
  return exposure.map((e) => {
    const change = [...e.gained.map((j) => `+${j}`), ...e.lost.map((j) => `-${j}`)].join(' ');
    return `  ${change.padEnd(12)} for ${listCountries(e.countries, 15)} (${e.countries.length} ${e.countries.length === 1 ? 'country' : 'countries'})`;
  });
}

function listChange(name: string, change: ListChange): string {
  const items = [...change.added.map((x) => `+${x}`), ...change.removed.map((x) => `-${x}`)];
  return items.length ? `${name} ${items.join(' ')}` : '';
}
