/**
 * The what-if page: datacenters taken down on paper, and what the decider
 * would then do for every country (the broker runs `selectRoute`, the one
 * rule, for each): who would be refused, who would move where, and how many
 * countries each datacenter would take first — on the map and in words.
 */
import type { ConsoleBaseMap, ConsoleWhatIf } from '../protocol/console-answers.js';
import { paintWorld } from './svg.js';

/** The countries refused and moved, for colouring the map. */
export function outcomes(whatIf: ConsoleWhatIf): { refused: ReadonlySet<string>; moved: ReadonlySet<string> } {
  return {
    refused: new Set(whatIf.countries.filter((c) => c.after === null).map((c) => c.country)),
    moved: new Set(whatIf.countries.filter((c) => c.after !== null).map((c) => c.country)),
  };
}

/** The outcome in sentences. */
export function whatIfLines(whatIf: ConsoleWhatIf): string[] {
  const { refused, moved } = outcomes(whatIf);
  const lines = [`With ${whatIf.down.length === 0 ? 'nothing' : whatIf.down.join(', ')} down: ${refused.size} countr${refused.size === 1 ? 'y' : 'ies'} refused, ${moved.size} moved to another datacenter.`];
  for (const c of whatIf.countries.filter((x) => x.after === null)) lines.push(`${c.country} refused (${c.refusal ?? 'no datacenter'}); it used ${c.before ?? 'none'}.`);
  for (const c of whatIf.countries.filter((x) => x.after !== null)) lines.push(`${c.country}: ${c.before ?? 'refused'} → ${c.after ?? ''}`);
  for (const l of whatIf.load.filter((x) => x.before !== x.after)) lines.push(`${l.datacenter} takes ${l.after} countr${l.after === 1 ? 'y' : 'ies'} first, not ${l.before}.`);
  return lines;
}

/** The datacenter checkboxes, once. */
export function fillDatacenters(fieldset: HTMLFieldSetElement, base: ConsoleBaseMap): void {
  if (fieldset.querySelector('input')) return;
  for (const d of base.datacenters) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = d.id;
    box.name = 'down';
    label.append(box, d.id);
    fieldset.append(label);
  }
}

/** Colours the map and says the outcome. */
export function renderWhatIf(svg: SVGSVGElement, answer: HTMLElement, base: ConsoleBaseMap, whatIf: ConsoleWhatIf): void {
  const { refused, moved } = outcomes(whatIf);
  paintWorld(svg, base, (code) => (refused.has(code) ? 'refused' : moved.has(code) ? 'moved' : undefined));
  answer.hidden = false;
  const lines = whatIfLines(whatIf);
  const heading = document.createElement('h2');
  heading.textContent = lines[0] ?? '';
  const list = document.createElement('ul');
  for (const line of lines.slice(1, 200)) {
    const li = document.createElement('li');
    li.textContent = line;
    list.append(li);
  }
  answer.replaceChildren(heading, list);
}
