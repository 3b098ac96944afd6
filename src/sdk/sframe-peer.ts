/**
 * End-to-end encryption of a peer connection's media, the main-thread side:
 * attaches the SFrame transform of sframe-transform.ts (running in a Worker
 * built from /e2ee-worker.js) to every sender and receiver, and talks to the
 * worker — keys in, counters and key switches out. One worker holds one
 * member's keys and may serve several peer connections.
 *
 * Two browser APIs, detected in this order:
 * - `RTCRtpScriptTransform` (WebRTC Encoded Transform; Chromium 141+, Safari,
 *   Firefox): the browser hands the worker each pipeline in an
 *   `rtctransform` event.
 * - `createEncodedStreams()` (Chromium's older insertable streams): the page
 *   takes each pipeline's streams and transfers them to the worker. Chromium
 *   allows it only on a peer connection created with
 *   `{ encodedInsertableStreams: true }`, and only once per sender/receiver.
 */
import type { E2eeReply, E2eeStats, FrameLayout, KeysResult, MediaKind, TransformSide } from './sframe-transform.js';

export type { E2eeStats, KeysResult, DropReason, UnsentReason } from './sframe-transform.js';

/** The encoded-transform API in use. */
export type EncodedTransformApi = 'script-transform' | 'encoded-streams';

/** One epoch's keys for `setKeys` (see src/mls/kid.ts for how they become KIDs). */
export interface E2eeKeys {
  /** The MLS epoch. */
  readonly epoch: number | bigint;
  /** MLS-Exporter("SFrame 1.0 Base Key", "", Nk); copied to the worker, never transferred. */
  readonly baseKey: Uint8Array;
  /** This member's leaf index. */
  readonly ownLeaf: number;
  /** Every member's leaf index (this member's may be included). */
  readonly senders: readonly number[];
  /** The CTR of this member's first frame in the epoch (default 0; see src/mls/kid.ts `firstCounter`). */
  readonly firstCounter?: bigint;
  /** The epoch's video frame layout (default 'split'; src/mls/kid.ts `FrameLayout`). */
  readonly layout?: FrameLayout;
  /** Which group of the connection the epoch is of (E2eeEpoch.generation): a higher one replaces every key at once. */
  readonly generation?: number;
}

/** What the worker reports on its own: a key switch (request a key frame then), or an unexpected error. */
export type E2eeEvent = { readonly type: 'switched'; readonly epoch: number } | { readonly type: 'error'; readonly message: string };

/** A peer connection with E2EE attached. */
export interface E2eePeer {
  readonly api: EncodedTransformApi;
  /** Stops attaching to senders and receivers added later; those attached keep encrypting (removing a transform would send clear media). */
  close(): void;
}

/** Chromium's insertable streams, which the DOM lib does not declare. */
interface EncodedStreamsEndpoint {
  createEncodedStreams(): { readable: ReadableStream; writable: WritableStream };
}

/** The encoded-transform API this browser offers, or undefined when it has none (then media cannot be end-to-end encrypted). */
export function encodedTransformApi(): EncodedTransformApi | undefined {
  if (typeof RTCRtpScriptTransform === 'function') return 'script-transform';
  if (typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype) return 'encoded-streams';
  return undefined;
}

