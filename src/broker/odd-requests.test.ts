// What the broker answers to requests no route expects: each gets the error
// body with a documented code and a 4xx, or is served as the plain request
// it also is, and never a 500, a cut connection or a stream that hangs.
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildBrokerApp } from './app.js';
import { brokerApi } from './broker-api.fixture.js';
import { presenceHello } from './presence-client.fixture.js';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from './test-broker.fixture.js';

let broker: TestBroker;
let port: number;
const api = brokerApi(() => broker);

beforeAll(async () => {
  broker = await startTestBroker();
  await broker.app.listen({ port: 0, host: '127.0.0.1' });
  port = (broker.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await broker.close();
});

/** Sends raw bytes; what came back before the server closed (or `ms` passed). */
function raw(bytes: string, ms = 5000, to = port): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(to, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, ms);
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
  });
}

const status = (text: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const body = (text: string): { code?: string; statusCode?: number; message?: string } => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { code?: string };

describe('requests no route expects', () => {
  it('serves a request that asks to upgrade to HTTP/2 (h2c) or a WebSocket elsewhere than presence as the plain request it also is', async () => {
    const h2c = await raw('GET /healthz HTTP/1.1\r\nHost: broker\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n');
    expect(status(h2c.text), h2c.text).toBe(200);
    const ws = await raw('GET /v1/info HTTP/1.1\r\nHost: broker\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(status(ws.text), ws.text).toBe(200);
    // Pipelined behind another request: the connection is closed, and the broker goes on.
    const pipelined = await raw('GET /v1/info HTTP/1.1\r\nHost: broker\r\n\r\nGET /healthz HTTP/1.1\r\nHost: broker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
    expect(pipelined.closed).toBe(true);
    expect((await broker.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    // One with a body is refused: Node hands its body over with the upgrade.
    const post = await raw('POST /v1/admin/keys/rotate HTTP/1.1\r\nHost: broker\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    expect([status(post.text), body(post.text).code]).toEqual([400, 'BAD_REQUEST']);
  });

  it('answers bytes that are not HTTP/1.1, and headers too large, with the error body and a code', async () => {
    const garbled = await raw('GET /healthz HTTP/1.1\r\nHost: broker\r\nX-Bad: a\u0001b\r\n\r\n');
    expect([status(garbled.text), body(garbled.text).code]).toEqual([400, 'BAD_REQUEST']);
    const huge = await raw(`GET /healthz HTTP/1.1\r\nHost: broker\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect([status(huge.text), body(huge.text).code]).toEqual([431, 'HEADERS_TOO_LARGE']);
    const escape = await broker.app.inject({ method: 'GET', url: '/v1/meetings/%ZZ' });
    expect([escape.statusCode, escape.json<{ code: string }>().code]).toEqual([400, 'BAD_REQUEST']);
    const long = await broker.app.inject({ method: 'GET', url: `/v1/meetings/${'m'.repeat(200)}` });
    expect([long.statusCode, long.json<{ code: string }>().code]).toEqual([414, 'URI_TOO_LONG']);
  });

  it('answers HEAD on the console’s event stream at once rather than holding it open', async () => {
    const login = await broker.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
    const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
    const head = await raw(`HEAD /v1/console/events HTTP/1.1\r\nHost: broker\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`);
    expect(head.closed).toBe(true);
    expect(status(head.text)).toBe(404);
  });

  it('refuses a time that is not one in the console’s audit routes with 400 INVALID_TIME', async () => {
    const login = await broker.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
    const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
    for (const path of ['report', 'records']) {
      const res = await broker.app.inject({ method: 'GET', url: `/v1/console/audit/${path}?from=2020-02-30&to=2030-01-01`, headers: { cookie } });
      expect([res.statusCode, res.json<{ code: string }>().code], res.body).toEqual([400, 'INVALID_TIME']);
    }
  });

  it('refuses a signature key that is no Ed25519 public key with 400 before signing anything', async () => {
    const { apiKey } = await api.account();
    const { token } = await api.joinToken(apiKey, await api.meeting(apiKey));
    // 43 base64url characters whose last one carries bits a 32-byte key cannot have.
    const res = await api.call({ method: 'POST', url: '/v1/identity', headers: { authorization: `Bearer ${token}` }, payload: { signatureKey: `${'A'.repeat(42)}B` } });
    expect([res.statusCode, res.json<{ code: string }>().code], res.body).toEqual([400, 'VALIDATION']);
  });

  it('refuses a ticket under a manifest the broker no longer keeps with 401 TICKET_UNKNOWN_MANIFEST', async () => {
    const { apiKey } = await api.account();
    const meeting = await api.meeting(apiKey);
    const ticket = await api.ticketAt('us-east', meeting, 'US', 'f'.repeat(64));
    const claim = await api.claimWith('us-east', meeting, ticket);
    expect([claim.statusCode, claim.json<{ code: string }>().code], claim.body).toEqual([401, 'TICKET_UNKNOWN_MANIFEST']);
    const admission = await api.admission('us-east', { participant: 'p-1', meeting, outcome: 'admitted', ticket });
    expect([admission.statusCode, admission.json<{ code: string }>().code], admission.body).toEqual([401, 'TICKET_UNKNOWN_MANIFEST']);
  });

  it('ends a meeting once: ending it again, by its host or in the console, audits and sends nothing more', async () => {
    const { apiKey } = await api.account();
    const meeting = await api.meeting(apiKey);
    const ends = async (): Promise<unknown[]> => (await broker.ctx.audit.read()).filter((r) => r.type === 'meeting.ended' && r.data.meeting === meeting).map((r) => r.data.reason);
    const host = { authorization: `Bearer ${apiKey}` };
    expect((await api.call({ method: 'DELETE', url: `/v1/meetings/${meeting}`, headers: host })).statusCode).toBe(204);
    expect((await api.call({ method: 'DELETE', url: `/v1/meetings/${meeting}`, headers: host })).statusCode).toBe(204);
    const login = await broker.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
    const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
    const csrf = login.json<{ csrf: string }>().csrf;
    const inConsole = await broker.app.inject({ method: 'POST', url: `/v1/console/meetings/${meeting}/end`, headers: { cookie, 'x-csrf-token': csrf } });
    expect(inConsole.statusCode, inConsole.body).toBe(200);
    expect(await ends()).toEqual(['ended by host']);
    expect((await broker.ctx.audit.read()).filter((r) => r.type === 'admin.action' && r.data.target === meeting)).toEqual([]);
    expect((await api.call({ method: 'GET', url: `/v1/meetings/${meeting}`, headers: host })).json<{ endedReason?: string }>()).toMatchObject({ endedReason: 'ended by host' });
  });
});

describe('slow clients', () => {
  it('answers a body that never arrives 408 REQUEST_TIMEOUT and closes it, serves whole requests, and leaves presence sockets open', async () => {
    // A broker of its own: the bridge messages the tests above signed must not make its hello look like a replay.
    const own = await startTestBroker();
    const app = await buildBrokerApp(own.ctx, { requestTimeoutMs: 300, idleTimeoutMs: 600 });
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const at = (app.server.address() as AddressInfo).port;
      // A bridge present before the slow clients come, silent for longer than both timeouts. Its hello is signed
      // before it connects: signed meanwhile, under load, it came after the socket opened, and was never sent.
      const hello = await own.signAs('us-east', presenceHello());
      const presence = new WebSocket(`ws://127.0.0.1:${String(at)}/v1/bridges/presence`);
      await new Promise<void>((resolve, reject) => {
        presence.once('open', () => {
          presence.send(hello);
        });
        presence.once('message', () => {
          resolve();
        });
        presence.once('error', reject);
        presence.once('close', (code: number, reason: Buffer) => {
          reject(new Error(`the presence socket closed: ${String(code)} ${reason.toString()}`));
        });
      });
      // Closed long before the wait ends (a few hundred ms when idle); without the timeout, never. The wait is long for a
      // loaded machine's timers, not a figure.
      const stalled = await Promise.all(
        Array.from({ length: 4 }, () => raw('POST /v1/route HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{', 15_000, at)),
      );
      for (const s of stalled) {
        expect(s.closed, s.text).toBe(true);
        expect([status(s.text), body(s.text).code, body(s.text).statusCode]).toEqual([408, 'REQUEST_TIMEOUT', 408]);
      }
      // Requests sent whole are served; a body that comes in time reaches its handler.
      expect(status((await raw('GET /healthz HTTP/1.1\r\nHost: broker\r\nConnection: close\r\n\r\n', 3000, at)).text)).toBe(200);
      const whole = await raw('POST /v1/invites/preview HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{"invite":"x"}\n', 3000, at);
      expect([status(whole.text), body(whole.text).code]).toEqual([401, 'INVITE_INVALID']);
      // The presence socket has been silent for longer than both timeouts, and still answers.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(presence.readyState).toBe(WebSocket.OPEN);
      const pong = new Promise<void>((resolve) => {
        presence.once('pong', () => {
          resolve();
        });
      });
      presence.ping();
      await pong;
      presence.close();
    } finally {
      await app.close();
      await own.close();
    }
  });
});
