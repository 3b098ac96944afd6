// The SDK keeps every route of a call (src/sdk/receipts.ts, Session.receipts) and builds the routing receipt file
// against a real broker and bridges on 127.0.0.1: each route's head and inclusion proof verify under the log key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leafEntry } from '../src/broker/audit/audit-log.js';
import { checkInclusionPromise, verifyTreeHead } from '../src/broker/audit/tree-heads.js';
import { decidedRouteOfFile } from '../src/broker/audit/verify-log.js';
import { logPublicKeyFromJwk } from '../src/broker/log-key.js';
import { startCluster, type Cluster } from '../src/bridge/cluster.fixture.js';
import { joinCall, until, waitFor, type Caller } from '../src/bridge/participant.fixture.js';
import { isGeobridgeError } from '../src/core/errors.js';
import { buildReceiptFile, receiptFileName, RouteReceipts, ROUTING_RECEIPT_FORMAT, type RouteReceipt } from '../src/sdk/receipts.js';
import { hashLeaf, verifyInclusion } from '../src/translog/index.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east', 'us-west'], ['us-east', 'us-west']);
}, 30_000);

afterAll(async () => {
  await cluster.close();
}, 30_000);

/** The code of what `promise` rejects with. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isGeobridgeError(error) ? error.code : `not a GeobridgeError: ${String(error)}`;
  }
  return 'resolved';
}

describe('routing receipts in the SDK', () => {
  it('keeps every route of a call across a failover, with the bridges that proved themselves, and builds a file whose proofs verify', async () => {
    const meeting = await cluster.meeting('Receipts');
    const ada: Caller = await joinCall(cluster, meeting, 'Ada', 'US');
    let first: string | undefined;
    try {
      first = await waitFor(ada.events, (e) => (e.type === 'connected' ? e.datacenter : undefined));
      // The datacenter goes down under the call: the session moves, and keeps the new route beside the old.
      await cluster.bridges.get(first)?.close();
      const second = await waitFor(ada.events, (e) => (e.type === 'connected' && e.datacenter !== first ? e.datacenter : undefined), 30_000);
      const routes = ada.session.receipts();
      expect(routes.length).toBeGreaterThanOrEqual(1);
      const connected = routes.flatMap((r) => r.connections.map((c) => c.datacenter));
      expect(connected).toEqual([first, second]);
      for (const route of routes) {
        expect(route).toMatchObject({ country: 'US', decisionId: expect.stringMatching(/^dec_/) as unknown, ticket: expect.stringMatching(/^eyJ/) as unknown });
        expect(route.candidates.map((c) => c.jurisdiction)).toContain('US');
        for (const c of route.connections) expect(c.bridgeProof.split('.')).toHaveLength(3);
      }

      const file = await buildReceiptFile({ broker: cluster.broker.url, routes, meeting });
      expect(file).toMatchObject({ format: ROUTING_RECEIPT_FORMAT, broker: new URL(cluster.broker.url).origin, meeting });
      const key = await logPublicKeyFromJwk(await (await fetch(new URL('/v1/log/key', cluster.broker.url))).json());
      for (const route of file.routes) {
        expect(checkInclusionPromise(route.receipt, decidedRouteOfFile(route), key.publicKey, key.keyId)).toBeUndefined();
        const head = verifyTreeHead(route.sth, key.publicKey, key.keyId);
        if (!head.ok) throw new Error(head.reason);
        const proof = route.inclusionProof.map((h) => Uint8Array.from(Buffer.from(h, 'base64')));
        expect(verifyInclusion(hashLeaf(leafEntry(route.receipt.recordHash)), route.receipt.index, proof, head.head)).toEqual({ ok: true });
      }
      // The file is JSON as written to disk: parsing it back gives the same document.
      expect(JSON.parse(JSON.stringify(file))).toEqual(file);
    } finally {
      ada.leave();
      if (first !== undefined) await cluster.startBridge(first);
    }
  }, 60_000);

  it('refuses to build a file without routes, from an unreachable broker, or before any head covers a route (RECEIPT_UNAVAILABLE)', async () => {
    expect(await codeOf(buildReceiptFile({ broker: cluster.broker.url, routes: [] }))).toBe('RECEIPT_UNAVAILABLE');
    const meeting = await cluster.meeting('Receipts 2');
    const bo = await joinCall(cluster, meeting, 'Bo', 'US');
    try {
      await until(() => bo.session.receipts().some((r) => r.connections.length > 0), 20_000);
      const [route] = bo.session.receipts();
      if (!route) throw new Error('no route kept');
      expect(await codeOf(buildReceiptFile({ broker: 'http://127.0.0.1:9', routes: [route] }))).toBe('RECEIPT_UNAVAILABLE');
      // A leaf far beyond the log: no head will cover it within the wait.
      const beyond: RouteReceipt = { ...route, receipt: { ...route.receipt, index: 1_000_000 } };
      expect(await codeOf(buildReceiptFile({ broker: cluster.broker.url, routes: [beyond], coverWaitMs: 600 }))).toBe('RECEIPT_UNAVAILABLE');
    } finally {
      bo.leave();
    }
  }, 40_000);
});

describe('RouteReceipts', () => {
  const answer = { ticket: 'eyJ.a.b', receipt: { index: 4, recordHash: 'cd'.repeat(32), timestamp: 1, keyId: 'k', signature: 's' } };
  const claims = { sub: 'p1', decision: 'dec_1', country: 'DE', candidates: ['eu-central', 'eu-west'], candidateJurisdictions: ['DE', 'IE'], manifest: 'ab'.repeat(32) };

  it('keeps a route answer with what its ticket signs (decision, country, candidates, manifest), and the connections made on it', () => {
    const kept = new RouteReceipts();
    const handle = kept.keep(answer, claims, new Date('2026-03-01T09:00:00Z'));
    handle?.connected({ datacenter: 'eu-central', connectedAt: '2026-03-01T09:00:01.000Z', challenge: 'c', bridgeProof: 'x.y.z' });
    expect(kept.list()).toEqual([
      {
        ticket: 'eyJ.a.b',
        decisionId: 'dec_1',
        participant: 'p1',
        country: 'DE',
        candidates: [{ datacenter: 'eu-central', jurisdiction: 'DE' }, { datacenter: 'eu-west', jurisdiction: 'IE' }],
        receipt: { manifestSha256: 'ab'.repeat(32), ...answer.receipt },
        receivedAt: '2026-03-01T09:00:00.000Z',
        connections: [{ datacenter: 'eu-central', connectedAt: '2026-03-01T09:00:01.000Z', challenge: 'c', bridgeProof: 'x.y.z' }],
      },
    ]);
  });

  it('keeps nothing of an answer without a log promise (a broker before the transparency log)', () => {
    const kept = new RouteReceipts();
    expect(kept.keep({ ...answer, receipt: undefined }, claims, new Date())).toBeUndefined();
    expect(kept.keep({ ...answer, receipt: { ...answer.receipt, index: '4' } }, claims, new Date())).toBeUndefined();
    expect(kept.list()).toEqual([]);
  });

  it('names the file after the meeting and the time, in UTC, with only file-name-safe characters', () => {
    expect(receiptFileName('m_01H/x', new Date('2026-03-01T09:08:07.654Z'))).toBe('geobridge-receipt-m_01H_x-20260301-090807.json');
  });
});
