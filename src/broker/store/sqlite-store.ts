/**
 * SQLite Store adapter (the embedded default) on better-sqlite3. WAL lets
 * readers run beside one writer; `synchronous=FULL` makes every commit
 * durable before its promise resolves; `busy_timeout` makes processes sharing
 * the file queue for the write lock instead of failing. Compare-and-set steps
 * run in IMMEDIATE transactions, which take the write lock up front, so they
 * are atomic across processes, not just across calls in this one.
 */
import Database from 'better-sqlite3';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import { type AdmittedCount, type Account, type ClaimResult, type ManifestVersion, type Meeting, type MeetingContext, type Participant, type ParticipantSession, type Placement, type SigningKey, type Store, manifestMoved, policyMoved } from './store.js';
import { rowToCount, rowToManifest, rowToParticipant, rowToPlacement, type CountRow, type ManifestRow, type ParticipantRow, type PlacementRow } from './sql-rows.js';

/** How long a statement waits for another connection's write lock before failing with STORE_UNAVAILABLE. */
const BUSY_TIMEOUT_MS = 5000;

/** Rows of each table kept for repeated reads (a few MB at most). */
const MAX_CACHED_ROWS = 10_000;

/** Schema migrations; entry i takes the database from version i to i + 1. Append, never edit. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    home_country TEXT NOT NULL,
    plan TEXT,
    allowed_jurisdictions TEXT CHECK (allowed_jurisdictions IS NULL OR json_valid(allowed_jurisdictions)),
    api_key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  ) STRICT;
  CREATE TABLE meetings (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    allowed_jurisdictions TEXT CHECK (allowed_jurisdictions IS NULL OR json_valid(allowed_jurisdictions)),
    ended_at TEXT,
    ended_reason TEXT
  ) STRICT;
  CREATE INDEX meetings_live ON meetings (created_at, id) WHERE ended_at IS NULL;
  CREATE INDEX meetings_account ON meetings (account_id);
  CREATE TABLE placements (
    meeting_id TEXT PRIMARY KEY REFERENCES meetings (id),
    datacenter TEXT NOT NULL,
    epoch INTEGER NOT NULL CHECK (epoch > 0),
    since TEXT NOT NULL
  ) STRICT;
  CREATE TABLE participants (
    meeting_id TEXT NOT NULL REFERENCES meetings (id),
    id TEXT NOT NULL,
    country TEXT NOT NULL,
    plan TEXT,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (meeting_id, id)
  ) STRICT;
  CREATE TABLE manifests (
    version INTEGER PRIMARY KEY CHECK (version > 0),
    text TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL
  ) STRICT;
  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    public_jwk TEXT NOT NULL CHECK (json_valid(public_jwk)),
    private_jwk TEXT NOT NULL CHECK (json_valid(private_jwk)),
    created_at TEXT NOT NULL,
    retired_at TEXT
  ) STRICT;
  `,
  // Which bridge admitted each participant, and under which routing decision (its session).
  `
  ALTER TABLE participants ADD COLUMN datacenter TEXT NOT NULL DEFAULT '';
  ALTER TABLE participants ADD COLUMN session TEXT NOT NULL DEFAULT '';
  CREATE INDEX participants_datacenter ON participants (datacenter);
  `,
  // Private keys leave the database for files (signing-key-files.ts): the old table is kept
  // aside only until the broker has moved them (takeLegacySigningSecrets, eraseLegacySigningSecrets).
  `
  ALTER TABLE signing_keys RENAME TO legacy_signing_keys;
  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    public_jwk TEXT NOT NULL CHECK (json_valid(public_jwk)),
    created_at TEXT NOT NULL,
    retired_at TEXT,
    revoked_at TEXT
  ) STRICT;
  INSERT INTO signing_keys (kid, public_jwk, created_at, retired_at) SELECT kid, public_jwk, created_at, retired_at FROM legacy_signing_keys;
  `,
  // Brokers that share a store each sign with a key of their own (SigningKey.holder).
  `
  ALTER TABLE signing_keys ADD COLUMN holder TEXT;
  `,
  // Account.policyRevision: every change of an account's policy counts up.
  `
  ALTER TABLE accounts ADD COLUMN policy_revision INTEGER NOT NULL DEFAULT 0 CHECK (policy_revision >= 0);
  `,
  // A discarded (unaudited) manifest keeps its row, so its version number is never given to another text.
  `
  ALTER TABLE manifests ADD COLUMN discarded INTEGER NOT NULL DEFAULT 0 CHECK (discarded IN (0, 1));
  `,
];

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

interface AccountRow {
  id: string;
  name: string;
  home_country: string;
  plan: string | null;
  allowed_jurisdictions: string | null;
  api_key_hash: string;
  created_at: string;
  policy_revision?: number;
}
interface MeetingRow {
  id: string;
  account_id: string;
  title: string;
  created_at: string;
  allowed_jurisdictions: string | null;
  ended_at: string | null;
  ended_reason: string | null;
}
interface SigningKeyRow {
  kid: string;
  public_jwk: string;
  created_at: string;
  holder: string | null;
  retired_at: string | null;
  revoked_at: string | null;
}

/** A private key an older broker kept in the database, as a JWK. */
export interface LegacySigningSecret {
  readonly kid: string;
  readonly privateJwk: Readonly<Record<string, string>>;
}

