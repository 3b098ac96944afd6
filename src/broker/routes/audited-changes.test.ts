/**
 * An administrator's change is in force only once its audit record is
 * durable. A manifest or an account policy written to the store, whose
 * record then failed (the audit log's database dropped in between), used
 * to stay in force unaudited: on this broker at once, on the others at
 * their next catch-up, while the operator was told 503 and believed
 * nothing had changed. And a manifest saved after another broker's is
 * diffed against that one, not against the version this broker had.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GeobridgeError } from '../../core/errors.js';
import type { AuditType } from '../audit/audit-log.js';
import { admin, brokerApi } from '../broker-api.fixture.js';
import { startTestBroker, type TestBroker } from '../test-broker.fixture.js';

let broker: TestBroker;

beforeEach(async () => {
  broker = await startTestBroker();
});
afterEach(async () => {
  await broker.close();
});

const { call, account } = brokerApi(() => broker);

/** The next append of a record of `type` fails, as when the audit log's database drops. */
function failNextAppend(type: AuditType): void {
  const log = broker.ctx.audit;
  const append = log.append.bind(log);
  let failed = false;
  log.append = (...args: Parameters<typeof append>) => {
    if (!failed && args[0] === type) {
      failed = true;
      return Promise.reject(new GeobridgeError('AUDIT_UNAVAILABLE', 'the audit log is away (test)'));
    }
    return append(...args);
  };
}

async function putManifest(text: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml' }, payload: text });
  return { status: res.statusCode, body: res.json() };
}

describe('a change whose audit record cannot be written', () => {
  it('a manifest: 503, and in force nowhere: this broker keeps the one before, and the store no longer holds it', async () => {
    const before = broker.ctx.policy.current;
    failNextAppend('manifest.changed');
    const refused = await putManifest(`${before.text}\n# not audited\n`);
    expect([refused.status, refused.body.code]).toEqual([503, 'AUDIT_UNAVAILABLE']);
    expect(broker.ctx.policy.current.version).toBe(before.version);
    expect((await broker.ctx.store.latestManifest())?.version ?? 0).toBeLessThanOrEqual(before.version);
    // Tried again, it is the next version: the refused one's number is never given to another text ...
    const applied = await putManifest(`${before.text}\n# audited\n`);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(applied.body.version).toBe(before.version + 2);
    expect((await broker.ctx.store.listManifests()).map((m) => m.version)).toEqual([...Array.from({ length: before.version }, (_, i) => i + 1), before.version + 2]);
    // ... so a change made on an ETag read while the refused one was newest (another admin's GET in between) lands on nothing later.
    const onRefused = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml', 'if-match': `"${String(before.version + 1)}"` }, payload: `${before.text}\n# read then\n` });
    expect([onRefused.statusCode, onRefused.json<{ code: string }>().code]).toEqual([412, 'MANIFEST_CHANGED']);
  });

  it('an account policy: 503, and the policy before it is back in the store, at a later revision', async () => {
    const { id } = await account();
    failNextAppend('admin.action');
    const res = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['CA'] } });
    expect([res.statusCode, res.json<{ code: string }>().code]).toEqual([503, 'AUDIT_UNAVAILABLE']);
    const stored = await broker.ctx.store.getAccount(id);
    expect(stored?.allowedJurisdictions).toBeUndefined();
    expect(stored?.policyRevision).toBe(2);
  });

  it('an account policy changed again while its audit failed: the later change stands, and is not rolled back over', async () => {
    const { id } = await account();
    const log = broker.ctx.audit;
    const append = log.append.bind(log);
    log.append = async (...args: Parameters<typeof append>) => {
      if (args[0] !== 'admin.action' || args[1].action !== 'account.policy') return append(...args);
      log.append = append;
      // Another admin's change lands (and is audited) while this one's record fails.
      await broker.ctx.store.updateAccountPolicy(id, { allowedJurisdictions: ['US'] });
      throw new GeobridgeError('AUDIT_UNAVAILABLE', 'the audit log is away (test)');
    };
    const res = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['CA'] } });
    expect([res.statusCode, res.json<{ code: string }>().code]).toEqual([503, 'AUDIT_UNAVAILABLE']);
    const stored = await broker.ctx.store.getAccount(id);
    expect([stored?.allowedJurisdictions, stored?.policyRevision]).toEqual([['US'], 2]);
  });

  it('says so when the change could not be withdrawn either: in force, unaudited, and how to mend it', async () => {
    const { id } = await account();
    failNextAppend('admin.action');
    const store = broker.ctx.store;
    const update = store.updateAccountPolicy.bind(store);
    store.updateAccountPolicy = async (...args: Parameters<typeof update>) => {
      const updated = await update(...args);
      store.updateAccountPolicy = () => Promise.reject(new GeobridgeError('STORE_UNAVAILABLE', 'the store is away (test)'));
      return updated;
    };
    const res = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: admin, payload: { allowedJurisdictions: ['CA'] } });
    const body = res.json<{ code: string; message: string }>();
    expect([res.statusCode, body.code]).toEqual([503, 'AUDIT_UNAVAILABLE']);
    expect(body.message).toContain('in force but not in the audit log');
    store.updateAccountPolicy = update;
  });

  it('a manifest that could not be taken out of the store either: said so, and taken out before the next change lands', async () => {
    const before = broker.ctx.policy.current;
    failNextAppend('manifest.changed');
    const store = broker.ctx.store;
    const discard = store.discardManifest.bind(store);
    store.discardManifest = () => Promise.reject(new GeobridgeError('STORE_UNAVAILABLE', 'the store is away (test)'));
    const refused = await putManifest(`${before.text}\n# not audited\n`);
    expect([refused.status, refused.body.code]).toEqual([503, 'AUDIT_UNAVAILABLE']);
    expect(refused.body.message).toContain(`manifest version ${String(before.version + 1)} could not be taken out of the store`);
    expect(broker.ctx.policy.current.version).toBe(before.version);
    expect((await store.latestManifest())?.version).toBe(before.version + 1);
    // The store is back: a change made on the version in force lands on it, the unaudited one gone first.
    store.discardManifest = discard;
    const res = await call({ method: 'PUT', url: '/v1/manifest', headers: { ...admin, 'content-type': 'application/yaml', 'if-match': `"${String(before.version)}"` }, payload: `${before.text}\n# audited\n` });
    expect([res.statusCode, res.json<{ version: number }>().version]).toEqual([200, before.version + 2]);
    expect((await store.listManifests()).map((m) => m.text.endsWith('# audited\n'))).toEqual([...Array.from({ length: before.version }, () => false), true]);
  });
});

