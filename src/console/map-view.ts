/**
 * The map page: the datacenters on the world map (drawn once by the broker,
 * src/report/world-base.ts, the simulator report's map), each marked with
 * its state, and the relays of cascaded meetings between them; with a table
 * that says the same in words and figures. State is shape and text as well
 * as colour: a datacenter that is down is a dashed ring.
 */
import type { ConsoleBaseMap, ConsoleOverview } from '../protocol/console-answers.js';
import { escapeXml } from '../report/text.js';
import { drawSvg } from './svg.js';

/** SVG markup of the relays and datacenter marks over the base map, for an overview. */
export function marksSvg(base: ConsoleBaseMap, overview: ConsoleOverview): string {
  const at = new Map(base.datacenters.map((d) => [d.id, d]));
  // One curve per pair of bridges, however many meetings share it.
  const pairs = new Map<string, { from: string; to: string; meetings: Set<string>; streams: number }>();
  for (const r of overview.relays) {
    const key = [r.from, r.to].sort().join('\u0000');
    const pair = pairs.get(key) ?? { from: r.from, to: r.to, meetings: new Set<string>(), streams: 0 };
    // A meeting relaying both ways between two bridges has two hops there: it is still one meeting.
    pair.meetings.add(r.meeting);
    pair.streams += r.streams;
    pairs.set(key, pair);
  }
  let svg = '<g class="relays">';
  for (const p of pairs.values()) {
    const a = at.get(p.from);
    const b = at.get(p.to);
    if (!a || !b) continue;
    const mx = (a.x + b.x) / 2;
    const my = (a.y + b.y) / 2 - Math.hypot(b.x - a.x, b.y - a.y) / 5;
    svg += `<path class="relay" d="M${a.x.toFixed(1)},${a.y.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${b.x.toFixed(1)},${b.y.toFixed(1)}"><title>${escapeXml(`${p.from} ↔ ${p.to}: ${p.streams} stream${p.streams === 1 ? '' : 's'} in ${p.meetings.size} meeting${p.meetings.size === 1 ? '' : 's'}`)}</title></path>`;
  }
  svg += '</g><g class="dcs">';
  // Live ones last, so that where marks crowd (Europe) they are drawn on top.
  const order = { down: 0, draining: 1, up: 2 } as const;
  for (const d of [...overview.datacenters].sort((a, b) => order[a.state] - order[b.state])) {
    const spot = at.get(d.id);
    if (!spot) continue;
    const r = 4 + Math.min(1, d.utilization) * 8;
    const busy = d.shedding ? `, too busy for new participants (event loop ${loadText(d.loop ?? 1)})` : '';
    const label = `${d.id} (${d.jurisdiction}): ${d.state}, ${countText(d.participants)} of ${countText(d.capacity)} participants, ${d.meetings} meeting${d.meetings === 1 ? '' : 's'}${busy}`;
    svg += `<g class="dc ${d.state}${d.shedding ? ' shedding' : ''}" data-datacenter="${escapeXml(d.id)}" data-state="${d.state}"><circle cx="${spot.x.toFixed(1)}" cy="${spot.y.toFixed(1)}" r="${r.toFixed(1)}"><title>${escapeXml(label)}</title></circle><text x="${(spot.x + r + 2).toFixed(1)}" y="${(spot.y + 3).toFixed(1)}">${escapeXml(d.id)}</text></g>`;
  }
  return `${svg}</g>`;
}

/** A count with thousands separators: "1,200,000". */
export function countText(n: number): string {
  return n.toLocaleString('en-US');
}

/** The load of a datacenter in words: "12 %". */
export function loadText(utilization: number): string {
  return `${Math.round(utilization * 100)} %`;
}

/** A table row of text cells, each with its class if given. */
export function tableRow(cells: readonly (readonly [text: string, cls?: string])[]): HTMLTableRowElement {
  const row = document.createElement('tr');
  for (const [text, cls] of cells) {
    const cell = document.createElement('td');
    cell.textContent = text;
    if (cls !== undefined) cell.className = cls;
    row.append(cell);
  }
  return row;
}

/** Draws the map and fills the table. */
export function renderMap(svg: SVGSVGElement, table: HTMLTableSectionElement, base: ConsoleBaseMap, overview: ConsoleOverview): void {
  // The base map is the broker's own markup; the marks are escaped above.
  drawSvg(svg, base.width, base.height, `${base.countries}${marksSvg(base, overview)}`);
  table.replaceChildren(
    ...overview.datacenters.map((d) => {
      const state = d.shedding ? [`${d.state}, too busy: event loop ${loadText(d.loop ?? 1)}`, `state ${d.state} shedding`] : [d.state, `state ${d.state}`];
      const row = tableRow([[d.id], [d.jurisdiction], state as [string, string], [countText(d.participants), 'num'], [countText(d.capacity), 'num'], [loadText(d.utilization), 'num'], [countText(d.meetings), 'num']]);
      row.dataset.datacenter = d.id;
      return row;
    }),
  );
}
