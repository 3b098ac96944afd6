/**
 * Private keys kept as files in the data directory's keys/ folder: PKCS #8
 * PEM, the folder mode 700 and each file 600 whatever the umask, files never
 * overwritten. The transparency log's key (log-key.ts) and the ticket
 * signing keys (signing-key-files.ts) both live there.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync, type PathLike } from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';

/** DATA/keys. */
export function keysDir(dataDir: string): string {
  return join(dataDir, 'keys');
}

/** Creates DATA/keys if needed and narrows it (and DATA itself) to their owner: both hold secrets. */
export function ensureKeysDir(dataDir: string): string {
  const dir = keysDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  chmodSync(dir, 0o700);
  return dir;
}

/** Writes a private key as PKCS #8 PEM, mode 600; throws EEXIST rather than overwrite a key another process wrote. */
export function writePrivateKeyFile(file: string, key: KeyObject): void {
  writeFileSync(file, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  // The mode above is filtered by the umask; a key is the owner's alone whatever it is.
  chmodSync(file, 0o600);
}

/** Reads a private key file, narrowing it to mode 600 first when `narrow` (the broker that owns it). */
export function readPrivateKeyFile(file: PathLike, narrow: boolean): KeyObject {
  if (narrow) chmodSync(file, 0o600);
  return createPrivateKey(readFileSync(file));
}
