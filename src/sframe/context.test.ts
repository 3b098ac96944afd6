// SFrameContext: round trips for every suite on both backends, fuzzing, tampering,
// replay, wrong keys and key management errors. Codes are asserted, not messages.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeSFrameCrypto } from '../node/sframe-node-crypto.js';
import { concatBytes } from './bytes.js';
import { SFrameContext } from './context.js';
import type { ImportingSFrameCrypto, SFrameCrypto } from './crypto.js';
import { isSFrameError } from './errors.js';
import { decodeHeader, encodeHeader, MAX_U64 } from './header.js';
import { CIPHER_SUITES } from './suites.js';
import { WebCryptoBackend } from './webcrypto.js';

const backends: SFrameCrypto[] = [new WebCryptoBackend(globalThis.crypto.subtle), new NodeSFrameCrypto()];
const SUITES = [...CIPHER_SUITES.keys()];
const KEY_A = Uint8Array.from({ length: 16 }, (_, i) => i);
const KEY_B = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const META = Uint8Array.of(1, 2, 3);

/** A sender with KEY_A under `kid`, and a receiver that holds the same key. */
async function pair(crypto: SFrameCrypto, suite: number, kid = 7n, receiverCrypto = crypto): Promise<{ sender: SFrameContext; receiver: SFrameContext }> {
  const sender = new SFrameContext({ crypto, suite });
  const receiver = new SFrameContext({ crypto: receiverCrypto, suite });
  await sender.addEncryptionKey(kid, KEY_A);
  await receiver.addDecryptionKey(kid, KEY_A);
  return { sender, receiver };
}

