// Per-address rate limits: what each limit counts, what it leaves alone
// (authenticated traffic), how the address is found (trusted proxies, IPv6
// per /64), and the 429 every limited request gets.
import { connect } from 'node:net';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS } from './config.js';
import type { RateLimits } from './context.js';
import { presenceHello, tryPresence } from './presence-client.fixture.js';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from './test-broker.fixture.js';

let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

async function start(limits: Partial<RateLimits>, trustedProxies: readonly string[] = []): Promise<TestBroker> {
  broker = await startTestBroker({ config: { rateLimits: { ...DEFAULT_RATE_LIMITS, ...limits }, trustedProxies } });
  return broker;
}

async function codes(b: TestBroker, n: number, options: InjectOptions): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(codeOf(await b.app.inject(options)));
  return out;
}

/** The error code of a response, or its status when it succeeded. */
function codeOf(res: LightMyRequestResponse): string {
  return res.statusCode < 400 ? String(res.statusCode) : res.json<{ code: string }>().code;
}

async function heartbeat(b: TestBroker, from: string, datacenter = 'us-east'): Promise<LightMyRequestResponse> {
  const message = await b.signAs(datacenter, { kind: 'heartbeat', participants: 0, cpu: 0.1, draining: false });
  return b.app.inject({ method: 'POST', url: '/v1/bridges/heartbeat', remoteAddress: from, payload: { message } });
}

