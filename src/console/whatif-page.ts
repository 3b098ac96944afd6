/**
 * The what-if page: datacenters taken down and zones' demand changed, on
 * paper. The broker answers with the decider's first choice for every
 * country and the simulator's steady state (src/sim/steady-state.ts): each
 * zone at its forecast with everything up, against the what-if. The page
 * shows who would be refused, who would move, and where the load goes — on
 * the map, in a table and in words.
 */
import type { ConsoleBaseMap, ConsoleWhatIf } from '../protocol/console-answers.js';
import { escapeXml } from '../report/text.js';
import { countText, loadText, tableRow } from './map-view.js';
import { paintWorld } from './svg.js';

/** Refused countries: by the decider (no datacenter at all) or by the simulator (some joins find no room). */
export function outcomes(whatIf: ConsoleWhatIf): { refused: ReadonlySet<string>; moved: ReadonlySet<string> } {
  const refused = new Set([...whatIf.countries.filter((c) => c.after === null).map((c) => c.country), ...whatIf.simulation.after.refused.map((r) => r.country)]);
  return { refused, moved: new Set(whatIf.countries.filter((c) => c.after !== null && !refused.has(c.country)).map((c) => c.country)) };
}

/** One datacenter's load at the zones' forecast with everything up, and under the what-if. */
export interface LoadRow {
  readonly datacenter: string;
  readonly capacity: number;
  readonly before: number;
  readonly after: number;
  /** Under the what-if: taken down, at maxUtilization (the decider skips it), or with room. */
  readonly state: 'down' | 'full' | 'up';
}

export function loadRows(whatIf: ConsoleWhatIf): LoadRow[] {
  const before = new Map(whatIf.simulation.before.datacenters.map((d) => [d.datacenter, d.participants]));
  const down = new Set(whatIf.down);
  const { maxUtilization } = whatIf.simulation.after;
  return whatIf.simulation.after.datacenters.map((d) => ({
    datacenter: d.datacenter,
    capacity: d.capacity,
    before: before.get(d.datacenter) ?? 0,
    after: d.participants,
    // Participants are rounded: within one of the limit is at it.
    state: down.has(d.datacenter) ? 'down' : d.capacity > 0 && d.participants >= d.capacity * maxUtilization - 1 ? 'full' : 'up',
  }));
}

/** A zone whose participants the simulator refused in part: its share of joins refused, over its countries. */
export interface ZoneRefusal {
  readonly zone: string;
  readonly share: number;
  readonly wanted: number;
  readonly countries: number;
  readonly code: string;
  /** Capacity to add inside its fences so that nobody is refused (0 when too little to say). */
  readonly extraCapacityNeeded: number;
}

/** The simulator's refusals by zone (its countries share the zone's demand equally, so their shares average). */
export function zoneRefusals(whatIf: ConsoleWhatIf): ZoneRefusal[] {
  const { refused, shortfall } = whatIf.simulation.after;
  const zones = new Map<string, { refused: number; wanted: number; countries: number; codes: Map<string, number> }>();
  for (const r of refused) {
    const z = zones.get(r.zone) ?? { refused: 0, wanted: 0, countries: 0, codes: new Map<string, number>() };
    z.refused += r.share * r.wanted;
    z.countries += 1;
    z.codes.set(r.code, (z.codes.get(r.code) ?? 0) + r.share * r.wanted);
    zones.set(r.zone, z);
  }
  return [...zones].map(([zone, z]) => {
    const wanted = whatIf.zones.find((x) => x.zone === zone)?.demand ?? 0;
    const code = [...z.codes].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
    return { zone, share: wanted > 0 ? z.refused / wanted : 0, wanted, countries: z.countries, code, extraCapacityNeeded: shortfall.find((s) => s.zone === zone)?.extraCapacityNeeded ?? 0 };
  });
}

function plural(n: number, one: string, many: string): string {
  return `${countText(n)} ${n === 1 ? one : many}`;
}

/** The outcome in sentences: the summary first, then who the decider refuses, each zone the simulator refuses in part, and each move. */
export function whatIfLines(whatIf: ConsoleWhatIf): string[] {
  const { refused, moved } = outcomes(whatIf);
  const changed = whatIf.zones.filter((z) => z.demand !== z.forecast);
  const what = [
    ...(whatIf.down.length > 0 ? [`${whatIf.down.join(', ')} down`] : []),
    ...changed.map((z) => `${z.zone} at ${countText(z.demand)} (forecast ${countText(z.forecast)})`),
  ];
  const lines = [`With ${what.length === 0 ? 'everything as forecast' : what.join(' and ')}: ${plural(refused.size, 'country', 'countries')} with joins refused, ${countText(moved.size)} moved to another datacenter.`];
  for (const c of whatIf.countries.filter((x) => x.after === null)) lines.push(`${c.country} refused (${c.refusal ?? 'no datacenter'}); it used ${c.before ?? 'none'}.`);
  for (const z of zoneRefusals(whatIf)) {
    const need = z.extraCapacityNeeded > 0 ? `; it would need ${countText(z.extraCapacityNeeded)} more participants of capacity inside its fences` : '';
    lines.push(`${z.zone}: ${Math.round(z.share * 100)} % of joins refused (${z.code}) in ${plural(z.countries, 'country', 'countries')}, of ${countText(z.wanted)} wanting to be connected${need}.`);
  }
  for (const c of whatIf.countries.filter((x) => x.after !== null)) lines.push(`${c.country}: ${c.before ?? 'refused'} → ${c.after ?? ''}`);
  return lines;
}

