/**
 * A broker restarted with an out-of-date manifest file on a shared store
 * (PostgreSQL) does not roll every broker back: a file equal to an older
 * version the store holds leaves the store's newest in force, while a file
 * the store has never seen is a change, as before. On a store of its own
 * (SQLite) the file is the broker's to decide, and it still is.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBridgeIdentity } from '../src/broker/attestation.js';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker } from '../src/broker/server.js';
import { freshDatabase } from './services.fixture.js';

const WORLD = readFileSync(fileURLToPath(new URL('../examples/world.yaml', import.meta.url)), 'utf8');
const root = mkdtempSync(join(tmpdir(), 'geobridge-stale-'));
let database: Awaited<ReturnType<typeof freshDatabase>>;

beforeAll(async () => {
  database = await freshDatabase('stale');
}, 60_000);
afterAll(async () => {
  await database.drop();
  rmSync(root, { recursive: true, force: true });
});

/** Three manifests that differ only in a comment (each its own version). */
const versions = ['# one\n', '# two\n', '# three\n'].map((line, i) => {
  const file = join(root, `world-${String(i + 1)}.yaml`);
  writeFileSync(file, line + WORLD);
  return file;
});

/** Starts a broker on `manifest`, and answers the manifest it put in force (version, and which file's text it is). */
async function startOn(manifest: string, data: string, store?: string, bridgeKeys?: string): Promise<{ version: number; file: number }> {
  // Brokers sharing a log share its key (the first broker's).
  const shared = join(root, 'a', 'keys', 'log.pem');
  if (store !== undefined && data !== 'a' && existsSync(shared) && !existsSync(join(root, data, 'keys', 'log.pem'))) {
    mkdirSync(join(root, data, 'keys'), { recursive: true, mode: 0o700 });
    copyFileSync(shared, join(root, data, 'keys', 'log.pem'));
  }
  const { settings, problems } = parseServeSettings({ manifest, data: join(root, data), dev: true, listen: '127.0.0.1:0', ...(store === undefined ? {} : { store }), ...(bridgeKeys === undefined ? {} : { bridgeKeys }) }, {});
  if (!settings) throw new Error(problems.join('\n'));
  const broker = await startBroker(settings, false);
  try {
    const token = readFileSync(join(root, data, 'admin-token'), 'utf8').trim();
    const answer = (await (await fetch(new URL('/v1/manifest', broker.url), { headers: { authorization: `Bearer ${token}` } })).json()) as { version: number; text: string };
    return { version: answer.version, file: versions.findIndex((f) => readFileSync(f, 'utf8') === answer.text) + 1 };
  } finally {
    await broker.close();
  }
}

describe('a broker started with an older manifest file', () => {
  it('on a shared store, runs the store’s newest instead of rolling everyone back; a new file is still a change', async () => {
    const [one, two, three] = versions as [string, string, string];
    expect(await startOn(one, 'a', database.url)).toEqual({ version: 1, file: 1 });
    expect(await startOn(two, 'b', database.url)).toEqual({ version: 2, file: 2 });
    // Broker a comes back with its old file: version 2 stays in force, and nothing new is stored.
    expect(await startOn(one, 'a', database.url)).toEqual({ version: 2, file: 2 });
    expect(await startOn(three, 'a', database.url)).toEqual({ version: 3, file: 3 });
    expect(await startOn(two, 'b', database.url)).toEqual({ version: 3, file: 3 });
  }, 120_000);

  it('checks the bridge keys against the manifest it puts in force, before storing anything', async () => {
    const [one] = versions as [string, string, string];
    // Version 4 adds a datacenter, with its bridge's key; broker a's file is still version 1.
    const extra = join(root, 'world-extra.yaml');
    writeFileSync(extra, `# four\n${WORLD.replace('datacenters:\n', 'datacenters:\n  us-extra: { jurisdiction: US, location: { lat: 40.0, lon: -75.0 }, capacity: 1000 }\n')}`);
    const keys = join(root, 'bridge-keys.yaml');
    writeFileSync(keys, `us-extra: ${(await generateBridgeIdentity()).publicKey}\n`);
    expect((await startOn(extra, 'b', database.url, keys)).version).toBe(4);
    // The stale file lacks us-extra, but the manifest in force has it: the keys file is good.
    expect((await startOn(one, 'a', database.url, keys)).version).toBe(4);
    // A keys file naming a datacenter no manifest has: refused, and the new file is not stored as a version.
    const bad = join(root, 'bad-keys.yaml');
    writeFileSync(bad, `nowhere: ${(await generateBridgeIdentity()).publicKey}\n`);
    const fresh = join(root, 'world-5.yaml');
    writeFileSync(fresh, `# five\n${WORLD}`);
    await expect(startOn(fresh, 'a', database.url, bad)).rejects.toMatchObject({ code: 'INVALID_BRIDGE_KEYS' });
    expect((await startOn(one, 'a', database.url)).version).toBe(4);
  }, 120_000);

  it('on a store of its own, takes its file as the operator’s word', async () => {
    const [one, two] = versions as [string, string, string];
    expect(await startOn(one, 'own')).toEqual({ version: 1, file: 1 });
    expect(await startOn(two, 'own')).toEqual({ version: 2, file: 2 });
    expect(await startOn(one, 'own')).toEqual({ version: 3, file: 1 });
  }, 120_000);
});
