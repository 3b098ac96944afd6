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
 * participants the bridge announced (src/e2ee/roster.ts).
 *
 * Liveness: a member joined by Welcome tells the bridge it holds the group
 * (`mls-joined`); when no holder is left the bridge asks one participant to
 * found a new group (`found`); and the session calls `retry` when keys are
 * slow, which sends the key package again (one may have gone to a committer
 * that left before adding it).
 *
 * The chat rides in the group as MLS application messages (docs/e2ee.md#chat):
 * encrypted to the current epoch; read in the epoch they were sent in while
 * its keys are kept (two epochs back), and held until our group catches up
 * when they are framed for an epoch we have not reached yet (or before we
 * are in the group at all).
 */
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { CiphersuiteImpl } from 'ts-mls';
import type { MlsJoinedMessage, MlsRelayMessage, MlsResultMessage, MlsSubmitMessage } from '../core/signalling/protocol.js';
import { GeobridgeError } from '../core/errors.js';
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
  generateSignatureKeyPair,
  joinFromWelcome,
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
} from '../e2ee/index.js';

/** A new epoch: its SFrame keys, the code members compare, and who is in it. */
export interface E2eeEpoch {
  readonly epoch: bigint;
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

/** Messages framed for an epoch we have not reached, held at most this many (a member that far behind has lost the group anyway). */
const HELD_APPLICATION_MAX = 64;

/** Options of `MeetingKeys`. */
export interface MeetingKeysOptions {
  readonly broker: string;
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

let suite: Promise<CiphersuiteImpl> | undefined;

/** The broker's identity assertions, checked against its published keys. */
function brokerVerifier(keys: JWTVerifyGetKey): IdentityVerifier {
  return async (assertion, { now }) => {
    const { payload } = await jwtVerify(assertion, keys, { audience: 'geobridge:identity', algorithms: ['EdDSA'], currentDate: now });
    const { sub, exp, meeting, name, signatureKey } = payload;
    if (typeof sub !== 'string' || typeof exp !== 'number' || typeof meeting !== 'string' || typeof name !== 'string') throw new Error('the identity assertion is malformed');
    return { sub, exp, meeting, name, ...(typeof signatureKey === 'string' ? { signatureKey } : {}) };
  };
}

/**
 * Makes a fresh MLS signature key, has the broker vouch for it, and builds a
 * key package: everything joining a group needs except the group. A session
 * starts this with its route request, so that admission waits for none of it.
 */
export async function prepareMember(broker: string, joinToken: string): Promise<KeyPackageBundle> {
  const cs = await (suite ??= loadCipherSuite());
  const keyPair = await generateSignatureKeyPair(cs);
  const assertion = await requestAssertion(broker, joinToken, signatureKeyClaim(keyPair.publicKey));
  return createKeyPackage(createMemberIdentity(keyPair, assertion), cs);
}

/** POST /v1/identity: the broker's assertion that `signatureKey` belongs to the join token's participant. */
async function requestAssertion(broker: string, joinToken: string, signatureKey: string): Promise<string> {
  const response = await fetch(new URL('/v1/identity', broker), {
    method: 'POST',
    headers: { authorization: `Bearer ${joinToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ signatureKey }),
  });
  const body = (await response.json().catch(() => ({}))) as { assertion?: unknown; message?: unknown };
  if (!response.ok || typeof body.assertion !== 'string') throw new Error(`the broker did not vouch for the MLS key: ${typeof body.message === 'string' ? body.message : response.status}`);
  return body.assertion;
}

/** The MLS group of one bridge connection. Create one per admission; drop it with the connection. */
export class MeetingKeys {
  readonly #options: MeetingKeysOptions;
  readonly #policy: CredentialPolicy;
  /** Serializes every group operation: ts-mls calls are async and each one needs the last one's group. */
  #queue: Promise<void> = Promise.resolve();
  #bundle: KeyPackageBundle | undefined;
  #group: MeetingGroup | undefined;
  /** Key packages of participants waiting to be added, by participant. */
  readonly #waiting = new Map<string, Uint8Array>();
  /** Participants on the bridge with us (the others): id → display name. */
  readonly #present = new Map<string, string>();
  /** Participants announced on this connection who left since. */
  readonly #left = new Map<string, string>();
  /** Leaves (`leafKey`) of earlier connections of participants announced again: the committer removes them. */
  readonly #replaced = new Set<string>();
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

  constructor(options: MeetingKeysOptions) {
    this.#options = options;
    const jwks = options.jwks ?? createRemoteJWKSet(new URL('/.well-known/jwks.json', options.broker));
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

  /** Starts after admission: founds the group, or asks to be added. */
  start(founder: boolean, others: readonly Attendee[]): void {
    for (const p of others) this.#present.set(p.id, p.name);
    this.#run(async () => {
      this.#bundle = await (this.#options.prepared ?? prepareMember(this.#options.broker, this.#options.joinToken));
      if (founder) {
        this.#group = await createMeetingGroup(this.#policy, this.#bundle, await (suite ??= loadCipherSuite()));
        await this.#entered();
      } else {
        this.#options.send({ type: 'mls', kind: 'key-package', data: base64url(encodeKeyPackage(this.#bundle)) });
      }
    });
  }

  peerJoined(peer: Attendee): void {
    this.#present.set(peer.id, peer.name);
    this.#left.delete(peer.id);
    this.#waiting.delete(peer.id);
    this.#run(async () => {
      // Any leaf it has now is an earlier connection's: the bridge admits a reconnect without announcing the old one's departure.
      for (const m of this.#group ? members(this.#group) : []) if (m.participant === peer.id) this.#replaced.add(leafKey(m));
      this.#publishRoster();
      await this.#commitIfCommitter();
    });
  }

  peerLeft(participant: string): void {
    const name = this.#present.get(participant);
    if (name === undefined) return;
    this.#present.delete(participant);
    this.#left.set(participant, name);
    this.#waiting.delete(participant);
    this.#run(async () => {
      this.#publishRoster();
      await this.#commitIfCommitter();
    });
  }

  relayed(message: MlsRelayMessage): void {
    this.#run(async () => {
      const bytes = fromBase64url(message.data);
      switch (message.kind) {
        case 'key-package':
          this.#waiting.set(message.from, bytes);
          await this.#commitIfCommitter();
          return;
        case 'welcome':
          if (this.#group || !this.#bundle) return;
          try {
            this.#group = await joinFromWelcome(this.#policy, bytes, this.#bundle, await (suite ??= loadCipherSuite()));
          } catch {
            return; // A Welcome for other newcomers: it opens only for the key packages it adds.
          }
          this.#options.send({ type: 'mls-joined', epoch: Number(this.#group.state.groupContext.epoch) });
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
      }
      // A refused commit lost its epoch: the winner arrives as a relayed commit, and we commit again after it.
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
      this.#draft = undefined;
      this.#replaced.clear();
      // A new group (same group id, epochs from 0): chat held for the old one can never be read in it.
      this.#held = [];
      this.#joinedEpoch = undefined;
      this.#group = await createMeetingGroup(this.#policy, this.#bundle, await (suite ??= loadCipherSuite()));
      await this.#entered();
    });
  }

  /** Keys are slow to come: if still waiting to be added, send the key package again. */
  retry(): void {
    this.#run(() => {
      if (!this.#group && this.#bundle) this.#options.send({ type: 'mls', kind: 'key-package', data: base64url(encodeKeyPackage(this.#bundle)) });
      return Promise.resolve();
    });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#batchTimer);
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
    this.#options.onEpoch({ epoch: group.state.groupContext.epoch, securityCode: securityCode(group), keys: await epochKeys(group), members: current });
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
    const stays = (m: Member): boolean => m.leafIndex === me || (this.#present.has(m.participant) && !this.#replaced.has(leafKey(m)));
    const live = current.filter(stays);
    if (Math.min(...live.map((m) => m.leafIndex)) !== me) return;
    const gone = current.filter((m) => !stays(m)).map((m) => m.leafIndex);
    const adds = [...this.#waiting.entries()].filter(([p]) => this.#present.has(p)).map(([, kp]) => kp);
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
    const draft = gone.length > 0 ? await removeMembers(group, gone) : await addMembers(group, adds);
    this.#draft = draft;
    this.#options.send({ type: 'mls', kind: 'commit', data: base64url(draft.commit), ...(draft.welcome ? { welcome: base64url(draft.welcome) } : {}) });
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
