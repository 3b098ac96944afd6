/**
 * The transparency log's signing key (Ed25519), kept apart from the keys
 * that sign tickets: an STH signature must mean "the log said so", never
 * "the ticket service said so", and the two are rotated for different
 * reasons. It lives in DATA/keys/log.pem (PKCS #8), the directory mode 700
 * and the file 600 whatever the umask; made on first start, then kept, since
 * auditors pin it.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import type { LogKey, SignedTreeHead } from './audit/tree-heads.js';
import type { LogPublicKey } from './audit/verify-log.js';
import { ensureKeysDir, keysDir, readPrivateKeyFile, writePrivateKeyFile } from './key-files.js';
import type { PublicJwk } from './keys.js';

/** Where the log key of a data directory lives. */
export function logKeyPath(dataDir: string): string {
  return join(keysDir(dataDir), 'log.pem');
}

/** Loads DATA/keys/log.pem, making it first when `create` (a broker) and it does not exist. Throws LOG_KEY_UNAVAILABLE naming the file. */
export async function loadLogKey(dataDir: string, create: boolean): Promise<LogKey> {
  const file = logKeyPath(dataDir);
  try {
    if (create) ensureKeysDir(dataDir);
    if (!existsSync(file)) {
      if (!create) throw new GeobridgeError('LOG_KEY_UNAVAILABLE', `no log key at '${file}': it is made when a broker first starts on this data directory; pass --data with the broker's data directory.`);
      writePrivateKeyFile(file, generateKeyPairSync('ed25519').privateKey);
    }
    return await logKeyFrom(readPrivateKeyFile(file, create));
  } catch (error) {
    if (error instanceof GeobridgeError) throw error;
    throw new GeobridgeError('LOG_KEY_UNAVAILABLE', `cannot read the log key '${file}': ${error instanceof Error ? error.message : String(error)}. It must be an Ed25519 private key in PKCS #8 PEM, as the broker writes it.`, { cause: error });
  }
}

/**
 * Refuses to sign a shared log with another key than the one that signed its
 * latest tree head (`where` names the log): brokers sharing one log are one
 * log to auditors, who pin one key. Throws LOG_KEY_MISMATCH.
 */
export function assertSameLogKey(latest: SignedTreeHead | undefined, key: LogKey, where: string, dataDir: string): void {
  if (latest === undefined || latest.keyId === key.keyId) return;
  throw new GeobridgeError(
    'LOG_KEY_MISMATCH',
    `the audit log in ${where} is signed by log key ${latest.keyId}, but this broker's '${logKeyPath(dataDir)}' is key ${key.keyId}: brokers sharing one log must share its key. Copy keys/log.pem from the broker that first used this database to '${logKeyPath(dataDir)}' (mode 600), then start again.`,
  );
}

/** A fresh log key held in memory only (tests, in-memory brokers). */
export function ephemeralLogKey(): Promise<LogKey> {
  return logKeyFrom(generateKeyPairSync('ed25519').privateKey);
}

async function logKeyFrom(privateKey: KeyObject): Promise<LogKey> {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new GeobridgeError('LOG_KEY_UNAVAILABLE', `the log key is a ${String(privateKey.asymmetricKeyType)} key, not Ed25519.`);
  const publicKey = createPublicKey(privateKey);
  return { keyId: await thumbprint(rawPublic(publicKey)), privateKey, publicKey };
}

/** The public JWK of a log key, as /v1/log/key serves it. */
export function logPublicJwk(key: Pick<LogKey, 'keyId' | 'publicKey'>): PublicJwk {
  return { kty: 'OKP', crv: 'Ed25519', x: rawPublic(key.publicKey), kid: key.keyId, alg: 'EdDSA', use: 'sig' };
}

/** A public key from its JWK (what an auditor pinned), checked against its `kid`. */
export async function logPublicKeyFromJwk(jwk: unknown): Promise<LogPublicKey> {
  const j = jwk as Partial<PublicJwk> | null;
  if (typeof j !== 'object' || j === null || j.kty !== 'OKP' || j.crv !== 'Ed25519' || typeof j.x !== 'string') throw new GeobridgeError('LOG_KEY_UNAVAILABLE', 'the log key is not an Ed25519 public JWK ({"kty":"OKP","crv":"Ed25519","x":…}).');
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: j.x }, format: 'jwk' });
  const keyId = await thumbprint(j.x);
  if (j.kid !== undefined && j.kid !== keyId) throw new GeobridgeError('LOG_KEY_UNAVAILABLE', `the log key's kid '${j.kid}' is not its thumbprint '${keyId}'.`);
  return { keyId, publicKey };
}

function rawPublic(publicKey: KeyObject): string {
  return String(publicKey.export({ format: 'jwk' }).x);
}

/** The key's id: its RFC 7638 thumbprint, as the ticket keys' (keys.ts). */
function thumbprint(x: string): Promise<string> {
  return calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x });
}
