// The broker's HTTP contract through inject(): happy paths, every refusal,
// malformed input (4xx with a code, never 500), forged tokens, spoofed
// headers, bridge attestation, placement races, manifest changes, audit.
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashLeaf, verifyInclusion } from '../translog/index.js';
import { leafEntry, verifyChain } from './audit/audit-log.js';
import { checkInclusionPromise, type InclusionPromise } from './audit/tree-heads.js';
import { ephemeralLogKey } from './log-key.js';
import { KeyRing } from './keys.js';
import { MemoryStore } from './store/memory-store.js';
import { admin, brokerApi } from './broker-api.fixture.js';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from './test-broker.fixture.js';
import { verifyRouteTicket } from '../protocol/route-ticket.js';
import { issueJoinToken } from './tickets.js';
import { decided } from './route-answer.fixture.js';

let broker: TestBroker;

beforeEach(async () => {
  broker = await startTestBroker();
});
afterEach(async () => {
  await broker.close();
});

const { call, account, meeting, joinToken, allBridgesUp, route, ticketAt, claimWith, claim, admission, routeAndAdmit } = brokerApi(() => broker);

describe('system routes', () => {
  it('answers health, readiness, JWKS, metrics and the OpenAPI UI', async () => {
    expect((await call({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await call({ method: 'GET', url: '/readyz' })).json()).toMatchObject({ status: 'ready', manifestVersion: 1 });
    const jwks = (await call({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: { kid: string; alg: string }[] }>();
    expect(jwks.keys[0]?.alg).toBe('EdDSA');
    expect((await call({ method: 'GET', url: '/metrics' })).body).toContain('geobridge_decisions_total');
    expect((await call({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, unknown> }>().paths).toHaveProperty('/v1/route');
    expect((await call({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('answers unknown routes with a 404 body of the error shape', async () => {
    const res = await call({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: expect.any(String) as string });
  });
});

describe('route decisions', () => {
  it('locates by IP, decides, signs a ticket, and audits before answering', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { token, participant } = await joinToken(apiKey, m);
    const res = await route(token);
    expect(res.statusCode, res.body).toBe(200);
    const body = decided(res.json<{ ticket: string }>());
    expect(body.country).toBe('US');
    expect(body.candidates.map((c) => c.jurisdiction)).not.toContain('CN');
    const claims = await verifyRouteTicket(broker.ctx.keys, body.ticket, { now: broker.ctx.now(), datacenter: body.candidates[0]?.datacenter ?? '', jurisdiction: { code: 'US', manifests: broker.ctx.policy.manifestBySha256 } });
    expect(claims).toMatchObject({ sub: participant, meeting: m, decision: body.decisionId, candidates: body.candidates.map((c) => c.datacenter) });
    const records = await broker.ctx.audit.read();
    expect(records.find((r) => r.type === 'route.decision')?.data).toMatchObject({ decisionId: body.decisionId, participant, country: 'US' });
  });

  it("answers with the log's signed promise that the decision is in it, which the log's proofs then bear out", async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const { token } = await joinToken(apiKey, await meeting(apiKey));
    const body = decided((await route(token)).json<{ ticket: string; receipt: InclusionPromise }>());
    const { receipt } = body;
    const decision = { decisionId: body.decisionId, manifestSha256: body.manifestSha256, country: body.country, candidates: body.candidates };
    expect(checkInclusionPromise(receipt, decision, broker.ctx.logKey.publicKey, broker.ctx.logKey.keyId)).toBeUndefined();
    expect(body.manifestSha256).toBe(broker.ctx.policy.current.sha256);
    const [record] = await broker.ctx.audit.read({ from: receipt.index + 1, to: receipt.index + 1 });
    expect(record).toMatchObject({ type: 'route.decision', hash: receipt.recordHash, data: { decisionId: body.decisionId } });
    // A promise over another index or hash, for another decision or route, or from another log, is not this one.
    expect(checkInclusionPromise({ ...receipt, index: receipt.index + 1 }, decision, broker.ctx.logKey.publicKey, broker.ctx.logKey.keyId)).toMatch(/does not verify/);
    expect(checkInclusionPromise(receipt, { ...decision, decisionId: 'dec_other' }, broker.ctx.logKey.publicKey, broker.ctx.logKey.keyId)).toMatch(/does not verify/);
    expect(checkInclusionPromise(receipt, { ...decision, country: 'CN' }, broker.ctx.logKey.publicKey, broker.ctx.logKey.keyId)).toMatch(/does not verify/);
    expect(checkInclusionPromise(receipt, { ...decision, candidates: [...decision.candidates].reverse() }, broker.ctx.logKey.publicKey, broker.ctx.logKey.keyId)).toMatch(/does not verify/);
    const other = await ephemeralLogKey();
    expect(checkInclusionPromise(receipt, decision, other.publicKey, other.keyId)).toMatch(/not the log key/);
    // The next signed head covers it, and the log proves it there.
    const sth = await broker.ctx.treeHeads.refresh();
    const proof = (await call({ method: 'GET', url: `/v1/log/proof?index=${String(receipt.index)}` })).json<{ proof: string[] }>();
    const head = { size: sth.size, rootHash: Uint8Array.from(Buffer.from(sth.rootHash, 'base64')) };
    expect(verifyInclusion(hashLeaf(leafEntry(receipt.recordHash)), receipt.index, proof.proof.map((p) => Uint8Array.from(Buffer.from(p, 'base64'))), head)).toEqual({ ok: true });
  });

  it('refuses with 503, Retry-After and NO_CAPACITY_IN_FENCE when everything in the fence is down', async () => {
    await allBridgesUp(['cn-beijing', 'cn-shanghai']);
    const { apiKey } = await account({ name: 'Acme China', homeCountry: 'CN' });
    const { token } = await joinToken(apiKey, await meeting(apiKey));
    broker.advance(6000); // China's bridges never reported; the others went silent too
    await allBridgesUp(['cn-beijing', 'cn-shanghai']);
    const res = await route(token, '1.2.4.8'); // CNNIC, mainland China
    expect(res.statusCode, res.body).toBe(503);
    expect(res.headers['retry-after']).toBe('15');
    expect(res.json()).toMatchObject({ statusCode: 503, code: 'NO_CAPACITY_IN_FENCE', error: 'Service Unavailable' });
    expect((await broker.ctx.audit.read()).some((r) => r.type === 'route.refusal' && r.data.code === 'NO_CAPACITY_IN_FENCE')).toBe(true);
  });

  it('refuses with 403 FENCE_CONFLICT a participant whose fence excludes the meeting’s datacenter', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    expect((await claim('us-east', m)).won).toBe(true);
    const { token } = await joinToken(apiKey, m);
    const res = await route(token, '1.2.4.8');
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('FENCE_CONFLICT');
  });

  it('sends later participants to the meeting’s datacenter, and re-homes when it dies', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    expect((await claim('us-west', m)).won).toBe(true);
    const first = await route((await joinToken(apiKey, m)).token);
    // The meeting's datacenter first; the participant's own ranked candidates behind it, for when it vanishes.
    expect(decided(first.json<{ ticket: string }>()).candidates.map((c) => c.datacenter)).toEqual(['us-west', 'us-east', 'ca-central', 'eu-west', 'uk-south']);
    broker.advance(6000);
    await allBridgesUp(['us-west']);
    const second = await route((await joinToken(apiKey, m)).token);
    expect(decided(second.json<{ ticket: string }>()).candidates[0]?.datacenter).not.toBe('us-west');
    const moved = await claim('us-east', m);
    expect(moved).toEqual({ won: true, datacenter: 'us-east', epoch: 2 });
    expect((await broker.ctx.audit.read()).map((r) => r.type)).toContain('placement.rehomed');
  });

  it('refuses NO_ZONE when no zone serves the country', async () => {
    const small = `version: 1
datacenters:
  a: { jurisdiction: US, location: { lat: 39, lon: -77 }, capacity: 100 }
zones:
  us: { countries: [US], primaries: [a] }
`;
    await broker.close();
    broker = await startTestBroker({ manifestText: small, config: { dev: true } });
    const { apiKey } = await account();
    const res = await route((await joinToken(apiKey, await meeting(apiKey))).token, '127.0.0.1', { payload: { country: 'DE' } });
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json<{ code: string }>().code).toBe('NO_ZONE');
  });

  it('ignores X-Forwarded-For from an untrusted peer, honours it from a trusted proxy', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const token = (await joinToken(apiKey, m)).token;
    const untrusted = await call({ method: 'POST', url: '/v1/route', remoteAddress: '8.8.8.8', headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '217.160.0.1' }, payload: {} });
    expect(decided(untrusted.json<{ ticket: string }>()).country).toBe('US');
    await broker.close();
    broker = await startTestBroker({ config: { trustedProxies: ['10.0.0.0/8'] } });
    await allBridgesUp();
    const second = await account();
    const token2 = (await joinToken(second.apiKey, await meeting(second.apiKey))).token;
    const trusted = await call({ method: 'POST', url: '/v1/route', remoteAddress: '10.1.2.3', headers: { authorization: `Bearer ${token2}`, 'x-forwarded-for': '217.160.0.1' }, payload: {} });
    expect(decided(trusted.json<{ ticket: string }>()).country).toBe('DE');
  });

  it('lets a request name its country only in dev mode', async () => {
    const { apiKey } = await account();
    const token = (await joinToken(apiKey, await meeting(apiKey))).token;
    const res = await route(token, '8.8.8.8', { payload: { country: 'DE' } });
    expect(res.statusCode).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('FORBIDDEN');
  });

  it('refuses a client it cannot locate (private address) with 422', async () => {
    const { apiKey } = await account();
    const res = await route((await joinToken(apiKey, await meeting(apiKey))).token, '10.0.0.1');
    expect(res.statusCode).toBe(422);
    expect(res.json<{ code: string }>().code).toBe('CLIENT_NOT_LOCATED');
  });
});

describe('tokens', () => {
  it('rejects forged, expired and wrong-audience join tokens with 401', async () => {
    await allBridgesUp();
    const { id, apiKey } = await account();
    const m = await meeting(apiKey);
    const other = await KeyRing.load(new MemoryStore(), () => broker.ctx.now());
    const forged = await issueJoinToken(other, { participant: 'p', meeting: m, account: id, name: 'Eve' });
    expect((await route(forged.token)).json<{ code: string }>().code).toBe('JOIN_TOKEN_INVALID');

    const good = await route((await joinToken(apiKey, m)).token);
    const ticket = good.json<{ ticket: string }>().ticket;
    const asJoin = await route(ticket);
    expect(asJoin.statusCode).toBe(401);
    expect(asJoin.json<{ code: string }>().code).toBe('JOIN_TOKEN_INVALID');

    const { token } = await joinToken(apiKey, m);
    broker.advance(11 * 60 * 1000);
    const expired = await route(token);
    expect(expired.statusCode).toBe(401);
    expect(expired.json<{ code: string }>().code).toBe('JOIN_TOKEN_EXPIRED');
  });

  it('keeps tickets valid across a key rotation', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const res = await route((await joinToken(apiKey, await meeting(apiKey))).token);
    const ticket = res.json<{ ticket: string }>().ticket;
    expect((await call({ method: 'POST', url: '/v1/admin/keys/rotate', headers: admin })).statusCode).toBe(200);
    const jwks = (await call({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: unknown[] }>();
    expect(jwks.keys).toHaveLength(2);
    await expect(verifyRouteTicket(jwks as never, ticket, { now: broker.ctx.now() })).resolves.toMatchObject({ aud: 'geobridge:bridge' });
  });

  it('publishes every key’s public half and life, for receipts checked after the JWKS dropped their key', async () => {
    const before = (await call({ method: 'GET', url: '/v1/keys/history' })).json<{ keys: { jwk: { kid: string }; state: string }[] }>().keys;
    const kid = broker.ctx.keys.currentKid;
    expect(before.find((k) => k.jwk.kid === kid)?.state).toBe('current');
    const revoked = await call({ method: 'POST', url: '/v1/admin/keys/revoke', headers: admin, payload: { kid } });
    expect(revoked.statusCode, revoked.body).toBe(200);
    const after = (await call({ method: 'GET', url: '/v1/keys/history' })).json<{ keys: { jwk: { kid: string; x: string }; state: string; revokedAt?: string }[] }>().keys;
    expect(after.length).toBe(before.length + 1);
    expect(after.find((k) => k.jwk.kid === kid)).toMatchObject({ state: 'revoked', revokedAt: expect.any(String) as unknown });
    // The revoked key left the JWKS at once; the history keeps its public half, never a private one.
    expect((await call({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: { kid: string }[] }>().keys.map((k) => k.kid)).not.toContain(kid);
    expect(Object.keys(after[0]?.jwk ?? {}).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
  });
});

describe('admin and account APIs', () => {
  it.each([undefined, 'Bearer wrong', 'Basic abc', 'Bearer'])('rejects admin calls with authorization %s', async (authorization) => {
    const res = await call({ method: 'GET', url: '/v1/accounts', headers: authorization === undefined ? {} : { authorization } });
    expect(res.statusCode).toBe(401);
    expect(res.json<{ code: string }>().code).toBe('UNAUTHORIZED');
  });

  it('creates, lists, reads and narrows accounts; rejects a narrowing that strands the home zone', async () => {
    const { id } = await account({ name: 'Acme', homeCountry: 'DE' });
    expect((await call({ method: 'GET', url: '/v1/accounts', headers: admin })).json<{ accounts: unknown[] }>().accounts).toHaveLength(1);
    expect((await call({ method: 'GET', url: `/v1/accounts/${id}`, headers: admin })).json()).toMatchObject({ id, homeCountry: 'DE' });
    const narrowed = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['EEA'] } });
    expect(narrowed.statusCode, narrowed.body).toBe(200);
    expect(narrowed.json<{ allowedJurisdictions: string[] }>().allowedJurisdictions).toContain('DE');
    const stranded = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['BR'] } });
    expect(stranded.statusCode).toBe(422);
    expect(stranded.json<{ code: string; message: string }>()).toMatchObject({ code: 'POLICY_STRANDS_HOME_ZONE' });
    expect((await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { plan: 'gold' } })).json<{ code: string }>().code).toBe('UNKNOWN_PLAN');
    expect((await call({ method: 'GET', url: '/v1/accounts/acc_nope', headers: admin })).statusCode).toBe(404);
  });

  it('applies an account’s data routing control to its participants (ACCOUNT exclusions)', async () => {
    await allBridgesUp();
    const { apiKey } = await account({ name: 'Acme', homeCountry: 'US', allowedJurisdictions: ['US'] });
    // `excluded` comes only with ?explain=true (the hot path leaves it out).
    const res = await route((await joinToken(apiKey, await meeting(apiKey))).token, '8.8.8.8', { url: '/v1/route?explain=true' });
    const body = res.json<{ candidates: { jurisdiction: string }[]; excluded: { datacenter: string; reason: string }[] }>();
    expect(new Set(body.candidates.map((c) => c.jurisdiction))).toEqual(new Set(['US']));
    expect(body.excluded).toContainEqual({ datacenter: 'ca-central', reason: 'ACCOUNT' });
  });

  it('hides other accounts’ meetings, ends meetings, refuses tokens for ended ones', async () => {
    const a = await account();
    const b = await account({ name: 'Other', homeCountry: 'US' });
    const m = await meeting(a.apiKey);
    expect((await call({ method: 'GET', url: `/v1/meetings/${m}`, headers: { authorization: `Bearer ${b.apiKey}` } })).statusCode).toBe(404);
    expect((await call({ method: 'GET', url: `/v1/meetings/${m}`, headers: { authorization: `Bearer ${a.apiKey}` } })).json()).toMatchObject({ id: m, participants: 0 });
    expect((await call({ method: 'DELETE', url: `/v1/meetings/${m}`, headers: { authorization: `Bearer ${a.apiKey}` } })).statusCode).toBe(204);
    const res = await call({ method: 'POST', url: `/v1/meetings/${m}/join-tokens`, headers: { authorization: `Bearer ${a.apiKey}` }, payload: { name: 'x' } });
    expect(res.statusCode).toBe(410);
  });
});

describe('malformed input never gives a 500', () => {
  it.each<[string, InjectOptions]>([
    ['unknown field', { method: 'POST', url: '/v1/accounts', headers: admin, payload: { name: 'A', homeCountry: 'US', color: 'red' } }],
    ['wrong type', { method: 'POST', url: '/v1/accounts', headers: admin, payload: { name: 5, homeCountry: 'US' } }],
    ['bad country pattern', { method: 'POST', url: '/v1/accounts', headers: admin, payload: { name: 'A', homeCountry: 'usa' } }],
    ['invalid JSON', { method: 'POST', url: '/v1/accounts', headers: { ...admin, 'content-type': 'application/json' }, payload: '{"name":' }],
    ['unsupported content type', { method: 'POST', url: '/v1/accounts', headers: { ...admin, 'content-type': 'application/xml' }, payload: '<a/>' }],
    ['oversized body', { method: 'POST', url: '/v1/accounts', headers: { ...admin, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), homeCountry: 'US' }) }],
    ['route with a bad location', { method: 'POST', url: '/v1/route', headers: { authorization: 'Bearer x' }, payload: { location: { lat: 100, lon: 0 } } }],
    ['route with a garbage token', { method: 'POST', url: '/v1/route', headers: { authorization: 'Bearer a.b.c' }, payload: {} }],
    ['bridge message not a JWS', { method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: 'hello' } }],
    ['bridge message missing', { method: 'POST', url: '/v1/bridges/heartbeat', payload: {} }],
    ['manifest not YAML', { method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml' }, payload: 'version: 1\nzones: [' }],
  ])('%s → 4xx with a code', async (_name, options) => {
    const res = await call(options);
    expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
    expect(res.statusCode, res.body).toBeLessThan(500);
    const body = res.json<{ statusCode: number; code: string; error: string; message: string }>();
    expect(body.statusCode).toBe(res.statusCode);
    expect(body.code).toMatch(/^[A-Z_]+$/);
    expect(body.message).not.toMatch(/\n\s+at /);
  });
});

describe('bridges', () => {
  it('rejects a heartbeat with a bad signature, and audits it in the next summary', async () => {
    const signed = await broker.signAs('us-east', { kind: 'heartbeat', participants: 0, cpu: 0, draining: false });
    // Change one signature character away from the end (the last one carries padding bits).
    const i = signed.length - 10;
    const forged = `${signed.slice(0, i)}${signed[i] === 'A' ? 'B' : 'A'}${signed.slice(i + 1)}`;
    const res = await call({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: forged } });
    expect(res.statusCode).toBe(401);
    expect(res.json<{ code: string }>().code).toBe('BRIDGE_BAD_SIGNATURE');
    const summary = async (): Promise<unknown> => (await broker.ctx.audit.read()).find((r) => r.type === 'bridge.rejected.summary')?.data;
    expect(await summary()).toBeUndefined();
    broker.advance(60_000);
    await expect
      .poll(summary)
      .toMatchObject({ total: 1, counts: [{ channel: '/v1/bridges/heartbeat', code: 'BRIDGE_BAD_SIGNATURE', count: 1 }], datacenters: [{ datacenter: 'us-east', count: 1 }] });
    expect(broker.ctx.registry.isLive('us-east', broker.ctx.monotonicMs())).toBe(false);
  });

  it('writes the rejections counted so far when the broker closes, not a minute later', async () => {
    const res = await call({ method: 'POST', url: '/v1/bridges/placements', payload: { message: 'not-a-jws' } });
    expect(res.json<{ code: string }>().code).toBe('BRIDGE_MESSAGE_INVALID');
    await broker.app.close();
    const summaries = (await broker.ctx.audit.read()).filter((r) => r.type === 'bridge.rejected.summary');
    expect(summaries.map((r) => r.data)).toMatchObject([{ total: 1, counts: [{ channel: '/v1/bridges/placements', code: 'BRIDGE_MESSAGE_INVALID', count: 1 }], datacenters: [] }]);
  });

  it('rejects a datacenter that has no configured identity', async () => {
    await broker.close();
    broker = await startTestBroker({ bridges: ['us-east'] });
    const stranger = await startTestBroker({ bridges: ['us-west'] });
    const message = await stranger.signAs('us-west', { kind: 'heartbeat', participants: 0, cpu: 0, draining: false });
    await stranger.close();
    const res = await call({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message } });
    expect(res.json<{ code: string }>().code).toBe('BRIDGE_UNKNOWN');
  });

  it('marks a datacenter down when its heartbeats stop', async () => {
    await allBridgesUp();
    expect(broker.ctx.registry.isLive('us-east', broker.ctx.monotonicMs())).toBe(true);
    broker.advance(6000);
    expect(broker.ctx.registry.isLive('us-east', broker.ctx.monotonicMs())).toBe(false);
  });

  it('sheds load from a bridge whose event loop cannot keep up (--shed-at): new meetings go to the next datacenter inside the fence, and each change is audited', async () => {
    await broker.close();
    broker = await startTestBroker({ shedAt: 0.9 });
    await allBridgesUp();
    const { apiKey } = await account();
    const routed = async (): Promise<readonly { datacenter: string; jurisdiction: string }[]> => {
      const res = await route((await joinToken(apiKey, await meeting(apiKey))).token);
      expect(res.statusCode, res.body).toBe(200);
      return decided(res.json<{ ticket: string }>()).candidates;
    };
    const before = await routed();
    const busy = before[0]?.datacenter ?? '';
    const beat = async (loop: number): Promise<void> => {
      const res = await call({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: await broker.signAs(busy, { kind: 'heartbeat', participants: 0, cpu: 1, loop, draining: false }) } });
      expect(res.statusCode, res.body).toBe(200);
    };
    const sheds = async (): Promise<unknown[]> => (await broker.ctx.audit.read()).filter((r) => r.type === 'bridge.load-shed').map((r) => r.data);
    // The loop average climbs 0.5, 0.75, 0.875: not yet.
    for (let i = 0; i < 3; i++) await beat(1);
    expect((await routed())[0]?.datacenter).toBe(busy);
    await beat(1);
    const after = await routed();
    expect(after.map((c) => c.datacenter)).not.toContain(busy);
    expect(after[0]).toEqual(before[1]);
    expect(await sheds()).toEqual([{ datacenter: busy, shedding: true, loop: 0.938, threshold: 0.9 }]);
    expect((await call({ method: 'GET', url: '/metrics' })).body).toContain(`geobridge_bridge_load_sheds_total{datacenter="${busy}",shedding="true"} 1`);
    // The operator console shows it: too busy, with its loop's average.
    const login = await call({ method: 'POST', url: '/v1/console/login', payload: { token: ADMIN_TOKEN } });
    const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
    const shown = (await call({ method: 'GET', url: '/v1/console/overview', headers: { cookie } })).json<{ datacenters: { id: string; loop: number | null; shedding: boolean }[] }>().datacenters;
    expect(shown.find((d) => d.id === busy)).toMatchObject({ shedding: true, loop: 0.9375 });
    expect(shown.find((d) => d.id === after[0]?.datacenter)).toMatchObject({ shedding: false, loop: 0 });
    // Just under the threshold (average 0.819) it still sheds; well under it (0.509), it takes new meetings again.
    await beat(0.7);
    expect((await routed())[0]?.datacenter).not.toBe(busy);
    await beat(0.2);
    expect((await routed())[0]?.datacenter).toBe(busy);
    expect(await sheds()).toEqual([
      { datacenter: busy, shedding: true, loop: 0.938, threshold: 0.9 },
      { datacenter: busy, shedding: false, loop: 0.509, threshold: 0.9 },
    ]);
  });

  it('lets exactly one of concurrent placement claims win', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const dcs = ['us-east', 'us-west', 'ca-central', 'eu-west', 'eu-central', 'uk-south', 'ap-tokyo', 'br-south'];
    const results = await Promise.all(dcs.map((dc) => claim(dc, m)));
    expect(results.filter((r) => r.won)).toHaveLength(1);
    expect(new Set(results.map((r) => `${r.datacenter}@${String(r.epoch)}`)).size).toBe(1);
  });

  it('audits admissions with the jurisdiction from the manifest, never from the bridge', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { token, participant } = await joinToken(apiKey, m);
    const ticket = (await route(token)).json<{ ticket: string }>().ticket;
    const admit = (dc: string, payload: Record<string, unknown>): Promise<LightMyRequestResponse> => admission(dc, { participant, meeting: m, outcome: 'admitted', ...payload });
    expect((await admit('ca-central', {})).statusCode).toBe(400);
    expect((await admit('ap-tokyo', { ticket })).json<{ code: string }>().code).toBe('TICKET_WRONG_DATACENTER');
    expect((await admit('ca-central', { ticket })).json<{ code: string }>().code).toBe('PLACED_ELSEWHERE');
    await claim('ca-central', m);
    const res = await admit('ca-central', { ticket });
    expect(res.statusCode, res.body).toBe(200);
    const record = (await broker.ctx.audit.read()).find((r) => r.type === 'bridge.admission');
    expect(record?.data).toMatchObject({ datacenter: 'ca-central', jurisdiction: 'CA', country: 'US', role: 'primary', outOfZone: false });
    expect((await broker.ctx.store.listParticipants(m)).map((p) => p.id)).toEqual([participant]);
  });

  it("takes a participant's departure only from the bridge that holds the meeting", async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const { token, participant } = await joinToken(apiKey, m);
    const { ticket, decisionId } = decided((await route(token)).json<{ ticket: string }>());
    await claim('ca-central', m);
    const report = (dc: string, outcome: 'admitted' | 'left'): Promise<LightMyRequestResponse> => admission(dc, { participant, meeting: m, outcome, ...(outcome === 'admitted' ? { ticket } : { session: decisionId }) });
    expect((await report('ca-central', 'admitted')).statusCode).toBe(200);
    const members = async (): Promise<string[]> => (await broker.ctx.store.listParticipants(m)).map((p) => p.id);
    // An attested bridge of another datacenter cannot remove the participant.
    expect((await report('us-east', 'left')).json()).toEqual({ recorded: false });
    expect(await members()).toEqual([participant]);
    expect((await report('ca-central', 'left')).json()).toEqual({ recorded: true });
    expect(await members()).toEqual([]);
  });
});

