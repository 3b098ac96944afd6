/**
 * Test fixture: a broker (dev mode, world.yaml or a given manifest, SQLite in a temporary
 * directory) and in-process bridges for some datacenters, with an account
 * and helpers to make meetings and join tokens. Everything on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JWK } from 'jose';
import { generateBridgeIdentity } from '../broker/attestation.js';
import { startBroker, type RunningBroker } from '../broker/server.js';
import { startBridge, type BridgeOptions, type RunningBridge } from './server.js';

export interface Cluster {
  /** The broker now (`restartBroker` replaces it). */
  readonly broker: RunningBroker;
  readonly bridges: Map<string, RunningBridge>;
  readonly identities: ReadonlyMap<string, JWK>;
  readonly adminToken: string;
  readonly dataDir: string;
  readonly apiKey: string;
  startBridge(datacenter: string, overrides?: Partial<BridgeOptions>): Promise<RunningBridge>;
  /** Stops the broker and starts it again on the same port and data directory, as a restarted process: its memory starts empty. */
  restartBroker(): Promise<RunningBroker>;
  meeting(title?: string): Promise<string>;
  joinToken(meeting: string, name: string): Promise<string>;
  /** POSTs to an admin route (`/v1/admin/keys/rotate`, …) with the admin token: its status and JSON body. */
  admin(path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  close(): Promise<void>;
}

export const WORLD = fileURLToPath(new URL('../../examples/world.yaml', import.meta.url));

/** Settings a test may change from the defaults. */
export interface ClusterOptions {
  readonly heartbeatTimeoutMs?: number;
  readonly routeTicketSeconds?: number;
  readonly placementReleaseMs?: number;
  /** Options of every bridge it starts. */
  readonly bridge?: Partial<BridgeOptions>;
  /** The broker's manifest (default: examples/world.yaml). */
  readonly manifestPath?: string;
  /** The broker's logger (default: none), e.g. `{ level: 'trace', stream }` to read what it logs. */
  readonly brokerLogger?: { readonly level: string };
  /** Meetings cascade over the bridges (`serve --cascade`). */
  readonly cascade?: boolean;
}

/** Starts the broker with keys for `keyed` datacenters and bridges for `running` ones. */
export async function startCluster(keyed: readonly string[], running: readonly string[] = keyed, options: ClusterOptions = {}): Promise<Cluster> {
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 1500;
  const dataDir = mkdtempSync(join(tmpdir(), 'geobridge-cluster-'));
  const identities = new Map<string, JWK>();
  const lines: string[] = [];
  for (const dc of keyed) {
    const id = await generateBridgeIdentity();
    identities.set(dc, id.privateJwk);
    lines.push(`${dc}: ${id.publicKey}`);
  }
  const keysFile = join(dataDir, 'bridge-keys.yaml');
  writeFileSync(keysFile, `${lines.join('\n')}\n`);
  const adminToken = randomBytes(24).toString('base64url');
  const settings = {
    manifestPath: options.manifestPath ?? WORLD,
    host: '127.0.0.1',
    port: 0,
    dataDir,
    dev: true,
    assumeBridgesUp: true,
    trustedProxies: [],
    bridgeKeysPath: keysFile,
    geoipPath: undefined,
    issuer: 'http://127.0.0.1',
    adminToken,
    heartbeatTimeoutMs,
    routeTicketSeconds: options.routeTicketSeconds ?? 120,
    joinTokenSeconds: 600,
    placementReleaseMs: options.placementReleaseMs ?? 30_000,
    ...(options.cascade === true ? { cascade: true } : {}),
  };
  let broker = await startBroker(settings, options.brokerLogger ?? false);
  const api = async (path: string, token: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(new URL(path, broker.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const account = await api('/v1/accounts', adminToken, { name: 'Test', homeCountry: 'US' });
  const apiKey = String(account.apiKey);
  const bridges = new Map<string, RunningBridge>();
  const start = async (datacenter: string, overrides: Partial<BridgeOptions> = {}): Promise<RunningBridge> => {
    const privateJwk = identities.get(datacenter);
    if (!privateJwk) throw new Error(`no identity for ${datacenter}`);
    // Tests' raw signalling sockets never bring a media path up, and a loaded machine runs a test past the product's 30 s.
    const bridge = await startBridge({ datacenter, broker: broker.url, privateJwk, host: '127.0.0.1', port: 0, media: { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 }, heartbeatMs: 300, drainMs: 2000, connectTimeoutMs: 300_000, ...options.bridge, ...overrides });
    bridges.set(datacenter, bridge);
    return bridge;
  };
  for (const dc of running) await start(dc);
  return {
    get broker() {
      return broker;
    },
    bridges,
    identities,
    adminToken,
    dataDir,
    apiKey,
    startBridge: start,
    restartBroker: async () => {
      const port = Number(new URL(broker.url).port);
      await broker.close();
      broker = await startBroker({ ...settings, port }, options.brokerLogger ?? false);
      return broker;
    },
    meeting: async (title = 'Test meeting') => String((await api('/v1/meetings', apiKey, { title })).id),
    joinToken: async (meeting, name) => String((await api(`/v1/meetings/${meeting}/join-tokens`, apiKey, { name })).token),
    admin: async (path, body) => {
      const res = await fetch(new URL(path, broker.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    },
    close: async () => {
      for (const b of bridges.values()) await b.close();
      await broker.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
