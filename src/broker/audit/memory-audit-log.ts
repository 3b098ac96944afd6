/**
 * The in-memory audit log: the reference adapter for tests and demos. It
 * keeps the chain for the life of the process only. Also home of
 * `nextRecord`, which every adapter uses to build the record it stores, so
 * they all hash exactly what they give back.
 */
import { GeobridgeError } from '../../core/errors.js';
import { MerkleTree, type TreeHead } from '../../translog/index.js';
import { canonicalJson, canonicalRecordJson, GENESIS_HASH, hashCanonicalJson, leafEntry, type AuditLog, type AuditRecord, type AuditType } from './audit-log.js';
import { normalizeAuditTime } from './report.js';
import type { SignedTreeHead } from './tree-heads.js';

/** An audit record's input, validated and normalized, before it has a place in the chain. */
export interface PreparedRecord {
  readonly type: AuditType;
  /** Canonical UTC time. */
  readonly at: string;
  /** The data as its canonical JSON reads back, deeply frozen (parsed when first read). */
  readonly data: Readonly<Record<string, unknown>>;
  /** The canonical JSON of the data: the text that is hashed and stored. */
  readonly dataJson: string;
}

/**
 * Builds the record that follows `last` (undefined: the first record).
 * `data` is stored as its canonical JSON reads back (undefined fields dropped,
 * NaN → null, Dates → {}) and `at` in canonical UTC form, so the record
 * an adapter returns, stores and reads back is the one that was hashed, and
 * time ranges can compare `at` as strings. Throws INVALID_TIME.
 */
export function nextRecord(last: Pick<AuditRecord, 'seq' | 'hash'> | undefined, type: AuditType, data: Readonly<Record<string, unknown>>, at: string): AuditRecord {
  return sealRecord(prepareRecord(type, data, at), last);
}

/** Validates and normalizes a record's input (the part of `nextRecord` that does not depend on the chain). Throws INVALID_TIME. */
export function prepareRecord(type: AuditType, data: Readonly<Record<string, unknown>>, at: string): PreparedRecord {
  // Canonicalized once: canonical JSON parsed back canonicalizes to the same text, so this text is what the record hashes.
  const dataJson = canonicalJson(data);
  // canonicalJson writes every object, and nothing else, as `{…}` (it never calls toJSON).
  if (!dataJson.startsWith('{')) throw new TypeError('audit data must be a JSON object');
  return new Prepared(type, normalizeAuditTime(at, 'audit record time'), dataJson);
}

/**
 * A PreparedRecord whose data is parsed back only when someone reads it: most
 * appends (a route decision) only wait for durability. A class, not an
 * object literal with a getter, which V8 builds several times slower.
 */
class Prepared implements PreparedRecord {
  readonly type: AuditType;
  readonly at: string;
  readonly dataJson: string;
  #data: Readonly<Record<string, unknown>> | undefined;

  constructor(type: AuditType, at: string, dataJson: string) {
    this.type = type;
    this.at = at;
    this.dataJson = dataJson;
  }

  get data(): Readonly<Record<string, unknown>> {
    return (this.#data ??= deepFreeze(JSON.parse(this.dataJson) as Record<string, unknown>));
  }
}

/** The record that puts `prepared` after `last` in the chain. */
export function sealRecord(prepared: PreparedRecord, last: Pick<AuditRecord, 'seq' | 'hash'> | undefined): AuditRecord {
  const fields = { seq: (last?.seq ?? 0) + 1, at: prepared.at, type: prepared.type, prevHash: last?.hash ?? GENESIS_HASH };
  return placeRecord(prepared, { ...fields, hash: hashCanonicalJson(canonicalRecordJson(fields, prepared.dataJson)) });
}

/** The frozen record of `prepared` at its place in the chain; its data still parsed only when read. */
export function placeRecord(prepared: PreparedRecord, place: Pick<AuditRecord, 'seq' | 'prevHash' | 'hash'>): AuditRecord {
  return Object.freeze({
    seq: place.seq,
    at: prepared.at,
    type: prepared.type,
    get data() {
      return prepared.data;
    },
    prevHash: place.prevHash,
    hash: place.hash,
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Runs `fn` and turns what it returns or throws into a promise. */
export function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => {
    resolve(fn());
  });
}

/** An AuditLog held in memory. Records are frozen, so callers share them safely. */
export class MemoryAuditLog implements AuditLog {
  readonly #records: AuditRecord[] = [];
  readonly #tree = new MerkleTree();
  readonly #heads: SignedTreeHead[] = [];
  #closed = false;

  /** Appends a record. There is no await between reading the last record and pushing the next, so concurrent appends cannot interleave: the chain stays a line. */
  append(type: AuditType, data: Readonly<Record<string, unknown>>, at: string): Promise<AuditRecord> {
    return settle(() => {
      this.#assertOpen();
      const record = nextRecord(this.#records.at(-1), type, data, at);
      this.#tree.append(leafEntry(record.hash));
      this.#records.push(record);
      return record;
    });
  }

  treeHead(size?: number): Promise<TreeHead> {
    return settle(() => {
      this.#assertOpen();
      return this.#tree.head(size);
    });
  }

  inclusionProof(seq: number, size: number): Promise<Uint8Array[]> {
    return settle(() => {
      this.#assertOpen();
      return this.#tree.inclusionProof(seq - 1, size);
    });
  }

  consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    return settle(() => {
      this.#assertOpen();
      return this.#tree.consistencyProof(first, second);
    });
  }

  saveTreeHead(head: SignedTreeHead): Promise<void> {
    return settle(() => {
      this.#assertOpen();
      this.#heads.push(head);
    });
  }

  treeHeads(): Promise<SignedTreeHead[]> {
    return settle(() => {
      this.#assertOpen();
      return [...this.#heads];
    });
  }

  latestTreeHead(): Promise<SignedTreeHead | undefined> {
    return settle(() => {
      this.#assertOpen();
      return this.#heads.at(-1);
    });
  }

  /** Records with from ≤ seq ≤ to, in order. */
  read(range: { from?: number; to?: number } = {}): Promise<AuditRecord[]> {
    return settle(() => {
      this.#assertOpen();
      const from = range.from ?? -Infinity;
      const to = range.to ?? Infinity;
      return this.#records.filter((r) => r.seq >= from && r.seq <= to);
    });
  }

  /** Records whose time is within [from, to), in seq order. */
  readTimeRange(from: string, to: string): Promise<AuditRecord[]> {
    return settle(() => {
      this.#assertOpen();
      const start = normalizeAuditTime(from, 'from');
      const end = normalizeAuditTime(to, 'to');
      return this.#records.filter((r) => r.at >= start && r.at < end);
    });
  }

  /** Closes the log; later calls reject with AUDIT_UNAVAILABLE. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #assertOpen(): void {
    if (this.#closed) throw new GeobridgeError('AUDIT_UNAVAILABLE', 'the in-memory audit log is closed.');
  }
}
