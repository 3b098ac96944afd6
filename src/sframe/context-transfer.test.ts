// encrypt() grows the AEAD's output into the frame with ArrayBuffer.prototype.transfer
// where the runtime has it (browsers; Node from 21). Node 20 has not, so this file
// loads the context a second time with the ES2024 method installed, implemented
// to the letter (a copy of the new length, the source detached), and checks that
// both paths make the same frames and that only a buffer the AEAD handed over is moved.
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { SFrameContext } from './context.js';
import type { SFrameCrypto } from './crypto.js';
import { CIPHER_SUITES } from './suites.js';
import { WebCryptoBackend } from './webcrypto.js';

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const web = new WebCryptoBackend(globalThis.crypto.subtle);
const proto = ArrayBuffer.prototype as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
const native = proto.transfer;

/** ES2024 ArrayBuffer.prototype.transfer(newLength): the bytes copied (cut or zero-filled), this buffer detached. */
function transfer(this: ArrayBuffer, length: number): ArrayBuffer {
  const moved = new Uint8Array(length);
  moved.set(new Uint8Array(this).subarray(0, Math.min(length, this.byteLength)));
  structuredClone(this, { transfer: [this] });
  return moved.buffer;
}

async function contextWithTransfer(): Promise<typeof SFrameContext> {
  if (native === undefined) Object.defineProperty(proto, 'transfer', { value: transfer, configurable: true, writable: true });
  vi.resetModules();
  return (await import('./context.js')).SFrameContext;
}

afterAll(() => {
  if (native === undefined) delete proto.transfer;
});

/** `crypto` recording what aesGcmSeal resolved to; `pooled` hands back views into a larger buffer, as Node's Buffer pool does. */
function recording(crypto: SFrameCrypto, pooled = false): { backend: SFrameCrypto; sealed: Uint8Array[] } {
  const sealed: Uint8Array[] = [];
  const backend: SFrameCrypto = {
    name: `${crypto.name} (recorded)`,
    hkdfExtract: (...a) => crypto.hkdfExtract(...a),
    hkdfExpand: (...a) => crypto.hkdfExpand(...a),
    hmac: (...a) => crypto.hmac(...a),
    aesCtr: (...a) => crypto.aesCtr(...a),
    aesGcmOpen: (...a) => crypto.aesGcmOpen(...a),
    aesGcmSeal: async (...a) => {
      const out = await crypto.aesGcmSeal(...a);
      const result = pooled ? new Uint8Array(out.length + 8).fill(0xee).subarray(4, 4 + out.length) : out;
      if (pooled) result.set(out);
      sealed.push(result);
      return result;
    },
  };
  return { backend, sealed };
}

describe('encrypt with ArrayBuffer.prototype.transfer', () => {
  it.each([...CIPHER_SUITES.keys()])('suite %i: the same frames as without it, for any KID, CTR, prefix and plaintext; each decrypts', async (suite) => {
    const Moving = await contextWithTransfer();
    await fc.assert(
      fc.asyncProperty(fc.bigInt({ min: 0n, max: 2n ** 40n }), fc.bigInt({ min: 0n, max: 2n ** 40n }), fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ maxLength: 300 }), async (kid, ctr, prefix, plaintext) => {
        const options = { suite, allowDraftSuites: true };
        const moving = recording(web);
        const mover = new Moving({ crypto: moving.backend, ...options });
        const copier = new SFrameContext({ crypto: web, ...options });
        const receiver = new SFrameContext({ crypto: web, ...options });
        await mover.addEncryptionKey(kid, KEY, { nextCtr: ctr });
        await copier.addEncryptionKey(kid, KEY, { nextCtr: ctr });
        await receiver.addDecryptionKey(kid, KEY);
        const moved = await mover.encryptWithPrefix(kid, prefix, plaintext);
        expect(moved).toEqual(await copier.encryptWithPrefix(kid, prefix, plaintext));
        // The AEAD's buffer became the frame's (AES-GCM suites; the AES-CTR+HMAC ones seal through aesCtr and hmac).
        if (CIPHER_SUITES.get(suite)?.aead === 'AES-GCM') expect(moving.sealed[0]?.buffer.byteLength).toBe(0);
        expect([moved.byteOffset, moved.byteLength]).toEqual([0, moved.buffer.byteLength]);
        expect((await receiver.decrypt(prefix, moved.subarray(prefix.length))).plaintext).toEqual(plaintext);
        expect(await mover.encrypt(kid, prefix, plaintext)).toEqual(await copier.encrypt(kid, prefix, plaintext));
      }),
      { numRuns: 40 },
    );
  });

  it('copies, and leaves alone, an AEAD output that is a view into a larger buffer', async () => {
    const Moving = await contextWithTransfer();
    const pooled = recording(web, true);
    const mover = new Moving({ crypto: pooled.backend });
    const copier = new SFrameContext({ crypto: web });
    await mover.addEncryptionKey(3n, KEY);
    await copier.addEncryptionKey(3n, KEY);
    const plaintext = Uint8Array.from({ length: 100 }, (_, i) => i);
    expect(await mover.encryptWithPrefix(3n, Uint8Array.of(9, 9, 9), plaintext)).toEqual(await copier.encryptWithPrefix(3n, Uint8Array.of(9, 9, 9), plaintext));
    const view = pooled.sealed[0];
    expect(view?.buffer.byteLength).toBe(124);
    expect(view && new Uint8Array(view.buffer).subarray(0, 4)).toEqual(Uint8Array.of(0xee, 0xee, 0xee, 0xee));
  });
});
