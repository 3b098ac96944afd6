/**
 * PostgreSQL Store adapter on node-postgres, for brokers that share one
 * database. Each call is one autocommitted statement, except the
 * compare-and-set steps (claiming a placement, numbering a manifest), which
 * run in a transaction holding row or table locks, so they are atomic across
 * brokers, not just across calls in this one. The tables live in one schema
 * (`public` by default), the search_path of every pooled connection.
 * See docs/postgres.md.
 */
import pg from 'pg';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import { describeUrl, isForeignKeyViolation, isUnavailable, isUniqueViolation, migrate, openPool, queryOn, transaction, type Migrations, type Query } from '../pg.js';
import { manifestMoved, policyMoved, type AdmittedCount, type Account, type ClaimResult, type ManifestVersion, type Meeting, type MeetingContext, type Participant, type ParticipantSession, type Placement, type SigningKey, type Store } from './store.js';
import { rowToCount, rowToManifest, rowToParticipant, rowToPlacement, type CountRow, type ManifestRow, type ParticipantRow, type PlacementRow } from './sql-rows.js';

/** How long to wait for a connection (a new one, or a free one of the pool), and for a statement's answer, before STORE_UNAVAILABLE. */
export { CONNECT_TIMEOUT_MS, QUERY_TIMEOUT_MS } from '../pg.js';

/** The advisory lock migrations run under: 'geobridg' in ASCII, the same for every broker and schema of a database. */
const MIGRATION_LOCK = '7450483627171341415';

/**
 * Schema migrations; entry i takes the schema from version i to i + 1.
 * Append, never edit. COLLATE "C" on the columns that lists sort by, so that
 * PostgreSQL orders them by code point, as SQLite does, whatever the
 * database's locale.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE accounts (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    home_country TEXT NOT NULL,
    plan TEXT,
    allowed_jurisdictions JSONB CHECK (jsonb_typeof(allowed_jurisdictions) = 'array'),
    api_key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT COLLATE "C" NOT NULL
  );
  CREATE TABLE meetings (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    title TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    allowed_jurisdictions JSONB CHECK (jsonb_typeof(allowed_jurisdictions) = 'array'),
    ended_at TEXT,
    ended_reason TEXT
  );
  CREATE INDEX meetings_live ON meetings (created_at, id) WHERE ended_at IS NULL;
  CREATE INDEX meetings_account ON meetings (account_id);
  CREATE TABLE placements (
    meeting_id TEXT COLLATE "C" PRIMARY KEY REFERENCES meetings (id),
    datacenter TEXT NOT NULL,
    epoch INTEGER NOT NULL CHECK (epoch > 0),
    since TEXT NOT NULL
  );
  CREATE TABLE participants (
    meeting_id TEXT COLLATE "C" NOT NULL REFERENCES meetings (id),
    id TEXT COLLATE "C" NOT NULL,
    country TEXT NOT NULL,
    plan TEXT,
    joined_at TEXT COLLATE "C" NOT NULL,
    datacenter TEXT NOT NULL,
    session TEXT NOT NULL,
    PRIMARY KEY (meeting_id, id)
  );
  CREATE INDEX participants_datacenter ON participants (datacenter, meeting_id, id);
  CREATE TABLE manifests (
    version INTEGER PRIMARY KEY CHECK (version > 0),
    text TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL
  );
  CREATE TABLE signing_keys (
    kid TEXT COLLATE "C" PRIMARY KEY,
    public_jwk JSONB NOT NULL CHECK (jsonb_typeof(public_jwk) = 'object'),
    created_at TEXT COLLATE "C" NOT NULL,
    retired_at TEXT,
    revoked_at TEXT
  );
  `,
  // Brokers that share a store each sign with a key of their own (SigningKey.holder).
  `
  ALTER TABLE signing_keys ADD COLUMN holder TEXT;
  `,
  // Account.policyRevision: every change of an account's policy counts up (the row lock orders concurrent changes).
  `
  ALTER TABLE accounts ADD COLUMN policy_revision INTEGER NOT NULL DEFAULT 0 CHECK (policy_revision >= 0);
  `,
  // A discarded (unaudited) manifest keeps its row, so its version number is never given to another text.
  `
  ALTER TABLE manifests ADD COLUMN discarded BOOLEAN NOT NULL DEFAULT false;
  `,
];

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The store's migrations of `schema`: tables found through search_path, versions in schema_migrations. */
function storeMigrations(schema: string): Migrations {
  return {
    lock: MIGRATION_LOCK,
    versionTable: 'schema_migrations',
    steps: MIGRATIONS,
    refuseNewer: (version) => new GeobridgeError('STORE_UNAVAILABLE', `schema ${schema} has store version ${version}, newer than this geobridge supports (${SCHEMA_VERSION}); upgrade geobridge`),
  };
}

