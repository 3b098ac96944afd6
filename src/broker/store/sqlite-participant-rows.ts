/**
 * Participant rows in a SQLite file (better-sqlite3), as sqlite-store.ts keeps
 * them but without meetings: a record store's file holds its audit log
 * (sqlite-audit-log.ts) and these rows side by side. So the rows keep to a
 * table of their own and version it in a table of their own, never in
 * `PRAGMA user_version`, which is the audit log's. WAL, `synchronous=FULL`
 * and `busy_timeout` as in the store: durable commits, and connections
 * (the audit log's writer thread among them) queue for the write lock.
 */
import Database from 'better-sqlite3';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import type { ParticipantRows } from './participant-rows.js';
import type { AdmittedCount, Participant, ParticipantSession } from './store.js';
import { rowToCount, rowToParticipant, type CountRow, type ParticipantRow } from './sql-rows.js';

/** How long a statement waits for another connection's write lock before failing with STORE_UNAVAILABLE. */
const BUSY_TIMEOUT_MS = 5000;

/** Migrations of the participant_rows table; entry i takes it from version i to i + 1. Append, never edit. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE participant_rows (
    meeting_id TEXT NOT NULL,
    id TEXT NOT NULL,
    country TEXT NOT NULL,
    plan TEXT,
    joined_at TEXT NOT NULL,
    datacenter TEXT NOT NULL,
    session TEXT NOT NULL,
    PRIMARY KEY (meeting_id, id)
  ) STRICT;
  CREATE INDEX participant_rows_datacenter ON participant_rows (datacenter, meeting_id, id);
  `,
];

/** The version of the participant_rows table this code reads and writes. */
export const PARTICIPANT_ROWS_VERSION = MIGRATIONS.length;

function participantToRow(p: Participant): ParticipantRow {
  return { meeting_id: p.meetingId, id: p.id, country: p.country, plan: p.plan ?? null, joined_at: p.joinedAt, datacenter: p.datacenter, session: p.session };
}

/** Brings the table up to PARTICIPANT_ROWS_VERSION; one IMMEDIATE transaction, so concurrent openers migrate once. */
function migrate(db: Database.Database, path: string): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS participant_rows_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT');
    const current = db.prepare<[], { v: number | null }>('SELECT max(version) AS v FROM participant_rows_version').get()?.v ?? 0;
    if (current > PARTICIPANT_ROWS_VERSION) {
      throw new GeobridgeError('STORE_UNAVAILABLE', `the participant rows in '${path}' have version ${current}, newer than this geobridge supports (${PARTICIPANT_ROWS_VERSION}); upgrade geobridge`);
    }
    const record = db.prepare<[number]>("INSERT INTO participant_rows_version (version, applied_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
    for (let v = current; v < PARTICIPANT_ROWS_VERSION; v++) {
      db.exec(MIGRATIONS[v] ?? '');
      record.run(v + 1);
    }
  }).immediate();
}

function prepareStatements(db: Database.Database) {
  return {
    get: db.prepare<[string, string], ParticipantRow>('SELECT * FROM participant_rows WHERE meeting_id = ? AND id = ?'),
    put: db.prepare<ParticipantRow>(
      'INSERT OR REPLACE INTO participant_rows (meeting_id, id, country, plan, joined_at, datacenter, session) VALUES (@meeting_id, @id, @country, @plan, @joined_at, @datacenter, @session)',
    ),
    remove: db.prepare<[string, string, string, string]>('DELETE FROM participant_rows WHERE meeting_id = ? AND id = ? AND session = ? AND datacenter = ?'),
    removeAt: db.prepare<[string], ParticipantRow>('DELETE FROM participant_rows WHERE datacenter = ? RETURNING *'),
    listAt: db.prepare<[string], ParticipantRow>('SELECT * FROM participant_rows WHERE datacenter = ? ORDER BY meeting_id, id'),
    count: db.prepare<[], CountRow>('SELECT datacenter, meeting_id, COUNT(*) AS participants FROM participant_rows GROUP BY datacenter, meeting_id'),
    list: db.prepare<[string], ParticipantRow>('SELECT * FROM participant_rows WHERE meeting_id = ? ORDER BY joined_at, id'),
  };
}

