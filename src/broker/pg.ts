/**
 * What the PostgreSQL adapters (the store and the audit log) share: a pool
 * that gives up on a silent server, URLs described without their password,
 * transactions, the SQLSTATEs that blame the server rather than the request,
 * and migrations run once under an advisory lock. The adapters keep their own
 * error codes: each helper takes a mapper from pg's failures to them. Both
 * adapters may create one schema at the same moment, under different locks,
 * so schema creation tolerates losing that race.
 */
import pg from 'pg';

/** How long to wait for a connection (a new one, or a free one of the pool) before the adapter reports the server unavailable. */
export const CONNECT_TIMEOUT_MS = 5000;

/**
 * How long one statement may take, sent to answered, before the adapter gives
 * up on it and reports the server unavailable: a warm pooled connection to a
 * server behind a partition that drops packets (no reset) would otherwise wait
 * for TCP to give up, many minutes. Our request-path statements are one round
 * trip on a few rows, or a short transaction under a row or table lock held
 * for milliseconds, so 5 s is far above a loaded commit's fsync (tens of ms)
 * and still below a client's patience: routes answer 503 with Retry-After
 * while the client still waits, and it matches CONNECT_TIMEOUT_MS, the same
 * budget as for a server that never answers a new connection.
 */
export const QUERY_TIMEOUT_MS = 5000;

/**
 * The deadline of statements that may run long by design: migrations (which
 * may wait for another broker's under the advisory lock, or rewrite a large
 * table) and reads of many audit records (audit verify reads the whole log).
 * Finite, so even those end on a partition.
 */
export const LONG_QUERY_TIMEOUT_MS = 30 * 60_000;

/**
 * After this long idle, TCP keepalive probes a pooled connection, so one whose
 * server went away without a reset is found dead (and dropped by the pool)
 * rather than handed to a request.
 */
export const KEEPALIVE_DELAY_MS = 10_000;

/**
 * The server ends a session that sits in a transaction this long without
 * sending a statement (idle_in_transaction_session_timeout), which releases its
 * locks: a broker cut off mid-transaction would otherwise hold the audit log's
 * EXCLUSIVE lock or a meeting's row lock, and stall every other broker, until
 * the server's own TCP keepalive gives up (two hours by default). Our
 * transactions send their statements back to back, so a pause this long means
 * the client is gone. No statement_timeout is set: the long operations above
 * would need exempting, and the client-side deadline already ends the wait.
 */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;

/** Runs one statement; `values` are its parameters $1, $2, … */
export type Query = <R extends pg.QueryResultRow>(text: string, values?: readonly unknown[]) => Promise<pg.QueryResult<R>>;

/** Turns a failure of pg into the adapter's error; GeobridgeErrors and bugs (a TypeError) pass through. */
export type MapError = (error: unknown) => unknown;

/**
 * A pool on `url` whose connects give up after CONNECT_TIMEOUT_MS and whose
 * statements after `queryTimeoutMs` (default QUERY_TIMEOUT_MS); `config` names
 * the application and may set startup options. A statement that times out
 * fails with a plain Error ('Query read timeout'), which the adapters map to
 * their unavailable code, and its connection is closed, not pooled again:
 * pg-pool discards a client released with an error, and `transaction` releases
 * it so.
 */
export function openPool(url: string, config: Pick<pg.PoolConfig, 'application_name' | 'options'>, queryTimeoutMs = QUERY_TIMEOUT_MS): pg.Pool {
  const options = [config.options, `-c idle_in_transaction_session_timeout=${String(IDLE_IN_TRANSACTION_TIMEOUT_MS)}`].filter((o) => o !== undefined).join(' ');
  const pool = new pg.Pool({
    ...config,
    options,
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: queryTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
  });
  // An idle connection the server drops emits 'error' on the pool, which would crash the process unheard; the pool discards it and connects afresh.
  pool.on('error', () => undefined);
  return pool;
}

/** A statement with its own deadline, instead of the pool's (pg reads `query_timeout` from the query's config; its types omit it). */
export function withTimeout(text: string, values: readonly unknown[], timeoutMs: number | undefined): pg.QueryConfig {
  const config: pg.QueryConfig & { query_timeout?: number } = { text, values: [...values] };
  if (timeoutMs !== undefined) config.query_timeout = timeoutMs;
  return config;
}

/** The URL without its password and parameters, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.search = '';
    return u.href;
  } catch {
    return 'the PostgreSQL URL given (it does not parse as a URL)';
  }
}

/** The SQLSTATE of an error the server sent; '' for any other error. */
function sqlstate(error: unknown): string {
  return error instanceof pg.DatabaseError ? (error.code ?? '') : '';
}

/** True for a duplicate key (SQLSTATE 23505). */
export function isUniqueViolation(error: unknown): error is pg.DatabaseError {
  return sqlstate(error) === '23505';
}

/** True for a reference to a row that does not exist (SQLSTATE 23503). */
export function isForeignKeyViolation(error: unknown): error is pg.DatabaseError {
  return sqlstate(error) === '23503';
}

/** True for any integrity constraint violation (SQLSTATE class 23). */
export function isIntegrityViolation(error: unknown): error is pg.DatabaseError {
  return sqlstate(error).startsWith('23');
}

/**
 * True for a refused, lost or timed-out connection, or an ended pool: pg
 * reports those as a plain Error, as Node does its socket errors, while
 * TypeError and its kin are bugs.
 */
export function isConnectionFailure(error: unknown): error is Error {
  return error instanceof Error && error.constructor === Error;
}

/**
 * SQLSTATE classes and codes that mean the server, not the request, is the
 * problem: connection (08), authorization (28), database (3D), resources
 * (53), shutdown and cancel (57), system (58), deadlock or serialization (40),
 * a read-only standby (25006), a missing grant (42501).
 */
