// routeResponseJson against the serializer Fastify builds from the route's
// own response schema: the same bytes for every decision of world.yaml,
// explained or not, and for arbitrary strings wherever the body carries one;
// and ?explain=true through the broker.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_COUNTRY_CODES } from '../../core/geo/countries.js';
import { parseManifest } from '../../core/manifest/parse.js';
import type { Manifest } from '../../core/manifest/types.js';
import { isRefusal, selectDatacenters, selectRoute, type Decision, type RouteRequest } from '../../core/select/select.js';
import { KeyRing, type KeyStore } from '../keys.js';
import { issueRouteTicket } from '../tickets.js';
import { signInclusionPromise } from '../audit/tree-heads.js';
import { ephemeralLogKey } from '../log-key.js';
import type { SigningKey } from '../store/store.js';
import { iceAllowance } from '../../core/ice/allowed.js';
import { routeIceAllowance } from '../route-ice.js';
import { readRouteTicketUnverified, ticketCandidates } from '../../protocol/route-ticket.js';
import { brokerApi } from '../broker-api.fixture.js';
import { startTestBroker, type TestBroker } from '../test-broker.fixture.js';
import { RouteAnswer } from '../../protocol/route-answer.js';
import { routeResponseJson } from './route.js';

type Body = Static<typeof RouteAnswer>;

function loadWorld(): Manifest {
  const parsed = parseManifest(readFileSync(new URL('../../../examples/world.yaml', import.meta.url), 'utf8')).manifest;
  if (!parsed) throw new Error('examples/world.yaml does not parse');
  return parsed;
}
const manifest = loadWorld();

let app: FastifyInstance;
let next: Body | undefined;
let ring: KeyRing;
const logKey = await ephemeralLogKey();

beforeAll(async () => {
  // Fastify's default serializer of the schema (fast-json-stringify), as the route used before it had its own.
  app = Fastify();
  app.get('/body', { schema: { response: { 200: RouteAnswer } } }, () => Promise.resolve(next));
  await app.ready();
  const keys = new Map<string, SigningKey>();
  const store: KeyStore = {
    saveSigningKey: (key) => Promise.resolve(void keys.set(key.kid, key)),
    retireSigningKeysExcept: () => Promise.resolve(),
    revokeSigningKey: () => Promise.reject(new Error('not used here')),
    listSigningKeys: () => Promise.resolve([...keys.values()]),
  };
  ring = await KeyRing.load(store, () => new Date('2026-03-01T12:00:00Z'));
});
afterAll(async () => {
  await app.close();
});

/** What Fastify's schema serializer writes for `body`. */
async function bySchema(body: Body): Promise<string> {
  next = body;
  const res = await app.inject({ method: 'GET', url: '/body' });
  expect(res.statusCode, res.body).toBe(200);
  return res.body;
}

/** A 200 body for `request`, with a real ticket, explained (`excluded`) or not as the route answers; undefined for a refusal. */
async function answer(request: RouteRequest, bridges: Record<string, string> = {}, explain = false): Promise<Body | undefined> {
  const result = (explain ? selectDatacenters : selectRoute)(manifest, request, {});
  if (isRefusal(result)) return undefined;
  const candidates = result.candidates.map((c) => c.datacenter);
  const ticket = await issueRouteTicket(ring, {
    issuer: 'http://broker.test',
    participant: 'p-1',
    meeting: 'm-1',
    candidates,
    candidateJurisdictions: result.candidates.map((c) => c.jurisdiction),
    candidateRoles: result.candidates.map((c) => c.role),
    attempts: result.attempts,
    decision: 'dec_1',
    country: request.country,
    name: 'Ada',
    manifest: 'ab'.repeat(32),
    policy: { hostCountry: request.hostCountry ?? request.country },
    ice: routeIceAllowance(manifest, candidates, result.allowedJurisdictions),
  });
  const receipt = signInclusionPromise(logKey, 41, 'cd'.repeat(32), { decisionId: 'dec_1', manifestSha256: 'ab'.repeat(32), country: request.country, candidates: result.candidates }, 1_700_000_000_000);
  const compact = { ticket: ticket.token, bridges, receipt };
  if (!explain) return compact;
  return { ...compact, zone: result.zone, country: request.country, decisionId: 'dec_1', policyVersion: 3, allowedJurisdictions: result.allowedJurisdictions, candidates: result.candidates, ...('excluded' in result ? { excluded: (result as Decision).excluded } : {}) };
}

