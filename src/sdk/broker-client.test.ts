// The one broker client: answers read against src/protocol's schemas, every failure one BrokerError
// (code, status, message), and no other code in the SDK or the page calls the broker by hand.
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGeobridgeError } from '../core/errors.js';
import { BrokerClient, BrokerError, isBrokerError } from './broker-client.js';

/** What the fake broker answers on each path: status, body (a string is sent as is), headers. */
const ANSWERS: Record<string, { status: number; body: unknown; headers?: Record<string, string> }> = {
  '/v1/info': { status: 200, body: { dev: true, datacenters: [{ id: 'us-east', jurisdiction: 'US', location: { lat: 39, lon: -77 } }] } },
  '/v1/invites/preview': { status: 200, body: { meeting: 'm-1', title: 42 } },
  '/v1/invites/accept': { status: 403, body: { statusCode: 403, code: 'INVITE_INVALID', error: 'Forbidden', message: 'the invite has expired' } },
  '/v1/route': { status: 503, body: { statusCode: 503, code: 'NO_CAPACITY_IN_FENCE', error: 'Service Unavailable', message: 'full' }, headers: { 'retry-after': '3' } },
  '/v1/bridges/keys': { status: 502, body: '<html>bad gateway</html>' },
  '/v1/identity': { status: 200, body: { assertion: 'a.b.c', expiresAt: '2030-01-01T00:00:00Z' } },
};

let server: Server;
let url: string;
const seen: { path: string; auth: string | undefined; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      seen.push({ path, auth: req.headers.authorization, body });
      const answer = ANSWERS[path] ?? { status: 404, body: { code: 'NOT_FOUND', message: 'no such route' } };
      res.writeHead(answer.status, { 'content-type': typeof answer.body === 'string' ? 'text/html' : 'application/json', ...answer.headers });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/some/page?x=1`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function failure(call: Promise<unknown>): Promise<BrokerError> {
  const error: unknown = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof BrokerError)) throw new Error(`expected a BrokerError, got ${String(error)}`);
  return error;
}

describe('BrokerClient', () => {
  it('reads a good answer against its schema, on the broker’s origin, with the join token as bearer', async () => {
    const client = new BrokerClient(url);
    expect(client.url).toBe(url.slice(0, url.indexOf('/some')));
    expect((await client.info()).datacenters[0]?.id).toBe('us-east');
    expect(await client.identity('join-token', 'key')).toBe('a.b.c');
    expect(seen.at(-1)).toEqual({ path: '/v1/identity', auth: 'Bearer join-token', body: '{"signatureKey":"key"}' });
  });

  it('turns every failure into one BrokerError: the broker’s code and status, HTTP_<status> without one, Retry-After, an invalid answer, no answer', async () => {
    const client = new BrokerClient(url);
    const refused = await failure(client.acceptInvite('inv', 'Ada'));
    expect([refused.code, refused.status, refused.message]).toEqual(['INVITE_INVALID', 403, 'the invite has expired']);
    const full = await failure(client.route('tok'));
    expect([full.code, full.status, full.retryAfterMs]).toEqual(['NO_CAPACITY_IN_FENCE', 503, 3000]);
    const proxy = await failure(client.bridgeKeys());
    expect([proxy.code, proxy.status]).toEqual(['HTTP_502', 502]);
    const invalid = await failure(client.previewInvite('inv'));
    expect([invalid.code, invalid.status]).toEqual(['BROKER_ANSWER_INVALID', 200]);
    expect(invalid.message).toContain("field 'title'");
    const closed = new BrokerClient('http://127.0.0.1:9');
    const unreachable = await failure(closed.info());
    expect([unreachable.code, unreachable.status]).toEqual(['BROKER_UNREACHABLE', undefined]);
    for (const e of [refused, full, proxy, invalid, unreachable]) {
      expect(isGeobridgeError(e)).toBe(true);
      expect(isBrokerError(e)).toBe(true);
    }
  });

  it('fetches the token keys ahead when asked, once: a verification under way waits for that fetch', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    ANSWERS['/.well-known/jwks.json'] = { status: 200, body: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' }] } };
    const keyFetches = (): number => seen.filter((r) => r.path === '/.well-known/jwks.json').length;
    const before = keyFetches();
    const client = new BrokerClient(url);
    client.prefetchKeys();
    client.prefetchKeys(); // already under way: no second request
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'k1' }).sign(privateKey);
    // Asked while the prefetch is under way (or done), the key resolves from it: the one request is the prefetch's.
    expect(await client.jwks({ alg: 'EdDSA', kid: 'k1' }, { payload: '', signature: '', protected: token.split('.')[0] ?? '' })).toBeDefined();
    client.prefetchKeys(); // cached and fresh: nothing
    await new Promise((r) => setTimeout(r, 50));
    expect(keyFetches() - before).toBe(1);
    // Without being asked, it had not fetched them at all.
    const lazy = new BrokerClient(url);
    await new Promise((r) => setTimeout(r, 50));
    expect(lazy.url).toBe(client.url);
    expect(keyFetches() - before).toBe(1);
    lazy.prefetchKeys();
    for (let i = 0; i < 100 && keyFetches() - before < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(keyFetches() - before).toBe(2);
    // A prefetch that fails is no unhandled rejection: the verification meets the failure itself.
    const closed = new BrokerClient('http://127.0.0.1:9');
    closed.prefetchKeys();
    await expect(closed.jwks({ alg: 'EdDSA', kid: 'k1' }, { payload: '', signature: '', protected: '' })).rejects.toThrow();
  });

  it('refuses a base URL that is not one, saying what to pass', () => {
    expect(() => new BrokerClient('meet.example.org')).toThrow(expect.objectContaining({ code: 'BROKER_URL_INVALID' }) as Error);
  });

  it('is the only code in the SDK and the meeting page that calls fetch', () => {
    const src = join(import.meta.dirname, '..');
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.fixture.ts') ? [join(dir, e.name)] : []));
    const calling = [...files(join(src, 'sdk')), ...files(join(src, 'web'))].filter((f) => /(?<![\w#])fetch\(/.test(readFileSync(f, 'utf8'))).map((f) => relative(src, f));
    expect(calling).toEqual(['sdk/broker-client.ts']);
  });
});
