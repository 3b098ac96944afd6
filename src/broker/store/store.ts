/**
 * The broker's storage port. Adapters: memory (tests, demos), SQLite (the
 * embedded default) and PostgreSQL (`serve --store postgres://…`); one contract suite
 * (store-contract.fixture.ts) runs against every adapter. All methods are async so
 * that networked adapters fit the same shape.
 */
import { GeobridgeError } from '../../core/errors.js';

/** An organisation using geobridge; its policy narrows, never widens, the fences. */
export interface Account {
  readonly id: string;
  readonly name: string;
  /** The account's home country (ISO 3166-1 alpha-2): its policy must leave this country's zone a primary. */
  readonly homeCountry: string;
  /** Plan of the manifest its participants are on (e.g. `government`), if any. */
  readonly plan?: string;
  /** Data routing control: the jurisdictions its meetings may use (ISO codes); absent = no narrowing. */
  readonly allowedJurisdictions?: readonly string[];
  /**
   * How many times `updateAccountPolicy` changed the policy (absent: never).
   * Bridges keep a meeting's policy of the highest revision they hear, so
   * changes made at once on two brokers cannot reach a bridge out of order.
   */
  readonly policyRevision?: number;
  /** SHA-256 (hex) of the account's API key; the key itself is shown once and never stored. */
  readonly apiKeyHash: string;
  readonly createdAt: string;
}

/** A meeting, owned by a host account whose policy applies to every participant. */
export interface Meeting {
  readonly id: string;
  readonly accountId: string;
  readonly title: string;
  readonly createdAt: string;
  /** Narrows where this meeting may be held (ISO codes), on top of the host account's policy. */
  readonly allowedJurisdictions?: readonly string[];
  /** Set when the meeting was ended (by its host, or by a policy re-check). */
  readonly endedAt?: string;
  readonly endedReason?: string;
}

/** Where a meeting lives. `epoch` grows with every (re)claim, for compare-and-set. */
export interface Placement {
  readonly meetingId: string;
  readonly datacenter: string;
  readonly epoch: number;
  readonly since: string;
}

/** A participant a bridge admitted into a meeting, kept while it is connected, for policy re-checks. */
export interface Participant {
  readonly id: string;
  readonly meetingId: string;
  readonly country: string;
  readonly plan?: string;
  readonly joinedAt: string;
  /** The datacenter whose bridge admitted it. */
  readonly datacenter: string;
  /** The routing decision its ticket carries: one per admission, so a late departure of an older session removes nothing. */
  readonly session: string;
}

/** How many participants a meeting has admitted at a datacenter. */
export interface AdmittedCount {
  readonly datacenter: string;
  readonly meetingId: string;
  readonly participants: number;
}

/** Sums counts of the same datacenter and meeting (rows of several stores, or one per participant). */
export function mergeCounts(counts: Iterable<AdmittedCount>): AdmittedCount[] {
  const merged = new Map<string, AdmittedCount>();
  for (const c of counts) {
    const key = `${c.datacenter}\u0000${c.meetingId}`;
    merged.set(key, { ...c, participants: (merged.get(key)?.participants ?? 0) + c.participants });
  }
  return [...merged.values()];
}

/** Which admission of a participant: the bridge that admitted it and the decision of its ticket. */
export interface ParticipantSession {
  readonly datacenter: string;
  readonly session: string;
}

/** `saveManifest`'s refusal when the newest stored version is not the one the change was made against. */
export function manifestMoved(after: number, newest: number): GeobridgeError {
  return new GeobridgeError('STORE_CONFLICT', `the newest manifest is version ${String(newest)}, not version ${String(after)}`);
}

/** `updateAccountPolicy`'s refusal when the policy is not at the revision the change was made against. */
export function policyMoved(id: string, after: number, revision: number): GeobridgeError {
  return new GeobridgeError('STORE_CONFLICT', `the policy of account ${id} is at revision ${String(revision)}, not revision ${String(after)}`);
}

/** A manifest accepted by the broker. */
export interface ManifestVersion {
  readonly version: number;
  readonly text: string;
  /** SHA-256 (hex) of `text`. */
  readonly sha256: string;
  readonly createdAt: string;
  readonly actor: string;
}

/**
 * An Ed25519 key the broker signs tickets with: its public half and its
 * life. The private half is never in the store: it is a file in the data
 * directory (signing-key-files.ts), or held in memory.
 */
export interface SigningKey {
  readonly kid: string;
  readonly publicJwk: Readonly<Record<string, string>>;
  readonly createdAt: string;
  /**
   * The broker that holds its private half and signs with it (its data
   * directory's name, signing-key-secrets.ts): brokers that share a store each
   * sign with a key of their own. Absent on keys made before brokers had names.
   */
  readonly holder?: string;
  /** Set when a newer key took over; retired keys still verify tickets in flight. */
  readonly retiredAt?: string;
  /** Set when an operator revoked it: from then on it verifies nothing, ever. */
  readonly revokedAt?: string;
}

/** Result of a placement claim: exactly one of concurrent claimants wins. */
export interface ClaimResult {
  readonly won: boolean;
  /** The placement in force after the claim (the winner's, whoever it is). */
  readonly placement: Placement;
}

