import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compilePolicy } from '../../core/policy/compile.js';
import { allowedJurisdictions, isRefusal, selectRoute } from '../../core/select/select.js';
import type { ConsoleWhatIf } from '../../protocol/console-answers.js';
import { buildAuditReport } from '../audit/report.js';
import { buildBrokerApp } from '../app.js';
import { recordAudit } from '../context.js';
import { brokerApi } from '../broker-api.fixture.js';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../test-broker.fixture.js';

let broker: TestBroker;
const api = brokerApi(() => broker);

beforeAll(async () => {
  broker = await startTestBroker();
});
afterAll(async () => {
  await broker.close();
});

interface Session {
  readonly cookie: string;
  readonly csrf: string;
}

async function login(on: TestBroker = broker): Promise<Session> {
  const res = await on.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
  expect(res.statusCode, res.body).toBe(200);
  const setCookie = String(res.headers['set-cookie']);
  return { cookie: setCookie.split(';')[0] ?? '', csrf: res.json<{ csrf: string }>().csrf };
}

async function heartbeat(on: TestBroker, datacenter: string, draining = false): Promise<void> {
  const res = await on.app.inject({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: await on.signAs(datacenter, { kind: 'heartbeat', participants: 0, cpu: 0.1, draining }) } });
  expect(res.statusCode, res.body).toBe(200);
}

interface Overview {
  policyVersion: number;
  datacenters: { id: string; state: string; participants: number; capacity: number; utilization: number; meetings: number }[];
  relays: unknown[];
}

/** An open /v1/console/events stream over a real socket. */
interface EventStream {
  /** The next `overview` event's data, parsed. */
  next(timeoutMs?: number): Promise<Overview>;
  readonly ended: Promise<void>;
  readonly response: IncomingMessage;
  close(): void;
}

