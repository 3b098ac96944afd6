/**
 * The manifest review page: `geobridge check`'s diagnostics on a manifest's
 * own lines, its exposure diff against the manifest in force in words and on
 * the map, apply
 * only when it is clean (after a confirmation that names what changes), and
 * the history of applied manifests. The broker checks again when applying:
 * the page's review is a preview, never the gate.
 */
import type { ConsoleBaseMap, ConsoleManifestHistory, ConsoleManifestReview } from '../protocol/console-answers.js';
import { paintWorld } from './svg.js';

type Diff = NonNullable<ConsoleManifestReview['diff']>;

/** The diff in sentences: who gains or loses which jurisdictions, lists that start or stop crossing a fence, fence capacity. */
export function diffLines(diff: Diff): string[] {
  const lines: string[] = [];
  for (const e of diff.exposure) {
    const who = e.countries.length > 6 ? `${e.countries.slice(0, 6).join(', ')} and ${e.countries.length - 6} more` : e.countries.join(', ');
    if (e.gained.length > 0) lines.push(`${who} may newly reach ${e.gained.join(', ')}`);
    if (e.lost.length > 0) lines.push(`${who} may no longer reach ${e.lost.join(', ')}`);
  }
  for (const c of diff.crossings) lines.push(`${c.change === 'added' ? 'NEW' : 'no longer'}: zone ${c.zone} lists ${c.datacenter} (${c.jurisdiction}), outside fence ${c.fence}`);
  for (const f of diff.fences) if (f.change !== 'unchanged' || f.capacityBefore !== f.capacityAfter) lines.push(`fence ${f.fence} (${f.change}): capacity ${f.capacityBefore.toLocaleString('en-US')} → ${f.capacityAfter.toLocaleString('en-US')}`);
  return lines;
}

/** Countries whose exposure changes: those that may newly reach somewhere, and those that only lose reach. */
export function exposureChanges(diff: Diff): { gains: ReadonlySet<string>; loses: ReadonlySet<string> } {
  const gains = new Set<string>();
  const loses = new Set<string>();
  for (const e of diff.exposure) for (const c of e.countries) (e.gained.length > 0 ? gains : loses).add(c);
  for (const c of gains) loses.delete(c);
  return { gains, loses };
}

/** Paints the countries whose exposure changes on the world map. */
export function renderExposureMap(svg: SVGSVGElement, base: ConsoleBaseMap, diff: Diff): void {
  const { gains, loses } = exposureChanges(diff);
  paintWorld(svg, base, (code) => (gains.has(code) ? 'gains' : loses.has(code) ? 'loses' : undefined));
}

/** What the confirmation names before applying. */
export function confirmText(diff: Diff | null): string {
  const lines = diff ? diffLines(diff) : [];
  return `Apply this manifest? It is in force for every broker and bridge at once, and recorded in the audit log.\n\n${lines.length === 0 ? 'It changes nobody’s exposure.' : lines.slice(0, 12).join('\n')}`;
}

function item(text: string, cls?: string): HTMLLIElement {
  const li = document.createElement('li');
  li.textContent = text;
  if (cls !== undefined) li.className = cls;
  return li;
}

/** Shows a review: the verdict, the diagnostics, the diff, and the text with each diagnostic's line marked. */
export function renderReview(text: string, review: ConsoleManifestReview, where: { section: HTMLElement; verdict: HTMLElement; diagnostics: HTMLElement; diff: HTMLElement; lines: HTMLElement }): void {
  where.section.hidden = false;
  const errors = review.diagnostics.filter((d) => d.severity === 'error').length;
  where.verdict.textContent = review.clean
    ? `Clean${review.diagnostics.length > 0 ? ` but for ${review.diagnostics.length} warning${review.diagnostics.length === 1 ? '' : 's'}` : ''}: the diff below is against version ${review.version}, and it applies only on that version.`
    : `${errors} error${errors === 1 ? '' : 's'}: it cannot be applied.`;
  where.diagnostics.replaceChildren(...review.diagnostics.map((d) => item(`line ${d.line}:${d.column} ${d.severity} ${d.code} (${d.path}): ${d.message}`, d.severity)));
  const diff = review.diff ? diffLines(review.diff) : [];
  const list = document.createElement('ul');
  list.append(...(review.diff === null ? [item('No exposure diff: the manifest does not parse.')] : diff.length === 0 ? [item('It changes nobody’s exposure.')] : diff.map((line) => item(line))));
  const heading = document.createElement('h3');
  heading.textContent = 'What it would change';
  where.diff.replaceChildren(heading, list);
  const marked = new Map<number, string>();
  for (const d of review.diagnostics) if (marked.get(d.line) !== 'error') marked.set(d.line, d.severity);
  where.lines.replaceChildren(
    ...text.split('\n').map((line, i) => {
      const span = document.createElement('span');
      span.dataset.line = String(i + 1);
      span.textContent = line === '' ? ' ' : line;
      const severity = marked.get(i + 1);
      if (severity !== undefined) span.className = severity;
      return span;
    }),
  );
}

/** Fills the history table, the version in force first. */
export function renderHistory(history: ConsoleManifestHistory, table: HTMLTableSectionElement): void {
  table.replaceChildren(
    ...history.manifests.map((m) => {
      const row = document.createElement('tr');
      row.dataset.version = String(m.version);
      for (const [text, cls] of [[`${m.version}${m.version === history.current ? ' (in force)' : ''}`, 'num'], [m.at.replace('T', ' ').replace(/\.\d+Z$/, '')], [m.actor], [`${m.sha256.slice(0, 16)}…`]] as const) {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls !== undefined) td.className = cls;
        row.append(td);
      }
      return row;
    }),
  );
}
