/**
 * The PostgreSQL audit log, for brokers that share one database. The tables
 * of sqlite-audit-log.ts in one schema (`public` by default), named with the
 * schema rather than through search_path, so the log can share a schema, and
 * even a pool's URL, with the PostgreSQL store. Appends are group-committed as
 * in the SQLite adapter: the appends that queue up while a commit is under
 * way go in the next one. A commit is one transaction that takes an
 * EXCLUSIVE lock on audit_log (readers are not blocked), then reads the last
 * record and the tree's frontier, and inserts the records, their Merkle
 * nodes and pending signed heads; or, while the log knows that end from its
 * own last commit, one statement that inserts them after it, which fails
 * whole on the records' primary key if another broker appended meanwhile.
 * So any number of brokers appending to one schema form one gap-free chain.
 * The node table keeps only the upper levels of the tree; the lower ones
 * are computed from the records' hashes (postgres-node-store.ts). Data is
 * kept in a `json` column, which stores the text verbatim (jsonb would
 * re-encode it, and refuses \u0000).
 */
import pg from 'pg';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import type { TreeHead } from '../../translog/index.js';
import { ENV_NAMES } from '../config.js';
import { describeUrl, isConnectionFailure, isIntegrityViolation, LONG_QUERY_TIMEOUT_MS, migrate, openPool, queryOn, transaction, withTimeout, type Migrations, type Query } from '../pg.js';
import { canonicalRecordJson, GENESIS_HASH, hashCanonicalJson, leafEntry, storedNonCanonically, type AuditLog, type AuditRecord, type AuditType } from './audit-log.js';
import { placeRecord, prepareRecord, type PreparedRecord } from './memory-audit-log.js';
import { FIRST_STORED_LEVEL } from './stored-levels.js';
import { frontier, insertNodes, nodeTable, readNodes, treeOnFrontier, type AppendTree, type NodeQuery, type TreeTables } from './postgres-node-store.js';
import { normalizeAuditTime } from './report.js';
import type { SignedTreeHead } from './tree-heads.js';

/** How long to wait for a connection (a new one, or a free one of the pool), and for a statement's answer, before AUDIT_UNAVAILABLE. */
export { CONNECT_TIMEOUT_MS, QUERY_TIMEOUT_MS } from '../pg.js';

/**
 * Reads of more records than this (a whole log for audit verify, a report's
 * time range, every record of a type) run with LONG_QUERY_TIMEOUT_MS: their
 * size, not the server, sets how long they take. Fewer (a route's one record)
 * come back in far less than QUERY_TIMEOUT_MS.
 */
const BULK_READ_RECORDS = 1000;

/**
 * The advisory lock audit migrations run under: a constant of its own (it
 * was meant to spell 'gbaudit1' in ASCII and does not; it stays, since
 * brokers of different versions must agree on it). Not the store's lock, and a version table of its own (audit_migrations), so store
 * and audit log migrate independently in one schema.
 */
const MIGRATION_LOCK = '7449355746048407857';

/** Schema migrations of the schema `q` (escaped); entry i takes it from version i to i + 1. Append, never edit. */
const MIGRATIONS: readonly ((q: string) => string)[] = [
  // COLLATE "C": `at` compares by code point, as in SQLite, whatever the database's locale.
  (q) => `
  CREATE TABLE ${q}.audit_log (
    seq BIGINT PRIMARY KEY CHECK (seq > 0),
    at TEXT COLLATE "C" NOT NULL,
    type TEXT NOT NULL,
    data JSON NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX audit_log_at ON ${q}.audit_log (at);
  CREATE INDEX audit_log_type ON ${q}.audit_log (type, seq);
  ${nodeTable(q)}
  CREATE TABLE ${q}.translog_head (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    root_hash TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
  );
  `,
  // The nodes below FIRST_STORED_LEVEL are computed from audit_log's hashes (postgres-node-store.ts). The CHECK
  // makes a broker of an earlier version, which would still write them, fail its commit rather than land it.
  (q) => `
  DELETE FROM ${q}.translog_node WHERE level < ${String(FIRST_STORED_LEVEL)};
  ALTER TABLE ${q}.translog_node ADD CONSTRAINT translog_node_stored_level CHECK (level >= ${String(FIRST_STORED_LEVEL)});
  `,
];

