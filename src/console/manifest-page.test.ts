import { describe, expect, it } from 'vitest';
import { confirmText, diffLines, exposureChanges } from './manifest-page.js';

describe('the manifest review page', () => {
  it('says the exposure diff in sentences: who gains or loses what, fences crossed, capacity', () => {
    const diff = {
      exposure: [{ countries: ['US', 'CA'], gained: ['CN'], lost: [] }],
      crossings: [{ change: 'added', zone: 'north-america', datacenter: 'cn-beijing', jurisdiction: 'CN', fence: 'nobody-else-into-china' }],
      fences: [
        { fence: 'eea', change: 'unchanged', capacityBefore: 10, capacityAfter: 10 },
        { fence: 'us', change: 'changed', capacityBefore: 1000, capacityAfter: 1500 },
      ],
    };
    expect(diffLines(diff)).toEqual(['US, CA may newly reach CN', 'NEW: zone north-america lists cn-beijing (CN), outside fence nobody-else-into-china', 'fence us (changed): capacity 1,000 → 1,500']);
    expect(confirmText(diff)).toContain('US, CA may newly reach CN');
    expect(confirmText({ exposure: [], crossings: [], fences: [] })).toContain('It changes nobody’s exposure.');
  });

  it('sorts the countries for the map: any gain wins over a loss', () => {
    const { gains, loses } = exposureChanges({
      exposure: [
        { countries: ['US', 'CA'], gained: ['CN'], lost: [] },
        { countries: ['US', 'DE'], gained: [], lost: ['JP'] },
      ],
      crossings: [],
      fences: [],
    });
    expect([[...gains], [...loses]]).toEqual([['US', 'CA'], ['DE']]);
  });
});
