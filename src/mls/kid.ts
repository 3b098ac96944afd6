/**
 * SFrame key ids for MLS groups (RFC 9605 §5.2). All members of an epoch
 * share one base_key from the MLS exporter; the KID carries the sender's leaf
 * index, and SFrame's key derivation (§4.4.2) puts the KID into the key and
 * salt labels, so every sender encrypts under its own key and nonces never
 * collide across senders.
 *
 * Layout of the 64-bit KID, most significant first:
 *
 *   | context id: 44 bits | sender leaf index: 16 bits | epoch mod 16: 4 bits |
 *
 * - 4 epoch bits: receivers keep a key for the epoch before the current one
 *   while senders switch over, so 16 epochs apart is far more than needed to
 *   tell them apart; a KID's epoch bits repeat only after 16 commits.
 * - 16 sender bits: leaf indices of groups up to 65,536 leaves (RFC 9420
 *   trees leave blanks, so a leaf index can exceed the member count).
 * - 44 context bits: lets one member run several SFrame contexts in an epoch
 *   (e.g. a second device stream) without sharing a KID; 0 by default.
 *
 * SFrame sends a KID in its shortest form, so small groups pay little: with
 * context 0, leaf 0's KIDs in epochs 0–7 fit in the config byte, leaf
 * indices below 16 take one KID byte and below 4,096 two.
 */
import type { SFrameContext } from '../sframe/index.js';
import { GeobridgeError } from '../core/errors.js';

/** Bits of the epoch in a KID. */
export const KID_EPOCH_BITS = 4;
/** Bits of the sender's leaf index in a KID. */
export const KID_SENDER_BITS = 16;
/** Bits of the context id in a KID (the rest of 64). */
export const KID_CONTEXT_BITS = 64 - KID_SENDER_BITS - KID_EPOCH_BITS;

const EPOCH_MASK = (1n << BigInt(KID_EPOCH_BITS)) - 1n;
const SENDER_LIMIT = 2 ** KID_SENDER_BITS;
const CONTEXT_LIMIT = 1n << BigInt(KID_CONTEXT_BITS);

/** A KID taken apart. Only the low epoch bits survive: the full epoch is not in the KID. */
export interface KidParts {
  readonly context: bigint;
  readonly senderIndex: number;
  /** epoch mod 2^KID_EPOCH_BITS. */
  readonly epochBits: bigint;
}

/** The KID of leaf `senderIndex` in MLS epoch `epoch` (RFC 9605 §5.2). Throws MLS_BAD_KID for values that do not fit. */
export function kid(epoch: bigint, senderIndex: number, context = 0n): bigint {
  if (epoch < 0n) throw new GeobridgeError('MLS_BAD_KID', `An MLS epoch is never negative, got ${epoch.toString()}.`);
  if (!Number.isInteger(senderIndex) || senderIndex < 0 || senderIndex >= SENDER_LIMIT) {
    throw new GeobridgeError('MLS_BAD_KID', `A sender leaf index must be an integer in 0..${SENDER_LIMIT - 1}, got ${String(senderIndex)}.`);
  }
  if (context < 0n || context >= CONTEXT_LIMIT) throw new GeobridgeError('MLS_BAD_KID', `A KID context id must be in 0..2^${KID_CONTEXT_BITS}-1, got ${context.toString()}.`);
  return (context << BigInt(KID_SENDER_BITS + KID_EPOCH_BITS)) | (BigInt(senderIndex) << BigInt(KID_EPOCH_BITS)) | (epoch & EPOCH_MASK);
}

/** The inverse of `kid`: context id, sender leaf index and low epoch bits. Throws MLS_BAD_KID outside 0..2^64-1. */
export function parseKid(value: bigint): KidParts {
  if (value < 0n || value >= 1n << 64n) throw new GeobridgeError('MLS_BAD_KID', `A KID is a 64-bit unsigned value, got ${value.toString()}.`);
  return {
    context: value >> BigInt(KID_SENDER_BITS + KID_EPOCH_BITS),
    senderIndex: Number((value >> BigInt(KID_EPOCH_BITS)) & BigInt(SENDER_LIMIT - 1)),
    epochBits: value & EPOCH_MASK,
  };
}

/**
 * How an epoch's video frames carry the codec's clear prefix
 * (src/sdk/sframe-transform.ts): 'split' encrypts the rest of the frame,
 * 'whole' the whole frame, prefix included, so that a receiver's AEAD output
 * is the frame itself. Every member of an epoch uses the same one: 'whole'
 * when every member's leaf says it reads it (group.ts `frameLayout`).
 */
export type FrameLayout = 'split' | 'whole';

/** One epoch's SFrame material as one member sees it (see `epochKeys` in group.ts). */
export interface EpochKeys {
  readonly epoch: bigint;
  /** MLS-Exporter("SFrame 1.0 Base Key", "", Nk), the same for every member. */
  readonly baseKey: Uint8Array;
  /** This member's leaf index. */
  readonly ownIndex: number;
  /** Every member's leaf index, this member's included. */
  readonly memberIndices: readonly number[];
  /**
   * The CTR of this member's first frame in the epoch (default 0). A group
   * carried to another bridge keeps its epoch, and a new SFrame context there
   * would start again at 0 and reuse the AEAD nonces of the first connection;
   * `firstCounter(n)` puts the n-th connection in the epoch above them.
   */
  readonly firstCounter?: bigint;
  /** The epoch's frame layout (default 'split'). */
  readonly layout?: FrameLayout;
}

/** CTRs each connection of a member may use in one epoch: 2^40 frames, 350 years at 100 frames/s. */
const COUNTERS_PER_CONNECTION = 1n << 40n;

/** The first CTR of a member's `connection`-th connection in one epoch (0 for the first), so connections never share a nonce. */
export function firstCounter(connection: number): bigint {
  if (!Number.isSafeInteger(connection) || connection < 0 || connection >= 1 << 24) throw new GeobridgeError('MLS_BAD_KID', `A connection count must be in 0..2^24-1, got ${String(connection)}.`);
  return BigInt(connection) * COUNTERS_PER_CONNECTION;
}

/** The KIDs `installEpochKeys` adds. */
export interface InstalledKids {
  readonly send: bigint;
  readonly receive: readonly bigint[];
}

/**
 * Adds an epoch's keys to an SFrame context: an encryption key under this
 * member's KID, a decryption key under every other member's. Remove the
 * epoch's keys (`removeEpochKeys`) before one 16 epochs later reuses its KIDs.
 */
export async function installEpochKeys(ctx: SFrameContext, keys: EpochKeys, context = 0n): Promise<InstalledKids> {
  const send = kid(keys.epoch, keys.ownIndex, context);
  const receive = keys.memberIndices.filter((i) => i !== keys.ownIndex).map((i) => kid(keys.epoch, i, context));
  await ctx.addEncryptionKey(send, keys.baseKey, { nextCtr: keys.firstCounter ?? 0n });
  await Promise.all(receive.map((k) => ctx.addDecryptionKey(k, keys.baseKey)));
  return { send, receive };
}

/** Removes the keys `installEpochKeys` added for these epoch keys. */
export function removeEpochKeys(ctx: SFrameContext, installed: InstalledKids): void {
  ctx.removeKey(installed.send);
  for (const k of installed.receive) ctx.removeKey(k);
}
