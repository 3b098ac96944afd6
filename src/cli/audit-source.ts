/**
 * Where the commands that read the audit log find it: DATA/audit.sqlite, or
 * the PostgreSQL database of `--store` (GEOBRIDGE_STORE), where a broker on
 * that store keeps its log. They read, never create: both logs are opened
 * with `create: false`; PostgresStore.open would create the store's tables,
 * so those are looked for first.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresAuditLog } from '../broker/audit/postgres-audit-log.js';
import { SqliteAuditLog } from '../broker/audit/sqlite-audit-log.js';
import { ENV_NAMES, parseStoreUrl } from '../broker/config.js';
import { CONNECT_TIMEOUT_MS, describeUrl } from '../broker/pg.js';
import { GeobridgeError } from '../core/errors.js';

/** The codes a missing or unreachable log or store is reported with. */
type UnavailableCode = 'AUDIT_UNAVAILABLE' | 'STORE_UNAVAILABLE';

/** The broker's audit log: a file of its data directory, or a PostgreSQL database. */
export type AuditSource = { readonly kind: 'sqlite'; readonly file: string } | { readonly kind: 'postgres'; readonly url: string };

/** The environment variables a command reads (passed in by the entry point). */
export type Env = Readonly<Record<string, string | undefined>>;

/** The schema the broker keeps its store and log in (serve has no option for another). */
const SCHEMA = 'public';

/** The PostgreSQL URL of `--store`, else GEOBRIDGE_STORE; undefined for 'sqlite' or neither. A URL that is not PostgreSQL's is USAGE. */
export function storeUrlOf(flag: string | undefined, env: Env, command: string): string | undefined {
  const problems: string[] = [];
  const url = parseStoreUrl(flag ?? env[ENV_NAMES.store], problems);
  if (problems.length > 0) throw new GeobridgeError('USAGE', `${command}: ${problems.join(' ')}`);
  return url;
}

/** The log of the store at `storeUrl` when given, else DIR/audit.sqlite, which must exist: a missing log is never read as an empty one. */
export function auditSource(dataDir: string | undefined, storeUrl: string | undefined): AuditSource {
  if (storeUrl !== undefined) return { kind: 'postgres', url: storeUrl };
  const dir = dataDir ?? 'data';
  const file = join(dir, 'audit.sqlite');
  if (!existsSync(file)) {
    throw new GeobridgeError('AUDIT_UNAVAILABLE', `no audit log at '${file}'${existsSync(dir) ? '' : ` (directory '${dir}' does not exist)`}; pass --data with the broker's data directory, or --store with its PostgreSQL store.`);
  }
  return { kind: 'sqlite', file };
}

/** Where the log is, for people: the file, or the URL without its password. */
export function describeAuditSource(source: AuditSource): string {
  return source.kind === 'sqlite' ? source.file : describeUrl(source.url);
}

/** The log's place for JSON output: `{ file }` as before, or `{ store }`. */
export function auditSourceJson(source: AuditSource): { file: string } | { store: string } {
  return source.kind === 'sqlite' ? { file: source.file } : { store: describeUrl(source.url) };
}

/** Opens the log to read it (an adapter, for readType); AUDIT_UNAVAILABLE when it does not exist, and nothing is created. */
export async function openAuditLog(source: AuditSource): Promise<SqliteAuditLog | PostgresAuditLog> {
  if (source.kind === 'sqlite') return SqliteAuditLog.open(source.file, { create: false });
  return PostgresAuditLog.open(source.url, { schema: SCHEMA, create: false });
}

/** Refuses, before PostgresStore.open would create them, a database without the store's tables. */
export async function requireStoreTables(url: string): Promise<void> {
  await requireTables(url, ['schema_migrations', 'manifests'], 'STORE_UNAVAILABLE', 'no broker store');
}

/** Throws `code` ("<what> in <url>: …") unless every table of `tables` exists in SCHEMA. */
async function requireTables(url: string, tables: readonly string[], code: UnavailableCode, what: string): Promise<void> {
  const where = describeUrl(url);
  const missing = await missingTables(url, tables, code, where);
  if (missing.length === 0) return;
  throw new GeobridgeError(code, `${what} in ${where}: schema ${SCHEMA} has no table ${missing.join(', ')}: a broker started with --store on this database makes it. Check --store (${ENV_NAMES.store}); a command that only reads creates nothing.`);
}

/** The tables of `tables` that SCHEMA lacks, asked with to_regclass (which answers NULL, not an error, for a missing one). */
async function missingTables(url: string, tables: readonly string[], code: UnavailableCode, where: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: 'geobridge-cli' });
  try {
    await client.connect();
    const names = tables.map((t) => `${pg.escapeIdentifier(SCHEMA)}.${pg.escapeIdentifier(t)}`);
    const { rows } = await client.query<{ name: string }>('SELECT t.name FROM unnest($1::text[], $2::text[]) AS t(name, qualified) WHERE to_regclass(t.qualified) IS NULL', [[...tables], names]);
    return rows.map((r) => r.name);
  } catch (error) {
    throw new GeobridgeError(code, `cannot read ${where}: ${error instanceof Error ? error.message : String(error)}; check that PostgreSQL is running and reachable at that URL and that the database exists.`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}
