// SFrameContext.encryptSync/decryptSync on node:crypto against the async
// encrypt/decrypt they mirror: byte-identical frames, the same error codes on
// hostile input, one replay window. Codes are asserted, not messages.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeSFrameCrypto } from '../node/sframe-node-crypto.js';
import { concatBytes } from './bytes.js';
import { SFrameContext } from './context.js';
import { isSyncSFrameCrypto } from './crypto.js';
import { isSFrameError } from './errors.js';
import { decodeHeader, encodeHeader, MAX_U64 } from './header.js';
import { CIPHER_SUITES, DRAFT_CIPHER_SUITES } from './suites.js';
import { WebCryptoBackend } from './webcrypto.js';

const node = new NodeSFrameCrypto();
const web = new WebCryptoBackend(globalThis.crypto.subtle);
const SUITES = [...CIPHER_SUITES.keys(), ...DRAFT_CIPHER_SUITES.keys()];
const KEY_A = Uint8Array.from({ length: 16 }, (_, i) => i);
const META = Uint8Array.of(1, 2, 3);

/** A sender under `kid` and two receivers (one read through decryptSync, one through decrypt) with the same key. */
async function trio(suite: number, kid = 7n, nextCtr = 0n): Promise<{ sender: SFrameContext; syncReceiver: SFrameContext; asyncReceiver: SFrameContext }> {
  const options = { crypto: node, suite, allowDraftSuites: true };
  const sender = new SFrameContext(options);
  const syncReceiver = new SFrameContext(options);
  const asyncReceiver = new SFrameContext(options);
  await sender.addEncryptionKey(kid, KEY_A, { nextCtr });
  await syncReceiver.addDecryptionKey(kid, KEY_A);
  await asyncReceiver.addDecryptionKey(kid, KEY_A);
  return { sender, syncReceiver, asyncReceiver };
}

/** The SFrame error code `f` throws; anything else shows up as a mismatch. */
function syncCode(f: () => unknown): string {
  try {
    f();
    return 'returned';
  } catch (error) {
    return isSFrameError(error) ? error.code : `not an SFrameError: ${String(error)}`;
  }
}

