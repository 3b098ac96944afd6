// The CLI's contracts: exit codes, compiler-style diagnostics, decision JSON.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from './run-cli.fixture.js';

const root = join(import.meta.dirname, '..');
const world = join(root, 'examples/world.yaml');
const incident = join(root, 'examples/incident-2020.yaml');
const fixed = join(root, 'examples/incident-2020-fixed.yaml');

function tempManifest(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'geobridge-cli-')), 'm.yaml');
  writeFileSync(file, text);
  return file;
}

describe('geobridge check', () => {
  it('passes the bundled world manifest', async () => {
    const r = await run('check', world);
    expect(r.code).toBe(0);
    expect(r.out).toContain('0 errors');
  });

  it('fails the 2020 incident with located fence errors', async () => {
    const r = await run('check', incident);
    expect(r.code).toBe(1);
    const lines = r.out.split('\n').filter((l) => l.includes('error GB_FENCE_CROSSED'));
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line).toMatch(/^examples\/incident-2020\.yaml:\d+:\d+: error GB_FENCE_CROSSED: zone '[a-z-]+' lists cn-(beijing|shanghai) \(jurisdiction CN\)/);
    expect(r.out).toMatch(/note: fence 'nobody-else-into-china' is defined here/);
  });

  it('reports JSON with every diagnostic located', async () => {
    const r = await run('check', '--json', incident);
    const body = JSON.parse(r.out) as { errors: number; diagnostics: { code: string; line: number; column: number; path: string }[] };
    expect(body.errors).toBe(4);
    expect(body.diagnostics.filter((d) => d.code === 'GB_FENCE_CROSSED').map((d) => d.path)).toContain('zones.north-america.secondaries[3]');
    for (const d of body.diagnostics) expect(d.line).toBeGreaterThan(0);
  });

  it('fails on warnings only with --strict', async () => {
    expect((await run('check', fixed)).code).toBe(0);
    const m = tempManifest('version: 1\ndatacenters:\n  a: { jurisdiction: US, location: { lat: 1, lon: 1 }, capacity: 10 }\nzones:\n  z: { countries: [US], primaries: [a], demand: 100 }\n');
    expect((await run('check', m)).code).toBe(0);
    expect((await run('check', '--strict', m)).code).toBe(1);
  });

  it('warns, located, about a datacenter placed outside its jurisdiction, and fails only with --strict', async () => {
    const m = tempManifest('version: 1\ndatacenters:\n  us-east:\n    jurisdiction: US\n    location: { lat: 39.9, lon: 116.41 }\n    capacity: 10\nzones:\n  z: { countries: [\'*\'], primaries: [us-east] }\n');
    const r = await run('check', m);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${m}:5:5: warning GB_LOCATION_OUTSIDE_JURISDICTION: us-east has jurisdiction United States (US), but its location (lat 39.9, lon 116.41) lies in China (CN)`);
    expect(r.out).toContain(`${m}:4:19: note: us-east is declared in US here`);
    expect(r.out).toContain('0 errors, 1 warning');
    expect((await run('check', '--strict', m)).code).toBe(1);
  });

  it('finds every datacenter of examples/*.yaml where its jurisdiction says', async () => {
    const files = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.yaml'));
    const r = await run('check', ...files.map((f) => join(root, 'examples', f)));
    expect(r.out).toContain(`${String(files.length)} manifests:`);
    expect(r.out).not.toContain('GB_LOCATION_OUTSIDE_JURISDICTION');
  });

  it('exits 2 on an unreadable file but still checks the others', async () => {
    const r = await run('check', join(root, 'nope.yaml'), world);
    expect(r.code).toBe(2);
    expect(r.err).toContain('UNREADABLE_FILE');
  });

  it('reports every problem of a broken file at once', async () => {
    const m = tempManifest('version: 1\ndatacenters:\n  a: { jurisdiction: us, location: { lat: 91, lon: 1 }, capacity: -1, tgas: [x] }\nzones:\n  z: { countries: [USA], primaries: [a] }\nfences:\n  - { name: f, clients: [US] }\n');
    const r = await run('check', '--json', m);
    const codes = (JSON.parse(r.out) as { diagnostics: { code: string }[] }).diagnostics.map((d) => d.code).sort();
    expect(codes).toEqual(['GB_FENCE_RULE', 'GB_INVALID_CODE', 'GB_INVALID_VALUE', 'GB_INVALID_VALUE', 'GB_UNKNOWN_FIELD', 'GB_UNKNOWN_GROUP']);
    expect(r.code).toBe(1);
  });
});

describe('geobridge route', () => {
  it('prints the decision JSON of the contract', async () => {
    const r = await run('route', '--manifest', world, '--country', 'US', '--json');
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out) as { zone: string; country: string; allowedJurisdictions: string[]; candidates: { datacenter: string; role: string; jurisdiction: string }[]; excluded: { datacenter: string; reason: string }[] };
    expect(d.zone).toBe('north-america');
    expect(d.country).toBe('US');
    expect(d.allowedJurisdictions).not.toContain('CN');
    expect(d.candidates[0]).toEqual({ datacenter: 'us-east', role: 'primary', jurisdiction: 'US' });
    expect(d.excluded).toContainEqual({ datacenter: 'cn-beijing', reason: 'FENCE' });
    expect(d.candidates.length + d.excluded.length).toBe(20);
  });

  it('refuses with exit 3 rather than leave the China enclave', async () => {
    const r = await run('route', '--manifest', world, '--country', 'CN', '--down', 'cn-beijing,cn-shanghai', '--json');
    expect(r.code).toBe(3);
    expect((JSON.parse(r.out) as { error: { code: string } }).error.code).toBe('NO_CAPACITY_IN_FENCE');
  });

  it('holds the fence on the 2020 manifest that check rejects, under overload', async () => {
    const r = await run('route', '--manifest', incident, '--country', 'US', '--utilization', 'us-east=0.95,us-west=0.95,ca-central=0.99', '--json');
    expect(r.err).toContain('warning');
    const d = JSON.parse(r.out) as { candidates?: { jurisdiction: string }[]; excluded: { datacenter: string; reason: string }[] };
    expect((d.candidates ?? []).map((c) => c.jurisdiction)).not.toContain('CN');
    expect(d.excluded).toContainEqual({ datacenter: 'cn-beijing', reason: 'FENCE' });
  });

  it('locates a participant by IP with the embedded database', async () => {
    const r = await run('route', '--manifest', world, '--ip', '217.160.0.1', '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { country: string }).country).toBe('DE');
  });

  it('explains in text, with the reasons', async () => {
    const r = await run('route', '--manifest', world, '--country', 'US');
    expect(r.out).toMatch(/1\. us-east\s+primary/);
    expect(r.out).toMatch(/cn-beijing\s+FENCE/);
  });

  it.each([
    [['--country', 'US'], 'USAGE'],
    [['--manifest', 'WORLD', '--country', 'XX'], 'INVALID_COUNTRY'],
    [['--manifest', 'WORLD', '--country', 'US', '--ip', '8.8.8.8'], 'USAGE'],
    [['--manifest', 'WORLD', '--ip', '10.0.0.1'], 'IP_NOT_LOCATED'],
    [['--manifest', 'WORLD', '--ip', 'nope'], 'INVALID_IP'],
    [['--manifest', 'WORLD', '--country', 'US', '--down', 'mars-1'], 'UNKNOWN_DATACENTER'],
    [['--manifest', 'WORLD', '--country', 'US', '--utilization', 'us-east=lots'], 'INVALID_UTILIZATION'],
    [['--manifest', 'WORLD', '--country', 'US', '--location', '95,1'], 'INVALID_LOCATION'],
    [['--manifest', 'WORLD', '--country', 'US', '--plan', 'gold'], 'UNKNOWN_PLAN'],
    [['--manifest', 'WORLD', '--country', 'US', '--frobnicate'], 'USAGE'],
  ])('rejects bad input %j with exit 2 and code %s', async (args, code) => {
    const r = await run('route', ...args.map((a) => (a === 'WORLD' ? world : a)));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error ${code}:`);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('refuses to route on a manifest that does not parse', async () => {
    const r = await run('route', '--manifest', tempManifest('version: 1\nzones: [\n'), '--country', 'US');
    expect(r.code).toBe(2);
    expect(r.err).toContain('INVALID_MANIFEST');
  });
});

