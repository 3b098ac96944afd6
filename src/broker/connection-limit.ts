/**
 * At most `--max-connections-per-address` connections open at once from one
 * client address. Every open socket holds a file descriptor until its
 * request or idle timeout (app.ts), so without a cap one address that keeps
 * opening connections can hold every descriptor the process has, and then
 * nobody (no participant, no bridge) is let in. The address is the peer's as
 * the rate limits key it (IPv4-mapped IPv6 as IPv4, IPv6 per /64, which one
 * host usually holds whole). A connection over the cap is answered 429
 * RATE_LIMITED and closed; past a few refusals still being written, further
 * ones are closed at once, so refused sockets cannot pile up either.
 * Trusted proxies (`--trusted-proxies`) are exempt: every client behind a
 * load balancer arrives from its address.
 */
import type { Socket } from 'node:net';
import { normalizeIP } from '@fastify/rate-limit';
import { writeError } from './raw-answers.js';

/** Default cap: far above what browsers open (six per host), room for an office behind one NAT. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 1024;

/** A refused socket that has not read its answer is let go after this long. */
const LINGER_MS = 1000;
/** Refusals per address being written at once; beyond them a refused connection is closed without a word. */
const REFUSALS_WRITTEN = 8;

/** Counts per key, a key dropped at zero. */
class Counts {
  readonly #counts = new Map<string, number>();
  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }
  /** Counts `socket` under `key` until it closes. */
  hold(key: string, socket: Socket): void {
    this.#counts.set(key, this.get(key) + 1);
    socket.once('close', () => {
      const left = this.get(key) - 1;
      if (left > 0) this.#counts.set(key, left);
      else this.#counts.delete(key);
    });
  }
}

/** What the cap needs of a server (a Node `net` or `http` server): its connections as they arrive. */
export interface ConnectionSource {
  on(event: 'connection', listener: (socket: Socket) => void): unknown;
}

/** Caps `server`'s connections per client address; `exempt` peers are not counted; `refused` is told of each connection turned away. */
export function limitConnectionsPerAddress(server: ConnectionSource, max: number, exempt: (address: string) => boolean, refused: () => void): void {
  const open = new Counts();
  const refusing = new Counts();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || exempt(address)) return;
    // The rate limits' key (rate-limits.ts): IPv4-mapped IPv6 as IPv4, IPv6 per /64.
    const key = normalizeIP(address);
    const count = open.get(key);
    if (count < max) {
      open.hold(key, socket);
      return;
    }
    refused();
    // Node's parser is already attached: paused, it reads nothing of what the client sends.
    socket.pause();
    if (refusing.get(key) >= REFUSALS_WRITTEN) {
      socket.destroy();
      return;
    }
    refusing.hold(key, socket);
    writeError(socket, 429, 'RATE_LIMITED', `this address has ${String(count)} connections open to the broker, its limit (--max-connections-per-address); close some, or reuse them (HTTP keep-alive), and try again.`, { 'Retry-After': '1' });
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
}
