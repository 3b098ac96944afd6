/**
 * The participant list: everyone in the meeting (from the bridge's
 * announcements), their microphone and camera, and whether each is in the
 * encryption group (from the SDK's roster). The list and `state.participants`
 * come from one pure function, so what tests read is what people see.
 */
import type { Participant as PeerInfo, RoomEvent } from '../sdk/index.js';
import { displayName } from './messages.js';

/** One row of the list, as `window.geobridge.state.participants` exposes it. */
export interface ParticipantRow {
  readonly id: string;
  readonly name: string;
  readonly audio: boolean;
  readonly video: boolean;
  /** A member of the encryption group (a leaf of this participant's that is not leaving). */
  readonly inGroup: boolean;
  readonly self: boolean;
}

/** A roster member as far as the list needs it. */
export interface GroupMember {
  readonly participant: string;
  readonly left: boolean;
}

/** The rows: ourselves first, then the others by name (then id); `inGroup` from the latest roster. */
export function participantRows(self: PeerInfo | undefined, peers: Iterable<PeerInfo>, roster: readonly GroupMember[]): ParticipantRow[] {
  const inGroup = new Set(roster.filter((m) => !m.left).map((m) => m.participant));
  const row = (p: PeerInfo, me: boolean): ParticipantRow => ({ id: p.id, name: p.name, audio: p.audio, video: p.video, inGroup: inGroup.has(p.id), self: me });
  const others = [...peers].filter((p) => p.id !== self?.id).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [...(self ? [row(self, true)] : []), ...others.map((p) => row(p, false))];
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The participants panel's list, and the count on its button. */
export class ParticipantList {
  readonly #list: HTMLElement;
  readonly #count: HTMLElement;
  readonly #onChange: (rows: ParticipantRow[]) => void;
  readonly #peers = new Map<string, PeerInfo>();
  #self: PeerInfo | undefined;
  #roster: readonly GroupMember[] = [];
  /** Whether this call has end-to-end encryption (else nobody is in a group, and the list says so once). */
  #e2ee = true;

  constructor(list: HTMLElement, count: HTMLElement, onChange: (rows: ParticipantRow[]) => void) {
    this.#list = list;
    this.#count = count;
    this.#onChange = onChange;
  }

  /** Ourselves: our participant id (the join token's), name and what we send. */
  setSelf(self: PeerInfo): void {
    this.#self = self;
    this.#render();
  }

  /** Without E2EE (the dev switch) the list says "not encrypted" instead of "not in the group yet". */
  setE2ee(on: boolean): void {
    this.#e2ee = on;
    this.#render();
  }

  /** Follows the session's events. */
  handle(e: RoomEvent<MediaStreamTrack>): void {
    switch (e.type) {
      case 'participant-joined':
      case 'participant-updated':
        this.#peers.set(e.participant.id, e.participant);
        break;
      case 'participant-left':
        this.#peers.delete(e.id);
        break;
      case 'reconnecting':
        // A new bridge announces everyone again, and its group is a new one.
        this.#peers.clear();
        this.#roster = [];
        break;
      case 'roster':
        this.#roster = e.members;
        break;
      default:
        return;
    }
    this.#render();
  }

  get rows(): ParticipantRow[] {
    return participantRows(this.#self, this.#peers.values(), this.#roster);
  }

  #render(): void {
    const rows = this.rows;
    this.#list.replaceChildren(
      ...rows.map((r) => {
        const item = element('li', 'person');
        item.dataset.peer = r.id;
        item.dataset.inGroup = String(r.inGroup);
        const who = element('span', 'person-name', r.self ? `${displayName(r.name)} (you)` : displayName(r.name));
        const group = element('span', 'person-group', r.inGroup ? 'In the encryption group' : this.#e2ee ? 'Not in the encryption group yet' : 'Not end-to-end encrypted');
        const text = element('div', 'person-text');
        text.append(who, group);
        const mic = element('span', `person-state mic ${r.audio ? 'on' : 'off'}`);
        mic.title = r.audio ? 'Microphone on' : 'Microphone off';
        mic.setAttribute('role', 'img');
        mic.setAttribute('aria-label', mic.title);
        const cam = element('span', `person-state cam ${r.video ? 'on' : 'off'}`);
        cam.title = r.video ? 'Camera on' : 'Camera off';
        cam.setAttribute('role', 'img');
        cam.setAttribute('aria-label', cam.title);
        item.append(text, mic, cam);
        return item;
      }),
    );
    this.#count.textContent = String(rows.length);
    this.#onChange(rows);
  }
}
