/**
 * `geobridge serve --store postgres://…`: the broker keeps its store in a
 * real PostgreSQL database (a fresh one per run, dropped after), nothing of
 * it in DATA/broker.sqlite, and finds it again after a restart; `geobridge
 * manifest log --store` reads the history from it (the audit log there is
 * tested in postgres-audit-serve.test.ts).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { runCli } from './run-cli.fixture.js';

const WORLD = fileURLToPath(new URL('../examples/world.yaml', import.meta.url));
const SERVER = process.env.GEOBRIDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const database = `gb_serve_${String(process.pid)}_${Date.now().toString(36)}`;
const url = (() => {
  const u = new URL(SERVER);
  u.pathname = `/${database}`;
  return u.toString();
})();

/** Runs `sql` on the server's own database (CREATE/DROP DATABASE cannot run inside the one they name). */
async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: SERVER });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await admin(`CREATE DATABASE ${database}`);
});
afterAll(async () => {
  await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
});

function start(dataDir: string): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings({ manifest: WORLD, data: dataDir, dev: true, listen: '127.0.0.1:0', store: url }, {});
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker(settings, false);
}

describe('serve --store postgres://…', () => {
  it('keeps accounts and manifests in PostgreSQL, not in the data directory, across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'geobridge-pg-'));
    const auth = (): Record<string, string> => ({ authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}`, 'content-type': 'application/json' });
    try {
      let broker = await start(dataDir);
      const created = await fetch(new URL('/v1/accounts', broker.url), { method: 'POST', headers: auth(), body: JSON.stringify({ name: 'Acme', homeCountry: 'DE' }) });
      expect(created.status).toBe(201);
      const { id } = ((await created.json()) as { account: { id: string } }).account;
      await broker.close();
      expect(existsSync(join(dataDir, 'broker.sqlite'))).toBe(false);

      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        expect((await client.query('SELECT name FROM accounts WHERE id = $1', [id])).rows).toEqual([{ name: 'Acme' }]);
        expect((await client.query('SELECT count(*)::int AS n FROM manifests')).rows).toEqual([{ n: 1 }]);
      } finally {
        await client.end();
      }

      broker = await start(dataDir);
      try {
        const listed = (await (await fetch(new URL('/v1/accounts', broker.url), { headers: auth() })).json()) as { accounts: { id: string }[] };
        expect(listed.accounts.map((a) => a.id)).toEqual([id]);
      } finally {
        await broker.close();
      }

      // The text and the record of it, both from PostgreSQL: they agree.
      const log = await runCli('manifest', 'log', '--data', dataDir, '--store', url, '--json');
      expect(log.code, log.err).toBe(0);
      const history = JSON.parse(log.out) as { version: number; actor: string; problem?: string }[];
      expect(history).toMatchObject([{ version: 1, actor: 'startup' }]);
      expect(history[0]?.problem).toBeUndefined();
      const shown = await runCli('manifest', 'show', 'v1', '--data', dataDir, '--store', url);
      expect(shown.out).toBe(readFileSync(WORLD, 'utf8'));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses to start, saying why, when the database cannot be reached', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'geobridge-pg-'));
    try {
      const { settings } = parseServeSettings({ manifest: WORLD, data: dataDir, dev: true, listen: '127.0.0.1:0', store: 'postgres://postgres@127.0.0.1:1/none' }, {});
      if (!settings) throw new Error('settings');
      await expect(startBroker(settings, false)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
