// `geobridge receipt verify` on the routing receipt file the SDK builds (src/sdk/receipts.ts), through main():
// offline under a pinned key, against the broker, against its data directory; and every refusal, with its exit code.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInclusionPromise, signTreeHead } from '../src/broker/audit/tree-heads.js';
import { decidedRouteOfFile } from '../src/broker/audit/verify-log.js';
import { ephemeralLogKey, loadLogKey, logPublicJwk } from '../src/broker/log-key.js';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { startCluster, type Cluster } from '../src/bridge/cluster.fixture.js';
import { joinCall, until } from '../src/bridge/participant.fixture.js';
import { runCli as run } from './run-cli.fixture.js';
import { ROUTING_RECEIPT_FORMAT, type RoutingReceiptFile } from '../src/core/receipt-file.js';
import { buildReceiptFile, RouteReceipts } from '../src/sdk/receipts.js';
import { rewriteLog } from './rewrite-log.fixture.js';
import { readRouteTicketUnverified } from '../src/protocol/route-ticket.js';

const root = join(import.meta.dirname, '..');
const base = mkdtempSync(join(tmpdir(), 'geobridge-receipt-file-'));
let files = 0;
let cluster: Cluster;
/** A file built by the SDK from a real call on `cluster`, its path, and the pinned log key's path. */
let good: RoutingReceiptFile;
let goodPath: string;
let keyPath: string;
/** The log's head before the call: signed, but too old to hold its route. */
let before: unknown;

function save(value: unknown): string {
  const path = join(base, `receipt-${String(++files)}.json`);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return path;
}

/** The file with its first route changed by `edit`. */
function edited(edit: (route: RoutingReceiptFile['routes'][number]) => object): string {
  const [first, ...rest] = good.routes;
  if (!first) throw new Error('no route');
  return save({ ...good, routes: [edit(first), ...rest] });
}

/** The file with its first route changed by `edit`, and its promise signed again for what it now says with the log's own key: a log vouching for a lie. */
async function editedAndSigned(edit: (route: RoutingReceiptFile['routes'][number]) => RoutingReceiptFile['routes'][number]): Promise<string> {
  const key = await loadLogKey(cluster.dataDir, false);
  return edited((route) => {
    const changed = edit(route);
    const { index, recordHash, timestamp, log } = changed.receipt;
    return { ...changed, receipt: { manifestSha256: changed.receipt.manifestSha256, ...signInclusionPromise(key, index, recordHash, decidedRouteOfFile(changed), timestamp, log) } };
  });
}

/** `b64` with its first character changed to another base64 character: still base64, another hash. */
function flipped(b64: string): string {
  return `${b64.startsWith('A') ? 'B' : 'A'}${b64.slice(1)}`;
}

beforeAll(async () => {
  cluster = await startCluster(['us-east'], ['us-east']);
  before = await (await fetch(new URL('/v1/log/sth', cluster.broker.url))).json();
  const meeting = await cluster.meeting('Receipts');
  const ada = await joinCall(cluster, meeting, 'Ada', 'US');
  await until(() => ada.session.receipts().some((r) => r.connections.length > 0), 20_000);
  good = await buildReceiptFile({ broker: cluster.broker.url, routes: ada.session.receipts(), meeting });
  ada.leave();
  goodPath = save(good);
  keyPath = save(await (await fetch(new URL('/v1/log/key', cluster.broker.url))).text());
}, 60_000);

afterAll(async () => {
  await cluster.close();
  rmSync(base, { recursive: true, force: true });
}, 30_000);

