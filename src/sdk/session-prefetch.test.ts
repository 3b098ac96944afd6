// A session fetches the broker's token keys beside its route request, not after the route answer: the
// ticket's check then finds them there instead of waiting another round trip (issue 14's join floor).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nodeSession } from './node.js';

const seen: { path: string; at: number }[] = [];
let routeAnsweredAt = Number.POSITIVE_INFINITY;
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    seen.push({ path, at: performance.now() });
    req.resume();
    req.on('end', () => {
      // The route answer comes late; the keys' request must not wait for it.
      const delay = path === '/v1/route' ? 300 : 0;
      setTimeout(() => {
        if (path === '/v1/route') routeAnsweredAt = performance.now();
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 503, code: 'NO_CAPACITY_IN_FENCE', error: 'Service Unavailable', message: 'full' }));
      }, delay);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

it('asks for the token keys while its route request is still out', async () => {
  const session = nodeSession({ broker: url, joinToken: 'join-token', country: 'US', e2ee: false, onEvent: () => undefined });
  session.join();
  for (let i = 0; i < 250 && !seen.some((r) => r.path === '/v1/route'); i++) await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 250 && !seen.some((r) => r.path === '/.well-known/jwks.json'); i++) await new Promise((r) => setTimeout(r, 20));
  session.leave();
  const keys = seen.find((r) => r.path === '/.well-known/jwks.json');
  expect(seen.some((r) => r.path === '/v1/route')).toBe(true);
  expect(keys).toBeDefined();
  expect(keys?.at ?? Number.POSITIVE_INFINITY).toBeLessThan(routeAnsweredAt);
});
