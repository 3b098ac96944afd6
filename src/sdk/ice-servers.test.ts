// The SDK's check of what a bridge hands it, against the allowance its route ticket signs.
import { describe, expect, it } from 'vitest';
import type { IceServer } from '../protocol/signalling.js';
import { screenIceServers } from './ice-servers.js';

const ANSWER = {
  'us-east': [
    { urls: ['turn:a.example:3478'], jurisdiction: 'US' },
    { urls: ['turns:yul.example:5349'], jurisdiction: 'CA' },
    { urls: ['turns:yul.example:5349'], jurisdiction: 'CN' },
  ],
};
const HANDED: IceServer[] = [{ urls: ['turn:a.example:3478', 'turns:yul.example:5349', 'turn:rogue.example'], username: 'u', credential: 'c' }];

describe('screenIceServers', () => {
  it('keeps what the answer allows, and reports the rest with its reason (a URL placed in two jurisdictions is nowhere known)', () => {
    expect(screenIceServers(HANDED, ANSWER, 'us-east')).toEqual({
      accepted: [{ urls: ['turn:a.example:3478'], username: 'u', credential: 'c' }],
      refused: [
        { type: 'ice-server-refused', datacenter: 'us-east', url: 'turns:yul.example:5349', reason: 'OUTSIDE_FENCE' },
        { type: 'ice-server-refused', datacenter: 'us-east', url: 'turn:rogue.example', reason: 'NOT_DECLARED' },
      ],
    });
  });

  it('allows nothing for a datacenter the answer does not list, even one named like an Object property', () => {
    for (const datacenter of ['us-west', 'constructor', 'toString', '__proto__']) {
      const { accepted, refused } = screenIceServers(HANDED, ANSWER, datacenter);
      expect(accepted).toEqual([]);
      expect(refused.map((r) => r.reason)).toEqual(['NOT_DECLARED', 'NOT_DECLARED', 'NOT_DECLARED']);
    }
  });
});