describe('geobridge receipt verify FILE (a routing receipt file)', () => {
  it('verifies offline under the pinned key, and names the country, the datacenters offered (jurisdiction), when, and the manifest; where it connected as the file’s word', async () => {
    const r = await run('receipt', 'verify', goodPath, '--log-key', keyPath);
    expect(r.code, r.err).toBe(0);
    // The promise signs what was decided; where the participant connected only the bridges' proofs show, with --broker.
    expect(r.out).toMatch(/^US, offered us-east \(US\)[^\n]*; the file says it connected to us-east at \S+Z \(--broker checks each bridge's proof\); decided \S+Z, decision dec_\S+, under manifest [0-9a-f]{64}\nrecord \d+ is in the log: the file's tree head of \d+ records, signed \S+, holds it \(an inclusion proof of \d+ hash(es)?, checked here\)\n$/);
    // A route, decision or manifest changed in the file is no longer the one the log promised.
    for (const edit of [(route: RoutingReceiptFile['routes'][number]) => ({ ...route, country: 'CN' }), (route: RoutingReceiptFile['routes'][number]) => ({ ...route, decisionId: 'dec_other' }), (route: RoutingReceiptFile['routes'][number]) => ({ ...route, receipt: { ...route.receipt, manifestSha256: 'f'.repeat(64) } })]) {
      const refused = await run('receipt', 'verify', edited(edit), '--log-key', keyPath);
      expect([refused.code, refused.out]).toEqual([1, "not verified: bad signature: the receipt is not the log's promise: the signature does not verify under the log key for the decision, manifest, country and candidates the receipt names\n"]);
    }
    const json = JSON.parse((await run('receipt', 'verify', goodPath, '--log-key', keyPath, '--json')).out) as { ok: boolean; keyPinned: boolean; routes: { ok: boolean }[] };
    expect(json).toMatchObject({ ok: true, keyPinned: true, routes: [{ ok: true, seq: good.routes[0]?.receipt.index !== undefined ? good.routes[0].receipt.index + 1 : -1 }] });
  });

  it('with --broker: the latest head extends the file’s and holds the record again, and the bridge’s proof holds under the key the broker publishes', async () => {
    const r = await run('receipt', 'verify', goodPath, '--broker', cluster.broker.url);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("the broker's latest tree head (");
    expect(r.out).toContain(") extends the file's and holds the same record");
    expect(r.out).toContain('the bridge of us-east proved it was reached');
    expect(r.out).toMatch(/log key \S+, fetched from the broker: pin it/);
    // Where it connected, and when, as each bridge's signed proof says.
    expect(r.out).toMatch(/^US → us-east \(US\), admitted \S+Z; decided/);
    // A route whose country and datacenters were changed to another's, even with a promise the log signed for it: its ticket says what the broker decided.
    const moved = await editedAndSigned((route) => ({ ...route, country: 'CN', candidates: [{ datacenter: 'cn-beijing', jurisdiction: 'CN' }] }));
    const forged = await run('receipt', 'verify', moved, '--broker', cluster.broker.url);
    expect([forged.code, forged.out]).toEqual([1, expect.stringMatching(/^not verified: the route ticket says the broker decided US → us-east \(US\)[^\n]*, not CN → cn-beijing \(CN\) as the receipt says: the receipt was altered\n$/) as unknown]);
    const bogus = edited((route) => ({ ...route, connections: route.connections.map((c) => ({ ...c, challenge: `${c.challenge}x` })) }));
    const replayed = await run('receipt', 'verify', bogus, '--broker', cluster.broker.url, '--log-key', keyPath);
    expect([replayed.code, replayed.out]).toEqual([1, expect.stringMatching(/^not verified: the bridge proof for us-east does not hold: the proof is for us-east, another challenge or another participant\n$/) as unknown]);
  });

  it('with --log DIR: the log holds the record, as the decision, country and datacenters the file names', async () => {
    const r = await run('receipt', 'verify', goodPath, '--log', cluster.dataDir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/the log in \S+ holds it: record \d+ \(route\.decision dec_\S+, \S+\), for US → us-east/);
    expect(r.out).toContain(`from ${join(cluster.dataDir, 'keys', 'log.pem')}`);
    // A log that signed a promise for what it did not record is caught by its own records.
    const moved = await editedAndSigned((route) => ({ ...route, country: 'DE' }));
    expect(await run('receipt', 'verify', moved, '--log', cluster.dataDir)).toMatchObject({ code: 1, out: expect.stringContaining(', not DE → us-east') as unknown });
    // The log holds the decision, not where the participant connected: that only the bridges' proofs show, with --broker.
    const elsewhere = await run('receipt', 'verify', edited((route) => ({ ...route, connections: route.connections.map((c) => ({ ...c, datacenter: 'ca-central' })) })), '--log', cluster.dataDir);
    expect([elsewhere.code, elsewhere.out]).toEqual([0, expect.stringMatching(/^US, offered us-east \(US\)[^\n]*; the file says it connected to ca-central at \S+Z \(--broker checks each bridge's proof\)/) as unknown]);
    const otherDecision = await editedAndSigned((route) => ({ ...route, decisionId: 'dec_forged' }));
    expect((await run('receipt', 'verify', otherDecision, '--log', cluster.dataDir)).out).toMatch(/^not verified: the log in \S+: record \d+ is not decision dec_forged\n$/);
  });

  it('refuses a receipt that names another manifest than the one its decision was made under, through the ticket and through the log (exit 1)', async () => {
    // Even with a promise the log signed for it, the broker's ticket and the log's record name the manifest in force.
    const other = await editedAndSigned((route) => ({ ...route, receipt: { ...route.receipt, manifestSha256: 'f'.repeat(64) } }));
    const viaBroker = await run('receipt', 'verify', other, '--broker', cluster.broker.url, '--log-key', keyPath);
    expect([viaBroker.code, viaBroker.out]).toEqual([1, expect.stringMatching(/^not verified: wrong manifest: the ticket was issued under manifest [0-9a-f]{64}, the receipt names f{64}\n$/) as unknown]);
    const viaLog = await run('receipt', 'verify', other, '--log', cluster.dataDir);
    expect([viaLog.code, viaLog.out]).toEqual([1, expect.stringMatching(/^not verified: the log in \S+: wrong manifest: record \d+ was decided under manifest [0-9a-f]{64}, the receipt names f{64}\n$/) as unknown]);
    expect((await run('receipt', 'verify', goodPath, '--broker', cluster.broker.url)).out).toMatch(/the route ticket is the broker's, for decision dec_\S+ under manifest [0-9a-f]{12}…/);
    // The operator's own check takes the same file, every route of it.
    const proven = await run('audit', 'prove', goodPath, '--data', cluster.dataDir);
    expect([proven.code, proven.out]).toEqual([0, expect.stringMatching(/^in the log: record \d+ \(route\.decision dec_\S+, \S+\), as promised \S+, under manifest [0-9a-f]{64}\nMerkle root of the log now: \S+\n$/) as unknown]);
    const wrong = await run('audit', 'prove', other, '--data', cluster.dataDir);
    expect([wrong.code, wrong.out]).toEqual([1, expect.stringMatching(/^not proven: wrong manifest: record \d+ was decided under manifest/) as unknown]);
  });

  it('refuses a bad signature, a head not signed by the key, a proof that does not lead to the root, a head that does not hold the index (exit 1)', async () => {
    const cases: readonly [string, string][] = [
      [edited((route) => ({ ...route, receipt: { ...route.receipt, signature: flipped(route.receipt.signature) } })), "not verified: bad signature: the receipt is not the log's promise: the signature does not verify under the log key"],
      [edited((route) => ({ ...route, sth: { ...route.sth, signature: flipped(route.sth.signature) } })), "not verified: the file's tree head is not signed by the log key: the signature does not verify under the log key"],
      [edited((route) => ({ ...route, inclusionProof: route.inclusionProof.map((h, i) => (i === 0 ? flipped(h) : h)) })), "not verified: the file's inclusion proof does not lead to the root its tree head signs"],
      [edited((route) => ({ ...route, sth: before })), "not verified: index beyond the log: the file's tree head holds"],
    ];
    for (const [path, reason] of cases) {
      const r = await run('receipt', 'verify', path, '--log-key', keyPath);
      expect([r.code, r.out.slice(0, reason.length)], reason).toEqual([1, reason]);
    }
    // Under another log's key nothing in the file speaks for the log.
    const otherKey = save(logPublicJwk(await ephemeralLogKey()));
    expect((await run('receipt', 'verify', goodPath, '--log-key', otherKey)).out).toMatch(/^not verified: bad signature: .*signed with key '\S+', not the log key/);
    // A head forged by someone without the log key.
    const forger = await ephemeralLogKey();
    const foreignHead = edited((route) => ({ ...route, sth: signTreeHead(forger, { size: route.sth.size, rootHash: new Uint8Array(32) }, route.sth.timestamp) }));
    expect((await run('receipt', 'verify', foreignHead, '--log-key', keyPath)).out).toMatch(/^not verified: the file's tree head is not signed by the log key: signed with key/);
  });

  it('exits 2 on a file that is not a receipt file, a bare answer without --broker or --log, --sth with a file, or no key source', async () => {
    const broken = save({ format: ROUTING_RECEIPT_FORMAT, broker: 'http://x', createdAt: 'now', routes: [{ ...good.routes[0], sth: { size: 1 } }] });
    expect(await run('receipt', 'verify', broken, '--log-key', keyPath)).toMatchObject({ code: 2, err: expect.stringContaining("routes[0].sth: field 'rootHash' is missing") as unknown });
    expect((await run('receipt', 'verify', save({ format: 'geobridge-routing-receipt/9', routes: [] }), '--log-key', keyPath)).err).toContain("field 'format' is malformed");
    const answer = save({ decisionId: 'dec_1', receipt: good.routes[0]?.receipt });
    expect((await run('receipt', 'verify', answer, '--log-key', keyPath)).err).toContain('is a bare /v1/route answer, with no tree head or proof to check offline');
    expect((await run('receipt', 'verify', goodPath, '--broker', cluster.broker.url, '--sth', goodPath)).err).toContain('--sth is for a bare /v1/route answer');
    expect((await run('receipt', 'verify', goodPath)).code).toBe(2);
    expect((await run('receipt', 'verify', goodPath, '--log', join(base, 'nope'))).err).toContain('AUDIT_UNAVAILABLE');
    expect((await run('receipt', '--help')).out).toContain('geobridge receipt verify FILE --log-key KEY');
    expect(readFileSync(goodPath, 'utf8')).toContain(`"format": "${ROUTING_RECEIPT_FORMAT}"`);
  });

  // Last: it revokes the cluster's ticket key.
  it('refuses a receipt whose route ticket was signed with a key since revoked (exit 1), while the log’s proofs still hold offline', async () => {
    const { kid } = decodeProtectedHeader(good.routes[0]?.ticket ?? '');
    const res = await fetch(new URL('/v1/admin/keys/revoke', cluster.broker.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kid }),
    });
    expect(res.status, await res.text()).toBe(200);
    const r = await run('receipt', 'verify', goodPath, '--broker', cluster.broker.url, '--log-key', keyPath);
    // The broker's key history says revoked (not merely retired, whose tickets stand): nothing it signed is trusted.
    expect([r.code, r.out]).toEqual([1, expect.stringMatching(new RegExp(`^not verified: the route ticket is signed with key ${String(kid)}, which was revoked at \\S+: a ticket it signed may be a forgery\\n$`)) as unknown]);
    // The log key is not the ticket key: what the log committed to stands.
    expect((await run('receipt', 'verify', goodPath, '--log-key', keyPath)).code).toBe(0);
  });
});

describe('geobridge receipt verify FILE, a log cut back under the file', () => {
  /** A broker as `geobridge serve --dev` runs it, on `data`. */
  async function serve(data: string): Promise<RunningBroker> {
    const { settings, problems } = parseServeSettings({ manifest: join(root, 'examples/world.yaml'), data, dev: true, listen: '127.0.0.1:0' }, {});
    if (!settings) throw new Error(problems.join('\n'));
    return startBroker(settings, false);
  }

  async function post(broker: RunningBroker, path: string, token: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(new URL(path, broker.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status, path).toBeLessThan(300);
    return (await res.json()) as Record<string, unknown>;
  }

  it('refuses a broker whose latest head is older than the file’s (rollback), and a data directory whose tail was cut (exit 1)', async () => {
    const data = join(base, 'broker');
    let broker = await serve(data);
    try {
      const admin = readFileSync(join(data, 'admin-token'), 'utf8').trim();
      const { apiKey } = (await post(broker, '/v1/accounts', admin, { name: 'Acme', homeCountry: 'US' })) as { apiKey: string };
      const { id } = (await post(broker, '/v1/meetings', apiKey, { title: 'Standup' })) as { id: string };
      const { token } = (await post(broker, `/v1/meetings/${id}/join-tokens`, apiKey, { name: 'Ada' })) as { token: string };
      const kept = new RouteReceipts();
      const answer = (await post(broker, '/v1/route', token, { country: 'US' })) as { ticket: string; receipt: unknown };
      kept.keep(answer, readRouteTicketUnverified(answer.ticket), new Date());
      // Two more records after the route, so that the file's head is longer than what is kept below.
      await post(broker, '/v1/accounts', admin, { name: 'Later 1', homeCountry: 'US' });
      await post(broker, '/v1/accounts', admin, { name: 'Later 2', homeCountry: 'US' });
      const routed = kept.list()[0]?.receipt.index ?? -1;
      let file: RoutingReceiptFile | undefined;
      for (let i = 0; i < 40 && (file?.routes[0]?.sth.size ?? 0) < routed + 3; i++) {
        file = await buildReceiptFile({ broker: broker.url, routes: kept.list(), meeting: id });
        await new Promise((r) => setTimeout(r, 250));
      }
      const path = save(file);
      const pinned = save(await (await fetch(new URL('/v1/log/key', broker.url))).text());
      expect((await run('receipt', 'verify', path, '--broker', broker.url, '--log-key', pinned)).code).toBe(0);

      await broker.close();
      await rewriteLog(data, (rec) => rec.seq <= routed + 1);
      broker = await serve(data);
      const rolledBack = await run('receipt', 'verify', path, '--broker', broker.url, '--log-key', pinned);
      expect([rolledBack.code, rolledBack.out]).toEqual([1, expect.stringMatching(/^not verified: rollback: the broker's latest tree head \(\d+ records, signed \S+\) is older than the one in the file \(\d+ records, signed \S+\): the log was cut back\n$/) as unknown]);
      const cut = await run('receipt', 'verify', path, '--log', data);
      expect([cut.code, cut.out]).toEqual([1, expect.stringMatching(/^not verified: the log in \S+: the receipt's tree head \(\d+ records\): the log now holds only \d+ records: its tail was cut\n$/) as unknown]);
    } finally {
      await broker.close();
    }
  }, 60_000);
});
