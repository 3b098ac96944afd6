import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../test-broker.fixture.js';

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ config: { dev: true } });
});
afterAll(async () => {
  await broker.close();
});

async function post(url: string, token: string | undefined, payload: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await broker.app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() };
}

describe('the meeting page routes', () => {
  it('serves the page, its bundled script and its stylesheet, with a strict CSP', async () => {
    for (const [url, type] of [
      ['/', 'text/html'],
      ['/join', 'text/html'],
      ['/app.js', 'text/javascript'],
      ['/style.css', 'text/css'],
    ] as const) {
      const res = await broker.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain(type);
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    }
    const js = await broker.app.inject({ method: 'GET', url: '/app.js' });
    expect(js.body).toContain('geobridge');
    expect(js.body).not.toMatch(/from\s*["']\.\.?\//); // bundled: no relative imports left
  }, 30_000);

  it('serves the SVG favicon that the page links to', async () => {
    const res = await broker.app.inject({ method: 'GET', url: '/favicon.svg' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('image/svg+xml');
    expect(res.body).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*viewBox=/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const page = await broker.app.inject({ method: 'GET', url: '/join' });
    expect(page.body).toMatch(/<link rel="icon" href="\/favicon\.svg" type="image\/svg\+xml" \/>/);
  });

  it('GET /v1/info lists the datacenters of the manifest in force and the mode', async () => {
    const res = await broker.app.inject({ method: 'GET', url: '/v1/info' });
    const info = res.json<{ dev: boolean; datacenters: { id: string; jurisdiction: string; location: { lat: number; lon: number } }[] }>();
    expect(info.dev).toBe(true);
    expect(info.datacenters.map((d) => d.id)).toEqual(broker.ctx.policy.current.manifest.datacenters.map((d) => d.id));
    expect(info.datacenters.find((d) => d.id === 'cn-beijing')).toMatchObject({ jurisdiction: 'CN' });
  });

  it('POST /v1/invites/preview gives the title behind a valid invite, and the invite codes otherwise', async () => {
    const account = await post('/v1/accounts', ADMIN_TOKEN, { name: 'Acme', homeCountry: 'US' });
    const apiKey = String(account.body.apiKey);
    const meeting = await post('/v1/meetings', apiKey, { title: 'Weekly sync' });
    const invite = await post(`/v1/meetings/${String(meeting.body.id)}/invites`, apiKey, {});
    expect(await post('/v1/invites/preview', undefined, { invite: invite.body.invite })).toEqual({ status: 200, body: { meeting: meeting.body.id, title: 'Weekly sync' } });
    expect((await post('/v1/invites/preview', undefined, { invite: 'not.a.jwt' })).body.code).toBe('INVITE_INVALID');
    broker.advance(2 * 86_400_000);
    expect((await post('/v1/invites/preview', undefined, { invite: invite.body.invite })).body.code).toBe('INVITE_EXPIRED');
  });
});
