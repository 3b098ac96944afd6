/**
 * A participant's side of the meeting's MLS group, over the bridge's relay
 * (docs/e2ee.md). Per bridge connection: get the broker to vouch for a fresh
 * MLS signature key (POST /v1/identity), then found the group (the bridge
 * says who) or send a key package and wait for a Welcome. Inside the group,
 * the member with the lowest leaf index commits: it adds the key packages
 * of newcomers and removes members who left. A commit that loses its epoch
 * to another is dropped, and redone after the winner is processed. Every
 * new epoch yields the SFrame keys and the security code, and every epoch
 * and every arrival or departure the roster: the members checked against the
 * participants the bridge announced (src/mls/roster.ts).
 *
 * A group survives a move: when a connection ends, the session keeps our
 * group (`carry`) and names it in its next `join`; if the next bridge has no
 * group yet, or the same one, we go on in it (`start('continue')`): keys at
 * once, the same security code, and members not there yet keep their leaves
 * for `REJOIN_GRACE_MS` before the committer removes them. Our SFrame CTRs
 * in the carried epoch start above the last connection's (`firstCounter`).
 *
 * Liveness: a member joined by Welcome tells the bridge it holds the group
 * (`mls-joined`); when no holder is left the bridge asks one participant to
 * found a new group (`found`); a delivery service that lost the group's
 * state asks again (`resync`: a cascading broker restarted); and the session
 * calls `retry` when keys are slow, which sends the key package again (one
 * may have gone to a committer that left before adding it).
 *
 * The chat rides in the group as MLS application messages (docs/e2ee.md#chat):
 * encrypted to the current epoch; read in the epoch they were sent in while
 * its keys are kept (two epochs back), and held until our group catches up
 * when they are framed for an epoch we have not reached yet (or before we
 * are in the group at all).
 */
import type { JWTVerifyGetKey } from 'jose';
import type { CiphersuiteImpl } from 'ts-mls';
import type { GroupMember, MlsHolding, MlsJoinedMessage, MlsRelayMessage, MlsResultMessage, MlsSubmitMessage } from '../protocol/signalling.js';
import { GeobridgeError } from '../core/errors.js';
import { verifyIdentityAssertion } from '../protocol/identity-assertion.js';
import { BrokerClient, BrokerError } from './broker-client.js';
import {
  addMembers,
  applicationEpoch,
  checkRoster,
  decryptApplication,
  encodeChat,
  encryptApplication,
  epochOf,
  parseChat,
  createKeyPackage,
  createMeetingGroup,
  createMemberIdentity,
  encodeKeyPackage,
  epochKeys,
  firstCounter,
  generateSignatureKeyPair,
  groupTag,
  hasKeyPackage,
  joinFromWelcome,
  keyPackageParticipant,
  loadCipherSuite,
  members,
  ownLeafIndex,
  processHandshake,
  removeMembers,
  securityCode,
  signatureKeyClaim,
  type Attendee,
  type CommitDraft,
  type CredentialPolicy,
  type EpochKeys,
  type IdentityVerifier,
  type KeyPackageBundle,
  type MeetingGroup,
  type Member,
  type Roster,
} from '../mls/index.js';

/** A new epoch: its SFrame keys, the code members compare, and who is in it. */
export interface E2eeEpoch {
  readonly epoch: bigint;
  /**
   * Which group of this connection the epoch is of: 1 for the first, one
   * more for each group entered since (founded, joined from a Welcome after
   * being pushed out). Epochs start again at 0 in a new group, so the frame
   * crypter takes a higher generation as new keys whatever its epoch.
   */
  readonly generation: number;
  readonly securityCode: string;
  readonly keys: EpochKeys;
  /** Every leaf: its index, the participant and name its broker-signed credential names, and its key's fingerprint. */
  readonly members: readonly Member[];
}

/** The group's members checked against the meeting's participants, with the code of the epoch they are in. */
export interface E2eeRoster extends Roster {
  readonly epoch: bigint;
  readonly securityCode: string;
}

