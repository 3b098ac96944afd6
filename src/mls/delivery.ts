/**
 * The delivery-service rule a bridge runs for a meeting's MLS group
 * (RFC 9420 §14, "sequencing of state changes"): commits are totally ordered
 * by accepting, per epoch, the first commit that arrives and rejecting the
 * rest, whose senders then process the winner and commit again (rebase).
 * Proposals and key packages are relayed; a Welcome is relayed only with the
 * accepted commit that created it, since a Welcome from a losing commit
 * would put its joiner into an epoch nobody else is in.
 *
 * Application messages (the chat, application.ts) are relayed when framed
 * for the current epoch, or for one of the last two epochs if that epoch
 * ended less than `APPLICATION_GRACE_MS` ago: a member who sent just before a
 * commit reached it is not cut off, and members keep those epochs' keys
 * (group.ts, `RETAINED_PAST_EPOCHS`). The time comes in as an argument.
 *
 * It is a pure reducer over public framing: the group id, epoch and content
 * type of an MLSMessage are in the clear even in a PrivateMessage. It never
 * holds a secret and cannot check signatures, so "valid" here means well
 * formed, for this meeting's group and for the current epoch.
 */
import type { MLSMessage } from 'ts-mls';
import { sameBytes } from './bytes.js';
import { decodeWholeMessage, groupIdOf, RETAINED_PAST_EPOCHS } from './group.js';

/** How long after an epoch ends application messages framed for it are still relayed. */
export const APPLICATION_GRACE_MS = 10_000;

/** An epoch that ended, and when (the clock of `deliver`'s `now`). */
export interface EndedEpoch {
  readonly epoch: bigint;
  readonly endedAt: number;
}

/** What the bridge keeps per meeting. */
export interface DeliveryState {
  readonly meeting: string;
  readonly groupId: Uint8Array;
  /** The epoch the next accepted commit must be for. */
  readonly epoch: bigint;
  /** The last epochs that ended, newest first (at most `RETAINED_PAST_EPOCHS`). */
  readonly ended: readonly EndedEpoch[];
}

/** What a member sends: a handshake message or key package, and with a commit that adds members, their Welcome. */
export interface Submission {
  readonly message: Uint8Array;
  readonly welcome?: Uint8Array;
}

/** Why a submission was refused. */
export type DeliveryRejection =
  /** Not one well-formed MLSMessage (or Welcome). */
  | 'malformed'
  /** For another group than this meeting's. */
  | 'wrong-group'
  /** For an earlier epoch: another commit won it; process that one and commit again (an application message: its epoch ended too long ago). */
  | 'stale-epoch'
  /** For an epoch the group has not reached. */
  | 'future-epoch'
  /** A GroupInfo, or an application message in a PublicMessage (RFC 9420 §6.2 forbids it): meetings do not use them. */
  | 'unsupported'
  /** A Welcome not attached to a commit, or attached to something else. */
  | 'welcome-without-commit';

/** The outcome of one submission: the new state and what to do with the bytes. */
export type DeliveryResult =
  /** Relay the commit to every member and the Welcome to the new members; the epoch moved on. */
  | { readonly kind: 'commit-accepted'; readonly state: DeliveryState; readonly commit: Uint8Array; readonly welcome: Uint8Array | undefined }
  /** Relay to every member (proposal, application) or to the member who will add it (key package). */
  | { readonly kind: 'relay'; readonly state: DeliveryState; readonly what: 'proposal' | 'key-package' | 'application'; readonly message: Uint8Array }
  /** Tell the sender; nothing is relayed. */
  | { readonly kind: 'rejected'; readonly state: DeliveryState; readonly reason: DeliveryRejection; readonly epoch: bigint };

/** A meeting's delivery state before its first commit here: at epoch 0 for a new group, at the epoch its members carry for a group that moved. */
export function openDelivery(meeting: string, epoch = 0n): DeliveryState {
  return { meeting, groupId: groupIdOf(meeting), epoch, ended: [] };
}

/** Public framing of a handshake message, or undefined for anything else. */
function framing(message: MLSMessage): { groupId: Uint8Array; epoch: bigint; contentType: string } | undefined {
  if (message.wireformat === 'mls_private_message') return message.privateMessage;
  if (message.wireformat === 'mls_public_message') return message.publicMessage.content;
  return undefined;
}


/** Applies the delivery rule to one submission; `now` (ms, any monotonic clock) times the grace of ended epochs. */
export function deliver(state: DeliveryState, submission: Submission, now = 0): DeliveryResult {
  const reject = (reason: DeliveryRejection): DeliveryResult => ({ kind: 'rejected', state, reason, epoch: state.epoch });
  const message = decodeWholeMessage(submission.message);
  if (message === undefined) return reject('malformed');
  if (message.wireformat === 'mls_key_package') {
    return submission.welcome === undefined ? { kind: 'relay', state, what: 'key-package', message: submission.message } : reject('welcome-without-commit');
  }
  if (message.wireformat === 'mls_welcome') return reject('welcome-without-commit');
  const frame = framing(message);
  if (frame === undefined || (frame.contentType === 'application' && message.wireformat !== 'mls_private_message')) return reject('unsupported');
  if (!sameBytes(frame.groupId, state.groupId)) return reject('wrong-group');
  if (frame.contentType === 'application') {
    if (submission.welcome !== undefined) return reject('welcome-without-commit');
    if (frame.epoch > state.epoch) return reject('future-epoch');
    const recent = frame.epoch === state.epoch || state.ended.some((e) => e.epoch === frame.epoch && now - e.endedAt <= APPLICATION_GRACE_MS);
    return recent ? { kind: 'relay', state, what: 'application', message: submission.message } : reject('stale-epoch');
  }
  if (frame.epoch < state.epoch) return reject('stale-epoch');
  if (frame.epoch > state.epoch) return reject('future-epoch');
  if (frame.contentType === 'proposal') {
    return submission.welcome === undefined ? { kind: 'relay', state, what: 'proposal', message: submission.message } : reject('welcome-without-commit');
  }
  if (submission.welcome !== undefined && decodeWholeMessage(submission.welcome)?.wireformat !== 'mls_welcome') return reject('malformed');
  const ended = [{ epoch: state.epoch, endedAt: now }, ...state.ended].slice(0, RETAINED_PAST_EPOCHS);
  return { kind: 'commit-accepted', state: { ...state, epoch: state.epoch + 1n, ended }, commit: submission.message, welcome: submission.welcome };
}
