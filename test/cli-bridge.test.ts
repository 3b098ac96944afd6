// `geobridge bridge` and its STUN/TURN flags: the shared URL rule, and a server the manifest does not declare.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../src/bridge/cluster.fixture.js';
import { main } from '../src/cli/main.js';

let cluster: Cluster;
let dir: string;
let keyFile: string;

beforeAll(async () => {
  // world.yaml: us-west declares no STUN/TURN server; us-east declares turn.use1.
  cluster = await startCluster(['us-west'], []);
  dir = mkdtempSync(join(tmpdir(), 'geobridge-cli-bridge-'));
  keyFile = join(dir, 'us-west.jwk');
  writeFileSync(keyFile, JSON.stringify(cluster.identities.get('us-west')));
}, 30_000);
afterAll(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

async function bridge(...flags: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await main(['bridge', '--datacenter', 'us-west', '--broker', cluster.broker.url, '--key', keyFile, '--turn-username', 'u', '--turn-credential', 'c', ...flags], { out: () => undefined, err: (t) => (err += t) });
  return { code, err };
}

describe('geobridge bridge --ice-servers', () => {
  it('refuses to start, exit 2, with a server its datacenter does not declare (another datacenter’s included)', async () => {
    for (const url of ['turn:turn.use1.example.com:3478', 'stun:stun.l.example.net:19302']) {
      const r = await bridge('--ice-servers', url);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^error ICE_SERVER_NOT_DECLARED:/m);
    }
  }, 30_000);

  it('holds URLs to the manifest’s rule, length included, before reaching the broker (USAGE)', async () => {
    for (const url of [`turn:${'a'.repeat(600)}`, 'http://turn.example.com', 'TURN:turn.example.com']) {
      const r = await bridge('--ice-servers', url);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^error USAGE:/m);
    }
  }, 30_000);
});
