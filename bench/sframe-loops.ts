/**
 * The encrypt+decrypt loops of `npm run bench -- sframe` that run on
 * WebCrypto, written once for Node and for a Chromium worker (this file is
 * bundled into the worker by bench/sframe.ts, so it imports no Node module).
 *
 * Every loop takes `n` frames from a list, encrypts and decrypts each, one at
 * a time (as an encoded-transform pipeline does), and returns a checksum of
 * the plaintexts so that the work cannot be dropped.
 */
import { FrameCrypter, type FrameLayout } from '../src/sdk/sframe-transform.js';
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

/** The browser transform's FrameCrypter in `layout` (VP8 delta frames: 3 clear bytes): member 0 sends, member 1 receives. */
export async function crypterLoop(crypto: SFrameCrypto, frames: readonly Uint8Array[], layout: FrameLayout): Promise<AsyncLoop> {
  const sender = new FrameCrypter({ crypto });
  const receiver = new FrameCrypter({ crypto });
  await sender.setKeys({ type: 'keys', epoch: 0, baseKey: BASE_KEY, ownLeaf: 0, senders: [0, 1], layout });
  await receiver.setKeys({ type: 'keys', epoch: 0, baseKey: BASE_KEY, ownLeaf: 1, senders: [0, 1], layout });
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

/**
 * The bytes FrameCrypter puts on the wire in the 'whole' layout, made inline
 * with one async function per direction and nothing else: the clear prefix,
 * a 5-byte header (config byte, 4-byte CTR), nonce = salt XOR CTR, AAD =
 * header ‖ prefix, AES-GCM of the whole frame, the AEAD output grown into
 * the sent frame, a replay check. Not SFrame's key derivation or KID lookup:
 * the least any implementation of this layout does per frame, so the
 * nearest FrameCrypter could come to raw WebCrypto here.
 */
export async function inlineWholeLoop(subtle: SubtleCryptoLike, frames: readonly Uint8Array<ArrayBuffer>[]): Promise<AsyncLoop> {
  const key = await subtle.importKey('raw', BASE_KEY.slice(0, 16), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  const salt = BASE_KEY.slice(16, 28);
  const buffers = (): { nonce: Uint8Array<ArrayBuffer>; aad: Uint8Array<ArrayBuffer> } => ({ nonce: new Uint8Array(new ArrayBuffer(12)), aad: new Uint8Array(new ArrayBuffer(8)) });
  const send = buffers();
  const receive = buffers();
  const PREFIX = 3;
  const HEADER = 5;
  const nonceOf = (nonce: Uint8Array<ArrayBuffer>, ctr: number): Uint8Array<ArrayBuffer> => {
    nonce.set(salt);
    for (let i = 0; i < 4; i++) nonce[11 - i] = (salt[11 - i] ?? 0) ^ ((ctr >>> (8 * i)) & 0xff);
    return nonce;
  };
  let sent = 0;
  let newest = -1;
  const encrypt = async (frame: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> => {
    const ctr = sent++;
    const { aad } = send;
    aad[0] = 0x0b; // KID 0, a 4-byte CTR
    new DataView(aad.buffer).setUint32(1, ctr);
    aad.set(frame.subarray(0, PREFIX), HEADER);
    const sealed = await subtle.encrypt({ name: 'AES-GCM', iv: nonceOf(send.nonce, ctr), additionalData: aad, tagLength: 128 }, key, frame);
    const length = sealed.byteLength;
    const out = new Uint8Array((sealed as ArrayBuffer & { transfer(n: number): ArrayBuffer }).transfer(PREFIX + HEADER + length));
    out.copyWithin(PREFIX + HEADER, 0, length);
    out.set(frame.subarray(0, PREFIX));
    out.set(aad.subarray(0, HEADER), PREFIX);
    return out;
  };
  const decrypt = async (frame: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> => {
    const { aad } = receive;
    for (let i = 0; i < HEADER; i++) aad[i] = frame[PREFIX + i] ?? 0;
    for (let i = 0; i < PREFIX; i++) aad[HEADER + i] = frame[i] ?? 0;
    const ctr = new DataView(aad.buffer).getUint32(1);
    if (ctr <= newest) throw new Error('replayed');
    const plain = await subtle.decrypt({ name: 'AES-GCM', iv: nonceOf(receive.nonce, ctr), additionalData: aad, tagLength: 128 }, key, frame.subarray(PREFIX + HEADER));
    newest = ctr;
    return new Uint8Array(plain);
  };
  let next = 0;
  return async (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const frame = frames[next++ % frames.length] ?? new Uint8Array(0);
      const received = await decrypt(await encrypt(frame));
      if (received.length !== frame.length || received[received.length - 1] !== frame[frame.length - 1]) throw new Error('a frame did not survive encrypt+decrypt');
      sum += received.length;
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

/** The loops the Chromium worker times. */
export const WORKER_LOOPS = ['frameCrypter', 'frameCrypterSplit', 'inlineWhole', 'sframe', 'rawWebCrypto'] as const;

/** Frames/s per loop, every window, from the Chromium worker. */
export interface WorkerReply {
  readonly samples: Record<(typeof WORKER_LOOPS)[number], number[]>;
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
  const loops: Record<(typeof WORKER_LOOPS)[number], AsyncLoop> = {
    frameCrypter: await crypterLoop(crypto, frames, 'whole'),
    frameCrypterSplit: await crypterLoop(crypto, frames, 'split'),
    inlineWhole: await inlineWholeLoop(subtle, frames),
    sframe: await sframeLoop(crypto, frames),
    rawWebCrypto: await rawWebCryptoLoop(subtle, frames),
  };
  for (const name of WORKER_LOOPS) await timeWindow(loops[name], request.warmupMs);
  const samples: WorkerReply['samples'] = { frameCrypter: [], frameCrypterSplit: [], inlineWhole: [], sframe: [], rawWebCrypto: [] };
  for (let r = 0; r < request.repeats; r++) for (const name of WORKER_LOOPS) samples[name].push(await timeWindow(loops[name], request.windowMs));
  return { samples, userAgent: navigator.userAgent };
}
