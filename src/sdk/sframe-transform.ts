/**
 * SFrame (RFC 9605) on encoded media frames, run in a Worker by a WebRTC
 * encoded transform (`RTCRtpScriptTransform`, or the frames of
 * `createEncodedStreams` posted to the worker where that is missing).
 *
 * Frame layouts on the wire (what the RTP packetizer and the bridge see),
 * one per MLS epoch (FrameLayout):
 *
 *   'split': frame = clearPrefix ‖ SFrame header ‖ AEAD(key, nonce, header ‖ clearPrefix, rest)
 *   'whole': frame = clearPrefix ‖ SFrame header ‖ AEAD(key, nonce, header ‖ clearPrefix, clearPrefix ‖ rest)
 *
 * 'whole' carries the prefix twice (3 bytes more per delta frame, 10 per key
 * frame) so that the receiver's AEAD output is the frame the decoder wants,
 * with nothing to join: in a browser each new ArrayBuffer costs about as
 * much as SFrame's own work (docs/benchmarks.md, `sframe`). The receiver
 * checks that the two copies agree. Every member of an epoch uses the same
 * layout: 'whole' when all of them can read it (src/mls/group.ts).
 *
 * - VP8: clearPrefix is the uncompressed data chunk of RFC 6386 §9.1, which
 *   the receiver's depacketizer parses for the key-frame flag and size: 10
 *   bytes on key frames (frame tag, start code, width, height), 3 on delta
 *   frames (frame tag). Bit 0 of the first byte (P, "inverse key frame")
 *   tells them apart, so the receiver finds the prefix from the bytes alone.
 * - Opus: no clear prefix; the whole frame is SFrame.
 * - The clear prefix is SFrame metadata (§4.4.3: authenticated, not sent in
 *   the SFrame part), so a bridge that alters the visible bytes makes the
 *   frame fail to decrypt instead of changing what the decoder sees.
 *
 * The SFrame part itself is a standard RFC 9605 ciphertext (suite 0x0004,
 * AES_128_GCM_SHA256_128) and KIDs follow src/mls/kid.ts.
 */
import { installEpochKeys, KID_EPOCH_BITS, parseKid, removeEpochKeys, type FrameLayout, type InstalledKids } from '../mls/kid.js';
import { concatBytes } from '../sframe/bytes.js';
import { decodeHeader, isSFrameError, SFrameContext, WebCryptoBackend, type SFrameCrypto, type SFrameErrorCode, type SubtleCryptoLike } from '../sframe/index.js';

/** The media kind of a frame. */
export type MediaKind = 'audio' | 'video';
/** Which end of the pipeline a transform sits on. */
export type TransformSide = 'send' | 'receive';

/** Clear bytes in front of a VP8 key frame: frame tag (3), start code (3), width and height (4), RFC 6386 §9.1. */
export const VP8_KEY_FRAME_PREFIX = 10;
/** Clear bytes in front of a VP8 delta frame: the 3-byte frame tag. */
export const VP8_DELTA_FRAME_PREFIX = 3;
/**
 * Default delay before a sender switches to a new epoch's key, so that
 * receivers, who process the same commit at about the same time, usually
 * have it first (a slower one holds the frames, see DEFAULT_HOLD_MS).
 */
export const DEFAULT_SWITCH_DELAY_MS = 50;
/** Default time the previous epoch's receive keys stay after new keys arrive, for frames in flight. */
export const DEFAULT_GRACE_MS = 2000;
/**
 * Default longest wait of a received frame whose KID names an epoch newer
 * than any installed here: its keys are on their way (the commit or Welcome
 * is still being processed), and dropping the frame would cost a key frame.
 */
export const DEFAULT_HOLD_MS = 1000;
/**
 * Least time between two key frame requests of one receive pipeline: a
 * request and its key frame take a round trip to the sender and an encode,
 * so one lost is asked again after this, while undecodable frames go on.
 */
export const KEY_FRAME_REQUEST_INTERVAL_MS = 500;
/** Epochs mod 16 up to this far ahead of the newest installed one count as newer (the rest as older). */
const AHEAD_EPOCHS = 8n;
/** The epoch bits of a KID. */
const EPOCH_MASK = (1n << BigInt(KID_EPOCH_BITS)) - 1n;

