/**
 * In-memory Store adapter for tests and demos. State lives in Maps; every
 * object is copied on the way in and out, so callers never share state with
 * the store. One process, one event loop: each method runs to completion
 * before the next starts, which makes `claimPlacement` atomic without locks.
 */
import { GeobridgeError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import { mergeCounts, readMeetingContext, type AdmittedCount, type Account, type ClaimResult, type ManifestVersion, type Meeting, type MeetingContext, type Participant, type ParticipantSession, type Placement, type SigningKey, type Store, manifestMoved, policyMoved } from './store.js';

/** Copies an account, dropping absent optional fields (the same shape SQLite returns). */
function copyAccount(a: Account): Account {
  return {
    id: a.id,
    name: a.name,
    homeCountry: a.homeCountry,
    ...(a.plan === undefined ? {} : { plan: a.plan }),
    ...(a.allowedJurisdictions === undefined ? {} : { allowedJurisdictions: [...a.allowedJurisdictions] }),
    ...(a.policyRevision === undefined ? {} : { policyRevision: a.policyRevision }),
    apiKeyHash: a.apiKeyHash,
    createdAt: a.createdAt,
  };
}

function copyMeeting(m: Meeting): Meeting {
  return {
    id: m.id,
    accountId: m.accountId,
    title: m.title,
    createdAt: m.createdAt,
    ...(m.allowedJurisdictions === undefined ? {} : { allowedJurisdictions: [...m.allowedJurisdictions] }),
    ...(m.endedAt === undefined ? {} : { endedAt: m.endedAt }),
    ...(m.endedReason === undefined ? {} : { endedReason: m.endedReason }),
  };
}

function copyParticipant(p: Participant): Participant {
  return {
    id: p.id,
    meetingId: p.meetingId,
    country: p.country,
    ...(p.plan === undefined ? {} : { plan: p.plan }),
    joinedAt: p.joinedAt,
    datacenter: p.datacenter,
    session: p.session,
  };
}

function copySigningKey(k: SigningKey): SigningKey {
  return {
    kid: k.kid,
    publicJwk: { ...k.publicJwk },
    createdAt: k.createdAt,
    ...(k.holder === undefined ? {} : { holder: k.holder }),
    ...(k.retiredAt === undefined ? {} : { retiredAt: k.retiredAt }),
    ...(k.revokedAt === undefined ? {} : { revokedAt: k.revokedAt }),
  };
}

/** Runs `fn` and turns its result or throw into a promise, so callers always get a rejection, never a sync throw. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** A Store kept in process memory; nothing survives `close()`. */
export class MemoryStore implements Store {
  readonly #accounts = new Map<string, Account>();
  readonly #meetings = new Map<string, Meeting>();
  readonly #placements = new Map<string, Placement>();
  /** meetingId → participantId → participant. */
  readonly #participants = new Map<string, Map<string, Participant>>();
  readonly #manifests: ManifestVersion[] = [];
  /** The highest version ever saved, discarded ones included: a number is never given to another text. */
  #lastManifestVersion = 0;
  readonly #signingKeys = new Map<string, SigningKey>();
  #closed = false;

  createAccount(account: Account): Promise<void> {
    return this.#run(() => {
      if (this.#accounts.has(account.id)) throw new GeobridgeError('STORE_CONFLICT', `account ${account.id} already exists`);
      for (const other of this.#accounts.values()) {
        if (other.apiKeyHash === account.apiKeyHash) throw new GeobridgeError('STORE_CONFLICT', `another account already has this API key hash`);
      }
      this.#accounts.set(account.id, copyAccount(account));
    });
  }

  getAccount(id: string): Promise<Account | undefined> {
    return this.#run(() => {
      const a = this.#accounts.get(id);
      return a && copyAccount(a);
    });
  }

  findAccountByApiKeyHash(hash: string): Promise<Account | undefined> {
    return this.#run(() => {
      for (const a of this.#accounts.values()) if (a.apiKeyHash === hash) return copyAccount(a);
      return undefined;
    });
  }

  updateAccountPolicy(id: string, policy: { plan?: string; allowedJurisdictions?: readonly string[] }, after?: number): Promise<Account> {
    return this.#run(() => {
      const current = this.#accounts.get(id);
      if (!current) throw new GeobridgeError('STORE_NOT_FOUND', `account ${id} does not exist`);
      if (after !== undefined && after !== (current.policyRevision ?? 0)) throw policyMoved(id, after, current.policyRevision ?? 0);
      // Replace, not merge: a field absent from `policy` is cleared.
      const next = copyAccount({
        id: current.id,
        name: current.name,
        homeCountry: current.homeCountry,
        ...(policy.plan === undefined ? {} : { plan: policy.plan }),
        ...(policy.allowedJurisdictions === undefined ? {} : { allowedJurisdictions: policy.allowedJurisdictions }),
        policyRevision: (current.policyRevision ?? 0) + 1,
        apiKeyHash: current.apiKeyHash,
        createdAt: current.createdAt,
      });
      this.#accounts.set(id, next);
      return copyAccount(next);
    });
  }

  listAccounts(): Promise<Account[]> {
    return this.#run(() => [...this.#accounts.values()].sort((a, b) => compareStrings(a.createdAt, b.createdAt) || compareStrings(a.id, b.id)).map(copyAccount));
  }

  createMeeting(meeting: Meeting): Promise<void> {
    return this.#run(() => {
      if (this.#meetings.has(meeting.id)) throw new GeobridgeError('STORE_CONFLICT', `meeting ${meeting.id} already exists`);
      if (!this.#accounts.has(meeting.accountId)) throw new GeobridgeError('STORE_NOT_FOUND', `account ${meeting.accountId} does not exist`);
      this.#meetings.set(meeting.id, copyMeeting(meeting));
    });
  }

  getMeeting(id: string): Promise<Meeting | undefined> {
    return this.#run(() => {
      const m = this.#meetings.get(id);
      return m && copyMeeting(m);
    });
  }

  endMeeting(id: string, at: string, reason: string): Promise<boolean> {
    return this.#run(() => {
      const m = this.#meetings.get(id);
      if (!m) throw new GeobridgeError('STORE_NOT_FOUND', `meeting ${id} does not exist`);
      if (m.endedAt !== undefined) return false;
      this.#meetings.set(id, { ...m, endedAt: at, endedReason: reason });
      return true;
    });
  }

  listLiveMeetings(): Promise<Meeting[]> {
    return this.#run(() =>
      [...this.#meetings.values()]
        .filter((m) => m.endedAt === undefined)
        .sort((a, b) => compareStrings(a.createdAt, b.createdAt) || compareStrings(a.id, b.id))
        .map(copyMeeting),
    );
  }

  getPlacement(meetingId: string): Promise<Placement | undefined> {
    return this.#run(() => {
      const p = this.#placements.get(meetingId);
      return p && { ...p };
    });
  }

  getMeetingContext(meetingId: string): Promise<MeetingContext | undefined> {
    return readMeetingContext(this, meetingId);
  }

  claimPlacement(meetingId: string, datacenter: string, expectedEpoch: number, at: string): Promise<ClaimResult> {
    return this.#run(() => {
      if (!this.#meetings.has(meetingId)) throw new GeobridgeError('STORE_NOT_FOUND', `meeting ${meetingId} does not exist`);
      const current = this.#placements.get(meetingId);
      if ((current?.epoch ?? 0) !== expectedEpoch) {
        if (!current) throw new GeobridgeError('STORE_CONFLICT', `meeting ${meetingId} is not placed, but the claim expected epoch ${expectedEpoch}`);
        return { won: false, placement: { ...current } };
      }
      const placement: Placement = { meetingId, datacenter, epoch: expectedEpoch + 1, since: at };
      this.#placements.set(meetingId, placement);
      return { won: true, placement: { ...placement } };
    });
  }

  releasePlacement(meetingId: string, epoch: number): Promise<boolean> {
    return this.#run(() => this.#placements.get(meetingId)?.epoch === epoch && this.#placements.delete(meetingId));
  }

  listPlacements(): Promise<Placement[]> {
    return this.#run(() => [...this.#placements.values()].sort((a, b) => compareStrings(a.meetingId, b.meetingId)).map((p) => ({ ...p })));
  }

  addParticipant(participant: Participant): Promise<Participant | undefined> {
    return this.#run(() => {
      if (!this.#meetings.has(participant.meetingId)) throw new GeobridgeError('STORE_NOT_FOUND', `meeting ${participant.meetingId} does not exist`);
      let inMeeting = this.#participants.get(participant.meetingId);
      if (!inMeeting) {
        inMeeting = new Map();
        this.#participants.set(participant.meetingId, inMeeting);
      }
      const replaced = inMeeting.get(participant.id);
      inMeeting.set(participant.id, copyParticipant(participant));
      return replaced;
    });
  }

  removeParticipant(meetingId: string, participantId: string, of: ParticipantSession): Promise<boolean> {
    return this.#run(() => {
      const inMeeting = this.#participants.get(meetingId);
      const row = inMeeting?.get(participantId);
      return row?.session === of.session && row.datacenter === of.datacenter && inMeeting !== undefined && inMeeting.delete(participantId);
    });
  }

  countParticipants(): Promise<AdmittedCount[]> {
    return this.#run(() => mergeCounts([...this.#participants.values()].flatMap((inMeeting) => [...inMeeting.values()].map((p) => ({ datacenter: p.datacenter, meetingId: p.meetingId, participants: 1 })))));
  }

  listParticipantsAt(datacenter: string): Promise<Participant[]> {
    return this.#run(() =>
      [...this.#participants.values()]
        .flatMap((inMeeting) => [...inMeeting.values()].filter((p) => p.datacenter === datacenter))
        .sort((a, b) => compareStrings(a.meetingId, b.meetingId) || compareStrings(a.id, b.id))
        .map(copyParticipant),
    );
  }

  removeParticipantsAt(datacenter: string): Promise<Participant[]> {
    return this.#run(() => {
      const removed: Participant[] = [];
      for (const inMeeting of this.#participants.values()) {
        for (const [id, p] of inMeeting) {
          if (p.datacenter !== datacenter) continue;
          inMeeting.delete(id);
          removed.push(p);
        }
      }
      return removed.sort((a, b) => compareStrings(a.meetingId, b.meetingId) || compareStrings(a.id, b.id));
    });
  }

  listParticipants(meetingId: string): Promise<Participant[]> {
    return this.#run(() =>
      [...(this.#participants.get(meetingId)?.values() ?? [])]
        .sort((a, b) => compareStrings(a.joinedAt, b.joinedAt) || compareStrings(a.id, b.id))
        .map(copyParticipant),
    );
  }

  saveManifest(text: string, sha256: string, actor: string, at: string, after?: number): Promise<ManifestVersion> {
    return this.#run(() => {
      const newest = this.#manifests.at(-1)?.version ?? 0;
      if (after !== undefined && after !== newest) throw manifestMoved(after, newest);
      const saved: ManifestVersion = { version: ++this.#lastManifestVersion, text, sha256, createdAt: at, actor };
      this.#manifests.push(saved);
      return { ...saved };
    });
  }

  discardManifest(version: number): Promise<boolean> {
    return this.#run(() => {
      if (this.#manifests.at(-1)?.version !== version) return false;
      this.#manifests.pop();
      return true;
    });
  }

  latestManifest(): Promise<ManifestVersion | undefined> {
    return this.#run(() => {
      const last = this.#manifests.at(-1);
      return last && { ...last };
    });
  }

  listManifests(): Promise<ManifestVersion[]> {
    return this.#run(() => this.#manifests.map((m) => ({ ...m })));
  }

  saveSigningKey(key: SigningKey): Promise<void> {
    return this.#run(() => {
      if (this.#signingKeys.has(key.kid)) throw new GeobridgeError('STORE_CONFLICT', `signing key ${key.kid} already exists`);
      this.#signingKeys.set(key.kid, copySigningKey(key));
    });
  }

  retireSigningKeysExcept(kid: string, at: string): Promise<void> {
    return this.#run(() => {
      // An unknown kid would retire every key; refuse rather than leave no active key.
      const kept = this.#signingKeys.get(kid);
      if (!kept) throw new GeobridgeError('STORE_NOT_FOUND', `signing key ${kid} does not exist`);
      for (const [k, key] of this.#signingKeys) {
        const sameHolder = key.holder === undefined || key.holder === kept.holder;
        if (k !== kid && sameHolder && key.retiredAt === undefined) this.#signingKeys.set(k, { ...key, retiredAt: at });
      }
    });
  }

  revokeSigningKey(kid: string, at: string): Promise<void> {
    return this.#run(() => {
      const key = this.#signingKeys.get(kid);
      if (!key) throw new GeobridgeError('STORE_NOT_FOUND', `signing key ${kid} does not exist`);
      if (key.revokedAt === undefined) this.#signingKeys.set(kid, { ...key, revokedAt: at });
    });
  }

  listSigningKeys(): Promise<SigningKey[]> {
    return this.#run(() => [...this.#signingKeys.values()].sort((a, b) => compareStrings(b.createdAt, a.createdAt) || compareStrings(a.kid, b.kid)).map(copySigningKey));
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #run<T>(fn: () => T): Promise<T> {
    return settle(() => {
      if (this.#closed) throw new GeobridgeError('STORE_UNAVAILABLE', 'the store is closed; open a new one');
      return fn();
    });
  }
}
