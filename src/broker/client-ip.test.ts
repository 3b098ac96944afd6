import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkTrustedProxies, resolveClientAddress } from './client-ip.js';

const PROXIES = ['10.0.0.0/8', '192.0.2.10', '2001:db8:1::/48', 'fd00::1'] as const;

function resolve(remoteAddress: string, forwardedFor?: string | readonly string[], trustedProxies: readonly string[] = PROXIES): string {
  return resolveClientAddress({ remoteAddress, forwardedFor, trustedProxies });
}

describe('resolveClientAddress', () => {
  it('ignores X-Forwarded-For from an untrusted peer (spoofing)', () => {
    expect(resolve('203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
    expect(resolve('203.0.113.9', '10.0.0.1, 198.51.100.1')).toBe('203.0.113.9');
    expect(resolve('2001:db8:2::1', '198.51.100.1')).toBe('2001:db8:2::1');
    expect(resolve('203.0.113.9', '198.51.100.1', [])).toBe('203.0.113.9');
  });

  it('honours X-Forwarded-For from a trusted proxy, exact address or CIDR', () => {
    expect(resolve('192.0.2.10', '198.51.100.1')).toBe('198.51.100.1');
    expect(resolve('10.20.30.40', '198.51.100.1')).toBe('198.51.100.1');
    expect(resolve('192.0.2.11', '198.51.100.1')).toBe('192.0.2.11');
  });

  it('returns the peer when a trusted proxy sent no or an empty header', () => {
    expect(resolve('10.0.0.1')).toBe('10.0.0.1');
    expect(resolve('10.0.0.1', '')).toBe('10.0.0.1');
    expect(resolve('10.0.0.1', '   ')).toBe('10.0.0.1');
  });

  it('walks a chain of proxies from the right and stops at the first untrusted address', () => {
    expect(resolve('10.0.0.1', '198.51.100.1, 10.0.0.2, 192.0.2.10')).toBe('198.51.100.1');
    // The client prepended its own "X-Forwarded-For: 1.2.3.4"; the proxy appended the real address.
    expect(resolve('10.0.0.1', '1.2.3.4, 198.51.100.1')).toBe('198.51.100.1');
    expect(resolve('10.0.0.1', '1.2.3.4, 198.51.100.1, 10.9.9.9')).toBe('198.51.100.1');
    // A client that names a trusted proxy still cannot hide behind it.
    expect(resolve('10.0.0.1', '198.51.100.1, 10.0.0.7, 203.0.113.5')).toBe('203.0.113.5');
  });

  it('returns the leftmost address when every hop is a trusted proxy', () => {
    expect(resolve('10.0.0.1', '10.0.0.3, 10.0.0.2')).toBe('10.0.0.3');
  });

  it('matches IPv6 CIDR ranges and returns IPv6 in canonical form', () => {
    expect(resolve('2001:db8:1::5', '2001:DB8:0:0:0:0:0:7')).toBe('2001:db8::7');
    expect(resolve('2001:db8:1:ffff::1', '2001:db8:9::9, 2001:db8:1::2')).toBe('2001:db8:9::9');
    expect(resolve('2001:db8:2::1', '2001:db8:9::9')).toBe('2001:db8:2::1');
    expect(resolve('fd00::1', '198.51.100.1')).toBe('198.51.100.1');
    expect(resolve('fd00::2', '198.51.100.1')).toBe('fd00::2');
  });

  it('treats IPv4-mapped IPv6 addresses as the IPv4 addresses they are', () => {
    // Dual-stack listeners report IPv4 peers as ::ffff:a.b.c.d.
    expect(resolve('::ffff:10.1.2.3', '198.51.100.1')).toBe('198.51.100.1');
    expect(resolve('::ffff:203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
    expect(resolve('::FFFF:192.0.2.10', '::ffff:198.51.100.1')).toBe('198.51.100.1');
    expect(resolve('10.0.0.1', '::ffff:c633:6401')).toBe('198.51.100.1');
    expect(resolve('10.0.0.1', '198.51.100.1, ::ffff:10.0.0.9')).toBe('198.51.100.1');
    // Trusted proxies may be written mapped, too.
    expect(resolve('10.1.1.1', '198.51.100.1', ['::ffff:10.0.0.0/104'])).toBe('198.51.100.1');
    expect(resolve('::ffff:10.1.1.1', '198.51.100.1', ['::ffff:10.1.1.1'])).toBe('198.51.100.1');
  });

  it('accepts ports that some proxies append', () => {
    expect(resolve('10.0.0.1', '198.51.100.1:4711')).toBe('198.51.100.1');
    expect(resolve('10.0.0.1', '[2001:db8::7]:443')).toBe('2001:db8::7');
    expect(resolve('10.0.0.1', '[2001:db8::7]')).toBe('2001:db8::7');
  });

  it('ignores the whole header when a hop the trusted chain wrote is garbage, and never throws', () => {
    const garbage = ['unknown', 'evil', '1.2.3.4.5', '999.1.1.1', '01.2.3.4', '1.2.3.4 5.6.7.8', '<script>', ',', ', ,', '1.2.3.4,', 'fe80::1%eth0', '[1.2.3.4]', '2001:db8::1::80', '1.2.3.4:99999', '\u0000'];
    for (const header of garbage) expect(resolve('10.0.0.1', header), header).toBe('10.0.0.1');
    expect(resolve('10.0.0.1', '198.51.100.1, garbage, 10.0.0.2')).toBe('10.0.0.1');
  });

  it('does not look left of the client: garbage written by the client does not let it pose as the proxy', () => {
    expect(resolve('10.0.0.1', 'garbage, 198.51.100.1')).toBe('198.51.100.1');
    expect(resolve('10.0.0.1', 'unknown, 999.1.1.1, 198.51.100.1, 10.0.0.2')).toBe('198.51.100.1');
  });

  it('joins a header given as an array (repeated headers)', () => {
    expect(resolve('10.0.0.1', ['1.2.3.4', '198.51.100.1, 10.0.0.2'])).toBe('198.51.100.1');
  });

  it('drops the zone of a link-local peer', () => {
    expect(resolve('fe80::1%eth0', '198.51.100.1')).toBe('fe80::1');
  });

  it('refuses an invalid trusted-proxy list (INVALID_TRUSTED_PROXY)', () => {
    for (const entry of ['foo', '10.0.0.0/33', '::/129', '10.0.0.1/8/1', '10.0.0.0/', '10.0.0.0/x', '::ffff:10.0.0.0/8', 'localhost']) {
      expect(() => { checkTrustedProxies([entry]); }, entry).toThrow(expect.objectContaining({ code: 'INVALID_TRUSTED_PROXY' }));
      expect(() => resolve('10.0.0.1', '198.51.100.1', [entry]), entry).toThrow(expect.objectContaining({ code: 'INVALID_TRUSTED_PROXY' }));
    }
    expect(() => { checkTrustedProxies([...PROXIES, '0.0.0.0/0', '::/0']); }).not.toThrow();
  });

  it('property: an untrusted peer is always the answer, whatever the header', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.string({ unit: 'binary', maxLength: 200 }), (peer, header) => {
        fc.pre(!peer.startsWith('10.') && peer !== '192.0.2.10');
        expect(resolve(peer, header)).toBe(peer);
      }),
    );
  });

  it('property: for a trusted peer, any header gives a valid IP and never throws', () => {
    const entry = fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 12 }), fc.constant('10.0.0.5'));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 6 }), fc.constantFrom(', ', ',', ' , '), (entries, separator) => {
        const result = resolve('10.0.0.1', entries.join(separator));
        expect(isIP(result)).not.toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
