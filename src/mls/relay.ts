/**
 * The MLS delivery service of a meeting's group (RFC 9420 §14): the
 * bridge runs one per room, the broker one per cascaded meeting
 * (src/broker/group-delivery.ts). It orders commits with the pure rule of src/mls/delivery.ts — the first
 * commit for an epoch wins, later ones are refused so their senders rebase —
 * and relays key packages, proposals, commits and Welcomes between the
 * participants. It sees only public framing: never a key.
 *
 * Application messages (the chat) are relayed to the room's other
 * participants when framed for a recent epoch (delivery.ts), bounded in size
 * and rate per sender; the relay cannot read them, and never logs them.
 *
 * A meeting's group lives as long as someone on this bridge holds it: the
 * first participant into an empty room founds a fresh group (epoch 0), or,
 * when it carries the group from its last bridge (a failover, a re-home),
 * the group goes on here at the epoch it names, and later arrivals carrying
 * the same epoch (same tag) go on in it too: no key package, no Welcome, the
 * same keys and security code. An arrival carrying anything else joins as a
 * newcomer. The relay learns each epoch's tag from the commit that makes it
 * or the members that say they joined it; a wrong tag only costs a rejoin,
 * since a member that goes on in a group it is not in can decrypt nothing
 * and be decrypted by no one. The relay
 * keeps who holds the group — its founder, each member whose commit it
 * accepted, each member that says it joined — and when the last holder
 * leaves while others still wait to be added, it asks the earliest of them
 * to found a new group (`mls-found`): without that they would wait forever
 * for a Welcome nobody can send. A participant that takes no part in the
 * group (its `join` says `e2ee: false`) is never asked to found it: the
 * first participant that encrypts founds it, whoever came before.
 */
import { MAX_MLS_APPLICATION_BYTES, type GroupDeliveryMessage, type MlsHolding, type MlsSubmitMessage } from '../protocol/signalling.js';
import { deliver, openDelivery, type DeliveryState } from './delivery.js';

/** A message for one participant. */
export interface Outgoing {
  readonly to: string;
  readonly message: GroupDeliveryMessage;
}

/** Application messages a participant may send in a burst, and how many more per second after it. */
export const APPLICATION_BURST = 10;
export const APPLICATION_PER_SECOND = 2;
/**
 * Key packages and proposals a participant may send in a burst, and how many
 * more per second: each is relayed to every other participant, so a flood of
 * them multiplies by the room. A participant sends one key package each time
 * it joins or is asked to resync. Commits are not counted: only one per
 * epoch is accepted and relayed, and a refused one must be made again.
 */
export const HANDSHAKE_BURST = 10;
export const HANDSHAKE_PER_SECOND = 1;
/** Epochs whose tags the relay keeps: a member that joined by Welcome says so one or two epochs late at most. */
const TAGS_KEPT = 32n;

/** A meeting's group as its delivery service sees it (the console shows it). */
export interface GroupStatus {
  readonly epoch: number;
  readonly members: number;
}

/** How a participant enters the room's group: founds it, goes on in the group it carries, joins with a key package, or takes no part (it does not encrypt). */
export type MlsEntry = 'found' | 'continue' | 'join' | 'none';

/** A token bucket's level at a time. */
interface Bucket {
  tokens: number;
  at: number;
}

export class MlsRelay {
  #state: DeliveryState;
  readonly #meeting: string;
  readonly #now: () => number;
  /** Application-message budget per participant. */
  readonly #buckets = new Map<string, Bucket>();
  /** Key-package and proposal budget per participant. */
  readonly #handshakeBuckets = new Map<string, Bucket>();
  /** Participants who hold the group, as far as the relay has seen. */
  readonly #holders = new Set<string>();
  /** Holders that showed it (said so, committed, or carried the group in), a subset of #holders: a founder is a holder before it says a word, and one whose page does not encrypt never will. */
  readonly #shown = new Set<string>();
  /** Participants that take no part in the group: never asked to found it. */
  readonly #outside = new Set<string>();
  /** The current epoch's `groupTag`, as its committer or members gave it; undefined while unknown. */
  #tag: string | undefined;
  /**
   * Recent epochs' tags, as their committers (or the holders that founded or
   * carried the group in) gave them. A tag comes from the epoch's
   * authenticator, which only members hold: once the relay knows an epoch's,
   * a participant that says it holds the group must name it (`joined`).
   */
  readonly #tags = new Map<bigint, string>();
  /** Members may hold the group although none said so here yet (a delivery service that restarted): nobody founds one meanwhile. */
  #awaiting = false;
  /** How many groups were founded (or carried in) here: epochs start again in each. */
  #generation = 0;
  /** The participant last asked to found a group, until it says what it holds (see `joined`). */
  #asked: string | undefined;
  /** The current epoch when a commit that gave no tag made it (an older client's): its members can only give their word. */
  #untagged: bigint | undefined;