/** The SFrame error code a promise rejects with, named as syncCode names it. */
async function asyncCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'returned';
  } catch (error) {
    return isSFrameError(error) ? error.code : `not an SFrameError: ${String(error)}`;
  }
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3] = (out[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return out;
}

describe('the synchronous capability', () => {
  it('node:crypto has it, WebCrypto does not', () => {
    expect(isSyncSFrameCrypto(node)).toBe(true);
    expect(isSyncSFrameCrypto(web)).toBe(false);
    expect(new SFrameContext({ crypto: node }).supportsSync).toBe(true);
    expect(new SFrameContext({ crypto: web }).supportsSync).toBe(false);
  });

  it('encryptSync/decryptSync on a backend without it throw a TypeError (a wiring bug), not an SFrame error', async () => {
    const ctx = new SFrameContext({ crypto: web });
    await ctx.addEncryptionKey(1n, KEY_A);
    expect(() => ctx.encryptSync(1n, META, Uint8Array.of(1))).toThrow(TypeError);
    expect(() => ctx.decryptSync(META, Uint8Array.of(0x10))).toThrow(TypeError);
    expect(ctx.nextCounter(1n)).toBe(0n); // no CTR was spent
  });
});

describe('encryptSync and encrypt make the same frames', () => {
  it.each(SUITES)('suite %i: byte-identical frames for any KID, CTR, metadata and plaintext; each side reads the other', async (suite) => {
    const kid = fc.oneof(fc.bigInt({ min: 0n, max: 300n }), fc.bigInt({ min: 0n, max: MAX_U64 }));
    const ctr = fc.oneof(fc.bigInt({ min: 0n, max: 300n }), fc.bigInt({ min: 2n ** 32n - 3n, max: 2n ** 32n + 3n }), fc.bigInt({ min: 0n, max: MAX_U64 - 3n }));
    await fc.assert(
      fc.asyncProperty(kid, ctr, fc.uint8Array({ maxLength: 100 }), fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 3 }), async (k, c, metadata, plaintexts) => {
        const options = { crypto: node, suite, allowDraftSuites: true };
        const syncSender = new SFrameContext(options);
        const asyncSender = new SFrameContext(options);
        const receiver = new SFrameContext(options);
        await syncSender.addEncryptionKey(k, KEY_A, { nextCtr: c });
        await asyncSender.addEncryptionKey(k, KEY_A, { nextCtr: c });
        await receiver.addDecryptionKey(k, KEY_A);
        for (const [i, plaintext] of plaintexts.entries()) {
          const frame = syncSender.encryptSync(k, metadata, plaintext);
          expect(frame).toEqual(new Uint8Array(await asyncSender.encrypt(k, metadata, plaintext)));
          expect(frame.length).toBe(decodeHeader(frame).length + plaintext.length + syncSender.suite.nt);
          // Alternate the reader: one window for both ways in.
          const out = i % 2 === 0 ? receiver.decryptSync(metadata, frame) : await receiver.decrypt(metadata, frame);
          expect(out).toEqual({ kid: k, ctr: c + BigInt(i), plaintext });
        }
        expect(syncSender.nextCounter(k)).toBe(c + BigInt(plaintexts.length));
      }),
      { numRuns: suite === 4 ? 200 : 40 },
    );
  });

  it('frames and plaintexts own their memory: no view on a buffer shared with anything else', async () => {
    const { sender, syncReceiver } = await trio(4);
    for (const size of [0, 1, 1200, 5000]) {
      const frame = sender.encryptSync(7n, META, new Uint8Array(size).fill(9));
      expect([frame.byteOffset, frame.buffer.byteLength]).toEqual([0, frame.length]);
      const { plaintext } = syncReceiver.decryptSync(META, frame);
      expect([plaintext.byteOffset, plaintext.buffer.byteLength]).toEqual([0, size]);
      expect(plaintext).toEqual(new Uint8Array(size).fill(9));
    }
  });

  it('metadata longer than the reused AAD buffer, then shorter again', async () => {
    const { sender, syncReceiver, asyncReceiver } = await trio(4);
    for (const size of [0, 3, 200, 5, 1000, 0]) {
      const metadata = Uint8Array.from({ length: size }, (_, i) => i);
      const frame = sender.encryptSync(7n, metadata, Uint8Array.of(size & 0xff));
      expect((await asyncReceiver.decrypt(metadata, frame)).plaintext).toEqual(Uint8Array.of(size & 0xff));
      expect(syncReceiver.decryptSync(metadata, frame).plaintext).toEqual(Uint8Array.of(size & 0xff));
      expect(syncCode(() => syncReceiver.decryptSync(Uint8Array.of(...metadata, 0), sender.encryptSync(7n, metadata, Uint8Array.of(1))))).toBe('SFRAME_AUTH_FAILED');
    }
  });

  it('stops at CTR 2^64 − 1 with SFRAME_CTR_EXHAUSTED, spending nothing after', async () => {
    const { sender, syncReceiver } = await trio(4, 5n, MAX_U64 - 1n);
    for (const ctr of [MAX_U64 - 1n, MAX_U64]) expect(syncReceiver.decryptSync(META, sender.encryptSync(5n, META, Uint8Array.of(1))).ctr).toBe(ctr);
    expect(syncCode(() => sender.encryptSync(5n, META, Uint8Array.of(1)))).toBe('SFRAME_CTR_EXHAUSTED');
    expect(await asyncCode(sender.encrypt(5n, META, Uint8Array.of(1)))).toBe('SFRAME_CTR_EXHAUSTED');
    expect(sender.nextCounter(5n)).toBe(MAX_U64 + 1n);
  });

  it('a KID is for one direction, and an unknown or removed KID is SFRAME_UNKNOWN_KID', async () => {
    const { sender, syncReceiver } = await trio(4);
    const frame = sender.encryptSync(7n, META, Uint8Array.of(1));
    expect(syncCode(() => sender.decryptSync(META, frame))).toBe('SFRAME_UNKNOWN_KID');
    expect(syncCode(() => syncReceiver.encryptSync(7n, META, Uint8Array.of(1)))).toBe('SFRAME_UNKNOWN_KID');
    expect(syncCode(() => sender.encryptSync(8n, META, Uint8Array.of(1)))).toBe('SFRAME_UNKNOWN_KID');
    expect(syncCode(() => sender.encryptSync(7 as unknown as bigint, META, Uint8Array.of(1)))).toBe('SFRAME_UNKNOWN_KID');
    syncReceiver.removeKey(7n);
    expect(syncCode(() => syncReceiver.decryptSync(META, frame))).toBe('SFRAME_UNKNOWN_KID');
  });
});

