/**
 * The SQLite audit log, the embedded default. One row per record, `data`
 * kept as the canonical JSON text that was hashed; the Merkle tree's nodes
 * (sqlite-node-store.ts) and the signed tree heads in two more tables. Appends are
 * committed in batches by a writer thread (audit-writer.ts; an in-memory
 * database commits on the caller's thread), each batch an IMMEDIATE
 * transaction that reads the last hash and inserts the next records while
 * holding SQLite's write lock, so any number of connections and processes
 * appending to one file still form a single chain. Records are validated and
 * canonicalized on the caller's thread, so bad input fails alone.
 */
import Database from 'better-sqlite3';
import { GeobridgeError } from '../../core/errors.js';
import { MemoryNodeStore, MerkleTree, type TreeHead } from '../../translog/index.js';
import { leafEntry, recordJsonTemplate, storedNonCanonically, type AuditLog, type AuditRecord, type AuditType } from './audit-log.js';
import { InlineWriter, ThreadWriter, type AuditWriter, type HeadToWrite } from './audit-writer.js';
import { placeRecord, prepareRecord, settle, type PreparedRecord } from './memory-audit-log.js';
import { normalizeAuditTime } from './report.js';
import { nodeTable, SqliteNodeStore } from './sqlite-node-store.js';
import { FIRST_STORED_LEVEL } from './stored-levels.js';
import type { SignedTreeHead } from './tree-heads.js';

/**
 * Bumped on every incompatible schema change; a newer file is refused rather
 * than misread. 2: the Merkle tree and its signed heads (a version 1 file
 * gets its tree built from its records when a broker next opens it). 3: no
 * stored nodes below FIRST_STORED_LEVEL (a version 2 file's node table is
 * made anew without them, and with the CHECK that refuses them).
 */
export const SCHEMA_VERSION = 3;

/** How long an append waits for another writer's lock before giving up (SQLite busy timeout). */
const BUSY_TIMEOUT_MS = 10_000;

