// The security code and the group tag: their derivations checked against
// node:crypto's HKDF (an independent implementation), their format, and that
// they track the epoch.
import { hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupTagFromAuthenticator, securityCodeFromAuthenticator } from './security-code.js';

/** The documented derivation, written again with node:crypto. */
function reference(authenticator: Uint8Array): string {
  const okm = Buffer.from(hkdfSync('sha256', authenticator, new Uint8Array(0), 'geobridge security code v1', 30));
  return Array.from({ length: 6 }, (_, g) => (okm.readUIntBE(g * 5, 5) % 100000).toString().padStart(5, '0')).join(' ');
}

describe('securityCodeFromAuthenticator', () => {
  it('is HKDF-SHA256 of the authenticator, six 40-bit groups mod 10^5', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (authenticator) => {
        const code = securityCodeFromAuthenticator(authenticator);
        expect(code).toMatch(/^\d{5}( \d{5}){5}$/);
        expect(code).toBe(reference(authenticator));
      }),
      { numRuns: 300 },
    );
  });

  it('changes with any bit of the authenticator', () => {
    const base = new Uint8Array(32).fill(0x5a);
    const code = securityCodeFromAuthenticator(base);
    for (let bit = 0; bit < 256; bit++) {
      const flipped = base.slice();
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      expect(securityCodeFromAuthenticator(flipped)).not.toBe(code);
    }
  });
});

describe('groupTagFromAuthenticator', () => {
  it('is 16 bytes of HKDF-SHA256 of the authenticator under its own label, base64url, and reveals nothing of the code', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (authenticator) => {
        const tag = groupTagFromAuthenticator(authenticator);
        expect(tag).toMatch(/^[A-Za-z0-9_-]{22}$/);
        expect(tag).toBe(Buffer.from(hkdfSync('sha256', authenticator, new Uint8Array(0), 'geobridge group tag v1', 16)).toString('base64url'));
        // Another label: the code's key material is not the tag's.
        expect(Buffer.from(tag, 'base64url')).not.toEqual(Buffer.from(hkdfSync('sha256', authenticator, new Uint8Array(0), 'geobridge security code v1', 16)));
      }),
      { numRuns: 300 },
    );
  });
});