describe('routeResponseJson', () => {
  it('writes what the schema serializer writes, for every country, narrowed or placed, explained or not', async () => {
    const placedAt = manifest.datacenters[0]?.id ?? '';
    let compared = 0;
    for (const country of ALL_COUNTRY_CODES) {
      const requests: RouteRequest[] = [
        { country },
        { country, accountJurisdictions: ['US', 'DE', 'FR', 'JP', 'BR'] },
        { country, meetingJurisdictions: ['DE', 'FR'], location: { lat: 48.1, lon: 11.6 } },
        { country, placedAt },
      ];
      for (const request of requests) {
        for (const explain of [false, true]) {
          const body = await answer(request, { [placedAt]: 'wss://bridge.example/signal' }, explain);
          if (body === undefined) continue;
          for (const key of ['zone', 'country', 'decisionId', 'policyVersion', 'allowedJurisdictions', 'candidates', 'excluded']) expect(key in body, key).toBe(explain);
          // The ticket signs the decision's candidates, roles and all, also when a placed meeting's datacenter comes first as a secondary.
          if (explain) expect(ticketCandidates(readRouteTicketUnverified(body.ticket)), `${country} ${JSON.stringify(request)}`).toEqual(body.candidates);
          expect(routeResponseJson(body)).toBe(await bySchema(body));
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(2 * ALL_COUNTRY_CODES.length);
  });

  it('writes the same bytes twice for the same frozen fence list (its JSON is cached, never stale)', async () => {
    const body = await answer({ country: 'US' }, {}, true);
    if (body?.allowedJurisdictions === undefined) throw new Error('US is refused');
    expect(Object.isFrozen(body.allowedJurisdictions)).toBe(true);
    expect(routeResponseJson(body)).toBe(routeResponseJson({ ...body, allowedJurisdictions: [...body.allowedJurisdictions] }));
  });

  it('signs the route in the ticket: candidates with roles, attempts, and the STUN/TURN allowance of each candidate that has one (the core rule, remembered only for frozen lists)', async () => {
    const de = await answer({ country: 'DE' }, {}, true);
    if (de?.allowedJurisdictions === undefined || de.candidates === undefined) throw new Error('DE is refused');
    const claims = readRouteTicketUnverified(de.ticket);
    expect(ticketCandidates(claims)).toEqual(de.candidates);
    expect(claims.attempts).toEqual({ perPrimary: 2, timeoutMs: 1500 });
    const ids = de.candidates.map((c) => c.datacenter);
    const everyOne = iceAllowance(manifest, ids, de.allowedJurisdictions);
    expect(claims.ice).toEqual(Object.fromEntries(Object.entries(everyOne).filter(([, servers]) => servers.length > 0)));
    expect(claims.ice['eu-central']?.flatMap((s) => s.urls)).toEqual(['stun:stun.fra.example.com:3478', 'turn:turn.fra.example.com:3478', 'turns:turn.fra.example.com:5349']);
    // The same frozen fence list gives the same (frozen) lists; a narrowed, unfrozen one is computed afresh and narrows.
    expect(routeIceAllowance(manifest, ids, de.allowedJurisdictions)['eu-central']).toBe(routeIceAllowance(manifest, ids, de.allowedJurisdictions)['eu-central']);
    expect(routeIceAllowance(manifest, ids, ['IE'])).toEqual({});
    expect(routeIceAllowance(manifest, ids, ['DE'])['eu-central']).toEqual(everyOne['eu-central']);
  });

  it('property: escapes every string as the schema serializer does', async () => {
    // Quotes, backslashes, control characters, lone surrogates and line separators among ordinary text.
    const text = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '\u0000', '\u001f', '\u007f', '\ud800', '\udfff', '\u2028', 'é', '😀'), fc.string({ minLength: 1, maxLength: 1 })), maxLength: 12 });
    const base64url = fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/);
    const explained = fc.record({
      zone: fc.option(text, { nil: null }),
      country: text,
      decisionId: text,
      policyVersion: fc.nat(),
      allowedJurisdictions: fc.array(text, { maxLength: 5 }),
      candidates: fc.array(fc.record({ datacenter: text, role: fc.constantFrom('primary' as const, 'secondary' as const), jurisdiction: text }), { maxLength: 4 }),
      excluded: fc.array(fc.record({ datacenter: text, reason: text }), { maxLength: 4 }),
    });
    const body = fc.record({
      // The ticket is a compact JWS: three base64url segments.
      ticket: fc.tuple(base64url, base64url, base64url).map((parts) => parts.join('.')),
      // Keys are datacenter ids (the manifest's ID pattern). The schema's record is `patternProperties: {'^.*$'}`,
      // whose serializer would drop a key holding a line terminator; an id never holds one.
      bridges: fc.dictionary(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/), text, { maxKeys: 3 }),
      receipt: fc.record({ index: fc.nat(), recordHash: text, timestamp: fc.nat(), keyId: text, signature: text, log: text }, { requiredKeys: ['index', 'recordHash', 'timestamp', 'keyId', 'signature'] }),
      // An explained answer has some of these (all, from the broker); the plain one none. Absent is no key at all, not `"zone":undefined`.
      explained: fc.option(explained.chain((e) => fc.subarray(Object.keys(e)).map((keys) => Object.fromEntries(keys.map((k) => [k, e[k as keyof typeof e]])) as Partial<typeof e>)), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(body, async ({ explained: more, ...rest }) => {
        const b: Body = { ...rest, ...more };
        expect(routeResponseJson(b)).toBe(await bySchema(b));
      }),
      { numRuns: 200 },
    );
  });
});

