/**
 * The signing keys' private halves as files (DATA/keys/ticket-<kid>.pem),
 * and the move of the keys an older broker kept in broker.sqlite: after it,
 * no byte of a private key is left in the database, its WAL or its index.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { calculateJwkThumbprint } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { codeOf } from '../protocol/code-of.fixture.js';
import { KeyRing } from './keys.js';
import { SigningKeyFiles, moveLegacySigningKeys } from './signing-key-secrets.js';
import { SqliteStore } from './store/sqlite-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'geobridge-keys-'));
  dirs.push(dir);
  return dir;
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

/** An Ed25519 key as an older broker stored it: public and private JWKs, its kid the thumbprint. */
async function legacyKey(): Promise<{ kid: string; publicJwk: Record<string, string>; privateJwk: Record<string, string> }> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, string>;
  const publicJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x ?? '' };
  return { kid: await calculateJwkThumbprint(publicJwk), publicJwk, privateJwk: { ...publicJwk, d: jwk.d ?? '' } };
}

/** A broker.sqlite of schema version 2, as the broker before this one left it: its keys' private JWKs in the database. */
async function olderDatabase(path: string): Promise<{ current: Awaited<ReturnType<typeof legacyKey>>; retired: Awaited<ReturnType<typeof legacyKey>> }> {
  await SqliteStore.open(path).close();
  const current = await legacyKey();
  const retired = await legacyKey();
  const db = new Database(path);
  // Back to version 2: the old signing_keys table, with private keys, as the broker before this one wrote it.
  // (Schema 5's policy revisions and schema 6's discarded manifests go too, so that the migrations after 2 run again.)
  db.exec(`DROP TABLE signing_keys; ALTER TABLE legacy_signing_keys RENAME TO signing_keys; ALTER TABLE accounts DROP COLUMN policy_revision; ALTER TABLE manifests DROP COLUMN discarded; DELETE FROM schema_version WHERE version >= 3;`);
  const insert = db.prepare('INSERT INTO signing_keys (kid, public_jwk, private_jwk, created_at, retired_at) VALUES (?, ?, ?, ?, ?)');
  insert.run(retired.kid, JSON.stringify(retired.publicJwk), JSON.stringify(retired.privateJwk), '2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z');
  insert.run(current.kid, JSON.stringify(current.publicJwk), JSON.stringify(current.privateJwk), '2026-01-02T00:00:00.000Z', null);
  // Other writes, so that the key pages are copied about as in a broker's life.
  db.exec('CREATE TABLE filler (x TEXT)');
  const fill = db.prepare('INSERT INTO filler VALUES (hex(randomblob(200)))');
  for (let i = 0; i < 500; i++) fill.run();
  db.close();
  return { current, retired };
}

/** Every file of the database (with its WAL and index), as bytes. */
function databaseBytes(path: string): Buffer {
  return Buffer.concat([path, `${path}-wal`, `${path}-shm`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
}

describe('SigningKeyFiles', () => {
  it('keeps each key in DATA/keys/ticket-<kid>.pem, mode 600 in a 700 folder whatever the umask, and never overwrites one', async () => {
    const data = join(tempDir(), 'data');
    const umask = process.umask(0o000);
    try {
      const files = new SigningKeyFiles(data);
      const { privateKey } = generateKeyPairSync('ed25519');
      const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: String(privateKey.export({ format: 'jwk' }).x) });
      await files.save(kid, privateKey);
      expect(files.path(kid)).toBe(join(data, 'keys', `ticket-${kid}.pem`));
      expect([mode(data), mode(join(data, 'keys')), mode(files.path(kid))]).toEqual(['700', '700', '600']);
      expect((await files.load(kid))?.export({ format: 'jwk' })).toEqual(privateKey.export({ format: 'jwk' }));
      expect(await codeOf(files.save(kid, generateKeyPairSync('ed25519').privateKey))).toBe('SIGNING_KEY_INVALID');
      await files.remove(kid);
      expect(await files.load(kid)).toBeUndefined();
      await files.remove(kid);
    } finally {
      process.umask(umask);
    }
  });

  it('refuses a kid that is not a thumbprint, so nothing else becomes a file name', async () => {
    const files = new SigningKeyFiles(tempDir());
    for (const kid of ['../admin-token', 'a/b', '', 'x'.repeat(44)]) expect(() => files.path(kid)).toThrow(expect.objectContaining({ code: 'SIGNING_KEY_INVALID' }) as Error);
    // Through the port, as a rejection.
    expect(await codeOf(files.save('../admin-token', generateKeyPairSync('ed25519').privateKey))).toBe('SIGNING_KEY_INVALID');
    expect(await codeOf(files.remove('../admin-token'))).toBe('SIGNING_KEY_INVALID');
  });

  it('names the file it cannot read (SIGNING_KEY_INVALID)', async () => {
    const data = tempDir();
    const files = new SigningKeyFiles(data);
    const kid = 'A'.repeat(43);
    writeFileSync(files.path(kid), 'not a key');
    const error = await files.load(kid).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SIGNING_KEY_INVALID', message: expect.stringContaining(files.path(kid)) as string });
  });
});

