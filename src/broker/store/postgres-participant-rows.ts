/**
 * Participant rows in a PostgreSQL database, as postgres-store.ts keeps them
 * but without meetings: a record store's database holds its audit log
 * (postgres-audit-log.ts) and these rows. As the audit log does, the table is
 * named with its schema rather than found through search_path, so both share
 * one URL, and it migrates under an advisory lock and a version table of its
 * own (participant_rows_migrations), so rows, audit log and store migrate
 * independently in one database.
 */
import pg from 'pg';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import { describeUrl, isUnavailable, migrate, openPool, queryOn, type Migrations } from '../pg.js';
import type { ParticipantRows } from './participant-rows.js';
import type { AdmittedCount, Participant, ParticipantSession } from './store.js';
import { rowToCount, rowToParticipant, type CountRow, type ParticipantRow } from './sql-rows.js';

/** The advisory lock the migrations run under: 'gbprows1' in ASCII; neither the store's nor the audit log's. */
const MIGRATION_LOCK = '7449640370422903601';

/**
 * Migrations of the schema `q` (escaped); entry i takes it from version i to
 * i + 1. Append, never edit. COLLATE "C" on the columns lists sort by, so
 * that PostgreSQL orders by code point, as SQLite does, whatever the locale.
 */
const MIGRATIONS: readonly ((q: string) => string)[] = [
  (q) => `
  CREATE TABLE ${q}.participant_rows (
    meeting_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    country TEXT NOT NULL,
    plan TEXT,
    joined_at TEXT COLLATE "C" NOT NULL,
    datacenter TEXT NOT NULL,
    session TEXT NOT NULL,
    PRIMARY KEY (meeting_id, id)
  );
  CREATE INDEX participant_rows_datacenter ON ${q}.participant_rows (datacenter, meeting_id, id);
  `,
];

/** The version of the participant_rows table this code reads and writes. */
export const PARTICIPANT_ROWS_VERSION = MIGRATIONS.length;

function rowsMigrations(q: string, where: string): Migrations {
  return {
    lock: MIGRATION_LOCK,
    versionTable: `${q}.participant_rows_migrations`,
    steps: MIGRATIONS.map((step) => step(q)),
    refuseNewer: (version) =>
      new GeobridgeError('STORE_UNAVAILABLE', `the participant rows at ${where} have version ${String(version)}, newer than this geobridge supports (${String(PARTICIPANT_ROWS_VERSION)}); upgrade geobridge`),
  };
}

/** The participant's columns in table order, as statement parameters $1…$7. */
function participantParams(p: Participant): unknown[] {
  return [p.meetingId, p.id, p.country, p.plan ?? null, p.joinedAt, p.datacenter, p.session];
}