interface AccountRow {
  id: string;
  name: string;
  home_country: string;
  plan: string | null;
  allowed_jurisdictions: string[] | null;
  api_key_hash: string;
  created_at: string;
  policy_revision?: number;
}
interface MeetingRow {
  id: string;
  account_id: string;
  title: string;
  created_at: string;
  allowed_jurisdictions: string[] | null;
  ended_at: string | null;
  ended_reason: string | null;
}
interface SigningKeyRow {
  kid: string;
  public_jwk: Record<string, string>;
  created_at: string;
  holder: string | null;
  retired_at: string | null;
  revoked_at: string | null;
}

/** A JSON column's parameter: pg would send a JS array as a PostgreSQL array, not as JSON. */
function jsonParam(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function rowToAccount(r: AccountRow): Account {
  return {
    id: r.id,
    name: r.name,
    homeCountry: r.home_country,
    ...(r.plan === null ? {} : { plan: r.plan }),
    ...(r.allowed_jurisdictions === null ? {} : { allowedJurisdictions: r.allowed_jurisdictions }),
    ...(r.policy_revision ? { policyRevision: r.policy_revision } : {}),
    apiKeyHash: r.api_key_hash,
    createdAt: r.created_at,
  };
}

function rowToMeeting(r: MeetingRow): Meeting {
  return {
    id: r.id,
    accountId: r.account_id,
    title: r.title,
    createdAt: r.created_at,
    ...(r.allowed_jurisdictions === null ? {} : { allowedJurisdictions: r.allowed_jurisdictions }),
    ...(r.ended_at === null ? {} : { endedAt: r.ended_at }),
    ...(r.ended_reason === null ? {} : { endedReason: r.ended_reason }),
  };
}

/** The participant's columns in table order, as statement parameters $1…$7. */
function participantParams(p: Participant): unknown[] {
  return [p.meetingId, p.id, p.country, p.plan ?? null, p.joinedAt, p.datacenter, p.session];
}

function rowToSigningKey(r: SigningKeyRow): SigningKey {
  return {
    kid: r.kid,
    publicJwk: r.public_jwk,
    createdAt: r.created_at,
    ...(r.holder === null ? {} : { holder: r.holder }),
    ...(r.retired_at === null ? {} : { retiredAt: r.retired_at }),
    ...(r.revoked_at === null ? {} : { revokedAt: r.revoked_at }),
  };
}

/** Maps an error pg raised to a STORE_* GeobridgeError; anything else (a bug) passes through. */
function toStoreError(error: unknown, what: string): Error {
  // The message names the constraint, never the values (an API key's hash stays out of logs).
  if (isUniqueViolation(error)) return new GeobridgeError('STORE_CONFLICT', `${what}: already exists (${error.message}); use another id`, { cause: error });
  if (isForeignKeyViolation(error)) return new GeobridgeError('STORE_NOT_FOUND', `${what}: refers to a record that does not exist (${error.detail ?? error.message}); create that first`, { cause: error });
  if (isUnavailable(error)) return unavailable(what, error);
  return error instanceof Error ? error : new Error(String(error));
}

function unavailable(what: string, error: Error): GeobridgeError {
  return new GeobridgeError(
    'STORE_UNAVAILABLE',
    `${what}: PostgreSQL is unavailable (${error.message}); check that the server is up and reachable and that the user may use the database, then retry`,
    { cause: error },
  );
}

/**
 * The startup option that sets the search_path: the schema quoted as an
 * identifier, then spaces and backslashes escaped for the options string
 * (postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-OPTIONS).
 */
function searchPathOption(schema: string): string {
  return `-c search_path=${pg.escapeIdentifier(schema).replace(/[\\\s]/g, '\\$&')}`;
}

/** A Store in one schema of a PostgreSQL database, safe to share between brokers. */
export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  #closing: Promise<void> | undefined;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * Opens the store at `url` (`postgres://user:password@host:port/database`)
   * in `options.schema` (default `public`), creating and migrating it if
   * needed. A statement not answered within `options.queryTimeoutMs` (default
   * QUERY_TIMEOUT_MS; tests make it short) fails with STORE_UNAVAILABLE.
   */
  static async open(url: string, options: { schema?: string; queryTimeoutMs?: number } = {}): Promise<PostgresStore> {
    const schema = options.schema ?? 'public';
    const where = `${describeUrl(url)} (schema ${schema})`;
    // pg lets the URL's own `options` replace the ones given here, which would drop the search_path.
    if (URL.canParse(url) && new URL(url).searchParams.has('options')) {
      throw new GeobridgeError('STORE_UNAVAILABLE', `cannot open the store at ${where}: the URL sets 'options', which would replace the store's search_path; remove it from the URL`);
    }
    const pool = openPool(url, { application_name: 'geobridge', options: searchPathOption(schema) }, options.queryTimeoutMs);
    const what = `open the store at ${where}`;
    try {
      await migrate(pool, schema, storeMigrations(schema), (error) => toStoreError(error, what));
      return new PostgresStore(pool);
    } catch (error) {
      await pool.end().catch(() => undefined);
      if (isGeobridgeError(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new GeobridgeError(
        'STORE_UNAVAILABLE',
        `cannot open the store at ${where}: ${reason}; check that PostgreSQL is running and reachable at that URL, that the database exists, and that the user may create tables in the schema`,
        { cause: error },
      );
    }
  }

  async createAccount(account: Account): Promise<void> {
    await this.#query(
      `create account ${account.id}`,
      'INSERT INTO accounts (id, name, home_country, plan, allowed_jurisdictions, api_key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [account.id, account.name, account.homeCountry, account.plan ?? null, jsonParam(account.allowedJurisdictions), account.apiKeyHash, account.createdAt],
    );
  }

  async getAccount(id: string): Promise<Account | undefined> {
    const [row] = (await this.#query<AccountRow>(`get account ${id}`, 'SELECT * FROM accounts WHERE id = $1', [id])).rows;
    return row && rowToAccount(row);
  }

  async findAccountByApiKeyHash(hash: string): Promise<Account | undefined> {
    const [row] = (await this.#query<AccountRow>('find account by API key hash', 'SELECT * FROM accounts WHERE api_key_hash = $1', [hash])).rows;
    return row && rowToAccount(row);
  }

  async updateAccountPolicy(id: string, policy: { plan?: string; allowedJurisdictions?: readonly string[] }, after?: number): Promise<Account> {
    const [row] = (
      await this.#query<AccountRow>(
        `update policy of account ${id}`,
        'UPDATE accounts SET plan = $2, allowed_jurisdictions = $3, policy_revision = policy_revision + 1 WHERE id = $1 AND ($4::integer IS NULL OR policy_revision = $4) RETURNING *',
        [id, policy.plan ?? null, jsonParam(policy.allowedJurisdictions), after ?? null],
      )
    ).rows;
    if (row) return rowToAccount(row);
    const current = after === undefined ? undefined : await this.getAccount(id);
    if (current) throw policyMoved(id, after ?? 0, current.policyRevision ?? 0);
    throw new GeobridgeError('STORE_NOT_FOUND', `account ${id} does not exist`);
  }

  async listAccounts(): Promise<Account[]> {
    return (await this.#query<AccountRow>('list accounts', 'SELECT * FROM accounts ORDER BY created_at, id')).rows.map(rowToAccount);
  }

  async createMeeting(meeting: Meeting): Promise<void> {
    await this.#query(
      `create meeting ${meeting.id} for account ${meeting.accountId}`,
      'INSERT INTO meetings (id, account_id, title, created_at, allowed_jurisdictions, ended_at, ended_reason) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [meeting.id, meeting.accountId, meeting.title, meeting.createdAt, jsonParam(meeting.allowedJurisdictions), meeting.endedAt ?? null, meeting.endedReason ?? null],
    );
  }

  async getMeeting(id: string): Promise<Meeting | undefined> {
    const [row] = (await this.#query<MeetingRow>(`get meeting ${id}`, 'SELECT * FROM meetings WHERE id = $1', [id])).rows;
    return row && rowToMeeting(row);
  }

  async endMeeting(id: string, at: string, reason: string): Promise<boolean> {
    const what = `end meeting ${id}`;
    // `ended_at IS NULL` keeps the first reason; meetings are never deleted, so the follow-up check is race-free.
    const { rowCount } = await this.#query(what, 'UPDATE meetings SET ended_at = $2, ended_reason = $3 WHERE id = $1 AND ended_at IS NULL', [id, at, reason]);
    if (rowCount === 0 && (await this.#query(what, 'SELECT 1 FROM meetings WHERE id = $1', [id])).rowCount === 0) {
      throw new GeobridgeError('STORE_NOT_FOUND', `meeting ${id} does not exist`);
    }
    return rowCount === 1;
  }

  async listLiveMeetings(): Promise<Meeting[]> {
    return (await this.#query<MeetingRow>('list live meetings', 'SELECT * FROM meetings WHERE ended_at IS NULL ORDER BY created_at, id')).rows.map(rowToMeeting);
  }

  async getPlacement(meetingId: string): Promise<Placement | undefined> {
    const [row] = (await this.#query<PlacementRow>(`get placement of meeting ${meetingId}`, 'SELECT * FROM placements WHERE meeting_id = $1', [meetingId])).rows;
    return row && rowToPlacement(row);
  }

  async getMeetingContext(meetingId: string): Promise<MeetingContext | undefined> {
    // One round trip instead of three: each table's row as JSON, whose values are the columns' (TEXT, INTEGER, JSONB).
    const [row] = (
      await this.#query<{ m: MeetingRow; a: AccountRow | null; p: PlacementRow | null }>(
        `get meeting ${meetingId} with its account and placement`,
        'SELECT row_to_json(m) AS m, row_to_json(a) AS a, row_to_json(p) AS p FROM meetings m LEFT JOIN accounts a ON a.id = m.account_id LEFT JOIN placements p ON p.meeting_id = m.id WHERE m.id = $1',
        [meetingId],
      )
    ).rows;
    return row && { meeting: rowToMeeting(row.m), account: row.a ? rowToAccount(row.a) : undefined, placement: row.p ? rowToPlacement(row.p) : undefined };
  }

  claimPlacement(meetingId: string, datacenter: string, expectedEpoch: number, at: string): Promise<ClaimResult> {
    return this.#transaction(`claim placement of meeting ${meetingId}`, async (query) => {
      // The meeting's row lock queues this meeting's claims, placed or not (NO KEY: inserts that reference the meeting still go ahead).
      if ((await query('SELECT 1 FROM meetings WHERE id = $1 FOR NO KEY UPDATE', [meetingId])).rowCount === 0) {
        throw new GeobridgeError('STORE_NOT_FOUND', `meeting ${meetingId} does not exist`);
      }
      // A new statement, so it sees what the claim before this one committed; FOR UPDATE holds off a release until we commit.
      const [current] = (await query<PlacementRow>('SELECT * FROM placements WHERE meeting_id = $1 FOR UPDATE', [meetingId])).rows;
      if ((current?.epoch ?? 0) !== expectedEpoch) {
        if (!current) throw new GeobridgeError('STORE_CONFLICT', `meeting ${meetingId} is not placed, but the claim expected epoch ${expectedEpoch}`);
        return { won: false, placement: rowToPlacement(current) };
      }
      // The WHERE guard repeats the compare-and-set in SQL, so even without the locks a stale epoch could not overwrite.
      const [written] = (
        await query<PlacementRow>(
          `INSERT INTO placements (meeting_id, datacenter, epoch, since) VALUES ($1, $2, $3, $4)
           ON CONFLICT (meeting_id) DO UPDATE SET datacenter = excluded.datacenter, epoch = excluded.epoch, since = excluded.since
           WHERE placements.epoch = excluded.epoch - 1
           RETURNING *`,
          [meetingId, datacenter, expectedEpoch + 1, at],
        )
      ).rows;
      if (!written) throw new Error(`placement of ${meetingId} changed while this transaction held its locks`);
      return { won: true, placement: rowToPlacement(written) };
    });
  }

  async releasePlacement(meetingId: string, epoch: number): Promise<boolean> {
    const { rowCount } = await this.#query(`release placement of meeting ${meetingId}`, 'DELETE FROM placements WHERE meeting_id = $1 AND epoch = $2', [meetingId, epoch]);
    return (rowCount ?? 0) > 0;
  }

  async listPlacements(): Promise<Placement[]> {
    return (await this.#query<PlacementRow>('list placements', 'SELECT * FROM placements ORDER BY meeting_id')).rows.map(rowToPlacement);
  }

  async addParticipant(participant: Participant): Promise<Participant | undefined> {
    const what = `add participant ${participant.id} to meeting ${participant.meetingId}`;
    const params = participantParams(participant);
    // Replace and read the replaced row in one statement: the subquery locks the row it returns. With no row, insert; if a concurrent
    // add inserted first, replace that one. An unknown meeting fails the INSERT's foreign key: STORE_NOT_FOUND.
    for (;;) {
      const [replaced] = (
        await this.#query<ParticipantRow>(
          what,
          `UPDATE participants p SET country = $3, plan = $4, joined_at = $5, datacenter = $6, session = $7
           FROM (SELECT * FROM participants WHERE meeting_id = $1 AND id = $2 FOR UPDATE) prior
           WHERE p.meeting_id = prior.meeting_id AND p.id = prior.id
           RETURNING prior.*`,
          params,
        )
      ).rows;
      if (replaced) return rowToParticipant(replaced);
      const inserted = await this.#query(
        what,
        `INSERT INTO participants (meeting_id, id, country, plan, joined_at, datacenter, session) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (meeting_id, id) DO NOTHING`,
        params,
      );
      if (inserted.rowCount === 1) return undefined;
    }
  }

  async removeParticipant(meetingId: string, participantId: string, of: ParticipantSession): Promise<boolean> {
    const { rowCount } = await this.#query(
      `remove participant ${participantId} from meeting ${meetingId}`,
      'DELETE FROM participants WHERE meeting_id = $1 AND id = $2 AND session = $3 AND datacenter = $4',
      [meetingId, participantId, of.session, of.datacenter],
    );
    return (rowCount ?? 0) > 0;
  }

  async countParticipants(): Promise<AdmittedCount[]> {
    return (await this.#query<CountRow>('count participants', 'SELECT datacenter, meeting_id, COUNT(*) AS participants FROM participants GROUP BY datacenter, meeting_id')).rows.map(rowToCount);
  }

  async listParticipantsAt(datacenter: string): Promise<Participant[]> {
    return (
      await this.#query<ParticipantRow>(`list participants admitted at ${datacenter}`, 'SELECT * FROM participants WHERE datacenter = $1 ORDER BY meeting_id, id', [datacenter])
    ).rows.map(rowToParticipant);
  }

  async removeParticipantsAt(datacenter: string): Promise<Participant[]> {
    const { rows } = await this.#query<ParticipantRow>(`remove participants admitted at ${datacenter}`, 'DELETE FROM participants WHERE datacenter = $1 RETURNING *', [datacenter]);
    return rows.map(rowToParticipant).sort((a, b) => compareStrings(a.meetingId, b.meetingId) || compareStrings(a.id, b.id));
  }

  async listParticipants(meetingId: string): Promise<Participant[]> {
    return (
      await this.#query<ParticipantRow>(`list participants of meeting ${meetingId}`, 'SELECT * FROM participants WHERE meeting_id = $1 ORDER BY joined_at, id', [meetingId])
    ).rows.map(rowToParticipant);
  }

  saveManifest(text: string, sha256: string, actor: string, at: string, after?: number): Promise<ManifestVersion> {
    return this.#transaction('save manifest', async (query) => {
      // Savers queue on the table lock (readers do not), and the INSERT's snapshot, taken after it, sees the last saver's row: no duplicate, no gap.
      await query('LOCK TABLE manifests IN SHARE ROW EXCLUSIVE MODE');
      if (after !== undefined) {
        const newest = (await query<{ version: number | null }>('SELECT max(version) AS version FROM manifests WHERE NOT discarded')).rows[0]?.version ?? 0;
        if (newest !== after) throw manifestMoved(after, newest);
      }
      const [saved] = (
        await query<ManifestRow>(
          `INSERT INTO manifests (version, text, sha256, created_at, actor)
           SELECT coalesce(max(version), 0) + 1, $1, $2, $3, $4 FROM manifests
           RETURNING version, text, sha256, created_at, actor`,
          [text, sha256, at, actor],
        )
      ).rows;
      if (!saved) throw new Error('INSERT … RETURNING returned no row');
      return rowToManifest(saved);
    });
  }

  async discardManifest(version: number): Promise<boolean> {
    const { rowCount } = await this.#query('discard manifest', 'UPDATE manifests SET discarded = true WHERE version = $1 AND version = (SELECT max(version) FROM manifests WHERE NOT discarded)', [version]);
    return rowCount === 1;
  }

  async latestManifest(): Promise<ManifestVersion | undefined> {
    const [row] = (await this.#query<ManifestRow>('read latest manifest', 'SELECT version, text, sha256, created_at, actor FROM manifests WHERE NOT discarded ORDER BY version DESC LIMIT 1')).rows;
    return row && rowToManifest(row);
  }

  async listManifests(): Promise<ManifestVersion[]> {
    return (await this.#query<ManifestRow>('list manifests', 'SELECT version, text, sha256, created_at, actor FROM manifests WHERE NOT discarded ORDER BY version')).rows.map(rowToManifest);
  }

  async saveSigningKey(key: SigningKey): Promise<void> {
    await this.#query(`save signing key ${key.kid}`, 'INSERT INTO signing_keys (kid, public_jwk, created_at, holder, retired_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      key.kid,
      jsonParam(key.publicJwk),
      key.createdAt,
      key.holder ?? null,
      key.retiredAt ?? null,
      key.revokedAt ?? null,
    ]);
  }

  async retireSigningKeysExcept(kid: string, at: string): Promise<void> {
    const what = `retire signing keys except ${kid}`;
    // An unknown kid would retire every key; refuse rather than leave no active key. Keys are never deleted, so no race.
    if ((await this.#query(what, 'SELECT 1 FROM signing_keys WHERE kid = $1', [kid])).rowCount === 0) {
      throw new GeobridgeError('STORE_NOT_FOUND', `signing key ${kid} does not exist`);
    }
    await this.#query(
      what,
      'UPDATE signing_keys SET retired_at = $2 WHERE kid <> $1 AND retired_at IS NULL AND (holder IS NULL OR holder IS NOT DISTINCT FROM (SELECT holder FROM signing_keys WHERE kid = $1))',
      [kid, at],
    );
  }

  async revokeSigningKey(kid: string, at: string): Promise<void> {
    const { rowCount } = await this.#query(`revoke signing key ${kid}`, 'UPDATE signing_keys SET revoked_at = coalesce(revoked_at, $2) WHERE kid = $1', [kid, at]);
    if (rowCount === 0) throw new GeobridgeError('STORE_NOT_FOUND', `signing key ${kid} does not exist`);
  }

  async listSigningKeys(): Promise<SigningKey[]> {
    return (await this.#query<SigningKeyRow>('list signing keys', 'SELECT * FROM signing_keys ORDER BY created_at DESC, kid')).rows.map(rowToSigningKey);
  }

  close(): Promise<void> {
    this.#closing ??= this.#pool.end().catch((error: unknown) => {
      throw toStoreError(error, 'close the store');
    });
    return this.#closing;
  }

  /** Runs one statement, autocommitted. */
  async #query<R extends pg.QueryResultRow>(what: string, text: string, values: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
    this.#checkOpen(what);
    return queryOn(this.#pool, (error) => toStoreError(error, what))<R>(text, values);
  }

  /** Runs `fn` in a transaction. */
  async #transaction<T>(what: string, fn: (query: Query) => Promise<T>): Promise<T> {
    this.#checkOpen(what);
    return transaction(this.#pool, fn, (error) => toStoreError(error, what));
  }

  #checkOpen(what: string): void {
    if (this.#closing) throw new GeobridgeError('STORE_UNAVAILABLE', `${what}: the store is closed; open it again`);
  }
}
