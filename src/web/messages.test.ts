import { describe, expect, it } from 'vitest';
import { jurisdictionLabel, refusalText } from './messages.js';

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
    for (const code of ['NO_CAPACITY_IN_FENCE', 'NO_ZONE', 'MEETING_ENDED', 'INVITE_EXPIRED', 'INVITE_INVALID', 'TICKET_INVALID']) {
      const text = refusalText(code, 'broker says no', DATACENTERS);
      expect(text).not.toContain('broker says no');
      expect(text).not.toContain(code);
    }
    expect(refusalText('CLIENT_NOT_LOCATED', 'the address 10.0.0.1 is not located.', DATACENTERS)).toBe('The address 10.0.0.1 is not located.');
    expect(refusalText('HTTP_502', '', DATACENTERS)).toBe('The call could not connect (HTTP_502).');
  });

  it('labels a jurisdiction with its country name and code', () => {
    expect(jurisdictionLabel('DE')).toBe('Germany (DE)');
    expect(jurisdictionLabel('XX')).toBe('XX');
  });
});
