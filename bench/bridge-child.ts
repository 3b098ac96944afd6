/**
 * A whole bridge (src/bridge/server.ts `startBridge`) alone in a child
 * process, for `bench/relay.ts`: so that `process.cpuUsage()` sees that
 * bridge's CPU only, not the broker's, the clients' or the other bridge's.
 * It enrols with the parent's broker like any bridge; the parent asks it for
 * CPU and forwarded packets between `begin` and `end`, and for its rooms'
 * shape (participants, relays, remote peers) to know when a phase settled.
 */
import type { JWK } from 'jose';
import { startBridge, type RunningBridge } from '../src/bridge/server.js';
import type { Room } from '../src/bridge/sfu.js';

export const BRIDGE_CHILD_FLAG = '--bench-bridge-child';

/** Parent → child. */
export type ToBridge =
  | { readonly type: 'start'; readonly datacenter: string; readonly broker: string; readonly privateJwk: JWK }
  | { readonly type: 'begin' }
  | { readonly type: 'end' }
  | { readonly type: 'state' }
  | { readonly type: 'stop' };

/** One meeting's room on this bridge. */
export interface RoomShape {
  readonly participants: number;
  readonly relays: number;
  readonly remotes: number;
}

/** Child → parent. */
export type FromBridge =
  | { readonly type: 'started'; readonly url: string }
  | { readonly type: 'cpu'; readonly cpuMs: number; readonly forwarded: number; readonly ms: number }
  | { readonly type: 'state'; readonly rooms: Readonly<Record<string, RoomShape>> }
  | { readonly type: 'error'; readonly message: string };

/** Each room's forwarded count now (one per subscriber or relay per packet), by room: a room made later starts from 0. */
function counts(bridge: RunningBridge): Map<Room, number> {
  return new Map([...bridge.rooms.values()].map((room) => [room, room.forwarded]));
}

function serve(): void {
  const send = (m: FromBridge): void => {
    process.send?.(m);
  };
  let bridge: RunningBridge | undefined;
  let mark: { cpu: NodeJS.CpuUsage; at: number; forwarded: Map<Room, number> } | undefined;
  const handle = async (m: ToBridge): Promise<void> => {
    if (m.type === 'start') {
      bridge = await startBridge({
        datacenter: m.datacenter,
        broker: m.broker,
        privateJwk: m.privateJwk,
        host: '127.0.0.1',
        port: 0,
        media: { bindAddress: '127.0.0.1', videoBitrate: 1_500_000 },
        heartbeatMs: 300,
        drainMs: 2000,
      });
      send({ type: 'started', url: bridge.url });
    } else if (m.type === 'begin' && bridge) {
      mark = { cpu: process.cpuUsage(), at: performance.now(), forwarded: counts(bridge) };
    } else if (m.type === 'end' && bridge && mark) {
      const used = process.cpuUsage(mark.cpu);
      const ms = performance.now() - mark.at;
      const before = mark.forwarded;
      // A room closed within the window takes its count with it; the parent measures settled phases only.
      let n = 0;
      for (const room of bridge.rooms.values()) n += room.forwarded - (before.get(room) ?? 0);
      send({ type: 'cpu', cpuMs: (used.user + used.system) / 1000, forwarded: n, ms });
    } else if (m.type === 'state' && bridge) {
      const rooms: Record<string, RoomShape> = {};
      for (const [meeting, room] of bridge.rooms) rooms[meeting] = { participants: room.participants.size, relays: room.relays.size, remotes: room.remotes.size };
      send({ type: 'state', rooms });
    } else if (m.type === 'stop') {
      await bridge?.close();
      process.exit(0);
    }
  };
  process.on('message', (m: ToBridge) => {
    handle(m).catch((error: unknown) => {
      send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    });
  });
  process.on('disconnect', () => {
    // The parent is gone: nothing may outlive the run.
    process.exit(0);
  });
}

if (process.argv.includes(BRIDGE_CHILD_FLAG)) serve();