describe('decryptSync on hostile input: the codes decrypt gives', () => {
  it('random and mutated frames: the same outcome as decrypt on a twin receiver, SFrame errors only (fuzz, 2,000 runs)', async () => {
    const contexts = await Promise.all(SUITES.map((suite) => trio(suite, 9n)));
    const valid = contexts.map(({ sender }) => Array.from({ length: 4 }, (_, i) => sender.encryptSync(9n, META, Uint8Array.from({ length: 40 * i }, (_, j) => j))));
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
        const trio = contexts[s];
        if (!trio) throw new Error(`no contexts for suite index ${s}`);
        const code = syncCode(() => trio.syncReceiver.decryptSync(META, bytes));
        expect(code).toBe(await asyncCode(trio.asyncReceiver.decrypt(META, bytes)));
        expect(code.startsWith('SFRAME_') || code === 'returned').toBe(true);
        // Anything accepted must be one of the frames the sender really made.
        if (code === 'returned') expect(originals.has(bytes.join())).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('a flipped bit anywhere: the code decrypt gives, and the genuine frame still decrypts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SUITES), fc.uint8Array({ maxLength: 64 }), fc.nat(), async (suite, plaintext, seed) => {
        const { sender, syncReceiver, asyncReceiver } = await trio(suite, 42n);
        const frame = sender.encryptSync(42n, META, plaintext);
        const bit = seed % (frame.length * 8);
        const forged = flipBit(frame, bit);
        const code = syncCode(() => syncReceiver.decryptSync(META, forged));
        expect(code).toBe(await asyncCode(asyncReceiver.decrypt(META, forged)));
        if (bit >= decodeHeader(frame).length * 8) expect(code).toBe('SFRAME_AUTH_FAILED');
        else expect(['SFRAME_AUTH_FAILED', 'SFRAME_UNKNOWN_KID', 'SFRAME_BAD_HEADER']).toContain(code);
        expect(syncReceiver.decryptSync(META, frame).plaintext).toEqual(plaintext);
      }),
      { numRuns: 300 },
    );
  });

  it('truncated, shorter than the tag, empty: SFRAME_BAD_HEADER or SFRAME_AUTH_FAILED as decrypt says', async () => {
    for (const suite of SUITES) {
      const { sender, syncReceiver, asyncReceiver } = await trio(suite);
      const frame = sender.encryptSync(7n, META, Uint8Array.of(1, 2, 3));
      for (const bytes of [new Uint8Array(0), frame.subarray(0, 1), frame.subarray(0, frame.length - 1), concatBytes(encodeHeader(7n, 0n), Uint8Array.of(1, 2, 3)), Uint8Array.of(0x0f, 1, 2)]) {
        const code = syncCode(() => syncReceiver.decryptSync(META, bytes));
        expect(code).toBe(await asyncCode(asyncReceiver.decrypt(META, bytes)));
        expect(['SFRAME_BAD_HEADER', 'SFRAME_AUTH_FAILED']).toContain(code);
      }
    }
  });
});

describe('decryptSync and the replay window', () => {
  it('rejects a duplicate, whichever way it was first read', async () => {
    const { sender, syncReceiver } = await trio(1);
    const one = sender.encryptSync(7n, META, Uint8Array.of(5));
    const two = sender.encryptSync(7n, META, Uint8Array.of(6));
    syncReceiver.decryptSync(META, one);
    expect(syncCode(() => syncReceiver.decryptSync(META, one))).toBe('SFRAME_REPLAY');
    await syncReceiver.decrypt(META, two);
    expect(syncCode(() => syncReceiver.decryptSync(META, two))).toBe('SFRAME_REPLAY');
  });

  it('a decryptSync between an async decrypt’s check and its accept: one of the two is a replay', async () => {
    const { sender, syncReceiver } = await trio(4);
    const frame = sender.encryptSync(7n, META, Uint8Array.of(5));
    const pending = asyncCode(syncReceiver.decrypt(META, frame));
    expect(syncCode(() => syncReceiver.decryptSync(META, frame))).toBe('returned');
    expect(await pending).toBe('SFRAME_REPLAY');
  });

  it('accepts reordered frames inside the window and rejects those behind it, across a 2^32 CTR boundary', async () => {
    const start = 2n ** 32n - 60n;
    const { sender, syncReceiver } = await trio(4, 7n, start);
    const frames = Array.from({ length: 131 }, (_, i) => sender.encryptSync(7n, META, Uint8Array.of(i)));
    syncReceiver.decryptSync(META, frames[130] as Uint8Array);
    const order = fc.sample(fc.shuffledSubarray(Array.from({ length: 127 }, (_, i) => i + 3), { minLength: 127 }), { numRuns: 1, seed: 1 })[0] ?? [];
    for (const i of order) expect(syncReceiver.decryptSync(META, frames[i] as Uint8Array).ctr).toBe(start + BigInt(i));
    for (const i of [2, 1, 0, 50, 130]) expect(syncCode(() => syncReceiver.decryptSync(META, frames[i] as Uint8Array))).toBe('SFRAME_REPLAY');
  });

  it('a frame that fails to authenticate moves no replay state', async () => {
    const { sender, syncReceiver } = await trio(4);
    const frames = Array.from({ length: 3 }, (_, i) => sender.encryptSync(7n, META, Uint8Array.of(i)));
    expect(syncCode(() => syncReceiver.decryptSync(META, flipBit(frames[2] as Uint8Array, 100)))).toBe('SFRAME_AUTH_FAILED');
    for (const frame of frames) expect(syncCode(() => syncReceiver.decryptSync(META, frame))).toBe('returned');
  });
});
