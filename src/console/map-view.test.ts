import { describe, expect, it } from 'vitest';
import type { ConsoleBaseMap, ConsoleOverview } from '../protocol/console-answers.js';
import { countText, loadText, marksSvg } from './map-view.js';

const base: ConsoleBaseMap = {
  width: 100,
  height: 50,
  countries: '',
  datacenters: [
    { id: 'eu-central', x: 50, y: 10 },
    { id: 'us-east', x: 20, y: 15 },
    { id: 'ap-<tokyo>', x: 90, y: 18 },
  ],
};
const dc = (id: string, state: 'up' | 'down' | 'draining', participants = 0, loop: number | null = null, shedding = false): ConsoleOverview['datacenters'][number] => ({ id, jurisdiction: 'DE', location: { lat: 0, lon: 0 }, state, participants, capacity: 10, utilization: participants / 10, meetings: participants > 0 ? 1 : 0, loop, shedding });

describe('the map marks', () => {
  it('mark each datacenter with its state in a class, a data attribute and words, and escape what they show', () => {
    const svg = marksSvg(base, { policyVersion: 1, datacenters: [dc('eu-central', 'up', 3), dc('us-east', 'down'), dc('ap-<tokyo>', 'draining')], relays: [] });
    expect(svg).toContain('<g class="dc up" data-datacenter="eu-central" data-state="up">');
    expect(svg).toContain('data-datacenter="us-east" data-state="down"');
    expect(svg).toContain('<title>eu-central (DE): up, 3 of 10 participants, 1 meeting</title>');
    expect(svg).toContain('ap-&lt;tokyo&gt;');
    expect(svg).not.toContain('<tokyo>');
  });

  it('mark a bridge that sheds load, saying in words that it is too busy for new participants', () => {
    const svg = marksSvg(base, { policyVersion: 1, datacenters: [dc('eu-central', 'up', 3, 0.93, true), dc('us-east', 'up', 1, 0.2)], relays: [] });
    expect(svg).toContain('<g class="dc up shedding" data-datacenter="eu-central" data-state="up">');
    expect(svg).toContain('<title>eu-central (DE): up, 3 of 10 participants, 1 meeting, too busy for new participants (event loop 93 %)</title>');
    expect(svg).toContain('<g class="dc up" data-datacenter="us-east"');
  });

  it('draw one curve per pair of bridges, counting its meetings and streams, and skip a datacenter the map does not place', () => {
    const relays = [
      { meeting: 'm1', from: 'eu-central', to: 'us-east', streams: 2 },
      { meeting: 'm2', from: 'us-east', to: 'eu-central', streams: 1 },
      { meeting: 'm2', from: 'eu-central', to: 'us-east', streams: 4 },
      { meeting: 'm3', from: 'eu-central', to: 'nowhere', streams: 1 },
    ];
    const svg = marksSvg(base, { policyVersion: 1, datacenters: [], relays });
    expect(svg.match(/class="relay"/g)).toHaveLength(1);
    // m2 relays both ways: two hops, one meeting.
    expect(svg).toContain('eu-central ↔ us-east: 7 streams in 2 meetings');
  });

  it('draw live datacenters over down ones, and say load and counts in words', () => {
    const svg = marksSvg(base, { policyVersion: 1, datacenters: [dc('eu-central', 'up'), dc('us-east', 'down')], relays: [] });
    expect(svg.indexOf('us-east')).toBeLessThan(svg.indexOf('eu-central'));
    expect(loadText(0.456)).toBe('46 %');
    expect(countText(1_200_000)).toBe('1,200,000');
  });
});