function accountToRow(a: Account): AccountRow {
  return {
    id: a.id,
    name: a.name,
    home_country: a.homeCountry,
    plan: a.plan ?? null,
    allowed_jurisdictions: a.allowedJurisdictions === undefined ? null : JSON.stringify(a.allowedJurisdictions),
    api_key_hash: a.apiKeyHash,
    created_at: a.createdAt,
  };
}

function rowToAccount(r: AccountRow): Account {
  return {
    id: r.id,
    name: r.name,
    homeCountry: r.home_country,
    ...(r.plan === null ? {} : { plan: r.plan }),
    ...(r.allowed_jurisdictions === null ? {} : { allowedJurisdictions: JSON.parse(r.allowed_jurisdictions) as string[] }),
    ...(r.policy_revision ? { policyRevision: r.policy_revision } : {}),
    apiKeyHash: r.api_key_hash,
    createdAt: r.created_at,
  };
}

function meetingToRow(m: Meeting): MeetingRow {
  return {
    id: m.id,
    account_id: m.accountId,
    title: m.title,
    created_at: m.createdAt,
    allowed_jurisdictions: m.allowedJurisdictions === undefined ? null : JSON.stringify(m.allowedJurisdictions),
    ended_at: m.endedAt ?? null,
    ended_reason: m.endedReason ?? null,
  };
}

function rowToMeeting(r: MeetingRow): Meeting {
  return {
    id: r.id,
    accountId: r.account_id,
    title: r.title,
    createdAt: r.created_at,
    ...(r.allowed_jurisdictions === null ? {} : { allowedJurisdictions: JSON.parse(r.allowed_jurisdictions) as string[] }),
    ...(r.ended_at === null ? {} : { endedAt: r.ended_at }),
    ...(r.ended_reason === null ? {} : { endedReason: r.ended_reason }),
  };
}

function participantToRow(p: Participant): ParticipantRow {
  return { meeting_id: p.meetingId, id: p.id, country: p.country, plan: p.plan ?? null, joined_at: p.joinedAt, datacenter: p.datacenter, session: p.session };
}

/**
 * The manifest history of a broker's store file, read-only (the broker may be
 * running): never creates the file or migrates it.
 */
export function readManifestHistory(path: string): ManifestVersion[] {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    return db.prepare<[], ManifestRow>('SELECT * FROM manifests ORDER BY version').all().map(rowToManifest);
  } catch (error) {
    throw new GeobridgeError('STORE_UNAVAILABLE', `cannot read the manifests in '${path}': ${error instanceof Error ? error.message : String(error)}; pass --data with the broker's data directory.`, { cause: error });
  } finally {
    db?.close();
  }
}

