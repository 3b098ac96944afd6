/**
 * Starts a broker process on the embedded defaults: SQLite store and audit
 * log under the data directory (or both in PostgreSQL), signing keys in its keys/ folder, the embedded GeoIP
 * database, and the manifest file (a broker never starts on a manifest with
 * errors).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import { parseManifest } from '../core/manifest/parse.js';
import type { Manifest } from '../core/manifest/types.js';
import { diffManifests } from '../core/verify/diff.js';
import { checkManifest } from '../core/verify/check.js';
import { openGeoIp } from '../node/geoip.js';
import { buildBrokerApp } from './app.js';
import { ReplayGuard } from '../protocol/bridge-message.js';
import { importBridgeIdentities, type BridgeIdentities, type BridgeIdentityConfig } from './attestation.js';
import type { AuditLog } from './audit/audit-log.js';
import { openRecordStoreLog, recordStoreFile } from './audit/open-store-log.js';
import { recordStoreProblems, StoreLogs } from './audit/record-logs.js';
import { PostgresAuditLog } from './audit/postgres-audit-log.js';
import { SqliteAuditLog } from './audit/sqlite-audit-log.js';
import { TreeHeadSigner, type LogKey } from './audit/tree-heads.js';
import { sha256Hex } from './auth.js';
import { Cluster } from './bus/cluster.js';
import { RedisBus } from './bus/redis-bus.js';
import { DEFAULT_RATE_LIMITS, type ServeSettings } from './config.js';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from './connection-limit.js';
import { recordAudit, type AuditObserver, type BrokerContext } from './context.js';
import { PolicyHolder } from './policy-holder.js';
import { BridgeControl } from './control.js';
import { KeyRing } from './keys.js';
import { assertSameLogKey, loadLogKey } from './log-key.js';
import { BrokerMetrics } from './metrics.js';
import { catchUpBridge, recheckLiveMeetings } from './recheck.js';
import { HOP_REFRESH_MS, refreshHops } from './cascade.js';
import { PlacementReleaser } from './placement-release.js';
import { BridgeRegistry } from './registry.js';
import { RejectionSummary, timerSchedule } from './rejection-summary.js';
import { describeUrl } from './pg.js';
import { SigningKeyFiles, moveLegacySigningKeys } from './signing-key-secrets.js';
import { PostgresStore } from './store/postgres-store.js';
import { ResidentStore } from './store/resident-store.js';
import type { ParticipantRows } from './store/participant-rows.js';
import { PostgresParticipantRows } from './store/postgres-participant-rows.js';
import { SqliteParticipantRows } from './store/sqlite-participant-rows.js';
import { rowStoreOf } from './record-subject.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { ManifestVersion, Store } from './store/store.js';
import { listenFailure } from '../node/listen-failure.js';

/**
 * The manifest a broker starts with: its file, unless the store is shared and the file is an older version
 * of the store's manifest. Then the file is a broker not yet updated, not an operator's change, and putting
 * it in force would roll every broker back: the store's newest stays in force, and `stale` names the file's
 * version. A file the store has never held is a change, as on a store of one's own.
 */
async function manifestInForce(
  store: Store,
  shared: boolean,
  fileManifest: Manifest,
  fileText: string,
  latest: ManifestVersion | undefined,
): Promise<{ manifest: Manifest; text: string; sha256: string; stale?: ManifestVersion }> {
  const sha256 = sha256Hex(fileText);
  const asFile = { manifest: fileManifest, text: fileText, sha256 };
  if (!shared || latest === undefined || latest.sha256 === sha256) return asFile;
  const older = (await store.listManifests()).findLast((m) => m.sha256 === sha256);
  if (!older) return asFile;
  const inForce = parseManifest(latest.text, `manifest v${String(latest.version)}`).manifest;
  // The store's text was checked by the broker that saved it; one that no longer parses here is no reason to roll back.
  if (!inForce) throw new GeobridgeError('INVALID_MANIFEST', `the shared store's manifest version ${String(latest.version)} does not parse with this geobridge; upgrade it, or apply a manifest it reads with PUT /v1/manifest.`);
  return { manifest: inForce, text: latest.text, sha256: latest.sha256, stale: older };
}

