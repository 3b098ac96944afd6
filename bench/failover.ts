/**
 * `npm run bench -- failover`: time from SIGKILL of a meeting's bridge
 * process to media flowing again for both participants. Goal: p95 ≤ 3000 ms.
 *
 * An in-process broker (dev mode, examples/world.yaml, heartbeat timeout
 * 1.5 s, as `geobridge up` and src/bridge/cluster.fixture.ts run it) and
 * three `geobridge bridge` child processes for the North American
 * datacenters a US participant may use (us-east, us-west, ca-central),
 * heart-beating every 400 ms, media on 127.0.0.1. Two Node participants
 * (src/sdk/node.ts) route as if from the US and both publish synthetic
 * video. Each round kills the meeting's bridge (SIGKILL) and times until
 * each participant receives its first packet on a track of the new bridge;
 * the round's figure is the later of the two. Then the killed bridge is
 * restarted so the next round has somewhere to go.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MediaStreamTrack } from 'werift';
import { generateBridgeIdentity } from '../src/broker/attestation.js';
import { startBroker } from '../src/broker/server.js';
import { nodeSession, type SessionEvent } from '../src/sdk/node.js';
import type { Session } from '../src/sdk/session.js';
import { pollUntil, quantile, syntheticVideo, type VideoSource } from './media-support.js';
import type { BenchOptions } from './run.js';

const DATACENTERS = ['us-east', 'us-west', 'ca-central'] as const;
const BIN = fileURLToPath(new URL('../bin/geobridge.js', import.meta.url));
const WORLD = fileURLToPath(new URL('../examples/world.yaml', import.meta.url));
const HEARTBEAT_TIMEOUT_MS = 1500;
const GOAL_P95_MS = 3000;
/** A round that has not recovered by then fails the run. */
const ROUND_LIMIT_MS = 20_000;
const VIDEO = { fps: 30, packetsPerFrame: 4, payloadBytes: 1000 } as const;

