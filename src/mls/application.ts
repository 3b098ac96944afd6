/**
 * MLS application messages (RFC 9420 §6.3, content type `application`):
 * data only the group's members can read, e.g. the meeting chat (chat.ts).
 * They are always PrivateMessages, whose framing shows the delivery service
 * only group id, epoch and content type; the sender's leaf is in the
 * encrypted sender data (§6.3.2) and the content is signed by that leaf's
 * key, so who sent it comes from the group (its credential), never from the
 * relay.
 *
 * Sending and receiving both move the epoch's secret tree on (each key is
 * used once, §9.1), so both return the next group value.
 */
import {
  acceptAll, createApplicationMessage, emptyPskIndex, encodeMlsMessage, processMessage, type PaddingConfig, type RatchetTree,
} from 'ts-mls';
import { decryptSenderData } from 'ts-mls/privateMessage.js';
import { GeobridgeError } from '../core/errors.js';
import { sameBytes } from './bytes.js';
import { checkActive, decodeWholeMessage, epochOf, type MeetingGroup, type Member } from './group.js';
import { identityOf, keyFingerprint } from './identity.js';

/**
 * Plaintexts are padded up to a multiple of this many bytes (RFC 9420 §6.3.1
 * padding), with room for the signature, so the relay learns a message's
 * size only to within this bucket.
 */
export const APPLICATION_PADDING_BUCKET = 256;

/** The content, its signature and their length prefixes take at most this many bytes besides the data (Ed25519: 64-byte signature). */
const CONTENT_OVERHEAD = 128;

/** An application message decrypted and authenticated. */
export interface ReceivedApplication {
  /** The group after the message (its key for this generation is spent). */
  readonly group: MeetingGroup;
  /** The epoch it was sent in: the current one or a recent one this member still keeps keys for. */
  readonly epoch: bigint;
  /** The sender, from its leaf in that epoch's tree. */
  readonly sender: Member;
  readonly data: Uint8Array;
}

/** The padding that makes `length` bytes of data a whole number of buckets. */
function paddingFor(length: number): PaddingConfig {
  const padUntilLength = Math.ceil((length + CONTENT_OVERHEAD) / APPLICATION_PADDING_BUCKET) * APPLICATION_PADDING_BUCKET;
  return { kind: 'padUntilLength', padUntilLength };
}

/** Encrypts `data` to the group's current epoch: the encoded MLSMessage, and the group with this sender's key spent. Throws MLS_NOT_A_MEMBER once removed. */
export async function encryptApplication(group: MeetingGroup, data: Uint8Array): Promise<{ readonly group: MeetingGroup; readonly message: Uint8Array }> {
  checkActive(group);
  const config = group.state.clientConfig;
  let result: Awaited<ReturnType<typeof createApplicationMessage>>;
  try {
    result = await createApplicationMessage({ ...group.state, clientConfig: { ...config, paddingConfig: paddingFor(data.length) } }, data, group.cs);
  } catch (error) {
    throw new GeobridgeError('MLS_MESSAGE_REJECTED', 'Cannot encrypt an application message in this group state.', { cause: error });
  }
  const message = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: result.privateMessage });
  return { group: { ...group, state: { ...result.newState, clientConfig: config } }, message };
}

/** The epoch an application message is framed for (clear in a PrivateMessage), or undefined if `bytes` is not one. */
export function applicationEpoch(bytes: Uint8Array): bigint | undefined {
  const message = decodeWholeMessage(bytes);
  return message?.wireformat === 'mls_private_message' && message.privateMessage.contentType === 'application' ? message.privateMessage.epoch : undefined;
}

/**
 * Decrypts and authenticates an application message from another member,
 * sent in the current epoch or in one of the few before it whose keys ts-mls
 * keeps (`keyRetentionConfig.retainKeysForEpochs`). Throws
 * MLS_MESSAGE_REJECTED for anything else: not an application
 * PrivateMessage, another group, a future epoch, an epoch whose keys are
 * gone (or that this member was not in), a key already used (a replay), or
 * a ciphertext or signature that does not verify.
 */
export async function decryptApplication(group: MeetingGroup, bytes: Uint8Array): Promise<ReceivedApplication> {
  checkActive(group);
  const message = decodeWholeMessage(bytes);
  if (message?.wireformat !== 'mls_private_message' || message.privateMessage.contentType !== 'application') {
    throw new GeobridgeError('MLS_MESSAGE_REJECTED', 'Not an MLS application message.');
  }
  const pm = message.privateMessage;
  const { state, cs } = group;
  if (!sameBytes(pm.groupId, state.groupContext.groupId)) throw new GeobridgeError('MLS_MESSAGE_REJECTED', 'The application message is for another group.');
  const current = epochOf(group);
  if (pm.epoch > current) throw new GeobridgeError('MLS_MESSAGE_REJECTED', `The application message is for epoch ${pm.epoch}, which this member has not reached (${current}).`);
  const receiver = pm.epoch === current ? { senderDataSecret: state.keySchedule.senderDataSecret, ratchetTree: state.ratchetTree } : state.historicalReceiverData.get(pm.epoch);
  if (receiver === undefined) throw new GeobridgeError('MLS_MESSAGE_REJECTED', `This member keeps no keys for epoch ${pm.epoch} (too old, or before it joined).`);
  let result: Awaited<ReturnType<typeof processMessage>>;
  try {
    // ts-mls decrypts with that epoch's secret tree and verifies the signature of the leaf the sender data names.
    result = await processMessage(message, state, emptyPskIndex, acceptAll, cs);
  } catch (error) {
    throw new GeobridgeError('MLS_MESSAGE_REJECTED', 'The application message does not decrypt or verify.', { cause: error });
  }
  if (result.kind !== 'applicationMessage') throw new GeobridgeError('MLS_MESSAGE_REJECTED', 'Not an MLS application message.');
  // The same sender data ts-mls just authenticated the content against: its leaf index is the signer's.
  const senderData = await decryptSenderData(pm, receiver.senderDataSecret, cs);
  const sender = senderData === undefined ? undefined : memberAt(receiver.ratchetTree, senderData.leafIndex);
  if (sender === undefined) throw new GeobridgeError('MLS_MESSAGE_REJECTED', 'The application message names no member as its sender.');
  return { group: { ...group, state: result.newState }, epoch: pm.epoch, sender, data: result.message };
}

/** The member at `leafIndex` of a tree, read from its credential as `members` does. */
function memberAt(tree: RatchetTree, leafIndex: number): Member | undefined {
  const node = tree[leafIndex * 2];
  if (node?.nodeType !== 'leaf') return undefined;
  const who = identityOf(node.leaf.credential);
  return { leafIndex, participant: who?.participant ?? `leaf-${leafIndex}`, name: who?.name ?? '', keyFingerprint: keyFingerprint(node.leaf.signaturePublicKey) };
}

