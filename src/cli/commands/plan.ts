/**
 * `geobridge plan`: a meeting's cascade for people — who connects where, which
 * relays carry whose media, who cannot see whom and why. Exit 0 planned, 3 a
 * participant can reach nobody, 2 bad input. The rules: docs/cascading.md.
 */
import { GeobridgeError } from '../../core/errors.js';
import { isCountryCode } from '../../core/geo/countries.js';
import type { Manifest } from '../../core/manifest/types.js';
import { planMeeting, type MeetingParticipant, type MeetingPlan, type UnreachablePair } from '../../core/plan/plan.js';
import { compilePolicy } from '../../core/policy/compile.js';
import { isRefusal } from '../../core/select/select.js';
import { checkManifest } from '../../core/verify/check.js';
import { parseCommandArgs } from '../args.js';
import { EXIT, type Io } from '../io.js';
import { loadManifest } from '../manifest-file.js';
import { buildLiveState, parseLocation } from '../route-flags.js';

export const PLAN_HELP = `Usage: geobridge plan --manifest FILE --participant NAME=CC[@LAT,LON] …
                      [--down DC,DC] [--utilization DC=U,…] [--no-e2ee] [--json]

Plans a meeting whose participants are spread over several bridges (a cascade):
  - each participant connects to the first datacenter of its own decision
    (as 'geobridge route' gives it): its nearest bridge inside its fences;
  - each participant's media goes from its bridge straight to every other
    bridge where someone receives it, if that bridge may carry it: inside the
    sender's fences or, in an end-to-end encrypted meeting, outside only fences
    that declare 'transit: e2ee';
  - every pair that cannot exchange media is listed, one direction at a time,
    with a reason: SENDER_UNROUTED, RECEIVER_UNROUTED or FENCE.

Options:
  --manifest FILE                the manifest (required)
  --participant NAME=CC[@LAT,LON]
                                 a participant: a unique name, the country (ISO 3166-1
                                 alpha-2) and where they are (default: the country's
                                 point); repeat for each participant
  --down DC,DC                   datacenters that are down
  --utilization DC=U,…           load per datacenter, 0..1 (at or above maxUtilization = full)
  --no-e2ee                      the meeting is not end-to-end encrypted: no fence's
                                 media transits a bridge outside it
  --json                         print the plan JSON (a contract: docs/cascading.md)

Exit codes: 0 planned · 3 a participant can reach nobody (refused a bridge, or
sending to and receiving from no one) · 2 bad input

Examples:
  geobridge plan --manifest examples/world.yaml --participant anna=DE --participant bruno=BR --participant kenji=JP
  geobridge plan --manifest examples/world.yaml --participant anna=DE@50.11,8.68 --participant li=CN --json
`;

