/**
 * `geobridge up --replicas 2`: two brokers on one PostgreSQL database (a
 * fresh one per run, dropped after) and one Redis prefix (deleted after), on
 * consecutive ports, each with its own data directory; the bridge is given
 * both, and both count it live and route to it. Ctrl-C stops everything.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.fixture.js';
import { adminSql, databaseUrl, deleteRedisKeys, REDIS_URL, uniqueName } from './services.fixture.js';

const BIN = fileURLToPath(new URL('../bin/geobridge.js', import.meta.url));

const database = uniqueName('up');
const prefix = uniqueName('up_bus');
const store = databaseUrl(database);

beforeAll(async () => {
  await adminSql(`CREATE DATABASE ${database}`);
});
afterAll(async () => {
  await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await deleteRedisKeys(prefix);
});

function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/** A port p with p and p + 1 free right now. */
async function twoFreePorts(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    if ((await free(port)) && (await free(port + 1))) return port;
  }
}

async function post(base: string, path: string, token: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(new URL(path, base), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('up --replicas', () => {
  it('refuses, listing every problem, without a PostgreSQL store and a Redis bus or with too many replicas', async () => {
    const run = await runCli('up', '--replicas', '9', '--store', 'sqlite', '--datacenters', 'us-east');
    expect(run.code).toBe(2);
    expect(run.err).toContain('--replicas is');
    expect(run.err).toContain('--store');
    expect(run.err).toContain('--bus');
    expect(run.err).toContain('3 configuration problem(s)');
  });

  it('runs two brokers on consecutive ports that both route to the bridge, and stops cleanly', async () => {
    const data = mkdtempSync(join(tmpdir(), 'geobridge-up-replicas-'));
    const port = await twoFreePorts();
    const child = spawn(process.execPath, [BIN, 'up', '--replicas', '2', '--store', store, '--bus', REDIS_URL, '--bus-prefix', prefix, '--datacenters', 'us-east', '--data', data, '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let out = '';
    let said = '';
    child.stderr.on('data', (chunk: Buffer) => (said += chunk.toString('utf8')));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          if (out.includes('Ctrl-C stops everything')) resolve();
        });
        void exited.then(() => {
          reject(new Error(`up exited: ${said}`));
        });
      });
      const urls = [`http://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`];
      expect(out).toContain(`broker-1  ${urls[0] ?? ''}`);
      expect(out).toContain(`broker-2  ${urls[1] ?? ''}`);
      expect(out).toContain(`${urls[0] ?? ''}/join#invite=`);
      // One data directory each, and one log key between them.
      expect(readFileSync(join(data, 'broker-2', 'keys', 'log.pem'), 'utf8')).toBe(readFileSync(join(data, 'broker-1', 'keys', 'log.pem'), 'utf8'));
      expect(existsSync(join(data, 'keys'))).toBe(false);

      // The bridge was given both brokers, in order.
      const bridgePid = /bridge us-east\s+pid (\d+)/.exec(said)?.[1] ?? '0';
      if (existsSync('/proc/self/cmdline')) expect(readFileSync(`/proc/${bridgePid}/cmdline`, 'utf8').split('\0')).toContain(urls.join(','));

      const adminToken = readFileSync(join(data, 'broker-1', 'admin-token'), 'utf8').trim();
      const account = await post(urls[0] ?? '', '/v1/accounts', adminToken, { name: 'Replicas', homeCountry: 'US' });
      expect(account.status).toBe(201);
      const apiKey = String(account.json.apiKey);
      const meeting = String((await post(urls[0] ?? '', '/v1/meetings', apiKey, { title: 'replicas' })).json.id);
      for (const url of urls) {
        const ready = (await (await fetch(new URL('/readyz', url))).json()) as { status: string; liveBridges: number };
        expect(ready).toMatchObject({ status: 'ready' });
        expect(ready.liveBridges).toBeGreaterThanOrEqual(1);
        // The store is shared: a meeting made on broker-1 is routed by either.
        const token = String((await post(url, `/v1/meetings/${meeting}/join-tokens`, apiKey, { name: 'Probe' })).json.token);
        const route = await post(url, '/v1/route', token, { country: 'US' });
        expect(route.status, JSON.stringify(route.json)).toBe(200);
        expect(Object.keys(route.json.bridges as Record<string, string>)).toContain('us-east');
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGINT');
      expect(await exited).toBe(0);
      rmSync(data, { recursive: true, force: true });
    }
    // The bridge went with it.
    const bridge = Number(/bridge us-east\s+pid (\d+)/.exec(said)?.[1] ?? 0);
    expect(bridge).toBeGreaterThan(0);
    const alive = (): boolean => {
      try {
        process.kill(bridge, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(false);
  }, 120_000);
});