describe('a change made on a version another admin has changed since (If-Match)', () => {
  it('an account policy: 412 ACCOUNT_POLICY_CHANGED, and the change in force is the other one', async () => {
    const { id } = await account();
    const read = await call({ method: 'GET', url: `/v1/accounts/${id}`, headers: admin });
    expect([read.headers.etag, read.json<{ policyRevision: number }>().policyRevision]).toEqual(['"0"', 0]);
    const put = (jurisdictions: string[], ifMatch: string) => call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: { ...admin, 'if-match': ifMatch }, payload: { allowedJurisdictions: jurisdictions } });
    const first = await put(['US'], '"0"');
    expect([first.statusCode, first.headers.etag]).toEqual([200, '"1"']);
    const second = await put(['CA'], '"0"');
    expect([second.statusCode, second.json<{ code: string }>().code]).toEqual([412, 'ACCOUNT_POLICY_CHANGED']);
    expect((await broker.ctx.store.getAccount(id))?.allowedJurisdictions).toEqual(['US']);
    expect((await put(['CA'], '"1"')).statusCode).toBe(200);
    expect((await put(['US'], 'nonsense')).statusCode).toBe(400);
  });

  it('an account policy changed through another broker since this one read it: refused by the store', async () => {
    const { id } = await account();
    const store = broker.ctx.store;
    const get = store.getAccount.bind(store);
    // This broker reads revision 0; another broker's change lands before this one writes.
    store.getAccount = async (...args: Parameters<typeof get>) => {
      const read = await get(...args);
      store.getAccount = get;
      await store.updateAccountPolicy(id, { allowedJurisdictions: ['US'] });
      return read;
    };
    const res = await call({ method: 'PUT', url: `/v1/accounts/${id}/policy`, headers: { ...admin, 'if-match': '"0"' }, payload: { allowedJurisdictions: ['CA'] } });
    expect([res.statusCode, res.json<{ code: string }>().code]).toEqual([412, 'ACCOUNT_POLICY_CHANGED']);
    expect((await get(id))?.allowedJurisdictions).toEqual(['US']);
  });
});

it('diffs a manifest against the version before it in the store, which another broker may have saved', async () => {
  const before = broker.ctx.policy.current;
  // Another broker saved a version this one has not taken yet: us-east can no longer take anyone.
  const elsewhere = before.text.replace('capacity: 1200000', 'capacity: 1');
  expect(elsewhere).not.toBe(before.text);
  await broker.ctx.store.saveManifest(elsewhere, 'sha-of-another-broker', 'admin (another broker)', new Date().toISOString());
  const applied = await putManifest(`${before.text}\n# edited here\n`);
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
  const [record] = (await broker.ctx.audit.read()).filter((r) => r.type === 'manifest.changed').slice(-1);
  expect(record?.data).toMatchObject({ version: before.version + 2, previous: before.version + 1 });
  // Against the other broker's version, this one gives us-east its capacity back: the diff says so.
  expect(JSON.stringify(record?.data.diff)).toContain('us-east');
});
