/**
 * The encryption group's roster, checked against the meeting. The security
 * code proves that everyone who compares it is in the same MLS group; it
 * says nothing about who else is. A broker that vouches for a key it holds,
 * and a bridge that relays that key package, add a member the committer
 * accepts like any other, and every member then shows the same code. So each
 * leaf is matched to a participant that signalling announced (the local
 * participant, and the peers of `admitted`, `peer-joined` and `peer-left`,
 * each the `sub` of a route ticket the broker issued for a join token), and
 * a leaf that no participant accounts for is flagged:
 *
 * - `not-a-participant`: its participant id is no participant of the meeting;
 * - `second-leaf`: another leaf claims the same participant (a participant
 *   joins with one key; our own leaf is the one we made, any other claiming
 *   us is flagged, and of two claiming a peer neither can be told genuine);
 * - `name-differs`: its name is not the name the meeting shows for that id.
 *
 * The reverse — a participant the meeting shows but the group does not have
 * yet — is `joining`, not an alarm: it is being added. A leaf of a
 * participant who has left is `left`, not an alarm either: the committer
 * removes it next. Pure: no clock, no I/O.
 */
import { compareStrings } from '../core/order.js';
import type { Member } from './group.js';

/** A participant as signalling shows it: the id the bridge admitted (its route ticket's `sub`) and its display name. */
export interface Attendee {
  readonly id: string;
  readonly name: string;
}

/** Who the meeting's signalling says is in the meeting, on one connection. */
export interface MeetingView {
  /** The local participant's id (`admitted.participant`). */
  readonly self: string;
  /** The local participant's own leaf: the one whose keys this device made. */
  readonly ownLeaf: number;
  /** The other participants in the meeting now. */
  readonly present: readonly Attendee[];
  /** Participants announced on this connection who have left since (and are not back). */
  readonly left: readonly Attendee[];
}

/** Why a member is flagged: each means no participant's join token accounts for its leaf. */
export type RosterFlag = 'not-a-participant' | 'second-leaf' | 'name-differs';

/** A member of the group, checked against the meeting. */
export interface RosterEntry extends Member {
  /** This device's own leaf. */
  readonly self: boolean;
  /** Its participant left the meeting; the group has not removed the leaf yet. */
  readonly left: boolean;
  /** The name the meeting shows for its participant id ('' when the meeting does not know the id, and for our own leaf). */
  readonly meetingName: string;
  /** Empty for a member a participant accounts for. */
  readonly flags: readonly RosterFlag[];
}

/** The group's members, each checked, and the participants still to be added. */
export interface Roster {
  /** By leaf index. */
  readonly members: readonly RosterEntry[];
  /** Participants the meeting shows that no leaf claims yet, by id. */
  readonly joining: readonly Attendee[];
}

/** The first attendee of each id (a well-behaved bridge never repeats one). */
function byId(attendees: readonly Attendee[]): Map<string, Attendee> {
  const out = new Map<string, Attendee>();
  for (const a of attendees) if (!out.has(a.id)) out.set(a.id, a);
  return out;
}

/** Checks every member of the group against the meeting's participants. */
export function checkRoster(members: readonly Member[], view: MeetingView): Roster {
  const present = byId(view.present);
  const left = byId(view.left);
  const leaves = new Map<string, number>();
  for (const m of members) leaves.set(m.participant, (leaves.get(m.participant) ?? 0) + 1);
  const entries = [...members]
    .sort((a, b) => a.leafIndex - b.leafIndex)
    .map((m): RosterEntry => {
      if (m.leafIndex === view.ownLeaf) return { ...m, self: true, left: false, meetingName: '', flags: [] };
      if (m.participant === view.self) return { ...m, self: false, left: false, meetingName: '', flags: ['second-leaf'] };
      const here = present.get(m.participant);
      const attendee = here ?? left.get(m.participant);
      if (attendee === undefined) return { ...m, self: false, left: false, meetingName: '', flags: ['not-a-participant'] };
      const flags: RosterFlag[] = [];
      if ((leaves.get(m.participant) ?? 0) > 1) flags.push('second-leaf');
      if (attendee.name !== m.name) flags.push('name-differs');
      return { ...m, self: false, left: here === undefined, meetingName: attendee.name, flags };
    });
  const joining = [...present.values()].filter((a) => a.id !== view.self && !leaves.has(a.id)).sort((a, b) => compareStrings(a.id, b.id));
  return { members: entries, joining };
}
