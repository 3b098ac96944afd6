/**
 * What the page tells a person when the broker, the invite or a bridge says
 * no: one sentence per refusal code, in words a participant can act on. The
 * broker's own message is the fallback, never a stack of codes. And what it
 * says about a member of the encryption group that no participant accounts for.
 */
import { countryName, type RosterFlag } from '../sdk/index.js';

/** A datacenter as `/v1/info` lists it. */
export interface DatacenterInfo {
  readonly id: string;
  readonly jurisdiction: string;
}

/** "Germany (DE)", or the bare code when it is not a known country. */
export function jurisdictionLabel(code: string): string {
  const name = countryName(code);
  return name === undefined ? code : `${name} (${code})`;
}

/**
 * The jurisdiction of the datacenter a FENCE_CONFLICT message names. The
 * refusal body carries no structured field for it, so the page looks for a
 * known datacenter id in the text; the longest match wins (`eu-west-2` over `eu-west`).
 */
function heldIn(message: string, datacenters: readonly DatacenterInfo[]): string | undefined {
  const named = datacenters.filter((d) => new RegExp(`(^|[^\\w-])${d.id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w-])`).test(message));
  named.sort((a, b) => b.id.length - a.id.length || a.id.localeCompare(b.id));
  return named[0]?.jurisdiction;
}

/** The sentence the page shows for a refusal `code` (with the broker's `message` as the fallback). */
export function refusalText(code: string, message: string, datacenters: readonly DatacenterInfo[]): string {
  switch (code) {
    case 'FENCE_CONFLICT': {
      const where = heldIn(message, datacenters);
      return `This meeting is held in ${where === undefined ? 'another jurisdiction' : jurisdictionLabel(where)} and your organisation's policy does not allow your connection there.`;
    }
    case 'NO_CAPACITY_IN_FENCE':
      // The broker's message names the datacenters that would serve if they were running or had room.
      return `No datacenter your connection may use is available right now, and the call is never taken outside the jurisdictions it may use. Please try again in a few minutes. (${message === '' ? 'every one is full or not running' : message})`;
    case 'NO_ZONE':
      return 'No datacenter serves your location under this meeting’s policy, so the call cannot connect from where you are.';
    case 'MEETING_ENDED':
      return 'This meeting has ended.';
    case 'SESSION_REPLACED':
      return 'You joined this meeting from another tab or device, so this one left. If that was not you, someone has your link: ask the host for a new one.';
    case 'INVITE_EXPIRED':
      return 'This invite link has expired. Ask the host for a new one.';
    case 'INVITE_INVALID':
      return 'This invite link is not valid. Check that it was copied whole, or ask the host for a new one.';
    case 'TICKET_INVALID':
      return 'The datacenter could not verify your admission ticket. Try joining again; if it keeps happening, tell your administrator.';
    default:
      return message === '' ? `The call could not connect (${code}).` : capitalise(message);
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A display name as the page shows it: an empty one is said to be empty, never shown as nothing. */
export function displayName(name: string): string {
  return name.trim() === '' ? '(no name)' : name;
}

/** What the roster needs to know of a flagged member (src/mls/roster.ts). */
export interface FlaggedMember {
  readonly participant: string;
  readonly name: string;
  readonly meetingName: string;
  readonly flags: readonly RosterFlag[];
}

/**
 * What the page says about a member of the encryption group that no
 * participant accounts for, one sentence per flag; none for the others.
 * `self` is this participant's id, so a second leaf in our name says so.
 */
export function rosterWarnings(member: FlaggedMember, self: string | undefined): string[] {
  const name = displayName(member.name);
  return member.flags.map((flag) => {
    switch (flag) {
      case 'not-a-participant':
        return `Unknown member in the encryption group: ${name} — not a participant of this meeting.`;
      case 'second-leaf':
        return member.participant === self
          ? `A second member of the encryption group claims to be you (${name}) — it is not this device.`
          : `${name} is in the encryption group twice — at most one of the two is really ${name}.`;
      case 'name-differs':
        return `A member of the encryption group is named “${name}” there but “${displayName(member.meetingName)}” in the meeting.`;
    }
  });
}

/** The alert above a roster with `flagged` members no participant accounts for ('' when there are none). */
export function rosterAlert(flagged: number): string {
  if (flagged === 0) return '';
  const who = flagged === 1 ? 'A member of the encryption group is' : `${flagged} members of the encryption group are`;
  return `Warning: ${who} not accounted for by this meeting's participants, and can decrypt the call. The same security code does not rule this out: see the flagged ${flagged === 1 ? 'member' : 'members'} below.`;
}
