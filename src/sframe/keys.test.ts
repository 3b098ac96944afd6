// Key derivation (RFC 9605 §4.4.2) and the sender-key ratchet (§5.1) against an
// independent oracle: node:crypto's one-shot hkdfSync (Extract then Expand).
import { hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeSFrameCrypto } from '../node/sframe-node-crypto.js';
import { asciiBytes, splitU64 } from './bytes.js';
import type { SFrameCrypto } from './crypto.js';
import { isSFrameError } from './errors.js';
import { MAX_U64 } from './header.js';
import { deriveKeySalt, frameNonce, keyLabel, ratchetBaseKey, saltLabel, writeFrameNonce } from './keys.js';
import { CIPHER_SUITES, DRAFT_CIPHER_SUITES, type CipherSuite } from './suites.js';
import { WebCryptoBackend } from './webcrypto.js';

const backends: SFrameCrypto[] = [new WebCryptoBackend(globalThis.crypto.subtle), new NodeSFrameCrypto()];
const suites = [...CIPHER_SUITES.values(), ...DRAFT_CIPHER_SUITES.values()];

function oracle(suite: CipherSuite, ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync(suite.hash === 'SHA-256' ? 'sha256' : 'sha512', ikm, new Uint8Array(0), info, length));
}

describe.each(backends)('keys on $name', (crypto) => {
  it('deriveKeySalt matches HKDF(salt "", base_key, label) for any suite, KID and base key', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...suites), fc.bigInt({ min: 0n, max: MAX_U64 }), fc.uint8Array({ minLength: 16, maxLength: 80 }), async (suite, kid, baseKey) => {
        const { key, salt } = await deriveKeySalt(crypto, suite, kid, baseKey);
        expect(key).toEqual(oracle(suite, baseKey, keyLabel(kid, suite), suite.nk));
        expect(salt).toEqual(oracle(suite, baseKey, saltLabel(kid, suite), suite.nn));
      }),
      { numRuns: 200 },
    );
  });

  it('ratchetBaseKey is HKDF-Expand(HKDF-Extract("", base_key), "SFrame 1.0 Ratchet", Nh)', async () => {
    for (const suite of suites) {
      const baseKey = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
      const next = await ratchetBaseKey(crypto, suite, baseKey);
      expect(next).toHaveLength(suite.nh);
      expect(next).toEqual(oracle(suite, baseKey, asciiBytes('SFrame 1.0 Ratchet'), suite.nh));
      expect(await ratchetBaseKey(crypto, suite, next)).not.toEqual(next);
    }
  });

  it('refuses base keys shorter than 16 bytes', async () => {
    const code = await deriveKeySalt(crypto, suites[0] as CipherSuite, 1n, new Uint8Array(8)).then(
      () => 'resolved',
      (error: unknown) => (isSFrameError(error) ? error.code : String(error)),
    );
    expect(code).toBe('SFRAME_BAD_KEY');
  });
});

describe('writeFrameNonce', () => {
  it('equals frameNonce (salt XOR CTR) for any salt and 64-bit CTR, over and over in one buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.array(fc.bigInt({ min: 0n, max: MAX_U64 }), { minLength: 1, maxLength: 8 }), (salt, ctrs) => {
        const nonce = salt.slice();
        for (const ctr of ctrs) {
          const [hi, lo] = splitU64(ctr);
          expect(writeFrameNonce(nonce, salt, hi, lo)).toEqual(frameNonce(salt, ctr));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
