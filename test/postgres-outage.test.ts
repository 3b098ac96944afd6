/**
 * Chaos on the control plane's database (issue 15): a broker on PostgreSQL
 * whose connection to it is cut for 10 s (through a TCP proxy, as a server
 * crash or a network partition would) while a client keeps asking for
 * routes. Every answer is a route or a 503 with a code that says the store
 * or the audit log is away — never a 500, never a decision that is not in
 * the log — and routes come back once the database does, without a restart.
 * And two brokers' stores racing for one meeting's placement, 1,000 times:
 * exactly one winner each time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { PostgresStore } from '../src/broker/store/postgres-store.js';
import { startTcpProxy, type TcpProxy } from '../src/node/tcp-proxy.fixture.js';
import { freshDatabase, onDatabase, PG_SERVER } from './services.fixture.js';
import { readRouteTicketUnverified } from '../src/protocol/route-ticket.js';

const WORLD = fileURLToPath(new URL('../examples/world.yaml', import.meta.url));
const ADMIN = 'outage-test-admin-token-0123456789';
let direct = '';
const root = mkdtempSync(join(tmpdir(), 'geobridge-outage-'));
const cleanups: (() => Promise<unknown>)[] = [];
let proxy: TcpProxy;
let broker: RunningBroker;

async function api(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(new URL(path, broker.url), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  const database = await freshDatabase('outage');
  direct = database.url;
  cleanups.push(() => database.drop());
  const target = new URL(PG_SERVER);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  cleanups.push(() => proxy.close());
  const through = new URL(direct);
  through.hostname = '127.0.0.1';
  through.port = String(proxy.port);
  const { settings, problems } = parseServeSettings({ manifest: WORLD, data: root, dev: true, listen: '127.0.0.1:0', store: through.toString() }, { GEOBRIDGE_ADMIN_TOKEN: ADMIN });
  if (!settings) throw new Error(problems.join('\n'));
  broker = await startBroker(settings, false);
  cleanups.push(() => broker.close());
}, 60_000);

afterAll(async () => {
  for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('PostgreSQL away for 10 s', () => {
  it('routes are answered 503 STORE_UNAVAILABLE or AUDIT_UNAVAILABLE meanwhile, come back without a restart, and every decision a client got is in the log', async () => {
    const apiKey = String((await api('POST', '/v1/accounts', ADMIN, { name: 'Outage', homeCountry: 'DE' })).json.apiKey);
    const meeting = String((await api('POST', '/v1/meetings', apiKey, { title: 'Through the outage' })).json.id);
    const token = String((await api('POST', `/v1/meetings/${meeting}/join-tokens`, apiKey, { name: 'Probe' })).json.token);
    const answers: { phase: 'before' | 'during' | 'after'; status: number; code?: string; decisionId?: string }[] = [];
    let phase: 'before' | 'during' | 'after' = 'before';
    const run = { stop: false };
    const client = (async () => {
      while (!run.stop) {
        const { status, json } = await api('POST', '/v1/route', token, { country: 'DE' });
        // The phase when the answer came: one asked before the cut may be answered after it.
        answers.push({ phase, status, ...(typeof json.code === 'string' ? { code: json.code } : {}), ...(status === 200 ? { decisionId: readRouteTicketUnverified(String(json.ticket)).decision } : {}) });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 1000));
    phase = 'during';
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 10_000));
    await proxy.restore();
    phase = 'after';
    const back = performance.now();
    while (!answers.some((a) => a.phase === 'after' && a.status === 200) && performance.now() - back < 20_000) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000));
    run.stop = true;
    await client;

    const summary = answers.map((a) => `${a.phase}:${String(a.status)}${a.code === undefined ? '' : `:${a.code}`}`);
    expect(answers.filter((a) => a.phase === 'before').every((a) => a.status === 200), summary.join(' ')).toBe(true);
    const during = answers.filter((a) => a.phase === 'during');
    expect(during.filter((a) => a.status === 503).length, summary.join(' ')).toBeGreaterThan(0);
    for (const a of answers) {
      if (a.status !== 200) {
        expect(a.status, summary.join(' ')).toBe(503);
        expect(['STORE_UNAVAILABLE', 'AUDIT_UNAVAILABLE'], summary.join(' ')).toContain(a.code);
      }
    }
    expect(answers.filter((a) => a.phase === 'after').at(-1)?.status, summary.join(' ')).toBe(200);

    const granted = answers.flatMap((a) => (a.decisionId === undefined ? [] : [a.decisionId]));
    expect(granted.length).toBe(answers.filter((a) => a.status === 200).length);
    const logged = await onDatabase(direct, async (db) => new Set((await db.query<{ id: string }>("SELECT data->>'decisionId' AS id FROM audit_log WHERE type = 'route.decision'")).rows.map((r) => r.id)));
    expect(granted.filter((id) => !logged.has(id))).toEqual([]);
  }, 90_000);
});

describe('two brokers racing for one placement', () => {
  it('1,000 races on new meetings: exactly one of the two stores wins each, and both read the winner', async () => {
    const [one, two] = await Promise.all([PostgresStore.open(direct, { schema: 'race' }), PostgresStore.open(direct, { schema: 'race' })]);
    try {
      await one.createAccount({ id: 'acct', name: 'Race', homeCountry: 'DE', apiKeyHash: 'h', createdAt: '2026-12-03T00:00:00.000Z' });
      for (let i = 0; i < 1000; i++) {
        const id = `m${String(i)}`;
        await one.createMeeting({ id, accountId: 'acct', title: id, createdAt: '2026-12-03T00:00:00.000Z' });
        const [x, y] = await Promise.all([one.claimPlacement(id, 'eu-west', 0, '2026-12-03T00:00:01.000Z'), two.claimPlacement(id, 'eu-central', 0, '2026-12-03T00:00:01.000Z')]);
        expect([x.won, y.won].filter(Boolean)).toHaveLength(1);
        const winner = x.won ? 'eu-west' : 'eu-central';
        expect((await two.getPlacement(id))?.datacenter).toBe(winner);
        expect((await one.getPlacement(id))?.datacenter).toBe(winner);
      }
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  }, 120_000);
});
