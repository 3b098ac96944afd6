// Record-store logs (manifest `stores:`) from the verifier's side: one log per store, all under the one log key, each
// naming itself in its signed heads and promises. `audit verify|prove` and `receipt verify` on a store's log built with
// the real SQLite adapter, through main(); the SDK's receipt file over two logs against a fake broker client.
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { leafEntry, type AuditRecord } from '../src/broker/audit/audit-log.js';
import { SqliteAuditLog } from '../src/broker/audit/sqlite-audit-log.js';
import { checkInclusionPromise, signInclusionPromise, signTreeHead, verifyTreeHead, type DecidedRoute, type InclusionPromise, type LogKey, type SignedTreeHead } from '../src/broker/audit/tree-heads.js';
import { decidedRouteOfFile } from '../src/broker/audit/verify-log.js';
import { KeyRing } from '../src/broker/keys.js';
import { ephemeralLogKey, loadLogKey, logPublicJwk } from '../src/broker/log-key.js';
import { MemoryStore } from '../src/broker/store/memory-store.js';
import { issueRouteTicket } from '../src/broker/tickets.js';
import { parseRoutingReceiptFile, ROUTING_RECEIPT_FORMAT, type ReceiptFileRoute, type RoutingReceiptFile } from '../src/core/receipt-file.js';
import { BrokerClient } from '../src/sdk/broker-client.js';
import { buildReceiptFile, RouteReceipts, type RouteReceipt } from '../src/sdk/receipts.js';
import { hashLeaf, verifyInclusion } from '../src/translog/index.js';
import { runCli as run } from './run-cli.fixture.js';

const base = mkdtempSync(join(tmpdir(), 'geobridge-store-log-'));
let files = 0;
const MANIFEST = 'ab'.repeat(32);
const AT = Date.parse('2026-03-01T09:00:00Z');

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