/** How long closing waits for requests in flight before it cuts their connections. */
const CLOSE_GRACE_MS = 2000;

/** A running broker. */
export interface RunningBroker {
  readonly app: FastifyInstance;
  readonly url: string;
  /** Where the admin token is, when it was generated rather than given. */
  readonly adminTokenFile: string | undefined;
  /** What the routes share (store, keys, registry, control): for `up` and tests that look inside. */
  readonly context: BrokerContext;
  /** Stops accepting requests, then closes the store and the audit log; idempotent. */
  close(): Promise<void>;
}

/** Opens everything, builds the app and listens. */
export async function startBroker(settings: ServeSettings, logger: boolean | { readonly level: string } = true, observe?: AuditObserver): Promise<RunningBroker> {
  // The data directory holds the signing keys and the admin token: it is this user's alone (narrowed below if it exists).
  try {
    mkdirSync(settings.dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new GeobridgeError('USAGE', `--data '${settings.dataDir}' cannot be the broker's data directory (${(error as NodeJS.ErrnoException).code ?? String(error)}): give a directory, new or one a broker used before, that this user may write.`, { cause: error });
  }
  const now = (): Date => new Date();
  const fileText = readText(settings.manifestPath, 'manifest');
  const parsed = parseManifest(fileText, settings.manifestPath);
  const errors = checkManifest(parsed).filter((d) => d.severity === 'error');
  if (!parsed.manifest || errors.length > 0) {
    const first = errors[0];
    throw new GeobridgeError('INVALID_MANIFEST', `${settings.manifestPath} has ${errors.length} error(s)${first ? ` (first: ${first.line}:${first.column} ${first.code}: ${first.message})` : ''}; run 'geobridge check ${settings.manifestPath}'. The broker does not start on a manifest with errors.`);
  }
  const fileManifest = parsed.manifest;
  const { adminToken, adminTokenFile } = loadAdminToken(settings);

  const sqlite = settings.storeUrl === undefined ? SqliteStore.open(ownerOnly(join(settings.dataDir, 'broker.sqlite'))) : undefined;
  // `store` becomes the resident store once the record stores are open (participant rows in theirs).
  let store: Store = sqlite ?? (await PostgresStore.open(settings.storeUrl ?? ''));
  const audit = await openAuditLog(settings).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  let bus: RedisBus | undefined;
  let storeLogs: StoreLogs | undefined;
  try {
    const logKey = await loadLogKey(settings.dataDir, true);
    // Before this broker writes anything to a shared store or log.
    if (settings.storeUrl !== undefined) assertSameLogKey(await audit.latestTreeHead(), logKey, describeUrl(settings.storeUrl), settings.dataDir);
    // Narrows DATA and DATA/keys to 700; keys an older broker kept in broker.sqlite move here first.
    const secrets = new SigningKeyFiles(settings.dataDir);
    if (sqlite) await moveLegacySigningKeys(sqlite, secrets);
    // This broker's name among those sharing the store: the holder of its keys, and its name on the bus.
    const holder = secrets.holder();
    const keys = await KeyRing.load(store, now, { secrets, holder });
    const treeHeads = new TreeHeadSigner(audit, logKey);
    const geoip = await openGeoIp(settings.geoipPath);
    const latest = await store.latestManifest();
    const { manifest, text: manifestText, sha256, stale } = await manifestInForce(store, settings.storeUrl !== undefined, fileManifest, fileText, latest);
    // Checked against the manifest in force (the store's newest when the file is stale), before it is saved.
    const bridges = await loadBridgeIdentities(settings.bridgeKeysPath, new Set(manifest.datacenters.map((d) => d.id)));
    const version = latest?.sha256 === sha256 ? latest : await store.saveManifest(manifestText, sha256, 'startup', now().toISOString());
    const records = await openRecordStores(settings, manifest, logKey, now);
    storeLogs = records.logs;
    const policy = new PolicyHolder({ manifest, version: version.version, sha256, text: manifestText });
    if (records.rows.size > 0) {
      const own = store;
      store = new ResidentStore(own, records.rows, (participant) => rowStoreOf(own, policy.current.manifest, participant, settings.cascade === true));
    }
    const registry = new BridgeRegistry(settings.heartbeatTimeoutMs, settings.assumeBridgesUp, settings.shedAt);
    const control = new BridgeControl(keys, policy);
    bus = settings.busUrl === undefined ? undefined : await RedisBus.connect(settings.busUrl, { broker: `${holder}-${randomUUID().slice(0, 8)}`, ...(settings.busPrefix === undefined ? {} : { prefix: settings.busPrefix }) });
    const cluster = bus && new Cluster(bus, { registry, control, policy, keys, store, cascade: settings.cascade === true, monotonicMs: () => performance.now(), wallMs: Date.now, log: (level, message, detail) => { app.log[level](detail ?? {}, message); } });
    const ctx: BrokerContext = {
      config: {
        issuer: settings.issuer,
        adminTokenHash: sha256Hex(adminToken),
        trustedProxies: settings.trustedProxies,
        dev: settings.dev,
        cascade: settings.cascade === true,
        bridgeKeys: bridges.keys,
        bridgePublicJwks: bridges.jwks,
        bridgeUrls: bridges.urls,
        heartbeatTimeoutMs: settings.heartbeatTimeoutMs,
        routeTicketSeconds: settings.routeTicketSeconds,
        joinTokenSeconds: settings.joinTokenSeconds,
        placementReleaseMs: settings.placementReleaseMs,
        rateLimits: settings.rateLimits ?? DEFAULT_RATE_LIMITS,
        maxConnectionsPerAddress: settings.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
      },
      store,
      audit,
      logKey,
      treeHeads,
      storeLogs,
      keys,
      geoip,
      registry,
      control,
      policy,
      metrics: new BrokerMetrics(),
      // Hellos travel apart from the bridge's HTTP messages, so they keep their own `seq` order: one overtaken by a heartbeat is not a replay.
      replayGuard: bus?.seqGuard('messages') ?? new ReplayGuard(),
      helloGuard: bus?.seqGuard('hellos') ?? new ReplayGuard(),
      ...(cluster ? { cluster } : {}),
      rejections: new RejectionSummary({
        now,
        schedule: timerSchedule,
        write: async (data) => {
          await recordAudit(ctx, 'bridge.rejected.summary', data);
        },
        onWriteError: (error) => {
          app.log.error({ err: error }, 'a bridge.rejected.summary record could not be written; its counts are in the metrics');
        },
      }),
      now,
      startedAt: now().toISOString(),
      monotonicMs: () => performance.now(),
      ...(observe ? { observe } : {}),
    };
    if (latest?.sha256 !== sha256) {
      // What the change does to exposure, as an admin's change records it (the previous manifest parses: the broker stored it).
      const before = latest && parseManifest(latest.text, `manifest v${latest.version}`).manifest;
      const diff = before ? diffManifests(before, manifest) : null;
      await recordAudit(ctx, 'manifest.changed', { actor: 'startup', version: version.version, sha256, previous: latest?.version ?? null, file: settings.manifestPath, diff });
      // Meetings that outlived the previous broker are held to the manifest it starts with.
      await recheckLiveMeetings(ctx, manifest);
    }
    const app = await buildBrokerApp(ctx, { logger });
    if (cluster) {
      control.relayThrough(cluster);
      cluster.catchUpBridgesWith((datacenter) => catchUpBridge(ctx, datacenter, (line) => { app.log.warn(line); }));
      await cluster.start();
      // A manifest this broker put in force at start reaches the others, as one applied through the API does.
      if (latest?.sha256 !== sha256) cluster.announce('policy');
    }
    treeHeads.start((error: unknown) => {
      app.log.error({ err: error }, 'a tree head could not be signed and kept; retrying in a second');
    });
    storeLogs.startSigning((error, log) => {
      app.log.error({ err: error, store: log }, `a tree head of record store '${log}' could not be signed and kept; retrying in a second`);
    });
    const releaser = new PlacementReleaser(ctx);
    releaser.start(Math.max(100, Math.min(5000, Math.floor(settings.placementReleaseMs / 4))));
    // A hop lives only as long as its ticket (the bridge ends it at expiry): a short --ticket-ttl is renewed three times a life.
    const hopRefreshMs = Math.min(HOP_REFRESH_MS, (settings.routeTicketSeconds * 1000) / 3);
    const hopRefresh = settings.cascade === true ? setInterval(() => void refreshHops(ctx, (line) => { app.log.warn(line); }), hopRefreshMs) : undefined;
    if (stale) {
      app.log.warn(
        { file: settings.manifestPath, fileVersion: stale.version, inForce: version.version },
        `${settings.manifestPath} is manifest version ${String(stale.version)} of the shared store, which is at version ${String(version.version)}: running version ${String(version.version)}, not rolling every broker back. Write the manifest in force to this file (geobridge manifest show --store …); change the manifest with PUT /v1/manifest.`,
      );
    }
    if (settings.dev) app.log.warn(`DEV MODE: requests may name their country${settings.assumeBridgesUp ? ' and datacenters without a bridge count as up' : ''}. Never run this in production.`);
    await app.listen({ host: settings.host, port: settings.port }).catch((error: unknown) => {
      throw listenFailure(error, settings.host, settings.port);
    });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : settings.port;
    const url = `http://${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${port}`;
    let closed = false;
    return {
      app,
      url,
      adminTokenFile,
      context: ctx,
      close: async () => {
        if (closed) return;
        closed = true;
        clearInterval(hopRefresh);
        await releaser.stop();
        // A keep-alive connection whose request was in flight when closing began outlives it (the client
        // may hold it for the server's 72 s keep-alive): after a grace for answers in flight, cut what is left.
        const cut = setTimeout(() => {
          app.server.closeAllConnections();
        }, CLOSE_GRACE_MS);
        await app.close();
        clearTimeout(cut);
        // The last records get a signed head before the log closes.
        await treeHeads.stop().catch((error: unknown) => {
          app.log.error({ err: error }, 'the last tree head could not be signed and kept');
        });
        await bus?.close();
        await store.close();
        await audit.close();
        await storeLogs?.close((error, log) => {
          app.log.error({ err: error, store: log }, `the last tree head of record store '${log}' could not be signed and kept`);
        });
      },
    };
  } catch (error) {
    await bus?.close();
    await store.close();
    await audit.close();
    // The start's own error is the one to report; a last head that fails to sign here adds nothing to it.
    await storeLogs?.close(() => undefined);
    throw error;
  }
}

/**
 * The record stores the manifest in force declares: each one's log, checked
 * to be that store's and signed by this broker's log key, and its store of
 * participant rows (the same database). Start fails, with every problem,
 * when the configuration and the manifest's stores differ.
 */
async function openRecordStores(settings: ServeSettings, manifest: Manifest, logKey: LogKey, now: () => Date): Promise<{ logs: StoreLogs; rows: Map<string, ParticipantRows> }> {
  const urls = settings.recordStores ?? new Map<string, string>();
  const problems = recordStoreProblems(manifest, urls);
  if (problems.length > 0) throw new GeobridgeError('RECORD_STORE_MISMATCH', `${problems.join('; ')}.`);
  const logs = new Map<string, AuditLog>();
  const rows = new Map<string, ParticipantRows>();
  try {
    for (const [id, url] of urls) {
      const log = await openRecordStoreLog(id, url, settings.dataDir, now, ownerOnly);
      logs.set(id, log);
      assertSameLogKey(await log.latestTreeHead(), logKey, `record store '${id}' (${url === 'sqlite' ? 'sqlite' : describeUrl(url)})`, settings.dataDir);
      rows.set(id, url === 'sqlite' ? SqliteParticipantRows.open(recordStoreFile(settings.dataDir, id)) : await PostgresParticipantRows.open(url));
    }
  } catch (error) {
    for (const log of logs.values()) await log.close();
    for (const row of rows.values()) await row.close();
    throw error;
  }
  return { logs: new StoreLogs(logs, logKey), rows };
}

/** The audit log beside the store: DATA/audit.sqlite, or the store's PostgreSQL database, so brokers sharing a store share one log. */
async function openAuditLog(settings: ServeSettings): Promise<AuditLog> {
  if (settings.storeUrl === undefined) return SqliteAuditLog.open(ownerOnly(join(settings.dataDir, 'audit.sqlite')));
  return PostgresAuditLog.open(settings.storeUrl);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new GeobridgeError('UNREADABLE_FILE', `cannot read the ${what} '${path}'. Check the path.`);
  }
}

