import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { RunResult, SimulationResult } from '../result.js';
import { fixtureResult, HOSTILE_ID } from './report.fixture.js';
import { formatCompact, formatInteger, formatMinutes, formatPercent } from './format.js';
import { isWorldTopology, renderReport, type WorldTopology } from './html.js';
import { cascadeTable, INCIDENT_ROWS, pickIncidentRows, RELAY_PAIR_ROWS } from './tables.js';
import { pickFlows, TOP_FLOWS } from './world-map.js';

const require = createRequire(import.meta.url);
const parsed: unknown = JSON.parse(readFileSync(require.resolve('world-atlas/countries-110m.json'), 'utf8'));
if (!isWorldTopology(parsed)) throw new Error('world-atlas/countries-110m.json is not a topology');
const world: WorldTopology = parsed;

/** Charts drawn per run: joins, concurrent, heatmap, backups, refused over time, by code, map, RTT, connect. */
const CHARTS_PER_RUN = 9;

const result = fixtureResult();
const html = renderReport(result, world);

describe('renderReport', () => {
  it('is one self-contained document: nothing loads from the network at view time', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/url\(|@import/i);
  });

  it('draws one <svg> per chart', () => {
    expect(html.match(/<svg\b/g)?.length).toBe(CHARTS_PER_RUN * result.runs.length);
    expect(html.match(/<\/svg>/g)?.length).toBe(CHARTS_PER_RUN * result.runs.length);
    // Every chart is named for assistive technology.
    expect(html.match(/<svg\b[^>]*role="img"[^>]*><title>/g)?.length).toBe(CHARTS_PER_RUN * result.runs.length);
  });

  it('escapes ids and names taken from user files', () => {
    expect(html).not.toContain(HOSTILE_ID);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const hostile = fixtureResult();
    const named: SimulationResult = {
      ...hostile,
      scenario: { ...hostile.scenario, name: '"><img src=x onerror=alert(1)>', description: '<blink>bold</blink> & co' },
      runs: hostile.runs.map((r) => ({ ...r, name: `<marquee>${r.name}</marquee>`, totals: { ...r.totals, refused: { '<svg onload=alert(1)>': 3 } } })),
    };
    const out = renderReport(named, world);
    expect(out).not.toMatch(/<img|<blink|<marquee|<svg onload/);
    expect(out).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(out).toContain('&lt;blink&gt;bold&lt;/blink&gt; &amp; co');
    expect(out).toContain('&lt;marquee&gt;geobridge&lt;/marquee&gt;');
    expect(out).toContain('&lt;svg onload=alert(1)&gt;');
  });

  it('shows the violation count, red when fences are not enforced, green 0 when they are', () => {
    const [open, fenced] = result.runs as [RunResult, RunResult];
    expect(open.totals.violations).toBeGreaterThan(0);
    expect(html).toMatch(new RegExp(`class="card bad violations"><div class="label">Fence violations</div><div class="value"[^>]*>${formatInteger(open.totals.violations)}<`));
    expect(fenced.totals.violations).toBe(0);
    expect(html).toMatch(/class="card good violations"><div class="label">Fence violations<\/div><div class="value"[^>]*>0</);
    expect(html).toContain('class="violation"'); // highlighted incident rows
  });

  it('shows the scenario header and every run', () => {
    for (const text of ['EU outage on a Monday', 'fluid', '42', formatMinutes(result.scenario.durationMinutes), 'fences not enforced', 'geobridge']) {
      expect(html).toContain(text);
    }
  });

  it('is deterministic', () => {
    expect(renderReport(fixtureResult(), world)).toBe(html);
  });

  it('stays a sane size', () => {
    expect(html.length).toBeLessThan(2_000_000);
  });

  it('renders a result with no runs and empty series without throwing', () => {
    const empty: SimulationResult = { ...result, runs: [] };
    expect(renderReport(empty, world)).toContain('The scenario has no runs.');
    const [first] = result.runs as [RunResult];
    const blank: RunResult = {
      ...first,
      series: { ...first.series, t: [], arrivals: [], served: [], servedPrimary: [], servedSecondary: [], refused: [], violations: [], outOfZone: [], concurrent: [], capacity: [], utilization: {} },
      rttMs: { bounds: [], counts: [] },
      connectMs: { bounds: [], counts: [] },
      incident: [],
      flows: [],
      datacenters: [],
      shortfall: [],
    };
    const out = renderReport({ ...result, runs: [blank] }, world);
    expect(out.match(/<svg\b/g)?.length).toBe(CHARTS_PER_RUN);
    expect(out).toContain('No one was served.');
  });
});

