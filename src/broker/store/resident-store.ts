/**
 * The store with control-plane residency for participant rows: when the
 * manifest declares record stores, the row the broker keeps for each
 * connected participant (country, datacenter, session) is written to their
 * record store's database, as their audit records are (record-logs.ts),
 * never to the broker's own. Everything else (accounts, meetings,
 * placements, manifests, keys) stays in the broker's own store. Reads of
 * participant rows gather every store's: a meeting's participants may live
 * in several regions.
 */
import { GeobridgeError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import type { ParticipantRows } from './participant-rows.js';
import { mergeCounts, type AdmittedCount, type ClaimResult, type Participant, type ParticipantSession, type Store } from './store.js';

/** Which record store holds a participant's row; undefined: the broker's own store (no stores declared). Throws rather than guess. */
export type RowPlacement = (participant: Participant) => Promise<string | undefined>;

export class ResidentStore implements Store {
  readonly #own: Store;
  readonly #regions: ReadonlyMap<string, ParticipantRows>;
  readonly #placeRow: RowPlacement;

  constructor(own: Store, regions: ReadonlyMap<string, ParticipantRows>, placeRow: RowPlacement) {
    this.#own = own;
    this.#regions = regions;
    this.#placeRow = placeRow;
  }

  // Participant rows: written where they belong, read from everywhere they may be.

  async addParticipant(participant: Participant): Promise<Participant | undefined> {
    const region = await this.#placeRow(participant);
    const target = region === undefined ? this.#own : this.#regions.get(region);
    if (target === undefined) throw new GeobridgeError('STORE_UNAVAILABLE', `participant rows belong in record store '${region ?? ''}', which has no database on this broker.`);
    // A record store holds rows, not meetings: the broker's own store says whether the meeting exists.
    if (target !== this.#own && !(await this.#own.getMeeting(participant.meetingId))) throw new GeobridgeError('STORE_NOT_FOUND', `meeting ${participant.meetingId} does not exist`);
    const replaced = await target.addParticipant(participant);
    // A row kept elsewhere before (the manifest moved this participant's store since) is the one replaced.
    const elsewhere = await this.#each(async (store) => {
      if (store === target) return undefined;
      const row = (await store.listParticipants(participant.meetingId)).find((p) => p.id === participant.id);
      return row && (await store.removeParticipant(row.meetingId, row.id, row)) ? row : undefined;
    });
    return replaced ?? elsewhere.find((row) => row !== undefined);
  }

  async removeParticipant(meetingId: string, participantId: string, of: ParticipantSession): Promise<boolean> {
    return (await this.#each((s) => s.removeParticipant(meetingId, participantId, of))).some(Boolean);
  }

  async countParticipants(): Promise<AdmittedCount[]> {
    return mergeCounts((await this.#each((s) => s.countParticipants())).flat());
  }

  async listParticipantsAt(datacenter: string): Promise<Participant[]> {
    return byMeetingThenId((await this.#each((s) => s.listParticipantsAt(datacenter))).flat());
  }

  async removeParticipantsAt(datacenter: string): Promise<Participant[]> {
    return byMeetingThenId((await this.#each((s) => s.removeParticipantsAt(datacenter))).flat());
  }

  async listParticipants(meetingId: string): Promise<Participant[]> {
    return (await this.#each((s) => s.listParticipants(meetingId))).flat().sort((a, b) => compareStrings(a.joinedAt, b.joinedAt) || compareStrings(a.id, b.id));
  }

  async close(): Promise<void> {
    await this.#each((s) => s.close());
  }

  /** Runs `op` on the broker's own store and every record store's, side by side. */
  #each<T>(op: (store: ParticipantRows) => Promise<T>): Promise<T[]> {
    return Promise.all([this.#own, ...this.#regions.values()].map(op));
  }

  // The rest is the broker's own.

  createAccount: Store['createAccount'] = (account) => this.#own.createAccount(account);
  getAccount: Store['getAccount'] = (id) => this.#own.getAccount(id);
  findAccountByApiKeyHash: Store['findAccountByApiKeyHash'] = (hash) => this.#own.findAccountByApiKeyHash(hash);
  updateAccountPolicy: Store['updateAccountPolicy'] = (id, policy, after) => this.#own.updateAccountPolicy(id, policy, after);
  listAccounts: Store['listAccounts'] = () => this.#own.listAccounts();
  createMeeting: Store['createMeeting'] = (meeting) => this.#own.createMeeting(meeting);
  getMeeting: Store['getMeeting'] = (id) => this.#own.getMeeting(id);
  endMeeting: Store['endMeeting'] = (id, at, reason) => this.#own.endMeeting(id, at, reason);
  listLiveMeetings: Store['listLiveMeetings'] = () => this.#own.listLiveMeetings();
  getPlacement: Store['getPlacement'] = (meetingId) => this.#own.getPlacement(meetingId);
  getMeetingContext: Store['getMeetingContext'] = (meetingId) => this.#own.getMeetingContext(meetingId);
  claimPlacement = (meetingId: string, datacenter: string, expectedEpoch: number, at: string): Promise<ClaimResult> => this.#own.claimPlacement(meetingId, datacenter, expectedEpoch, at);
  releasePlacement: Store['releasePlacement'] = (meetingId, epoch) => this.#own.releasePlacement(meetingId, epoch);
  listPlacements: Store['listPlacements'] = () => this.#own.listPlacements();
  saveManifest: Store['saveManifest'] = (text, sha256, actor, at, after) => this.#own.saveManifest(text, sha256, actor, at, after);
  discardManifest: Store['discardManifest'] = (version) => this.#own.discardManifest(version);
  latestManifest: Store['latestManifest'] = () => this.#own.latestManifest();
  listManifests: Store['listManifests'] = () => this.#own.listManifests();
  saveSigningKey: Store['saveSigningKey'] = (key) => this.#own.saveSigningKey(key);
  retireSigningKeysExcept: Store['retireSigningKeysExcept'] = (kid, at) => this.#own.retireSigningKeysExcept(kid, at);
  revokeSigningKey: Store['revokeSigningKey'] = (kid, at) => this.#own.revokeSigningKey(kid, at);
  listSigningKeys: Store['listSigningKeys'] = () => this.#own.listSigningKeys();
}

function byMeetingThenId(rows: Participant[]): Participant[] {
  return rows.sort((a, b) => compareStrings(a.meetingId, b.meetingId) || compareStrings(a.id, b.id));
}