/**
 * Makes a database file readable by its owner only (mode 600), creating it
 * so if it is new: the databases hold who met whom, where. SQLite
 * gives the -wal and -shm files it creates the database file's mode; ones
 * left by an earlier run are narrowed too.
 */
function ownerOnly(path: string): string {
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  return path;
}

/** The admin token: GEOBRIDGE_ADMIN_TOKEN, else one generated once into DATA/admin-token (mode 600). */
function loadAdminToken(settings: ServeSettings): { adminToken: string; adminTokenFile: string | undefined } {
  if (settings.adminToken !== undefined) return { adminToken: settings.adminToken, adminTokenFile: undefined };
  const file = join(settings.dataDir, 'admin-token');
  if (!existsSync(file)) {
    writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return { adminToken: readFileSync(file, 'utf8').trim(), adminTokenFile: file };
}

/**
 * Bridge keys file: YAML or JSON map `datacenter: <base64url Ed25519 public
 * key or JWK>`, or `datacenter: { key: …, url: wss://… }` to bind the
 * signalling URL the bridge must announce.
 */
export async function loadBridgeIdentities(path: string | undefined, datacenters: ReadonlySet<string>): Promise<BridgeIdentities> {
  if (path === undefined) return { keys: new Map(), jwks: {}, urls: new Map() };
  const raw = parseBridgeKeys(path, readText(path, 'bridge keys file'));
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new GeobridgeError('INVALID_BRIDGE_KEYS', `${path} must map datacenter ids to bridge public keys, e.g. "us-east: 3q2-7w…".`);
  }
  const unknown = Object.keys(raw).filter((id) => !datacenters.has(id));
  if (unknown.length > 0) throw new GeobridgeError('INVALID_BRIDGE_KEYS', `${path} names datacenters the manifest does not define: ${unknown.join(', ')}.`);
  try {
    return await importBridgeIdentities(raw as Record<string, BridgeIdentityConfig>);
  } catch (error) {
    // The key's problem names its datacenter; the operator also needs the file.
    if (isGeobridgeError(error)) throw new GeobridgeError(error.code, `${path}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** The bridge keys file as YAML; a syntax error, a duplicate key or an alias bomb is INVALID_BRIDGE_KEYS at its line:col. */
function parseBridgeKeys(path: string, text: string): unknown {
  try {
    // yaml refuses an alias bomb (past its default alias budget) with an error like any other: caught below.
    // Its warnings (an unknown %YAML version) would reach the operator as a Node process warning with a stack hint: not ours to print.
    return parseYaml(text, { logLevel: 'error' });
  } catch (error) {
    const at = error instanceof YAMLParseError ? error.linePos?.[0] : undefined;
    const first = error instanceof YAMLParseError && error.code === 'RESOURCE_EXHAUSTION' ? 'it nests too deep' : ((error instanceof Error ? error.message : String(error)).split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? '');
    throw new GeobridgeError('INVALID_BRIDGE_KEYS', `${path}${at ? `:${String(at.line)}:${String(at.col)}` : ''}: ${first}; fix the YAML (a map of datacenter id to public key, e.g. "us-east: 3q2-7w…").`, { cause: error });
  }
}
