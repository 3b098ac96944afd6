/**
 * Answers for what never reaches a route: bytes that are not HTTP/1.1, and
 * requests that ask to upgrade the connection to something the broker does
 * not speak. Every one gets the broker's error body (http-errors.ts), or is
 * served as the plain request it also is, rather than a connection cut
 * without a word.
 */
import { ServerResponse, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorBody } from './http-errors.js';

/** Node's codes for a request line or headers over its limit (16 KB). */
const TOO_LARGE = new Set(['HPE_HEADER_OVERFLOW', 'HPE_URI_TOO_LONG']);

/** Writes an error answer (with `headers` besides the usual ones) on a connection no route holds, then closes it. */
export function writeError(socket: Duplex, status: number, code: string, message: string, headers: Readonly<Record<string, string>> = {}): void {
  const body = JSON.stringify(errorBody(code, message, status));
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(`HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\n${extra}Connection: close\r\n\r\n${body}`);
}

/**
 * Node could not parse a request (Fastify's `clientErrorHandler`): a 4xx with
 * a code, or nothing on a connection already gone. Says whether it answered
 * (the client's failure, which the rate limits count).
 */
export function answerClientError(error: Error & { readonly code?: string }, socket: Socket): boolean {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return false;
  }
  if (TOO_LARGE.has(error.code ?? '')) {
    writeError(socket, 431, 'HEADERS_TOO_LARGE', 'the request line and headers are larger than the broker takes (16 KB in all); send a shorter URL or fewer headers.');
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    writeError(socket, 408, 'REQUEST_TIMEOUT', 'the request did not arrive in time; send it again.');
  } else {
    writeError(socket, 400, 'BAD_REQUEST', `the request is not valid HTTP/1.1 (${error.code ?? error.message}); check the request line, the headers and Content-Length.`);
  }
  return true;
}

/**
 * A request to upgrade that the broker does not take (an HTTP/2 `h2c`
 * upgrade, a WebSocket on a path other than the bridges' presence one). A
 * server may ignore Upgrade (RFC 9110 §7.8): one without a body is served as
 * the plain HTTP/1.1 request it also is, and the connection then closed. One
 * with a body is refused, since Node hands its body over with the upgrade
 * instead of to the request. One pipelined behind a request still being
 * answered closes the connection.
 */
export function answerWithoutUpgrade(server: Server, request: IncomingMessage, socket: Duplex, head: Buffer): void {
  const length = request.headers['content-length'];
  if (!(socket instanceof Socket) || head.length > 0 || request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    writeError(socket, 400, 'BAD_REQUEST', `the broker does not upgrade ${request.url ?? 'this path'} to ${request.headers.upgrade ?? 'another protocol'}; send the request without the Upgrade header.`);
    return;
  }
  const response = new ServerResponse(request);
  response.shouldKeepAlive = false;
  try {
    response.assignSocket(socket);
  } catch {
    // Pipelined behind a request still being answered (ERR_HTTP_SOCKET_ASSIGNED): no answer can go in order.
    socket.destroy();
    return;
  }
  response.on('finish', () => {
    response.detachSocket(socket);
    socket.end();
  });
  server.emit('request', request, response);
}