describe('manifest changes', () => {
  it('rejects a manifest with errors, returning its diagnostics, and changes nothing', async () => {
    const text = broker.ctx.policy.current.text.replace('secondaries: [eu-west, uk-south', 'secondaries: [cn-beijing, eu-west, uk-south');
    expect(text).not.toBe(broker.ctx.policy.current.text);
    const res = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml' }, payload: text });
    expect(res.statusCode).toBe(422);
    const body = res.json<{ code: string; diagnostics: { code: string }[] }>();
    expect(body.code).toBe('MANIFEST_REJECTED');
    expect(body.diagnostics.map((d) => d.code)).toContain('GB_FENCE_CROSSED');
    expect(broker.ctx.policy.current.version).toBe(1);
  });

  const SMALL = `version: 1
datacenters:
  us-east: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 }, capacity: 1000 }
  us-west: { jurisdiction: US, location: { lat: 37.34, lon: -121.89 }, capacity: 1000 }
  ca-central: { jurisdiction: CA, location: { lat: 45.5, lon: -73.57 }, capacity: 1000 }
  eu-west: { jurisdiction: IE, location: { lat: 53.35, lon: -6.26 }, capacity: 1000 }
zones:
  na: { countries: [US, CA], primaries: [us-east, us-west, ca-central], secondaries: [eu-west] }
  eu: { countries: ['*'], primaries: [eu-west], secondaries: [us-east] }
`;

  async function smallBroker(): Promise<string> {
    await broker.close();
    broker = await startTestBroker({ manifestText: SMALL, config: { dev: true } });
    await allBridgesUp();
    return (await account()).apiKey;
  }

  /** A participant from `country` routed into meeting `m` and admitted by the bridge of its datacenter. */
  async function joinFrom(apiKey: string, m: string, country: string): Promise<void> {
    await routeAndAdmit(apiKey, m, { payload: { country } }, '127.0.0.1');
  }

  function put(text: string): Promise<LightMyRequestResponse> {
    return call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml' }, payload: text });
  }

  it('accepts a clean manifest, versions and audits it with its diff, and re-homes meetings now outside a fence', async () => {
    const apiKey = await smallBroker();
    const stays = await meeting(apiKey);
    const moves = await meeting(apiKey);
    await claim('us-east', stays);
    await claim('us-west', moves);
    await joinFrom(apiKey, stays, 'US');
    await joinFrom(apiKey, moves, 'US');
    // us-west is now in Mexico, and US participants may use only US, CA and IE.
    const next = SMALL.replace('us-west: { jurisdiction: US', 'us-west: { jurisdiction: MX')
      .replace('primaries: [us-east, us-west, ca-central]', 'primaries: [us-east, ca-central]')
      .concat('fences:\n  - { name: us-stays-close, clients: [US], allow: [US, CA, IE] }\n');
    const res = await put(next);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ version: number; recheck: { checked: number; rehomed: { meeting: string; from: string; to: string }[]; ended: unknown[] } }>();
    expect(body.version).toBe(2);
    expect(body.recheck.rehomed).toEqual([{ meeting: moves, from: 'us-west', to: 'us-east' }]);
    expect(body.recheck.ended).toEqual([]);
    expect((await broker.ctx.store.getPlacement(stays))?.datacenter).toBe('us-east');
    const records = await broker.ctx.audit.read();
    expect(records.find((r) => r.type === 'manifest.changed')?.data).toMatchObject({ version: 2, previous: 1 });
    expect(records.find((r) => r.type === 'placement.rehomed')?.data).toMatchObject({ meeting: moves, from: 'us-west', datacenter: 'us-east', reason: 'policy change' });
    expect(broker.ctx.policy.current.version).toBe(2);
  });

  it('applies a change sent with If-Match only on the version it names: two admins editing one version cannot undo each other', async () => {
    await smallBroker();
    const read = await call({ method: 'GET', url: '/v1/manifest', headers: admin });
    expect(read.headers.etag).toBe('"1"');
    const putOn = (text: string, ifMatch: string) => call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml', 'if-match': ifMatch }, payload: text });
    // Alice and Bob both read version 1; Alice fences the US in, Bob adds a datacenter.
    const alice = SMALL.concat('fences:\n  - { name: us-stays-close, clients: [US], allow: [US, CA, IE] }\n');
    const bob = SMALL.replace('datacenters:\n', 'datacenters:\n  mx-central: { jurisdiction: MX, location: { lat: 19.43, lon: -99.13 }, capacity: 1000 }\n');
    const first = await putOn(alice, '"1"');
    expect([first.statusCode, first.headers.etag]).toEqual([200, '"2"']);
    const second = await putOn(bob, '"1"');
    expect([second.statusCode, second.json<{ code: string }>().code]).toEqual([412, 'MANIFEST_CHANGED']);
    expect(broker.ctx.policy.current.text).toBe(alice);
    expect((await broker.ctx.store.listManifests()).map((m) => m.version)).toEqual([1, 2]);
    // Nothing of the refused change was audited as applied.
    expect((await broker.ctx.audit.read()).filter((r) => r.type === 'manifest.changed').map((r) => r.data.version)).toEqual([2]);
    // Bob redoes his change on version 2; `*` and no header replace whatever is in force.
    expect((await putOn(alice.replace('datacenters:\n', 'datacenters:\n  mx-central: { jurisdiction: MX, location: { lat: 19.43, lon: -99.13 }, capacity: 1000 }\n'), '"2"')).statusCode).toBe(200);
    expect((await putOn(alice, '*')).statusCode).toBe(200);
    // A list matches if one of its tags does (RFC 9110 §13.1.1); a weak tag, or one not of ours, never does.
    expect((await putOn(alice, '"1", "4"')).statusCode).toBe(200);
    for (const stale of ['W/"5"', '"abc"', '"4"']) {
      const refused = await putOn(alice, stale);
      expect([refused.statusCode, refused.json<{ code: string }>().code], stale).toEqual([412, 'MANIFEST_CHANGED']);
    }
    for (const bad of ['5', '"5', '"5" "6"']) {
      const refused = await putOn(alice, bad);
      expect([refused.statusCode, refused.json<{ code: string }>().code], bad).toEqual([400, 'BAD_REQUEST']);
    }
    expect(broker.ctx.policy.current.version).toBe(5);
  });

  it('refuses If-Match on the version in force here when another broker has saved a newer one to the store', async () => {
    await smallBroker();
    // What another broker on the same store does; this broker has not caught up with it yet.
    await broker.ctx.store.saveManifest(SMALL.concat('# elsewhere\n'), 'x'.repeat(64), 'admin', new Date().toISOString());
    const res = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml', 'if-match': '"1"' }, payload: SMALL.concat('# here\n') });
    expect([res.statusCode, res.json<{ code: string }>().code]).toEqual([412, 'MANIFEST_CHANGED']);
    expect((await broker.ctx.store.listManifests()).map((m) => m.version)).toEqual([1, 2]);
    expect(broker.ctx.policy.current.version).toBe(1);
    // Read through that other broker (version 2), the change lands here, where version 1 is still in force: the store decides.
    const onNewest = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml', 'if-match': '"2"' }, payload: SMALL.concat('# on the newest\n') });
    expect([onNewest.statusCode, onNewest.json<{ version: number }>().version]).toEqual([200, 3]);
    expect((await broker.ctx.audit.read()).filter((r) => r.type === 'manifest.changed').map((r) => [r.data.version, r.data.previous])).toContainEqual([3, 2]);
  });

  it('ends a meeting that no datacenter can hold for all its participants', async () => {
    const apiKey = await smallBroker();
    const m = await meeting(apiKey);
    await claim('us-east', m);
    await joinFrom(apiKey, m, 'US');
    await joinFrom(apiKey, m, 'DE');
    const next = SMALL.replace('secondaries: [eu-west] }', 'secondaries: [] }')
      .replace('secondaries: [us-east] }', 'secondaries: [] }')
      .concat('fences:\n  - { name: us-home, clients: [US], allow: [US, CA] }\n  - { name: de-home, clients: [DE], allow: [IE] }\n');
    const res = await put(next);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ recheck: { ended: { meeting: string }[] } }>().recheck.ended.map((e) => e.meeting)).toEqual([m]);
    expect((await broker.ctx.store.getMeeting(m))?.endedReason).toContain('no datacenter');
    expect((await broker.ctx.audit.read()).some((r) => r.type === 'meeting.ended' && r.data.meeting === m)).toBe(true);
  });
});

