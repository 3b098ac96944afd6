/**
 * A connection whose client does not read: once the bridge holds more than
 * MAX_UNSENT_BYTES unsent for it, the next message is not queued behind the
 * rest, the socket is cut, and the bridge says why in its log. Below that,
 * messages go as before. (The socket is a stand-in whose `bufferedAmount`
 * the test sets: filling 4 MiB behind a real socket takes the kernel's
 * buffers first, several MiB more on loopback.)
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { ClientConnection, MAX_UNSENT_BYTES, type AdmissionHost } from './client-connection.js';

class StandInSocket extends EventEmitter {
  readonly protocol = SIGNALLING_SUBPROTOCOL;
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: string[] = [];
  readonly closed: number[] = [];
  terminated = false;
  send(data: string): void {
    this.sent.push(data);
  }
  close(code: number): void {
    this.closed.push(code);
    this.readyState = 2;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }
}

function connect(unsent: number): { socket: StandInSocket; logged: Record<string, unknown>[] } {
  const socket = new StandInSocket();
  socket.bufferedAmount = unsent;
  const logged: Record<string, unknown>[] = [];
  const host = { log: (line: Readonly<Record<string, unknown>>) => logged.push(line) } as unknown as AdmissionHost;
  new ClientConnection(socket as unknown as WebSocket, '127.0.0.9', host, { joinMs: 60_000, connectMs: 60_000 }).serve();
  // A frame that is no message: the bridge answers `refused` and closes.
  socket.emit('message', Buffer.from('not json'), false);
  return { socket, logged };
}

describe('a client that does not read its socket', () => {
  it('is sent its messages while what the bridge holds for it stays within the bound', () => {
    const { socket, logged } = connect(MAX_UNSENT_BYTES);
    expect(socket.sent.map((m) => (JSON.parse(m) as { type: string; code: string }).code)).toEqual(['BAD_MESSAGE']);
    expect(socket.closed).toEqual([1008]);
    expect(socket.terminated).toBe(false);
    expect(logged).toEqual([]);
  });

  it('is cut off, not queued for, past it, and the bridge logs why', () => {
    const { socket, logged } = connect(MAX_UNSENT_BYTES + 1);
    expect(socket.sent).toEqual([]);
    expect(socket.terminated).toBe(true);
    expect(logged).toEqual([{ level: 'warn', msg: 'client not reading its socket', remote: '127.0.0.9', unsentBytes: MAX_UNSENT_BYTES + 1 }]);
  });
});
