// The shipped scenarios, end to end through the CLI: they run, fences hold on
// every fenced run, and the unfenced 2020 replay shows the leak.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import type { SimulationResult } from '../src/sim/result.js';

const root = join(import.meta.dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'geobridge-scenarios-'));

async function simulateFile(name: string, ...flags: string[]): Promise<{ code: number; result: SimulationResult; stdout: string }> {
  const json = join(out, `${name}.json`);
  let stdout = '';
  const code = await main(['simulate', join(root, 'examples/scenarios', `${name}.yaml`), '--json', json, '--quiet', ...flags], { out: (t) => (stdout += t), err: () => undefined });
  return { code, stdout, result: JSON.parse(readFileSync(json, 'utf8')) as SimulationResult };
}

describe('shipped scenarios', () => {
  it('april-2020: the unfenced replay bridges North Americans through China; geobridge refuses instead', async () => {
    const { code, result } = await simulateFile('april-2020');
    expect(code).toBe(0);
    const [asItHappened, geobridge] = result.runs;
    expect(asItHappened?.enforceFences).toBe(false);
    expect(asItHappened?.totals.violations).toBeGreaterThan(0);
    const naInChina = (asItHappened?.incident ?? []).filter((r) => ['US', 'CA', 'MX'].includes(r.country) && r.jurisdiction === 'CN');
    expect(naInChina.reduce((a, r) => a + r.participants, 0)).toBeGreaterThan(0);
    expect(geobridge?.enforceFences).toBe(true);
    expect(geobridge?.totals.violations).toBe(0);
    expect(geobridge?.totals.refused.NO_CAPACITY_IN_FENCE ?? 0).toBeGreaterThan(asItHappened?.totals.refused.NO_CAPACITY_IN_FENCE ?? 0);
    expect(geobridge?.shortfall.find((s) => s.zone === 'north-america')?.extraCapacityNeeded ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it('outage-eu: Frankfurt empties during its outage, its participants reconnect inside the EEA fence', async () => {
    const { result } = await simulateFile('outage-eu');
    const run = result.runs[0];
    expect(run?.totals.violations).toBe(0);
    expect(run?.totals.reconnects).toBeGreaterThan(0);
    const eea = new Set(['AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE', 'IS', 'LI', 'NO']);
    const allowed = new Set([...eea, 'GB', 'JP']);
    expect((run?.incident ?? []).filter((r) => eea.has(r.country) && !allowed.has(r.jurisdiction))).toEqual([]);
    const frankfurt = run?.series.utilization['eu-central'] ?? [];
    expect(Math.max(...frankfurt.slice(9 * 60 + 5, 12 * 60 - 1))).toBe(0);
  }, 60_000);

  it('china-enclave: Chinese participants are refused, never sent abroad; nobody else lands in China', async () => {
    const { result } = await simulateFile('china-enclave');
    const run = result.runs[0];
    expect(run?.totals.violations).toBe(0);
    expect(run?.totals.refused.NO_CAPACITY_IN_FENCE ?? 0).toBeGreaterThan(0);
    expect((run?.incident ?? []).filter((r) => (r.country === 'CN') !== (r.jurisdiction === 'CN'))).toEqual([]);
  }, 60_000);

  it('world-day: 300 M joins a day through the decider, fences held, with an HTML report', async () => {
    const report = join(out, 'world-day.html');
    const { result, stdout } = await simulateFile('world-day', '--report', report);
    const run = result.runs[0];
    expect(run?.totals.joins).toBeGreaterThan(299_000_000);
    expect(run?.totals.violations).toBe(0);
    expect(stdout).toContain('FENCE VIOLATIONS');
    expect(statSync(report).size).toBeGreaterThan(10_000);
    expect(readFileSync(report, 'utf8')).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:/);
  }, 120_000);

  it('rejects a bad scenario with a located error and exit 2', async () => {
    let err = '';
    const code = await main(['simulate', join(root, 'examples/world.yaml')], { out: () => undefined, err: (t) => (err += t) });
    expect(code).toBe(2);
    expect(err).toMatch(/world\.yaml:\d+:\d+: error GB_UNKNOWN_FIELD/);
  });
});
