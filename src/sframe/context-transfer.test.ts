// encrypt() grows the AEAD's output into the frame with ArrayBuffer.prototype.transfer
// where the runtime has it (browsers; Node from 21). Node 20 has not, so this file
// loads the context a second time with the ES2024 method installed, implemented
// to the letter (a copy of the new length, the source detached), and checks that
// both paths make the same frames, through imported keys (WebCrypto's per-frame
// path) and without, and that only a buffer the AEAD handed over is moved.
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { SFrameContext } from './context.js';
import type { ImportingSFrameCrypto, SFrameCrypto } from './crypto.js';
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

/**
 * WebCrypto with what its AES-GCM seals resolved to recorded: through imported
 * keys (the per-frame path, whose output is an ArrayBuffer), or through
 * aesGcmSeal alone, as a backend without that capability; `pooled` makes the
 * latter hand back views into a larger buffer, as Node's Buffer pool does.
 */
function recording(mode: 'importing' | 'plain' | 'pooled'): { backend: SFrameCrypto; sealed: (Uint8Array | ArrayBuffer)[] } {
  const sealed: (Uint8Array | ArrayBuffer)[] = [];
  const plain: SFrameCrypto = {
    name: `webcrypto (${mode})`,
    hkdfExtract: (...a) => web.hkdfExtract(...a),
    hkdfExpand: (...a) => web.hkdfExpand(...a),
    hmac: (...a) => web.hmac(...a),
    aesCtr: (...a) => web.aesCtr(...a),
    aesGcmOpen: (...a) => web.aesGcmOpen(...a),
    aesGcmSeal: async (...a) => {
      const out = await web.aesGcmSeal(...a);
      const result = mode === 'pooled' ? new Uint8Array(out.length + 8).fill(0xee).subarray(4, 4 + out.length) : out;
      if (mode === 'pooled') result.set(out);
      sealed.push(result);
      return result;
    },
  };
  if (mode !== 'importing') return { backend: plain, sealed };
  const importing: ImportingSFrameCrypto = {
    ...plain,
    importGcmKey: (key) => web.importGcmKey(key),
    gcmOpen: (...a) => web.gcmOpen(...a),
    isAuthFailure: (error) => web.isAuthFailure(error),
    gcmSeal: async (...a) => {
      const out = await web.gcmSeal(...a);
      sealed.push(out);
      return out;
    },
  };
  return { backend: importing, sealed };
}

/** The byte length of a sealed output's buffer: 0 once it was moved into the frame. */
function bufferLength(sealed: Uint8Array | ArrayBuffer | undefined): number | undefined {
  return sealed instanceof ArrayBuffer ? sealed.byteLength : sealed?.buffer.byteLength;
}

describe('encrypt with ArrayBuffer.prototype.transfer', () => {
  const cases = [...CIPHER_SUITES.keys()].flatMap((suite) => (['importing', 'plain'] as const).map((mode) => [suite, mode] as const));
  it.each(cases)('suite %i, %s backend: the same frames as without it, for any KID, CTR, prefix and plaintext; each decrypts', async (suite, mode) => {
    const Moving = await contextWithTransfer();
    await fc.assert(
      fc.asyncProperty(fc.bigInt({ min: 0n, max: 2n ** 40n }), fc.bigInt({ min: 0n, max: 2n ** 40n }), fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ maxLength: 300 }), async (kid, ctr, prefix, plaintext) => {
        const options = { suite, allowDraftSuites: true };
        const moving = recording(mode);
        const mover = new Moving({ crypto: moving.backend, ...options });
        const copier = new SFrameContext({ crypto: web, ...options });
        const receiver = new SFrameContext({ crypto: web, ...options });
        await mover.addEncryptionKey(kid, KEY, { nextCtr: ctr });
        await copier.addEncryptionKey(kid, KEY, { nextCtr: ctr });
        await receiver.addDecryptionKey(kid, KEY);
        const moved = await mover.encryptWithPrefix(kid, prefix, plaintext);
        expect(moved).toEqual(await copier.encryptWithPrefix(kid, prefix, plaintext));
        // The AEAD's buffer became the frame's (AES-GCM suites; the AES-CTR+HMAC ones seal through aesCtr and hmac).
        if (CIPHER_SUITES.get(suite)?.aead === 'AES-GCM') expect(bufferLength(moving.sealed[0])).toBe(0);
        expect([moved.byteOffset, moved.byteLength]).toEqual([0, moved.buffer.byteLength]);
        expect((await receiver.decrypt(prefix, moved.subarray(prefix.length))).plaintext).toEqual(plaintext);
        expect(await mover.encrypt(kid, prefix, plaintext)).toEqual(await copier.encrypt(kid, prefix, plaintext));
      }),
      { numRuns: 40 },
    );
  });

  it('copies, and leaves alone, an AEAD output that is a view into a larger buffer', async () => {
    const Moving = await contextWithTransfer();
    const pooled = recording('pooled');
    const mover = new Moving({ crypto: pooled.backend });
    const copier = new SFrameContext({ crypto: web });
    await mover.addEncryptionKey(3n, KEY);
    await copier.addEncryptionKey(3n, KEY);
    const plaintext = Uint8Array.from({ length: 100 }, (_, i) => i);
    expect(await mover.encryptWithPrefix(3n, Uint8Array.of(9, 9, 9), plaintext)).toEqual(await copier.encryptWithPrefix(3n, Uint8Array.of(9, 9, 9), plaintext));
    const view = pooled.sealed[0];
    if (!(view instanceof Uint8Array)) throw new Error('expected a view');
    expect(view.buffer.byteLength).toBe(124);
    expect(new Uint8Array(view.buffer).subarray(0, 4)).toEqual(Uint8Array.of(0xee, 0xee, 0xee, 0xee));
  });
});