interface Caller {
  readonly session: Session<MediaStreamTrack>;
  readonly video: VideoSource;
  /** Time of the first packet on each received track, in arrival order. */
  readonly firstPackets: number[];
  connectedTo?: string;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const kills = opts.quick ? 3 : 8;
  const dataDir = mkdtempSync(join(tmpdir(), 'geobridge-bench-failover-'));
  const adminToken = randomBytes(24).toString('base64url');
  const keyFiles = await writeKeys(dataDir);
  const broker = await startBroker(
    { manifestPath: WORLD, host: '127.0.0.1', port: 0, dataDir, dev: true, assumeBridgesUp: true, trustedProxies: [], bridgeKeysPath: join(dataDir, 'bridge-keys.yaml'), geoipPath: undefined, issuer: 'http://127.0.0.1', adminToken, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, routeTicketSeconds: 120, joinTokenSeconds: 600, placementReleaseMs: 30_000 },
    false,
  );
  const bridges = new Map<string, ChildProcess>();
  const callers: Caller[] = [];
  try {
    for (const dc of DATACENTERS) bridges.set(dc, await startBridgeProcess(dc, broker.url, keyFiles.get(dc) ?? ''));
    opts.log(`broker at ${broker.url}; bridges ${[...bridges].map(([dc, c]) => `${dc} (pid ${c.pid ?? '?'})`).join(', ')}`);
    const tokens = await joinTokens(broker.url, adminToken, 2);
    tokens.forEach((token, i) => callers.push(joinCall(broker.url, token, `caller ${i + 1}`, 1000 + i)));
    const flowing = await pollUntil(() => callers.every((c) => c.firstPackets.length > 0), ROUND_LIMIT_MS);
    if (!flowing) throw new Error('media never flowed between the two participants');
    const samples: number[] = [];
    for (let round = 1; round <= kills; round++) {
      const { ms, from, to } = await killAndTime(bridges, callers);
      samples.push(ms);
      opts.log(`kill ${round}/${kills}: ${from} → ${to}, media on both after ${ms.toFixed(0)} ms`);
      bridges.set(from, await startBridgeProcess(from, broker.url, keyFiles.get(from) ?? ''));
      // Let the restarted bridge heartbeat and the call settle before the next kill.
      await new Promise((r) => setTimeout(r, 2000));
    }
    const p95Ms = quantile(samples, 0.95);
    return { medianMs: opts.median(samples), p95Ms, maxMs: Math.max(...samples), n: samples.length, goalP95Ms: GOAL_P95_MS, goalMet: p95Ms <= GOAL_P95_MS, heartbeatMs: 400, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, samplesMs: samples };
  } finally {
    for (const c of callers) {
      c.session.leave();
      c.video.stop();
    }
    for (const child of bridges.values()) child.kill('SIGKILL');
    await broker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** SIGKILLs the meeting's bridge; resolves once both callers receive media on a track of another bridge. */
async function killAndTime(bridges: ReadonlyMap<string, ChildProcess>, callers: readonly Caller[]): Promise<{ ms: number; from: string; to: string }> {
  const from = callers[0]?.connectedTo ?? '';
  if (!callers.every((c) => c.connectedTo === from)) throw new Error(`the callers are on different bridges: ${callers.map((c) => c.connectedTo ?? '-').join(', ')}`);
  const killedAt = performance.now();
  bridges.get(from)?.kill('SIGKILL');
  const recoveredAt = (c: Caller): number | undefined => c.firstPackets.find((t) => t > killedAt);
  const back = await pollUntil(() => callers.every((c) => recoveredAt(c) !== undefined && c.connectedTo !== from), ROUND_LIMIT_MS);
  if (!back) throw new Error(`no media ${ROUND_LIMIT_MS} ms after killing ${from}; callers on ${callers.map((c) => c.connectedTo ?? '-').join(', ')}`);
  const ms = Math.max(...callers.map((c) => (recoveredAt(c) ?? Number.NaN) - killedAt));
  return { ms, from, to: callers[0]?.connectedTo ?? '' };
}

/** Joins as if from the US, publishing synthetic video, and notes the first packet of every track received. */
function joinCall(broker: string, joinToken: string, name: string, ssrc: number): Caller {
  const video = syntheticVideo({ ...VIDEO, ssrc });
  const firstPackets: number[] = [];
  const caller: Caller = { video, firstPackets, session: undefined as unknown as Session<MediaStreamTrack> };
  const onEvent = (e: SessionEvent<MediaStreamTrack>): void => {
    if (e.type === 'connected') caller.connectedTo = e.datacenter;
    if (e.type !== 'track-added') return;
    const first = e.track.onReceiveRtp.subscribe(() => {
      first.unSubscribe();
      firstPackets.push(performance.now());
    });
  };
  const session = nodeSession({ broker, joinToken, country: 'US', tracks: { video: video.track }, onEvent });
  Object.assign(caller, { session });
  session.join();
  return caller;
}

/** Writes each datacenter's private key (JSON JWK) and the broker's public key file; returns the key files. */
async function writeKeys(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const lines: string[] = [];
  for (const dc of DATACENTERS) {
    const id = await generateBridgeIdentity();
    const file = join(dir, `${dc}.jwk`);
    writeFileSync(file, JSON.stringify(id.privateJwk), { mode: 0o600 });
    files.set(dc, file);
    lines.push(`${dc}: ${id.publicKey}`);
  }
  writeFileSync(join(dir, 'bridge-keys.yaml'), `${lines.join('\n')}\n`);
  return files;
}

/** Spawns `geobridge bridge` as `geobridge up` does and resolves once it listens. */
function startBridgeProcess(datacenter: string, broker: string, keyFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'bridge', '--datacenter', datacenter, '--broker', broker, '--key', keyFile, '--bind-address', '127.0.0.1', '--heartbeat-ms', '400'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let said = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the bridge for ${datacenter} did not start within 60 s: ${said}`));
    }, 60_000);
    child.stderr.on('data', (chunk: Buffer) => {
      said += chunk.toString('utf8');
      if (said.includes('listening on')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the bridge for ${datacenter} exited (${signal ?? `code ${code ?? '?'}`}): ${said}`));
    });
  });
}

/** An account, a meeting and `count` join tokens, through the broker's API. */
async function joinTokens(url: string, adminToken: string, count: number): Promise<string[]> {
  const post = async (path: string, bearer: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(new URL(path, url), { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const account = await post('/v1/accounts', adminToken, { name: 'Bench', homeCountry: 'US' });
  const meeting = await post('/v1/meetings', String(account.apiKey), { title: 'Failover benchmark' });
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) tokens.push(String((await post(`/v1/meetings/${String(meeting.id)}/join-tokens`, String(account.apiKey), { name: `caller ${i + 1}` })).token));
  return tokens;
}