/** The schema version this code reads and writes. */
export const AUDIT_SCHEMA_VERSION = MIGRATIONS.length;

/** The tables the migrations make, the version table first: a log opened without `create` must have them all. */
const AUDIT_TABLES = ['audit_migrations', 'audit_log', 'translog_node', 'translog_head'] as const;

/** The audit log's migrations of the schema `q` (escaped), for messages at `where`: versions in its own audit_migrations. */
function auditMigrations(q: string, where: string): Migrations {
  return {
    lock: MIGRATION_LOCK,
    versionTable: `${q}.audit_migrations`,
    steps: MIGRATIONS.map((step) => step(q)),
    refuseNewer: (version) => refuseNewer(version, where),
  };
}

/** The refusal of tables migrated by a newer geobridge. */
function refuseNewer(version: number, where: string): GeobridgeError {
  return new GeobridgeError('AUDIT_UNAVAILABLE', `audit log at ${where} has schema version ${String(version)}, newer than this geobridge understands (${String(AUDIT_SCHEMA_VERSION)}); upgrade geobridge.`);
}

/**
 * Refuses, for a log opened without `create`, a schema that lacks the audit
 * tables or holds another version of them; reads the catalog and the version
 * table only, so a role with USAGE on the schema and SELECT on its tables
 * passes, and nothing is created, locked or migrated.
 */
async function requireCurrentTables(query: Query, url: string, schema: string, where: string): Promise<void> {
  // pg_class rather than to_regclass: the catalog answers for a missing schema, or one the role may not use, without an error.
  const found = await query<{ name: string }>(
    "SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')",
    [schema, AUDIT_TABLES],
  );
  const names = new Set(found.rows.map((r) => r.name));
  const missing = AUDIT_TABLES.filter((t) => !names.has(t));
  if (missing.length > 0) {
    throw new GeobridgeError(
      'AUDIT_UNAVAILABLE',
      `no audit log in ${describeUrl(url)}: schema ${schema} has no table ${missing.join(', ')}. A broker started with --store on this database makes them: pass --store with the URL the broker was started with (or ${ENV_NAMES.store}). Nothing was created.`,
    );
  }
  const version = (await query<{ v: number | null }>(`SELECT max(version) AS v FROM ${pg.escapeIdentifier(schema)}.audit_migrations`)).rows[0]?.v ?? 0;
  if (version > AUDIT_SCHEMA_VERSION) throw refuseNewer(version, where);
  if (version < AUDIT_SCHEMA_VERSION) {
    throw new GeobridgeError(
      'AUDIT_UNAVAILABLE',
      `audit log at ${where} has schema version ${String(version)}, older than this geobridge reads (${String(AUDIT_SCHEMA_VERSION)}); start a broker of this geobridge on it once (--store with this URL) to migrate it, then retry. Nothing was changed.`,
    );
  }
}

interface Row {
  readonly seq: string;
  readonly at: string;
  readonly type: string;
  readonly data: string;
  readonly prev_hash: string;
  readonly hash: string;
}

interface HeadRow {
  readonly size: string;
  readonly timestamp: string;
  readonly root_hash: string;
  readonly key_id: string;
  readonly signature: string;
}

// data::text: pg would parse a json column; the stored text is what was hashed.
const COLUMNS = 'seq, at, type, data::text AS data, prev_hash, hash';
const HEAD_COLUMNS = 'size, timestamp, root_hash, key_id, signature';

function toHead(r: HeadRow): SignedTreeHead {
  return { size: Number(r.size), rootHash: r.root_hash, timestamp: Number(r.timestamp), keyId: r.key_id, signature: r.signature };
}

