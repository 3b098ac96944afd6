/**
 * Signed tree heads (STH) of the audit log's Merkle tree: size, root and
 * time, signed with the log's own Ed25519 key (log-key.ts), never the key
 * that signs tickets. An auditor who keeps one can later ask for a
 * consistency proof to any newer head, and catch a log that was rewritten or
 * cut since (RFC 9162 §2.1.4, §4.10). `TreeHeadSigner` signs one at least
 * once a second while records arrive.
 */
import { hash, sign, verify, type KeyObject } from 'node:crypto';
import { ID } from '../../core/yaml/reader.js';
import { equalBytes, hashEmptyTree, isHash, type TreeHead } from '../../translog/index.js';

/** A signed tree head, as served at /v1/log/sth and kept in the log. */
export interface SignedTreeHead {
  /** Leaves (records) in the tree. */
  readonly size: number;
  /** The tree's root hash (MTH), base64. */
  readonly rootHash: string;
  /** When it was signed, milliseconds since the Unix epoch. */
  readonly timestamp: number;
  /** The log key's id (RFC 7638 thumbprint of its public JWK). */
  readonly keyId: string;
  /** Ed25519 over `treeHeadMessage(size, rootHash, timestamp, log)`, base64. */
  readonly signature: string;
  /** The record store whose log this is (manifest `stores:`); absent for the broker's own log. */
  readonly log?: string;
}

/** The fields a head's signature covers, without whatever else an answer or a file held beside them. */
export function signedTreeHead(head: SignedTreeHead): SignedTreeHead {
  const { size, rootHash, timestamp, keyId, signature, log } = head;
  return { size, rootHash, timestamp, keyId, signature, ...(log === undefined ? {} : { log }) };
}