async function openEvents(on: TestBroker, cookie: string): Promise<EventStream> {
  const address = on.app.server.address() as AddressInfo | null;
  const port = address?.port ?? ((await on.app.listen({ port: 0, host: '127.0.0.1' })) && (on.app.server.address() as AddressInfo).port);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/console/events', headers: { cookie } }, (response) => {
      let buffer = '';
      const events: Overview[] = [];
      const waiters: ((o: Overview) => void)[] = [];
      const ended = new Promise<void>((done) => response.on('end', done).on('close', done));
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const data = /^event: overview\ndata: (.*)$/.exec(block)?.[1];
          if (data === undefined) continue;
          const overview = JSON.parse(data) as Overview;
          const waiter = waiters.shift();
          if (waiter) waiter(overview);
          else events.push(overview);
        }
      });
      resolve({
        response,
        ended,
        next: (timeoutMs = 3000) =>
          new Promise((done, fail) => {
            const queued = events.shift();
            if (queued) {
              done(queued);
              return;
            }
            const timer = setTimeout(() => {
              fail(new Error('no overview event'));
            }, timeoutMs);
            waiters.push((o) => {
              clearTimeout(timer);
              done(o);
            });
          }),
        close: () => {
          req.destroy();
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const withinMs = <T>(promise: Promise<T>, ms: number): Promise<T> =>
  Promise.race([promise, new Promise<never>((_done, fail) => {
      setTimeout(() => {
        fail(new Error(`not within ${String(ms)} ms`));
      }, ms);
    })]);

describe('console sessions', () => {
  it('signs in with the admin token: an HttpOnly, SameSite=Strict cookie on /, 8 h, not Secure on an http issuer', async () => {
    const res = await broker.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^geobridge_console=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=28800$/);
    expect(cookie).not.toContain('Secure');
    const { csrf } = res.json<{ csrf: string }>();
    expect(csrf.length).toBeGreaterThanOrEqual(32);
    const session = await broker.app.inject({ method: 'GET', url: '/v1/console/session', headers: { cookie: cookie.split(';')[0] } });
    expect(session.statusCode).toBe(200);
    expect(session.json()).toEqual({ csrf, expiresAt: new Date(broker.ctx.now().getTime() + 8 * 3600_000).toISOString() });
    expect((await broker.ctx.audit.read()).some((r) => r.type === 'admin.action' && r.data.action === 'console.login')).toBe(true);
  });

  it('adds Secure on an https issuer', async () => {
    const other = await startTestBroker({ config: { issuer: 'https://broker.example' } });
    try {
      const res = await other.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
      expect(String(res.headers['set-cookie'])).toMatch(/; Secure$/);
    } finally {
      await other.close();
    }
  });

  it('refuses a wrong token with 401 and no cookie, never echoing it, and counts it as a failure of the address', async () => {
    const other = await startTestBroker({ config: { rateLimits: { requests: 600, invites: 120, failures: 2, presence: 120 } } });
    try {
      for (let i = 0; i < 2; i += 1) {
        const res = await other.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: 'wrong-token-secret-123' } });
        expect(res.statusCode).toBe(401);
        expect(res.json<{ code: string }>().code).toBe('UNAUTHORIZED');
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(res.body).not.toContain('wrong-token-secret-123');
      }
      const limited = await other.app.inject({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
      expect(limited.statusCode).toBe(429);
    } finally {
      await other.close();
    }
  });

  it('logs neither the token of a sign-in nor the session cookie', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = { level: 'trace', stream };
    const other = await startTestBroker();
    const logged = await buildBrokerApp(other.ctx, { logger });
    try {
      const ok = await logged.inject({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
      expect(ok.statusCode).toBe(200);
      const id = String(ok.headers['set-cookie']).split(';')[0]?.split('=')[1] ?? '';
      await logged.inject({ method: 'GET', url: '/v1/console/session', headers: { cookie: `geobridge_console=${id}` } });
      await logged.inject({ method: 'POST', url: '/v1/console/login', payload: { token: 'wrong-token-secret-456' } });
      const text = lines.join('');
      expect(text).toContain('/v1/console/login'); // the capture works
      expect(text).not.toContain(ADMIN_TOKEN);
      expect(text).not.toContain('wrong-token-secret-456');
      expect(text).not.toContain(id);
    } finally {
      await logged.close();
      await other.close();
    }
  });

  it('answers 401 on every console route without a valid session cookie', async () => {
    const routes = [
      ['POST', '/v1/console/logout'],
      ['GET', '/v1/console/session'],
      ['GET', '/v1/console/overview'],
      ['GET', '/v1/console/events'],
      ['GET', '/v1/console/meetings'],
      ['POST', '/v1/console/meetings/mtg_x/end'],
      ['GET', '/v1/console/fences/countries/DE'],
      ['GET', '/v1/console/fences/datacenters/eu-central'],
      ['GET', '/v1/console/audit/report?from=2020-01-01&to=2030-01-01'],
      ['GET', '/v1/console/audit/records?from=2020-01-01&to=2030-01-01'],
      ['GET', '/v1/console/audit/integrity'],
      ['POST', '/v1/console/audit/verify'],
      ['POST', '/v1/console/manifest/review'],
      ['POST', '/v1/console/manifest/apply'],
      ['GET', '/v1/console/manifest/history'],
      ['GET', '/v1/console/what-if?down=cn-beijing'],
    ] as const;
    for (const cookie of [undefined, 'geobridge_console=forged', 'other=1']) {
      for (const [method, url] of routes) {
        const res = await broker.app.inject({ method, url, headers: cookie === undefined ? {} : { cookie } });
        expect(res.statusCode, `${method} ${url} with ${String(cookie)}`).toBe(401);
        expect(res.json<{ code: string }>().code).toBe('UNAUTHORIZED');
      }
    }
  });

  it('refuses a POST with the cookie but without the right x-csrf-token (CSRF_INVALID), and logout ends the session', async () => {
    const { cookie, csrf } = await login();
    for (const headers of [{ cookie }, { cookie, 'x-csrf-token': 'wrong' }, { cookie, 'x-csrf-token': `${csrf}x` }]) {
      for (const url of ['/v1/console/logout', '/v1/console/meetings/mtg_x/end']) {
        const res = await broker.app.inject({ method: 'POST', url, headers });
        expect(res.statusCode, url).toBe(403);
        expect(res.json<{ code: string }>().code).toBe('CSRF_INVALID');
      }
    }
    expect((await broker.app.inject({ method: 'GET', url: '/v1/console/session', headers: { cookie } })).statusCode).toBe(200);
    const out = await broker.app.inject({ method: 'POST', url: '/v1/console/logout', headers: { cookie, 'x-csrf-token': csrf } });
    expect(out.statusCode).toBe(200);
    expect(out.json()).toEqual({ loggedOut: true });
    expect(String(out.headers['set-cookie'])).toMatch(/^geobridge_console=; HttpOnly; SameSite=Strict; Path=\/; Max-Age=0$/);
    expect((await broker.app.inject({ method: 'GET', url: '/v1/console/session', headers: { cookie } })).statusCode).toBe(401);
  });

  it('a session expires 8 h after sign-in', async () => {
    const { cookie } = await login();
    broker.advance(8 * 3600_000 - 1);
    expect((await broker.app.inject({ method: 'GET', url: '/v1/console/session', headers: { cookie } })).statusCode).toBe(200);
    broker.advance(1);
    expect((await broker.app.inject({ method: 'GET', url: '/v1/console/session', headers: { cookie } })).statusCode).toBe(401);
  });
});

describe('the console overview', () => {
  it('lists the datacenters of the manifest: up when its bridge reports, down when it never did, draining when it says so', async () => {
    const other = await startTestBroker({ config: { dev: true } }); // dev routes to silent datacenters; the console still shows them down
    try {
      const { cookie } = await login(other);
      const [first, second] = other.ctx.policy.current.manifest.datacenters;
      await heartbeat(other, first?.id ?? '');
      await heartbeat(other, second?.id ?? '', true);
      const res = await other.app.inject({ method: 'GET', url: '/v1/console/overview', headers: { cookie } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const overview = res.json<Overview>();
      expect(overview.policyVersion).toBe(other.ctx.policy.current.version);
      expect(overview.datacenters.map((d) => d.id)).toEqual(other.ctx.policy.current.manifest.datacenters.map((d) => d.id));
      expect(overview.datacenters[0]).toMatchObject({ id: first?.id, state: 'up', participants: 0, utilization: 0, meetings: 0, capacity: first?.capacity });
      expect(overview.datacenters[1]).toMatchObject({ state: 'draining' });
      expect(overview.datacenters.slice(2).every((d) => d.state === 'down')).toBe(true);
      expect(overview.relays).toEqual([]);
      // Silent past the heartbeat timeout: down again.
      other.advance(5001);
      const later = (await other.app.inject({ method: 'GET', url: '/v1/console/overview', headers: { cookie } })).json<Overview>();
      expect(later.datacenters[0]?.state).toBe('down');
    } finally {
      await other.close();
    }
  });

  it('counts admitted participants and their meetings per datacenter', async () => {
    await api.allBridgesUp();
    const { apiKey } = await api.account();
    const m = await api.meeting(apiKey, { title: 'Counted' });
    const { datacenter } = await api.routeAndAdmit(apiKey, m);
    const { cookie } = await login();
    const overview = (await broker.app.inject({ method: 'GET', url: '/v1/console/overview', headers: { cookie } })).json<Overview>();
    const dc = overview.datacenters.find((d) => d.id === datacenter);
    expect(dc).toMatchObject({ state: 'up', participants: 1, meetings: 1 });
    expect(dc?.utilization).toBeCloseTo(1 / (dc?.capacity ?? 1));
  });

  it('reads the store once per overview, however many datacenters the manifest has (the event streams ask 4 times a second)', async () => {
    const { cookie } = await login();
    const counted = vi.spyOn(broker.ctx.store, 'countParticipants');
    const listed = vi.spyOn(broker.ctx.store, 'listParticipantsAt');
    try {
      expect((await broker.app.inject({ method: 'GET', url: '/v1/console/overview', headers: { cookie } })).statusCode).toBe(200);
      expect([counted.mock.calls.length, listed.mock.calls.length]).toEqual([1, 0]);
    } finally {
      counted.mockRestore();
      listed.mockRestore();
    }
  });
});

describe('the console event stream', () => {
  it('sends the overview on connect and on every change, and closes on logout', async () => {
    const other = await startTestBroker();
    try {
      const { cookie, csrf } = await login(other);
      const events = await openEvents(other, cookie);
      expect(events.response.statusCode).toBe(200);
      expect(events.response.headers['content-type']).toContain('text/event-stream');
      expect(events.response.headers['cache-control']).toBe('no-store');
      const first = await events.next();
      const id = first.datacenters[0]?.id ?? '';
      expect(first.datacenters[0]?.state).toBe('down');
      await heartbeat(other, id);
      expect((await events.next()).datacenters[0]?.state).toBe('up');
      await heartbeat(other, id, true);
      expect((await events.next()).datacenters[0]?.state).toBe('draining');
      // Nothing changed: nothing sent.
      await expect(events.next(600)).rejects.toThrow('no overview event');
      const out = await other.app.inject({ method: 'POST', url: '/v1/console/logout', headers: { cookie, 'x-csrf-token': csrf } });
      expect(out.statusCode).toBe(200);
      await withinMs(events.ended, 2000);
    } finally {
      await other.close();
    }
  });

  it('closes when the session expires', async () => {
    const other = await startTestBroker();
    try {
      const { cookie } = await login(other);
      const events = await openEvents(other, cookie);
      await events.next();
      other.advance(8 * 3600_000);
      await withinMs(events.ended, 2000);
    } finally {
      await other.close();
    }
  });

  it('does not hold up the broker closing', async () => {
    const other = await startTestBroker();
    const { cookie } = await login(other);
    const events = await openEvents(other, cookie);
    await events.next();
    await withinMs(other.close(), 3000);
    await withinMs(events.ended, 1000);
  });
});

describe('console meetings', () => {
  it('lists live meetings with admitted participants, ends one as the host would, audited', async () => {
    await api.allBridgesUp();
    const { id: accountId, apiKey } = await api.account({ name: 'Console Co', homeCountry: 'US' });
    const m = await api.meeting(apiKey, { title: 'AAA console meeting' });
    const { participant, datacenter } = await api.routeAndAdmit(apiKey, m);
    const { cookie, csrf } = await login();
    const res = await broker.app.inject({ method: 'GET', url: '/v1/console/meetings', headers: { cookie } });
    expect(res.statusCode).toBe(200);
    const { meetings } = res.json<{ meetings: { id: string; title: string }[] }>();
    expect(meetings.map((x) => x.title)).toEqual([...meetings.map((x) => x.title)].sort());
    expect(meetings.find((x) => x.id === m)).toEqual({
      id: m,
      title: 'AAA console meeting',
      account: accountId,
      datacenter,
      participants: [{ id: participant, country: 'US', datacenter }],
      relays: [],
      cascade: false,
      e2ee: null,
    });
    // Its bridge reports the group it orders: the console shows the epoch and members; a report without it, nothing.
    const e2eeNow = async (groups?: { meeting: string; epoch: number; members: number }[]) => {
      const beat = await broker.app.inject({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: await broker.signAs(datacenter, { kind: 'heartbeat', participants: 1, cpu: 0.1, draining: false, ...(groups ? { groups } : {}) }) } });
      expect(beat.statusCode, beat.body).toBe(200);
      const list = (await broker.app.inject({ method: 'GET', url: '/v1/console/meetings', headers: { cookie } })).json<{ meetings: { id: string; e2ee: unknown }[] }>();
      return list.meetings.find((x) => x.id === m)?.e2ee;
    };
    expect(await e2eeNow([{ meeting: 'mtg_other', epoch: 9, members: 2 }, { meeting: m, epoch: 4, members: 1 }])).toEqual({ epoch: 4, members: 1 });
    expect(await e2eeNow()).toBeNull();
    const bad = await broker.app.inject({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: await broker.signAs(datacenter, { kind: 'heartbeat', participants: 1, cpu: 0.1, draining: false, groups: [{ meeting: m, epoch: -1, members: 1 }] }) } });
    expect(bad.statusCode).toBe(400);

    const ended = await broker.app.inject({ method: 'POST', url: `/v1/console/meetings/${m}/end`, headers: { cookie, 'x-csrf-token': csrf } });
    expect(ended.statusCode, ended.body).toBe(200);
    expect(ended.json()).toEqual({ ended: true });
    const shown = await broker.app.inject({ method: 'GET', url: `/v1/meetings/${m}`, headers: { authorization: `Bearer ${apiKey}` } });
    expect(shown.json()).toMatchObject({ endedReason: 'ended by the operator in the console' });
    const records = await broker.ctx.audit.read();
    expect(records.some((r) => r.type === 'meeting.ended' && r.data.meeting === m && r.data.reason === 'ended by the operator in the console')).toBe(true);
    expect(records.some((r) => r.type === 'admin.action' && r.data.action === 'console.end-meeting' && r.data.target === m)).toBe(true);
    const after = (await broker.app.inject({ method: 'GET', url: '/v1/console/meetings', headers: { cookie } })).json<{ meetings: { id: string }[] }>();
    expect(after.meetings.some((x) => x.id === m)).toBe(false);
  });

  it('ends a meeting nobody joined, and answers 404 for an unknown one', async () => {
    const { apiKey } = await api.account();
    const m = await api.meeting(apiKey, { title: 'Empty' });
    const { cookie, csrf } = await login();
    const list = (await broker.app.inject({ method: 'GET', url: '/v1/console/meetings', headers: { cookie } })).json<{ meetings: { id: string }[] }>();
    expect(list.meetings.some((x) => x.id === m)).toBe(false);
    const ended = await broker.app.inject({ method: 'POST', url: `/v1/console/meetings/${m}/end`, headers: { cookie, 'x-csrf-token': csrf } });
    expect(ended.statusCode).toBe(200);
    expect((await broker.ctx.store.getMeeting(m))?.endedAt).toBeDefined();
    const unknown = await broker.app.inject({ method: 'POST', url: '/v1/console/meetings/mtg_nope/end', headers: { cookie, 'x-csrf-token': csrf } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json<{ code: string }>().code).toBe('NOT_FOUND');
  });
});

describe('console fences', () => {
  it('answer where a country may be with the decider’s own jurisdictions, and which countries may use a datacenter', async () => {
    const { cookie } = await login();
    const manifest = broker.ctx.policy.current.manifest;
    const de = (await broker.app.inject({ method: 'GET', url: '/v1/console/fences/countries/de', headers: { cookie } })).json<{ country: string; fences: { name: string }[]; jurisdictions: string[]; datacenters: { id: string }[] }>();
    expect(de.country).toBe('DE');
    expect(de.jurisdictions).toEqual(allowedJurisdictions(manifest, { country: 'DE' }));
    expect(de.jurisdictions).toEqual(expect.arrayContaining(['DE', 'FR', 'GB', 'JP']));
    expect(de.jurisdictions).not.toContain('US');
    expect(de.fences.map((f) => f.name)).toEqual(['nobody-else-into-china', 'eea-stays-in-eea-or-adequate']);
    expect(de.datacenters.map((d) => d.id)).toContain('eu-central');
    expect(de.datacenters.map((d) => d.id)).not.toContain('us-east');
    const beijing = (await broker.app.inject({ method: 'GET', url: '/v1/console/fences/datacenters/cn-beijing', headers: { cookie } })).json<{ countries: string[] }>();
    expect(beijing.countries).toEqual(['CN']);
    const tokyo = (await broker.app.inject({ method: 'GET', url: '/v1/console/fences/datacenters/ap-tokyo', headers: { cookie } })).json<{ countries: string[] }>();
    expect(tokyo.countries).toEqual(expect.arrayContaining(['DE', 'JP', 'US']));
    expect(tokyo.countries).not.toContain('CN');
    expect((await broker.app.inject({ method: 'GET', url: '/v1/console/fences/datacenters/nowhere', headers: { cookie } })).statusCode).toBe(404);
    const bad = await broker.app.inject({ method: 'GET', url: '/v1/console/fences/countries/ZZ', headers: { cookie } });
    expect([bad.statusCode, bad.json<{ code: string }>().code]).toEqual([400, 'INVALID_COUNTRY']);
  });
});

describe('console audit', () => {
  it('reports a period as `audit report` does, finds records by type and datacenter, and verifies the log (CSRF required)', async () => {
    const { cookie, csrf } = await login();
    await heartbeat(broker, 'eu-central');
    // Media relayed between datacenters, one participant's encrypted and one's not.
    const hop = { meeting: 'm-relayed', from: 'eu-central', to: 'us-east', fromJurisdiction: 'DE', jurisdiction: 'US', country: null, participant: null };
    await recordAudit(broker.ctx, 'relay.opened', { ...hop, e2ee: true });
    await recordAudit(broker.ctx, 'relay.opened', { ...hop, e2ee: false });
    const range = 'from=2000-01-01&to=2100-01-01';
    const report = (await broker.app.inject({ method: 'GET', url: `/v1/console/audit/report?${range}`, headers: { cookie } })).json<{ total: { records: { total: number; byType: { type: string; count: number }[] }; relays: { total: number; unencrypted: number } } }>();
    const expected = buildAuditReport(await broker.ctx.audit.read(), { from: '2000-01-01T00:00:00.000Z', to: '2100-01-01T00:00:00.000Z' });
    expect(report.total.records).toEqual({ total: expected.total.records.total, byType: expected.total.records.byType });
    expect(report.total.records.total).toBeGreaterThan(0);
    expect(report.total.relays).toEqual({ total: expected.total.relays.total, unencrypted: 1 });
    expect(report.total.relays.total).toBe(2);
    const enrolled = (await broker.app.inject({ method: 'GET', url: `/v1/console/audit/records?${range}&type=bridge.enrolled&datacenter=eu-central`, headers: { cookie } })).json<{ total: number; records: { type: string; data: { datacenter: string } }[] }>();
    expect(enrolled.total).toBeGreaterThan(0);
    expect(enrolled.records.every((r) => r.type === 'bridge.enrolled' && r.data.datacenter === 'eu-central')).toBe(true);
    const none = (await broker.app.inject({ method: 'GET', url: `/v1/console/audit/records?${range}&type=bridge.enrolled&datacenter=nowhere`, headers: { cookie } })).json<{ total: number }>();
    expect(none.total).toBe(0);
    const badRange = await broker.app.inject({ method: 'GET', url: '/v1/console/audit/report?from=2030-01-01&to=2020-01-01', headers: { cookie } });
    expect(badRange.statusCode).toBe(400);
    expect((await broker.app.inject({ method: 'POST', url: '/v1/console/audit/verify', headers: { cookie } })).statusCode).toBe(403);
    const verified = (await broker.app.inject({ method: 'POST', url: '/v1/console/audit/verify', headers: { cookie, 'x-csrf-token': csrf } })).json<{ logs: { log: string | null; verified?: { ok: boolean; count?: number } }[] }>();
    expect(verified.logs[0]).toMatchObject({ log: null, verified: { ok: true } });
  });
});

describe('console manifest review', () => {
  it('reviews a manifest without changing anything, refuses to apply one with errors, applies a clean one, and lists the history', async () => {
    const { cookie, csrf } = await login();
    const read = (name: string): string => readFileSync(join(import.meta.dirname, '../../../examples', name), 'utf8');
    const post = (url: string, text: string, token = csrf, version?: number) => broker.app.inject({ method: 'POST', url, headers: { cookie, 'x-csrf-token': token }, payload: { text, ...(version === undefined ? {} : { version }) } });
    const before = broker.ctx.policy.current.version;
    const incident = (await post('/v1/console/manifest/review', read('incident-2020.yaml'))).json<{ clean: boolean; version: number; diagnostics: { severity: string; code: string; line: number }[] }>();
    expect(incident.version).toBe(before);
    expect(incident.clean).toBe(false);
    expect(incident.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code)).toContain('GB_FENCE_CROSSED');
    expect((await post('/v1/console/manifest/review', read('incident-2020.yaml'), 'wrong')).statusCode).toBe(403);
    const refused = await post('/v1/console/manifest/apply', read('incident-2020.yaml'), csrf, before);
    expect([refused.statusCode, refused.json<{ code: string }>().code]).toEqual([422, 'MANIFEST_REJECTED']);
    expect(broker.ctx.policy.current.version).toBe(before);
    const fixed = (await post('/v1/console/manifest/review', read('incident-2020-fixed.yaml'))).json<{ clean: boolean; version: number; diff: unknown }>();
    expect(fixed.clean).toBe(true);
    expect(fixed.diff).not.toBeNull();
    expect(broker.ctx.policy.current.version).toBe(before);
    // Apply says which review it applies: without it, nothing is applied.
    expect((await post('/v1/console/manifest/apply', read('incident-2020-fixed.yaml'))).statusCode).toBe(400);
    const applied = (await post('/v1/console/manifest/apply', read('incident-2020-fixed.yaml'), csrf, fixed.version)).json<{ version: number }>();
    expect(applied.version).toBe(before + 1);
    // A second apply of that review would land on the version the first made, not the one its diff was against.
    const stale = await post('/v1/console/manifest/apply', read('incident-2020-fixed.yaml'), csrf, fixed.version);
    expect([stale.statusCode, stale.json<{ code: string }>().code]).toEqual([412, 'MANIFEST_CHANGED']);
    expect(broker.ctx.policy.current.version).toBe(before + 1);
    const history = (await broker.app.inject({ method: 'GET', url: '/v1/console/manifest/history', headers: { cookie } })).json<{ current: number; manifests: { version: number; actor: string }[] }>();
    expect(history.current).toBe(before + 1);
    expect(history.manifests[0]).toMatchObject({ version: before + 1, actor: 'admin (console)' });
  });
});

describe('console what-if', () => {
  it('says, from the decider, who would be refused or moved with datacenters down, and changes nothing', async () => {
    const { cookie } = await login();
    const manifest = broker.ctx.policy.current.manifest;
    const down = ['cn-beijing', 'cn-shanghai', 'eu-central'];
    const answer = (await broker.app.inject({ method: 'GET', url: `/v1/console/what-if?down=${down.join(',')}`, headers: { cookie } })).json<ConsoleWhatIf>();
    const first = (country: string, off: readonly string[]): string | null => {
      const route = selectRoute(manifest, { country }, { down: new Set(off) });
      return isRefusal(route) ? null : (route.candidates[0]?.datacenter ?? null);
    };
    const cn = answer.countries.find((c) => c.country === 'CN');
    expect(cn).toMatchObject({ before: first('CN', []), after: null });
    expect(cn?.refusal).toBeDefined();
    expect(answer.countries.find((c) => c.country === 'DE')).toEqual({ country: 'DE', before: 'eu-central', after: first('DE', down) });
    // Exactly the countries whose first datacenter the decider changes.
    const changed = ['CN', 'DE', 'US', 'FR', 'JP'].filter((c) => first(c, []) !== first(c, down));
    for (const c of changed) expect(answer.countries.map((x) => x.country)).toContain(c);
    expect(answer.countries.map((x) => x.country)).not.toContain('US');
    expect(answer.firstChoices.find((l) => l.datacenter === 'eu-central')?.after).toBe(0);
    expect(answer.simulation.after.datacenters.filter((d) => down.includes(d.datacenter)).map((d) => d.participants)).toEqual([0, 0, 0]);
    expect(answer.simulation.after.refused.map((r) => r.country)).toContain('CN');
  });

  it("runs the simulator at each zone's forecast, and with a zone's demand raised shows the load spill, who is refused and the capacity missing", async () => {
    const { cookie } = await login();
    const manifest = broker.ctx.policy.current.manifest;
    const get = async (query: string): Promise<ConsoleWhatIf> => {
      const res = await broker.app.inject({ method: 'GET', url: `/v1/console/what-if${query}`, headers: { cookie } });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<ConsoleWhatIf>();
    };
    const nothing = await get('');
    expect(nothing.zones).toEqual(manifest.zones.map((z) => ({ zone: z.id, forecast: z.demand ?? 0, demand: z.demand ?? 0 })));
    expect(nothing.simulation.after).toEqual(nothing.simulation.before); // the same inputs, the same deterministic run
    expect(nothing.simulation.before.refused).toEqual([]); // world.yaml carries its forecasts
    const europe = manifest.zones.find((z) => z.id === 'europe');
    if (!europe) throw new Error('the manifest in force has no europe zone');
    const raised = (europe.demand ?? 0) * 3;
    const answer = await get(`?down=eu-central&demand=europe:${raised}`);
    expect(answer.zones.find((z) => z.zone === 'europe')).toEqual({ zone: 'europe', forecast: europe.demand, demand: raised });
    const dc = (s: ConsoleWhatIf['simulation']['before'], id: string) => s.datacenters.find((d) => d.datacenter === id)?.participants ?? 0;
    expect(dc(answer.simulation.after, 'eu-central')).toBe(0);
    expect(dc(answer.simulation.after, 'eu-west')).toBeGreaterThan(dc(answer.simulation.before, 'eu-west'));
    // Full, never past maxUtilization.
    for (const d of answer.simulation.after.datacenters) expect(d.participants).toBeLessThanOrEqual(Math.ceil(d.capacity * manifest.selection.maxUtilization));
    const europeans = new Set([...compilePolicy(manifest).countriesOf(europe)]);
    // Europeans are refused (others may be too: Europe's neighbours spill into datacenters other zones need).
    expect(answer.simulation.after.refused.filter((r) => europeans.has(r.country)).length).toBeGreaterThan(0);
    for (const r of answer.simulation.after.refused) expect(r.code).toBe('NO_CAPACITY_IN_FENCE');
    expect(answer.simulation.after.shortfall.map((s) => s.zone)).toContain('europe');
    // The what-if is read-only: the forecast run after it is what it was.
    expect((await get('')).simulation).toEqual(nothing.simulation);
  });

  it.each([
    ['down=atlantis', /down: not datacenters of the manifest in force: atlantis/],
    ['demand=europe', /demand: 'europe' is not zone:participants/],
    ['demand=europe:-5', /demand: 'europe:-5' is not zone:participants/],
    ['demand=atlantis:5', /demand: 'atlantis' is not a zone of the manifest in force/],
    ['demand=europe:99999999999', /more than 1,000,000,000/],
  ])('refuses %s with a 400 that names the mistake', async (query, message) => {
    const { cookie } = await login();
    const bad = await broker.app.inject({ method: 'GET', url: `/v1/console/what-if?${query}`, headers: { cookie } });
    expect(bad.statusCode).toBe(400);
    const error = bad.json<{ code: string; message: string }>();
    expect(error.code).toBe('VALIDATION');
    expect(error.message).toMatch(message);
  });
});