  /** `now` is a monotonic clock in ms: it times application messages' rate and ended epochs' grace. */
  constructor(meeting: string, now: () => number = () => performance.now()) {
    this.#meeting = meeting;
    this.#now = now;
    this.#state = openDelivery(meeting);
  }

  /**
   * Called when `participant` is admitted into a room of `others` participants, with the group it carries if any, or
   * `encrypts` false when it takes no part in the group: how it enters the group.
   */
  admit(participant: string, others: number, carried?: MlsHolding, encrypts = true): MlsEntry {
    this.#outside.delete(participant);
    if (!encrypts) {
      this.#outside.add(participant);
      this.#holders.delete(participant);
      this.#shown.delete(participant);
      return 'none';
    }
    // Nobody holds the group (an empty room, or only participants that do not encrypt): this one founds it,
    // unless members who may hold it are yet to say so: then it waits for them, as for any holder.
    if (others === 0 || this.#holders.size === 0) {
      if (this.#awaiting && !carried) return 'join';
      this.#refound(participant, carried);
      return carried ? 'continue' : 'found';
    }
    if (carried && this.#holders.size > 0 && this.#tag === carried.tag && this.#state.epoch === BigInt(carried.epoch)) {
      this.#holders.add(participant);
      this.#shown.add(participant);
      return 'continue';
    }
    return 'join';
  }

  /**
   * The participant says it holds the group now, at `epoch` (whose tag it may
   * give). A holder (the founder saying so, a member whose commit won) is
   * taken on its word while the relay knows no tag. Anyone else becomes a
   * holder only by naming the tag of an epoch the relay knows, or, at an
   * epoch made by a commit that gave no tag (an older client), on its word:
   * a participant that is no member cannot become a holder, and so cannot
   * commit (`submit`), not even in the moment between a founder's admission
   * and its word.
   */
  joined(participant: string, epoch: number, tag?: string): boolean {
    // Asked to found a group (the last holder left) while it already held one, its word not yet in (a member added by
    // Welcome just before): the group goes on in the epoch it holds, as if it had carried it in.
    if (this.#asked === participant && epoch !== 0) {
      this.#refound(participant);
      this.#state = openDelivery(this.#meeting, BigInt(epoch));
      this.#shown.add(participant);
      this.#learnTag(BigInt(epoch), tag);
      return true;
    }
    if (this.#asked === participant) this.#asked = undefined;
    const at = BigInt(epoch);
    const known = this.#tags.get(at);
    const holder = this.#holders.has(participant);
    if (holder) {
      // An epoch whose committer gave no tag (an older client) can only be taken on the word of who says it holds it.
      if (this.#tags.size > 0 && (known === undefined ? at !== this.#state.epoch : tag !== known)) return false;
    } else if (known === undefined ? at !== this.#untagged : tag !== known) {
      // Nobody was added to an epoch the relay knows no tag of, unless a commit without a tag made it.
      return false;
    }
    this.#holders.add(participant);
    this.#shown.add(participant);
    // Only a holder teaches the relay a tag (the founder saying so): a participant's word must not set what others must name.
    if (holder && tag !== undefined && at === this.#state.epoch && known === undefined) this.#learnTag(this.#state.epoch, tag);
    return true;
  }

  /** The tag of `epoch` (the current one), kept with the last TAGS_KEPT epochs'. */
  #learnTag(epoch: bigint, tag: string | undefined): void {
    this.#tag = tag;
    if (tag === undefined) return;
    this.#tags.set(epoch, tag);
    for (const old of this.#tags.keys()) if (old <= epoch - TAGS_KEPT) this.#tags.delete(old);
  }

  /** `participant` left; `remaining` are those still in the room, earliest admitted first. */
  left(participant: string, remaining: readonly string[]): Outgoing[] {
    this.#holders.delete(participant);
    this.#shown.delete(participant);
    this.#outside.delete(participant);
    return this.#foundIfNoHolder(remaining);
  }

  /**
   * Members may hold the group without having said so here (this delivery
   * service restarted and asked them): until one says so (`admit` with the
   * group it carries) or `settle` is called, nobody founds a new one.
   */
  awaitHolders(): void {
    if (this.#holders.size === 0) this.#awaiting = true;
  }

  /** The wait for holders is over: if none spoke, the earliest of `remaining` (earliest admitted first) that encrypts founds a new group. */
  settle(remaining: readonly string[]): Outgoing[] {
    this.#awaiting = false;
    return this.#foundIfNoHolder(remaining);
  }

  /** Of `participants`, those that take part in the group: they hold it or wait to be added to it. */
  takingPart(participants: readonly string[]): string[] {
    return participants.filter((id) => !this.#outside.has(id));
  }

  /** Of `participants`, those waiting to be added to the group: neither holding it nor outside it. */
  waitingAmong(participants: readonly string[]): string[] {
    return participants.filter((id) => !this.#holders.has(id) && !this.#outside.has(id));
  }

  #foundIfNoHolder(remaining: readonly string[]): Outgoing[] {
    const founder = remaining.find((id) => !this.#outside.has(id));
    if (this.#holders.size > 0 || this.#awaiting || founder === undefined) return [];
    this.#refound(founder);
    this.#asked = founder;
    return [{ to: founder, message: { type: 'mls-found' } }];
  }

  /** A new group from epoch 0, or the group `carried` names going on at its epoch, held by `founder` alone. */
  #refound(founder: string, carried?: MlsHolding): void {
    this.#generation++;
    this.#asked = undefined;
    this.#awaiting = false;
    this.#state = openDelivery(this.#meeting, BigInt(carried?.epoch ?? 0));
    this.#tag = carried?.tag;
    this.#untagged = undefined;
    this.#buckets.clear();
    this.#handshakeBuckets.clear();
    this.#holders.clear();
    this.#holders.add(founder);
    this.#shown.clear();
    this.#tags.clear();
    if (carried) {
      this.#shown.add(founder);
      this.#learnTag(BigInt(carried.epoch), carried.tag);
    }
  }

  /** Counts the groups founded or carried in since this relay started: an epoch means something only within one. */
  get generation(): number {
    return this.#generation;
  }

  /** Whether anyone holds the group, as far as the relay has seen. */
  get held(): boolean {
    return this.#holders.size > 0;
  }

  /** The group as the relay sees it: its epoch, and how many participants showed they hold it (0: nobody encrypts). */
  get status(): GroupStatus {
    return { epoch: Number(this.#state.epoch), members: this.#shown.size };
  }

  /** What to send, and to whom, for a participant's submission; `everyone` are the room's other participants. */
  submit(from: string, message: MlsSubmitMessage, everyone: readonly string[]): Outgoing[] {
    const bytes = Buffer.from(message.data, 'base64url');
    const now = this.#now();
    if (message.kind === 'application') {
      const dropped = (reason: string): Outgoing[] => [{ to: from, message: { type: 'mls-result', accepted: false, reason, epoch: Number(this.#state.epoch), kind: 'application' } }];
      if (bytes.length > MAX_MLS_APPLICATION_BYTES) return dropped('too-large');
      if (!spend(this.#buckets, from, now, APPLICATION_BURST, APPLICATION_PER_SECOND)) return dropped('rate-limited');
    }
    // Dropped unanswered: an answer without `kind` is about the sender's commit.
    if ((message.kind === 'key-package' || message.kind === 'proposal') && !spend(this.#handshakeBuckets, from, now, HANDSHAKE_BURST, HANDSHAKE_PER_SECOND)) return [];
    // The first commit of an epoch wins it, and the relay cannot read a commit: one from a participant that does not
    // hold the group (random bytes framed as a commit) would win an epoch no member can enter, and stall the group.
    if (message.kind === 'commit' && !this.#holders.has(from)) return [{ to: from, message: { type: 'mls-result', accepted: false, reason: 'not-a-member', epoch: Number(this.#state.epoch) } }];
    const result = deliver(this.#state, { message: bytes, ...(message.welcome !== undefined ? { welcome: Buffer.from(message.welcome, 'base64url') } : {}) }, now);
    const application = message.kind === 'application';
    const refuse = (reason: string, epoch: bigint): Outgoing[] => [{ to: from, message: { type: 'mls-result', accepted: false, reason, epoch: Number(epoch), ...(application ? { kind: 'application' as const } : {}) } }];
    // The sender says what it sends and the framing what it is: an `application` must frame an application message, and only it.
    if ((result.kind === 'relay' && (result.what === 'application') !== application) || (result.kind === 'commit-accepted' && application)) return refuse('unsupported', this.#state.epoch);
    this.#state = result.state;
    const toAll = (kind: 'key-package' | 'commit' | 'proposal' | 'welcome' | 'application', data: string): Outgoing[] => everyone.map((to) => ({ to, message: { type: 'mls', kind, from, data } }));
    switch (result.kind) {
      case 'rejected':
        return refuse(result.reason, result.epoch);
      case 'relay':
        return toAll(result.what, message.data);
      case 'commit-accepted':
        this.#holders.add(from);
        this.#shown.add(from);
        this.#learnTag(result.state.epoch, message.tag);
        this.#untagged = message.tag === undefined ? result.state.epoch : undefined;
        // Members apply the commit; those still waiting to join try the Welcome (it opens only for the members it adds).
        return [
          { to: from, message: { type: 'mls-result', accepted: true, reason: 'accepted', epoch: Number(result.state.epoch) } },
          ...toAll('commit', message.data),
          ...(message.welcome !== undefined ? toAll('welcome', message.welcome) : []),
        ];
    }
  }
}

/** Takes one token from the participant's bucket (`burst` deep, refilled at `perSecond`), if it has one. */
function spend(buckets: Map<string, Bucket>, participant: string, now: number, burst: number, perSecond: number): boolean {
  const bucket = buckets.get(participant) ?? { tokens: burst, at: now };
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
  bucket.at = now;
  buckets.set(participant, bucket);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
