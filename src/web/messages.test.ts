import { describe, expect, it } from 'vitest';
import { displayName, jurisdictionLabel, refusalText, rosterAlert, rosterWarnings } from './messages.js';

const DATACENTERS = [
  { id: 'us-east', jurisdiction: 'US' },
  { id: 'eu-west', jurisdiction: 'IE' },
  { id: 'eu-west-2', jurisdiction: 'GB' },
];

describe('refusal messages', () => {
  it('names the country a FENCE_CONFLICT meeting is held in, from the datacenter the broker names', () => {
    const message = 'the meeting is held in us-east (US), which CN participants may not use (fence china); it is never moved across a fence for one participant.';
    expect(refusalText('FENCE_CONFLICT', message, DATACENTERS)).toBe("This meeting is held in United States (US) and your organisation's policy does not allow your connection there.");
  });

  it('prefers the longest datacenter id the message names', () => {
    expect(refusalText('FENCE_CONFLICT', 'the meeting is held in eu-west-2 (GB), which …', DATACENTERS)).toContain('United Kingdom (GB)');
    expect(refusalText('FENCE_CONFLICT', 'the meeting is held in eu-west (IE), which …', DATACENTERS)).toContain('Ireland (IE)');
  });

  it('still explains a FENCE_CONFLICT that names no known datacenter', () => {
    expect(refusalText('FENCE_CONFLICT', 'no', [])).toBe("This meeting is held in another jurisdiction and your organisation's policy does not allow your connection there.");
  });

  it('has its own words for every refusal a participant can meet, and falls back to the broker’s message', () => {
    for (const code of ['NO_ZONE', 'MEETING_ENDED', 'SESSION_REPLACED', 'INVITE_EXPIRED', 'INVITE_INVALID', 'TICKET_INVALID']) {
      const text = refusalText(code, 'broker says no', DATACENTERS);
      expect(text).not.toContain('broker says no');
      expect(text).not.toContain(code);
    }
    expect(refusalText('CLIENT_NOT_LOCATED', 'the address 10.0.0.1 is not located.', DATACENTERS)).toBe('The address 10.0.0.1 is not located.');
    expect(refusalText('HTTP_502', '', DATACENTERS)).toBe('The call could not connect (HTTP_502).');
  });

  it('says, for NO_CAPACITY_IN_FENCE, which datacenters the participant needed: the broker names those down or full', () => {
    const message = 'no datacenter inside the fence of DE participants (zone europe) is up and below its utilization limit (of the 3 the zone lists: 2 DOWN, 1 FENCE; down: eu-west, eu-central); refusing rather than leaving the fence.';
    const text = refusalText('NO_CAPACITY_IN_FENCE', message, DATACENTERS);
    expect(text).toMatch(/^No datacenter your connection may use is available right now/);
    expect(text).toContain('down: eu-west, eu-central');
  });

  it('labels a jurisdiction with its country name and code', () => {
    expect(jurisdictionLabel('DE')).toBe('Germany (DE)');
    expect(jurisdictionLabel('XX')).toBe('XX');
  });
});

describe('roster warnings', () => {
  const member = { participant: 'p-x', name: 'Mallory', meetingName: '', flags: [] } as const;

  it('says nothing about a member the meeting accounts for', () => {
    expect(rosterWarnings(member, 'p-ada')).toEqual([]);
  });

  it('names an unknown member and says it is not a participant', () => {
    expect(rosterWarnings({ ...member, flags: ['not-a-participant'] }, 'p-ada')).toEqual(['Unknown member in the encryption group: Mallory — not a participant of this meeting.']);
  });

  it('says a participant is in the group twice, and tells us when the second leaf claims to be us', () => {
    expect(rosterWarnings({ ...member, name: 'Bo', flags: ['second-leaf'] }, 'p-ada')).toEqual(['Bo is in the encryption group twice — at most one of the two is really Bo.']);
    expect(rosterWarnings({ ...member, participant: 'p-ada', name: 'Ada', flags: ['second-leaf'] }, 'p-ada')).toEqual([
      'A second member of the encryption group claims to be you (Ada) — it is not this device.',
    ]);
  });

  it('gives both names when the group and the meeting disagree, one sentence per flag', () => {
    expect(rosterWarnings({ ...member, name: 'Bo (host)', meetingName: 'Bo', flags: ['second-leaf', 'name-differs'] }, 'p-ada')).toEqual([
      'Bo (host) is in the encryption group twice — at most one of the two is really Bo (host).',
      'A member of the encryption group is named “Bo (host)” there but “Bo” in the meeting.',
    ]);
  });

  it('raises an alert only when a member is flagged, and says the code does not rule it out', () => {
    expect(rosterAlert(0)).toBe('');
    expect(rosterAlert(1)).toMatch(/^Warning: A member of the encryption group is not accounted for .* see the flagged member below\.$/);
    expect(rosterAlert(2)).toMatch(/^Warning: 2 members of the encryption group are not accounted for .* see the flagged members below\.$/);
  });

  it('never shows an empty name as nothing', () => {
    expect(displayName('  ')).toBe('(no name)');
    expect(rosterWarnings({ ...member, name: '', flags: ['not-a-participant'] }, undefined)[0]).toContain('(no name)');
  });
});
