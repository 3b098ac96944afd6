/**
 * Builds a broker on in-memory adapters with a controllable clock, for the
 * HTTP tests (they drive it with `inject()`; no sockets). Timers of the
 * rejection summary run on that clock too: `advance` fires the ones due.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { parseManifest } from '../core/manifest/parse.js';
import { openGeoIp } from '../node/geoip.js';
import { buildBrokerApp } from './app.js';
import { ReplayGuard, signBridgeMessage } from '../protocol/bridge-message.js';
import { generateBridgeIdentity, importBridgeIdentities } from './attestation.js';
import { MemoryAuditLog } from './audit/memory-audit-log.js';
import { StoreLogs } from './audit/record-logs.js';
import { TreeHeadSigner } from './audit/tree-heads.js';
import { ephemeralLogKey } from './log-key.js';
import { sha256Hex } from './auth.js';
import { DEFAULT_RATE_LIMITS } from './config.js';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from './connection-limit.js';
import { recordAudit, type BrokerConfig, type BrokerContext } from './context.js';
import { PolicyHolder } from './policy-holder.js';
import { BridgeControl } from './control.js';
import { KeyRing } from './keys.js';
import { BrokerMetrics } from './metrics.js';
import { BridgeRegistry } from './registry.js';
import { RejectionSummary, type Schedule } from './rejection-summary.js';
import { MemoryStore } from './store/memory-store.js';
import { ResidentStore } from './store/resident-store.js';
import { MemoryParticipantRows } from './store/memory-participant-rows.js';
import type { ParticipantRows } from './store/participant-rows.js';
import { rowStoreOf } from './record-subject.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** A broker under test, with handles on its parts. */
export interface TestBroker {
  readonly app: FastifyInstance;
  readonly ctx: BrokerContext;
  /** Moves the clock forward and fires the timers now due. */
  advance(ms: number): void;
  /** Signs a message as the bridge of `datacenter`. */
  signAs(datacenter: string, payload: unknown): Promise<string>;
  /** The participant rows each record store holds (none without stores). */
  readonly recordRows: ReadonlyMap<string, ParticipantRows>;
  close(): Promise<void>;
}

/** Options of `startTestBroker`. */
export interface TestBrokerOptions {
  readonly manifestText?: string;
  readonly config?: Partial<BrokerConfig>;
  /** Datacenters given bridge identities (default: every datacenter of the manifest). */
  readonly bridges?: readonly string[];
  /** Record stores given an in-memory log (default: every store the manifest declares). */
  readonly recordStores?: readonly string[];
  /** Load shedding's threshold (serve --shed-at); off when absent. */
  readonly shedAt?: number;
}

/** Starts a broker on memory adapters and examples/world.yaml (or the given manifest). */
export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const text = options.manifestText ?? readFileSync(new URL('../../examples/world.yaml', import.meta.url), 'utf8');
  const manifest = parseManifest(text).manifest;
  if (!manifest) throw new Error('test manifest does not parse');
  let nowMs = Date.parse('2026-11-29T12:00:00.000Z');
  const now = (): Date => new Date(nowMs);
  const timers = new Set<{ readonly due: number; readonly callback: () => void }>();
  const schedule: Schedule = (callback, delayMs) => {
    const timer = { due: nowMs + delayMs, callback };
    timers.add(timer);
    return () => timers.delete(timer);
  };
  const store = new MemoryStore();
  const recordStores = options.recordStores ?? manifest.stores.map((s) => s.id);
  const recordRows = new Map<string, ParticipantRows>(recordStores.map((id) => [id, new MemoryParticipantRows()]));
  const identities = new Map<string, JsonWebKey>();
  const publicKeys: Record<string, string> = {};
  for (const id of options.bridges ?? manifest.datacenters.map((d) => d.id)) {
    const identity = await generateBridgeIdentity();
    identities.set(id, identity.privateJwk);
    publicKeys[id] = identity.publicKey;
  }
  const saved = await store.saveManifest(text, sha256Hex(text), 'test', now().toISOString());
  const bridges = await importBridgeIdentities(publicKeys);
  const keys = await KeyRing.load(store, now);
  const policy = new PolicyHolder({ manifest, version: saved.version, sha256: saved.sha256, text });
  const audit = new MemoryAuditLog();
  const logKey = await ephemeralLogKey();
  const ctx: BrokerContext = {
    config: {
      issuer: 'http://broker.test',
      adminTokenHash: sha256Hex(ADMIN_TOKEN),
      trustedProxies: [],
      dev: false,
      bridgeKeys: bridges.keys,
      bridgePublicJwks: bridges.jwks,
      bridgeUrls: bridges.urls,
      heartbeatTimeoutMs: 5000,
      routeTicketSeconds: 120,
      joinTokenSeconds: 600,
      placementReleaseMs: 30_000,
      rateLimits: DEFAULT_RATE_LIMITS,
      maxConnectionsPerAddress: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
      ...options.config,
    },
    // With record stores, participant rows go to each one's own memory store, as `serve --record-stores` puts them in each one's database.
    store: recordStores.length === 0 ? store : new ResidentStore(store, recordRows, (participant) => rowStoreOf(store, policy.current.manifest, participant)),
    audit,
    logKey,
    // Signs on demand (GET /v1/log/sth); no timer in tests.
    treeHeads: new TreeHeadSigner(audit, logKey, () => now().getTime()),
    storeLogs: new StoreLogs(new Map(recordStores.map((id) => [id, new MemoryAuditLog()])), logKey),
    keys,
    geoip: await openGeoIp(),
    registry: new BridgeRegistry(options.config?.heartbeatTimeoutMs ?? 5000, options.config?.dev ?? false, options.shedAt),
    control: new BridgeControl(keys, policy),
    policy,
    metrics: new BrokerMetrics(),
    replayGuard: new ReplayGuard(),
    helloGuard: new ReplayGuard(),
    rejections: new RejectionSummary({
      now,
      schedule,
      write: async (data) => {
        await recordAudit(ctx, 'bridge.rejected.summary', data);
      },
      // A test must not pass on a summary that was never written.
      onWriteError: (error) => {
        throw error;
      },
    }),
    now,
    startedAt: now().toISOString(),
    monotonicMs: () => nowMs,
  };
  const app = await buildBrokerApp(ctx);
  await app.ready();
  let seq = 0;
  return {
    app,
    ctx,
    advance: (ms) => {
      nowMs += ms;
      for (const timer of timers) {
        if (timer.due > nowMs) continue;
        timers.delete(timer);
        timer.callback();
      }
    },
    recordRows,
    signAs: (datacenter, payload) => {
      const key = identities.get(datacenter);
      if (!key) throw new Error(`no identity for ${datacenter}`);
      seq += 1;
      return signBridgeMessage(key, datacenter, payload, { now: now(), seq });
    },
    close: async () => {
      await app.close();
      await ctx.store.close();
      await ctx.audit.close();
    },
  };
}
