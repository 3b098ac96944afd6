// The transparency log's public API: a tree head signed by the log key, and proofs that check against it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../translog/index.js';
import { leafEntry } from '../audit/audit-log.js';
import { verifyTreeHead, type SignedTreeHead } from '../audit/tree-heads.js';
import { logPublicKeyFromJwk } from '../log-key.js';
import { startTestBroker, type TestBroker } from '../test-broker.fixture.js';

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker();
  for (let i = 0; i < 11; i++) await broker.ctx.audit.append('admin.action', { i }, '2024-03-01T00:00:00Z');
});
afterAll(async () => {
  await broker.close();
});

async function get(url: string): Promise<{ status: number; body: unknown }> {
  const res = await broker.app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() };
}

const fromBase64 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'base64'));

describe('/v1/log', () => {
  it('serves a tree head of every record, signed by the log key it publishes (not the ticket key)', async () => {
    const jwk = (await get('/v1/log/key')) as { status: number; body: Record<string, string> };
    const key = await logPublicKeyFromJwk(jwk.body);
    const tickets = (await get('/.well-known/jwks.json')) as { status: number; body: { keys: { kid: string }[] } };
    expect(tickets.body.keys.map((k) => k.kid)).not.toContain(key.keyId);
    const sth = (await get('/v1/log/sth')) as { status: number; body: SignedTreeHead };
    expect(sth.status).toBe(200);
    expect(sth.body.size).toBe(11);
    expect(verifyTreeHead(sth.body, key.publicKey, key.keyId)).toEqual({ ok: true, head: await broker.ctx.audit.treeHead(11) });
  });

  it('proves each record in the signed tree, and that tree consistent with an older one', async () => {
    const sth = ((await get('/v1/log/sth')) as { status: number; body: SignedTreeHead }).body;
    const head = { size: sth.size, rootHash: fromBase64(sth.rootHash) };
    const records = await broker.ctx.audit.read();
    for (const record of records) {
      // Without a size: the tree of the latest signed head.
      const { status, body } = (await get(`/v1/log/proof?index=${String(record.seq - 1)}`)) as { status: number; body: { seq: number; index: number; size: number; recordHash: string; proof: string[] } };
      expect(status).toBe(200);
      expect(body).toMatchObject({ seq: record.seq, size: sth.size, recordHash: record.hash });
      expect(verifyInclusion(hashLeaf(leafEntry(body.recordHash)), body.index, body.proof.map(fromBase64), head)).toEqual({ ok: true });
    }
    const consistency = (await get('/v1/log/consistency?from=5')) as { status: number; body: { to: number; proof: string[] } };
    expect(consistency.body.to).toBe(sth.size);
    expect(verifyConsistency(await broker.ctx.audit.treeHead(5), head, consistency.body.proof.map(fromBase64))).toEqual({ ok: true });
    const older = (await get('/v1/log/proof?index=2&size=4')) as { status: number; body: { proof: string[] } };
    expect(verifyInclusion(hashLeaf(leafEntry(records[2]?.hash ?? '')), 2, older.body.proof.map(fromBase64), await broker.ctx.audit.treeHead(4))).toEqual({ ok: true });
  });

  it('answers requests outside the log with 416 TRANSLOG_OUT_OF_RANGE and malformed ones with 400, never 500', async () => {
    for (const url of ['/v1/log/proof?index=5&size=5', '/v1/log/proof?index=11', '/v1/log/proof?index=1&size=99', '/v1/log/consistency?from=6&to=5', '/v1/log/consistency?from=12', '/v1/log/consistency?from=1&to=99']) {
      const res = (await get(url)) as { status: number; body: { code: string } };
      expect([url, res.status, res.body.code]).toEqual([url, 416, 'TRANSLOG_OUT_OF_RANGE']);
    }
    for (const url of ['/v1/log/proof?index=x&size=5', '/v1/log/proof?size=5', '/v1/log/proof?index=-1&size=5', '/v1/log/consistency?from=1.5&to=5', '/v1/log/consistency?from=1&to=5&extra=1', `/v1/log/proof?index=1&size=${'9'.repeat(20)}`]) {
      const res = (await get(url)) as { status: number; body: { code: string } };
      expect([url, res.status, res.body.code]).toEqual([url, 400, 'VALIDATION']);
    }
  });

  it('is in the OpenAPI document', async () => {
    const paths = ((await get('/docs/json')) as { status: number; body: { paths: Record<string, unknown> } }).body.paths;
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/v1/log/key', '/v1/log/sth', '/v1/log/proof', '/v1/log/consistency']));
  });
});
