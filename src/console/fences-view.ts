/**
 * The fences page: a country's reach (the jurisdictions its participants may
 * be in, under which fences, and the datacenters there), or a datacenter's
 * users (the countries whose fences allow it), lit on the world map and said
 * in words. The answers come from the broker's console API, which asks the
 * one decider (`allowedJurisdictions`), so they are `geobridge route`'s.
 */
import type { ConsoleBaseMap, ConsoleCountryFences, ConsoleDatacenterFences } from '../protocol/console-answers.js';
import { escapeXml } from '../report/text.js';
import { paintWorld } from './svg.js';

/** What the map shows: the chosen country or datacenter, and what is lit for it. */
export type FenceView = { readonly kind: 'country'; readonly answer: ConsoleCountryFences } | { readonly kind: 'datacenter'; readonly answer: ConsoleDatacenterFences };

/** The countries the map names (`data-country` and the title of each path), by name: the country picker's options. */
export function mapCountries(base: ConsoleBaseMap): { code: string; name: string }[] {
  const out = new Map<string, string>();
  for (const m of base.countries.matchAll(/<path d="[^"]*" data-country="([A-Z]{2})"><title>([^<]*)<\/title>/g)) if (m[1] !== undefined && !out.has(m[1])) out.set(m[1], m[2] ?? m[1]);
  return [...out].map(([code, name]) => ({ code, name: name.replace(/&amp;/g, '&') })).sort((a, b) => a.name.localeCompare(b.name, 'en'));
}

/** The countries lit for a view, and the one chosen (if a country is); nothing before a choice. */
export function litCountries(view: FenceView | undefined): { lit: ReadonlySet<string>; chosen: string | undefined } {
  if (view === undefined) return { lit: new Set(), chosen: undefined };
  return view.kind === 'country' ? { lit: new Set(view.answer.jurisdictions), chosen: view.answer.country } : { lit: new Set(view.answer.countries), chosen: undefined };
}

/** A list in words, shortened past `max` items: "AT, BE, … and 20 more". */
export function listText(items: readonly string[], max = 40): string {
  if (items.length === 0) return 'none';
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

/** Draws the view on the map and says it in the answer section (the bare map before a choice). */
export function renderFences(svg: SVGSVGElement, answer: HTMLElement, base: ConsoleBaseMap, view: FenceView | undefined): void {
  const { lit, chosen } = litCountries(view);
  const spots = new Map(base.datacenters.map((d) => [d.id, d]));
  const shown = view === undefined ? [] : view.kind === 'country' ? view.answer.datacenters.map((d) => d.id) : [view.answer.datacenter];
  const marks = shown.flatMap((id) => {
    const at = spots.get(id);
    return at ? [`<g class="dc" data-datacenter="${escapeXml(id)}"><circle cx="${at.x}" cy="${at.y}" r="4"><title>${escapeXml(id)}</title></circle></g>`] : [];
  });
  paintWorld(svg, base, (code) => (code === chosen ? 'chosen' : lit.has(code) ? 'lit' : undefined), `<g class="dcs">${marks.join('')}</g>`);
  if (view === undefined) {
    answer.replaceChildren();
    return;
  }
  const heading = document.createElement('h2');
  const lines: string[] = [];
  if (view.kind === 'country') {
    const a = view.answer;
    heading.textContent = `${a.name} (${a.country})`;
    lines.push(a.fences.length === 0 ? 'No fence binds its participants.' : `Bound by ${a.fences.map((f) => `${f.name}${f.transit === 'e2ee' ? ' (E2EE may transit)' : ''}`).join(', ')}.`);
    lines.push(`May reach ${a.jurisdictions.length} jurisdiction${a.jurisdictions.length === 1 ? '' : 's'}: ${listText(a.jurisdictions)}.`);
    lines.push(`Datacenters there: ${listText(a.datacenters.map((d) => `${d.id} (${d.jurisdiction})`))}.`);
  } else {
    const a = view.answer;
    heading.textContent = `${a.datacenter} (${a.jurisdiction})`;
    lines.push(`May be used by participants from ${a.countries.length} countr${a.countries.length === 1 ? 'y' : 'ies'}: ${listText(a.countries)}.`);
  }
  answer.replaceChildren(
    heading,
    ...lines.map((line) => {
      const p = document.createElement('p');
      p.textContent = line;
      return p;
    }),
  );
}