/** SQLite result codes that mean the database, not the request, is the problem. */
const UNAVAILABLE_CODES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_CORRUPT', 'SQLITE_NOTADB'];

/** Maps a better-sqlite3 error to STORE_UNAVAILABLE naming the file; anything else (a bug) passes through. */
function toStoreError(error: unknown, what: string, path: string): Error {
  if (error instanceof Database.SqliteError && UNAVAILABLE_CODES.some((c) => error.code.startsWith(c))) {
    return new GeobridgeError('STORE_UNAVAILABLE', `${what}: the database '${path}' is unavailable (${error.message}); check the disk and that no other process holds it locked`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Participant rows in one SQLite file, safe to share with the file's audit log and with other processes. */
export class SqliteParticipantRows implements ParticipantRows {
  readonly #db: Database.Database;
  readonly #path: string;
  readonly #s: ReturnType<typeof prepareStatements>;
  readonly #add: (participant: Participant) => Participant | undefined;
  #closed = false;

  private constructor(db: Database.Database, path: string) {
    this.#db = db;
    this.#path = path;
    const s = prepareStatements(db);
    this.#s = s;
    // IMMEDIATE: the read of the replaced row and the replace hold the write lock together, across processes too.
    const add = db.transaction((participant: Participant): Participant | undefined => {
      const replaced = s.get.get(participant.meetingId, participant.id);
      s.put.run(participantToRow(participant));
      return replaced && rowToParticipant(replaced);
    });
    this.#add = (participant) => add.immediate(participant);
  }

  /** Opens (creating and migrating if needed) the rows in the file at `path`; `:memory:` gives private in-memory ones. */
  static open(path: string): SqliteParticipantRows {
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      migrate(db, path);
      return new SqliteParticipantRows(db, path);
    } catch (error) {
      db?.close();
      if (isGeobridgeError(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new GeobridgeError(
        'STORE_UNAVAILABLE',
        `cannot open the participant rows at '${path}': ${reason}; check that the --data directory exists and is writable by this user, and that the file is a geobridge SQLite database`,
        { cause: error },
      );
    }
  }

  addParticipant(participant: Participant): Promise<Participant | undefined> {
    return this.#run(`add participant ${participant.id} to meeting ${participant.meetingId}`, () => this.#add(participant));
  }

  removeParticipant(meetingId: string, participantId: string, of: ParticipantSession): Promise<boolean> {
    return this.#run(`remove participant ${participantId} from meeting ${meetingId}`, () => this.#s.remove.run(meetingId, participantId, of.session, of.datacenter).changes > 0);
  }

  countParticipants(): Promise<AdmittedCount[]> {
    return this.#run('count participants', () => this.#s.count.all().map(rowToCount));
  }

  listParticipantsAt(datacenter: string): Promise<Participant[]> {
    return this.#run(`list participants admitted at ${datacenter}`, () => this.#s.listAt.all(datacenter).map(rowToParticipant));
  }

  removeParticipantsAt(datacenter: string): Promise<Participant[]> {
    // RETURNING gives rows in no promised order.
    return this.#run(`remove participants admitted at ${datacenter}`, () =>
      this.#s.removeAt
        .all(datacenter)
        .map(rowToParticipant)
        .sort((a, b) => compareStrings(a.meetingId, b.meetingId) || compareStrings(a.id, b.id)),
    );
  }

  listParticipants(meetingId: string): Promise<Participant[]> {
    return this.#run(`list participants of meeting ${meetingId}`, () => this.#s.list.all(meetingId).map(rowToParticipant));
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return this.#settle('close the participant rows', () => {
      this.#db.close();
    });
  }

  /** Runs one database step on open rows. */
  #run<T>(what: string, fn: () => T): Promise<T> {
    return this.#settle(what, () => {
      if (this.#closed) throw new GeobridgeError('STORE_UNAVAILABLE', `${what}: the participant rows in '${this.#path}' are closed; open them again`);
      return fn();
    });
  }

  /** Runs one synchronous step as a promise, mapping SQLite errors to STORE_UNAVAILABLE. */
  #settle<T>(what: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(toStoreError(error, what, this.#path));
    }
  }
}
