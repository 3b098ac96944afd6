import { describe, expect, it } from 'vitest';
import type { ConsoleWhatIf } from '../protocol/console-answers.js';
import { demandQuery, loadMarks, loadRows, outcomes, whatIfLines, zoneRefusals } from './whatif-page.js';

const steady = (participants: Record<string, number>, refused: ConsoleWhatIf['simulation']['after']['refused'] = [], shortfall: ConsoleWhatIf['simulation']['after']['shortfall'] = []) => ({
  maxUtilization: 0.9,
  datacenters: Object.entries(participants).map(([datacenter, n]) => ({ datacenter, capacity: 1000, participants: n })),
  refused,
  shortfall,
});

const whatIf: ConsoleWhatIf = {
  down: ['cn-beijing', 'cn-shanghai'],
  countries: [
    { country: 'CN', before: 'cn-beijing', after: null, refusal: 'NO_CAPACITY_IN_FENCE' },
    { country: 'HK', before: 'cn-shanghai', after: 'ap-tokyo' },
    { country: 'FR', before: 'eu-central', after: 'eu-west' },
  ],
  firstChoices: [
    { datacenter: 'cn-beijing', before: 1, after: 0 },
    { datacenter: 'ap-tokyo', before: 3, after: 4 },
  ],
  zones: [
    { zone: 'china', forecast: 400, demand: 400 },
    { zone: 'europe', forecast: 1000, demand: 2500 },
  ],
  simulation: {
    sessionMinutes: 40,
    warmupMinutes: 120,
    measuredMinutes: 40,
    before: steady({ 'cn-beijing': 400, 'ap-tokyo': 100, 'eu-west': 500 }),
    after: steady(
      { 'cn-beijing': 0, 'ap-tokyo': 150, 'eu-west': 900 },
      [
        { country: 'FR', zone: 'europe', wanted: 1250, share: 0.3, code: 'NO_CAPACITY_IN_FENCE' },
        { country: 'DE', zone: 'europe', wanted: 1250, share: 0.1, code: 'ATTEMPTS_EXHAUSTED' },
      ],
      [{ zone: 'europe', peakRefusedConcurrent: 180, extraCapacityNeeded: 200 }],
    ),
  },
};

describe('the what-if page', () => {
  it('counts a country refused by the decider or, in part, by the simulator; the others whose first choice changes moved', () => {
    const { refused, moved } = outcomes(whatIf);
    expect([[...refused].sort(), [...moved]]).toEqual([['CN', 'DE', 'FR'], ['HK']]);
  });

  it('says what changed, who is refused and why, the capacity missing, and who moves where', () => {
    expect(whatIfLines(whatIf)).toEqual([
      'With cn-beijing, cn-shanghai down and europe at 2,500 (forecast 1,000): 3 countries with joins refused, 1 moved to another datacenter.',
      'CN refused (NO_CAPACITY_IN_FENCE); it used cn-beijing.',
      'europe: 20 % of joins refused (NO_CAPACITY_IN_FENCE) in 2 countries, of 2,500 wanting to be connected; it would need 200 more participants of capacity inside its fences.',
      'HK: cn-shanghai → ap-tokyo',
      'FR: eu-central → eu-west',
    ]);
    const nothing = { ...whatIf, down: [], countries: [], zones: [{ zone: 'europe', forecast: 1000, demand: 1000 }], simulation: { ...whatIf.simulation, after: whatIf.simulation.before } };
    expect(whatIfLines(nothing)).toEqual(['With everything as forecast: 0 countries with joins refused, 0 moved to another datacenter.']);
  });

  it("weighs a zone's countries by their demand, and names the reason most refusals had", () => {
    expect(zoneRefusals(whatIf)).toEqual([{ zone: 'europe', share: 0.2, wanted: 2500, countries: 2, code: 'NO_CAPACITY_IN_FENCE', extraCapacityNeeded: 200 }]);
  });

  it('sets each datacenter load at forecast beside the what-if, down and full ones marked', () => {
    expect(loadRows(whatIf)).toEqual([
      { datacenter: 'cn-beijing', capacity: 1000, before: 400, after: 0, state: 'down' },
      { datacenter: 'ap-tokyo', capacity: 1000, before: 100, after: 150, state: 'up' },
      { datacenter: 'eu-west', capacity: 1000, before: 500, after: 900, state: 'full' },
    ]);
  });

  it('draws each datacenter with its load in words, dashed when down, marked when full', () => {
    const base = { width: 100, height: 50, countries: '', datacenters: [{ id: 'cn-beijing', x: 80, y: 20 }, { id: 'eu-west', x: 40, y: 10 }] };
    const svg = loadMarks(base, loadRows(whatIf));
    expect(svg).toContain('<g class="dc down" data-datacenter="cn-beijing">');
    expect(svg).toContain('<title>cn-beijing: down (carried 400 at forecast)</title>');
    expect(svg).toContain('<g class="dc full" data-datacenter="eu-west">');
    expect(svg).toContain('<title>eu-west: 900 of 1,000 (90 %, full), 500 at forecast</title>');
    expect(svg).not.toContain('ap-tokyo'); // not on the base map
    expect(svg.indexOf('data-datacenter="cn-beijing"')).toBeGreaterThan(svg.indexOf('data-datacenter="eu-west"')); // down on top
  });

  it('asks only for the zones whose demand differs from the forecast', () => {
    const input = (name: string, value: string, forecast: string) => ({ name, value, dataset: { forecast } });
    expect(demandQuery([input('europe', '2500', '1000'), input('china', '400', '400'), input('oceania', ' ', '10'), input('africa', '0', '70')])).toBe('europe:2500,africa:0');
  });
});