describe('cascade table', () => {
  const [, fenced] = result.runs as [RunResult, RunResult];

  it('shows the sample, both distances and their ratio, relays by fence and pair, and unreachable pairs by reason', () => {
    const section = /<section id="cascade">[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
    expect(section).toContain('<h2>Cascading</h2>');
    const table = cascadeTable(fenced);
    for (const text of ['2,400 × 4', '812 km', '2,211 km', '0.367', 'senders bound by eea-stays-in-eea', '1,500', '<span class="code">FENCE</span></td><td class="num">640', 'FENCE_CONFLICT', '3,900']) {
      expect(table).toContain(text);
      expect(section).toContain(text);
    }
    // The hostile datacenter id of a relay pair is escaped.
    expect(table).not.toContain(HOSTILE_ID);
    expect(table).toContain('&lt;script&gt;');
  });

  it('caps the relay pairs, says when nothing was sampled or relayed', () => {
    const many = Array.from({ length: RELAY_PAIR_ROWS + 3 }, (_, i) => ({ from: `a${String(i)}`, to: 'b', hops: 1 }));
    const capped = cascadeTable({ ...fenced, cascade: { ...fenced.cascade, relayHops: { ...fenced.cascade.relayHops, byPair: many } } });
    expect(capped).toContain('3 more pairs · 3 stream-hops');
    expect(capped).not.toContain(`a${String(RELAY_PAIR_ROWS)}<`);
    const none = cascadeTable({ ...fenced, cascade: { ...fenced.cascade, relayHops: { total: 0, byFence: {}, byPair: [] } } });
    expect(none).toContain('No stream was relayed between bridges.');
    expect(cascadeTable({ ...fenced, cascade: { ...fenced.cascade, meetings: 0 } })).toContain('No meeting was sampled');
  });
});

describe('report helpers', () => {
  it('formats numbers without the locale', () => {
    expect([0, 7, 12.4, 950, 999.6, 1234, 9_996, 300_000, 999_950, 1_234_567, 2e9].map(formatCompact)).toEqual([
      '0', '7', '12', '950', '1k', '1.2k', '10k', '300k', '1M', '1.2M', '2B',
    ]);
    expect(formatInteger(1234567)).toBe('1,234,567');
    expect([0, 0.00001, 0.0042, 0.123, 1].map(formatPercent)).toEqual(['0%', '<0.01%', '0.42%', '12.3%', '100%']);
    expect([0, 45, 90, 1440, 2160, 10080].map(formatMinutes)).toEqual(['0', '45m', '1h 30m', '1d', '1d 12h', '7d']);
  });

  it('keeps every violation in the incident table and the map, and caps the rest', () => {
    const rows = Array.from({ length: 120 }, (_, i) => ({ country: 'DE', jurisdiction: `J${String(i).padStart(3, '0')}`, participants: 1000 - i, violation: i === 110 }));
    const { shown, hidden } = pickIncidentRows(rows);
    expect(shown).toHaveLength(INCIDENT_ROWS);
    expect(shown.some((r) => r.violation)).toBe(true);
    expect(hidden).toHaveLength(120 - INCIDENT_ROWS);
    const flows = rows.map((r) => ({ country: r.country, datacenter: r.jurisdiction, participants: r.participants, violation: r.violation }));
    const picked = pickFlows(flows);
    expect(picked).toHaveLength(TOP_FLOWS + 1);
    expect(picked.at(-1)?.violation).toBe(true);
  });
});
