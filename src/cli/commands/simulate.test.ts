// `geobridge simulate`: the cascade sample in the summary and in --json (a contract: fields are only added).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SimulationResult } from '../../sim/result.js';
import { main } from '../main.js';

const dir = mkdtempSync(join(tmpdir(), 'geobridge-simulate-'));
writeFileSync(
  join(dir, 'm.yaml'),
  `version: 1
datacenters:
  fra: { jurisdiction: DE, location: { lat: 50.11, lon: 8.68 }, capacity: 100000 }
  gru: { jurisdiction: BR, location: { lat: -23.55, lon: -46.63 }, capacity: 100000 }
  nrt: { jurisdiction: JP, location: { lat: 35.68, lon: 139.69 }, capacity: 100000 }
zones:
  europe: { countries: [DE], primaries: [fra] }
  latam: { countries: [BR], primaries: [gru] }
  asia: { countries: [JP], primaries: [nrt] }
fences:
  - { name: eea, clients: [DE], allow: [DE, JP] }
`,
);
const scenario = join(dir, 's.yaml');
writeFileSync(
  scenario,
  `version: 1
name: three bridges
manifest: m.yaml
duration: 2h
step: 5m
demand:
  - { countries: [DE, BR, JP], daily: 100000, diurnal: flat }
`,
);

async function simulate(...flags: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await main(['simulate', scenario, '--quiet', ...flags], { out: (t) => (out += t), err: () => undefined });
  return { code, out };
}

describe('geobridge simulate: cascade figures', () => {
  it('prints the sample, the distance ratio, relays by fence and unreachable pairs by reason', async () => {
    const { code, out } = await simulate();
    expect(code).toBe(0);
    expect(out).toContain('  cascade sample   200 meetings of 4 (100 every 1h), 800 participants\n');
    expect(out).toMatch(/\n {4}distance {7}[\d,]+ km to own bridge vs [\d,]+ km to one home: ratio 0\.\d{3} \([\d,]+ with a bridge in both\)\n/);
    expect(out).toMatch(/\n {4}relayed {8}[\d,]+ stream-hops; by fence: eea [\d,]+\n/);
    expect(out).toMatch(/\n {4}unreachable {4}[\d,]+ of 2,400 pairs: FENCE [\d,]+\n/);
    expect(out).toMatch(/\n {4}no bridge {6}cascading: none; one home: FENCE_CONFLICT [\d,]+\n/);
  });

  it('adds `cascade` to each run of --json and keeps every other field', async () => {
    const file = join(dir, 'out.json');
    expect((await simulate('--json', file)).code).toBe(0);
    const result = JSON.parse(readFileSync(file, 'utf8')) as SimulationResult;
    const run = result.runs[0];
    expect(Object.keys(run ?? {})).toEqual(['name', 'enforceFences', 'maxUtilization', 'totals', 'series', 'rttMs', 'connectMs', 'incident', 'flows', 'refusals', 'datacenters', 'shortfall', 'decisions', 'cascade']);
    const c = run?.cascade;
    expect(Object.keys(c ?? {})).toEqual(['sample', 'meetings', 'participants', 'distanceKm', 'distanceRatio', 'relayHops', 'unreachable', 'unrouted']);
    expect(c?.distanceRatio).toBeLessThan(1);
    expect(c?.relayHops.byFence.eea).toBeGreaterThan(0);
    // German media never goes to São Paulo: no such hop, and those pairs are FENCE.
    expect(c?.relayHops.byPair.find((p) => p.from === 'fra' && p.to === 'gru')).toBeUndefined();
    expect(c?.unreachable.byReason.FENCE).toBeGreaterThan(0);
  });
});
