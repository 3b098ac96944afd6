import { describe, expect, it } from 'vitest';
import { outcomes, whatIfLines } from './whatif-page.js';

const whatIf = {
  down: ['cn-beijing', 'cn-shanghai'],
  countries: [
    { country: 'CN', before: 'cn-beijing', after: null, refusal: 'NO_CAPACITY_IN_FENCE' },
    { country: 'HK', before: 'cn-shanghai', after: 'ap-tokyo' },
  ],
  load: [
    { datacenter: 'cn-beijing', before: 1, after: 0 },
    { datacenter: 'ap-tokyo', before: 3, after: 3 },
  ],
};

describe('the what-if page', () => {
  it('sorts the countries into refused and moved', () => {
    const { refused, moved } = outcomes(whatIf);
    expect([[...refused], [...moved]]).toEqual([['CN'], ['HK']]);
  });

  it('says who is refused, who moves where, and which datacenters take more or fewer countries', () => {
    expect(whatIfLines(whatIf)).toEqual([
      'With cn-beijing, cn-shanghai down: 1 country refused, 1 moved to another datacenter.',
      'CN refused (NO_CAPACITY_IN_FENCE); it used cn-beijing.',
      'HK: cn-shanghai → ap-tokyo',
      'cn-beijing takes 0 countries first, not 1.',
    ]);
  });
});