async function rateLimited(b: TestBroker, limit: string): Promise<number> {
  const text = (await b.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '192.0.2.250' })).body;
  return Number(new RegExp(`^geobridge_rate_limited_total\\{limit="${limit}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

const junkHeartbeat = (from: string): InjectOptions => ({ method: 'POST', url: '/v1/bridges/heartbeat', remoteAddress: from, payload: { message: 'not.a.jws' } });

describe('rate limits', () => {
  it('limits routes without a credential per address, with the error body and Retry-After', async () => {
    const b = await start({ requests: 3 });
    expect(await codes(b, 4, { method: 'GET', url: '/healthz', remoteAddress: '198.51.100.1' })).toEqual(['200', '200', '200', 'RATE_LIMITED']);
    const res = await b.app.inject({ method: 'GET', url: '/v1/info', remoteAddress: '198.51.100.1' });
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Another address has its own budget.
    expect(await codes(b, 3, { method: 'GET', url: '/healthz', remoteAddress: '198.51.100.2' })).toEqual(['200', '200', '200']);
    expect(await rateLimited(b, 'requests')).toBe(2);
  });

  it('never counts authenticated traffic: signed heartbeats, routes with a join token, account calls', async () => {
    const b = await start({ requests: 2, failures: 2 });
    for (let i = 0; i < 30; i++) expect((await heartbeat(b, '127.0.0.1')).statusCode).toBe(200);
    for (const dc of b.ctx.policy.current.manifest.datacenters) expect((await heartbeat(b, '127.0.0.1', dc.id)).statusCode).toBe(200);
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const account = (await b.app.inject({ method: 'POST', url: '/v1/accounts', headers: admin, payload: { name: 'A', homeCountry: 'US' } })).json<{ apiKey: string }>();
    const key = { authorization: `Bearer ${account.apiKey}` };
    const meeting = (await b.app.inject({ method: 'POST', url: '/v1/meetings', headers: key, payload: { title: 'T' } })).json<{ id: string }>();
    const token = (await b.app.inject({ method: 'POST', url: `/v1/meetings/${meeting.id}/join-tokens`, headers: key, payload: { name: 'Ada' } })).json<{ token: string }>();
    const route = { method: 'POST', url: '/v1/route', headers: { authorization: `Bearer ${token.token}` }, remoteAddress: '8.8.8.8', payload: {} } as const;
    expect(new Set(await codes(b, 30, route))).toEqual(new Set(['200']));
  });

  it('limits invite accepts and previews per route, tighter than the rest', async () => {
    const b = await start({ invites: 2, requests: 100, failures: 100 });
    const accept = { method: 'POST', url: '/v1/invites/accept', remoteAddress: '198.51.100.3', payload: { invite: 'bogus', name: 'Eve' } } as const;
    expect(await codes(b, 3, accept)).toEqual(['INVITE_INVALID', 'INVITE_INVALID', 'RATE_LIMITED']);
    const preview = { method: 'POST', url: '/v1/invites/preview', remoteAddress: '198.51.100.3', payload: { invite: 'bogus' } } as const;
    expect(await codes(b, 3, preview)).toEqual(['INVITE_INVALID', 'INVITE_INVALID', 'RATE_LIMITED']);
    expect(await rateLimited(b, 'invites')).toBe(2);
  });

  it('after its failures, an address is refused everywhere before any work, authenticated or not; others are not', async () => {
    const b = await start({ failures: 5 });
    // Authenticated traffic first: it does not use up the allowance.
    for (let i = 0; i < 10; i++) expect((await heartbeat(b, '203.0.113.9')).statusCode).toBe(200);
    expect(await codes(b, 7, junkHeartbeat('203.0.113.9'))).toEqual([...Array<string>(5).fill('BRIDGE_MESSAGE_INVALID'), 'RATE_LIMITED', 'RATE_LIMITED']);
    const blocked = await heartbeat(b, '203.0.113.9');
    expect(codeOf(blocked)).toBe('RATE_LIMITED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(codeOf(await b.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '203.0.113.9' }))).toBe('RATE_LIMITED');
    // Only messages that reached the check were counted as bridge rejections.
    expect((await b.ctx.metrics.bridgeRejections.get()).values.reduce((n, v) => n + v.value, 0)).toBe(5);
    expect(codeOf(await heartbeat(b, '203.0.113.10'))).toBe('200');
    // Malformed bodies and bad bearer tokens count the same way.
    expect(await codes(b, 3, { method: 'POST', url: '/v1/route', headers: { authorization: 'Bearer x' }, remoteAddress: '203.0.113.11', payload: { color: 1 } })).toEqual(['VALIDATION', 'VALIDATION', 'VALIDATION']);
    expect(await codes(b, 3, { method: 'GET', url: '/v1/accounts', headers: { authorization: 'Bearer wrong' }, remoteAddress: '203.0.113.11' })).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'RATE_LIMITED']);
    expect(await rateLimited(b, 'failures')).toBe(5);
  });

  it('limits the public bridge keys like any route without a credential; the signed bridge routes stay unlimited', async () => {
    const b = await start({ requests: 3 });
    const keys = (method: 'GET' | 'HEAD'): InjectOptions => ({ method, url: '/v1/bridges/keys', remoteAddress: '198.51.100.30' });
    expect(await codes(b, 2, keys('GET'))).toEqual(['200', '200']);
    // A HEAD answer has no body to read the code from.
    expect((await b.app.inject(keys('HEAD'))).statusCode).toBe(200);
    expect((await b.app.inject(keys('HEAD'))).statusCode).toBe(429);
    expect(codeOf(await b.app.inject(keys('GET')))).toBe('RATE_LIMITED');
    expect((await heartbeat(b, '198.51.100.30')).statusCode).toBe(200);
  });

  it('limits requests for routes that do not exist, under /v1/bridges/ too', async () => {
    const b = await start({ requests: 3 });
    const from = '198.51.100.31';
    expect(await codes(b, 2, { method: 'GET', url: '/nope', remoteAddress: from })).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    expect(await codes(b, 2, { method: 'POST', url: '/v1/bridges/nope', remoteAddress: from, payload: {} })).toEqual(['NOT_FOUND', 'RATE_LIMITED']);
    expect(codeOf(await b.app.inject({ method: 'GET', url: '/healthz', remoteAddress: from }))).toBe('RATE_LIMITED');
  });

  it('counts URLs refused before routing (a malformed escape, a part too long) as failures', async () => {
    const b = await start({ failures: 2 });
    const from = '198.51.100.32';
    expect(codeOf(await b.app.inject({ method: 'GET', url: '/v1/meetings/%ZZ', remoteAddress: from }))).toBe('BAD_REQUEST');
    expect(codeOf(await b.app.inject({ method: 'GET', url: `/v1/meetings/${'m'.repeat(200)}`, remoteAddress: from }))).toBe('URI_TOO_LONG');
    expect(codeOf(await b.app.inject({ method: 'GET', url: '/healthz', remoteAddress: from }))).toBe('RATE_LIMITED');
    expect(await rateLimited(b, 'failures')).toBe(1);
  });

  it('counts what Node answers before any route (bytes that are not HTTP, headers too large) as failures', async () => {
    const b = await start({ failures: 2 });
    await b.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (b.app.server.address() as { port: number }).port;
    const send = (bytes: string): Promise<string> =>
      new Promise((resolve) => {
        let text = '';
        const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.5' }, () => socket.end(bytes));
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('close', () => { resolve(text); });
        socket.on('error', () => { resolve(text); });
      });
    expect(await send('NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await send(`GET /healthz HTTP/1.1\r\nhost: b\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    expect(await send('GET /healthz HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 429 /);
    expect(await rateLimited(b, 'failures')).toBe(1);
  });

  it('keys on the client behind a trusted proxy, and ignores X-Forwarded-For from anyone else', async () => {
    const b = await start({ requests: 2 }, ['10.0.0.1']);
    const via = (peer: string, client: string): InjectOptions => ({ method: 'GET', url: '/healthz', remoteAddress: peer, headers: { 'x-forwarded-for': client } });
    expect(await codes(b, 3, via('10.0.0.1', '198.51.100.20'))).toEqual(['200', '200', 'RATE_LIMITED']);
    expect(await codes(b, 2, via('10.0.0.1', '198.51.100.21'))).toEqual(['200', '200']);
    // An untrusted peer cannot get a fresh budget by writing the header itself.
    const spoofed: string[] = [];
    for (const client of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) spoofed.push(codeOf(await b.app.inject(via('198.51.100.22', client))));
    expect(spoofed).toEqual(['200', '200', 'RATE_LIMITED']);
  });

  it('counts IPv6 per /64', async () => {
    const b = await start({ requests: 2 });
    const from = (address: string): InjectOptions => ({ method: 'GET', url: '/healthz', remoteAddress: address });
    expect(codeOf(await b.app.inject(from('2001:db8::1')))).toBe('200');
    expect(codeOf(await b.app.inject(from('2001:db8::ffff:2')))).toBe('200');
    expect(codeOf(await b.app.inject(from('2001:db8::3')))).toBe('RATE_LIMITED');
    expect(codeOf(await b.app.inject(from('2001:db8:0:1::1')))).toBe('200');
  });

  it('limits presence connections per address before the handshake, and counts failed hellos', async () => {
    const b = await start({ presence: 2, failures: 2 });
    await b.app.listen({ host: '127.0.0.1', port: 0 });
    const address = b.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const url = `http://127.0.0.1:${address.port}`;

    const forged = 'e30.e30.AAAA';
    expect(await tryPresence(url, '127.0.0.2', forged)).toMatchObject({ kind: 'closed', closeCode: 1008, reason: 'BRIDGE_MESSAGE_INVALID' });
    expect(await tryPresence(url, '127.0.0.2', forged)).toMatchObject({ kind: 'closed', closeCode: 1008 });
    const refused = await tryPresence(url, '127.0.0.2', forged);
    expect(refused).toMatchObject({ kind: 'refused', status: 429, code: 'RATE_LIMITED' });
    expect(Number(refused.kind === 'refused' ? refused.retryAfter : undefined)).toBeGreaterThan(0);
    expect(await rateLimited(b, 'failures')).toBe(1);

    // Connections count whether or not they fail: a bridge that keeps reconnecting is held to the limit too.
    const hello = await b.signAs('us-east', presenceHello());
    expect(await tryPresence(url, '127.0.0.3', hello)).toEqual({ kind: 'present' });
    expect(await tryPresence(url, '127.0.0.3', await b.signAs('us-east', presenceHello()))).toEqual({ kind: 'present' });
    expect(await tryPresence(url, '127.0.0.3', await b.signAs('us-east', presenceHello()))).toMatchObject({ kind: 'refused', status: 429, code: 'RATE_LIMITED' });
    expect(await rateLimited(b, 'presence')).toBe(1);
  });
});