/** A chat message read from the group (or our own, once sent). */
export interface ChatMessage {
  /** The sender's participant id and display name, from its broker-signed credential in the group. */
  readonly from: string;
  readonly name: string;
  readonly text: string;
  /** The sender's clock, ms since the Unix epoch. */
  readonly sentAt: number;
  readonly self: boolean;
}

/** Our group as a closed connection left it, for the next connection to go on in. */
export interface CarriedGroup {
  readonly group: MeetingGroup;
  /** The epoch we entered the group at (chat from before it was never for us). */
  readonly joinedEpoch: bigint;
  /** Connections that have sent media in the group's current epoch so far: the next one's CTRs start at `firstCounter(connections)`. */
  readonly connections: number;
}

/** What the next `join` says about a carried group. */
export function holdingOf(carried: CarriedGroup): MlsHolding {
  return { epoch: Number(epochOf(carried.group)), tag: groupTag(carried.group) };
}

/** How this connection enters the group, as the bridge said in `admitted`. */
export type GroupEntry = 'found' | 'continue' | 'join';

/**
 * How long members of a carried group who are not on the new bridge yet
 * keep their leaves: after a failover everyone arrives within a second or
 * two, even on a loaded machine, and a member removed before it arrives
 * must join again with a key package and a Welcome, which costs everyone
 * new keys. A member who really left is removed when it runs out.
 */
export const REJOIN_GRACE_MS = 5000;

/** Messages framed for an epoch we have not reached, held at most this many (a member that far behind has lost the group anyway). */
const HELD_APPLICATION_MAX = 64;

/** Options of `MeetingKeys`. */
export interface MeetingKeysOptions {
  readonly broker: string;
  /** The broker client to use (one is made from `broker` otherwise). */
  readonly client?: BrokerClient;
  readonly joinToken: string;
  readonly meeting: string;
  /** This participant's id, as the bridge admitted it (`admitted.participant`). */
  readonly participant: string;
  /** This participant's key package, made ahead (`prepareMember`); made on `start` otherwise. A key package is used once. */
  readonly prepared?: Promise<KeyPackageBundle>;
  /** The broker's published keys (the session's, already fetched for its tickets); fetched on first use otherwise. */
  readonly jwks?: JWTVerifyGetKey;
  readonly send: (message: MlsSubmitMessage | MlsJoinedMessage) => void;
  readonly onEpoch: (epoch: E2eeEpoch) => void;
  readonly onRoster: (roster: E2eeRoster) => void;
  readonly onError: (error: unknown) => void;
  /** A chat message from a member, or ours once sent. */
  readonly onChat?: (chat: ChatMessage) => void;
  /** One of our chat messages did not reach the others: the bridge dropped it (`reason` is its word) or it could not be encrypted. */
  readonly onChatUndelivered?: (reason: string) => void;
  /** A relayed chat message was dropped unread: it does not decrypt or verify, or is not a chat payload. The group is unaffected. */
  readonly onChatUnreadable?: (error: unknown) => void;
  /** How long the committer waits for the key packages of participants already announced (default ADD_BATCH_MS). */
  readonly addBatchMs?: number;
  /** Our group from the last connection, for `start('continue')`. */
  readonly carried?: CarriedGroup;
  /** How long members of a carried group keep their leaves before they arrive (default REJOIN_GRACE_MS). */
  readonly rejoinGraceMs?: number;
}

/**
 * How long the committer holds an add while participants the bridge has
 * announced have not sent their key packages yet: after a failover everyone
 * arrives within a few hundred milliseconds, and one commit adding them all
 * saves a commit round (create, relay, process, Welcome) per extra newcomer.
 * Bounded, so a participant whose key package never comes delays the others
 * by this much at most.
 */
export const ADD_BATCH_MS = 150;

/** How soon a commit refused with no winner to wait for (`not-a-member`, `future-epoch`) is made again. */
const RECOMMIT_MS = 500;

