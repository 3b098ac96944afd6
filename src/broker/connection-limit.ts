/**
 * At most `--max-connections-per-address` connections open at once from one
 * client address. Every open socket holds a file descriptor until its
 * request or idle timeout (app.ts), so without a cap one address that keeps
 * opening connections can hold every descriptor the process has, and then
 * nobody (no participant, no bridge) is let in. A connection over the cap is
 * answered 429 RATE_LIMITED at once and closed. Trusted proxies
 * (`--trusted-proxies`) are exempt: every client behind a load balancer
 * arrives from its address.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { writeError } from './raw-answers.js';

/** Default cap: far above what browsers open (six per host), room for an office behind one NAT. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 1024;

/** A closed socket that never read its answer is let go after this long. */
const LINGER_MS = 1000;

/** Caps `server`'s connections per remote address; `exempt` addresses are not counted; `refused` is told of each connection turned away. */
export function limitConnectionsPerAddress(server: Server, max: number, exempt: (address: string) => boolean, refused: () => void): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || exempt(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= max) {
      refused();
      // Node's parser is already attached: paused, it reads nothing of what the client sends.
      socket.pause();
      writeError(socket, 429, 'RATE_LIMITED', `this address has ${String(count)} connections open to the broker, its limit; close some (or reuse them: HTTP keep-alive) and try again.`);
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}
