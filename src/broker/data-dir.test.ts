/**
 * The broker's data directory holds the private signing keys (broker.sqlite,
 * keys/log.pem) and the admin token: a new one is the user's alone (700), and so is every
 * database file in it (600), whatever the umask; files an earlier run left
 * readable are narrowed.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseServeSettings } from './config.js';
import { startBroker, type RunningBroker } from './server.js';

const WORLD = fileURLToPath(new URL('../../examples/world.yaml', import.meta.url));

/** A broker on the settings `geobridge serve --manifest … --data DIR --dev` would use. */
function start(dataDir: string): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings({ manifest: WORLD, data: dataDir, dev: true, listen: '127.0.0.1:0' }, {});
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker(settings, false);
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

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
      for (const file of ['broker.sqlite', 'audit.sqlite', 'admin-token', 'broker.sqlite-wal', 'audit.sqlite-wal', 'keys/log.pem']) expect([file, mode(join(dataDir, file))]).toEqual([file, '600']);
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
      for (const file of ['broker.sqlite', 'audit.sqlite', 'keys/log.pem']) chmodSync(join(dataDir, file), 0o644);
      chmodSync(join(dataDir, 'keys'), 0o755);
      writeFileSync(join(dataDir, 'broker.sqlite-shm'), '');
      chmodSync(join(dataDir, 'broker.sqlite-shm'), 0o644);
      broker = await start(dataDir);
      for (const file of ['broker.sqlite', 'audit.sqlite', 'broker.sqlite-shm', 'keys/log.pem']) if (existsSync(join(dataDir, file))) expect([file, mode(join(dataDir, file))]).toEqual([file, '600']);
      expect(mode(join(dataDir, 'keys'))).toBe('700');
      await broker.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

function readToken(dataDir: string): string {
  return readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
}
