/**
 * The broker's data directory holds the private signing keys (keys/ticket-<kid>.pem,
 * keys/log.pem) and the admin token: it is the user's alone (700), and so is
 * every key and database file in it (600), whatever the umask, after `serve`
 * and after `up`; files and folders an earlier run left readable are
 * narrowed. A revoked key stays revoked across restarts.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseServeSettings } from './config.js';
import { startBroker, type RunningBroker } from './server.js';

const WORLD = fileURLToPath(new URL('../../examples/world.yaml', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/geobridge.js', import.meta.url));

/** A broker on the settings `geobridge serve --manifest … --data DIR --dev` would use. */
function start(dataDir: string): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings({ manifest: WORLD, data: dataDir, dev: true, listen: '127.0.0.1:0' }, {});
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker(settings, false);
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

/** The ticket signing key files in DATA/keys. */
const ticketKeys = (dataDir: string): string[] => readdirSync(join(dataDir, 'keys')).filter((f) => /^ticket-[A-Za-z0-9_-]{43}\.pem$/.test(f));

/** An admin call to a running broker of `dataDir`. */
async function adminCall(broker: RunningBroker, dataDir: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(new URL(path, broker.url), {
    method,
    headers: { authorization: `Bearer ${readToken(dataDir)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe('the data directory', () => {
  it('is created 700, with its databases, their WAL files and the admin token 600, even under a permissive umask', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'geobridge-data-'));
    const dataDir = join(parent, 'data');
    const umask = process.umask(0o000);
    try {
      const broker = await start(dataDir);
      // A write, so that the WAL files exist too.
      await fetch(new URL('/v1/accounts', broker.url), { method: 'POST', headers: { authorization: `Bearer ${readToken(dataDir)}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Acme' }) });
      expect(mode(dataDir)).toBe('700');
      expect(mode(join(dataDir, 'keys'))).toBe('700');
      // The one signing key that signs, as a file of its own.
      expect(ticketKeys(dataDir)).toHaveLength(1);
      for (const file of ['broker.sqlite', 'audit.sqlite', 'admin-token', 'broker.sqlite-wal', 'audit.sqlite-wal', 'keys/log.pem', ...ticketKeys(dataDir).map((f) => `keys/${f}`)]) expect([file, mode(join(dataDir, file))]).toEqual([file, '600']);
      // The log key is kept across restarts: auditors pin it.
      const key = readFileSync(join(dataDir, 'keys/log.pem'), 'utf8');
      const sth = (await (await fetch(new URL('/v1/log/sth', broker.url))).json()) as { size: number; keyId: string };
      await broker.close();
      const again = await start(dataDir);
      expect(readFileSync(join(dataDir, 'keys/log.pem'), 'utf8')).toBe(key);
      const later = (await (await fetch(new URL('/v1/log/sth', again.url))).json()) as { size: number; keyId: string };
      expect(later.keyId).toBe(sth.keyId);
      expect(later.size).toBeGreaterThanOrEqual(sth.size);
      await again.close();
    } finally {
      process.umask(umask);
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('narrows database files an earlier run left readable by others', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'geobridge-data-'));
    try {
      let broker = await start(dataDir);
      await broker.close();
      const keyFiles = ['keys/log.pem', ...ticketKeys(dataDir).map((f) => `keys/${f}`)];
      for (const file of ['broker.sqlite', 'audit.sqlite', ...keyFiles]) chmodSync(join(dataDir, file), 0o644);
      chmodSync(join(dataDir, 'keys'), 0o755);
      chmodSync(dataDir, 0o755);
      writeFileSync(join(dataDir, 'broker.sqlite-shm'), '');
      chmodSync(join(dataDir, 'broker.sqlite-shm'), 0o644);
      broker = await start(dataDir);
      for (const file of ['broker.sqlite', 'audit.sqlite', 'broker.sqlite-shm', ...keyFiles]) if (existsSync(join(dataDir, file))) expect([file, mode(join(dataDir, file))]).toEqual([file, '600']);
      expect(mode(join(dataDir, 'keys'))).toBe('700');
      expect(mode(dataDir)).toBe('700');
      await broker.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('signing keys on a data directory', () => {
  it('a revoked key stays revoked after a restart; a rotation keeps one key file, the current one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'geobridge-data-'));
    try {
      let broker = await start(dataDir);
      const first = ticketKeys(dataDir);
      const rotated = await adminCall(broker, dataDir, 'POST', '/v1/admin/keys/rotate');
      const { kid } = (await rotated.json()) as { kid: string };
      // The retired key only verifies, by its public half: its file is gone.
      expect(ticketKeys(dataDir)).toEqual([`ticket-${kid}.pem`]);
      const old = first[0]?.slice('ticket-'.length, -'.pem'.length) ?? '';
      expect((await adminCall(broker, dataDir, 'POST', '/v1/admin/keys/revoke', { kid: old })).status).toBe(200);
      await broker.close();
      broker = await start(dataDir);
      const listed = (await (await adminCall(broker, dataDir, 'GET', '/v1/admin/keys')).json()) as { keys: { kid: string; state: string }[] };
      expect(listed.keys.map((k) => [k.kid, k.state])).toEqual([
        [kid, 'current'],
        [old, 'revoked'],
      ]);
      const jwks = (await (await fetch(new URL('/.well-known/jwks.json', broker.url))).json()) as { keys: { kid: string }[] };
      expect(jwks.keys.map((k) => k.kid)).toEqual([kid]);
      await broker.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('geobridge up', () => {
  it('leaves the data directory 700 and every key file in it 600, even under a permissive umask', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'geobridge-up-'));
    const dataDir = join(parent, 'data');
    mkdirSync(dataDir, { mode: 0o755 });
    const umask = process.umask(0o000);
    const child = spawn(process.execPath, [BIN, 'up', '--data', dataDir, '--listen', '127.0.0.1:0', '--datacenters', 'us-east'], { stdio: ['ignore', 'pipe', 'pipe'] });
    process.umask(umask);
    let said = '';
    try {
      const up = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          said += chunk.toString('utf8');
          if (said.includes('geobridge is up')) resolve();
        });
        child.stderr.on('data', (chunk: Buffer) => (said += chunk.toString('utf8')));
        child.once('exit', (code) => {
          reject(new Error(`up exited with ${String(code)}: ${said}`));
        });
      });
      await up;
      expect(mode(dataDir)).toBe('700');
      expect(mode(join(dataDir, 'keys'))).toBe('700');
      expect(mode(join(dataDir, 'bridges'))).toBe('700');
      const keyFiles = ['keys/log.pem', 'admin-token', 'bridges/us-east.jwk', ...ticketKeys(dataDir).map((f) => `keys/${f}`)];
      expect(keyFiles).toHaveLength(4);
      for (const file of keyFiles) expect([file, mode(join(dataDir, file))]).toEqual([file, '600']);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(parent, { recursive: true, force: true });
    }
    // Stopped right after it came up, `up` takes its bridge with it (it once died of the SIGTERM, leaving it running).
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
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    const leaked = alive();
    if (leaked) process.kill(bridge, 'SIGKILL');
    expect(leaked).toBe(false);
  }, 120_000);
});

function readToken(dataDir: string): string {
  return readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
}