/** The log's signing key: private for the broker, public for everyone. */
export interface LogKey {
  readonly keyId: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/**
 * Separate the log's two kinds of signature from each other and from any
 * other use of an Ed25519 key; a record store's log (one per region, all
 * under the one log key) names itself in the domain, so a head or promise of
 * one log never verifies as another's.
 */
function domain(kind: 'tree head' | 'inclusion promise', log: string | undefined): Uint8Array {
  // v2 of the promise binds the route it decided; a v1 promise (no route) never verifies as one.
  return new TextEncoder().encode(`geobridge ${kind} ${kind === 'tree head' ? 'v1' : 'v2'}${log === undefined ? '' : ` store=${log}`}\0`);
}

/**
 * What the log signs, one fixed layout for both kinds: the domain string,
 * then the timestamp and a count as 64-bit big-endian integers, then a
 * 32-byte hash. No parser is involved in what gets signed.
 */
function signedLayout(domain: Uint8Array, timestamp: number, count: number, hash: Uint8Array): Uint8Array {
  const out = new Uint8Array(domain.length + 16 + hash.length);
  out.set(domain, 0);
  const view = new DataView(out.buffer);
  view.setBigUint64(domain.length, BigInt(timestamp));
  view.setBigUint64(domain.length + 8, BigInt(count));
  out.set(hash, domain.length + 16);
  return out;
}

/** The bytes a tree head's signature covers: its domain (naming `log`, a record store's), timestamp, size and root. */
export function treeHeadMessage(size: number, rootHash: Uint8Array, timestamp: number, log?: string): Uint8Array {
  return signedLayout(domain('tree head', log), timestamp, size, rootHash);
}

/** Signs `head` at `timestamp` (ms), as the head of record store `log`'s log when given. */
export function signTreeHead(key: LogKey, head: TreeHead, timestamp: number, log?: string): SignedTreeHead {
  const signature = sign(null, treeHeadMessage(head.size, head.rootHash, timestamp, log), key.privateKey);
  return { size: head.size, rootHash: Buffer.from(head.rootHash).toString('base64'), timestamp, keyId: key.keyId, signature: signature.toString('base64'), ...(log === undefined ? {} : { log }) };
}

/** The outcome of checking a signed tree head. */
export type TreeHeadCheck = { readonly ok: true; readonly head: TreeHead } | { readonly ok: false; readonly reason: string };

/** Checks a signed tree head's form and its signature under `publicKey` (whose id is `keyId`). */
export function verifyTreeHead(sth: SignedTreeHead, publicKey: KeyObject, keyId: string): TreeHeadCheck {
  if (!Number.isSafeInteger(sth.size) || sth.size < 0) return { ok: false, reason: `size ${String(sth.size)} is not a count of leaves` };
  if (!Number.isSafeInteger(sth.timestamp) || sth.timestamp < 0) return { ok: false, reason: `timestamp ${String(sth.timestamp)} is not milliseconds since 1970` };
  const rootHash = decodeBase64(sth.rootHash);
  if (!isHash(rootHash)) return { ok: false, reason: 'rootHash is not 32 bytes of base64' };
  if (sth.size === 0 && !equalBytes(rootHash, hashEmptyTree())) return { ok: false, reason: 'a tree of 0 leaves whose root is not SHA-256 of the empty string' };
  if (sth.keyId !== keyId) return { ok: false, reason: `signed with key '${sth.keyId}', not the log key '${keyId}'` };
  if (sth.log !== undefined && !isLogName(sth.log)) return { ok: false, reason: 'log is not the id of a record store' };
  const signature = decodeBase64(sth.signature);
  if (signature === undefined || !verify(null, treeHeadMessage(sth.size, rootHash, sth.timestamp, sth.log), publicKey, signature)) return { ok: false, reason: 'the signature does not verify under the log key' };
  return { ok: true, head: { size: sth.size, rootHash } };
}

/** A record store's id as the manifest spells one (what a log may be named in a signed domain). */
function isLogName(log: unknown): boolean {
  return typeof log === 'string' && ID.test(log);
}

/** Strict base64 (what Buffer writes), or undefined. */
function decodeBase64(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Uint8Array.from(Buffer.from(text, 'base64'));
}

/**
 * What a route decided, as a receipt tells it (read from untrusted JSON):
 * the decision, the manifest it was made under, the participant's country
 * and the candidates in order, with their jurisdictions.
 */
export interface DecidedRoute {
  readonly decisionId: unknown;
  readonly manifestSha256: unknown;
  readonly country: unknown;
  readonly candidates: unknown;
}

/** A route's candidates as [datacenter, jurisdiction] pairs, read from untrusted JSON; undefined when it has no list. */
export function candidatePairs(candidates: unknown): [unknown, unknown][] | undefined {
  return Array.isArray(candidates) ? (candidates as unknown[]).map((c) => [(c as { datacenter?: unknown } | null)?.datacenter, (c as { jurisdiction?: unknown } | null)?.jurisdiction]) : undefined;
}

/**
 * SHA-256 of what a route decided, in one fixed JSON layout (strings and
 * arrays only, which JSON.stringify writes one way): what an inclusion
 * promise binds, so a promise for one decision never vouches for another.
 */
export function routeDigest(route: DecidedRoute): Uint8Array {
  // JSON.stringify writes a missing value inside an array as null.
  const layout = JSON.stringify(['geobridge route v1', route.decisionId, route.manifestSha256, route.country, candidatePairs(route.candidates) ?? null]);
  return new Uint8Array(hash('sha256', layout, 'buffer'));
}

/**
 * A signed promise that record `index + 1` (leaf `index`), with chain hash
 * `recordHash`, is in the log, and in a signed tree head by `timestamp` plus
 * one interval: what a route answer carries, as a CT log's SCT does, because
 * the head that covers the record is signed after the answer leaves. The
 * signature also covers the route the record decided (`routeDigest`, which
 * a verifier recomputes from the answer): the log vouches that this
 * decision, not merely some record, is at that index.
 */
export interface InclusionPromise {
  /** Leaf index: the record's seq − 1. */
  readonly index: number;
  /** The record's chain hash, hex (the leaf's entry). */
  readonly recordHash: string;
  /** When the log made the promise, ms since 1970. */
  readonly timestamp: number;
  readonly keyId: string;
  /** Ed25519 over `inclusionPromiseMessage(index, recordHash, timestamp, routeDigest(route), log)`, base64. */
  readonly signature: string;
  /** The record store whose log holds the record; absent for the broker's own log. */
  readonly log?: string;
}

/** The bytes a promise's signature covers: its domain (naming `log`, a record store's), timestamp, leaf index, record hash and the route's digest. */
export function inclusionPromiseMessage(index: number, recordHash: Uint8Array, timestamp: number, route: Uint8Array, log?: string): Uint8Array {
  const head = signedLayout(domain('inclusion promise', log), timestamp, index, recordHash);
  const out = new Uint8Array(head.length + route.length);
  out.set(head, 0);
  out.set(route, head.length);
  return out;
}

/** Promises that the record with `recordHash` (hex), deciding `route`, is leaf `index` of the broker's log, or of record store `log`'s. */
export function signInclusionPromise(key: LogKey, index: number, recordHash: string, route: DecidedRoute, timestamp: number, log?: string): InclusionPromise {
  const signature = sign(null, inclusionPromiseMessage(index, Buffer.from(recordHash, 'hex'), timestamp, routeDigest(route), log), key.privateKey);
  return { index, recordHash, timestamp, keyId: key.keyId, signature: signature.toString('base64'), ...(log === undefined ? {} : { log }) };
}

/** Why `promise` is not the log's promise, under `publicKey`, of a record deciding `route`; undefined when it is. */
export function checkInclusionPromise(promise: InclusionPromise, route: DecidedRoute, publicKey: KeyObject, keyId: string): string | undefined {
  if (!Number.isSafeInteger(promise.index) || promise.index < 0) return `index ${String(promise.index)} is not a leaf index`;
  if (!Number.isSafeInteger(promise.timestamp) || promise.timestamp < 0) return `timestamp ${String(promise.timestamp)} is not milliseconds since 1970`;
  if (typeof promise.recordHash !== 'string' || !/^[0-9a-f]{64}$/.test(promise.recordHash)) return 'recordHash is not 64 hex digits';
  if (promise.keyId !== keyId) return `signed with key '${promise.keyId}', not the log key '${keyId}'`;
  if (promise.log !== undefined && !isLogName(promise.log)) return 'log is not the id of a record store';
  const signature = decodeBase64(promise.signature);
  if (signature === undefined || !verify(null, inclusionPromiseMessage(promise.index, Buffer.from(promise.recordHash, 'hex'), promise.timestamp, routeDigest(route), promise.log), publicKey, signature)) {
    return 'the signature does not verify under the log key for the decision, manifest, country and candidates the receipt names';
  }
  return undefined;
}

/** How often a new head is signed while records arrive. */
export const TREE_HEAD_INTERVAL_MS = 1000;

/**
 * Signs and keeps a tree head whenever the log has grown, checked every
 * `intervalMs`; `latest()` serves the newest (signing the first on demand).
 */
/** What the signer needs of the audit log (an AuditLog is one). */
export interface TreeHeadStore {
  treeHead(): Promise<TreeHead>;
  saveTreeHead(head: SignedTreeHead): Promise<void>;
}

export class TreeHeadSigner {
  readonly #log: TreeHeadStore;
  readonly #key: LogKey;
  readonly #now: () => number;
  readonly #name: string | undefined;
  #latest: SignedTreeHead | undefined;
  #signing: Promise<SignedTreeHead> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `name`: the record store whose log this is (absent for the broker's own log). */
  constructor(log: TreeHeadStore, key: LogKey, now: () => number = Date.now, name?: string) {
    this.#log = log;
    this.#key = key;
    this.#now = now;
    this.#name = name;
  }

  /** Signs every `intervalMs` when the log grew. Failures are reported to `onError` and retried at the next tick. */
  start(onError: (error: unknown) => void, intervalMs = TREE_HEAD_INTERVAL_MS): void {
    this.#timer ??= setInterval(() => {
      this.refresh().catch(onError);
    }, intervalMs);
    this.#timer.unref();
  }

  /** The newest signed head: one covering every record durable when it was signed, at most an interval old. */
  async latest(): Promise<SignedTreeHead> {
    return this.#latest ?? (await this.refresh());
  }

  /** Signs and keeps a head of the log as it is now, unless the newest already has its size. One at a time. */
  refresh(): Promise<SignedTreeHead> {
    this.#signing ??= (async () => {
      try {
        const head = await this.#log.treeHead();
        if (this.#latest?.size === head.size) return this.#latest;
        const sth = signTreeHead(this.#key, head, this.#now(), this.#name);
        await this.#log.saveTreeHead(sth);
        this.#latest = sth;
        return sth;
      } finally {
        this.#signing = undefined;
      }
    })();
    return this.#signing;
  }

  /** Stops the timer and signs a last head, so that a clean stop leaves every record under one. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.refresh();
  }
}