/** Request/response bookkeeping for one worker. */
class Channel {
  readonly #worker: Worker;
  #nextId = 1;
  readonly #pending = new Map<number, { readonly resolve: (reply: E2eeReply) => void; readonly reject: (error: Error) => void }>();
  readonly #listeners = new Set<(event: E2eeEvent) => void>();
  #closed = false;

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.addEventListener('message', (event: MessageEvent<unknown>) => {
      this.#handle(event.data as E2eeReply);
    });
  }

  request(message: Record<string, unknown>): Promise<E2eeReply> {
    if (this.#closed) return Promise.reject(new E2eeWorkerClosedError());
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...message, id });
    });
  }

  /** The worker is gone: what was asked of it will never be answered. */
  close(): void {
    this.#closed = true;
    for (const { reject } of this.#pending.values()) reject(new E2eeWorkerClosedError());
    this.#pending.clear();
  }

  listen(listener: (event: E2eeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #handle(reply: E2eeReply): void {
    if (reply.type === 'switched' || reply.type === 'error') {
      for (const l of this.#listeners) l(reply);
      return;
    }
    if (reply.id === undefined) return;
    const pending = this.#pending.get(reply.id);
    this.#pending.delete(reply.id);
    pending?.resolve(reply);
  }
}

/** A request to a worker that was terminated (its connection closed): it would never be answered. */
export class E2eeWorkerClosedError extends Error {
  constructor() {
    super('the E2EE worker was terminated (its connection closed)');
    this.name = 'E2eeWorkerClosedError';
  }
}

const channels = new WeakMap<Worker, Channel>();

/** Terminates `worker` and rejects what is still asked of it (E2eeWorkerClosedError), now and later. */
export function terminateWorker(worker: Worker): void {
  channel(worker).close();
  worker.terminate();
}

function channel(worker: Worker): Channel {
  let c = channels.get(worker);
  if (!c) {
    c = new Channel(worker);
    channels.set(worker, c);
  }
  return c;
}

/**
 * Installs an epoch's keys in the worker: receive keys at once, the send key
 * after a short delay (300 ms) so that receivers have it first; the previous
 * epoch's receive keys stay 2 s. Resolves 'stale' for an epoch not newer than
 * the current one; rejects on malformed keys (a bug in the caller).
 */
export async function setKeys(worker: Worker, keys: E2eeKeys): Promise<KeysResult> {
  const reply = await channel(worker).request({ type: 'keys', epoch: keys.epoch, baseKey: keys.baseKey, ownLeaf: keys.ownLeaf, senders: [...keys.senders], ...(keys.firstCounter !== undefined ? { firstCounter: keys.firstCounter } : {}), ...(keys.layout !== undefined ? { layout: keys.layout } : {}), ...(keys.generation !== undefined ? { generation: keys.generation } : {}) });
  if (reply.type !== 'keys') throw new Error(`unexpected reply ${reply.type} from the E2EE worker`);
  if (reply.result === 'invalid') throw new TypeError(`the E2EE worker refused the keys of epoch ${String(keys.epoch)}: ${reply.message ?? ''}`);
  return reply.result;
}

/** The worker's counters: frames encrypted and decrypted per kind, dropped and unsent by reason. */
export async function e2eeStats(worker: Worker): Promise<E2eeStats> {
  const reply = await channel(worker).request({ type: 'stats' });
  if (reply.type !== 'stats') throw new Error(`unexpected reply ${reply.type} from the E2EE worker`);
  return reply.stats;
}

/**
 * Listens to the worker's events. On 'switched' the worker has already asked
 * its video senders for a key frame (RTCRtpScriptTransformer.generateKeyFrame);
 * with the encoded-streams fallback the page must do it (e.g. renegotiate).
 */
export function onE2eeEvent(worker: Worker, listener: (event: E2eeEvent) => void): () => void {
  return channel(worker).listen(listener);
}

/** How to attach. */
export interface EnableE2eeOptions {
  /** Force an API (tests); detected by default. */
  readonly api?: EncodedTransformApi;
  /** An endpoint that could not be attached; its media may not flow (with a transform missing, never in the clear on our side of the fallback). */
  readonly onError?: (error: unknown) => void;
}

/**
 * Attaches the SFrame transform in `worker` to every sender and receiver of
 * `pc`, now and whenever transceivers appear (track, negotiationneeded and
 * signalling-state events). Throws when the browser has no encoded-transform
 * API: media must not silently go out in the clear.
 */
export function enableE2ee(pc: RTCPeerConnection, worker: Worker, options: EnableE2eeOptions = {}): E2eePeer {
  const api = options.api ?? encodedTransformApi();
  if (api === undefined) throw new Error('This browser supports neither RTCRtpScriptTransform nor createEncodedStreams: media cannot be end-to-end encrypted.');
  channel(worker);
  const attached = new WeakSet<RTCRtpSender | RTCRtpReceiver>();

  const attach = (endpoint: RTCRtpSender | RTCRtpReceiver, side: TransformSide, kind: MediaKind): void => {
    if (attached.has(endpoint)) return;
    attached.add(endpoint);
    try {
      if (api === 'script-transform') {
        endpoint.transform = new RTCRtpScriptTransform(worker, { side, kind });
      } else {
        const { readable, writable } = (endpoint as unknown as EncodedStreamsEndpoint).createEncodedStreams();
        worker.postMessage({ type: 'streams', side, kind, readable, writable }, [readable, writable]);
      }
    } catch (error) {
      options.onError?.(error);
    }
  };

  const sync = (): void => {
    for (const t of pc.getTransceivers()) {
      const kind = t.receiver.track.kind;
      if (kind !== 'audio' && kind !== 'video') continue;
      attach(t.sender, 'send', kind);
      attach(t.receiver, 'receive', kind);
    }
  };

  const events = ['track', 'negotiationneeded', 'signalingstatechange'] as const;
  for (const e of events) pc.addEventListener(e, sync);
  sync();
  return {
    api,
    close: () => {
      for (const e of events) pc.removeEventListener(e, sync);
    },
  };
}
