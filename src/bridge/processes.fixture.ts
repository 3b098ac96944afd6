/**
 * Test and benchmark fixture: a broker in this process (dev mode,
 * examples/world.yaml, SQLite in a temporary directory) and one
 * `geobridge bridge` child process per datacenter, as `geobridge up` runs
 * them, on 127.0.0.1. Bridges are processes so that a test can SIGKILL one
 * as a crash would, and start it again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateBridgeIdentity } from '../broker/attestation.js';
import { startBroker, type RunningBroker } from '../broker/server.js';

const BIN = fileURLToPath(new URL('../../bin/geobridge.js', import.meta.url));
const WORLD = fileURLToPath(new URL('../../examples/world.yaml', import.meta.url));
/** A bridge process loads TypeScript through tsx: slow on a loaded 2-core machine. */
const START_LIMIT_MS = 60_000;

export interface ProcessCluster {
  readonly broker: RunningBroker;
  readonly apiKey: string;
  /** The running bridge process of each datacenter. */
  readonly bridges: ReadonlyMap<string, ChildProcess>;
  /** SIGKILLs `datacenter`'s bridge, as a crash would. */
  kill(datacenter: string): void;
  /** Starts `datacenter`'s bridge again (after `kill`); resolves once it listens. */
  restart(datacenter: string): Promise<void>;
  meeting(title?: string): Promise<string>;
  /** An invite link's secret for the meeting page (`/join#invite=…`). */
  invite(meeting: string): Promise<string>;
  joinToken(meeting: string, name: string): Promise<string>;
  close(): Promise<void>;
}

export interface ProcessClusterOptions {
  /** Bridges' heartbeat interval (default 400 ms). */
  readonly heartbeatMs?: number;
  /** The broker's heartbeat timeout (default 10 s, as `geobridge up`: sized for a loaded machine; a lost presence connection is seen at once anyway). */
  readonly heartbeatTimeoutMs?: number;
  /** Route tickets' lifetime (default 120 s, as `geobridge up`); bridges renew them at half of it. */
  readonly ticketSeconds?: number;
}

/** Starts the broker and a bridge process for each of `datacenters`; the others are down. */
export async function startProcessCluster(datacenters: readonly string[], options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'geobridge-processes-'));
  const keyFiles = await writeKeys(dataDir, datacenters);
  const adminToken = randomBytes(24).toString('base64url');
  const broker = await startBroker(
    {
      manifestPath: WORLD,
      host: '127.0.0.1',
      port: 0,
      dataDir,
      dev: true,
      assumeBridgesUp: false,
      trustedProxies: [],
      bridgeKeysPath: join(dataDir, 'bridge-keys.yaml'),
      geoipPath: undefined,
      issuer: 'http://127.0.0.1',
      adminToken,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 10_000,
      routeTicketSeconds: options.ticketSeconds ?? 120,
      joinTokenSeconds: 600,
      placementReleaseMs: 30_000,
    },
    false,
  );
  const bridges = new Map<string, ChildProcess>();
  /** Each datacenter's signalling address: a restarted bridge takes it again, as a datacenter keeps its URL. */
  const listens = new Map<string, string>();
  const start = async (dc: string): Promise<void> => {
    const launch = (listen: string): Promise<{ child: ChildProcess; listen: string }> => startBridgeProcess(dc, broker.url, keyFiles.get(dc) ?? '', options.heartbeatMs ?? 400, listen);
    const earlier = listens.get(dc);
    // Someone else may have taken the port meanwhile: then any port.
    const started = earlier === undefined ? await launch('127.0.0.1:0') : await launch(earlier).catch(() => launch('127.0.0.1:0'));
    bridges.set(dc, started.child);
    listens.set(dc, started.listen);
  };
  const post = async (path: string, bearer: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(new URL(path, broker.url), { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  try {
    await Promise.all(datacenters.map(start));
    const apiKey = String((await post('/v1/accounts', adminToken, { name: 'Processes', homeCountry: 'US' })).apiKey);
    return {
      broker,
      apiKey,
      bridges,
      kill: (dc) => {
        bridges.get(dc)?.kill('SIGKILL');
        bridges.delete(dc);
      },
      restart: start,
      meeting: async (title = 'Test meeting') => String((await post('/v1/meetings', apiKey, { title })).id),
      invite: async (meeting) => String((await post(`/v1/meetings/${meeting}/invites`, apiKey, {})).invite),
      joinToken: async (meeting, name) => String((await post(`/v1/meetings/${meeting}/join-tokens`, apiKey, { name })).token),
      close: async () => {
        for (const child of bridges.values()) child.kill('SIGKILL');
        await broker.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const child of bridges.values()) child.kill('SIGKILL');
    await broker.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** Writes each datacenter's private key (JSON JWK) and the broker's public key file; returns the key files. */
async function writeKeys(dir: string, datacenters: readonly string[]): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const lines: string[] = [];
  for (const dc of datacenters) {
    const id = await generateBridgeIdentity();
    const file = join(dir, `${dc}.jwk`);
    writeFileSync(file, JSON.stringify(id.privateJwk), { mode: 0o600 });
    files.set(dc, file);
    lines.push(`${dc}: ${id.publicKey}`);
  }
  writeFileSync(join(dir, 'bridge-keys.yaml'), `${lines.join('\n')}\n`);
  return files;
}

/** Spawns `geobridge bridge` as `geobridge up` does and resolves once it listens, with the address it listens on (HOST:PORT). */
function startBridgeProcess(datacenter: string, broker: string, keyFile: string, heartbeatMs: number, listen: string): Promise<{ child: ChildProcess; listen: string }> {
  const child = spawn(process.execPath, [BIN, 'bridge', '--datacenter', datacenter, '--broker', broker, '--key', keyFile, '--bind-address', '127.0.0.1', '--listen', listen, '--heartbeat-ms', String(heartbeatMs)], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let said = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the bridge for ${datacenter} did not start within ${START_LIMIT_MS / 1000} s: ${said}`));
    }, START_LIMIT_MS);
    const onData = (chunk: Buffer): void => {
      said += chunk.toString('utf8');
      if (!said.includes('listening on')) return;
      clearTimeout(timer);
      // Keep draining stderr (a full pipe would block the bridge), but stop collecting it.
      child.stderr.off('data', onData);
      child.stderr.resume();
      resolve({ child, listen: /listening on wss?:\/\/([^/\s]+)/.exec(said)?.[1] ?? listen });
    };
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the bridge for ${datacenter} exited (${signal ?? `code ${code ?? '?'}`}): ${said}`));
    });
  });
}
