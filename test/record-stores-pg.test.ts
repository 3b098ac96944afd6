/**
 * Residency of records, on the real PostgreSQL server: a broker with an EU
 * and a US record store (two databases of the one server, beside its own
 * store's database) and a CN store in a SQLite file routes a mixed load of
 * participants from 14 countries; reading the databases afterwards, no
 * record about an EEA participant is in the US store, every participant's
 * records are in exactly one store, and the broker's own log names nobody.
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
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { runCli as run } from './run-cli.fixture.js';

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

function start(data: string, recordStores: string | undefined): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings({ manifest: manifestPath, data, dev: true, listen: '127.0.0.1:0', store: urls.own, recordStores }, { GEOBRIDGE_ADMIN_TOKEN: ADMIN_TOKEN });
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker(settings, false);
}

beforeAll(async () => {
  for (const name of Object.values(names)) await query(SERVER, `CREATE DATABASE ${name}`);
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
      const meetings = await Promise.all([apiKey, apiKey, cnKey].map((key) => post<{ id: string }>(broker, '/v1/meetings', key, { title: 'Mixed' }).then((m) => ({ key, id: m.id }))));
      // 84 participants joining together, 6 per country: the stores are written to side by side.
      const joins = COUNTRIES.flatMap((cc, i) => Array.from({ length: 6 }, (_, j) => ({ cc, meeting: cc === 'CN' ? meetings[2] : meetings[(i + j) % 2] })));
      const answers = await Promise.all(
        joins.map(async ({ cc, meeting }) => {
          if (!meeting) throw new Error('no meeting');
          const { token, participant } = await post<{ token: string; participant: string }>(broker, `/v1/meetings/${meeting.id}/join-tokens`, meeting.key, { name: `From ${cc}` });
          country.set(participant, cc);
          const answer = await post<{ receipt: { log?: string } }>(broker, '/v1/route', token, { country: cc });
          return { cc, answer };
        }),
      );
      for (const { cc, answer } of answers) expect(answer.receipt.log, cc).toBe(EEA.has(cc) ? 'eu' : cc === 'CN' ? 'cn' : answer.receipt.log === 'eu' ? 'eu' : 'us');
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
    // The broker's own log in its own database names no participant.
    expect(await participantRecords(urls.own)).toEqual([]);
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