describe('POST /v1/route?explain=true', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => {
    await broker.close();
  });
  const { call, account, meeting, joinToken, allBridgesUp, route } = brokerApi(() => broker);

  interface Answer {
    ticket: string;
    candidates?: { datacenter: string }[];
    allowedJurisdictions?: string[];
    excluded?: { datacenter: string; reason: string }[];
  }

  it('answers from the hot path with the route in the ticket alone; explains it, and every other datacenter, only when asked', async () => {
    await allBridgesUp();
    const { apiKey } = await account({ name: 'Acme', homeCountry: 'US', allowedJurisdictions: ['US'] });
    const m = await meeting(apiKey);
    const ask = async (query: string): Promise<Answer> => {
      const res = await route((await joinToken(apiKey, m)).token, '8.8.8.8', { url: `/v1/route${query}` });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<Answer>();
    };
    const plain = await ask('');
    const explained = await ask('?explain=true');
    expect(Object.keys(plain).sort()).toEqual(['bridges', 'receipt', 'ticket']);
    expect(Object.keys(await ask('?explain=false')).sort()).toEqual(['bridges', 'receipt', 'ticket']);
    expect(explained.allowedJurisdictions).toEqual(['US']);
    expect(explained.candidates).toEqual(ticketCandidates(readRouteTicketUnverified(plain.ticket)));
    expect(explained.excluded).toContainEqual({ datacenter: 'ca-central', reason: 'ACCOUNT' });
    const named = [...(explained.candidates ?? []), ...(explained.excluded ?? [])].map((e) => e.datacenter).sort();
    expect(named).toEqual(manifest.datacenters.map((d) => d.id).sort());
  });

  it('is compact: the answer carries no fence list, so it grows with the candidates, not the fence', async () => {
    await allBridgesUp();
    // A US participant may use ~250 jurisdictions, a narrowed one only the US: the answers weigh the same.
    const sizes: number[] = [];
    for (const allowedJurisdictions of [undefined, ['US']]) {
      const { apiKey } = await account({ name: 'Typical', homeCountry: 'US', ...(allowedJurisdictions ? { allowedJurisdictions } : {}) });
      const res = await route((await joinToken(apiKey, await meeting(apiKey))).token);
      expect(res.statusCode, res.body).toBe(200);
      sizes.push(Buffer.byteLength(res.body));
    }
    // Under 1 kB for five candidates (the ticket ~0.6 kB, the receipt ~0.3 kB): it was ~2.1 kB with the route said twice and a JSON ticket, ~5 kB with the fence list.
    expect(Math.max(...sizes)).toBeLessThan(1000);
    expect(Math.abs((sizes[0] ?? 0) - (sizes[1] ?? 0))).toBeLessThan(150);
  });

  it('rejects any other explain value or query parameter with 400 VALIDATION', async () => {
    const { apiKey } = await account();
    const { token } = await joinToken(apiKey, await meeting(apiKey));
    for (const query of ['?explain=yes', '?explain=1', '?explain=', '?verbose=true']) {
      const res = await route(token, '8.8.8.8', { url: `/v1/route${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json<{ code: string }>().code).toBe('VALIDATION');
    }
  });

  it('refuses the same either way (code and message); the audit record explains what the decision examined, or every datacenter when asked', async () => {
    const { apiKey } = await account({ name: 'Acme China', homeCountry: 'CN' });
    const m = await meeting(apiKey);
    broker.advance(60_000); // every bridge silent: China has nowhere to go
    const refusals: { code: string; message: string }[] = [];
    for (const query of ['', '?explain=true']) {
      const res = await route((await joinToken(apiKey, m)).token, '1.2.4.8', { url: `/v1/route${query}` }); // CNNIC, mainland China
      expect(res.statusCode, res.body).toBe(503);
      refusals.push(res.json());
    }
    expect(refusals[0]).toEqual(refusals[1]);
    expect(refusals[0]?.code).toBe('NO_CAPACITY_IN_FENCE');
    const records = (await broker.ctx.audit.read()).filter((r) => r.type === 'route.refusal');
    expect(records).toHaveLength(2);
    const excluded = records.map((r) => (r.data as { excluded: { datacenter: string; reason: string }[] }).excluded);
    // The hot path: the datacenters China's zone lists, both down; the rest are fixed by the manifest and the request.
    expect(excluded[0]).toEqual([
      { datacenter: 'cn-beijing', reason: 'DOWN' },
      { datacenter: 'cn-shanghai', reason: 'DOWN' },
    ]);
    expect(excluded[1]).toHaveLength(manifest.datacenters.length);
  });

  it('documents the query in the OpenAPI document', async () => {
    const doc = (await call({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, { post?: { parameters?: { name: string; in: string }[] } }> }>();
    expect(doc.paths['/v1/route']?.post?.parameters).toContainEqual(expect.objectContaining({ name: 'explain', in: 'query' }));
  });
});