describe('geobridge diff', () => {
  it('shows the fence crossings the fix removes and the capacity it adds', async () => {
    const r = await run('diff', incident, fixed);
    expect(r.code).toBe(0);
    expect(r.out).toContain("- zone north-america lists cn-beijing (CN) across fence 'nobody-else-into-china'");
    expect(r.out).toMatch(/us-central \(added\)/);
  });

  it('shows new exposure when a fence is dropped', async () => {
    const text = (await import('node:fs')).readFileSync(incident, 'utf8').replace(/- name: nobody-else-into-china[\s\S]*?deny: \[CN\]\n/, '');
    const r = await run('diff', '--json', incident, tempManifest(text));
    const d = JSON.parse(r.out) as { exposure: { countries: string[]; gained: string[] }[] };
    const gained = d.exposure.find((e) => e.countries.includes('US'));
    expect(gained?.gained).toEqual(['CN']);
  });

  it('shows a relay moved out of the China enclave: check rejects it, diff names it and the relays CN participants lose', async () => {
    const text = (await import('node:fs')).readFileSync(world, 'utf8').replace('turns:turn.pek.example.com:5349]\n        jurisdiction: CN', 'turns:turn.pek.example.com:5349]\n        jurisdiction: HK');
    const moved = tempManifest(text);
    const check = await run('check', moved);
    expect(check.code).toBe(1);
    expect(check.out).toMatch(/:\d+:\d+: error GB_ICE_OUTSIDE_FENCE: cn-beijing may hand out TURN relay .* \(jurisdiction HK\), but fence 'china-stays-in-china' forbids HK for CN/);
    const r = await run('diff', world, moved);
    expect(r.code).toBe(0);
    expect(r.out).toContain("+ cn-beijing declares turn:turn.pek.example.com:3478, turns:turn.pek.example.com:5349 (HK) across fence 'china-stays-in-china'");
    expect(r.out).toMatch(/Exposure via TURN relays \(jurisdictions media may be relayed through\):\n {2}-CN +for CN \(1 country\)\n/);
    expect(r.out).toContain('  cn-beijing turn:turn.pek.example.com:3478 (CN → HK)');
  });

  it('needs two files', async () => {
    expect((await run('diff', incident)).code).toBe(2);
  });
});

describe('geobridge (top level)', () => {
  it('prints help and a routing table', async () => {
    expect((await run('--help')).out).toContain('Commands:');
    const table = await run('table', world);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/china\s+CN\s+1\s+18\s+cn-beijing → cn-shanghai/);
  });

  it('prints the JSON schema', async () => {
    const r = await run('schema');
    expect((JSON.parse(r.out) as { $id: string }).$id).toContain('manifest');
  });

  it('rejects an unknown command with exit 2', async () => {
    expect((await run('frobnicate')).code).toBe(2);
  });

  it('has --help for every command', async () => {
    for (const cmd of ['check', 'diff', 'route', 'table', 'schema']) {
      const r = await run(cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`geobridge ${cmd}`);
    }
  });
});
