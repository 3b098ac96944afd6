#!/usr/bin/env node
// Makes the keys a multi-broker deployment needs before its first start, with
// node:crypto only (run it from anywhere, no npm install):
//
//   node make-keys.mjs OUT_DIR [DATACENTER…]
//
// OUT_DIR/log.pem                the transparency log's key (Ed25519, PKCS #8 PEM):
//                                copy it to every broker's DATA/keys/log.pem (mode 600)
//                                before that broker's first start; back it up
// OUT_DIR/bridges/DATACENTER.jwk each bridge's private key (JSON Ed25519 JWK):
//                                give it to that datacenter's bridges only (--key)
// OUT_DIR/bridge-keys.yaml       every bridge's public key, for every broker's --bridge-keys
//
// Files that exist are kept, never overwritten: run it again with a new
// datacenter to add one. docs/deploy.md explains where each file goes.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [out, ...datacenters] = process.argv.slice(2);
if (out === undefined || out.startsWith('-')) {
  process.stderr.write('usage: node make-keys.mjs OUT_DIR [DATACENTER…]\n');
  process.exit(2);
}
const bad = datacenters.filter((dc) => !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(dc));
if (bad.length > 0) {
  process.stderr.write(`not a datacenter id: ${bad.join(', ')}\n`);
  process.exit(2);
}

/**
 * Writes a secret, mode 600, refusing to replace a file another run wrote meanwhile.
 * @param {string} file
 * @param {string | Uint8Array} text
 */
function writeSecret(file, text) {
  writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
}

mkdirSync(join(out, 'bridges'), { recursive: true, mode: 0o700 });

const logKey = join(out, 'log.pem');
if (!existsSync(logKey)) {
  writeSecret(logKey, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  process.stderr.write(`made ${logKey}\n`);
}

for (const dc of datacenters) {
  const file = join(out, 'bridges', `${dc}.jwk`);
  if (existsSync(file)) continue;
  const { x, d } = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  writeSecret(file, `${JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x, d })}\n`);
  process.stderr.write(`made ${file}\n`);
}

// Every bridge key in OUT_DIR/bridges, so the file always lists them all.
const lines = readdirSync(join(out, 'bridges'))
  .filter((name) => name.endsWith('.jwk'))
  .sort()
  .map((name) => {
    const jwk = /** @type {{ x?: unknown }} */ (JSON.parse(readFileSync(join(out, 'bridges', name), 'utf8')));
    return `${name.slice(0, -'.jwk'.length)}: ${String(jwk.x)}`;
  });
writeFileSync(join(out, 'bridge-keys.yaml'), `# datacenter: its bridge's Ed25519 public key (base64url). Public: give it to every broker (--bridge-keys).\n${lines.join('\n')}\n`);
process.stderr.write(`wrote ${join(out, 'bridge-keys.yaml')} (${lines.length} bridge key(s))\n`);
