/**
 * The console's what-if runs the simulator in a worker thread
 * (src/broker/console/what-if-runner.ts): on a 1,000-datacenter manifest it
 * takes about a second, which routes and heartbeats must not wait for. The
 * worker answers exactly what the in-process function does, passes its
 * validation errors through, and the broker answers other requests while it
 * works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateManifest } from '../bench/generate-manifest.js';
import { whatIf } from '../src/broker/console/what-if.js';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../src/broker/test-broker.fixture.js';

let broker: TestBroker;
let cookie: string;

beforeAll(async () => {
  broker = await startTestBroker({ manifestText: generateManifest() });
  const login = await broker.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
  cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
}, 60_000);
afterAll(async () => {
  await broker.close();
});

describe('the what-if in its worker thread', () => {
  it('answers what the in-process function does, while the broker goes on answering other requests', async () => {
    const manifest = broker.ctx.policy.current.manifest;
    const down = manifest.datacenters.slice(0, 3).map((d) => d.id).join(',');
    const order: string[] = [];
    const asked = broker.app.inject({ method: 'GET', url: `/v1/console/what-if?down=${down}`, headers: { cookie } }).then((res) => {
      order.push('what-if');
      return res;
    });
    // Asked after the what-if, answered before it: the simulator is not on the event loop.
    const health = await broker.app.inject({ method: 'GET', url: '/healthz' });
    order.push('healthz');
    expect(health.statusCode).toBe(200);
    const res = await asked;
    expect(res.statusCode, res.body).toBe(200);
    expect(order).toEqual(['healthz', 'what-if']);
    expect(res.json()).toEqual(JSON.parse(JSON.stringify(whatIf(manifest, { down }))));
  }, 60_000);

  it('passes the validation error through, and goes on answering after it', async () => {
    const bad = await broker.app.inject({ method: 'GET', url: '/v1/console/what-if?down=atlantis', headers: { cookie } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION', message: expect.stringMatching(/atlantis/) as unknown });
    const good = await broker.app.inject({ method: 'GET', url: '/v1/console/what-if', headers: { cookie } });
    expect(good.statusCode).toBe(200);
  }, 60_000);
});
