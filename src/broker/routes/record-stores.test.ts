// Control-plane residency in the broker: with record stores declared (manifest `stores:`), every record about a
// participant goes to the log of the store inside their fences, the route's receipt names that log and verifies
// only as its promise, /v1/log/*?store= serves each store's log, and a participant with no store inside their
// fences is refused, their refusal kept in the broker's own log without their id.
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../audit/audit-log.js';
import { checkInclusionPromise, verifyTreeHead, type InclusionPromise, type SignedTreeHead } from '../audit/tree-heads.js';
import { hashLeaf, verifyInclusion } from '../../translog/index.js';
import { leafEntry } from '../audit/audit-log.js';
import { admin, brokerApi } from '../broker-api.fixture.js';
import { startTestBroker, type TestBroker } from '../test-broker.fixture.js';
import { decided as decidedRoute } from '../route-answer.fixture.js';

const world = readFileSync(new URL('../../../examples/world.yaml', import.meta.url), 'utf8');
// EEA participants may only be recorded in eu (DE); China's only in cn; the rest go to the nearest they may use.
const STORES = `
stores:
  eu: { jurisdiction: DE, location: { lat: 50.11, lon: 8.68 } }
  us: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 } }
  cn: { jurisdiction: CN, location: { lat: 31.23, lon: 121.47 } }
`;
const withStores = world.replace(/^fences:/m, `${STORES}\nfences:`);

let broker: TestBroker;
const { call, account, meeting, joinToken, allBridgesUp, route, routeAndAdmit } = brokerApi(() => broker);

beforeEach(async () => {
  broker = await startTestBroker({ manifestText: withStores, config: { dev: true } });
  await allBridgesUp();
});
afterEach(async () => {
  await broker.close();
});

/** Every record of store `name`'s log, or of the broker's own (undefined). */
async function records(name: string | undefined): Promise<AuditRecord[]> {
  const log = name === undefined ? broker.ctx.audit : broker.ctx.storeLogs.get(name)?.audit;
  if (!log) throw new Error(`no log for ${String(name)}`);
  return log.read();
}