/** Why a received frame was dropped. */
export type DropReason = 'unknownKid' | 'authFailed' | 'replay' | 'badHeader' | 'malformed' | 'internal';
/** Why a frame to send was not sent. */
export type UnsentReason = 'noKey' | 'malformed' | 'internal';

/** Counters of one worker (all its transforms together). */
export interface E2eeStats {
  readonly encrypted: Record<MediaKind, number>;
  readonly decrypted: Record<MediaKind, number>;
  /** Received frames dropped, by reason. */
  readonly dropped: Record<DropReason, number>;
  /** Frames to send that were not sent (never sent in the clear), by reason. */
  readonly unsent: Record<UnsentReason, number>;
  /** Received frames that waited for the keys of a newer epoch (then decrypted, or dropped after DEFAULT_HOLD_MS). */
  readonly held: number;
  /** Key frames the receive pipelines asked their senders for, because the decoder had none to start from (frameTransform). */
  readonly keyFrameRequests: number;
  /** The epoch senders encrypt under, or null before the first keys. */
  readonly sendEpoch: number | null;
  /** That epoch's frame layout ('whole' when every member reads it), or null before the first keys. */
  readonly sendLayout: FrameLayout | null;
  /** Epochs with receive keys installed, oldest first. */
  readonly receiveEpochs: readonly number[];
}

/** One MLS epoch's SFrame material, as the page posts it (see src/mls/kid.ts). */
export interface KeysMessage {
  readonly type: 'keys';
  /** The MLS epoch (a number below 2^53, or a bigint). */
  readonly epoch: number | bigint;
  /** MLS-Exporter("SFrame 1.0 Base Key", "", Nk), shared by the group. */
  readonly baseKey: Uint8Array;
  /** This member's leaf index. */
  readonly ownLeaf: number;
  /** The leaf indices of the group's members (this member's may be included). */
  readonly senders: readonly number[];
  /** The CTR of this member's first frame in the epoch (default 0): above every CTR an earlier connection used in it (src/mls/kid.ts `firstCounter`). */
  readonly firstCounter?: bigint;
  /** How this epoch's video frames are laid out (default 'split'; see the file comment). Audio frames, with no clear prefix, are the same in both. */
  readonly layout?: FrameLayout;
  /**
   * Which group the epoch is of (default 0): a higher one is a new group,
   * whose epochs start again at 0, and replaces every key held at once; a
   * lower one is stale. Within one group, only a newer epoch is taken.
   */
  readonly generation?: number;
}

export type { FrameLayout } from '../mls/kid.js';

/** What `setKeys` did: installed, or refused an epoch not newer than the current one (re-installing would reuse nonces). */
export type KeysResult = 'installed' | 'stale';

/**
 * The number of clear bytes in front of `frame` (see the file comment):
 * 10 or 3 for VP8 by its P bit, 0 for audio and for an empty frame.
 */
export function clearPrefixLength(kind: MediaKind, frame: Uint8Array): number {
  if (kind === 'audio') return 0;
  const tag = frame[0];
  if (tag === undefined) return 0;
  // RFC 6386 §9.1: bit 0 of the frame tag is 0 for key frames.
  return (tag & 0x01) === 0 ? VP8_KEY_FRAME_PREFIX : VP8_DELTA_FRAME_PREFIX;
}