/** Maps an error pg raised to STORE_UNAVAILABLE naming the database; anything else (a bug) passes through. */
function toStoreError(error: unknown, what: string, where: string): Error {
  if (isUnavailable(error)) {
    return new GeobridgeError(
      'STORE_UNAVAILABLE',
      `${what}: PostgreSQL at ${where} is unavailable (${error.message}); check that the server is up and reachable and that the user may use the database, then retry`,
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Participant rows in one schema of a PostgreSQL database, safe to share between brokers. */
export class PostgresParticipantRows implements ParticipantRows {
  readonly #pool: pg.Pool;
  readonly #where: string;
  /** The table, schema-qualified and escaped. */
  readonly #table: string;
  #closing: Promise<void> | undefined;

  private constructor(pool: pg.Pool, where: string, schema: string) {
    this.#pool = pool;
    this.#where = where;
    this.#table = `${pg.escapeIdentifier(schema)}.participant_rows`;
  }

  /**
   * Opens the rows at `url` (`postgres://user:password@host:port/database`)
   * in `options.schema` (default `public`), creating and migrating the table
   * if needed.
   */
  static async open(url: string, options: { schema?: string } = {}): Promise<PostgresParticipantRows> {
    const schema = options.schema ?? 'public';
    const where = `${describeUrl(url)} (schema ${schema})`;
    const pool = openPool(url, { application_name: 'geobridge-rows' });
    try {
      await migrate(pool, schema, rowsMigrations(pg.escapeIdentifier(schema), where), (error) => toStoreError(error, 'open the participant rows', where));
      return new PostgresParticipantRows(pool, where, schema);
    } catch (error) {
      await pool.end().catch(() => undefined);
      if (isGeobridgeError(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new GeobridgeError(
        'STORE_UNAVAILABLE',
        `cannot open the participant rows at ${where}: ${reason}; check that PostgreSQL is running and reachable at that URL, that the database exists, and that the user may create tables in the schema`,
        { cause: error },
      );
    }
  }

  async addParticipant(participant: Participant): Promise<Participant | undefined> {
    const what = `add participant ${participant.id} to meeting ${participant.meetingId}`;
    const params = participantParams(participant);
    // Replace and read the replaced row in one statement: the subquery locks the row it returns. With no row, insert; if a
    // concurrent add inserted first, replace that one. So of concurrent adds each replaces, and returns, the one before it.
    for (;;) {
      const [replaced] = (
        await this.#query<ParticipantRow>(
          what,
          `UPDATE ${this.#table} p SET country = $3, plan = $4, joined_at = $5, datacenter = $6, session = $7
           FROM (SELECT * FROM ${this.#table} WHERE meeting_id = $1 AND id = $2 FOR UPDATE) prior
           WHERE p.meeting_id = prior.meeting_id AND p.id = prior.id
           RETURNING prior.*`,
          params,
        )
      ).rows;
      if (replaced) return rowToParticipant(replaced);
      const inserted = await this.#query(
        what,
        `INSERT INTO ${this.#table} (meeting_id, id, country, plan, joined_at, datacenter, session) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (meeting_id, id) DO NOTHING`,
        params,
      );
      if (inserted.rowCount === 1) return undefined;
    }
  }

  async removeParticipant(meetingId: string, participantId: string, of: ParticipantSession): Promise<boolean> {
    const { rowCount } = await this.#query(
      `remove participant ${participantId} from meeting ${meetingId}`,
      `DELETE FROM ${this.#table} WHERE meeting_id = $1 AND id = $2 AND session = $3 AND datacenter = $4`,
      [meetingId, participantId, of.session, of.datacenter],
    );
    return (rowCount ?? 0) > 0;
  }

  async countParticipants(): Promise<AdmittedCount[]> {
    return (await this.#query<CountRow>('count participants', `SELECT datacenter, meeting_id, COUNT(*) AS participants FROM ${this.#table} GROUP BY datacenter, meeting_id`)).rows.map(rowToCount);
  }

  async listParticipantsAt(datacenter: string): Promise<Participant[]> {
    return (await this.#query<ParticipantRow>(`list participants admitted at ${datacenter}`, `SELECT * FROM ${this.#table} WHERE datacenter = $1 ORDER BY meeting_id, id`, [datacenter])).rows.map(
      rowToParticipant,
    );
  }

  async removeParticipantsAt(datacenter: string): Promise<Participant[]> {
    // RETURNING gives rows in no promised order.
    const { rows } = await this.#query<ParticipantRow>(`remove participants admitted at ${datacenter}`, `DELETE FROM ${this.#table} WHERE datacenter = $1 RETURNING *`, [datacenter]);
    return rows.map(rowToParticipant).sort((a, b) => compareStrings(a.meetingId, b.meetingId) || compareStrings(a.id, b.id));
  }

  async listParticipants(meetingId: string): Promise<Participant[]> {
    return (await this.#query<ParticipantRow>(`list participants of meeting ${meetingId}`, `SELECT * FROM ${this.#table} WHERE meeting_id = $1 ORDER BY joined_at, id`, [meetingId])).rows.map(
      rowToParticipant,
    );
  }

  close(): Promise<void> {
    this.#closing ??= this.#pool.end().catch((error: unknown) => {
      throw toStoreError(error, 'close the participant rows', this.#where);
    });
    return this.#closing;
  }

  /** Runs one statement, autocommitted. */
  async #query<R extends pg.QueryResultRow>(what: string, text: string, values: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
    if (this.#closing) throw new GeobridgeError('STORE_UNAVAILABLE', `${what}: the participant rows at ${this.#where} are closed; open them again`);
    return queryOn(this.#pool, (error) => toStoreError(error, what, this.#where))<R>(text, values);
  }
}
