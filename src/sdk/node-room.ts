/**
 * Rooms in Node (werift peer connections, `ws` sockets): bots, probes and
 * load tests join meetings with the same `Room` as a browser. Node has no
 * devices: tracks are werift MediaStreamTracks the program writes RTP to.
 * The Node platform takes part in the meeting's MLS group (security code,
 * roster, chat) but cannot encrypt media with SFrame yet, so a room with
 * E2EE on (the default) publishes nothing: publishing a track needs
 * `e2ee: false`, and tracks it receives under E2EE carry SFrame ciphertext.
 */
import type { MediaStreamTrack } from 'werift';
import { GeobridgeError } from '../core/errors.js';
import { BrokerClient } from './broker-client.js';
import { nodeMedia } from './node.js';
import { Room, type RoomMedia, type RoomOptions } from './room.js';

/** Options of a Node room. */
export interface NodeRoomOptions extends RoomOptions {
  /** A camera track to publish from the start (needs `e2ee: false`). */
  readonly camera?: MediaStreamTrack;
  /** A microphone track to publish from the start (needs `e2ee: false`). */
  readonly microphone?: MediaStreamTrack;
}

/** A Node room: a `Room` of werift MediaStreamTracks. */
export type NodeRoom = Room<MediaStreamTrack>;

/** Media under E2EE needs SFrame, which the Node platform does not do: refuse rather than send it in the clear. */
function unencryptable(): GeobridgeError {
  return new GeobridgeError('E2EE_UNSUPPORTED', 'The Node SDK cannot encrypt media end to end yet: with e2ee on (the default) it may receive and chat, but not publish; pass e2ee: false to publish media the bridges can read.');
}

/**
 * A room in Node, not joined yet: add listeners with `on`, then `join()`.
 * Throws E2EE_UNSUPPORTED when given tracks to publish with E2EE on.
 */
export function createRoom(options: NodeRoomOptions): NodeRoom {
  const e2ee = options.e2ee ?? true;
  if (e2ee && (options.camera !== undefined || options.microphone !== undefined)) throw unencryptable();
  const node = nodeMedia();
  const media: RoomMedia<MediaStreamTrack> = {
    platform: node.platform,
    setOwn: (kind, track) => node.setOwn(kind, track),
    checkPublish: () => {
      if (e2ee) throw unencryptable();
    },
    capture: (source) => Promise.reject(new GeobridgeError('MEDIA_UNAVAILABLE', `Node has no ${source} device: pass a werift MediaStreamTrack to publish${source === 'screen' ? 'Screen' : source === 'camera' ? 'Camera' : 'Microphone'}(track).`)),
    stop: (track) => {
      track.stop();
    },
    // werift tracks have no enabled flag: the others are told (the `state` message), and the track keeps sending.
    setEnabled: () => undefined,
    close: () => undefined,
  };
  return new Room(options, new BrokerClient(options.broker), media, { ...(options.camera ? { camera: options.camera } : {}), ...(options.microphone ? { microphone: options.microphone } : {}) });
}

/** Creates a Node room and joins it; resolves once connected (see `Room.join`). */
export async function connect(options: NodeRoomOptions): Promise<NodeRoom> {
  const room = createRoom(options);
  await room.join();
  return room;
}
