/**
 * Where the private halves of the ticket signing keys live: never in the
 * store (which holds each key's public half and life), but in
 * DATA/keys/ticket-<kid>.pem (mode 600, folder 700) for a broker on a data
 * directory, or in memory for brokers built on the memory store (tests).
 * Only the current key's private half is ever needed: a retired key only
 * verifies, with its public half, so the key ring destroys the private half
 * once the key is retired.
 */
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { ensureKeysDir, keysDir, readPrivateKeyFile, writePrivateKeyFile } from './key-files.js';
import type { SqliteStore } from './store/sqlite-store.js';

/** The private halves of the signing keys, by kid. */
export interface SigningKeySecrets {
  /** Keeps the private key of `kid`; never replaces one already kept. */
  save(kid: string, key: KeyObject): Promise<void>;
  /** The private key of `kid`, or undefined when none is kept (lost, or destroyed at retirement). */
  load(kid: string): Promise<KeyObject | undefined>;
  /** Destroys the private key of `kid`, if kept. */
  remove(kid: string): Promise<void>;
}

/** Keys held by this process only: they die with it (the memory store's brokers). */
export class MemorySigningKeySecrets implements SigningKeySecrets {
  readonly #keys = new Map<string, KeyObject>();

  save(kid: string, key: KeyObject): Promise<void> {
    if (this.#keys.has(kid)) return Promise.reject(new GeobridgeError('SIGNING_KEY_INVALID', `a private key for ${kid} is already kept; it is never replaced.`));
    this.#keys.set(kid, key);
    return Promise.resolve();
  }

  load(kid: string): Promise<KeyObject | undefined> {
    return Promise.resolve(this.#keys.get(kid));
  }

  remove(kid: string): Promise<void> {
    this.#keys.delete(kid);
    return Promise.resolve();
  }
}

/** A kid is an RFC 7638 thumbprint (SHA-256, base64url): nothing else may become part of a file name. */
const KID = /^[A-Za-z0-9_-]{43}$/;

/** The signing keys' private halves as files in DATA/keys. */
export class SigningKeyFiles implements SigningKeySecrets {
  readonly #dir: string;

  /** Opens DATA/keys, creating it (mode 700, DATA too) if needed. */
  constructor(dataDir: string) {
    this.#dir = keysDir(dataDir);
    ensureKeysDir(dataDir);
  }

  /**
   * This data directory's name among brokers that share a store (the holder
   * of the keys it makes, keys.ts): DATA/keys/holder, made once as the host
   * name and a random suffix, so two brokers on one host differ.
   */
  holder(): string {
    const file = join(this.#dir, 'holder');
    if (!existsSync(file)) {
      const host = hostname().replace(/[^A-Za-z0-9.-]/g, '').slice(0, 40) || 'broker';
      writeFileSync(file, `${host}-${randomBytes(4).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    }
    return readFileSync(file, 'utf8').trim();
  }

  /** The file of `kid`'s private key. */
  path(kid: string): string {
    if (!KID.test(kid)) throw new GeobridgeError('SIGNING_KEY_INVALID', `'${kid}' is not a key id (an RFC 7638 thumbprint, 43 base64url characters).`);
    return join(this.#dir, `ticket-${kid}.pem`);
  }

  save(kid: string, key: KeyObject): Promise<void> {
    return this.#io(kid, 'write', (file) => {
      writePrivateKeyFile(file, key);
    });
  }

  load(kid: string): Promise<KeyObject | undefined> {
    const hint = ' (it must be an Ed25519 private key in PKCS #8 PEM, as the broker writes it; restore it from a backup, or remove it and restart the broker to sign with a new key)';
    return this.#io(
      kid,
      'read',
      (file) => {
        try {
          return readPrivateKeyFile(file, true);
        } catch (error) {
          if (isMissing(error)) return undefined;
          throw error;
        }
      },
      hint,
    );
  }

  remove(kid: string): Promise<void> {
    return this.#io(kid, 'remove', (file) => {
      rmSync(file, { force: true });
    });
  }

  /** Runs file I/O on `kid`'s file as a promise; a failure becomes SIGNING_KEY_INVALID naming the file. */
  #io<T>(kid: string, verb: string, fn: (file: string) => T, hint = ''): Promise<T> {
    let file = '';
    try {
      file = this.path(kid);
      return Promise.resolve(fn(file));
    } catch (error) {
      if (error instanceof GeobridgeError) return Promise.reject(error);
      return Promise.reject(new GeobridgeError('SIGNING_KEY_INVALID', `cannot ${verb} the signing key file '${file}'${hint}: ${error instanceof Error ? error.message : String(error)}.`, { cause: error }));
    }
  }
}

/**
 * Moves the private keys an older broker kept in broker.sqlite into files,
 * then erases them from the database. Only keys that may still sign move
 * (retired and revoked ones are just erased). Idempotent: a start that
 * crashed halfway finds the files it wrote and goes on. Answers how many
 * keys moved.
 */
export async function moveLegacySigningKeys(store: SqliteStore, secrets: SigningKeySecrets): Promise<number> {
  const legacy = await store.takeLegacySigningSecrets();
  const signing = new Set((await store.listSigningKeys()).filter((k) => k.retiredAt === undefined && k.revokedAt === undefined).map((k) => k.kid));
  let moved = 0;
  for (const { kid, privateJwk } of legacy) {
    if (!signing.has(kid)) continue;
    const key = await importLegacy(kid, privateJwk);
    const kept = await secrets.load(kid);
    if (kept === undefined) await secrets.save(kid, key);
    else if (!publicOf(kept).equals(publicOf(key))) throw new GeobridgeError('SIGNING_KEY_INVALID', `a file for signing key ${kid} already holds another key than the database does; move that file away and start the broker again.`);
    moved++;
  }
  await store.eraseLegacySigningSecrets();
  return moved;
}

async function importLegacy(kid: string, privateJwk: Readonly<Record<string, string>>): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: { ...privateJwk }, format: 'jwk' });
  } catch (cause) {
    throw new GeobridgeError('SIGNING_KEY_INVALID', `the private key of ${kid} in broker.sqlite does not import: restore the database from a backup.`, { cause });
  }
  const x = String(createPublicKey(key).export({ format: 'jwk' }).x);
  if (key.asymmetricKeyType !== 'ed25519' || (await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x })) !== kid) {
    throw new GeobridgeError('SIGNING_KEY_INVALID', `the private key stored for ${kid} in broker.sqlite is not that key's: restore the database from a backup.`);
  }
  return key;
}

function publicOf(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT';
}
