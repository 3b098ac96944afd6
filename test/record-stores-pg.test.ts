/**
 * Residency of records, on the real PostgreSQL server: a broker with an EU
 * and a US record store (two databases of the one server, beside its own
 * store's database) and a CN store in a SQLite file routes a mixed load of
 * participants from 14 countries, and their bridges admit them; reading the
 * databases afterwards, no record and no participant row about an EEA
 * participant is in the US store, every participant's records are in
 * exactly one store, and the broker's own database names nobody.
 * Each store's log verifies on its own (`audit verify --store`), a receipt
 * names its log and verifies against the broker, and a broker whose
 * databases do not match the manifest's stores does not start.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { JWK } from 'jose';
import { generateBridgeIdentity } from '../src/broker/attestation.js';
import { parseServeSettings } from '../src/broker/config.js';
import { signBridgeMessage } from '../src/protocol/bridge-message.js';
import { parseManifest } from '../src/core/manifest/parse.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { runCli as run } from './run-cli.fixture.js';
import { decided as decidedRoute } from '../src/broker/route-answer.fixture.js';

const SERVER = process.env.GEOBRIDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const suffix = `${String(process.pid)}_${Date.now().toString(36)}`;
const names = { own: `gb_rs_own_${suffix}`, eu: `gb_rs_eu_${suffix}`, us: `gb_rs_us_${suffix}` };
const base = mkdtempSync(join(tmpdir(), 'geobridge-record-stores-'));
const ADMIN_TOKEN = 'record-stores-admin-token-0123456789';
const EEA = new Set(['DE', 'FR', 'IT', 'PL', 'SE', 'NL', 'ES']);
const COUNTRIES = [...EEA, 'US', 'BR', 'CA', 'IN', 'JP', 'GB', 'CN'];

function urlOf(name: string): string {
  const u = new URL(SERVER);
  u.pathname = `/${name}`;
  return u.toString();
}
const urls = { own: urlOf(names.own), eu: urlOf(names.eu), us: urlOf(names.us) };

async function query<R extends pg.QueryResultRow>(on: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: on });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

const world = readFileSync(new URL('../examples/world.yaml', import.meta.url), 'utf8');
const manifestPath = join(base, 'manifest.yaml');
writeFileSync(
  manifestPath,
  world.replace(
    /^fences:/m,
    `stores:
  eu: { jurisdiction: DE, location: { lat: 50.11, lon: 8.68 } }
  us: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 } }
  cn: { jurisdiction: CN, location: { lat: 31.23, lon: 121.47 } }

fences:`,
  ),
);

// Every datacenter's bridge identity: the test signs the bridges' claims and admissions.
const bridgeKeys = new Map<string, JWK>();
const bridgeKeysPath = join(base, 'bridge-keys.yaml');
let seq = 0;

function start(data: string, recordStores: string | undefined): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings({ manifest: manifestPath, data, dev: true, listen: '127.0.0.1:0', store: urls.own, recordStores, bridgeKeys: bridgeKeysPath }, { GEOBRIDGE_ADMIN_TOKEN: ADMIN_TOKEN });
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker(settings, false);
}

beforeAll(async () => {
  for (const name of Object.values(names)) await query(SERVER, `CREATE DATABASE ${name}`);
  const lines: string[] = [];
  for (const dc of parseManifest(world).manifest?.datacenters ?? []) {
    const identity = await generateBridgeIdentity();
    bridgeKeys.set(dc.id, identity.privateJwk);
    lines.push(`${dc.id}: ${identity.publicKey}`);
  }
  writeFileSync(bridgeKeysPath, `${lines.join('\n')}\n`);
});
afterAll(async () => {
  for (const name of Object.values(names)) await query(SERVER, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  rmSync(base, { recursive: true, force: true });
});

async function post<T>(broker: RunningBroker, path: string, auth: string, body: unknown): Promise<T> {
  const res = await fetch(new URL(path, broker.url), { method: 'POST', headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${String(res.status)} ${text}`);
  return JSON.parse(text) as T;
}

/** A signed message from `datacenter`'s bridge to the broker. */
async function fromBridge(broker: RunningBroker, datacenter: string, path: string, payload: Record<string, unknown>): Promise<void> {
  const key = bridgeKeys.get(datacenter);
  if (!key) throw new Error(`no bridge key for ${datacenter}`);
  const message = await signBridgeMessage(key, datacenter, payload, { now: new Date(), seq: ++seq });
  const res = await fetch(new URL(path, broker.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message }) });
  if (!res.ok) throw new Error(`${path} from ${datacenter}: ${String(res.status)} ${await res.text()}`);
}