/** A meeting, its account (undefined only if the account is gone) and where it is placed (undefined: nowhere yet). */
export interface MeetingContext {
  readonly meeting: Meeting;
  readonly account: Account | undefined;
  readonly placement: Placement | undefined;
}

/** getMeetingContext from the three single reads, for stores whose reads cost no round trip. */
export async function readMeetingContext(store: Pick<Store, 'getMeeting' | 'getAccount' | 'getPlacement'>, meetingId: string): Promise<MeetingContext | undefined> {
  const meeting = await store.getMeeting(meetingId);
  if (!meeting) return undefined;
  const [account, placement] = await Promise.all([store.getAccount(meeting.accountId), store.getPlacement(meetingId)]);
  return { meeting, account, placement };
}

/** The storage port. Errors are thrown as GeobridgeError with code STORE_* (see docs/errors.md). */
export interface Store {
  createAccount(account: Account): Promise<void>;
  getAccount(id: string): Promise<Account | undefined>;
  findAccountByApiKeyHash(hash: string): Promise<Account | undefined>;
  /**
   * Replaces plan and allowed jurisdictions; throws STORE_NOT_FOUND for an
   * unknown id. With `after`, only while the policy is at revision `after`
   * (0: never changed), in the same statement; otherwise STORE_CONFLICT.
   */
  updateAccountPolicy(id: string, policy: { plan?: string; allowedJurisdictions?: readonly string[] }, after?: number): Promise<Account>;
  listAccounts(): Promise<Account[]>;

  createMeeting(meeting: Meeting): Promise<void>;
  getMeeting(id: string): Promise<Meeting | undefined>;
  /** Marks a meeting ended; idempotent (a second call keeps the first time and reason). True when this call ended it. */
  endMeeting(id: string, at: string, reason: string): Promise<boolean>;
  /** Meetings not ended, oldest first. */
  listLiveMeetings(): Promise<Meeting[]>;

  getPlacement(meetingId: string): Promise<Placement | undefined>;
  /** A meeting with its account and its placement, as a route needs them: one read (one round trip on PostgreSQL); undefined for an unknown meeting. */
  getMeetingContext(meetingId: string): Promise<MeetingContext | undefined>;
  /**
   * Atomically places a meeting on `datacenter` if its current epoch is
   * `expectedEpoch` (0 = not placed yet). Of concurrent claims with the same
   * expected epoch exactly one wins; the others get the winner's placement.
   */
  claimPlacement(meetingId: string, datacenter: string, expectedEpoch: number, at: string): Promise<ClaimResult>;
  /** Unplaces a meeting if its placement is still at `epoch` (compare-and-delete); true when it was released. */
  releasePlacement(meetingId: string, epoch: number): Promise<boolean>;
  /** Every placement, by meeting id. */
  listPlacements(): Promise<Placement[]>;

  /** Adds a participant, or replaces it when it is already in the meeting (a reconnect); returns the row it replaced. */
  addParticipant(participant: Participant): Promise<Participant | undefined>;
  /** Removes a participant if its row is still of this session at this datacenter; true when it was removed. */
  removeParticipant(meetingId: string, participantId: string, of: ParticipantSession): Promise<boolean>;
  /** Every participant admitted at `datacenter`, by meeting then id. */
  listParticipantsAt(datacenter: string): Promise<Participant[]>;
  /** Removes every participant admitted at `datacenter` (its bridge is gone, or restarted empty); returns them. */
  removeParticipantsAt(datacenter: string): Promise<Participant[]>;
  listParticipants(meetingId: string): Promise<Participant[]>;
  /** How many participants each meeting has admitted at each datacenter, in no promised order: the console's live overview in one read. */
  countParticipants(): Promise<AdmittedCount[]>;

  /**
   * Stores a manifest as the next version (1, 2, …; never the number of a
   * discarded one, so a version names one text for good) and returns it. With
   * `after`, only if the newest version is `after` (0: none yet), in the same
   * transaction; otherwise STORE_CONFLICT, naming the newest: a change
   * reviewed against one version never lands on top of another.
   */
  saveManifest(text: string, sha256: string, actor: string, at: string, after?: number): Promise<ManifestVersion>;
  /**
   * Takes version `version` out of the history if it is still the newest, and
   * says whether it did: a manifest whose audit record could not be written
   * must come into force nowhere (another broker takes the newest version in
   * the store). Its number stays used: an `ETag` read while it was newest can
   * never match another text saved later.
   */
  discardManifest(version: number): Promise<boolean>;
  latestManifest(): Promise<ManifestVersion | undefined>;
  /** Every manifest ever saved, oldest first: the broker's manifest history (`geobridge manifest log`). */
  listManifests(): Promise<ManifestVersion[]>;

  saveSigningKey(key: SigningKey): Promise<void>;
  /** Marks every other key of the same holder (and every key without one) retired at `at`, keeping them for verification; another broker's keys are left alone. */
  retireSigningKeysExcept(kid: string, at: string): Promise<void>;
  /** Marks a key revoked at `at`; a second call keeps the first time. Throws STORE_NOT_FOUND for an unknown kid. */
  revokeSigningKey(kid: string, at: string): Promise<void>;
  /** All keys, newest first. */
  listSigningKeys(): Promise<SigningKey[]>;

  /** Releases connections and files; idempotent. */
  close(): Promise<void>;
}