function signingKeyToRow(k: SigningKey): SigningKeyRow {
  return {
    kid: k.kid,
    public_jwk: JSON.stringify(k.publicJwk),
    created_at: k.createdAt,
    holder: k.holder ?? null,
    retired_at: k.retiredAt ?? null,
    revoked_at: k.revokedAt ?? null,
  };
}

function rowToSigningKey(r: SigningKeyRow): SigningKey {
  return {
    kid: r.kid,
    publicJwk: JSON.parse(r.public_jwk) as Record<string, string>,
    createdAt: r.created_at,
    ...(r.holder === null ? {} : { holder: r.holder }),
    ...(r.retired_at === null ? {} : { retiredAt: r.retired_at }),
    ...(r.revoked_at === null ? {} : { revokedAt: r.revoked_at }),
  };
}

/** Brings the schema up to SCHEMA_VERSION; one IMMEDIATE transaction, so concurrent openers migrate once. */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT');
    const current = db.prepare<[], { v: number | null }>('SELECT max(version) AS v FROM schema_version').get()?.v ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new GeobridgeError('STORE_UNAVAILABLE', `the database has schema version ${current}, newer than this geobridge supports (${SCHEMA_VERSION}); upgrade geobridge`);
    }
    const record = db.prepare<[number]>("INSERT INTO schema_version (version, applied_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
    for (let v = current; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v] ?? '');
      record.run(v + 1);
    }
  }).immediate();
}

