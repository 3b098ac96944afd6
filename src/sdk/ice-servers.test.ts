// The SDK's check of what a bridge hands it, against the route answer's allowance that the ticket signs.
import { describe, expect, it } from 'vitest';
import type { IceServer } from '../protocol/signalling.js';
import { createHash } from 'node:crypto';
import { readIceAllowance, screenIceServers, signedIceAllowance } from './ice-servers.js';

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
    expect(screenIceServers(HANDED, readIceAllowance(ANSWER), 'us-east')).toEqual({
      accepted: [{ urls: ['turn:a.example:3478'], username: 'u', credential: 'c' }],
      refused: [
        { type: 'ice-server-refused', datacenter: 'us-east', url: 'turns:yul.example:5349', reason: 'OUTSIDE_FENCE' },
        { type: 'ice-server-refused', datacenter: 'us-east', url: 'turn:rogue.example', reason: 'NOT_DECLARED' },
      ],
    });
  });

  it('allows nothing for a datacenter the answer does not list, even one named like an Object property', () => {
    for (const datacenter of ['us-west', 'constructor', 'toString', '__proto__']) {
      const { accepted, refused } = screenIceServers(HANDED, readIceAllowance(JSON.parse(JSON.stringify(ANSWER)) as unknown), datacenter);
      expect(accepted).toEqual([]);
      expect(refused.map((r) => r.reason)).toEqual(['NOT_DECLARED', 'NOT_DECLARED', 'NOT_DECLARED']);
    }
  });
});

describe('readIceAllowance', () => {
  it('reads a well-formed answer, and fails closed on anything else', () => {
    expect(readIceAllowance(ANSWER)).toEqual(ANSWER);
    for (const bad of [undefined, null, 'x', [], 42]) expect(readIceAllowance(bad)).toEqual({});
    expect(readIceAllowance({ 'us-east': [{ urls: 'turn:a.example', jurisdiction: 'US' }], 'us-west': 'no', 'eu-west': [{ urls: ['turn:b.example'] }] })).toEqual({});
    // A `__proto__` key from JSON stays a key (and allows nothing but its own).
    const proto = readIceAllowance(JSON.parse('{"__proto__":[{"urls":["turn:a.example:3478"],"jurisdiction":"US"}]}') as unknown);
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(screenIceServers(HANDED, proto, 'us-east').accepted).toEqual([]);
  });
});

describe('signedIceAllowance', () => {
  const digest = (text: string): string => createHash('sha256').update(text).digest('base64url');

  it('takes the allowance the ticket signs, as the broker hashes it, and nothing else', async () => {
    const parsed = JSON.parse(JSON.stringify(ANSWER)) as unknown;
    expect(await signedIceAllowance(parsed, digest(JSON.stringify(ANSWER)))).toEqual(ANSWER);
    // Widened on the way (a relay added), or not signed at all: nothing is allowed.
    const widened = { 'us-east': [...ANSWER['us-east'], { urls: ['turn:evil.example'], jurisdiction: 'US' }] };
    expect(await signedIceAllowance(widened, digest(JSON.stringify(ANSWER)))).toEqual({});
    expect(await signedIceAllowance(parsed, undefined)).toEqual({});
    expect(await signedIceAllowance(parsed, '')).toEqual({});
  });
});
