// How meetings are drawn for the cascade figures: from the demand of the moment, seeded.
import { describe, expect, it } from 'vitest';
import { drawMeetings, MEETING_SAMPLE } from './meetings.js';
import { seededRandom } from './random.js';

const weights = [
  { country: 'DE', weight: 3 },
  { country: 'BR', weight: 1 },
  { country: 'JP', weight: 0 },
];

describe('drawMeetings', () => {
  it('draws perSample meetings of size participants, named p1…pN', () => {
    const meetings = drawMeetings(seededRandom(1), weights, MEETING_SAMPLE);
    expect(meetings).toHaveLength(MEETING_SAMPLE.perSample);
    for (const m of meetings) expect(m.map((p) => p.name)).toEqual(['p1', 'p2', 'p3', 'p4']);
  });

  it('draws in proportion to the weights, never a country with none', () => {
    const countries = drawMeetings(seededRandom(2), weights, { ...MEETING_SAMPLE, perSample: 2000, localShare: 0 }).flat().map((p) => p.country);
    expect(countries).not.toContain('JP');
    const de = countries.filter((c) => c === 'DE').length / countries.length;
    expect(de).toBeGreaterThan(0.72);
    expect(de).toBeLessThan(0.78);
  });

  it('takes every guest from the host’s country when localShare is 1', () => {
    for (const m of drawMeetings(seededRandom(3), weights, { ...MEETING_SAMPLE, localShare: 1 })) {
      expect(new Set(m.map((p) => p.country)).size).toBe(1);
    }
  });

  it('draws nothing when no one joins, and the same meetings for the same seed', () => {
    expect(drawMeetings(seededRandom(4), [{ country: 'DE', weight: 0 }], MEETING_SAMPLE)).toEqual([]);
    expect(drawMeetings(seededRandom(5), weights, MEETING_SAMPLE)).toEqual(drawMeetings(seededRandom(5), weights, MEETING_SAMPLE));
  });
});