/** Every statement the store runs, prepared once per connection. */
function prepareStatements(db: Database.Database) {
  return {
    insertAccount: db.prepare<AccountRow>(
      'INSERT INTO accounts (id, name, home_country, plan, allowed_jurisdictions, api_key_hash, created_at) VALUES (@id, @name, @home_country, @plan, @allowed_jurisdictions, @api_key_hash, @created_at)',
    ),
    // Moves when another connection commits to the file; not for this connection's own writes (sqlite.org/pragma.html#pragma_data_version).
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    getAccount: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE id = ?'),
    findAccountByApiKeyHash: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE api_key_hash = ?'),
    updateAccountPolicy: db.prepare<{ id: string; plan: string | null; allowed_jurisdictions: string | null; after: number | null }, AccountRow>(
      'UPDATE accounts SET plan = @plan, allowed_jurisdictions = @allowed_jurisdictions, policy_revision = policy_revision + 1 WHERE id = @id AND (@after IS NULL OR policy_revision = @after) RETURNING *',
    ),
    listAccounts: db.prepare<[], AccountRow>('SELECT * FROM accounts ORDER BY created_at, id'),
    insertMeeting: db.prepare<MeetingRow>(
      'INSERT INTO meetings (id, account_id, title, created_at, allowed_jurisdictions, ended_at, ended_reason) VALUES (@id, @account_id, @title, @created_at, @allowed_jurisdictions, @ended_at, @ended_reason)',
    ),
    getMeeting: db.prepare<[string], MeetingRow>('SELECT * FROM meetings WHERE id = ?'),
    meetingExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM meetings WHERE id = ?'),
    endMeeting: db.prepare<{ id: string; at: string; reason: string }>(
      'UPDATE meetings SET ended_at = @at, ended_reason = @reason WHERE id = @id AND ended_at IS NULL',
    ),
    listLiveMeetings: db.prepare<[], MeetingRow>('SELECT * FROM meetings WHERE ended_at IS NULL ORDER BY created_at, id'),
    getPlacement: db.prepare<[string], PlacementRow>('SELECT * FROM placements WHERE meeting_id = ?'),
    // The WHERE guard repeats the compare-and-set in SQL, so even outside a transaction a stale epoch cannot overwrite.
    writePlacement: db.prepare<PlacementRow, PlacementRow>(
      `INSERT INTO placements (meeting_id, datacenter, epoch, since) VALUES (@meeting_id, @datacenter, @epoch, @since)
       ON CONFLICT (meeting_id) DO UPDATE SET datacenter = excluded.datacenter, epoch = excluded.epoch, since = excluded.since
       WHERE placements.epoch = excluded.epoch - 1
       RETURNING *`,
    ),
    releasePlacement: db.prepare<[string, number]>('DELETE FROM placements WHERE meeting_id = ? AND epoch = ?'),
    listPlacements: db.prepare<[], PlacementRow>('SELECT * FROM placements ORDER BY meeting_id'),
    getParticipant: db.prepare<[string, string], ParticipantRow>('SELECT * FROM participants WHERE meeting_id = ? AND id = ?'),
    insertParticipant: db.prepare<ParticipantRow>(
      'INSERT OR REPLACE INTO participants (meeting_id, id, country, plan, joined_at, datacenter, session) VALUES (@meeting_id, @id, @country, @plan, @joined_at, @datacenter, @session)',
    ),
    deleteParticipant: db.prepare<[string, string, string, string]>('DELETE FROM participants WHERE meeting_id = ? AND id = ? AND session = ? AND datacenter = ?'),
    deleteParticipantsAt: db.prepare<[string], ParticipantRow>('DELETE FROM participants WHERE datacenter = ? RETURNING *'),
    listParticipantsAt: db.prepare<[string], ParticipantRow>('SELECT * FROM participants WHERE datacenter = ? ORDER BY meeting_id, id'),
    countParticipants: db.prepare<[], CountRow>('SELECT datacenter, meeting_id, COUNT(*) AS participants FROM participants GROUP BY datacenter, meeting_id'),
    listParticipants: db.prepare<[string], ParticipantRow>('SELECT * FROM participants WHERE meeting_id = ? ORDER BY joined_at, id'),
    discardManifest: db.prepare<[number]>('UPDATE manifests SET discarded = 1 WHERE version = ? AND version = (SELECT max(version) FROM manifests WHERE discarded = 0)'),
    insertManifest: db.prepare<Omit<ManifestRow, 'version'>, ManifestRow>(
      `INSERT INTO manifests (version, text, sha256, created_at, actor)
       SELECT coalesce(max(version), 0) + 1, @text, @sha256, @created_at, @actor FROM manifests
       RETURNING *`,
    ),
    latestManifest: db.prepare<[], ManifestRow>('SELECT version, text, sha256, created_at, actor FROM manifests WHERE discarded = 0 ORDER BY version DESC LIMIT 1'),
    listManifests: db.prepare<[], ManifestRow>('SELECT version, text, sha256, created_at, actor FROM manifests WHERE discarded = 0 ORDER BY version'),
    insertSigningKey: db.prepare<SigningKeyRow>(
      'INSERT INTO signing_keys (kid, public_jwk, created_at, holder, retired_at, revoked_at) VALUES (@kid, @public_jwk, @created_at, @holder, @retired_at, @revoked_at)',
    ),
    signingKeyExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM signing_keys WHERE kid = ?'),
    retireSigningKeys: db.prepare<{ kid: string; at: string }>(`UPDATE signing_keys SET retired_at = @at WHERE kid <> @kid AND retired_at IS NULL
       AND (holder IS NULL OR holder IS (SELECT holder FROM signing_keys WHERE kid = @kid))`),
    revokeSigningKey: db.prepare<{ kid: string; at: string }>('UPDATE signing_keys SET revoked_at = coalesce(revoked_at, @at) WHERE kid = @kid'),
    listSigningKeys: db.prepare<[], SigningKeyRow>('SELECT * FROM signing_keys ORDER BY created_at DESC, kid'),
  };
}

/** SQLite result codes that mean the database, not the request, is the problem. */
const UNAVAILABLE_CODES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_CORRUPT', 'SQLITE_NOTADB'];