/** Records naming a participant in one database's audit log: participant → the record types. */
async function participantRecords(url: string): Promise<{ participant: string; type: string }[]> {
  return query(url, "SELECT data->>'participant' AS participant, type FROM audit_log WHERE data->>'participant' IS NOT NULL ORDER BY seq");
}

describe('record stores on PostgreSQL', () => {
  const data = mkdtempSync(join(base, 'data-'));
  const country = new Map<string, string>();
  let answerFile = '';

  it('keeps every record about a participant in a store inside their fences: no EEA participant in the US store, nobody in the broker’s own log', async () => {
    const broker = await start(data, `eu=${urls.eu},us=${urls.us},cn=sqlite`);
    try {
      const { apiKey } = await post<{ apiKey: string }>(broker, '/v1/accounts', ADMIN_TOKEN, { name: 'Acme', homeCountry: 'US' });
      const { apiKey: cnKey } = await post<{ apiKey: string }>(broker, '/v1/accounts', ADMIN_TOKEN, { name: 'Beijing office', homeCountry: 'CN' });
      // One meeting per country, so each is held where its participants may all go.
      const meetings = new Map(await Promise.all(COUNTRIES.map(async (cc) => {
        const key = cc === 'CN' ? cnKey : apiKey;
        return [cc, { key, id: (await post<{ id: string }>(broker, '/v1/meetings', key, { title: `From ${cc}` })).id }] as const;
      })));
      // 84 participants joining together, 6 per country: the stores are written to side by side.
      const joins = COUNTRIES.flatMap((cc) => Array.from({ length: 6 }, () => cc));
      const answers = await Promise.all(
        joins.map(async (cc) => {
          const meeting = meetings.get(cc);
          if (!meeting) throw new Error('no meeting');
          const { token, participant } = await post<{ token: string; participant: string }>(broker, `/v1/meetings/${meeting.id}/join-tokens`, meeting.key, { name: `From ${cc}` });
          country.set(participant, cc);
          const answer = await post<{ ticket: string; receipt: { log?: string } }>(broker, '/v1/route', token, { country: cc });
          return { cc, participant, meeting: meeting.id, answer };
        }),
      );
      for (const { cc, answer } of answers) expect(answer.receipt.log, cc).toBe(EEA.has(cc) ? 'eu' : cc === 'CN' ? 'cn' : answer.receipt.log === 'eu' ? 'eu' : 'us');
      // Each bridge claims its meeting and admits its participants (one at a time: a bridge's messages are numbered).
      for (const { participant, meeting, answer } of answers) {
        const datacenter = decidedRoute(answer).candidates[0]?.datacenter ?? '';
        await fromBridge(broker, datacenter, '/v1/bridges/placements', { kind: 'claim', meeting, ticket: answer.ticket });
        await fromBridge(broker, datacenter, '/v1/bridges/admissions', { kind: 'admission', participant, meeting, outcome: 'admitted', ticket: answer.ticket });
      }
      const de = answers.find((a) => a.cc === 'DE');
      answerFile = join(base, 'answer-de.json');
      writeFileSync(answerFile, JSON.stringify(de?.answer));
    } finally {
      await broker.close();
    }

    const inEu = await participantRecords(urls.eu);
    const inUs = await participantRecords(urls.us);
    expect(inUs.filter((r) => EEA.has(country.get(r.participant) ?? '?'))).toEqual([]);
    expect(inEu.filter((r) => country.get(r.participant) === 'CN')).toEqual([]);
    expect(inUs.filter((r) => country.get(r.participant) === 'CN')).toEqual([]);
    // Every participant's decision is in exactly one store; the EEA's in eu.
    const decided = [...inEu, ...inUs].filter((r) => r.type === 'route.decision').map((r) => r.participant);
    const nonCn = [...country].filter(([, cc]) => cc !== 'CN').map(([p]) => p);
    expect(decided.sort()).toEqual(nonCn.sort());
    expect(inEu.filter((r) => r.type === 'route.decision').length).toBeGreaterThanOrEqual(EEA.size * 6);
    // Admissions too: each where the participant's decision is.
    for (const [records, name] of [[inEu, 'eu'], [inUs, 'us']] as const) {
      const decided = new Set(records.filter((r) => r.type === 'route.decision').map((r) => r.participant));
      const admitted = new Set(records.filter((r) => r.type === 'bridge.admission').map((r) => r.participant));
      expect(admitted, name).toEqual(decided);
    }
    // The rows of connected participants: in their store's database, never the broker's own.
    const rows = async (url: string): Promise<string[]> => (await query<{ id: string }>(url, 'SELECT id FROM participant_rows')).map((r) => r.id);
    const euRows = await rows(urls.eu);
    const usRows = await rows(urls.us);
    expect(usRows.filter((id) => EEA.has(country.get(id) ?? '?'))).toEqual([]);
    expect(euRows.filter((id) => EEA.has(country.get(id) ?? '?')).length).toBe(EEA.size * 6);
    const cnFile = new Database(join(data, 'records-cn.sqlite'), { readonly: true });
    const cnRows = (cnFile.prepare('SELECT id FROM participant_rows').all() as { id: string }[]).map((r) => r.id);
    cnFile.close();
    expect(cnRows.map((id) => country.get(id))).toEqual(Array.from({ length: 6 }, () => 'CN'));
    expect([...euRows, ...usRows, ...cnRows].sort()).toEqual([...country.keys()].sort());
    // The broker's own database names no participant: not in its log, not in its rows.
    expect(await participantRecords(urls.own)).toEqual([]);
    expect(await query(urls.own, 'SELECT id FROM participants')).toEqual([]);
    // Each store's log says whose it is in its first record.
    for (const [name, url] of [['eu', urls.eu], ['us', urls.us]] as const) {
      expect(await query(url, 'SELECT type, data FROM audit_log WHERE seq = 1')).toEqual([{ type: 'store.opened', data: { store: name } }]);
    }
  }, 120_000);

  it("verifies each store's log on its own, under the store's name", async () => {
    const eu = await run('audit', 'verify', '--data', data, '--store', urls.eu);
    expect(eu.code, eu.err).toBe(0);
    expect(eu.out).toMatch(/record store eu/);
    const us = await run('audit', 'verify', '--data', data, '--store', urls.us);
    expect(us.code, us.err).toBe(0);
  }, 60_000);

  it('verifies and reports over every log at once with --record-stores, saying where the records live', async () => {
    const stores = `eu=${urls.eu},us=${urls.us},cn=sqlite`;
    const verify = await run('audit', 'verify', '--data', data, '--store', urls.own, '--record-stores', stores, '--json');
    expect(verify.code, verify.err + verify.out).toBe(0);
    expect((JSON.parse(verify.out) as { ok: boolean; logs: { log?: string; ok: boolean }[] }).logs.map((l) => `${l.log ?? 'own'}:${String(l.ok)}`)).toEqual(['own:true', 'eu:true', 'us:true', 'cn:true']);
    // Two stores swapped in the list: each log names another store than the one it is given as.
    const swapped = await run('audit', 'verify', '--data', data, '--store', urls.own, '--record-stores', `eu=${urls.us},us=${urls.eu},cn=sqlite`);
    expect(swapped.code).toBe(1);
    expect(swapped.out).toMatch(/holds the log of record store us, not the log of record store eu/);

    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const report = await run('audit', 'report', '--data', data, '--store', urls.own, '--record-stores', stores, '--from', today, '--to', tomorrow, '--json');
    expect(report.code, report.err).toBe(0);
    const body = JSON.parse(report.out) as { report: { total: { routeDecisions: { total: number }; connections: { total: number } } }; logs: { log: string | null; routeDecisions: number; connections: number }[] };
    expect(body.report.total.routeDecisions.total).toBe(country.size);
    expect(body.report.total.connections.total).toBe(country.size);
    const where = new Map(body.logs.map((l) => [l.log, l]));
    expect(where.get(null)?.routeDecisions).toBe(0);
    expect(where.get('eu')?.routeDecisions).toBeGreaterThanOrEqual(EEA.size * 6);
    expect(where.get('cn')?.connections).toBe(6);
    const text = await run('audit', 'report', '--data', data, '--store', urls.own, '--record-stores', stores, '--from', today, '--to', tomorrow);
    expect(text.out).toMatch(/Where the records live:\n {2}the broker's own log: .*\n {2}the log of record store eu: /);
    const html = join(base, 'report.html');
    expect((await run('audit', 'report', '--data', data, '--store', urls.own, '--record-stores', stores, '--from', today, '--to', tomorrow, '--html', html)).code).toBe(0);
    expect(readFileSync(html, 'utf8')).toMatch(/<h2>Where the records live<\/h2>[\s\S]*the log of record store eu/);
    // prove finds the log the receipt names among them.
    const prove = await run('audit', 'prove', answerFile, '--data', data, '--store', urls.own, '--record-stores', stores);
    expect(prove.code, prove.err + prove.out).toBe(0);
    expect(prove.out).toMatch(/^in the log of record store eu: record /);
  }, 60_000);

  it('proves a route receipt in the log it names, with audit prove against that store and receipt verify against the broker', async () => {
    const prove = await run('audit', 'prove', answerFile, '--data', data, '--store', urls.eu);
    expect(prove.code, prove.err + prove.out).toBe(0);
    // The US store's log is not the one the receipt names.
    const wrong = await run('audit', 'prove', answerFile, '--data', data, '--store', urls.us);
    expect(wrong.code).toBe(1);
    const broker = await start(data, `eu=${urls.eu},us=${urls.us},cn=sqlite`);
    try {
      const receipt = await run('receipt', 'verify', answerFile, '--broker', broker.url);
      expect(receipt.code, receipt.err + receipt.out).toBe(0);
      expect(receipt.out).toMatch(/record store eu/);
      // A witness of the eu log: its heads name eu, and each extends the last.
      const state = join(base, 'witness-eu');
      const first = await run('audit', 'witness', '--broker', broker.url, '--store', 'eu', '--state', state, '--once');
      expect(first.code, first.err + first.out).toBe(0);
      expect(first.out).toMatch(/first head kept/);
      expect((JSON.parse(readFileSync(join(state, 'heads.jsonl'), 'utf8').trim()) as { log?: string }).log).toBe('eu');
      expect((await run('audit', 'witness', '--broker', broker.url, '--store', 'eu', '--state', state, '--once')).code).toBe(0);
      expect((await run('audit', 'witness', '--broker', broker.url, '--store', 'mars', '--state', join(base, 'witness-mars'), '--once')).code).toBe(2);
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('does not start when the databases do not match the manifest’s stores', async () => {
    await expect(start(data, undefined)).rejects.toThrow(/record store\(s\) eu, us, cn, which have no database here/);
    await expect(start(data, `eu=${urls.eu},us=${urls.us},cn=sqlite,jp=sqlite`)).rejects.toThrow(/names jp, which the manifest does not declare/);
    // The two regions' databases swapped: each holds the other store's log.
    await expect(start(data, `eu=${urls.us},us=${urls.eu},cn=sqlite`)).rejects.toMatchObject({ code: 'RECORD_STORE_MISMATCH', message: expect.stringMatching(/holds the log of record store 'us'/) as unknown });
    // The broker's own database is not a store's.
    await expect(start(data, `eu=${urls.own},us=${urls.us},cn=sqlite`)).rejects.toThrow(/holds a broker's own audit log/);
  }, 60_000);
});
