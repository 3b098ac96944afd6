/**
 * Rooms in the browser: `createRoom` and `connect` over the DOM's
 * RTCPeerConnection, with the camera and microphone from getUserMedia and a
 * screen from getDisplayMedia. Under E2EE (the default) every connection
 * gets its own SFrame worker, attached before any media flows, and the
 * session installs each epoch's keys in it: an application cannot forget
 * the transform, and a browser without encoded transforms is refused
 * (E2EE_UNSUPPORTED) instead of joining in the clear.
 */
import { GeobridgeError } from '../core/errors.js';
import { BrokerClient } from './broker-client.js';
import { browserMedia, type BrowserMedia } from './browser.js';
import { E2eeWorkerClosedError, e2eeStats, encodedTransformApi, type E2eeStats } from './sframe-peer.js';
import { E2EE_WORKER_SOURCE } from './sframe-worker-source.js';
import { Room, type RoomMedia, type RoomOptions, type TrackSource } from './room.js';

/** Options of a browser room. */
export interface BrowserRoomOptions extends RoomOptions {
  /** The camera to publish from the start: true (default) opens the default camera on `join()`, a track publishes that one, false none. */
  readonly camera?: boolean | MediaStreamTrack;
  /** The microphone to publish from the start, as `camera`. */
  readonly microphone?: boolean | MediaStreamTrack;
  /**
   * Where SFrame workers come from under E2EE: the URL of the worker script
   * (dist/sdk/e2ee-worker.js, or the broker's /e2ee-worker.js when the page
   * is on the broker's origin), or a factory. By default the built SDK
   * starts its own inline copy (a blob: URL: a Content-Security-Policy must
   * allow `worker-src blob:`, or pass the URL).
   */
  readonly e2eeWorker?: string | URL | (() => Worker);
}

/** A browser room: a `Room` of MediaStreamTracks, with the current connection's statistics. */
export class BrowserRoom extends Room<MediaStreamTrack> {
  readonly #media: BrowserMedia;

  /** Use `createRoom`. */
  constructor(options: RoomOptions, client: BrokerClient, media: RoomMedia<MediaStreamTrack>, browser: BrowserMedia, initial: { readonly camera?: MediaStreamTrack | 'capture'; readonly microphone?: MediaStreamTrack | 'capture' }) {
    super(options, client, media, initial);
    this.#media = browser;
  }

  /** The current connection's WebRTC statistics (inbound streams, audio levels), or undefined while not connected. */
  async getStats(): Promise<RTCStatsReport | undefined> {
    return this.#media.current()?.pc.getStats();
  }

  /** The current connection's SFrame counters (frames encrypted, decrypted, dropped by reason), or undefined without E2EE or a connection. */
  async e2eeStats(): Promise<E2eeStats | undefined> {
    const worker = this.#media.current()?.worker;
    if (!worker) return undefined;
    try {
      return await e2eeStats(worker);
    } catch (error) {
      // The connection closed while we asked: there is no connection to count for.
      if (error instanceof E2eeWorkerClosedError) return undefined;
      throw error;
    }
  }
}

/**
 * A room in the browser, not joined yet: add listeners with `on`, then
 * `join()`. Throws E2EE_UNSUPPORTED when E2EE is on and this browser cannot
 * encrypt media, and ROOM_OPTIONS_INVALID without a token or an invite and name.
 */
export function createRoom(options: BrowserRoomOptions): BrowserRoom {
  const client = new BrokerClient(options.broker);
  const e2ee = options.e2ee ?? true;
  if (e2ee && encodedTransformApi() === undefined) {
    throw new GeobridgeError('E2EE_UNSUPPORTED', 'This browser cannot encrypt media end to end (no RTCRtpScriptTransform or insertable streams); use a current Chromium, Chrome, Edge, Firefox or Safari.');
  }
  const workers = e2ee ? workerFactory(options.e2eeWorker) : undefined;
  const browser = browserMedia(workers?.next);
  const media: RoomMedia<MediaStreamTrack> = {
    platform: browser.platform,
    setOwn: (kind, track) => browser.setOwn(kind, track),
    capture,
    stop: (track) => {
      track.stop();
    },
    setEnabled: (track, enabled) => {
      track.enabled = enabled;
    },
    checkPublish: () => undefined,
    close: () => workers?.close(),
  };
  const initial = (value: boolean | MediaStreamTrack | undefined): MediaStreamTrack | 'capture' | undefined => (value === undefined || value === true ? 'capture' : value === false ? undefined : value);
  const camera = initial(options.camera);
  const microphone = initial(options.microphone);
  return new BrowserRoom(options, client, media, browser, { ...(camera !== undefined ? { camera } : {}), ...(microphone !== undefined ? { microphone } : {}) });
}

/** Creates a browser room and joins it; resolves once connected (see `Room.join`). */
export async function connect(options: BrowserRoomOptions): Promise<BrowserRoom> {
  const room = createRoom(options);
  await room.join();
  return room;
}

/** A track from the device of `source`; MEDIA_UNAVAILABLE when the browser has none or the user declines. */
async function capture(source: TrackSource): Promise<MediaStreamTrack> {
  try {
    const stream = source === 'screen' ? await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }) : await navigator.mediaDevices.getUserMedia(source === 'camera' ? { video: true } : { audio: true });
    const track = source === 'microphone' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    if (!track) throw new Error('the browser gave no track');
    // Text and lines stay sharp at the cost of frame rate: what a screen needs.
    if (source === 'screen') track.contentHint = 'detail';
    return track;
  } catch (error) {
    throw new GeobridgeError('MEDIA_UNAVAILABLE', `The ${source} could not be opened (${error instanceof Error ? error.message : String(error)}); allow it in the browser, or join without it (${source === 'screen' ? 'do not publish a screen' : `${source}: false`}).`, { cause: error });
  }
}

/**
 * SFrame workers, one per connection, with one kept ready ahead: the first
 * connection, and the next one after a failover, do not wait for a worker
 * to load.
 */
function workerFactory(option: BrowserRoomOptions['e2eeWorker']): { readonly next: () => Worker; readonly close: () => void } {
  const make = workerMaker(option);
  let spare: Worker | undefined = make();
  return {
    next: () => {
      const worker = spare ?? make();
      spare = make();
      return worker;
    },
    close: () => {
      spare?.terminate();
      spare = undefined;
    },
  };
}

let inlineUrl: string | undefined;

function workerMaker(option: BrowserRoomOptions['e2eeWorker']): () => Worker {
  if (typeof option === 'function') return option;
  if (option !== undefined) return () => new Worker(option);
  const source = E2EE_WORKER_SOURCE;
  if (source === undefined) {
    throw new GeobridgeError('E2EE_WORKER_MISSING', 'This copy of the SDK runs from source and carries no E2EE worker: pass `e2eeWorker` (the URL of the worker script: dist/sdk/e2ee-worker.js after `npm run build:sdk`, or /e2ee-worker.js on the broker\'s own origin), or use the built SDK.');
  }
  inlineUrl ??= URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const url = inlineUrl;
  return () => new Worker(url);
}
