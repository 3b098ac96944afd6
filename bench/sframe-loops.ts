/**
 * The encrypt+decrypt loops of `npm run bench -- sframe` that run on
 * WebCrypto, written once for Node and for a Chromium worker (this file is
 * bundled into the worker by bench/sframe.ts, so it imports no Node module).
 *
 * Every loop takes `n` frames from a list, encrypts and decrypts each, one at
 * a time (as an encoded-transform pipeline does), and returns a checksum of
 * the plaintexts so that the work cannot be dropped.
 */
import { FrameCrypter } from '../src/sdk/sframe-transform.js';
import { SFrameContext, WebCryptoBackend, type SFrameCrypto, type SubtleCryptoLike } from '../src/sframe/index.js';

/** Encrypts and decrypts `n` frames; resolves to a checksum. */
export type AsyncLoop = (n: number) => Promise<number>;

/** The base key every loop derives its keys from (SFrame) or uses directly (raw AES-GCM, first 16 bytes). */
export const BASE_KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

/** `count` frames of `size` pseudo-random bytes, the first byte a VP8 delta-frame tag (P bit set). */
export function makeFrames(count: number, size: number): Uint8Array<ArrayBuffer>[] {
  let x = 0x9e3779b9;
  return Array.from({ length: count }, () => {
    const frame = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      frame[i] = x >>> 24;
    }
    frame[0] = (frame[0] ?? 0) | 0x01;
    return frame;
  });
}

/** Our SFrameContext (suite 4, AES_128_GCM_SHA256_128): a sender's context and a receiver's, one KID. */
export async function sframeLoop(crypto: SFrameCrypto, frames: readonly Uint8Array[]): Promise<AsyncLoop> {
  const sender = new SFrameContext({ crypto });
  const receiver = new SFrameContext({ crypto });
  await sender.addEncryptionKey(1n, BASE_KEY);
  await receiver.addDecryptionKey(1n, BASE_KEY);
  const metadata = new Uint8Array(0);
  let next = 0;
  return async (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const frame = frames[next++ % frames.length] ?? new Uint8Array(0);
      const { plaintext } = await receiver.decrypt(metadata, await sender.encrypt(1n, metadata, frame));
      sum += plaintext.length;
    }
    return sum;
  };
}

/** The browser transform's FrameCrypter (VP8 delta frames: 3 clear bytes as metadata): member 0 sends, member 1 receives. */
export async function crypterLoop(crypto: SFrameCrypto, frames: readonly Uint8Array[]): Promise<AsyncLoop> {
  const sender = new FrameCrypter({ crypto });
  const receiver = new FrameCrypter({ crypto });
  await sender.setKeys({ type: 'keys', epoch: 0, baseKey: BASE_KEY, ownLeaf: 0, senders: [0, 1] });
  await receiver.setKeys({ type: 'keys', epoch: 0, baseKey: BASE_KEY, ownLeaf: 1, senders: [0, 1] });
  let next = 0;
  return async (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const frame = frames[next++ % frames.length] ?? new Uint8Array(0);
      const sent = await sender.encrypt('video', frame);
      const received = sent && (await receiver.decrypt('video', sent));
      if (!received) throw new Error('a frame did not survive encrypt+decrypt');
      sum += received.length;
    }
    return sum;
  };
}

/** Raw WebCrypto AES-128-GCM: one imported key, a 12-byte nonce from a counter, a 16-byte tag, no AAD. */
export async function rawWebCryptoLoop(subtle: SubtleCryptoLike, frames: readonly Uint8Array<ArrayBuffer>[]): Promise<AsyncLoop> {
  const key = await subtle.importKey('raw', BASE_KEY.slice(0, 16), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  const empty = new Uint8Array(0);
  let next = 0;
  return async (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const frame = frames[next % frames.length] ?? empty;
      const iv = new Uint8Array(12);
      new DataView(iv.buffer).setUint32(8, next++);
      const params = { name: 'AES-GCM', iv, additionalData: empty, tagLength: 128 } as const;
      const sealed = await subtle.encrypt(params, key, frame);
      const plaintext = await subtle.decrypt(params, key, new Uint8Array(sealed));
      sum += plaintext.byteLength;
    }
    return sum;
  };
}

/** What the Chromium worker is asked to run. */
export interface WorkerRequest {
  readonly frameBytes: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly repeats: number;
}

/** Frames/s per loop, every window, from the Chromium worker. */
export interface WorkerReply {
  readonly samples: Record<'frameCrypter' | 'sframe' | 'rawWebCrypto', number[]>;
  readonly userAgent: string;
}

/** Counts frames through `loop` for `ms`, in batches of 16; frames/s. */
async function timeWindow(loop: AsyncLoop, ms: number): Promise<number> {
  const start = performance.now();
  let frames = 0;
  let elapsed: number;
  do {
    await loop(16);
    frames += 16;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (frames * 1000) / elapsed;
}

/** The worker's body: builds the three loops on `subtle`, warms each up, then times interleaved windows. */
export async function runInWorker(subtle: SubtleCryptoLike, request: WorkerRequest): Promise<WorkerReply> {
  const frames = makeFrames(64, request.frameBytes);
  const crypto = new WebCryptoBackend(subtle);
  const loops = {
    frameCrypter: await crypterLoop(crypto, frames),
    sframe: await sframeLoop(crypto, frames),
    rawWebCrypto: await rawWebCryptoLoop(subtle, frames),
  };
  const names = Object.keys(loops) as (keyof typeof loops)[];
  for (const name of names) await timeWindow(loops[name], request.warmupMs);
  const samples: WorkerReply['samples'] = { frameCrypter: [], sframe: [], rawWebCrypto: [] };
  for (let r = 0; r < request.repeats; r++) for (const name of names) samples[name].push(await timeWindow(loops[name], request.windowMs));
  return { samples, userAgent: navigator.userAgent };
}