/** An append waiting for the next group commit. */
interface PendingAppend {
  readonly prepared: PreparedRecord;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

/** A tree head waiting for the next group commit. */
interface PendingHead {
  readonly head: SignedTreeHead;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Options of `PostgresAuditLog.open`. */
export interface PostgresAuditLogOptions {
  /** The schema of the tables (default `public`); created if missing, unless `create` is false. */
  readonly schema?: string;
  /**
   * Create the schema and tables, and migrate them, as needed (default). False
   * for readers such as `geobridge audit verify`: the tables must exist at
   * AUDIT_SCHEMA_VERSION, and a missing log is an error, not an empty one.
   */
  readonly create?: boolean;
  /** How long a statement may go unanswered before AUDIT_UNAVAILABLE (default QUERY_TIMEOUT_MS; tests make it short). */
  readonly queryTimeoutMs?: number;
}

/** An AuditLog in one schema of a PostgreSQL database, safe to share between brokers. */
export class PostgresAuditLog implements AuditLog {
  readonly #pool: pg.Pool;
  readonly #where: string;
  /** The schema, escaped as an identifier. */
  readonly #q: string;
  readonly #tree: TreeTables;
  #pending: PendingAppend[] = [];
  #pendingHeads: PendingHead[] = [];
  /** The batch being committed, if any; the next one waits for it. */
  #committing: Promise<void> | undefined;
  #flushScheduled = false;
  #closing: Promise<void> | undefined;
  /** Set once the pool has ended; reads go on until then, as in the SQLite adapter. */
  #closed = false;
  /** The chain's end and the tree's frontier as this log's last commit left them; unknown after a failure. */
  #tail: Tail | undefined;
  /** Until when (performance.now()) commits take the lock: another broker appended lately. */
  #lockUntilMs = 0;

  private constructor(pool: pg.Pool, where: string, schema: string) {
    this.#pool = pool;
    this.#where = where;
    this.#q = pg.escapeIdentifier(schema);
    this.#tree = { nodes: `${this.#q}.translog_node`, records: `${this.#q}.audit_log` };
  }

  /**
   * Opens the audit log at `url` (`postgres://user:password@host:port/database`)
   * in `options.schema`, creating and migrating it if needed; with `create:
   * false`, only if it exists at this version, creating nothing and taking no
   * lock. Throws AUDIT_UNAVAILABLE, within CONNECT_TIMEOUT_MS when the server
   * does not answer. Later, a statement not answered within
   * `options.queryTimeoutMs` (default QUERY_TIMEOUT_MS) fails with
   * AUDIT_UNAVAILABLE, and so does the append or read that sent it.
   */
  static async open(url: string, options: PostgresAuditLogOptions = {}): Promise<PostgresAuditLog> {
    const schema = options.schema ?? 'public';
    const where = `${describeUrl(url)} (schema ${schema})`;
    const pool = openPool(url, { application_name: 'geobridge-audit' }, options.queryTimeoutMs);
    const create = options.create ?? true;
    const mapError = (error: unknown): unknown => toAuditError(error, where, 'open', create ? 'create and write' : 'read');
    try {
      if (create) await migrate(pool, schema, auditMigrations(pg.escapeIdentifier(schema), where), mapError);
      else await requireCurrentTables(queryOn(pool, mapError), url, schema, where);
      return new PostgresAuditLog(pool, where, schema);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Appends a record; it is committed when the promise resolves. Appends made
   * in the same turn, or while a commit is under way, share the next commit.
   * A record that cannot be built (bad time) fails alone.
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
    return this.#read('read', (query) => readNodes(query, this.#tree, (tree) => tree.head(size)));
  }

  inclusionProof(seq: number, size: number): Promise<Uint8Array[]> {
    return this.#read('read', (query) => readNodes(query, this.#tree, (tree) => tree.inclusionProof(seq - 1, size)));
  }

  consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    return this.#read('read', (query) => readNodes(query, this.#tree, (tree) => tree.consistencyProof(first, second)));
  }

  treeHeads(): Promise<SignedTreeHead[]> {
    return this.#read('read', async (query) => {
      const { rows } = await query(`SELECT ${HEAD_COLUMNS} FROM ${this.#q}.translog_head ORDER BY id`);
      return (rows as HeadRow[]).map(toHead);
    });
  }

