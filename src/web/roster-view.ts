/**
 * The encryption group's roster under the security code: every member by
 * name, with its key's fingerprint, so that "we read the same code" means
 * "we are in the same group, and these are its members". A member no
 * participant accounts for gets a warning in words (never colour alone),
 * and an alert above the list says so, for screen readers to announce.
 */
import type { RosterEntry } from '../sdk/index.js';
import { displayName, rosterAlert, rosterWarnings } from './messages.js';

/** What `RosterView.show` renders: the roster event's members and joiners. */
export interface RosterShown {
  readonly members: readonly RosterEntry[];
  readonly joining: readonly { readonly id: string; readonly name: string }[];
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The roster section of the call bar. */
export class RosterView {
  readonly #root: HTMLElement;
  readonly #title: HTMLElement;
  readonly #alert: HTMLElement;
  readonly #list: HTMLElement;

  constructor(root: HTMLElement, title: HTMLElement, alert: HTMLElement, list: HTMLElement) {
    this.#root = root;
    this.#title = title;
    this.#alert = alert;
    this.#list = list;
  }

  /** Renders a roster; returns every warning it shows (empty when every member is accounted for). */
  show(roster: RosterShown): string[] {
    const self = roster.members.find((m) => m.self)?.participant;
    const warnings: string[] = [];
    let flagged = 0;
    const items = roster.members.map((m) => {
      const item = element('li', 'member');
      const mine = rosterWarnings(m, self);
      warnings.push(...mine);
      if (mine.length > 0) flagged++;
      item.dataset.flagged = String(mine.length > 0);
      item.append(element('span', 'member-name', m.self ? `${displayName(m.name)} (you)` : displayName(m.name)));
      const key = element('span', 'member-key', `key ${m.keyFingerprint}`);
      key.title = "Fingerprint of this member's signing key: two members with one name have different keys";
      item.append(key);
      if (m.left) item.append(element('span', 'member-note', 'left the meeting; being removed from the group'));
      for (const w of mine) item.append(element('span', 'member-warning', `Warning: ${w}`));
      return item;
    });
    for (const a of roster.joining) {
      const item = element('li', 'member joining');
      item.append(element('span', 'member-name', displayName(a.name)), element('span', 'member-note', 'joining the encryption group…'));
      items.push(item);
    }
    this.#list.replaceChildren(...items);
    const n = roster.members.length;
    this.#title.textContent = `In the encryption group (${n} ${n === 1 ? 'member' : 'members'}):`;
    this.#alert.textContent = rosterAlert(flagged);
    this.#alert.hidden = flagged === 0;
    this.#root.hidden = false;
    return warnings;
  }

  /** Hides the roster until the new connection has keys: the group it goes on in, or a new one. */
  clear(): void {
    this.#list.replaceChildren();
    this.#alert.textContent = '';
    this.#alert.hidden = true;
    this.#root.hidden = true;
  }
}