/** The SFrame error code a promise rejects with; anything else shows up as a mismatch. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isSFrameError(error) ? error.code : `not an SFrameError: ${String(error)}`;
  }
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3] = (out[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return out;
}

describe('round trips', () => {
  describe.each(backends)('on $name', (crypto) => {
    it.each(SUITES)('suite %i: plaintext, KID and CTR come back; overhead is header + Nt', async (suite) => {
      const { sender, receiver } = await pair(crypto, suite, 0x1234n);
      for (const size of [0, 1, 15, 16, 17, 1000]) {
        const plaintext = Uint8Array.from({ length: size }, (_, i) => (i * 31) & 0xff);
        const frame = await sender.encrypt(0x1234n, META, plaintext);
        expect(frame.length).toBe(decodeHeader(frame).length + size + sender.suite.nt);
        const out = await receiver.decrypt(META, frame);
        expect(out.kid).toBe(0x1234n);
        expect(out.plaintext).toEqual(plaintext);
      }
      expect(sender.nextCounter(0x1234n)).toBe(6n);
    });
  });

  it.each(SUITES)('suite %i: WebCrypto and node:crypto read each other’s frames', async (suite) => {
    const [web, node] = backends as [SFrameCrypto, SFrameCrypto];
    for (const [from, to] of [[web, node], [node, web]] as const) {
      const { sender, receiver } = await pair(from, suite, 300n, to);
      const frame = await sender.encrypt(300n, META, Uint8Array.of(9, 8, 7));
      expect((await receiver.decrypt(META, frame)).plaintext).toEqual(Uint8Array.of(9, 8, 7));
    }
  });

  it('concurrent encryptions never share a CTR', async () => {
    const { sender } = await pair(backends[0] as SFrameCrypto, 4);
    const frames = await Promise.all(Array.from({ length: 20 }, () => sender.encrypt(7n, META, Uint8Array.of(1))));
    expect(frames.map((f) => decodeHeader(f).ctr).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i)));
  });

  describe.each(backends)('reused nonce and AAD buffers, on $name', (crypto) => {
    it.each(SUITES)('suite %i: concurrent frames with different metadata each decrypt, before and after the key is imported', async (suite) => {
      // Each call writes its nonce and AAD into buffers the next call overwrites; a backend that read them late
      // (the first frames wait for WebCrypto's key import) would seal under another frame's nonce or AAD.
      const { sender, receiver } = await pair(crypto, suite);
      for (const round of [0, 1]) {
        const metadata = Array.from({ length: 24 }, (_, i) => Uint8Array.from({ length: i % 5 }, (_, j) => i + j + round));
        const plaintexts = metadata.map((_, i) => Uint8Array.from({ length: 40 + i }, (_, j) => (i * 7 + j) & 0xff));
        const frames = await Promise.all(plaintexts.map((p, i) => sender.encrypt(7n, metadata[i] ?? META, p)));
        const opened = await Promise.all(frames.map((f, i) => receiver.decrypt(metadata[i] ?? META, f)));
        expect(opened.map((o) => o.plaintext)).toEqual(plaintexts);
      }
    });
  });

  it.each(SUITES)('suite %i: encryptWithPrefix is metadata ‖ encrypt(), byte for byte (property, 200 runs)', async (suite) => {
    const [web, node] = backends as [SFrameCrypto, SFrameCrypto];
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ maxLength: 300 }), fc.bigInt({ min: 0n, max: MAX_U64 }), async (metadata, plaintext, ctr) => {
        for (const crypto of [web, node]) {
          const plain = new SFrameContext({ crypto, suite });
          const prefixed = new SFrameContext({ crypto, suite });
          await plain.addEncryptionKey(9n, KEY_B, { nextCtr: ctr });
          await prefixed.addEncryptionKey(9n, KEY_B, { nextCtr: ctr });
          const expected = concatBytes(metadata, await plain.encrypt(9n, metadata, plaintext));
          expect(await prefixed.encryptWithPrefix(9n, metadata, plaintext)).toEqual(expected);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('uses the default suite AES_128_GCM_SHA256_128 (4)', () => {
    expect(new SFrameContext({ crypto: backends[0] as SFrameCrypto }).suite.name).toBe('AES_128_GCM_SHA256_128');
  });
});

describe.each(backends)('hostile input on $name', (crypto) => {
  it('decrypt rejects random and mutated frames with SFrame errors only (fuzz, 2,000 runs)', async () => {
    const contexts = await Promise.all(SUITES.map((suite) => pair(crypto, suite, 9n)));
    const valid = await Promise.all(contexts.map(({ sender }) => Promise.all(Array.from({ length: 4 }, (_, i) => sender.encrypt(9n, META, Uint8Array.from({ length: 40 * i }, (_, j) => j))))));
    const frame = fc.tuple(fc.integer({ min: 0, max: SUITES.length - 1 }), fc.integer({ min: 0, max: 3 })).chain(([s, f]) => {
      const original = valid[s]?.[f] ?? new Uint8Array(0);
      return fc.tuple(
        fc.constant(s),
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }), // random bytes
          fc.uint8Array({ maxLength: 80 }).map((body) => concatBytes(encodeHeader(9n, 1000n), body)), // known KID, random body
          fc.nat(original.length).map((n) => original.subarray(0, n)), // truncations
          fc.nat(original.length * 8 - 1).map((bit) => flipBit(original, bit)), // one bit flipped
          fc.tuple(fc.nat(original.length), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, junk]) => concatBytes(original.subarray(0, at), junk, original.subarray(at))), // bytes inserted
          fc.constant(original), // the frame itself (accepted once, then a replay)
        ),
      );
    });
    const originals = new Set(valid.flat().map((f) => f.join()));
    await fc.assert(
      fc.asyncProperty(frame, async ([s, bytes]) => {
        const receiver = contexts[s]?.receiver;
        if (!receiver) throw new Error(`no receiver for suite index ${s}`);
        try {
          const out = await receiver.decrypt(META, bytes);
          // Anything accepted must be one of the frames the sender really made.
          expect(originals.has(bytes.join())).toBe(true);
          expect(out.kid).toBe(9n);
        } catch (error) {
          expect(isSFrameError(error), String(error)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a flipped bit anywhere in header, ciphertext or tag fails, and the genuine frame still decrypts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SUITES), fc.uint8Array({ maxLength: 64 }), fc.nat(), async (suite, plaintext, seed) => {
        const { sender, receiver } = await pair(crypto, suite, 42n);
        const frame = await sender.encrypt(42n, META, plaintext);
        const bit = seed % (frame.length * 8);
        const code = await codeOf(receiver.decrypt(META, flipBit(frame, bit)));
        if (bit >= decodeHeader(frame).length * 8) expect(code).toBe('SFRAME_AUTH_FAILED');
        // A flip in the header may also change the KID or break the encoding before any AEAD runs.
        else expect(['SFRAME_AUTH_FAILED', 'SFRAME_UNKNOWN_KID', 'SFRAME_BAD_HEADER']).toContain(code);
        // The forgery moved no replay state: the genuine frame is still accepted.
        expect((await receiver.decrypt(META, frame)).plaintext).toEqual(plaintext);
      }),
      { numRuns: 300 },
    );
  });

  it('metadata is authenticated: other metadata fails', async () => {
    const { sender, receiver } = await pair(crypto, 4);
    const frame = await sender.encrypt(7n, META, Uint8Array.of(1));
    expect(await codeOf(receiver.decrypt(Uint8Array.of(1, 2, 4), frame))).toBe('SFRAME_AUTH_FAILED');
    expect(await codeOf(receiver.decrypt(new Uint8Array(0), frame))).toBe('SFRAME_AUTH_FAILED');
  });

  it('a wrong key decrypts nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SUITES), fc.uint8Array({ minLength: 16, maxLength: 48 }), fc.uint8Array({ maxLength: 32 }), async (suite, otherKey, plaintext) => {
        fc.pre(otherKey.join() !== KEY_A.join());
        const { sender } = await pair(crypto, suite);
        const stranger = new SFrameContext({ crypto, suite });
        await stranger.addDecryptionKey(7n, otherKey);
        expect(await codeOf(stranger.decrypt(META, await sender.encrypt(7n, META, plaintext)))).toBe('SFRAME_AUTH_FAILED');
      }),
      { numRuns: 200 },
    );
  });

  it('a frame shorter than the tag fails authentication', async () => {
    for (const suite of SUITES) {
      const { receiver } = await pair(crypto, suite);
      expect(await codeOf(receiver.decrypt(META, concatBytes(encodeHeader(7n, 0n), Uint8Array.of(1, 2, 3))))).toBe('SFRAME_AUTH_FAILED');
    }
  });
});

describe('WebCrypto through imported keys', () => {
  it('a decryption the platform refuses for another reason than the tag is a bug, passed on as it is, and the window is left alone', async () => {
    const web = new WebCryptoBackend(globalThis.crypto.subtle);
    const { sender } = await pair(web, 4);
    let broken = true;
    const flaky: ImportingSFrameCrypto = {
      name: 'flaky webcrypto',
      hkdfExtract: (...a) => web.hkdfExtract(...a),
      hkdfExpand: (...a) => web.hkdfExpand(...a),
      hmac: (...a) => web.hmac(...a),
      aesCtr: (...a) => web.aesCtr(...a),
      aesGcmSeal: (...a) => web.aesGcmSeal(...a),
      aesGcmOpen: (...a) => web.aesGcmOpen(...a),
      importGcmKey: (key) => web.importGcmKey(key),
      gcmSeal: (...a) => web.gcmSeal(...a),
      gcmOpen: (...a) => (broken ? Promise.reject(new TypeError('the platform broke')) : web.gcmOpen(...a)),
      isAuthFailure: (error) => web.isAuthFailure(error),
    };
    const receiver = new SFrameContext({ crypto: flaky });
    await receiver.addDecryptionKey(7n, KEY_A);
    const frame = await sender.encrypt(7n, META, Uint8Array.of(1, 2, 3));
    await expect(receiver.decrypt(META, frame)).rejects.toThrow(TypeError);
    broken = false;
    expect((await receiver.decrypt(META, frame)).plaintext).toEqual(Uint8Array.of(1, 2, 3));
  });
});

describe.each(backends)('replay window on $name', (crypto) => {
  it('rejects a duplicate', async () => {
    const { sender, receiver } = await pair(crypto, 1);
    const frame = await sender.encrypt(7n, META, Uint8Array.of(5));
    await receiver.decrypt(META, frame);
    expect(await codeOf(receiver.decrypt(META, frame))).toBe('SFRAME_REPLAY');
  });

  it('rejects the second of two concurrent decryptions of one frame', async () => {
    const { sender, receiver } = await pair(crypto, 4);
    const frame = await sender.encrypt(7n, META, Uint8Array.of(5));
    const codes = await Promise.all([codeOf(receiver.decrypt(META, frame)), codeOf(receiver.decrypt(META, frame))]);
    expect(codes.sort()).toEqual(['SFRAME_REPLAY', 'resolved']);
  });

  it('accepts reordered frames inside the window and rejects those behind it', async () => {
    const { sender, receiver } = await pair(crypto, 4);
    const frames = [];
    for (let i = 0; i < 131; i++) frames.push(await sender.encrypt(7n, META, Uint8Array.of(i)));
    await receiver.decrypt(META, frames[130] as Uint8Array);
    // CTRs 3..129 are within 127 of 130: accepted in any order, each once.
    const order = fc.sample(fc.shuffledSubarray(Array.from({ length: 127 }, (_, i) => i + 3), { minLength: 127 }), { numRuns: 1, seed: 1 })[0] ?? [];
    for (const i of order) expect((await receiver.decrypt(META, frames[i] as Uint8Array)).ctr).toBe(BigInt(i));
    for (const i of [2, 1, 0, 50, 130]) expect(await codeOf(receiver.decrypt(META, frames[i] as Uint8Array))).toBe('SFRAME_REPLAY');
  });

  it('has its own window per KID, and a window size of choice', async () => {
    const sender = new SFrameContext({ crypto });
    const receiver = new SFrameContext({ crypto, replayWindow: 4 });
    for (const kid of [1n, 2n]) {
      await sender.addEncryptionKey(kid, KEY_A);
      await receiver.addDecryptionKey(kid, KEY_A);
    }
    const one = [];
    for (let i = 0; i < 6; i++) one.push(await sender.encrypt(1n, META, Uint8Array.of(i)));
    const two = await sender.encrypt(2n, META, Uint8Array.of(0));
    await receiver.decrypt(META, one[5] as Uint8Array);
    expect((await receiver.decrypt(META, two)).ctr).toBe(0n); // KID 2 is unaffected by KID 1's CTR 5
    expect((await receiver.decrypt(META, one[2] as Uint8Array)).ctr).toBe(2n); // 3 behind, window 4
    expect(await codeOf(receiver.decrypt(META, one[1] as Uint8Array))).toBe('SFRAME_REPLAY'); // 4 behind
  });
});

describe('keys and counters', () => {
  const crypto = backends[1] as SFrameCrypto;

  it('a KID is for encryption or decryption, never both (RFC 9605 §4.4.1)', async () => {
    const ctx = new SFrameContext({ crypto });
    await ctx.addEncryptionKey(1n, KEY_A);
    await ctx.addDecryptionKey(2n, KEY_A);
    expect(await codeOf(ctx.addDecryptionKey(1n, KEY_A))).toBe('SFRAME_BAD_KEY');
    expect(await codeOf(ctx.addEncryptionKey(1n, KEY_B))).toBe('SFRAME_BAD_KEY');
    expect(await codeOf(ctx.encrypt(2n, META, KEY_A))).toBe('SFRAME_UNKNOWN_KID');
    const frame = await ctx.encrypt(1n, META, KEY_A);
    expect(await codeOf(ctx.decrypt(META, frame))).toBe('SFRAME_UNKNOWN_KID');
  });

  it('two concurrent adds for one KID: one wins, the other is refused', async () => {
    const ctx = new SFrameContext({ crypto: backends[0] as SFrameCrypto });
    const codes = await Promise.all([codeOf(ctx.addEncryptionKey(1n, KEY_A)), codeOf(ctx.addEncryptionKey(1n, KEY_B))]);
    expect(codes.sort()).toEqual(['SFRAME_BAD_KEY', 'resolved']);
  });

  it('removeKey forgets the key', async () => {
    const { sender, receiver } = await pair(crypto, 4);
    const frame = await sender.encrypt(7n, META, Uint8Array.of(1));
    expect(receiver.removeKey(7n)).toBe(true);
    expect(receiver.removeKey(7n)).toBe(false);
    expect(await codeOf(receiver.decrypt(META, frame))).toBe('SFRAME_UNKNOWN_KID');
    expect(sender.removeKey(7n)).toBe(true);
    expect(await codeOf(sender.encrypt(7n, META, Uint8Array.of(1)))).toBe('SFRAME_UNKNOWN_KID');
  });

  it('refuses bad KIDs, short base keys and CTRs out of range', async () => {
    const ctx = new SFrameContext({ crypto });
    expect(await codeOf(ctx.addEncryptionKey(-1n, KEY_A))).toBe('SFRAME_BAD_KEY');
    expect(await codeOf(ctx.addDecryptionKey(MAX_U64 + 1n, KEY_A))).toBe('SFRAME_BAD_KEY');
    expect(await codeOf(ctx.addDecryptionKey(3 as unknown as bigint, KEY_A))).toBe('SFRAME_BAD_KEY');
    expect(await codeOf(ctx.addEncryptionKey(1n, new Uint8Array(15)))).toBe('SFRAME_BAD_KEY');
    expect(await codeOf(ctx.addEncryptionKey(1n, KEY_A, { nextCtr: MAX_U64 + 1n }))).toBe('SFRAME_BAD_KEY');
    expect(await codeOf(ctx.addEncryptionKey(MAX_U64, KEY_A))).toBe('resolved');
  });

  it('stops at CTR 2^64 − 1 with SFRAME_CTR_EXHAUSTED', async () => {
    const ctx = new SFrameContext({ crypto });
    const receiver = new SFrameContext({ crypto });
    await ctx.addEncryptionKey(5n, KEY_A, { nextCtr: MAX_U64 - 1n });
    await receiver.addDecryptionKey(5n, KEY_A);
    for (const ctr of [MAX_U64 - 1n, MAX_U64]) expect((await receiver.decrypt(META, await ctx.encrypt(5n, META, Uint8Array.of(1)))).ctr).toBe(ctr);
    expect(await codeOf(ctx.encrypt(5n, META, Uint8Array.of(1)))).toBe('SFRAME_CTR_EXHAUSTED');
    expect(await codeOf(ctx.encrypt(5n, META, Uint8Array.of(1)))).toBe('SFRAME_CTR_EXHAUSTED');
  });

  it('knows only the RFC 9605 suites unless draft suites are allowed', () => {
    const bad = (f: () => unknown): string => {
      try {
        f();
        return 'constructed';
      } catch (error) {
        return isSFrameError(error) ? error.code : String(error);
      }
    };
    expect(bad(() => new SFrameContext({ crypto, suite: 0 }))).toBe('SFRAME_BAD_SUITE');
    expect(bad(() => new SFrameContext({ crypto, suite: 6 }))).toBe('SFRAME_BAD_SUITE');
    expect(bad(() => new SFrameContext({ crypto, suite: 0xf000 }))).toBe('SFRAME_BAD_SUITE');
    expect(new SFrameContext({ crypto, suite: 6, allowDraftSuites: true }).suite.name).toBe('AES_256_CTR_HMAC_SHA512_80');
  });

  it('draft suites 6–8 round-trip too', async () => {
    for (const suite of [6, 7, 8]) {
      const sender = new SFrameContext({ crypto, suite, allowDraftSuites: true });
      const receiver = new SFrameContext({ crypto: backends[0] as SFrameCrypto, suite, allowDraftSuites: true });
      await sender.addEncryptionKey(1n, KEY_A);
      await receiver.addDecryptionKey(1n, KEY_A);
      expect((await receiver.decrypt(META, await sender.encrypt(1n, META, KEY_B))).plaintext).toEqual(KEY_B);
    }
  });
});