  /** The head with the highest id: ids are drawn inside the append lock, so the last one committed. */
  latestTreeHead(): Promise<SignedTreeHead | undefined> {
    return this.#read('read', async (query) => {
      const [row] = (await query(`SELECT ${HEAD_COLUMNS} FROM ${this.#q}.translog_head ORDER BY id DESC LIMIT 1`)).rows as HeadRow[];
      return row === undefined ? undefined : toHead(row);
    });
  }

  /** Records with from ≤ seq ≤ to (all by default), in order. */
  read(range: { from?: number; to?: number } = {}): Promise<AuditRecord[]> {
    const from = range.from ?? Number.MIN_SAFE_INTEGER;
    const to = range.to ?? Number.MAX_SAFE_INTEGER;
    return this.#records('read', `WHERE seq >= $1 AND seq <= $2`, [from, to], to - from >= BULK_READ_RECORDS ? LONG_QUERY_TIMEOUT_MS : undefined);
  }

  /** Records whose time is within [from, to), in seq order (the index on `at` finds them). */
  readTimeRange(from: string, to: string): Promise<AuditRecord[]> {
    return this.#read('read', () => {
      const start = normalizeAuditTime(from, 'from');
      const end = normalizeAuditTime(to, 'to');
      return this.#records('read', 'WHERE at >= $1 AND at < $2', [start, end], LONG_QUERY_TIMEOUT_MS);
    });
  }

  /** Records of one type, in seq order. */
  readType(type: AuditType): Promise<AuditRecord[]> {
    return this.#records('read', 'WHERE type = $1', [type], LONG_QUERY_TIMEOUT_MS);
  }

  /** Commits the appends already accepted, then closes the pool; later calls reject with AUDIT_UNAVAILABLE. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#flush();
      while (this.#committing !== undefined) await this.#committing;
      this.#closed = true;
      await this.#pool.end().catch(() => undefined);
    })();
    return this.#closing;
  }

  /** Records `where` says, in seq order; within `timeoutMs` when given (a bulk read), else the pool's deadline. */
  async #records(action: string, where: string, values: readonly unknown[], timeoutMs?: number): Promise<AuditRecord[]> {
    return this.#read(
      action,
      async (query) => {
        const { rows } = await query(`SELECT ${COLUMNS} FROM ${this.#q}.audit_log ${where} ORDER BY seq`, values);
        return (rows as Row[]).map((row) => this.#toRecord(row));
      },
      timeoutMs,
    );
  }

  /**
   * Runs `fn` with autocommitted statements on the pool, each within
   * `timeoutMs` when given, else the pool's deadline, mapping pg's errors. A
   * statement that fails releases its connection with the error, so pg-pool
   * closes it: one that timed out is never reused.
   */
  async #read<T>(action: string, fn: (query: NodeQuery) => Promise<T> | T, timeoutMs?: number): Promise<T> {
    if (this.#closed) throw this.#closedError(action);
    try {
      return await fn((text, values = []) => this.#pool.query(withTimeout(text, values, timeoutMs)));
    } catch (error) {
      throw toAuditError(error, this.#where, action);
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#committing !== undefined) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Commits the pending appends and heads as one batch; when it is committed, the next batch goes. */
  #flush(): void {
    if (this.#committing !== undefined || (this.#pending.length === 0 && this.#pendingHeads.length === 0)) return;
    const batch = this.#pending;
    const heads = this.#pendingHeads;
    this.#pending = [];
    this.#pendingHeads = [];
    this.#committing = this.#write(batch.map((b) => b.prepared), heads.map((h) => h.head)).then(
      (written) => {
        batch.forEach((item, i) => {
          const place = written[i];
          if (place === undefined) item.reject(new Error('the audit batch wrote fewer rows than it was sent'));
          else item.resolve(placeRecord(item.prepared, place));
        });
        for (const item of heads) item.resolve();
      },
      (error: unknown) => {
        // A failed commit lands nothing of the batch: the chain never forks.
        const failure = toAuditError(error, this.#where, 'append to');
        for (const item of [...batch, ...heads]) item.reject(failure);
      },
    );
    void this.#committing.then(() => {
      this.#committing = undefined;
      this.#flush();
    });
  }

  /**
   * One group commit. Durable when it resolves provided the server's
   * synchronous_commit is not `off` (with `off`, a crash loses the last
   * commits although they were acknowledged), so each commit turns it
   * back on when it finds it off; `local`, `on` and the replica levels are
   * kept as configured.
   *
   * While this log knows the chain's end from its own last commit, the batch
   * goes in one statement that assumes that end (`#appendAfter`): one round
   * trip where the locked transaction takes seven or eight. If another
   * broker appended meanwhile, the records' sequence numbers are taken and
   * the statement fails whole (unique violation); the batch then takes the
   * lock, as every commit does for a second after.
   */
  async #write(records: readonly PreparedRecord[], heads: readonly SignedTreeHead[]): Promise<Written[]> {
    const tail = this.#tail;
    // Whatever happens next, the end is known again only from a commit that succeeded.
    this.#tail = undefined;
    // A batch of heads alone has no sequence number to collide on, which is what orders commits without the lock.
    if (tail !== undefined && records.length > 0 && performance.now() >= this.#lockUntilMs) {
      try {
        return await this.#appendAfter(tail, records, heads);
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        this.#lockUntilMs = performance.now() + LOCKED_AFTER_COLLISION_MS;
      }
    }
    return this.#appendLocked(records, heads);
  }

  /** The batch in one statement after `tail`: fails whole with a unique violation if the chain has grown since. */
  async #appendAfter(tail: Tail, records: readonly PreparedRecord[], heads: readonly SignedTreeHead[]): Promise<Written[]> {
    const q = this.#q;
    const grown = treeOnFrontier(tail.seq, tail.frontier);
    const written = chain(records, tail, grown);
    await this.#pool.query({
      // Prepared once per connection: the statement is parsed and planned once, not per commit.
      name: `geobridge-audit-append ${this.#q}`,
      text: `WITH durable AS (SELECT set_config('synchronous_commit', 'on', true) WHERE current_setting('synchronous_commit') = 'off'),
        records AS (INSERT INTO ${q}.audit_log (seq, at, type, data, prev_hash, hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::json[], $5::text[], $6::text[])),
        nodes AS (INSERT INTO ${q}.translog_node (level, idx, hash) SELECT * FROM unnest($7::int[], $8::bigint[], $9::bytea[])),
        heads AS (INSERT INTO ${q}.translog_head (size, timestamp, root_hash, key_id, signature) SELECT * FROM unnest($10::bigint[], $11::bigint[], $12::text[], $13::text[], $14::text[]))
      SELECT count(*) FROM durable`,
      values: [
        ...recordColumns(records, written),
        grown.written.map((w) => w[0]),
        grown.written.map((w) => w[1]),
        grown.written.map((w) => Buffer.from(w[2])),
        heads.map((h) => h.size),
        heads.map((h) => h.timestamp),
        heads.map((h) => h.rootHash),
        heads.map((h) => h.keyId),
        heads.map((h) => h.signature),
      ],
    });
    this.#tail = tailAfter(written, grown, tail);
    return written;
  }

  /** The batch in a transaction that takes the append lock and reads the chain's end and the tree's frontier first. */
  async #appendLocked(records: readonly PreparedRecord[], heads: readonly SignedTreeHead[]): Promise<Written[]> {
    const q = this.#q;
    return this.#transaction(async (query) => {
      await query("SELECT set_config('synchronous_commit', 'on', true) WHERE current_setting('synchronous_commit') = 'off'");
      // EXCLUSIVE queues appenders of every broker (and blocks no reader); in READ COMMITTED, the statements
      // after it see the last appender's commit, so the tail and the frontier read below are current.
      await query(`LOCK TABLE ${q}.audit_log IN EXCLUSIVE MODE`);
      const [last] = (await query(`SELECT seq, hash FROM ${q}.audit_log ORDER BY seq DESC LIMIT 1`)).rows as { seq: string; hash: string }[];
      const previous = last === undefined ? undefined : { seq: Number(last.seq), hash: last.hash };
      // The records are the tree's leaves: it has as many as the last seq says.
      const grown = await frontier(query, this.#tree, previous?.seq ?? 0);
      const written = chain(records, previous, grown);
      if (written.length > 0) {
        await query(`INSERT INTO ${q}.audit_log (seq, at, type, data, prev_hash, hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::json[], $5::text[], $6::text[])`, recordColumns(records, written));
      }
      await insertNodes(query, this.#tree.nodes, grown.written);
      for (const h of heads) {
        await query(`INSERT INTO ${q}.translog_head (size, timestamp, root_hash, key_id, signature) VALUES ($1, $2, $3, $4, $5)`, [h.size, h.timestamp, h.rootHash, h.keyId, h.signature]);
      }
      return { written, tail: tailAfter(written, grown, previous) };
    }).then(({ written, tail }) => {
      // Known only once the transaction has committed.
      this.#tail = tail;
      return written;
    });
  }

  /** Runs `fn` in a transaction; pg's failures reject as failed appends. */
  #transaction<T>(fn: (query: Query) => Promise<T>): Promise<T> {
    return transaction(this.#pool, fn, (error) => toAuditError(error, this.#where, 'append to'));
  }

  #closedError(action: string): GeobridgeError {
    return new GeobridgeError('AUDIT_UNAVAILABLE', `cannot ${action} audit log at ${this.#where}: it is closed.`);
  }

  #toRecord(row: Row): AuditRecord {
    let data: unknown;
    try {
      data = JSON.parse(row.data);
    } catch {
      throw new GeobridgeError('AUDIT_CORRUPT', `record ${row.seq} of audit log at ${this.#where} holds data that is not JSON: it was altered outside geobridge.`);
    }
    // Kept as read, even when not an object: verifyChain then reports the record as altered.
    const record = { seq: Number(row.seq), at: row.at, type: row.type as AuditType, data: data as Record<string, unknown>, prevHash: row.prev_hash, hash: row.hash };
    if (storedNonCanonically(record, row.data)) throw new GeobridgeError('AUDIT_CORRUPT', `record ${row.seq} of audit log at ${this.#where} holds data that reads as the record hashed but is not the canonical JSON it was hashed as, so other tools may read it otherwise: it was altered outside geobridge.`);
    return record;
  }
}

