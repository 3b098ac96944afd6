/**
 * The participant list: everyone in the meeting (from the bridge's
 * announcements), their microphone and camera, and whether each is in the
 * encryption group (from the SDK's roster). The list and `state.participants`
 * come from one pure function, so what tests read is what people see.
 */
import type { Participant as PeerInfo, RoomEvent, UnreachablePeer } from '../sdk/index.js';
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

/** Someone in a cascaded meeting we cannot exchange media with, as the list says it. */
export interface UnreachableRow {
  readonly id: string;
  readonly name: string;
  /** What cannot cross: their media to us, ours to them, or neither way. */
  readonly blocked: 'theirs' | 'ours' | 'both';
  /** In words, for people. */
  readonly why: string;
}

/** Why, in words, for the plan's reason codes (docs/errors.md#cascade-reasons). */
const REASONS: Readonly<Record<string, string>> = {
  FENCE: "residency rules keep the media out of the other's region",
  SENDER_UNROUTED: 'no datacenter may carry their media',
  RECEIVER_UNROUTED: 'no datacenter may serve them',
};

/** One row per peer we cannot exchange media with (both directions merged), by name. */
export function unreachableRows(peers: readonly UnreachablePeer[]): UnreachableRow[] {
  const byId = new Map<string, { name: string; from?: string; to?: string }>();
  for (const p of peers) {
    const row = byId.get(p.id) ?? { name: p.name };
    if (p.direction === 'from') row.from = p.reason;
    else row.to = p.reason;
    byId.set(p.id, row);
  }
  return [...byId]
    .map(([id, r]): UnreachableRow => {
      const blocked = r.from !== undefined && r.to !== undefined ? 'both' : r.from !== undefined ? 'theirs' : 'ours';
      const reason = r.from ?? r.to ?? '';
      const what = blocked === 'both' ? 'You cannot see or hear each other' : blocked === 'theirs' ? 'You cannot see or hear them' : 'They cannot see or hear you';
      return { id, name: r.name, blocked, why: `${what}: ${REASONS[reason] ?? reason}` };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
  readonly #onChange: (rows: ParticipantRow[], unreachable: UnreachableRow[]) => void;
  readonly #peers = new Map<string, PeerInfo>();
  #unreachable: UnreachableRow[] = [];
  #self: PeerInfo | undefined;
  #roster: readonly GroupMember[] = [];
  /** Whether this call has end-to-end encryption (else nobody is in a group, and the list says so once). */
  #e2ee = true;

  constructor(list: HTMLElement, count: HTMLElement, onChange: (rows: ParticipantRow[], unreachable: UnreachableRow[]) => void) {
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
        this.#unreachable = [];
        break;
      case 'roster':
        this.#roster = e.members;
        break;
      case 'unreachable':
        this.#unreachable = unreachableRows(e.peers);
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
      // In a cascade, those whose media cannot reach us (or ours them) are in the meeting too: say who, and why.
      ...this.#unreachable.map((u) => {
        const item = element('li', 'person unreachable');
        item.dataset.peer = u.id;
        item.dataset.blocked = u.blocked;
        const text = element('div', 'person-text');
        text.append(element('span', 'person-name', displayName(u.name)), element('span', 'person-group', u.why));
        item.append(text);
        return item;
      }),
    );
    this.#count.textContent = String(rows.length + this.#unreachable.filter((u) => !this.#peers.has(u.id)).length);
    this.#onChange(rows, this.#unreachable);
  }
}
