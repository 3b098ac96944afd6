// Scenario files get located errors, like manifests.
import { describe, expect, it } from 'vitest';
import { parseScenario } from './scenario.js';

const GOOD = `version: 1
name: t
manifest: m.yaml
duration: 1d6h
step: 5m
demand:
  - { countries: { US: 3, CA: 1 }, daily: 1000 }
  - { zone: europe, daily: 500, diurnal: flat }
events:
  - { at: 2h, duration: 30m, datacenter: a, kind: outage }
  - { at: 0, datacenter: b, kind: congestion, failProbability: 0.5 }
`;

describe('parseScenario', () => {
  it('reads durations, shares, presets and defaults', () => {
    const { scenario, diagnostics } = parseScenario(GOOD);
    expect(diagnostics).toEqual([]);
    expect(scenario?.duration).toBe(1800);
    expect(scenario?.step).toBe(5);
    expect(scenario?.mode).toBe('fluid');
    expect(scenario?.sessionMinutes).toBe(40);
    expect(scenario?.warmup).toBe(0);
    expect(parseScenario(GOOD.replace('step: 5m', 'step: 5m\nwarmup: 2h')).scenario?.warmup).toBe(120);
    expect(scenario?.demand[0]?.countries).toEqual({ US: 0.75, CA: 0.25 });
    expect(scenario?.demand[1]?.diurnal).toHaveLength(24);
    expect(scenario?.events[0]).toEqual({ at: 120, duration: 30, datacenter: 'a', kind: 'outage' });
    expect(scenario?.runs).toEqual([{ name: 'geobridge', enforceFences: true }]);
  });

  it.each([
    ['an unknown field', GOOD.replace('step: 5m', 'stpe: 5m'), 'GB_UNKNOWN_FIELD', 5],
    ['a bad duration', GOOD.replace('duration: 1d6h', 'duration: soon'), 'GB_INVALID_VALUE', 4],
    ['an invalid country', GOOD.replace('US: 3', 'USA: 3'), 'GB_INVALID_CODE', 7],
    ['a congestion without probability', GOOD.replace(', failProbability: 0.5', ''), 'GB_MISSING_FIELD', 11],
    ['an unknown event kind', GOOD.replace('kind: outage', 'kind: meteor'), 'GB_INVALID_VALUE', 10],
    ['a bad diurnal preset', GOOD.replace('diurnal: flat', 'diurnal: weekend'), 'GB_INVALID_VALUE', 8],
    ['a warm-up as long as the run', GOOD.replace('step: 5m', 'step: 5m\nwarmup: 30h'), 'GB_INVALID_VALUE', 6],
    ['YAML syntax', GOOD.replace('demand:', 'demand: ['), 'GB_YAML_SYNTAX', 0],
    ['a missing manifest', GOOD.replace('manifest: m.yaml\n', ''), 'GB_MISSING_FIELD', 1],
  ])('rejects %s with a located error', (_name, text, code, line) => {
    const { scenario, diagnostics } = parseScenario(text, 's.yaml');
    expect(scenario).toBeUndefined();
    const d = diagnostics.find((x) => x.code === code);
    expect(d, JSON.stringify(diagnostics)).toBeDefined();
    expect(d?.file).toBe('s.yaml');
    if (line > 0) expect(d?.line).toBe(line);
    expect(d?.column).toBeGreaterThan(0);
  });
});