/** A record's place in the chain, as a commit wrote it. */
interface Written {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
}

/** Where a commit left the chain and the tree: all the next commit needs to append without reading them. */
interface Tail {
  /** 0 for an empty log. */
  readonly seq: number;
  readonly hash: string;
  readonly frontier: ReadonlyMap<string, Uint8Array>;
}

/** A commit of another broker was seen this long ago: until then, commits take the lock rather than collide again. */
const LOCKED_AFTER_COLLISION_MS = 1000;

/** Chains `records` after `previous` (none, or seq 0: the log is empty) and appends their leaves to `grown`. */
function chain(records: readonly PreparedRecord[], previous: { readonly seq: number; readonly hash: string } | undefined, grown: AppendTree): Written[] {
  let last = previous;
  return records.map((record) => {
    const seq = (last?.seq ?? 0) + 1;
    const prevHash = last?.hash ?? GENESIS_HASH;
    const hash = hashCanonicalJson(canonicalRecordJson({ seq, at: record.at, type: record.type, prevHash }, record.dataJson));
    grown.tree.append(leafEntry(hash));
    last = { seq, hash };
    return { seq, prevHash, hash };
  });
}

/** The audit_log columns of a batch, as the unnest of both commit paths takes them ($1…$6). */
function recordColumns(records: readonly PreparedRecord[], written: readonly Written[]): unknown[][] {
  return [written.map((w) => w.seq), records.map((r) => r.at), records.map((r) => r.type), records.map((r) => r.dataJson), written.map((w) => w.prevHash), written.map((w) => w.hash)];
}

