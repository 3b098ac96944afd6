/**
 * Everything the broker's routes share, built once at start-up and passed to
 * the app factory: configuration, ports (store, audit), keys, GeoIP, the
 * bridge registry, the manifest in force, the clock and the metrics.
 */
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import type { GeoIpResolver } from '../node/geoip.js';
import type { SeqGuard } from '../protocol/bridge-message.js';
import type { AuditLog, AuditRecord, AuditType } from './audit/audit-log.js';
import type { StoreLogs } from './audit/record-logs.js';
import type { LogKey, TreeHeadSigner } from './audit/tree-heads.js';
import type { Cluster } from './bus/cluster.js';
import type { BridgeControl } from './control.js';
import type { PolicyHolder } from './policy-holder.js';
import type { KeyRing } from './keys.js';
import type { BrokerMetrics } from './metrics.js';
import type { BridgeRegistry } from './registry.js';
import type { RejectionSummary } from './rejection-summary.js';
import type { StoreRequest } from '../core/select/store.js';
import type { Store } from './store/store.js';

/** Validated, frozen broker configuration (see config.ts). */
export interface BrokerConfig {
  /** The issuer put in tickets, e.g. http://127.0.0.1:8080. */
  readonly issuer: string;
  /** SHA-256 (hex) of the admin bearer token. */
  readonly adminTokenHash: string;
  /** Peers whose X-Forwarded-For is honoured (IPs or CIDRs). */
  readonly trustedProxies: readonly string[];
  /** Local demos: a request may name its country; datacenters without a bridge count as up. */
  readonly dev: boolean;
  /** Meetings cascade over several bridges (cascade.ts); false when absent. */
  readonly cascade?: boolean;
  /** Bridge public keys by datacenter, imported (attestation.ts), for src/protocol/bridge-message.ts. */
  readonly bridgeKeys: ReadonlyMap<string, CryptoKey>;
  /** Public JWKs of the bridge keys by datacenter, as published to clients (`GET /v1/bridges/keys`). */
  readonly bridgePublicJwks: Readonly<Record<string, JsonWebKey>>;
  /** Signalling URLs the operator bound to datacenters; a bridge may announce no other. */
  readonly bridgeUrls: ReadonlyMap<string, string>;
  readonly heartbeatTimeoutMs: number;
  readonly routeTicketSeconds: number;
  readonly joinTokenSeconds: number;
  /** How long a placed meeting may stay empty before its placement is released. */
  readonly placementReleaseMs: number;
  readonly rateLimits: RateLimits;
  /** Connections open at once from one address, trusted proxies exempt (connection-limit.ts). */
  readonly maxConnectionsPerAddress: number;
}

/** Per-address limits, each per minute (rate-limits.ts says what each one counts). */
export interface RateLimits {
  /** Requests to routes that take no credential (the page, static files, health, metrics, docs). */
  readonly requests: number;
  /** Invite previews and accepts, per route. */
  readonly invites: number;
  /** Requests that fail authentication or are malformed, and failed presence hellos. */
  readonly failures: number;
  /** Presence WebSocket connections. */
  readonly presence: number;
}

/** The broker's dependencies. */
export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly store: Store;
  /** The broker's own audit log: everything not about a participant, and everything when the manifest declares no record stores. */
  readonly audit: AuditLog;
  /** The transparency log's signing key (never the ticket key). */
  readonly logKey: LogKey;
  /** Signs the audit log's tree heads. */
  readonly treeHeads: TreeHeadSigner;
  /** The logs of the record stores the manifest declares (`stores:`), where records about participants go. */
  readonly storeLogs: StoreLogs;
  readonly keys: KeyRing;
  readonly geoip: GeoIpResolver;
  readonly registry: BridgeRegistry;
  /** The bridges' control channels: commands pushed to the data plane. */
  readonly control: BridgeControl;
  readonly policy: PolicyHolder;
  readonly metrics: BrokerMetrics;
  /** Last accepted sequence number per bridge (replay protection), shared by the brokers of a cluster. */
  readonly replayGuard: SeqGuard;
  /** Replay protection of presence hellos, numbered apart from the bridge's other messages. */
  readonly helloGuard: SeqGuard;
  /** The link to the other brokers, when brokers share a bus (`serve --bus`). */
  readonly cluster?: Cluster;
  /** Bridge messages that failed authentication, summarized into the audit log (closed with the app). */
  readonly rejections: RejectionSummary;
  /** The clock: every time the broker uses comes from here. */
  readonly now: () => Date;
  /** When this broker process started, on that clock (ISO): a member admitted before it is one whose MLS group this process never saw. */
  readonly startedAt: string;
  /** Milliseconds that never step back (bridge liveness must not revive a dead datacenter when the wall clock is adjusted). */
  readonly monotonicMs: () => number;
  /** Told of every audited event once it is durable (`geobridge up` prints bridges going down and up, and re-homes). */
  readonly observe?: AuditObserver;
}

/** What a broker's host is told of each audited event. */
export type AuditObserver = (type: AuditType, data: Readonly<Record<string, unknown>>) => void;

/** Whose record it is, for a record about a participant: it goes to their record store's log. */
export type RecordSubject = StoreRequest;

/** A durable record and the record store whose log holds it (undefined: the broker's own). */
export interface Recorded {
  readonly record: AuditRecord;
  readonly log: string | undefined;
}

/**
 * The error to answer a change with whose audit record failed, when taking
 * the change back failed too: the audit's code, its words, then `sequel`
 * (what stays in force unaudited, and how to mend it).
 */
export function unauditedAndKept(auditError: unknown, sequel: string): GeobridgeError {
  const code = isGeobridgeError(auditError) ? auditError.code : 'AUDIT_UNAVAILABLE';
  return new GeobridgeError(code, `${auditError instanceof Error ? auditError.message : String(auditError)}; ${sequel}`, { cause: auditError });
}

/**
 * Appends an audit record (durable when this resolves), counts it, and tells
 * the observer. A record about a participant (`subject`) goes to the log of
 * the record store inside their fences when the manifest declares stores;
 * throws rather than write it anywhere else.
 */
export async function recordAudit(ctx: BrokerContext, type: AuditType, data: Readonly<Record<string, unknown>>, subject?: RecordSubject): Promise<Recorded> {
  const log = subject === undefined ? undefined : ctx.storeLogs.forSubject(ctx.policy.current.manifest, subject);
  const record = await (log?.audit ?? ctx.audit).append(type, data, ctx.now().toISOString());
  ctx.metrics.auditRecords.inc({ type });
  ctx.observe?.(type, data);
  return { record, log: log?.name };
}