// STRICT keeps column types honest (an `at` edited to a number is an error,
// not a silently different value); json_valid keeps SQL edits from storing
// text that would not parse back.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL CHECK (json_valid(data)),
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
${nodeTable('translog_node')}
CREATE TABLE IF NOT EXISTS translog_head (
  id INTEGER PRIMARY KEY,
  size INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  root_hash TEXT NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL
) STRICT;
`;

interface Row {
  readonly seq: number;
  readonly at: string;
  readonly type: string;
  readonly data: string;
  readonly prev_hash: string;
  readonly hash: string;
}

const COLUMNS = 'seq, at, type, data, prev_hash, hash';
const HEAD_COLUMNS = 'size, timestamp, root_hash, key_id, signature';

/** Options of `SqliteAuditLog.open`. */
export interface SqliteAuditLogOptions {
  /** Create the file and table when missing (default). False for readers such as `geobridge audit verify`: a missing log is an error, not an empty one. */
  readonly create?: boolean;
}

/** An append waiting for the next group commit. */
interface PendingAppend {
  readonly prepared: PreparedRecord;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

/** A tree head waiting for the next group commit. */
interface PendingHead {
  readonly head: HeadToWrite;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface HeadRow {
  readonly size: number;
  readonly timestamp: number;
  readonly root_hash: string;
  readonly key_id: string;
  readonly signature: string;
}

/** An AuditLog in a SQLite file (WAL, synchronous=FULL); appends are committed by a writer thread (audit-writer.ts), reads on this thread. */
export class SqliteAuditLog implements AuditLog {
  readonly #db: Database.Database;
  readonly #path: string;
  #writer: AuditWriter | undefined;
  #pending: PendingAppend[] = [];
  #pendingHeads: PendingHead[] = [];
  /** Reads the tree and its heads; undefined in a version 1 file opened read-only, which has neither. */
  readonly #tree: { readonly merkle: MerkleTree; readonly heads: Database.Statement<[], HeadRow>; readonly latest: Database.Statement<[], HeadRow> } | undefined;
  /** The batch being committed, if any; the next one waits for it. */
  #committing: Promise<void> | undefined;
  #flushScheduled = false;
  #closing: Promise<void> | undefined;
  readonly #read: Database.Statement<[number, number], Row>;
  readonly #readTime: Database.Statement<[string, string], Row>;
  #closed = false;

  private constructor(db: Database.Database, path: string, hasTree: boolean) {
    this.#db = db;
    this.#path = path;
    this.#tree = hasTree
      ? {
          merkle: new MerkleTree(new SqliteNodeStore(db)),
          heads: db.prepare(`SELECT ${HEAD_COLUMNS} FROM translog_head ORDER BY id`),
          // The rowid's index finds the last one: no scan of the others.
          latest: db.prepare(`SELECT ${HEAD_COLUMNS} FROM translog_head ORDER BY id DESC LIMIT 1`),
        }
      : undefined;
    this.#read = db.prepare(`SELECT ${COLUMNS} FROM audit_log WHERE seq >= ? AND seq <= ? ORDER BY seq`);
    this.#readTime = db.prepare(`SELECT ${COLUMNS} FROM audit_log WHERE at >= ? AND at < ? ORDER BY seq`);
  }

  /** Opens (by default creating) the audit log at `path`. Throws AUDIT_UNAVAILABLE naming the path. */
  static open(path: string, options: SqliteAuditLogOptions = {}): SqliteAuditLog {
    const create = options.create ?? true;
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { fileMustExist: !create, timeout: BUSY_TIMEOUT_MS });
      db.pragma('journal_mode = WAL');
      // FULL: in WAL mode the log is fsynced at every commit, so a record is
      // durable once append resolves (NORMAL could lose the last ones on power loss).
      db.pragma('synchronous = FULL');
      // macOS only: fsync does not flush the drive's cache; F_FULLFSYNC does.
      db.pragma('fullfsync = ON');
      const version = (): number => Number(db?.pragma('user_version', { simple: true }));
      const refuseNewer = (found: number): void => {
        if (found > SCHEMA_VERSION) throw new GeobridgeError('AUDIT_UNAVAILABLE', `audit log '${path}' has schema version ${found}, newer than this geobridge understands (${SCHEMA_VERSION}); upgrade geobridge.`);
      };
      refuseNewer(version());
      const hasTable = (name: string): boolean => db?.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
      if (create) {
        const handle = db;
        handle.transaction(() => {
          // Read again under the write lock: another process may have upgraded the file meanwhile.
          const current = version();
          refuseNewer(current);
          if (current === SCHEMA_VERSION) return;
          if (current === 2) keepStoredLevels(handle);
          handle.exec(SCHEMA);
          if (current < 2) buildTree(handle);
          handle.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      } else if (!hasTable('audit_log')) {
        throw new GeobridgeError('AUDIT_UNAVAILABLE', `'${path}' is a SQLite database but not a geobridge audit log (it has no audit_log table).`);
      }
      return new SqliteAuditLog(db, path, hasTable('translog_node'));
    } catch (error) {
      db?.close();
      throw toAuditError(error, path, 'open');
    }
  }

  /**
   * Appends a record; it is on disk (fsynced) when the promise resolves.
   * Appends made in the same turn, or while a commit is under way, share the
   * next commit. A record that cannot be built (bad time) fails alone.
   */
  append(type: AuditType, data: Readonly<Record<string, unknown>>, at: string): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      if (this.#closing !== undefined) throw this.#closedError('append to');
      this.#pending.push({ prepared: prepareRecord(type, data, at), resolve, reject });
      this.#scheduleFlush();
    });
  }

  /** Keeps a signed tree head, committed with the next batch of records (or alone). */
  saveTreeHead(head: SignedTreeHead): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#closing !== undefined) throw this.#closedError('append to');
      const { size, rootHash, timestamp, keyId, signature } = head;
      this.#pendingHeads.push({ head: { size, rootHash, timestamp, keyId, signature }, resolve, reject });
      this.#scheduleFlush();
    });
  }

  treeHead(size?: number): Promise<TreeHead> {
    return this.#run('read', () => this.#readTree().head(size));
  }

  inclusionProof(seq: number, size: number): Promise<Uint8Array[]> {
    return this.#run('read', () => this.#readTree().inclusionProof(seq - 1, size));
  }

  consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    return this.#run('read', () => this.#readTree().consistencyProof(first, second));
  }

  treeHeads(): Promise<SignedTreeHead[]> {
    return this.#run('read', () => (this.#tree?.heads.all() ?? []).map(toHead));
  }

  latestTreeHead(): Promise<SignedTreeHead | undefined> {
    return this.#run('read', () => {
      const row = this.#tree?.latest.get();
      return row === undefined ? undefined : toHead(row);
    });
  }

  #readTree(): MerkleTree {
    if (this.#tree === undefined) throw new GeobridgeError('AUDIT_UNAVAILABLE', `audit log '${this.#path}' was written by a geobridge before the transparency log and has no Merkle tree yet; start the broker on it once to build it.`);
    return this.#tree.merkle;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#committing !== undefined) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Sends the pending appends to the writer as one batch; when it is durable, the next batch goes. */
  #flush(): void {
    if (this.#committing !== undefined || (this.#pending.length === 0 && this.#pendingHeads.length === 0)) return;
    const batch = this.#pending;
    const heads = this.#pendingHeads;
    this.#pending = [];
    this.#pendingHeads = [];
    // An in-memory database is private to its connection, and never waits for a disk.
    this.#writer ??= this.#db.memory ? new InlineWriter(this.#db) : new ThreadWriter(this.#path, BUSY_TIMEOUT_MS);
    const rows = batch.map(({ prepared }) => ({ at: prepared.at, type: prepared.type, dataJson: prepared.dataJson, ...recordJsonTemplate(prepared.at, prepared.type, prepared.dataJson) }));
    this.#committing = this.#writer.write(rows, heads.map((h) => h.head)).then(
      (written) => {
        batch.forEach((item, i) => {
          const row = written[i];
          if (row === undefined) item.reject(new Error('the audit writer answered fewer rows than it was sent'));
          else item.resolve(placeRecord(item.prepared, row));
        });
        for (const item of heads) item.resolve();
      },
      (error: unknown) => {
        // A failed commit lands nothing of the batch: the chain never forks.
        const failure = toAuditError(error, this.#path, 'append to');
        for (const item of [...batch, ...heads]) item.reject(failure);
      },
    );
    void this.#committing.then(() => {
      this.#committing = undefined;
      this.#flush();
    });
  }

  /** Records with from ≤ seq ≤ to (all by default), in order. */
  read(range: { from?: number; to?: number } = {}): Promise<AuditRecord[]> {
    return this.#run('read', () => this.#read.all(range.from ?? Number.MIN_SAFE_INTEGER, range.to ?? Number.MAX_SAFE_INTEGER).map((row) => this.#toRecord(row)));
  }

  /** Records whose time is within [from, to), in seq order (the index on `at` finds them). */
  readTimeRange(from: string, to: string): Promise<AuditRecord[]> {
    return this.#run('read', () => {
      const start = normalizeAuditTime(from, 'from');
      const end = normalizeAuditTime(to, 'to');
      return this.#readTime.all(start, end).map((row) => this.#toRecord(row));
    });
  }

  /** Records of one type, in seq order: what a question about one kind of event needs, without parsing the rest. */
  readType(type: AuditType): Promise<AuditRecord[]> {
    return this.#run('read', () => this.#db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM audit_log WHERE type = ? ORDER BY seq`).all(type).map((row) => this.#toRecord(row)));
  }

  /** Closes the file; later calls reject with AUDIT_UNAVAILABLE. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Appends already accepted are committed before the file closes.
      this.#flush();
      while (this.#committing !== undefined) await this.#committing;
      await this.#writer?.close();
      this.#closed = true;
      this.#db.close();
    })();
    return this.#closing;
  }

  #closedError(action: string): GeobridgeError {
    return new GeobridgeError('AUDIT_UNAVAILABLE', `cannot ${action} audit log '${this.#path}': it is closed.`);
  }

  #run<T>(action: string, fn: () => T): Promise<T> {
    return settle(() => {
      if (this.#closed) throw this.#closedError(action);
      try {
        return fn();
      } catch (error) {
        throw toAuditError(error, this.#path, action);
      }
    });
  }

  #toRecord(row: Row): AuditRecord {
    let data: unknown;
    try {
      data = JSON.parse(row.data);
    } catch {
      throw new GeobridgeError('AUDIT_CORRUPT', `record ${row.seq} of audit log '${this.#path}' holds data that is not JSON: the file was altered outside geobridge.`);
    }
    // Kept as read, even when not an object: verifyChain then reports the record as altered.
    const record = { seq: row.seq, at: row.at, type: row.type as AuditType, data: data as Record<string, unknown>, prevHash: row.prev_hash, hash: row.hash };
    if (storedNonCanonically(record, row.data)) throw new GeobridgeError('AUDIT_CORRUPT', `record ${row.seq} of audit log '${this.#path}' holds data that reads as the record hashed but is not the canonical JSON it was hashed as, so other tools may read it otherwise: the file was altered outside geobridge.`);
    return record;
  }
}

function toHead(r: HeadRow): SignedTreeHead {
  return { size: r.size, rootHash: r.root_hash, timestamp: r.timestamp, keyId: r.key_id, signature: r.signature };
}

/** A version 2 file's node table made anew with only the levels now stored, and the CHECK that refuses the others. */
function keepStoredLevels(db: Database.Database): void {
  db.exec(nodeTable('translog_node_3'));
  db.prepare('INSERT INTO translog_node_3 (level, idx, hash) SELECT level, idx, hash FROM translog_node WHERE level >= ?').run(FIRST_STORED_LEVEL);
  db.exec('DROP TABLE translog_node; ALTER TABLE translog_node_3 RENAME TO translog_node;');
}

