// `geobridge manifest log|show` on a real broker's data directory: the history as the transparency log and the store give it.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteAuditLog } from '../src/broker/audit/sqlite-audit-log.js';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { runCli as run } from './run-cli.fixture.js';

const root = join(import.meta.dirname, '..');
const base = mkdtempSync(join(tmpdir(), 'geobridge-manifest-cli-'));
const WORLD = readFileSync(join(root, 'examples/world.yaml'), 'utf8');

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

async function serve(data: string, manifest: string): Promise<RunningBroker> {
  const { settings, problems } = parseServeSettings({ manifest, data, dev: true, listen: '127.0.0.1:0' }, {});
  if (!settings) throw new Error(problems.join('\n'));
  return startBroker(settings, false);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('geobridge manifest log|show', () => {
  const data = join(base, 'data');
  // Brazil's datacenter is dropped by an operator; then a restart on a file that takes it back.
  const withoutBrazil = WORLD.replace(/\n {2}br-south:\n(?: {4}.*\n)+/, '\n').replace(/br-south, /g, '').replace(/, br-south/g, '');
  const v1 = join(base, 'world.yaml');
  writeFileSync(v1, WORLD);

  it('lists every manifest put in force, by whom and what it changed, and shows each exactly as applied', async () => {
    let broker = await serve(data, v1);
    try {
      const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
      const res = await fetch(new URL('/v1/manifest', broker.url), { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' }, body: withoutBrazil });
      expect(res.status, await res.text()).toBe(200);
    } finally {
      await broker.close();
    }
    broker = await serve(data, v1);
    await broker.close();

    const log = await run('manifest', 'log', '--data', data);
    expect(log.code, log.err).toBe(0);
    const lines = log.out.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^v1  \\S+  startup  ${sha256(WORLD).slice(0, 12)}  first manifest$`));
    expect(lines[1]).toMatch(new RegExp(`^v2  \\S+  admin    ${sha256(withoutBrazil).slice(0, 12)}  .*1 datacenter removed`));
    expect(lines[2]).toMatch(/^v3 .* startup .*1 datacenter added/);
    expect(lines[3]).toBe('3 manifest(s); each stored text hashes to the logged SHA-256');
    const json = JSON.parse((await run('manifest', 'log', '--data', data, '--json')).out) as { version: number; sha256: string; record?: number }[];
    expect(json.map((m) => [m.version, m.sha256])).toEqual([
      [1, sha256(WORLD)],
      [2, sha256(withoutBrazil)],
      [3, sha256(WORLD)],
    ]);
    expect(json.every((m) => typeof m.record === 'number')).toBe(true);

    // Exactly as applied, by version or by a hash prefix (as tickets and receipts name it).
    expect((await run('manifest', 'show', 'v2', '--data', data)).out).toBe(withoutBrazil);
    expect((await run('manifest', 'show', sha256(withoutBrazil).slice(0, 8), '--data', data)).out).toBe(withoutBrazil);
    expect((await run('manifest', 'show', sha256(withoutBrazil), '--data', data)).out).toBe(withoutBrazil);
  }, 60_000);

  it('shows a text applied twice by its hash, and refuses an unknown or malformed REF, and a directory without a broker (exit 2)', async () => {
    // v1 and v3 are the same text: its hash names one manifest, applied twice (a receipt names it so).
    for (const ref of [sha256(WORLD).slice(0, 8), sha256(WORLD)]) expect(await run('manifest', 'show', ref, '--data', data)).toMatchObject({ code: 0, out: WORLD });
    expect((await run('manifest', 'show', 'v9', '--data', data)).err).toContain('no manifest version 9');
    expect((await run('manifest', 'show', 'ffffffff', '--data', data)).err).toContain('no manifest with SHA-256 ffffffff');
    expect((await run('manifest', 'show', 'nothex!', '--data', data)).code).toBe(2);
    expect((await run('manifest', 'show', '--data', data)).err).toContain('give one REF');
    expect((await run('manifest', 'log', '--data', join(base, 'nowhere'))).err).toContain('STORE_UNAVAILABLE');
    expect((await run('manifest', 'frobnicate')).code).toBe(2);
  });

  it('catches a stored manifest rewritten after it was applied (exit 1)', async () => {
    const db = new Database(join(data, 'broker.sqlite'));
    db.prepare('UPDATE manifests SET text = ? WHERE version = 2').run(WORLD);
    db.close();
    const log = await run('manifest', 'log', '--data', data);
    expect(log.code).toBe(1);
    expect(log.out).toContain(`PROBLEM: the stored text hashes to ${sha256(WORLD).slice(0, 12)}…, not ${sha256(withoutBrazil).slice(0, 12)}…`);
    expect(log.out).toContain('1 of 3 manifest(s) disagree with the transparency log');
    // Not printed as the manifest that decisions name: it is not that text any more.
    const show = await run('manifest', 'show', 'v2', '--data', data);
    expect([show.code, show.out]).toEqual([1, '']);
    expect(show.err).toContain(`the stored text of version 2 hashes to ${sha256(WORLD)}, not ${sha256(withoutBrazil)}: it was changed after it was applied`);
  });

  it('catches a version logged a second time to hide what was applied, though the chain is intact (exit 1)', async () => {
    // The operator swaps v2's text for another and appends a record saying v2 was that: a pure append keeps every hash valid.
    const other = `${withoutBrazil}# nothing to see here\n`;
    const db = new Database(join(data, 'broker.sqlite'));
    db.prepare('UPDATE manifests SET text = ?, sha256 = ? WHERE version = 2').run(other, sha256(other));
    db.close();
    const log = SqliteAuditLog.open(join(data, 'audit.sqlite'));
    const [first] = (await log.read()).filter((r) => r.type === 'manifest.changed' && r.data.version === 2);
    await log.append('manifest.changed', { ...first?.data, sha256: sha256(other) }, new Date().toISOString());
    await log.close();
    expect((await run('audit', 'verify', '--data', data)).code).toBe(0);
    const listed = await run('manifest', 'log', '--data', data);
    expect(listed.code).toBe(1);
    expect(listed.out).toMatch(new RegExp(`PROBLEM: the transparency log records version 2 2 times, as ${sha256(withoutBrazil).slice(0, 12)}… \\(record \\d+\\) and ${sha256(other).slice(0, 12)}… \\(record \\d+\\): a record was added later to change what was applied`));
  });

  it('catches a manifest whose stored text was deleted after it was applied (exit 1)', async () => {
    const db = new Database(join(data, 'broker.sqlite'));
    db.prepare('DELETE FROM manifests').run();
    db.close();
    const log = await run('manifest', 'log', '--data', data);
    expect(log.code).toBe(1);
    // Every record the log holds, the one appended above too.
    expect(log.out.match(/PROBLEM: the transparency log records it as applied, but the store has no text of it/g)).toHaveLength(4);
    expect(log.out).toContain('4 of 4 manifest(s) disagree with the transparency log');
  });
});