function save(value: unknown): string {
  const path = join(base, `file-${String(++files)}.json`);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

function base64(hashes: readonly Uint8Array[]): string[] {
  return hashes.map((h) => Buffer.from(h).toString('base64'));
}

/** A decision for DE → eu-central, as the broker records it. */
function decision(decisionId: string): Record<string, unknown> {
  return { decisionId, participant: 'p1', meeting: 'm1', country: 'DE', manifestSha256: MANIFEST, candidates: [{ datacenter: 'eu-central', role: 'primary', jurisdiction: 'DE' }] };
}

/**
 * A data directory whose audit.sqlite is the log of record store `store` (its record 1 `store.opened`), or a broker's
 * own log when undefined; two decisions after it, a head signed under the store's name and kept in the log, and a
 * receipt file route for the second decision, proven against that head.
 */
async function storeLog(store: string | undefined): Promise<{ dir: string; key: LogKey; sth: SignedTreeHead; route: ReceiptFileRoute; record: AuditRecord }> {
  const dir = join(base, `data-${String(++files)}`);
  mkdirSync(dir);
  const key = await loadLogKey(dir, true);
  const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'));
  try {
    if (store !== undefined) await log.append('store.opened', { store }, '2026-03-01T08:00:00Z');
    await log.append('route.decision', decision('dec_1'), '2026-03-01T08:30:00Z');
    const record = await log.append('route.decision', decision('dec_2'), '2026-03-01T09:00:00Z');
    const sth = signTreeHead(key, await log.treeHead(), AT + 500, store);
    await log.saveTreeHead(sth);
    const receipt = { manifestSha256: MANIFEST, ...signInclusionPromise(key, record.seq - 1, record.hash, record.data as unknown as DecidedRoute, AT, store) };
    const route: ReceiptFileRoute = {
      ticket: 'eyJ.a.b',
      decisionId: 'dec_2',
      participant: 'p1',
      country: 'DE',
      candidates: [{ datacenter: 'eu-central', jurisdiction: 'DE' }],
      receipt,
      receivedAt: '2026-03-01T09:00:00.100Z',
      connections: [],
      sth,
      inclusionProof: base64(await log.inclusionProof(record.seq, sth.size)),
    };
    return { dir, key, sth, route, record };
  } finally {
    await log.close();
  }
}

function receiptFile(...routes: ReceiptFileRoute[]): RoutingReceiptFile {
  return { format: ROUTING_RECEIPT_FORMAT, broker: 'http://127.0.0.1:1', createdAt: '2026-03-01T09:01:00.000Z', routes };
}

function keyFile(key: LogKey): string {
  return save(logPublicJwk(key));
}

/** The broker's ticket keys, and the route ticket of the decisions above (dec_2: DE → eu-central), as /v1/route answers it. */
const tickets = KeyRing.load(new MemoryStore(), () => new Date());
async function ticketOfDecision(): Promise<string> {
  const keys = await tickets;
  const policy = { hostCountry: 'DE' };
  const issued = await issueRouteTicket(keys, { issuer: 'http://broker.test', participant: 'p1', meeting: 'm1', candidates: ['eu-central'], candidateJurisdictions: ['DE'], decision: 'dec_2', country: 'DE', name: 'Anna', manifest: MANIFEST, policy, ice: {}, candidateRoles: ['primary'], attempts: { perPrimary: 2, timeoutMs: 1500 } });
  return issued.token;
}

/** A broker's log API over the log in `dir` as record store `store`'s (`?store=`), and its ticket keys; `ignoresStore`: a broker from before record stores. */
async function logServer(dir: string, store: string, options: { ignoresStore?: boolean } = {}): Promise<{ url: string; asked: string[]; server: Server }> {
  const asked: string[] = [];
  const keys = await tickets;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(keys.jwks()));
      return;
    }
    asked.push(`${url.pathname}${url.search}`);
    const named = url.searchParams.get('store');
    void (async () => {
      const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'), { create: false });
      try {
        if (!options.ignoresStore && named !== store) return { status: 404, body: { code: 'NOT_FOUND' } };
        const sth = (await log.latestTreeHead()) as SignedTreeHead;
        if (url.pathname === '/v1/log/sth') return { status: 200, body: options.ignoresStore ? sth : { ...sth, log: store } };
      if (url.pathname === '/v1/log/consistency') {
        const [from, to] = [Number(url.searchParams.get('from')), Number(url.searchParams.get('to'))];
        return { status: 200, body: { from, to, proof: base64(await log.consistencyProof(from, to)) } };
      }
        const index = Number(url.searchParams.get('index'));
        const size = Number(url.searchParams.get('size'));
        const [record] = await log.read({ from: index + 1, to: index + 1 });
        return { status: 200, body: { index, size, recordHash: record?.hash, proof: base64(await log.inclusionProof(index + 1, size)) } };
      } finally {
        await log.close();
      }
    })().then(({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { url: `http://127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}`, asked, server };
}

describe('a record store names its log in what the log key signs', () => {
  it('a head signed for eu verifies as eu only: not as us, nor as the broker’s own log, nor the reverse', async () => {
    const key = await ephemeralLogKey();
    const head = { size: 3, rootHash: Uint8Array.from({ length: 32 }, (_, i) => i) };
    const eu = signTreeHead(key, head, AT, 'eu');
    expect(eu.log).toBe('eu');
    expect(verifyTreeHead(eu, key.publicKey, key.keyId).ok).toBe(true);
    const own: SignedTreeHead = { size: eu.size, rootHash: eu.rootHash, timestamp: eu.timestamp, keyId: eu.keyId, signature: eu.signature };
    for (const other of [{ ...eu, log: 'us' }, own]) expect(verifyTreeHead(other, key.publicKey, key.keyId)).toMatchObject({ ok: false, reason: 'the signature does not verify under the log key' });
    const ownHead = signTreeHead(key, head, AT);
    expect(verifyTreeHead(ownHead, key.publicKey, key.keyId).ok).toBe(true);
    expect(verifyTreeHead({ ...ownHead, log: 'eu' }, key.publicKey, key.keyId)).toMatchObject({ ok: false });
  });

  it('a promise made for eu verifies as eu only, both directions', async () => {
    const key = await ephemeralLogKey();
    const hash = 'cd'.repeat(32);
    const decided = decision('dec_4') as unknown as DecidedRoute;
    const refused = 'the signature does not verify under the log key for the decision, manifest, country and candidates the receipt names';
    const eu = signInclusionPromise(key, 4, hash, decided, AT, 'eu');
    expect(checkInclusionPromise(eu, decided, key.publicKey, key.keyId)).toBeUndefined();
    const own: InclusionPromise = { index: eu.index, recordHash: eu.recordHash, timestamp: eu.timestamp, keyId: eu.keyId, signature: eu.signature };
    expect(checkInclusionPromise({ ...eu, log: 'us' }, decided, key.publicKey, key.keyId)).toBe(refused);
    expect(checkInclusionPromise(own, decided, key.publicKey, key.keyId)).toBe(refused);
    const ownPromise = signInclusionPromise(key, 4, hash, decided, AT);
    expect(checkInclusionPromise({ ...ownPromise, log: 'eu' }, decided, key.publicKey, key.keyId)).toBe(refused);
  });

  it('the receipt file keeps a promise’s and a head’s log, and refuses one that is not a name', async () => {
    const { route } = await storeLog('eu');
    const parsed = parseRoutingReceiptFile(JSON.parse(JSON.stringify(receiptFile(route))));
    expect(parsed).toMatchObject({ ok: true, file: { routes: [{ receipt: { log: 'eu' }, sth: { log: 'eu' } }] } });
    expect(parseRoutingReceiptFile(receiptFile({ ...route, sth: { ...route.sth, log: 7 } as unknown as SignedTreeHead }))).toEqual({ ok: false, error: "routes[0].sth: field 'log' is malformed" });
    expect(parseRoutingReceiptFile(receiptFile({ ...route, receipt: { ...route.receipt, log: '' } }))).toEqual({ ok: false, error: "routes[0].receipt: field 'log' is malformed" });
  });
});

describe('geobridge audit verify|prove on a record store’s log', () => {
  it('verifies its kept heads under the store’s name, and says which log it checked (exit 0)', async () => {
    const { dir, sth } = await storeLog('eu');
    const r = await run('audit', 'verify', '--data', dir, '--sth', save(sth));
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/^chain intact: 3 records of the log of record store eu\n/);
    expect(r.out).toContain(`signed tree heads: 1 kept, each signed by log key ${sth.keyId} for record store eu over the records it covers`);
    expect(r.out).toContain('your tree head (3 records, signed ');
    expect(JSON.parse((await run('audit', 'verify', '--data', dir, '--json')).out)).toMatchObject({ ok: true, count: 3, headsChecked: 1, log: 'eu' });
    const own = await storeLog(undefined);
    const ownRun = await run('audit', 'verify', '--data', own.dir, '--json');
    expect(JSON.parse(ownRun.out)).not.toHaveProperty('log');
    expect((await run('audit', 'verify', '--data', own.dir)).out).toMatch(/^chain intact: 2 records of the broker's own log\n/);
  });

  it('fails a pinned head of another log, even one signed over the very same records (exit 1)', async () => {
    const { dir, key } = await storeLog('eu');
    const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'), { create: false });
    const head = await log.treeHead();
    await log.close();
    const us = save(signTreeHead(key, head, AT + 600, 'us'));
    const r = await run('audit', 'verify', '--data', dir, '--sth', us);
    expect([r.code, r.out]).toEqual([1, expect.stringMatching(/^log altered: the tree head you kept \(3 records, signed \S+\): it is a head of the log of record store us, and this is the log of record store eu: check it against its own log\n$/) as unknown]);
    const own = await run('audit', 'verify', '--data', dir, '--sth', save(signTreeHead(key, head, AT + 600)), '--json');
    expect(JSON.parse(own.out)).toMatchObject({ ok: false, problem: 'pinned', reason: expect.stringContaining("it is a head of the broker's own log, and this is the log of record store eu") as unknown });
  });

  it('proves a receipt in the store’s log it names, and refuses it in another log, naming both (exit 1)', async () => {
    const eu = await storeLog('eu');
    const file = save(receiptFile(eu.route));
    const proven = await run('audit', 'prove', file, '--data', eu.dir);
    expect([proven.code, proven.out]).toEqual([0, expect.stringMatching(/^in the log of record store eu: record 3 \(route\.decision dec_2, \S+\), as promised \S+, under manifest (ab){32}\n/) as unknown]);
    const us = await storeLog('us');
    const inUs = await run('audit', 'prove', file, '--data', us.dir, '--log-key', keyFile(eu.key));
    expect([inUs.code, inUs.out]).toEqual([1, 'not proven: the receipt is for the log of record store eu, and this is the log of record store us: check it against the log it names\n']);
    const own = await storeLog(undefined);
    const answer = save({ decisionId: 'dec_2', country: 'DE', candidates: eu.route.candidates, receipt: eu.route.receipt });
    const inOwn = await run('audit', 'prove', answer, '--data', own.dir, '--log-key', keyFile(eu.key));
    expect([inOwn.code, inOwn.out]).toEqual([1, "not proven: the receipt is for the log of record store eu, and this is the broker's own log: check it against the log it names\n"]);
  });
});

describe('geobridge receipt verify, a decision in a record store’s log', () => {
  it('verifies offline and against the store’s log, saying which log holds the decision (exit 0)', async () => {
    const { dir, key, route } = await storeLog('eu');
    const file = save(receiptFile(route));
    const offline = await run('receipt', 'verify', file, '--log-key', keyFile(key));
    expect(offline.code, offline.out + offline.err).toBe(0);
    expect(offline.out).toContain("record 3 is in the log of record store eu: the file's tree head of 3 records");
    expect(JSON.parse((await run('receipt', 'verify', file, '--log-key', keyFile(key), '--json')).out)).toMatchObject({ ok: true, routes: [{ ok: true, seq: 3, log: 'eu' }] });
    const inLog = await run('receipt', 'verify', file, '--log', dir);
    expect(inLog.code, inLog.out + inLog.err).toBe(0);
    expect(inLog.out).toMatch(/the log of record store eu in \S+ holds it: record 3 \(route\.decision dec_2, \S+\), for DE → eu-central/);
  });

  it('refuses a route whose head is of another log than its promise, though both are signed over the same records (exit 1)', async () => {
    const { dir, key, route } = await storeLog('eu');
    const log = SqliteAuditLog.open(join(dir, 'audit.sqlite'), { create: false });
    const head = await log.treeHead();
    await log.close();
    for (const [sth, name] of [[signTreeHead(key, head, AT + 600, 'us'), 'the log of record store us'], [signTreeHead(key, head, AT + 600), "the broker's own log"]] as const) {
      const r = await run('receipt', 'verify', save(receiptFile({ ...route, sth })), '--log-key', keyFile(key));
      expect([r.code, r.out]).toEqual([1, `not verified: the file's tree head is of ${name}, but the promise is for the log of record store eu: a head proves only the records of its own log\n`]);
    }
  });

  it('with --log DIR, refuses the log of another store, naming both (exit 1)', async () => {
    const eu = await storeLog('eu');
    const us = await storeLog('us');
    const r = await run('receipt', 'verify', save(receiptFile(eu.route)), '--log', us.dir, '--log-key', keyFile(eu.key));
    expect([r.code, r.out]).toEqual([1, expect.stringMatching(/^not verified: the log in \S+: the receipt is for the log of record store eu, and this is the log of record store us: check it against the log it names\n$/) as unknown]);
  });

  describe('with --broker, a bare route answer', () => {
    it('asks the broker for the store’s log, and proves the record in it (exit 0)', async () => {
      const { dir, key, route } = await storeLog('eu');
      const broker = await logServer(dir, 'eu');
      try {
        const answer = save({ decisionId: 'dec_2', country: 'DE', candidates: route.candidates, ticket: await ticketOfDecision(), receipt: route.receipt });
        const r = await run('receipt', 'verify', answer, '--broker', broker.url, '--log-key', keyFile(key));
        expect(r.code, r.out + r.err).toBe(0);
        expect(r.out).toMatch(/^record 3 is in the log of record store eu: the tree head of 3 records signed \S+ holds it/);
        expect(broker.asked).toEqual(['/v1/log/sth?store=eu', '/v1/log/proof?index=2&size=3&store=eu']);
        // A head kept of this log: the broker's latest extends it, by the store's consistency proof.
        const same = await run('receipt', 'verify', answer, '--broker', broker.url, '--log-key', keyFile(key), '--sth', save(route.sth));
        expect(same.code, same.out + same.err).toBe(0);
        expect(same.out).toContain('and that log extends the head you kept (3 records');
        expect(broker.asked.at(-1)).toBe('/v1/log/consistency?from=3&to=3&store=eu');
        // A head kept of another log says nothing of this one.
        const kept = save({ ...route.sth, log: 'us' });
        const other = await run('receipt', 'verify', answer, '--broker', broker.url, '--log-key', keyFile(key), '--sth', kept);
        expect([other.code, other.out]).toEqual([1, 'not verified: the tree head you kept is of the log of record store us, but the receipt is for the log of record store eu: give --sth a head of that log (GET /v1/log/sth?store=eu)\n']);
      } finally {
        broker.server.close();
      }
    });

    it('refuses an answer whose country or candidates were altered: by its ticket with --broker, by the record with --log and in audit prove (exit 1)', async () => {
      const { dir, key, route } = await storeLog('eu');
      const broker = await logServer(dir, 'eu');
      try {
        const cn = { decisionId: 'dec_2', country: 'CN', candidates: [{ datacenter: 'cn-beijing', role: 'primary', jurisdiction: 'CN' }] };
        // Altered by whoever holds the answer: the log's promise no longer verifies for it.
        const altered = await run('receipt', 'verify', save({ ...cn, ticket: await ticketOfDecision(), receipt: route.receipt }), '--broker', broker.url, '--log-key', keyFile(key));
        expect([altered.code, altered.out]).toEqual([1, "not verified: the receipt is not the log's promise: the signature does not verify under the log key for the decision, manifest, country and candidates the receipt names\n"]);
        // With a promise the log signed for it (a log vouching for what it did not record), the ticket and the record still say otherwise.
        const { index, recordHash, timestamp, log } = route.receipt;
        const forged = save({ ...cn, ticket: await ticketOfDecision(), receipt: { manifestSha256: MANIFEST, ...signInclusionPromise(key, index, recordHash, { ...cn, manifestSha256: MANIFEST }, timestamp, log) } });
        const byTicket = await run('receipt', 'verify', forged, '--broker', broker.url, '--log-key', keyFile(key));
        expect([byTicket.code, byTicket.out]).toEqual([1, 'not verified: the route ticket says the broker decided DE → eu-central (DE), not CN → cn-beijing (CN) as the receipt says: the receipt was altered\n']);
        const byRecord = await run('receipt', 'verify', forged, '--log', dir, '--log-key', keyFile(key));
        expect([byRecord.code, byRecord.out]).toEqual([1, expect.stringMatching(/^not verified: the log in \S+: record 3 decided DE → eu-central \(DE\), not CN → cn-beijing \(CN\) as the receipt says: the receipt was altered\n$/) as unknown]);
        const proved = await run('audit', 'prove', forged, '--data', dir, '--log-key', keyFile(key));
        expect([proved.code, proved.out]).toEqual([1, 'not proven: record 3 decided DE → eu-central (DE), not CN → cn-beijing (CN) as the receipt says: the receipt was altered\n']);
        // Without its ticket, what an answer says was decided has nothing signed to stand on but the record.
        const bare = save({ decisionId: 'dec_2', country: 'DE', candidates: route.candidates, receipt: route.receipt });
        const unsigned = await run('receipt', 'verify', bare, '--broker', broker.url, '--log-key', keyFile(key));
        expect([unsigned.code, unsigned.out]).toEqual([1, expect.stringContaining('not verified: the answer lacks its route ticket') as unknown]);
      } finally {
        broker.server.close();
      }
    });

    it('refuses a broker that answers with its own log’s head when asked for the store’s (exit 1)', async () => {
      const { dir, key, route } = await storeLog('eu');
      const broker = await logServer(dir, 'eu', { ignoresStore: true });
      try {
        const r = await run('receipt', 'verify', save({ decisionId: 'dec_2', country: 'DE', candidates: route.candidates, receipt: route.receipt }), '--broker', broker.url, '--log-key', keyFile(key));
        expect([r.code, r.out]).toEqual([1, "not verified: asked for the log of record store eu, the broker answered with a tree head of the broker's own log: it does not serve the log that holds this decision\n"]);
      } finally {
        broker.server.close();
      }
    });
  });
});

describe('the SDK’s routing receipt file over two logs', () => {
  /** Two logs under one key: the broker's own (two decisions) and record store eu's, whose head is behind its newest route at first. */
  async function twoLogs(): Promise<{ key: LogKey; routes: RouteReceipt[]; own: SqliteAuditLog; eu: SqliteAuditLog }> {
    const key = await ephemeralLogKey();
    const dir = join(base, `sdk-${String(++files)}`);
    mkdirSync(dir);
    const own = SqliteAuditLog.open(join(dir, 'own.sqlite'));
    const eu = SqliteAuditLog.open(join(dir, 'eu.sqlite'));
    await eu.append('store.opened', { store: 'eu' }, '2026-03-01T08:00:00Z');
    const kept = new RouteReceipts();
    const keep = async (log: SqliteAuditLog, name: string | undefined, decisionId: string): Promise<void> => {
      const record = await log.append('route.decision', decision(decisionId), '2026-03-01T09:00:00Z');
      const receipt = signInclusionPromise(key, record.seq - 1, record.hash, { decisionId, manifestSha256: MANIFEST, country: 'DE', candidates: [] }, AT, name);
      kept.keep({ ticket: 'eyJ.a.b', receipt }, { sub: 'p1', decision: decisionId, country: 'DE', candidates: [], candidateJurisdictions: [], manifest: MANIFEST }, new Date(AT));
    };
    await keep(own, undefined, 'dec_own_1');
    await keep(eu, 'eu', 'dec_eu_1');
    await keep(own, undefined, 'dec_own_2');
    await keep(eu, 'eu', 'dec_eu_2');
    return { key, routes: [...kept.list()], own, eu };
  }

  it('keeps each route’s log, asks each log for its head until it covers that log’s newest route, and proves each route in its own log', async () => {
    const { key, routes, own, eu } = await twoLogs();
    try {
      expect(routes.map((r) => r.receipt.log)).toEqual([undefined, 'eu', undefined, 'eu']);
      const logs = new Map<string | undefined, SqliteAuditLog>([[undefined, own], ['eu', eu]]);
      const asked: string[] = [];
      let euHeads = 0;
      const client = {
        url: 'http://broker.test',
        async treeHead(options: { store?: string } = {}): Promise<SignedTreeHead> {
          asked.push(`sth ${options.store ?? 'own'}`);
          const log = logs.get(options.store);
          if (!log) throw new Error('404');
          // eu's first head predates its newest route: the file must wait for the next.
          const size = options.store === 'eu' && euHeads++ === 0 ? 2 : undefined;
          return signTreeHead(key, await log.treeHead(size), AT + 500, options.store);
        },
        async inclusionProof(index: number, size: number, options: { store?: string } = {}): Promise<readonly string[]> {
          asked.push(`proof ${options.store ?? 'own'} ${String(index)}@${String(size)}`);
          return base64((await logs.get(options.store)?.inclusionProof(index + 1, size)) ?? []);
        },
      };
      const file = await buildReceiptFile({ broker: client.url, client, routes });
      expect(asked.filter((a) => a.startsWith('sth'))).toEqual(['sth own', 'sth eu', 'sth eu']);
      expect(asked.filter((a) => a.startsWith('proof')).sort()).toEqual(['proof eu 1@3', 'proof eu 2@3', 'proof own 0@2', 'proof own 1@2']);
      expect(file.routes.map((r) => [r.decisionId, r.sth.log, r.sth.size])).toEqual([
        ['dec_own_1', undefined, 2],
        ['dec_eu_1', 'eu', 3],
        ['dec_own_2', undefined, 2],
        ['dec_eu_2', 'eu', 3],
      ]);
      for (const route of file.routes) {
        expect(checkInclusionPromise(route.receipt, decidedRouteOfFile(route), key.publicKey, key.keyId)).toBeUndefined();
        const head = verifyTreeHead(route.sth, key.publicKey, key.keyId);
        if (!head.ok) throw new Error(head.reason);
        const proof = route.inclusionProof.map((h) => Uint8Array.from(Buffer.from(h, 'base64')));
        expect(verifyInclusion(hashLeaf(leafEntry(route.receipt.recordHash)), route.receipt.index, proof, head.head)).toEqual({ ok: true });
      }
      expect(parseRoutingReceiptFile(JSON.parse(JSON.stringify(file)))).toMatchObject({ ok: true });
    } finally {
      await own.close();
      await eu.close();
    }
  });

  it('refuses (RECEIPT_UNAVAILABLE) a broker that answers the store’s head with its own', async () => {
    const { key, routes, own, eu } = await twoLogs();
    try {
      const client = {
        url: 'http://broker.test',
        treeHead: async (): Promise<SignedTreeHead> => signTreeHead(key, await own.treeHead(), AT),
        inclusionProof: async (index: number, size: number): Promise<readonly string[]> => base64(await own.inclusionProof(index + 1, size)),
      };
      await expect(buildReceiptFile({ broker: client.url, client, routes, coverWaitMs: 0 })).rejects.toMatchObject({ code: 'RECEIPT_UNAVAILABLE', message: "asked for the log of record store eu, the broker answered with a tree head of the broker's log: it does not serve the log this route was recorded in; ask its operator to update it." });
    } finally {
      await own.close();
      await eu.close();
    }
  });

  it('BrokerClient asks for a store’s log with store=, and for its own without', async () => {
    const { dir } = await storeLog('eu');
    const broker = await logServer(dir, 'eu');
    try {
      const client = new BrokerClient(broker.url);
      expect(await client.treeHead({ store: 'eu' })).toMatchObject({ size: 3, log: 'eu' });
      expect(await client.inclusionProof(2, 3, { store: 'eu' })).toHaveLength(1);
      await expect(client.treeHead()).rejects.toMatchObject({ status: 404 });
      expect(broker.asked).toEqual(['/v1/log/sth?store=eu', '/v1/log/proof?index=2&size=3&store=eu', '/v1/log/sth']);
    } finally {
      broker.server.close();
    }
  });

  it('keeps nothing of a promise whose log is not a string', () => {
    const kept = new RouteReceipts();
    const receipt = { index: 1, recordHash: 'cd'.repeat(32), timestamp: 1, keyId: 'k', signature: 's' };
    const claims = { sub: 'p1', decision: 'd', country: 'DE', candidates: [], candidateJurisdictions: [], manifest: MANIFEST };
    expect(kept.keep({ ticket: 't', receipt: { ...receipt, log: 7 } }, claims, new Date())).toBeUndefined();
    kept.keep({ ticket: 't', receipt: { ...receipt, log: 'eu' } }, claims, new Date());
    expect(kept.list().map((r) => r.receipt)).toEqual([{ manifestSha256: MANIFEST, ...receipt, log: 'eu' }]);
  });
});