/** Stores the nodes of a version 1 file's tree (built in memory from all its records), inside the opening transaction. */
function buildTree(db: Database.Database): void {
  const memory = new MemoryNodeStore();
  const tree = new MerkleTree(memory);
  // All first: the connection cannot write while a statement iterates.
  for (const hash of db.prepare<[], string>('SELECT hash FROM audit_log ORDER BY seq').pluck().all()) tree.append(leafEntry(hash));
  const store = new SqliteNodeStore(db);
  for (let level = FIRST_STORED_LEVEL; 2 ** level <= tree.size; level++) {
    for (let index = 0; (index + 1) * 2 ** level <= tree.size; index++) {
      const hash = memory.get(level, index);
      if (hash !== undefined) store.put(level, index, hash);
    }
  }
}

/** SQLite failures as GeobridgeErrors naming the file; programming errors pass through. */
function toAuditError(error: unknown, path: string, action: string): unknown {
  if (!(error instanceof Database.SqliteError)) return error;
  if (error.code.startsWith('SQLITE_CORRUPT')) {
    return new GeobridgeError('AUDIT_CORRUPT', `audit log '${path}' is damaged (${error.message}); restore it from a backup and keep this copy as evidence.`, { cause: error });
  }
  const hint = error.code === 'SQLITE_CANTOPEN' ? ' Check that the file exists and its directory is writable.' : error.code === 'SQLITE_NOTADB' ? ' It is not a SQLite database.' : error.code.startsWith('SQLITE_BUSY') ? ' Another process held the write lock too long.' : '';
  return new GeobridgeError('AUDIT_UNAVAILABLE', `cannot ${action} audit log '${path}': ${error.message} (${error.code}).${hint}`, { cause: error });
}