/** Whether `bytes` begins with `prefix`. */
function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** `bytes` over a buffer of its own, as `frame.data` takes it: itself when it already is (WebCrypto's output), else a copy. */
function ownWhole(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes as Uint8Array<ArrayBuffer>;
  return bytes.slice();
}

const DROP_REASONS: Readonly<Partial<Record<SFrameErrorCode, DropReason>>> = {
  SFRAME_UNKNOWN_KID: 'unknownKid',
  SFRAME_AUTH_FAILED: 'authFailed',
  SFRAME_REPLAY: 'replay',
  SFRAME_BAD_HEADER: 'badHeader',
};

/** A promise and the function that resolves it (Promise.withResolvers, which Node 20 lacks). */
function signal(): { readonly promise: Promise<void>; readonly resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

interface Epoch {
  readonly epoch: bigint;
  readonly generation: number;
  readonly installed: InstalledKids;
  readonly layout: FrameLayout;
}

/** How to build a FrameCrypter. */
export interface FrameCrypterOptions {
  /** The SFrame crypto backend (WebCryptoBackend in a worker). */
  readonly crypto: SFrameCrypto;
  readonly switchDelayMs?: number;
  readonly graceMs?: number;
  readonly holdMs?: number;
  /** Runs `fn` after `ms` (setTimeout by default; tests pass a fake clock). */
  readonly schedule?: (fn: () => void, ms: number) => void;
  /** Called when senders start encrypting under `epoch`: request a key frame then. */
  readonly onSwitch?: (epoch: bigint) => void;
}

/**
 * Encrypts and decrypts frames with one member's keys: an SFrame context
 * holding its send key for the current epoch and receive keys for the
 * other members of the current epoch and, for a grace period, the previous one.
 */
export class FrameCrypter {
  readonly #ctx: SFrameContext;
  readonly #switchDelayMs: number;
  readonly #graceMs: number;
  readonly #holdMs: number;
  readonly #schedule: (fn: () => void, ms: number) => void;
  readonly #onSwitch: ((epoch: bigint) => void) | undefined;
  /** Installed epochs, oldest first; at most the previous and the current one once timers run. */
  #epochs: Epoch[] = [];
  #send: Epoch | undefined;
  /** Serialises setKeys: each install awaits key derivation. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Resolves at the next install, which may bring the keys a held frame waits for. */
  #nextInstall = signal();
  /** Epochs (mod 16) whose keys did not come in time since the last install: their frames drop at once. */
  readonly #gaveUp = new Set<bigint>();
  #held = 0;
  #keyFrameRequests = 0;
  readonly #encrypted: Record<MediaKind, number> = { audio: 0, video: 0 };
  readonly #decrypted: Record<MediaKind, number> = { audio: 0, video: 0 };
  readonly #dropped: Record<DropReason, number> = { unknownKid: 0, authFailed: 0, replay: 0, badHeader: 0, malformed: 0, internal: 0 };
  readonly #unsent: Record<UnsentReason, number> = { noKey: 0, malformed: 0, internal: 0 };

  constructor(options: FrameCrypterOptions) {
    this.#ctx = new SFrameContext({ crypto: options.crypto });
    this.#switchDelayMs = options.switchDelayMs ?? DEFAULT_SWITCH_DELAY_MS;
    this.#graceMs = Math.max(options.graceMs ?? DEFAULT_GRACE_MS, this.#switchDelayMs);
    this.#holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
    this.#schedule = options.schedule ?? ((fn, ms) => setTimeout(fn, ms));
    this.#onSwitch = options.onSwitch;
  }

  /**
   * Installs an epoch's keys: receive keys at once, the send key after the
   * switch delay (at once for the first epoch). Epochs older than the one
   * being replaced go now, the replaced one after the grace period. Refuses
   * an epoch not newer than the newest installed ('stale').
   */
  setKeys(keys: KeysMessage): Promise<KeysResult> {
    const run = this.#queue.then(() => this.#install(keys));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #install(keys: KeysMessage): Promise<KeysResult> {
    const epoch = BigInt(keys.epoch);
    const generation = keys.generation ?? 0;
    const newest = this.#epochs.at(-1);
    if (newest !== undefined && (generation < newest.generation || (generation === newest.generation && epoch <= newest.epoch))) return 'stale';
    // A new group: nothing of the old one is kept, nor sent with (its members may include someone the new one left out).
    const sameGroup = newest !== undefined && generation === newest.generation;
    // Keep only the current epoch as "previous"; the KID holds epoch mod 16, so one exactly 16k later would collide with it.
    const keep = sameGroup && (epoch - newest.epoch) % 16n !== 0n ? newest : undefined;
    for (const e of this.#epochs) if (e !== keep) this.#retire(e);
    const members = [...new Set([...keys.senders, keys.ownLeaf])];
    const installed = await installEpochKeys(this.#ctx, { epoch, baseKey: keys.baseKey, ownIndex: keys.ownLeaf, memberIndices: members, ...(keys.firstCounter !== undefined ? { firstCounter: keys.firstCounter } : {}) });
    const entry: Epoch = { epoch, generation, installed, layout: keys.layout ?? 'split' };
    this.#epochs = keep ? [keep, entry] : [entry];
    this.#gaveUp.clear();
    this.#nextInstall.resolve();
    this.#nextInstall = signal();
    // Nothing to send with (first keys, or the sending epoch was just retired): use the newest key that receivers had longest.
    if (this.#send === undefined) this.#switchTo(keep ?? entry);
    if (this.#send !== entry && this.#switchDelayMs <= 0) this.#switchTo(entry);
    if (this.#send !== entry) {
      this.#schedule(() => {
        if (this.#epochs.at(-1) === entry) this.#switchTo(entry);
      }, this.#switchDelayMs);
    }
    if (keep) {
      this.#schedule(() => {
        if (this.#epochs[0] === keep && this.#epochs.length > 1) this.#retire(keep);
      }, this.#graceMs);
    }
    return 'installed';
  }

  #switchTo(entry: Epoch): void {
    if (this.#send && this.#send !== entry) this.#ctx.removeKey(this.#send.installed.send);
    this.#send = entry;
    this.#onSwitch?.(entry.epoch);
  }

  #retire(entry: Epoch): void {
    removeEpochKeys(this.#ctx, entry.installed);
    this.#epochs = this.#epochs.filter((e) => e !== entry);
    if (this.#send === entry) this.#send = undefined;
  }

  /** The frame to send for `frame`: clear prefix ‖ SFrame; undefined (counted) when it must not be sent. */
  async encrypt(kind: MediaKind, frame: Uint8Array): Promise<Uint8Array<ArrayBuffer> | undefined> {
    const send = this.#send;
    if (send === undefined) {
      this.#unsent.noKey++;
      return undefined;
    }
    const prefix = clearPrefixLength(kind, frame);
    if (frame.length < prefix) {
      this.#unsent.malformed++;
      return undefined;
    }
    try {
      const sent = await this.#ctx.encryptWithPrefix(send.installed.send, frame.subarray(0, prefix), send.layout === 'whole' ? frame : frame.subarray(prefix));
      this.#encrypted[kind]++;
      return sent;
    } catch (error) {
      // The key can go between our check and the call only through a bug; CTR exhaustion needs 2^64 frames.
      if (!isSFrameError(error)) throw error;
      this.#unsent.internal++;
      return undefined;
    }
  }

  /**
   * The decrypted frame (clear prefix ‖ plaintext), or undefined (counted by
   * reason) when it must be dropped. A frame under a newer epoch's KID waits
   * for that epoch's keys (at most holdMs); a transform awaits each frame, so
   * the frames behind it wait too and stay in order. Throws only on bugs.
   */
  async decrypt(kind: MediaKind, frame: Uint8Array): Promise<Uint8Array<ArrayBuffer> | undefined> {
    const length = clearPrefixLength(kind, frame);
    if (frame.length <= length) {
      this.#dropped.malformed++;
      return undefined;
    }
    const prefix = frame.subarray(0, length);
    const sframe = frame.subarray(length);
    let timedOut: Promise<'timeout'> | undefined;
    for (;;) {
      try {
        const { kid, plaintext } = await this.#ctx.decrypt(prefix, sframe);
        if (this.#layoutOf(kid) === 'split') {
          this.#decrypted[kind]++;
          return concatBytes(prefix, plaintext);
        }
        // The whole frame was encrypted: its own prefix must be the one the depacketizer saw.
        if (!startsWith(plaintext, prefix)) {
          this.#dropped.malformed++;
          return undefined;
        }
        this.#decrypted[kind]++;
        return ownWhole(plaintext);
      } catch (error) {
        if (!isSFrameError(error)) throw error;
        const epochBits = error.code === 'SFRAME_UNKNOWN_KID' ? this.#newerEpochBits(sframe) : undefined;
        if (epochBits !== undefined) {
          if (timedOut === undefined) {
            this.#held++;
            timedOut = new Promise((resolve) => {
              this.#schedule(() => {
                resolve('timeout');
              }, this.#holdMs);
            });
          }
          if ((await Promise.race([this.#nextInstall.promise, timedOut])) !== 'timeout') continue;
          this.#gaveUp.add(epochBits);
        }
        this.#dropped[DROP_REASONS[error.code] ?? 'malformed']++;
        return undefined;
      }
    }
  }

  /** The layout of the epoch whose key decrypted a frame under `kid`. */
  #layoutOf(kid: bigint): FrameLayout {
    const [first, second] = this.#epochs;
    if (first === undefined) return 'split';
    if (second === undefined || first.layout === second.layout) return first.layout;
    return parseKid(kid).epochBits === (second.epoch & EPOCH_MASK) ? second.layout : first.layout;
  }

  /** The epoch bits of `sframe`'s KID when they name an epoch newer than any installed whose keys may still come; else undefined. */
  #newerEpochBits(sframe: Uint8Array): bigint | undefined {
    const parts = parseKid(decodeHeader(sframe).kid);
    if (parts.context !== 0n || this.#gaveUp.has(parts.epochBits)) return undefined;
    const newest = this.#epochs.at(-1);
    if (newest === undefined) return parts.epochBits; // no keys yet: the first ones are on their way
    const ahead = (parts.epochBits - newest.epoch) & EPOCH_MASK;
    return ahead >= 1n && ahead <= AHEAD_EPOCHS ? parts.epochBits : undefined;
  }

  /** Counts a key frame request of a receive pipeline (see frameTransform). */
  countKeyFrameRequest(): void {
    this.#keyFrameRequests++;
  }

  /** Counts a frame lost to an unexpected error in the pipeline (see frameTransform). */
  countInternal(side: TransformSide): void {
    if (side === 'send') this.#unsent.internal++;
    else this.#dropped.internal++;
  }

  /** A snapshot of the counters and the installed epochs. */
  stats(): E2eeStats {
    return {
      encrypted: { ...this.#encrypted },
      decrypted: { ...this.#decrypted },
      dropped: { ...this.#dropped },
      unsent: { ...this.#unsent },
      held: this.#held,
      keyFrameRequests: this.#keyFrameRequests,
      sendEpoch: this.#send === undefined ? null : Number(this.#send.epoch),
      sendLayout: this.#send?.layout ?? null,
      receiveEpochs: this.#epochs.map((e) => Number(e.epoch)),
    };
  }
}

/** The members of RTCEncodedVideoFrame / RTCEncodedAudioFrame used here (video frames have `type`). */
export interface EncodedFrameLike {
  data: ArrayBuffer;
  readonly type?: string;
}

/** The kind of an encoded frame: only video frames carry `type` ('key', 'delta', 'empty'). */
export function frameKind(frame: EncodedFrameLike): MediaKind {
  return 'type' in frame && typeof frame.type === 'string' ? 'video' : 'audio';
}

/** How a frameTransform runs, beyond its crypter and side. */
export interface FrameTransformOptions {
  /** The media kind of every frame (default: from each frame, frameKind). */
  readonly kind?: MediaKind;
  /** Called with an unexpected error that cost a frame. */
  readonly onError?: (error: unknown) => void;
  /**
   * Receive side, video: called when a delta frame is passed on that the
   * decoder cannot use, because no key frame was passed since the pipeline
   * started or since a frame was dropped (its keys were not there, or it did
   * not authenticate). The worker asks the sender for a key frame then,
   * rather than leave it to the decoder's own request hundreds of ms later.
   */
  readonly onKeyFrameNeeded?: () => void;
}

/**
 * A TransformStream that encrypts (send) or decrypts (receive) every frame
 * through `crypter`. Frames that fail are dropped, never passed on; an
 * unexpected error drops the frame too (the stream must not error, as that
 * would stop the media for good) and goes to `onError`.
 */
export function frameTransform<F extends EncodedFrameLike>(crypter: FrameCrypter, side: TransformSide, options: FrameTransformOptions = {}): TransformStream<F, F> {
  const { kind, onError, onKeyFrameNeeded } = options;
  /** Receive side: no key frame passed since the start or the last dropped frame. */
  let needKey = true;
  return new TransformStream<F, F>({
    async transform(frame, controller) {
      const k = kind ?? frameKind(frame);
      const input = new Uint8Array(frame.data);
      let output: Uint8Array<ArrayBuffer> | undefined;
      try {
        output = side === 'send' ? await crypter.encrypt(k, input) : await crypter.decrypt(k, input);
      } catch (error) {
        crypter.countInternal(side);
        onError?.(error);
        output = undefined;
      }
      if (output === undefined) {
        needKey = true;
        return;
      }
      if (side === 'receive' && k === 'video') {
        if (frame.type === 'key') needKey = false;
        else if (needKey && frame.type === 'delta') onKeyFrameNeeded?.();
      }
      // The crypter returns arrays over whole buffers of their own.
      frame.data = output.buffer;
      controller.enqueue(frame);
    },
  });
}

// ---------------------------------------------------------------------------
// The worker. The root tsconfig has the DOM lib, not WebWorker, so the few
// worker-side members used are declared here structurally.

/** RTCRtpScriptTransformer (WebWorker lib), as used here. */
export interface ScriptTransformerLike {
  readonly readable: ReadableStream<EncodedFrameLike>;
  readonly writable: WritableStream<EncodedFrameLike>;
  readonly options?: unknown;
  generateKeyFrame?(rid?: string): Promise<unknown>;
  /** Receive side: asks the sender for a key frame (a PLI or FIR from this receiver). */
  sendKeyFrameRequest?(): Promise<unknown>;
}

/** The worker's global scope, as used here (`self` in the bundle). */
export interface E2eeWorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onrtctransform?: ((event: { readonly transformer: ScriptTransformerLike }) => void) | null;
}

/** What the options of an RTCRtpScriptTransform (or a 'streams' message) say about its pipeline. */
export interface TransformOptions {
  readonly side: TransformSide;
  readonly kind: MediaKind;
}

/** Page → worker messages. */
export type E2eeRequest =
  | (KeysMessage & { readonly id?: number })
  | { readonly type: 'stats'; readonly id: number }
  /** The createEncodedStreams fallback: one pipeline's streams, transferred. */
  | (TransformOptions & { readonly type: 'streams'; readonly readable: ReadableStream<EncodedFrameLike>; readonly writable: WritableStream<EncodedFrameLike> });

/** Worker → page messages. */
export type E2eeReply =
  | { readonly type: 'keys'; readonly id: number | undefined; readonly epoch: number; readonly result: KeysResult | 'invalid'; readonly message?: string }
  | { readonly type: 'stats'; readonly id: number; readonly stats: E2eeStats }
  /** Senders now encrypt under `epoch`; video senders were asked for a key frame where the API allows. */
  | { readonly type: 'switched'; readonly epoch: number }
  | { readonly type: 'error'; readonly message: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** The transform options in `value`, or undefined when they are not ours. */
export function parseTransformOptions(value: unknown): TransformOptions | undefined {
  if (!isRecord(value)) return undefined;
  const { side, kind } = value;
  if ((side === 'send' || side === 'receive') && (kind === 'audio' || kind === 'video')) return { side, kind };
  return undefined;
}

/** Checks a keys message's shape; a string saying what is wrong, or undefined. */
export function checkKeysMessage(value: Record<string, unknown>): string | undefined {
  const { epoch, baseKey, ownLeaf, senders, firstCounter, layout, generation } = value;
  const epochOk = (typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch >= 0) || (typeof epoch === 'bigint' && epoch >= 0n);
  if (!epochOk) return 'epoch must be a non-negative integer';
  if (!(baseKey instanceof Uint8Array) || baseKey.length < 16) return 'baseKey must be a Uint8Array of at least 16 bytes';
  const leaf = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 65536;
  if (!leaf(ownLeaf)) return 'ownLeaf must be a leaf index (0..65535)';
  if (!Array.isArray(senders) || !senders.every(leaf)) return 'senders must be an array of leaf indices';
  if (firstCounter !== undefined && !(typeof firstCounter === 'bigint' && firstCounter >= 0n && firstCounter < 1n << 64n)) return 'firstCounter must be a bigint in 0..2^64-1';
  if (layout !== undefined && layout !== 'split' && layout !== 'whole') return "layout must be 'split' or 'whole'";
  if (generation !== undefined && !(typeof generation === 'number' && Number.isSafeInteger(generation) && generation >= 0)) return 'generation must be a non-negative integer';
  return undefined;
}

/**
 * Runs the E2EE worker on `scope`: answers the page's messages (E2eeRequest)
 * and pipes every encoded transform through one FrameCrypter. The bundle
 * served as /e2ee-worker.js is `runSFrameWorker(self)`.
 */
export function runSFrameWorker(scope: E2eeWorkerScope, subtle: SubtleCryptoLike = globalThis.crypto.subtle): FrameCrypter {
  /** Video send transformers, asked for a key frame on every key switch. */
  const videoSenders = new Set<ScriptTransformerLike>();
  const reply = (message: E2eeReply): void => {
    scope.postMessage(message);
  };
  const onError = (error: unknown): void => {
    reply({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  };
  const crypter = new FrameCrypter({
    crypto: new WebCryptoBackend(subtle),
    onSwitch: (epoch) => {
      for (const t of videoSenders) t.generateKeyFrame?.().catch(() => undefined);
      reply({ type: 'switched', epoch: Number(epoch) });
    },
  });

  const pipe = (options: TransformOptions, readable: ReadableStream<EncodedFrameLike>, writable: WritableStream<EncodedFrameLike>, transformer?: ScriptTransformerLike): void => {
    if (transformer && options.side === 'send' && options.kind === 'video') videoSenders.add(transformer);
    let requested = -Infinity;
    const onKeyFrameNeeded = (): void => {
      const now = performance.now();
      if (transformer?.sendKeyFrameRequest === undefined || now - requested < KEY_FRAME_REQUEST_INTERVAL_MS) return;
      requested = now;
      crypter.countKeyFrameRequest();
      transformer.sendKeyFrameRequest().catch(() => undefined);
    };
    readable
      .pipeThrough(frameTransform(crypter, options.side, { kind: options.kind, onError, onKeyFrameNeeded }))
      .pipeTo(writable)
      .catch(() => undefined) // the pipeline ends with its sender or receiver
      .finally(() => {
        if (transformer) videoSenders.delete(transformer);
      });
  };

  scope.onrtctransform = (event) => {
    const options = parseTransformOptions(event.transformer.options);
    // Not ours: pass nothing rather than clear media.
    if (!options) {
      onError(new Error('an RTCRtpScriptTransform without { side, kind } options'));
      return;
    }
    pipe(options, event.transformer.readable, event.transformer.writable, event.transformer);
  };

  scope.onmessage = (event) => {
    const message = event.data;
    if (!isRecord(message)) return;
    if (message.type === 'keys') {
      const id = typeof message.id === 'number' ? message.id : undefined;
      const epoch = typeof message.epoch === 'bigint' || typeof message.epoch === 'number' ? Number(message.epoch) : -1;
      const problem = checkKeysMessage(message);
      if (problem !== undefined) {
        reply({ type: 'keys', id, epoch, result: 'invalid', message: problem });
        return;
      }
      crypter.setKeys(message as unknown as KeysMessage).then(
        (result) => {
          reply({ type: 'keys', id, epoch, result });
        },
        (error: unknown) => {
          reply({ type: 'keys', id, epoch, result: 'invalid', message: error instanceof Error ? error.message : String(error) });
        },
      );
    } else if (message.type === 'stats' && typeof message.id === 'number') {
      reply({ type: 'stats', id: message.id, stats: crypter.stats() });
    } else if (message.type === 'streams') {
      const options = parseTransformOptions(message);
      if (options && message.readable instanceof ReadableStream && message.writable instanceof WritableStream) {
        pipe(options, message.readable as ReadableStream<EncodedFrameLike>, message.writable as WritableStream<EncodedFrameLike>);
      }
    }
  };
  return crypter;
}