/** Runs `plan`. */
export function runPlan(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseCommandArgs('plan', argv, {
    manifest: { type: 'string' },
    participant: { type: 'string', multiple: true },
    down: { type: 'string' },
    utilization: { type: 'string' },
    'no-e2ee': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.out(PLAN_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw usage(`unexpected argument '${positionals[0] ?? ''}'`);
  if (!values.manifest) throw usage('--manifest FILE is required');
  const specs = values.participant ?? [];
  if (specs.length === 0) throw usage('give at least one --participant NAME=CC');
  const participants = specs.map(parseParticipant);
  const names = new Set<string>();
  for (const p of participants) {
    if (names.has(p.name)) throw usage(`participant '${p.name}' is given twice; names must be unique`);
    names.add(p.name);
  }

  const parsed = loadManifest(values.manifest);
  const manifest = parsed.manifest;
  if (!manifest) {
    const first = parsed.diagnostics[0];
    const where = first ? ` (first: ${first.file}:${first.line}:${first.column}: ${first.code}: ${first.message})` : '';
    throw new GeobridgeError('INVALID_MANIFEST', `${parsed.file} does not parse, so no meeting can be planned${where}; run 'geobridge check ${parsed.file}'.`);
  }
  const errors = checkManifest(parsed).filter((d) => d.severity === 'error').length;
  if (errors > 0) io.err(`warning: ${parsed.file} has ${errors} error(s) (run 'geobridge check'); planning anyway — the decider and the plan hold the fences.\n`);

  const live = buildLiveState(manifest, values.down, values.utilization);
  const e2ee = values['no-e2ee'] !== true;
  const plan = planMeeting(manifest, participants, live, { e2ee });
  if (values.json) {
    // Exactly the contract's three fields (docs/cascading.md), whatever else the core returns.
    io.out(`${JSON.stringify({ participants: plan.participants, relays: plan.relays, unreachable: plan.unreachable }, null, 2)}\n`);
  } else {
    io.out(formatPlan(manifest, plan, e2ee));
  }
  return plan.isolated.length > 0 ? EXIT.refused : EXIT.ok;
}

/** NAME=CC or NAME=CC@LAT,LON. */
function parseParticipant(spec: string): MeetingParticipant {
  const eq = spec.indexOf('=');
  const name = eq < 0 ? '' : spec.slice(0, eq).trim();
  if (eq < 0 || name === '') throw usage(`--participant '${spec}' must be NAME=CC or NAME=CC@LAT,LON, e.g. anna=DE@50.11,8.68`);
  const rest = spec.slice(eq + 1);
  const at = rest.indexOf('@');
  const code = (at < 0 ? rest : rest.slice(0, at)).trim();
  const country = code.toUpperCase();
  if (!isCountryCode(country)) throw new GeobridgeError('INVALID_COUNTRY', `--participant ${name}: '${code}' is not an ISO 3166-1 alpha-2 code (e.g. US, DE).`);
  if (at < 0) return { name, country };
  return { name, country, location: parseLocation(rest.slice(at + 1), `--participant ${name}: location`) };
}

function usage(message: string): GeobridgeError {
  return new GeobridgeError('USAGE', `plan: ${message}; see 'geobridge plan --help'.`);
}

function formatPlan(manifest: Manifest, plan: MeetingPlan, e2ee: boolean): string {
  const policy = compilePolicy(manifest);
  const jurisdiction = (dc: string): string => policy.datacenterById.get(dc)?.jurisdiction ?? '?';
  const width = Math.max(...plan.participants.map((p) => p.name.length));
  const n = plan.participants.length;
  const lines = [
    `Meeting of ${n} participant${n === 1 ? '' : 's'}, ${e2ee ? 'end-to-end encrypted' : 'not end-to-end encrypted (no fence lets its media transit)'}`,
    '',
    'Who connects where (each to the first datacenter of its own decision):',
  ];
  plan.participants.forEach((p, i) => {
    const route = plan.routes[i];
    const where = p.datacenter === null ? `refused ${route && isRefusal(route) ? `${route.error.code}: ${route.error.message}` : ''}` : `→ ${p.datacenter} (${jurisdiction(p.datacenter)})`;
    lines.push(`  ${p.name.padEnd(width)}  ${p.country}  ${where}`);
  });
  lines.push('', 'Relays (bridge → bridge: whose media):');
  if (plan.relays.length === 0) lines.push('  none: every stream that may flow stays on its sender\'s bridge');
  for (const r of plan.relays) lines.push(`  ${r.from} (${jurisdiction(r.from)}) → ${r.to} (${jurisdiction(r.to)}): ${r.streams.join(', ')}`);
  lines.push('', 'Who cannot see or hear whom:');
  if (plan.unreachable.length === 0) lines.push('  nobody: everyone exchanges media with everyone');
  const country = new Map(plan.participants.map((p) => [p.name, p]));
  const pair = (u: UnreachablePair): string => `${u.from} → ${u.to}`;
  const pairWidth = Math.max(0, ...plan.unreachable.map((u) => pair(u).length));
  for (const u of plan.unreachable) lines.push(`  ${pair(u).padEnd(pairWidth)}  ${u.reason}: ${explain(manifest, u, country, e2ee)}`);
  if (plan.isolated.length > 0) lines.push('', `Reaches nobody: ${plan.isolated.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** Why one pair cannot exchange media, for people. */
function explain(manifest: Manifest, u: UnreachablePair, byName: ReadonlyMap<string, { readonly country: string; readonly datacenter: string | null }>, e2ee: boolean): string {
  const sender = byName.get(u.from);
  const receiver = byName.get(u.to);
  switch (u.reason) {
    case 'SENDER_UNROUTED':
      return `${u.from} has no bridge`;
    case 'RECEIVER_UNROUTED':
      return `${u.to} has no bridge`;
    case 'FENCE': {
      const policy = compilePolicy(manifest);
      const dc = receiver?.datacenter ?? '';
      const j = policy.datacenterById.get(dc)?.jurisdiction ?? '';
      const fences = policy.fencesFor(sender?.country ?? '').filter((f) => !f.permitted.has(j) && !(e2ee && f.fence.transit === 'e2ee'));
      const named = fences.map((f) => `'${f.fence.name}'${e2ee ? '' : f.fence.transit === 'e2ee' ? ' (transit: e2ee, but the meeting is not E2EE)' : ''}`).join(', ');
      return `${dc} (${j}) is outside ${u.from}'s fence${fences.length === 1 ? '' : 's'} ${named}`;
    }
  }
}
