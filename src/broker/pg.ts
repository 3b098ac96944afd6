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

/** Runs one statement; `values` are its parameters $1, $2, … */
export type Query = <R extends pg.QueryResultRow>(text: string, values?: readonly unknown[]) => Promise<pg.QueryResult<R>>;

/** Turns a failure of pg into the adapter's error; GeobridgeErrors and bugs (a TypeError) pass through. */
export type MapError = (error: unknown) => unknown;

/** A pool on `url` whose connects give up after CONNECT_TIMEOUT_MS; `config` names the application and may set startup options. */
export function openPool(url: string, config: Pick<pg.PoolConfig, 'application_name' | 'options'>): pg.Pool {
  const pool = new pg.Pool({ ...config, connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle connection the server drops emits 'error' on the pool, which would crash the process unheard; the pool discards it and connects afresh.
  pool.on('error', () => undefined);
  return pool;
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

/** Runs statements on `on` (the pool, or one connection), mapping pg's errors, and only those, with `mapError`. */
export function queryOn(on: pg.Pool | pg.PoolClient, mapError: MapError): Query {
  return async <R extends pg.QueryResultRow>(text: string, values: readonly unknown[] = []) => {
    try {
      return await on.query<R>(text, [...values]);
    } catch (error) {
      throw mapError(error);
    }
  };
}

/**
 * Runs `fn` in a transaction on one pooled connection: committed if it
 * returns, rolled back if it throws. Failures to connect and of statements
 * reach `fn` and the caller mapped with `mapError`; what `fn` throws passes as is.
 */
export async function transaction<T>(pool: pg.Pool, fn: (query: Query) => Promise<T>, mapError: MapError): Promise<T> {
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
  const query = queryOn(client, mapError);
  let broken = false;
  try {
    await query('BEGIN');
    const result = await fn(query);
    await query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    // A connection that cannot even roll back is dropped, not handed to the next caller.
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
 * transaction under their advisory lock, so concurrent openers migrate once.
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
    );
  } catch (error) {
    throw mapError(error);
  }
}