describe('records about participants under record stores', () => {
  it('go to the store inside their fences: route decisions and admissions of DE and FR to eu, US to us, CN to cn; none to the broker’s own log', async () => {
    const { apiKey } = await account();
    const m = await meeting(apiKey);
    const who = new Map<string, string>();
    for (const country of ['DE', 'FR', 'US', 'BR']) who.set((await routeAndAdmit(apiKey, m, { payload: { country } })).participant, country);
    const cnAccount = await account({ name: 'Beijing office', homeCountry: 'CN' });
    const cnMeeting = await meeting(cnAccount.apiKey);
    who.set((await routeAndAdmit(cnAccount.apiKey, cnMeeting, { payload: { country: 'CN' } })).participant, 'CN');

    const where = new Map<string, Set<string>>();
    for (const name of ['eu', 'us', 'cn']) {
      for (const r of await records(name)) {
        if (typeof r.data.participant !== 'string') continue;
        const country = who.get(r.data.participant) ?? '?';
        where.set(country, (where.get(country) ?? new Set()).add(`${name}:${r.type}`));
      }
    }
    expect(where.get('DE')).toEqual(new Set(['eu:route.decision', 'eu:bridge.admission']));
    expect(where.get('FR')).toEqual(new Set(['eu:route.decision', 'eu:bridge.admission']));
    expect(where.get('US')).toEqual(new Set(['us:route.decision', 'us:bridge.admission']));
    expect(where.get('CN')).toEqual(new Set(['cn:route.decision', 'cn:bridge.admission']));
    // Brazil may use eu or us; the nearest of them holds its records.
    expect([...(where.get('BR') ?? [])].every((e) => e.startsWith('us:') || e.startsWith('eu:'))).toBe(true);
    // Their rows while connected: each in their store, none in the broker's own.
    const rows = new Map<string, string>();
    for (const [name, store] of broker.recordRows) for (const row of [...(await store.listParticipants(m)), ...(await store.listParticipants(cnMeeting))]) rows.set(row.id, name);
    for (const [participant, cc] of who) expect(rows.get(participant), cc).toBe(cc === 'CN' ? 'cn' : ['DE', 'FR'].includes(cc) ? 'eu' : cc === 'US' ? 'us' : rows.get(participant));
    expect(rows.size).toBe(who.size);
    expect((await broker.ctx.store.listParticipants(m)).map((p) => p.id).sort()).toEqual([...who].filter(([, cc]) => cc !== 'CN').map(([p]) => p).sort());
    // The broker's own log keeps what is not about a participant: placements, manifests, accounts.
    const own = await records(undefined);
    expect(own.filter((r) => 'participant' in r.data)).toEqual([]);
    expect(own.map((r) => r.type)).toContain('placement.claimed');
  });

  it("answer with a receipt naming the store's log, which proves it there and verifies as no other log's", async () => {
    const { apiKey } = await account();
    const { token } = await joinToken(apiKey, await meeting(apiKey));
    const res = await route(token, '8.8.8.8', { payload: { country: 'DE' } });
    expect(res.statusCode, res.body).toBe(200);
    const answer = decidedRoute(res.json<{ ticket: string; receipt: InclusionPromise }>());
    const { receipt } = answer;
    const decided = { decisionId: answer.decisionId, manifestSha256: answer.manifestSha256, country: answer.country, candidates: answer.candidates };
    const key = broker.ctx.logKey;
    expect(receipt.log).toBe('eu');
    expect(checkInclusionPromise(receipt, decided, key.publicKey, key.keyId)).toBeUndefined();
    // The signature covers the log's name: the same promise as another log's, or the broker's own, does not verify.
    expect(checkInclusionPromise({ ...receipt, log: 'us' }, decided, key.publicKey, key.keyId)).toMatch(/does not verify/);
    const unnamed: Record<string, unknown> = { ...receipt };
    delete unnamed.log;
    expect(checkInclusionPromise(unnamed as unknown as InclusionPromise, decided, key.publicKey, key.keyId)).toMatch(/does not verify/);

    const sth = (await call({ method: 'GET', url: '/v1/log/sth?store=eu' })).json<SignedTreeHead>();
    expect(sth.log).toBe('eu');
    const checked = verifyTreeHead(sth, key.publicKey, key.keyId);
    if (!checked.ok) throw new Error(checked.reason);
    expect(verifyTreeHead({ ...sth, log: 'us' }, key.publicKey, key.keyId).ok).toBe(false);
    const proof = (await call({ method: 'GET', url: `/v1/log/proof?store=eu&index=${String(receipt.index)}&size=${String(sth.size)}` })).json<{ recordHash: string; proof: string[] }>();
    expect(proof.recordHash).toBe(receipt.recordHash);
    expect(verifyInclusion(hashLeaf(leafEntry(receipt.recordHash)), receipt.index, proof.proof.map((p) => Uint8Array.from(Buffer.from(p, 'base64'))), checked.head)).toEqual({ ok: true });

    // The store list names each log; an unknown store is not silently the broker's own log.
    expect((await call({ method: 'GET', url: '/v1/log/stores' })).json<{ stores: { id: string; jurisdiction: string }[] }>().stores.map((s) => `${s.id}:${s.jurisdiction}`)).toEqual(['eu:DE', 'us:US', 'cn:CN']);
    expect((await call({ method: 'GET', url: '/v1/log/sth?store=mars' })).statusCode).toBe(404);
  });

  it('refuse a participant whose account leaves them no store inside their fences, and keep the refusal without their id', async () => {
    // A German participant of an account kept to the UK: GB is inside the EEA fence, but no store is in GB.
    const res = await call({ method: 'POST', url: '/v1/accounts', headers: admin, payload: { name: 'UK Ltd', homeCountry: 'GB', allowedJurisdictions: ['GB'] } });
    expect(res.statusCode, res.body).toBe(201);
    const { apiKey } = res.json<{ apiKey: string }>();
    const { token, participant } = await joinToken(apiKey, await meeting(apiKey));
    const refused = await route(token, '8.8.8.8', { payload: { country: 'DE' } });
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json<{ code: string }>().code).toBe('NO_STORE_IN_FENCE');
    const kept = (await records(undefined)).filter((r) => r.type === 'route.refusal');
    expect(kept.map((r) => r.data)).toEqual([expect.objectContaining({ code: 'NO_STORE_IN_FENCE', country: 'DE' })]);
    expect(JSON.stringify(await records(undefined))).not.toContain(participant);
    for (const name of ['eu', 'us', 'cn']) expect(JSON.stringify(await records(name))).not.toContain(participant);
  });

  it('refuse a manifest that declares a store this broker has no database for', async () => {
    const more = withStores.replace('stores:\n', 'stores:\n  jp: { jurisdiction: JP, location: { lat: 35.68, lon: 139.69 } }\n');
    const res = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml' }, payload: more });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json<{ message: string }>().message).toMatch(/record store\(s\) jp, which have no database/);
    expect(broker.ctx.policy.current.manifest.stores.map((s) => s.id)).toEqual(['eu', 'us', 'cn']);
  });
});