function tailAfter(written: readonly Written[], grown: AppendTree, before: { readonly seq: number; readonly hash: string } | undefined): Tail {
  const end = written.at(-1) ?? before;
  return { seq: end?.seq ?? 0, hash: end?.hash ?? GENESIS_HASH, frontier: grown.frontier() };
}

/** A commit that found its sequence numbers taken: another broker appended since this one's last commit. */
function isUniqueViolation(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === '23505';
}

/**
 * pg's failures as AUDIT_UNAVAILABLE naming the server, with what to do; a
 * GeobridgeError (TRANSLOG_*, INVALID_TIME, AUDIT_*) and a bug in the caller
 * (a TypeError) pass through. Every PostgreSQL error is a failure of the log,
 * not of the request: appends and reads carry no user-chosen keys.
 */
function toAuditError(error: unknown, where: string, action: string, access = 'create and write'): unknown {
  if (isGeobridgeError(error)) return error;
  const isPg = error instanceof pg.DatabaseError;
  if (!isPg && !isConnectionFailure(error)) return error;
  const sqlstate = isPg ? (error.code ?? '') : '';
  // Class 23 (a duplicate seq or node): a row this writer did not expect, written by hand or by a writer that skips the append lock.
  const hint = isIntegrityViolation(error)
    ? 'the tables hold rows that no geobridge append wrote; stop other writers of the schema and verify the log'
    : `check that PostgreSQL is running and reachable at that URL, that the database exists and that the user may ${access} tables in the schema, then retry`;
  return new GeobridgeError('AUDIT_UNAVAILABLE', `cannot ${action} audit log at ${where}: ${error.message}${isPg ? ` (SQLSTATE ${sqlstate})` : ''}; ${hint}.`, { cause: error });
}
