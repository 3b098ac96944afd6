import { describe, expect, it } from 'vitest';
import type { ConsoleWhatIf } from '../protocol/console-answers.js';
import { demandQuery, loadMarks, loadRows, outcomes, whatIfLines } from './whatif-page.js';

const steady = (participants: Record<string, number>, refused: ConsoleWhatIf['simulation']['after']['refused'] = [], shortfall: ConsoleWhatIf['simulation']['after']['shortfall'] = []) => ({
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
    after: steady({ 'cn-beijing': 0, 'ap-tokyo': 150, 'eu-west': 900 }, [{ country: 'FR', wanted: 800, share: 0.25, code: 'NO_CAPACITY_IN_FENCE' }], [{ zone: 'europe', peakRefusedConcurrent: 180, extraCapacityNeeded: 200 }]),
  },
};

describe('the what-if page', () => {
  it('counts a country refused by the decider or, in part, by the simulator; the others whose first choice changes moved', () => {
    const { refused, moved } = outcomes(whatIf);
    expect([[...refused].sort(), [...moved]]).toEqual([['CN', 'FR'], ['HK']]);
  });

  it('says what changed, who is refused and why, the capacity missing, and who moves where', () => {
    expect(whatIfLines(whatIf)).toEqual([
      'With cn-beijing, cn-shanghai down and europe at 2,500 (forecast 1,000): 2 countries refused, 1 moved to another datacenter.',
      'CN refused (NO_CAPACITY_IN_FENCE); it used cn-beijing.',
      'FR: 25 % of joins refused (NO_CAPACITY_IN_FENCE), of 800 wanting to be connected.',
      'europe would need 200 more participants of capacity inside its fences.',
      'HK: cn-shanghai → ap-tokyo',
      'FR: eu-central → eu-west',
    ]);
    const nothing = { ...whatIf, down: [], countries: [], zones: [{ zone: 'europe', forecast: 1000, demand: 1000 }], simulation: { ...whatIf.simulation, after: whatIf.simulation.before } };
    expect(whatIfLines(nothing)).toEqual(['With everything as forecast: 0 countries refused, 0 moved to another datacenter.']);
  });

  it('sets each datacenter load at forecast beside the what-if, down ones marked', () => {
    expect(loadRows(whatIf)).toEqual([
      { datacenter: 'cn-beijing', capacity: 1000, before: 400, after: 0, down: true },
      { datacenter: 'ap-tokyo', capacity: 1000, before: 100, after: 150, down: false },
      { datacenter: 'eu-west', capacity: 1000, before: 500, after: 900, down: false },
    ]);
  });

  it('draws each datacenter with its load in words, dashed when down', () => {
    const base = { width: 100, height: 50, countries: '', datacenters: [{ id: 'cn-beijing', x: 80, y: 20 }, { id: 'eu-west', x: 40, y: 10 }] };
    const svg = loadMarks(base, loadRows(whatIf));
    expect(svg).toContain('<g class="dc down" data-datacenter="cn-beijing">');
    expect(svg).toContain('<title>cn-beijing: down (carried 400 at forecast)</title>');
    expect(svg).toContain('<title>eu-west: 900 of 1,000 (90 %), 500 at forecast</title>');
    expect(svg).not.toContain('ap-tokyo'); // not on the base map
  });

  it('asks only for the zones whose demand differs from the forecast', () => {
    const input = (name: string, value: string, forecast: string) => ({ name, value, dataset: { forecast } });
    expect(demandQuery([input('europe', '2500', '1000'), input('china', '400', '400'), input('oceania', ' ', '10'), input('africa', '0', '70')])).toBe('europe:2500,africa:0');
  });
});