/** The datacenter checkboxes and the zones' demand inputs, once. */
export function fillInputs(downSet: HTMLFieldSetElement, demandSet: HTMLFieldSetElement, base: ConsoleBaseMap, zones: ConsoleWhatIf['zones']): void {
  if (!downSet.querySelector('input')) {
    for (const d of base.datacenters) {
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = d.id;
      box.name = 'down';
      label.append(box, d.id);
      downSet.append(label);
    }
  }
  if (!demandSet.querySelector('input')) {
    for (const z of zones) {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'number';
      input.min = '0';
      input.step = '1000';
      input.name = z.zone;
      input.value = String(z.demand);
      input.dataset.forecast = String(z.forecast);
      label.append(z.zone, input);
      demandSet.append(label);
    }
  }
}

/** The `demand` query value: every zone whose input differs from its forecast, as zone:participants. */
export function demandQuery(inputs: Iterable<{ name: string; value: string; dataset: { forecast?: string } }>): string {
  const pairs: string[] = [];
  for (const input of inputs) if (input.value.trim() !== '' && input.value.trim() !== input.dataset.forecast) pairs.push(`${input.name}:${input.value.trim()}`);
  return pairs.join(',');
}

/** Each datacenter's mark under the what-if: its load (the ring's size), dashed when down, amber when full. */
export function loadMarks(base: ConsoleBaseMap, rows: readonly LoadRow[]): string {
  const at = new Map(base.datacenters.map((d) => [d.id, d]));
  let svg = '<g class="dcs">';
  // Down ones last, so that where marks crowd (Europe) the what-if's point is on top.
  const order = { up: 0, full: 1, down: 2 } as const;
  for (const row of [...rows].sort((a, b) => order[a.state] - order[b.state])) {
    const spot = at.get(row.datacenter);
    if (!spot) continue;
    const utilization = row.capacity > 0 ? row.after / row.capacity : 0;
    const r = row.state === 'down' ? 6 : 4 + Math.min(1, utilization) * 8;
    const label =
      row.state === 'down'
        ? `${row.datacenter}: down (carried ${countText(row.before)} at forecast)`
        : `${row.datacenter}: ${countText(row.after)} of ${countText(row.capacity)} (${loadText(utilization)}${row.state === 'full' ? ', full' : ''}), ${countText(row.before)} at forecast`;
    svg += `<g class="dc ${row.state}" data-datacenter="${escapeXml(row.datacenter)}"><circle cx="${spot.x.toFixed(1)}" cy="${spot.y.toFixed(1)}" r="${r.toFixed(1)}"><title>${escapeXml(label)}</title></circle></g>`;
  }
  return `${svg}</g>`;
}

function table(caption: string, headings: readonly string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  const t = document.createElement('table');
  const c = t.createCaption();
  c.textContent = caption;
  const head = t.createTHead().insertRow();
  headings.forEach((h, i) => {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    if (i > 0) th.className = 'num';
    head.append(th);
  });
  t.createTBody().append(...rows);
  return t;
}

/** Colours the map, marks the datacenters and says the outcome. */
export function renderWhatIf(svg: SVGSVGElement, answer: HTMLElement, base: ConsoleBaseMap, whatIf: ConsoleWhatIf): void {
  const { refused, moved } = outcomes(whatIf);
  const rows = loadRows(whatIf);
  paintWorld(svg, base, (code) => (refused.has(code) ? 'refused' : moved.has(code) ? 'moved' : undefined), loadMarks(base, rows));
  answer.hidden = false;
  const lines = whatIfLines(whatIf);
  const heading = document.createElement('h2');
  heading.textContent = lines[0] ?? '';
  const note = document.createElement('p');
  note.className = 'muted';
  const sim = whatIf.simulation;
  note.textContent = `The simulator fills the datacenters for ${sim.warmupMinutes} minutes, then measures ${sim.measuredMinutes} (sessions last ${sim.sessionMinutes} minutes on average); a zone's countries share its demand equally.`;
  const load = table(
    'Participants per datacenter',
    ['Datacenter', 'Capacity', 'At forecast', 'What if', 'Load'],
    rows.map((r) => {
      const down = r.state === 'down';
      const load = down ? '—' : `${loadText(r.capacity > 0 ? r.after / r.capacity : 0)}${r.state === 'full' ? ' (full)' : ''}`;
      const row = tableRow([[r.datacenter], [countText(r.capacity), 'num'], [countText(r.before), 'num'], [down ? 'down' : countText(r.after), down ? 'num state down' : 'num'], [load, 'num']]);
      row.dataset.datacenter = r.datacenter;
      if (r.after !== r.before || down) row.className = 'changed';
      return row;
    }),
  );
  const list = document.createElement('ul');
  for (const line of lines.slice(1, 200)) {
    const li = document.createElement('li');
    li.textContent = line;
    list.append(li);
  }
  answer.replaceChildren(heading, note, list, load);
}