let suite: Promise<CiphersuiteImpl> | undefined;

/** The broker's identity assertions, checked against its published keys (the group checks the meeting itself). */
function brokerVerifier(keys: JWTVerifyGetKey): IdentityVerifier {
  return (assertion, { now }) => verifyIdentityAssertion(keys, assertion, { now });
}

/**
 * Makes a fresh MLS signature key, has the broker vouch for it, and builds a
 * key package: everything joining a group needs except the group. A session
 * starts this with its route request, so that admission waits for none of it.
 */
export async function prepareMember(broker: BrokerClient | string, joinToken: string): Promise<KeyPackageBundle> {
  const client = typeof broker === 'string' ? new BrokerClient(broker) : broker;
  const cs = await (suite ??= loadCipherSuite());
  const keyPair = await generateSignatureKeyPair(cs);
  let assertion: string;
  try {
    assertion = await client.identity(joinToken, signatureKeyClaim(keyPair.publicKey));
  } catch (error) {
    throw error instanceof BrokerError ? new BrokerError(error.code, `the broker did not vouch for the MLS key: ${error.message}`, { ...(error.status !== undefined ? { status: error.status } : {}) }) : error;
  }
  return createKeyPackage(createMemberIdentity(keyPair, assertion), cs);
}

/** The MLS group of one bridge connection. Create one per admission; drop it with the connection. */
export class MeetingKeys {
  readonly #options: MeetingKeysOptions;
  readonly #client: BrokerClient;
  readonly #policy: CredentialPolicy;
  /** Serializes every group operation: ts-mls calls are async and each one needs the last one's group. */
  #queue: Promise<void> = Promise.resolve();
  #bundle: KeyPackageBundle | undefined;
  #group: MeetingGroup | undefined;
  /** Key packages of participants waiting to be added, by participant. */
  readonly #waiting = new Map<string, Uint8Array>();
  /** Participants on the bridge with us (the others): id → display name. In a cascaded meeting, the others on every bridge. */
  readonly #present = new Map<string, string>();
  /** In a cascaded meeting (`setMembers`): each member's admission, whose change means it came back on a new connection. */
  #since: Map<string, number> | undefined;
  /** Participants announced on this connection who left since. */
  readonly #left = new Map<string, string>();
  /** Leaves (`leafKey`) of earlier connections of participants announced again: the committer removes them. */
  readonly #replaced = new Set<string>();
  /** Participants announced while they had a leaf: back from another connection. One that sends a key package gives its old leaf up; one that goes on in the group keeps it. */
  readonly #returning = new Set<string>();
  #draft: CommitDraft | undefined;
  /** Set while an add waits for announced participants' key packages (ADD_BATCH_MS). */
  #batchTimer: ReturnType<typeof setTimeout> | undefined;
  /** The wait is over: the next commit adds whoever is waiting. */
  #batchDue = false;
  #closed = false;
  /** The epoch we entered the group at: application messages of earlier epochs were never for us. */
  #joinedEpoch: bigint | undefined;
  /** Application messages for an epoch we have not reached (or relayed before we were in the group), in arrival order. */
  #held: Uint8Array[] = [];
  /** Members of the carried group not on this bridge yet, by participant: kept until they come or the grace ends. */
  readonly #awaited = new Set<string>();
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** In a cascaded meeting: the grace of each member gone from the meeting's scope, which may be moving to another bridge. */
  readonly #departures = new Map<string, ReturnType<typeof setTimeout>>();
  /** The carried epoch and how many connections sent in it before this one, for our first CTR. */
  #carriedEpoch: { readonly epoch: bigint; readonly connections: number } | undefined;
  /** Groups entered on this connection (E2eeEpoch.generation). */
  #generation = 0;
  /** Makes a commit again that the delivery service refused with no winner to wait for. */
  #recommitTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: MeetingKeysOptions) {
    this.#options = options;
    this.#client = options.client ?? new BrokerClient(options.broker);
    const jwks = options.jwks ?? this.#client.jwks;
    this.#policy = { meeting: options.meeting, verifyIdentity: brokerVerifier(jwks), now: () => new Date() };
  }

  /** Encrypts a chat message to the group and sends it; `onChat` echoes it once sent, `onChatUndelivered` says if it could not be. */
  sendChat(text: string, sentAt: number): void {
    const payload = encodeChat({ v: 1, text, sentAt });
    this.#run(async () => {
      const group = this.#group;
      if (!group) {
        this.#options.onChatUndelivered?.('not in the encryption group');
        return;
      }
      let sent: Awaited<ReturnType<typeof encryptApplication>>;
      try {
        sent = await encryptApplication(group, payload);
      } catch (error) {
        this.#options.onChatUndelivered?.(error instanceof Error ? error.message : String(error));
        return;
      }
      this.#group = sent.group;
      this.#options.send({ type: 'mls', kind: 'application', data: base64url(sent.message) });
      const me = members(group).find((m) => m.leafIndex === ownLeafIndex(group));
      this.#options.onChat?.({ from: this.#options.participant, name: me?.name ?? '', text, sentAt, self: true });
    });
  }

  /** Starts after admission: founds the group, goes on in the carried one, or asks to be added. */
  start(entry: GroupEntry, others: readonly Attendee[]): void {
    for (const p of others) this.#present.set(p.id, p.name);
    const carried = this.#options.carried;
    if (entry === 'continue' && carried) {
      this.#continue(carried);
      return;
    }
    this.#run(async () => {
      this.#bundle = await (this.#options.prepared ?? prepareMember(this.#client, this.#options.joinToken));
      if (entry === 'found') {
        this.#group = await createMeetingGroup(this.#policy, this.#bundle, await (suite ??= loadCipherSuite()));
        this.#generation++;
        this.#announceHeld();
        await this.#entered();
      } else {
        this.#offerKeyPackage();
      }
    });
  }

  /** Goes on in the group we carry: keys now; members not here yet keep their leaves for the grace. */
  #continue(carried: CarriedGroup): void {
    const group = carried.group;
    const self = ownLeafIndex(group);
    for (const m of members(group)) {
      if (m.leafIndex === self || this.#present.has(m.participant)) continue;
      this.#awaited.add(m.participant);
      this.#left.set(m.participant, m.name);
    }
    if (this.#awaited.size > 0) {
      const carriedIn = [...this.#awaited];
      this.#graceTimer = setTimeout(() => {
        // Members that left after arriving have a grace of their own (#awaitReturn).
        for (const p of carriedIn) if (!this.#departures.has(p)) this.#awaited.delete(p);
        this.#run(() => this.#commitIfCommitter());
      }, this.#options.rejoinGraceMs ?? REJOIN_GRACE_MS);
    }
    this.#carriedEpoch = { epoch: epochOf(group), connections: carried.connections };
    this.#joinedEpoch = carried.joinedEpoch;
    this.#run(async () => {
      this.#group = group;
      this.#generation++;
      await this.#entered();
      // Only for a fallback (found, retry): the group we carry needs no key package.
      this.#bundle = await (this.#options.prepared ?? prepareMember(this.#client, this.#options.joinToken));
    });
  }

  /** Our group for the next connection (undefined when we hold none). */
  carry(): CarriedGroup | undefined {
    const group = this.#group;
    if (!group || this.#joinedEpoch === undefined) return undefined;
    const before = this.#carriedEpoch?.epoch === epochOf(group) ? this.#carriedEpoch.connections : 0;
    return { group, joinedEpoch: this.#joinedEpoch, connections: before + 1 };
  }

  /** Tells the bridge we hold the group, with the epoch's tag (for members that come back carrying it). */
  #announceHeld(): void {
    const group = this.#group;
    if (group) this.#options.send({ type: 'mls-joined', epoch: Number(epochOf(group)), tag: groupTag(group) });
  }

  /** A participant the bridge announced. In a cascaded meeting the group's members come from `setMembers` instead. */
  peerJoined(peer: Attendee): void {
    if (!this.#since) this.#arrived(peer);
  }

  /** A participant the bridge said left. In a cascaded meeting the group's members come from `setMembers` instead. */
  peerLeft(participant: string): void {
    if (!this.#since) this.#departed(participant);
  }

  /**
   * A cascaded meeting's members on every bridge (`admitted.mlsMembers`,
   * `mls-members`): the group keeps these, including those whose media never
   * reaches this bridge. A member admitted again (a new `since`) is back
   * from another connection, as a participant announced again is. A member
   * that is no longer listed keeps its leaf for the grace (its bridge may
   * have failed), unless it is `gone`: it said it leaves.
   */
  setMembers(list: readonly GroupMember[], gone: readonly string[] = []): void {
    const since = (this.#since ??= new Map<string, number>());
    const others = list.filter((m) => m.id !== this.#options.participant);
    const ids = new Set(others.map((m) => m.id));
    for (const id of [...this.#present.keys()]) {
      if (ids.has(id)) continue;
      since.delete(id);
      this.#departed(id, gone.includes(id));
    }
    for (const m of others) {
      if (this.#present.has(m.id) && since.get(m.id) === m.since) continue;
      since.set(m.id, m.since);
      this.#arrived(m);
    }
  }

  #arrived(peer: Attendee): void {
    this.#present.set(peer.id, peer.name);
    this.#left.delete(peer.id);
    this.#waiting.delete(peer.id);
    this.#awaited.delete(peer.id);
    clearTimeout(this.#departures.get(peer.id));
    this.#departures.delete(peer.id);
    this.#run(async () => {
      if (this.#group && members(this.#group).some((m) => m.participant === peer.id)) this.#returning.add(peer.id);
      this.#publishRoster();
      await this.#commitIfCommitter();
    });
  }

  #departed(participant: string, forGood = false): void {
    const name = this.#present.get(participant);
    if (name === undefined) return;
    this.#present.delete(participant);
    this.#left.set(participant, name);
    this.#waiting.delete(participant);
    // In a cascade the others stay where they are while one member's bridge fails: it keeps its leaf for the
    // grace, as members of a moved group do, and goes on in the group when it is back (no commit, same code).
    if (this.#since && !forGood) this.#awaitReturn(participant);
    this.#run(async () => {
      this.#publishRoster();
      await this.#commitIfCommitter();
    });
  }

  /** Keeps a departed member's leaf for the grace; the committer removes it when the grace ends without it. */
  #awaitReturn(participant: string): void {
    clearTimeout(this.#departures.get(participant));
    this.#awaited.add(participant);
    this.#departures.set(
      participant,
      setTimeout(() => {
        this.#departures.delete(participant);
        this.#awaited.delete(participant);
        this.#run(() => this.#commitIfCommitter());
      }, this.#options.rejoinGraceMs ?? REJOIN_GRACE_MS),
    );
  }

  relayed(message: MlsRelayMessage): void {
    this.#run(async () => {
      const bytes = fromBase64url(message.data);
      switch (message.kind) {
        case 'key-package': {
          // Sent again (a retry that crossed its Welcome) by a member we already added: nothing to do.
          if (this.#group && hasKeyPackage(this.#group, bytes)) return;
          // A key package is its sender's own. Another's (every member saw it when its owner joined), sent again by
          // someone else, would add that leaf in the sender's place: its owner, gone perhaps, would hold the keys.
          const owner = keyPackageParticipant(bytes);
          if (owner !== message.from) {
            this.#options.onError(new GeobridgeError('MLS_CREDENTIAL_REJECTED', `Participant ${message.from} sent a key package that is not its own (it names ${owner ?? 'no participant'}); it was dropped.`));
            return;
          }
          // A participant back from another connection asks for a new leaf: the bridge admitted it in place of
          // the old one without announcing a departure, or it carried a group that is not this one.
          if (this.#returning.delete(message.from)) for (const m of this.#group ? members(this.#group) : []) if (m.participant === message.from) this.#replaced.add(leafKey(m));
          this.#waiting.set(message.from, bytes);
          await this.#commitIfCommitter();
          return;
        }
        case 'welcome':
          if (this.#group || !this.#bundle) return;
          try {
            this.#group = await joinFromWelcome(this.#policy, bytes, this.#bundle, await (suite ??= loadCipherSuite()));
          } catch {
            return; // A Welcome for other newcomers: it opens only for the key packages it adds.
          }
          this.#generation++;
          this.#announceHeld();
          this.#joinedEpoch = undefined; // set by #entered: this group's first epoch
          await this.#entered();
          return;
        case 'commit': {
          if (!this.#group) return;
          const processed = await processHandshake(this.#group, bytes);
          if (processed.kind !== 'commit') return;
          if (processed.removed) {
            this.#group = undefined;
            // Still connected, yet out of the group: another connection took our place, or someone is pushing us out. Either way our code is stale.
            throw new GeobridgeError('MLS_NOT_A_MEMBER', 'This participant was removed from the meeting’s encryption group while still connected; its security code no longer applies.');
          }
          this.#group = processed.group;
          await this.#entered();
          return;
        }
        case 'proposal':
          return; // Members commit directly; proposals from others are not used.
        case 'application':
          await this.#receiveApplication(bytes).catch((error: unknown) => this.#options.onChatUnreadable?.(error));
          return;
      }
    });
  }

  /** The delivery service's answer to our commit, or word that it dropped one of our application messages. */
  result(message: MlsResultMessage): void {
    if (message.kind === 'application') {
      this.#run(() => {
        this.#options.onChatUndelivered?.(message.reason);
        return Promise.resolve();
      });
      return;
    }
    this.#run(async () => {
      const draft = this.#draft;
      this.#draft = undefined;
      if (!draft) return;
      if (message.accepted) {
        this.#group = draft.group;
        await this.#entered();
        return;
      }
      // A commit that lost its epoch: the winner arrives as a relayed commit, and we commit again after it. One refused
      // because the delivery service does not yet know we hold the group, or is behind us (it asked us to found while
      // our word that we hold it was on its way), has no winner to wait for: made again shortly.
      if (message.reason === 'not-a-member' || message.reason === 'future-epoch') {
        clearTimeout(this.#recommitTimer);
        this.#recommitTimer = setTimeout(() => {
          this.#run(() => this.#commitIfCommitter());
        }, RECOMMIT_MS);
      }
    });
  }

  /** True once this member holds the group (and until it is pushed out). */
  get inGroup(): boolean {
    return this.#group !== undefined;
  }

  /** The bridge says nobody there holds the group any more: found a new one, which adds everyone waiting. */
  found(): void {
    this.#run(async () => {
      if (!this.#bundle) return;
      if (this.#group) {
        // We hold it: founding another would leave the members we share keys with. Say so (an honest bridge missed
        // it) and go on; a bridge that asks again gains nothing.
        this.#announceHeld();
        throw new GeobridgeError('MLS_MESSAGE_REJECTED', 'The bridge asked this member to found a new group while it holds the meeting’s group; it stays in the group it holds.');
      }
      this.#draft = undefined;
      this.#replaced.clear();
      // A new group (same group id, epochs from 0): chat held for the old one can never be read in it.
      this.#held = [];
      this.#joinedEpoch = undefined;
      this.#group = await createMeetingGroup(this.#policy, this.#bundle, await (suite ??= loadCipherSuite()));
      this.#generation++;
      this.#announceHeld();
      await this.#entered();
    });
  }

  /**
   * The delivery service lost what it knew of the group (a cascading broker
   * restarted), or its messages to our bridge were lost: say that we hold it
   * (the epoch tells it whether we missed a commit), or send our key package
   * again. A commit of ours still awaiting its answer was lost with it, or
   * its answer was: dropped, and made again if we are still the committer
   * (if it had been accepted, the delivery service sends us to reconnect).
   */
  resync(): void {
    this.#run(async () => {
      this.#draft = undefined;
      if (!this.#group) {
        this.#offerKeyPackage();
        return;
      }
      this.#announceHeld();
      await this.#commitIfCommitter();
    });
  }

  /** Keys are slow to come: if still waiting to be added, send the key package again. */
  retry(): void {
    this.#run(() => {
      if (!this.#group) this.#offerKeyPackage();
      return Promise.resolve();
    });
  }

  /** Asks to be added: our key package, to whoever commits. */
  #offerKeyPackage(): void {
    if (this.#bundle) this.#options.send({ type: 'mls', kind: 'key-package', data: base64url(encodeKeyPackage(this.#bundle)) });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#batchTimer);
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#recommitTimer);
    for (const timer of this.#departures.values()) clearTimeout(timer);
  }

  #run(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        await task();
      } catch (error) {
        this.#options.onError(error);
      }
    });
  }

  /** Reads an application message (the chat), or holds it until our group reaches its epoch. */
  async #receiveApplication(bytes: Uint8Array): Promise<void> {
    const epoch = applicationEpoch(bytes);
    if (epoch === undefined) throw new GeobridgeError('MLS_MESSAGE_REJECTED', 'The bridge relayed as an application message something that is not one.');
    const group = this.#group;
    if (!group || epoch > epochOf(group)) {
      if (this.#held.length < HELD_APPLICATION_MAX) this.#held.push(bytes);
      return;
    }
    // Sent before we were in the group: it was never for us (and we hold no keys for it).
    if (this.#joinedEpoch !== undefined && epoch < this.#joinedEpoch) return;
    const received = await decryptApplication(group, bytes);
    this.#group = received.group;
    const chat = parseChat(received.data);
    if (!chat.ok) throw new GeobridgeError('MLS_MESSAGE_REJECTED', `${received.sender.name} sent a chat message this client cannot read: ${chat.error}.`);
    this.#options.onChat?.({ from: received.sender.participant, name: received.sender.name, text: chat.chat.text, sentAt: chat.chat.sentAt, self: received.sender.leafIndex === ownLeafIndex(group) });
  }

  /** Application messages held for an epoch we have now reached. */
  async #releaseHeld(): Promise<void> {
    const group = this.#group;
    if (!group || this.#held.length === 0) return;
    const ready = this.#held.filter((bytes) => (applicationEpoch(bytes) ?? 0n) <= epochOf(group));
    this.#held = this.#held.filter((bytes) => !ready.includes(bytes));
    for (const bytes of ready) {
      await this.#receiveApplication(bytes).catch((error: unknown) => this.#options.onChatUnreadable?.(error));
    }
  }

  /** A new epoch: publish its keys, code and roster, then do any commit that is ours to do. */
  async #entered(): Promise<void> {
    const group = this.#group;
    if (!group) return;
    this.#joinedEpoch ??= epochOf(group);
    const current = members(group);
    for (const m of current) this.#waiting.delete(m.participant);
    const keys = new Set(current.map(leafKey));
    for (const k of this.#replaced) if (!keys.has(k)) this.#replaced.delete(k);
    const sframe = await epochKeys(group);
    const before = this.#carriedEpoch?.epoch === sframe.epoch ? this.#carriedEpoch.connections : 0;
    this.#options.onEpoch({ epoch: sframe.epoch, generation: this.#generation, securityCode: securityCode(group), keys: before > 0 ? { ...sframe, firstCounter: firstCounter(before) } : sframe, members: current });
    this.#publishRoster();
    await this.#releaseHeld();
    await this.#commitIfCommitter();
  }

  /** The roster of the current epoch against the participants announced so far. */
  #publishRoster(): void {
    const group = this.#group;
    if (!group) return;
    const attendees = (map: ReadonlyMap<string, string>): Attendee[] => [...map].map(([id, name]) => ({ id, name }));
    const view = { self: this.#options.participant, ownLeaf: ownLeafIndex(group), present: attendees(this.#present), left: attendees(this.#left) };
    this.#options.onRoster({ epoch: group.state.groupContext.epoch, securityCode: securityCode(group), ...checkRoster(members(group), view) });
  }

  /** Whether a participant the bridge announced is neither in the group nor waiting with a key package. */
  #keyPackagesExpected(current: readonly Member[]): boolean {
    const inGroup = new Set(current.map((m) => m.participant));
    for (const p of this.#present.keys()) if (!inGroup.has(p) && !this.#waiting.has(p)) return true;
    return false;
  }

  /** The lowest leaf among members still present commits: one committer, so races are rare (and still safe). */
  async #commitIfCommitter(): Promise<void> {
    const group = this.#group;
    if (!group || this.#draft) return;
    const me = ownLeafIndex(group);
    const current = members(group);
    const stays = (m: Member): boolean => m.leafIndex === me || this.#awaited.has(m.participant) || (this.#present.has(m.participant) && !this.#replaced.has(leafKey(m)));
    const live = current.filter(stays);
    if (Math.min(...live.map((m) => m.leafIndex)) !== me) return;
    const gone = current.filter((m) => !stays(m)).map((m) => m.leafIndex);
    const adds = [...this.#waiting.entries()].filter(([p]) => this.#present.has(p));
    if (gone.length === 0 && adds.length === 0) return;
    if (gone.length === 0 && !this.#batchDue && this.#keyPackagesExpected(current)) {
      this.#batchTimer ??= setTimeout(() => {
        this.#batchTimer = undefined;
        this.#batchDue = true;
        this.#run(() => this.#commitIfCommitter());
      }, this.#options.addBatchMs ?? ADD_BATCH_MS);
      return;
    }
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    this.#batchDue = false;
    const draft = gone.length > 0 ? await removeMembers(group, gone) : await this.#addWaiting(group, adds);
    if (draft === undefined) return;
    this.#draft = draft;
    this.#options.send({ type: 'mls', kind: 'commit', data: base64url(draft.commit), ...(draft.welcome ? { welcome: base64url(draft.welcome) } : {}), tag: groupTag(draft.group) });
  }

  /**
   * Commits adding the waiting participants' key packages. One that cannot be
   * added (its credential fails, it is malformed, it repeats another's) would
   * fail every commit that carries it, and so hold up every newcomer after
   * it: when the whole batch fails, the batch is built again one package at
   * a time, each kept if the commit still succeeds with it, and those that
   * fail it are dropped (their senders time out and join again with a fresh
   * one). When none succeeds the cause may be ours (the broker's keys out of
   * reach), and nothing is dropped.
   */
  async #addWaiting(group: MeetingGroup, adds: readonly (readonly [string, Uint8Array])[]): Promise<CommitDraft | undefined> {
    try {
      return await addMembers(group, adds.map(([, kp]) => kp));
    } catch (error) {
      const fine: Uint8Array[] = [];
      const failed: [string, unknown][] = [];
      let draft: CommitDraft | undefined;
      for (const [participant, kp] of adds) {
        try {
          draft = await addMembers(group, [...fine, kp]);
          fine.push(kp);
        } catch (alone) {
          failed.push([participant, alone]);
        }
      }
      if (draft === undefined) throw error;
      for (const [participant, why] of failed) {
        this.#waiting.delete(participant);
        this.#options.onError(new GeobridgeError('MLS_CREDENTIAL_REJECTED', `The key package of participant ${participant} cannot be added, and was dropped: ${why instanceof Error ? why.message : String(why)}`));
      }
      return draft;
    }
  }
}

/** A leaf as one key at one index: an index alone is reused by the next add once the leaf is removed. */
function leafKey(m: Member): string {
  return `${m.leafIndex} ${m.keyFingerprint}`;
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
