/**
 * A server that could not listen (the broker's --listen, a bridge's
 * --listen), as the error an operator can act on: the address, what the
 * system said, and what to change. Not a bug, so not a stack trace.
 */
import { GeobridgeError } from '../core/errors.js';

const WHY: Readonly<Record<string, string>> = {
  EADDRINUSE: 'another process already listens there: stop it, or give --listen another port',
  EACCES: 'this user may not listen there (ports below 1024 need privileges): give --listen a port from 1024 up',
  EADDRNOTAVAIL: 'no network interface of this machine has that address: give --listen an address of this machine (127.0.0.1, 0.0.0.0)',
};

/** LISTEN_FAILED for an error of `listen(port, host)`; any other error as it was. */
export function listenFailure(error: unknown, host: string, port: number): Error {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const why = code === undefined ? undefined : WHY[code];
  if (why === undefined) return error instanceof Error ? error : new Error(String(error));
  return new GeobridgeError('LISTEN_FAILED', `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${String(port)} (${code ?? ''}): ${why}.`, { cause: error });
}
