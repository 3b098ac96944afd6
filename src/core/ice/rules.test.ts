// The ICE URL rules the manifest, its schema and the signalling protocol share.
import { describe, expect, it } from 'vitest';
import { iceUrlHost, isIceUrl, isRelayUrl } from './rules.js';

describe('ICE URL rules', () => {
  it.each([
    ['stun:stun.example.com', true],
    ['stuns:stun.example.com:5349', true],
    ['turn:[2001:db8::1]:3478?transport=tcp', true],
    ['turns:turn.example.com:5349', true],
    ['http://turn.example.com', false],
    ['TURN:turn.example.com', false],
    ['turn:', false],
    ['turn:a b', false],
    [`turn:${'a'.repeat(508)}`, false],
    [42, false],
  ] as const)('%s is an ICE URL: %s', (url, ok) => {
    expect(isIceUrl(url)).toBe(ok);
  });

  it('tells relays from STUN servers', () => {
    expect(['turn:a', 'turns:a', 'stun:a', 'stuns:a'].map(isRelayUrl)).toEqual([true, true, false, false]);
  });

  it.each([
    ['turn:Relay.Example.com:3478?transport=tcp', 'relay.example.com'],
    ['stuns:relay.example.com', 'relay.example.com'],
    ['turn:[2001:DB8::1]:3478', '[2001:db8::1]'],
    ['turn:198.51.100.7', '198.51.100.7'],
  ])('the host of %s is %s', (url, host) => {
    expect(iceUrlHost(url)).toBe(host);
  });
});
