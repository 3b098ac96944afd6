// `geobridge plan`: the text for people, the --json contract (docs/cascading.md), exit codes 0, 2 and 3.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from './run-cli.fixture.js';

const root = join(import.meta.dirname, '..');
const world = join(root, 'examples/world.yaml');

interface PlanJson {
  participants: { name: string; country: string; datacenter: string | null }[];
  relays: { from: string; to: string; streams: string[] }[];
  unreachable: { from: string; to: string; reason: string }[];
}

/** world.yaml with the EEA fence letting E2EE media transit. */
function worldWithTransit(): string {
  const text = readFileSync(world, 'utf8').replace('    allow: [EEA, GB, JP]\n', '    allow: [EEA, GB, JP]\n    transit: e2ee\n');
  const file = join(mkdtempSync(join(tmpdir(), 'geobridge-plan-')), 'world.yaml');
  writeFileSync(file, text);
  return file;
}

const trio = ['--participant', 'anna=DE@50.11,8.68', '--participant', 'bruno=BR', '--participant', 'kenji=jp'];

describe('geobridge plan', () => {
  it('prints who connects where, the relays and who cannot see whom, and exits 0', async () => {
    const r = await run('plan', '--manifest', world, ...trio);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toContain('Meeting of 3 participants, end-to-end encrypted');
    expect(r.out).toMatch(/ {2}anna +DE {2}→ eu-central \(DE\)\n/);
    expect(r.out).toContain('  br-south (BR) → eu-central (DE): bruno\n');
    expect(r.out).toContain('  eu-central (DE) → ap-tokyo (JP): anna\n');
    expect(r.out).toContain("  anna → bruno  FENCE: br-south (BR) is outside anna's fence 'eea-stays-in-eea-or-adequate'\n");
    expect(r.out).not.toContain('Reaches nobody');
  });

  it('prints the JSON contract: exactly participants, relays and unreachable, in their order', async () => {
    const r = await run('plan', '--manifest', world, ...trio, '--json');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.out) as PlanJson;
    expect(Object.keys(plan)).toEqual(['participants', 'relays', 'unreachable']);
    expect(plan.participants).toEqual([
      { name: 'anna', country: 'DE', datacenter: 'eu-central' },
      { name: 'bruno', country: 'BR', datacenter: 'br-south' },
      { name: 'kenji', country: 'JP', datacenter: 'ap-tokyo' },
    ]);
    expect(plan.relays).toEqual([
      { from: 'ap-tokyo', to: 'br-south', streams: ['kenji'] },
      { from: 'ap-tokyo', to: 'eu-central', streams: ['kenji'] },
      { from: 'br-south', to: 'ap-tokyo', streams: ['bruno'] },
      { from: 'br-south', to: 'eu-central', streams: ['bruno'] },
      { from: 'eu-central', to: 'ap-tokyo', streams: ['anna'] },
    ]);
    expect(plan.unreachable).toEqual([{ from: 'anna', to: 'bruno', reason: 'FENCE' }]);
  });

  it('relays E2EE media through a bridge outside a fence with transit: e2ee, unless --no-e2ee', async () => {
    const file = worldWithTransit();
    const e2ee = JSON.parse((await run('plan', '--manifest', file, ...trio, '--json')).out) as PlanJson;
    expect(e2ee.unreachable).toEqual([]);
    expect(e2ee.relays).toContainEqual({ from: 'eu-central', to: 'br-south', streams: ['anna'] });
    const clear = await run('plan', '--manifest', file, ...trio, '--no-e2ee');
    expect(clear.code).toBe(0);
    expect(clear.out).toContain('not end-to-end encrypted');
    expect(clear.out).toContain("anna → bruno  FENCE: br-south (BR) is outside anna's fence 'eea-stays-in-eea-or-adequate' (transit: e2ee, but the meeting is not E2EE)");
  });

  it('exits 3 when a participant can reach nobody: the China enclave, or refused a bridge', async () => {
    const enclave = await run('plan', '--manifest', world, ...trio, '--participant', 'li=CN');
    expect(enclave.code).toBe(3);
    expect(enclave.out).toContain('Reaches nobody: li\n');
    expect(enclave.out).toMatch(/ {2}li → anna +FENCE: eu-central \(DE\) is outside li's fence 'china-stays-in-china'\n/);
    const down = await run('plan', '--manifest', world, '--participant', 'anna=DE', '--participant', 'li=CN', '--down', 'cn-beijing,cn-shanghai', '--json');
    expect(down.code).toBe(3);
    const plan = JSON.parse(down.out) as PlanJson;
    expect(plan.participants[1]).toEqual({ name: 'li', country: 'CN', datacenter: null });
    expect(plan.unreachable).toEqual([
      { from: 'anna', to: 'li', reason: 'RECEIVER_UNROUTED' },
      { from: 'li', to: 'anna', reason: 'SENDER_UNROUTED' },
    ]);
    const text = await run('plan', '--manifest', world, '--participant', 'li=CN', '--down', 'cn-beijing,cn-shanghai');
    expect(text.code).toBe(3);
    expect(text.out).toContain('li  CN  refused NO_CAPACITY_IN_FENCE: ');
  });

  it('moves participants off a full datacenter (--utilization), as their own decisions do', async () => {
    const r = await run('plan', '--manifest', world, '--participant', 'anna=DE@50.11,8.68', '--participant', 'kenji=JP', '--utilization', 'eu-central=0.95', '--json');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.out) as PlanJson;
    expect(plan.participants[0]?.datacenter).not.toBe('eu-central');
    expect(plan.participants[0]?.datacenter).not.toBeNull();
  });

  it.each([
    [['--participant', 'anna=DE'], 'USAGE'],
    [['--manifest', 'WORLD'], 'USAGE'],
    [['--manifest', 'WORLD', '--participant', 'anna'], 'USAGE'],
    [['--manifest', 'WORLD', '--participant', '=DE'], 'USAGE'],
    [['--manifest', 'WORLD', '--participant', 'anna=DE', '--participant', 'anna=FR'], 'USAGE'],
    [['--manifest', 'WORLD', '--participant', 'anna=XX'], 'INVALID_COUNTRY'],
    [['--manifest', 'WORLD', '--participant', 'anna=DE@95,1'], 'INVALID_LOCATION'],
    [['--manifest', 'WORLD', '--participant', 'anna=DE', '--down', 'mars-1'], 'UNKNOWN_DATACENTER'],
    [['--manifest', 'WORLD', '--participant', 'anna=DE', '--utilization', 'eu-central=lots'], 'INVALID_UTILIZATION'],
    [['--manifest', 'WORLD', '--participant', 'anna=DE', 'extra'], 'USAGE'],
    [['--manifest', 'WORLD', '--participant', 'anna=DE', '--frobnicate'], 'USAGE'],
  ])('rejects bad input %j with exit 2 and code %s', async (args, code) => {
    const r = await run('plan', ...args.map((a) => (a === 'WORLD' ? world : a)));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error ${code}:`);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('refuses a manifest that does not parse, and a bad transit value, located', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'geobridge-plan-')), 'm.yaml');
    writeFileSync(file, readFileSync(world, 'utf8').replace('    allow: [EEA, GB, JP]\n', '    allow: [EEA, GB, JP]\n    transit: sometimes\n'));
    const r = await run('plan', '--manifest', file, '--participant', 'anna=DE');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/error INVALID_MANIFEST: .*m\.yaml:\d+:\d+: GB_INVALID_VALUE: `fences\[2\]\.transit` is 'sometimes'/);
  });

  it('has --help', async () => {
    const r = await run('plan', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('geobridge plan --manifest FILE --participant NAME=CC[@LAT,LON]');
  });
});

describe('geobridge diff: transit', () => {
  it('reports a fence whose transit changed, in text and JSON', async () => {
    const file = worldWithTransit();
    const r = await run('diff', world, file);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Transit of E2EE media outside a fence (cascaded meetings):\n  eea-stays-in-eea-or-adequate: never → e2ee\n');
    const json = JSON.parse((await run('diff', '--json', world, file)).out) as { transit: unknown[] };
    expect(json.transit).toEqual([{ fence: 'eea-stays-in-eea-or-adequate', before: 'never', after: 'e2ee' }]);
    expect((await run('diff', world, world)).out).toContain('Transit of E2EE media outside a fence (cascaded meetings):\n  no change\n');
  });
});