const UNAVAILABLE_CLASSES = ['08', '28', '3D', '53', '57', '58', '40'];
const UNAVAILABLE_CODES = ['25006', '42501'];

/** True when the server, or the way to it, is the problem: a failed connection or an unavailable SQLSTATE. */
export function isUnavailable(error: unknown): error is Error {
  const code = sqlstate(error);
  return UNAVAILABLE_CLASSES.includes(code.slice(0, 2)) || UNAVAILABLE_CODES.includes(code) || isConnectionFailure(error);
}

/** True when CREATE SCHEMA lost a race: the schema exists (42P06), or a concurrent creator committed it first (23505 on pg_namespace). */
function isSchemaTaken(error: unknown): boolean {
  return sqlstate(error) === '42P06' || isUniqueViolation(error);
}

/**
 * Runs statements on `on` (the pool, or one connection), mapping pg's errors,
 * and only those, with `mapError`; each within `timeoutMs` when given, else
 * the pool's QUERY_TIMEOUT_MS.
 */
export function queryOn(on: pg.Pool | pg.PoolClient, mapError: MapError, timeoutMs?: number): Query {
  return async <R extends pg.QueryResultRow>(text: string, values: readonly unknown[] = []) => {
    try {
      return await on.query<R>(withTimeout(text, values, timeoutMs));
    } catch (error) {
      throw mapError(error);
    }
  };
}

/**
 * Runs `fn` in a transaction on one pooled connection: committed if it
 * returns, rolled back if it throws. Failures to connect and of statements
 * reach `fn` and the caller mapped with `mapError`; what `fn` throws passes as
 * is. Statements run within `timeoutMs` when given, else the pool's deadline.
 */
export async function transaction<T>(pool: pg.Pool, fn: (query: Query) => Promise<T>, mapError: MapError, timeoutMs?: number): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapError(error);
  }
  // A connection cut while we hold it fails the statement in flight, and the client also emits 'error':
  // the pool listens only to idle clients, so without this the process would crash on an outage.
  const ignore = (): void => undefined;
  client.on('error', ignore);
  // A statement that timed out is still the connection's statement in flight (pg waits for its answer), and
  // one whose connection was lost has none: either way a ROLLBACK would only wait, so the connection is dropped.
  let lost: Error | undefined;
  const onClient = queryOn(client, (error) => error, timeoutMs);
  const query: Query = async (text, values) => {
    try {
      return await onClient(text, values);
    } catch (error) {
      if (isConnectionFailure(error)) lost ??= error;
      throw mapError(error);
    }
  };
  let broken: Error | boolean = false;
  try {
    await query('BEGIN');
    const result = await fn(query);
    await query('COMMIT');
    return result;
  } catch (error) {
    // The server rolls back the transaction of a connection that closes.
    if (lost !== undefined) broken = lost;
    else
      await client.query(withTimeout('ROLLBACK', [], timeoutMs)).catch(() => {
        broken = true;
      });
    throw error;
  } finally {
    // A connection that timed out, was lost or cannot even roll back is closed, not handed to the next caller.
    client.off('error', ignore);
    client.release(broken);
  }
}

/**
 * Creates `schema` if it is missing. Another adapter, migrating under its own
 * lock, may create it at the same moment: our CREATE SCHEMA then waits for
 * that commit and fails, and the schema exists, which is all we need.
 */
async function createSchema(query: Query, schema: string): Promise<void> {
  // CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even when the schema exists (and it loses the race too).
  if ((await query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount !== 0) return;
  // The failed statement would abort the transaction; the savepoint keeps the migration going.
  await query('SAVEPOINT create_schema');
  try {
    await query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
  } catch (error) {
    if (!isSchemaTaken(error)) throw error;
    await query('ROLLBACK TO SAVEPOINT create_schema');
  }
}

/** The migrations of one adapter's tables. */
export interface Migrations {
  /** The advisory lock they run under (a bigint literal), the same for every broker and schema of a database. */
  readonly lock: string;
  /** The table of applied versions, as SQL names it (schema-qualified, or found through search_path). */
  readonly versionTable: string;
  /** Entry i takes the tables from version i to i + 1. Append, never edit. */
  readonly steps: readonly string[];
  /** The error for tables at `version`, migrated further by a newer geobridge. */
  readonly refuseNewer: (version: number) => Error;
}

/**
 * Creates `schema` if missing and applies the `migrations` it lacks, in one
 * transaction under their advisory lock, so concurrent openers migrate once;
 * its statements may run LONG_QUERY_TIMEOUT_MS (waiting for another broker's
 * migration, or rewriting a large table).
 */
export async function migrate(pool: pg.Pool, schema: string, migrations: Migrations, mapError: MapError): Promise<void> {
  const { lock, versionTable, steps, refuseNewer } = migrations;
  try {
    // Mapped only on the way out: createSchema tells a lost race by pg's own error.
    await transaction(
      pool,
      async (query) => {
        await query(`SELECT pg_advisory_xact_lock(${lock})`);
        await createSchema(query, schema);
        await query(`CREATE TABLE IF NOT EXISTS ${versionTable} (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
        const current = (await query<{ v: number | null }>(`SELECT max(version) AS v FROM ${versionTable}`)).rows[0]?.v ?? 0;
        if (current > steps.length) throw refuseNewer(current);
        for (let v = current; v < steps.length; v++) {
          await query(steps[v] ?? '');
          await query(`INSERT INTO ${versionTable} (version) VALUES ($1)`, [v + 1]);
        }
      },
      (error) => error,
      LONG_QUERY_TIMEOUT_MS,
    );
  } catch (error) {
    throw mapError(error);
  }
}