describe('policy changes hold every live meeting to the fence', () => {
  it('refuses a manifest that drops a plan an account is on', async () => {
    await account({ name: 'Agency', homeCountry: 'US', plan: 'government' });
    const text = broker.ctx.policy.current.text.replace(/^plans:\n {2}government:\n {4}tags: \[gov\]\n {4}exclusive: true\n/m, '');
    expect(text).not.toBe(broker.ctx.policy.current.text);
    const res = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml' }, payload: text });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json<{ code: string; message: string }>()).toMatchObject({ code: 'MANIFEST_REJECTED' });
    expect(broker.ctx.policy.current.version).toBe(1);
  });

  it('refuses a placement claim outside an admitted participant’s fence, or the account’s jurisdictions', async () => {
    await allBridgesUp();
    const { apiKey, id } = await account();
    const m = await meeting(apiKey);
    expect((await claim('us-east', m)).won).toBe(true);
    await routeAndAdmit(apiKey, m);
    // A CN guest's ticket carries the US host's policy: its own fence already rules Beijing out.
    const intoChina = await claimWith('cn-beijing', m, await ticketAt('cn-beijing', m, 'CN'));
    expect(intoChina.statusCode).toBe(403);
    expect(intoChina.json<{ code: string }>().code).toBe('TICKET_OUTSIDE_FENCE');
    expect((await broker.ctx.store.getPlacement(m))?.datacenter).toBe('us-east');

    // A ticket issued before the account narrowed still verifies; the claim is held to the policy in force.
    const other = await meeting(apiKey);
    const before = await ticketAt('eu-west', other);
    await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['US', 'CA'] } });
    const toIreland = await claimWith('eu-west', other, before);
    expect(toIreland.json<{ code: string }>().code).toBe('FENCE_CONFLICT');
  });

  it('re-homes an account’s live meetings when its data routing control narrows', async () => {
    await allBridgesUp();
    const { apiKey, id } = await account();
    const m = await meeting(apiKey);
    await claim('us-east', m);
    await routeAndAdmit(apiKey, m);
    const res = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['CA'] } });
    expect(res.statusCode, res.body).toBe(200);
    expect((await broker.ctx.store.getPlacement(m))?.datacenter).toBe('ca-central');
    expect((await broker.ctx.audit.read()).find((r) => r.type === 'placement.rehomed')?.data).toMatchObject({ meeting: m, from: 'us-east', datacenter: 'ca-central' });
  });
});

describe('audit', () => {
  it('keeps an intact chain over everything the broker did', async () => {
    await allBridgesUp();
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    for (let i = 0; i < 5; i++) await route((await joinToken(apiKey, m)).token);
    const records = await broker.ctx.audit.read();
    expect(records.filter((r) => r.type === 'route.decision')).toHaveLength(5);
    expect(verifyChain(records)).toEqual({ ok: true, count: records.length });
  });
});