/** Maps a better-sqlite3 error to a STORE_* GeobridgeError; anything else (a bug) passes through. */
function toStoreError(error: unknown, what: string): Error {
  if (error instanceof Database.SqliteError) {
    const { code } = error;
    if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
      return new GeobridgeError('STORE_CONFLICT', `${what}: already exists (${error.message})`, { cause: error });
    }
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
      return new GeobridgeError('STORE_NOT_FOUND', `${what}: refers to a record that does not exist`, { cause: error });
    }
    if (UNAVAILABLE_CODES.some((c) => code.startsWith(c))) {
      return new GeobridgeError('STORE_UNAVAILABLE', `${what}: the database is unavailable (${error.message}); check the disk and that no other process holds it locked`, {
        cause: error,
      });
    }
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Runs one synchronous database step as a promise, mapping SQLite errors to STORE_* codes. */
function settle<T>(what: string, fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(toStoreError(error, what));
  }
}

/** A Store in one SQLite file, safe to share between processes. */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #s: ReturnType<typeof prepareStatements>;
  readonly #claim: (meetingId: string, datacenter: string, expectedEpoch: number, at: string) => ClaimResult;
  readonly #saveManifest: (row: Omit<ManifestRow, 'version'>, after: number | undefined) => ManifestVersion;
  readonly #addParticipant: (participant: Participant) => Participant | undefined;
  #closed = false;
  /**
   * The rows POST /v1/route reads for every participant (meeting, account,
   * placement), by id; undefined for a row that does not exist. Kept only
   * while `PRAGMA data_version` is unchanged — it moves whenever another
   * connection, in this process or another, commits to the file — and
   * emptied by every write through this connection, so a read never returns
   * a row other than the one the database holds. Rows, not objects: each
   * read still decodes a fresh copy for its caller.
   */
  readonly #accounts = new Map<string, AccountRow | undefined>();
  readonly #meetings = new Map<string, MeetingRow | undefined>();
  readonly #placements = new Map<string, PlacementRow | undefined>();
  #rowsVersion: number | undefined;

  private constructor(db: Database.Database) {
    this.#db = db;
    const s = prepareStatements(db);
    this.#s = s;
    const claim = db.transaction((meetingId: string, datacenter: string, expectedEpoch: number, at: string): ClaimResult => {
      if (!s.meetingExists.get(meetingId)) throw new GeobridgeError('STORE_NOT_FOUND', `meeting ${meetingId} does not exist`);
      const current = s.getPlacement.get(meetingId);
      if ((current?.epoch ?? 0) !== expectedEpoch) {
        if (!current) throw new GeobridgeError('STORE_CONFLICT', `meeting ${meetingId} is not placed, but the claim expected epoch ${expectedEpoch}`);
        return { won: false, placement: rowToPlacement(current) };
      }
      const written = s.writePlacement.get({ meeting_id: meetingId, datacenter, epoch: expectedEpoch + 1, since: at });
      // Unreachable while the IMMEDIATE transaction holds the write lock; kept as a guard, not a code path.
      if (!written) throw new Error(`placement of ${meetingId} changed inside an IMMEDIATE transaction`);
      return { won: true, placement: rowToPlacement(written) };
    });
    this.#claim = (...args) => claim.immediate(...args);
    const saveManifest = db.transaction((row: Omit<ManifestRow, 'version'>, after: number | undefined): ManifestVersion => {
      const newest = s.latestManifest.get()?.version ?? 0;
      if (after !== undefined && after !== newest) throw manifestMoved(after, newest);
      const saved = s.insertManifest.get(row);
      if (!saved) throw new Error('INSERT … RETURNING returned no row');
      return rowToManifest(saved);
    });
    this.#saveManifest = (row, after) => saveManifest.immediate(row, after);
    const addParticipant = db.transaction((participant: Participant): Participant | undefined => {
      if (!s.meetingExists.get(participant.meetingId)) throw new GeobridgeError('STORE_NOT_FOUND', `meeting ${participant.meetingId} does not exist`);
      const replaced = s.getParticipant.get(participant.meetingId, participant.id);
      s.insertParticipant.run(participantToRow(participant));
      return replaced && rowToParticipant(replaced);
    });
    this.#addParticipant = (participant) => addParticipant.immediate(participant);
  }

  /** Opens (creating and migrating if needed) the database at `path`; `:memory:` gives a private in-memory one. */
  static open(path: string): SqliteStore {
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db);
      return new SqliteStore(db);
    } catch (error) {
      db?.close();
      if (isGeobridgeError(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new GeobridgeError(
        'STORE_UNAVAILABLE',
        `cannot open the store at ${path}: ${reason}; check that the --data directory exists and is writable by this user, and that the file is a geobridge SQLite database`,
        { cause: error },
      );
    }
  }

  createAccount(account: Account): Promise<void> {
    return this.#write(`create account ${account.id}`, () => {
      this.#s.insertAccount.run(accountToRow(account));
    });
  }

  getAccount(id: string): Promise<Account | undefined> {
    return this.#run(`get account ${id}`, () => {
      this.#checkCachedRows();
      return this.#account(id);
    });
  }

  findAccountByApiKeyHash(hash: string): Promise<Account | undefined> {
    return this.#run('find account by API key hash', () => {
      const row = this.#s.findAccountByApiKeyHash.get(hash);
      return row && rowToAccount(row);
    });
  }

  updateAccountPolicy(id: string, policy: { plan?: string; allowedJurisdictions?: readonly string[] }, after?: number): Promise<Account> {
    return this.#write(`update policy of account ${id}`, () => {
      const row = this.#s.updateAccountPolicy.get({
        id,
        plan: policy.plan ?? null,
        allowed_jurisdictions: policy.allowedJurisdictions === undefined ? null : JSON.stringify(policy.allowedJurisdictions),
        after: after ?? null,
      });
      if (row) return rowToAccount(row);
      const current = this.#s.getAccount.get(id);
      if (current && after !== undefined) throw policyMoved(id, after, current.policy_revision ?? 0);
      throw new GeobridgeError('STORE_NOT_FOUND', `account ${id} does not exist`);
    });
  }

  listAccounts(): Promise<Account[]> {
    return this.#run('list accounts', () => this.#s.listAccounts.all().map(rowToAccount));
  }

  createMeeting(meeting: Meeting): Promise<void> {
    return this.#write(`create meeting ${meeting.id} for account ${meeting.accountId}`, () => {
      this.#s.insertMeeting.run(meetingToRow(meeting));
    });
  }

  getMeeting(id: string): Promise<Meeting | undefined> {
    return this.#run(`get meeting ${id}`, () => {
      this.#checkCachedRows();
      return this.#meeting(id);
    });
  }

  endMeeting(id: string, at: string, reason: string): Promise<boolean> {
    return this.#write(`end meeting ${id}`, () => {
      // `ended_at IS NULL` in the UPDATE keeps the first reason; meetings are never deleted, so the follow-up check is race-free.
      const { changes } = this.#s.endMeeting.run({ id, at, reason });
      if (changes === 0 && !this.#s.meetingExists.get(id)) throw new GeobridgeError('STORE_NOT_FOUND', `meeting ${id} does not exist`);
      return changes === 1;
    });
  }

  listLiveMeetings(): Promise<Meeting[]> {
    return this.#run('list live meetings', () => this.#s.listLiveMeetings.all().map(rowToMeeting));
  }

  getPlacement(meetingId: string): Promise<Placement | undefined> {
    return this.#run(`get placement of meeting ${meetingId}`, () => {
      this.#checkCachedRows();
      return this.#placement(meetingId);
    });
  }

  getMeetingContext(meetingId: string): Promise<MeetingContext | undefined> {
    return this.#run(`get meeting ${meetingId} with its account and placement`, () => {
      // One check of the database's version for the three rows (it is most of a cached read's cost).
      this.#checkCachedRows();
      const meeting = this.#meeting(meetingId);
      return meeting && { meeting, account: this.#account(meeting.accountId), placement: this.#placement(meetingId) };
    });
  }

  claimPlacement(meetingId: string, datacenter: string, expectedEpoch: number, at: string): Promise<ClaimResult> {
    return this.#write(`claim placement of meeting ${meetingId}`, () => this.#claim(meetingId, datacenter, expectedEpoch, at));
  }

  releasePlacement(meetingId: string, epoch: number): Promise<boolean> {
    return this.#write(`release placement of meeting ${meetingId}`, () => this.#s.releasePlacement.run(meetingId, epoch).changes > 0);
  }

  listPlacements(): Promise<Placement[]> {
    return this.#run('list placements', () => this.#s.listPlacements.all().map(rowToPlacement));
  }

  addParticipant(participant: Participant): Promise<Participant | undefined> {
    return this.#write(`add participant ${participant.id} to meeting ${participant.meetingId}`, () => this.#addParticipant(participant));
  }

  countParticipants(): Promise<AdmittedCount[]> {
    return this.#run('count participants', () => this.#s.countParticipants.all().map(rowToCount));
  }

  listParticipantsAt(datacenter: string): Promise<Participant[]> {
    return this.#run(`list participants admitted at ${datacenter}`, () => this.#s.listParticipantsAt.all(datacenter).map(rowToParticipant));
  }

  removeParticipantsAt(datacenter: string): Promise<Participant[]> {
    return this.#write(`remove participants admitted at ${datacenter}`, () =>
      this.#s.deleteParticipantsAt
        .all(datacenter)
        .map(rowToParticipant)
        .sort((a, b) => compareStrings(a.meetingId, b.meetingId) || compareStrings(a.id, b.id)),
    );
  }

  removeParticipant(meetingId: string, participantId: string, of: ParticipantSession): Promise<boolean> {
    return this.#write(`remove participant ${participantId} from meeting ${meetingId}`, () => this.#s.deleteParticipant.run(meetingId, participantId, of.session, of.datacenter).changes > 0);
  }

  listParticipants(meetingId: string): Promise<Participant[]> {
    return this.#run(`list participants of meeting ${meetingId}`, () => this.#s.listParticipants.all(meetingId).map(rowToParticipant));
  }

  saveManifest(text: string, sha256: string, actor: string, at: string, after?: number): Promise<ManifestVersion> {
    return this.#write('save manifest', () => this.#saveManifest({ text, sha256, created_at: at, actor }, after));
  }

  discardManifest(version: number): Promise<boolean> {
    return this.#write(`discard manifest version ${String(version)}`, () => this.#s.discardManifest.run(version).changes === 1);
  }

  latestManifest(): Promise<ManifestVersion | undefined> {
    return this.#run('read latest manifest', () => {
      const row = this.#s.latestManifest.get();
      return row && rowToManifest(row);
    });
  }

  listManifests(): Promise<ManifestVersion[]> {
    return this.#run('list manifests', () => this.#s.listManifests.all().map(rowToManifest));
  }

  saveSigningKey(key: SigningKey): Promise<void> {
    return this.#write(`save signing key ${key.kid}`, () => {
      this.#s.insertSigningKey.run(signingKeyToRow(key));
    });
  }

  retireSigningKeysExcept(kid: string, at: string): Promise<void> {
    return this.#write(`retire signing keys except ${kid}`, () => {
      // An unknown kid would retire every key; refuse rather than leave no active key. Keys are never deleted, so no race.
      if (!this.#s.signingKeyExists.get(kid)) throw new GeobridgeError('STORE_NOT_FOUND', `signing key ${kid} does not exist`);
      this.#s.retireSigningKeys.run({ kid, at });
    });
  }

  revokeSigningKey(kid: string, at: string): Promise<void> {
    return this.#write(`revoke signing key ${kid}`, () => {
      if (this.#s.revokeSigningKey.run({ kid, at }).changes === 0) throw new GeobridgeError('STORE_NOT_FOUND', `signing key ${kid} does not exist`);
    });
  }

  listSigningKeys(): Promise<SigningKey[]> {
    return this.#run('list signing keys', () => this.#s.listSigningKeys.all().map(rowToSigningKey));
  }

  /** The private keys an older broker kept in this database, until `eraseLegacySigningSecrets` (SQLite only: the port never held them). */
  takeLegacySigningSecrets(): Promise<LegacySigningSecret[]> {
    return this.#run('read the private keys an older broker kept in the database', () => {
      if (!this.#hasLegacySigningKeys()) return [];
      const rows = this.#db.prepare<[], { kid: string; private_jwk: string }>('SELECT kid, private_jwk FROM legacy_signing_keys ORDER BY kid').all();
      return rows.map((r) => ({ kid: r.kid, privateJwk: JSON.parse(r.private_jwk) as Record<string, string> }));
    });
  }

  /**
   * Erases the private keys an older broker kept here, so that the files
   * hold no copy: deleted with `secure_delete` (their bytes zeroed), the
   * database rebuilt (VACUUM: no stale copy in free space), and the WAL
   * checkpointed and truncated (no old frame keeps them). Throws
   * STORE_UNAVAILABLE if another connection keeps the WAL from being
   * truncated; the next start tries again.
   */
  eraseLegacySigningSecrets(): Promise<void> {
    return this.#write('erase the private keys an older broker kept in the database', () => {
      if (!this.#hasLegacySigningKeys()) return;
      const before = Number(this.#db.pragma('secure_delete', { simple: true }));
      this.#db.pragma('secure_delete = ON');
      this.#db.exec('DELETE FROM legacy_signing_keys');
      this.#db.exec('VACUUM');
      this.#db.pragma(`secure_delete = ${before}`);
      const [checkpoint] = this.#db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (checkpoint?.busy !== 0) {
        throw new GeobridgeError('STORE_UNAVAILABLE', "the private keys an older broker kept in broker.sqlite are deleted, but another process holds the database open and old copies may remain in broker.sqlite-wal: stop every other process using the data directory and start the broker again");
      }
      // Only now: the table is the sign that the erasure is not complete.
      this.#db.exec('DROP TABLE legacy_signing_keys');
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    });
  }

  #hasLegacySigningKeys(): boolean {
    return this.#db.prepare<[], { one: number }>("SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = 'legacy_signing_keys'").get() !== undefined;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return settle('close the store', () => {
      this.#db.close();
    });
  }

  /** Runs one database step on an open store. */
  #run<T>(what: string, fn: () => T): Promise<T> {
    return settle(what, () => {
      if (this.#closed) throw new GeobridgeError('STORE_UNAVAILABLE', `${what}: the store is closed; open it again`);
      return fn();
    });
  }

  /** Runs a step that writes: cached rows are dropped, whether it commits or fails. */
  #write<T>(what: string, fn: () => T): Promise<T> {
    return this.#run(what, () => {
      try {
        return fn();
      } finally {
        this.#dropCachedRows();
      }
    });
  }

  #account(id: string): Account | undefined {
    const row = this.#cached(this.#accounts, id, () => this.#s.getAccount.get(id));
    return row && rowToAccount(row);
  }

  #meeting(id: string): Meeting | undefined {
    const row = this.#cached(this.#meetings, id, () => this.#s.getMeeting.get(id));
    return row && rowToMeeting(row);
  }

  #placement(meetingId: string): Placement | undefined {
    const row = this.#cached(this.#placements, meetingId, () => this.#s.getPlacement.get(meetingId));
    return row && rowToPlacement(row);
  }

  /** Drops the cached rows if another connection (another process) has written the database since they were read. */
  #checkCachedRows(): void {
    const version = this.#s.dataVersion.get();
    if (version !== this.#rowsVersion) {
      this.#dropCachedRows();
      this.#rowsVersion = version;
    }
  }

  /** The row `read` gives for `id`, from `cache` (call #checkCachedRows first, in the same synchronous step). */
  #cached<Row>(cache: Map<string, Row | undefined>, id: string, read: () => Row | undefined): Row | undefined {
    if (cache.has(id)) return cache.get(id);
    const row = read();
    // Bounded: a busy broker re-reads after a clear, nothing worse.
    if (cache.size >= MAX_CACHED_ROWS) cache.clear();
    cache.set(id, row);
    return row;
  }

  #dropCachedRows(): void {
    this.#accounts.clear();
    this.#meetings.clear();
    this.#placements.clear();
  }
}