describe('a data directory whose broker.sqlite holds private keys (an older broker)', () => {
  it('moves the signing key to a file, erases every private key from the database files, and signs on with the same key', async () => {
    const data = tempDir();
    const path = join(data, 'broker.sqlite');
    const { current, retired } = await olderDatabase(path);
    for (const key of [current, retired]) expect(databaseBytes(path).includes(key.privateJwk.d ?? '-')).toBe(true);

    const store = SqliteStore.open(path);
    const files = new SigningKeyFiles(data);
    expect(await moveLegacySigningKeys(store, files)).toBe(1);
    const ring = await KeyRing.load(store, () => new Date('2026-01-03T00:00:00Z'), { secrets: files });
    expect(ring.currentKid).toBe(current.kid);
    expect(ring.list().map((k) => [k.kid, k.state])).toEqual([
      [current.kid, 'current'],
      [retired.kid, 'retired'],
    ]);
    expect(mode(files.path(current.kid))).toBe('600');
    expect(existsSync(files.path(retired.kid))).toBe(false);
    // A second start finds nothing left to move.
    expect(await moveLegacySigningKeys(store, files)).toBe(0);
    await store.close();

    const bytes = databaseBytes(path);
    for (const key of [current, retired]) {
      expect(bytes.includes(key.privateJwk.d ?? '-')).toBe(false);
      expect(bytes.includes(Buffer.from(key.privateJwk.d ?? '-', 'base64url'))).toBe(false);
      // The public halves stay: the key still verifies what it signed.
      expect(bytes.includes(key.publicJwk.x ?? '-')).toBe(true);
    }
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'legacy_signing_keys'").all()).toEqual([]);
    db.close();
  });

  it('refuses, changing nothing, when a file already holds another key for that kid', async () => {
    const data = tempDir();
    const path = join(data, 'broker.sqlite');
    const { current } = await olderDatabase(path);
    const files = new SigningKeyFiles(data);
    await files.save(current.kid, generateKeyPairSync('ed25519').privateKey);
    const store = SqliteStore.open(path);
    try {
      expect(await codeOf(moveLegacySigningKeys(store, files))).toBe('SIGNING_KEY_INVALID');
      expect((await store.takeLegacySigningSecrets()).map((k) => k.kid)).toContain(current.kid);
    } finally {
      await store.close();
    }
  });

  it('refuses a private key that is not its kid’s (SIGNING_KEY_INVALID)', async () => {
    const data = tempDir();
    const path = join(data, 'broker.sqlite');
    const { current } = await olderDatabase(path);
    const other = await legacyKey();
    const db = new Database(path);
    db.prepare('UPDATE signing_keys SET private_jwk = ? WHERE kid = ?').run(JSON.stringify(other.privateJwk), current.kid);
    db.close();
    const store = SqliteStore.open(path);
    try {
      expect(await codeOf(moveLegacySigningKeys(store, new SigningKeyFiles(data)))).toBe('SIGNING_KEY_INVALID');
    } finally {
      await store.close();
    }
  });
});
