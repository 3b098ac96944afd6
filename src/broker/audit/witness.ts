/**
 * What a witness decides when a log shows it a new signed tree head: the
 * head must be signed by the key it pinned, and the log it describes must
 * extend the last one the witness saw — never shrink (a rollback), never
 * show two roots for one size or a tree that does not contain the old one
 * (a fork), never sign a grown head before the one it extends or in the
 * future (RFC 6962 §3.5: each head is newer than the last). Anyone can run
 * one (`geobridge audit witness`); a log that rewrites its history then has
 * to convince every witness, and cannot.
 */
import { verifyConsistency, type TreeHead } from '../../translog/index.js';
import { verifyTreeHead, type SignedTreeHead } from './tree-heads.js';
import { isoTime } from '../../core/time.js';
import type { LogPublicKey } from './verify-log.js';

/** How far the clocks of a log's brokers and of a witness may disagree: a head signed up to this much "in the future", or before the last, is not a lie. */
export const CLOCK_SKEW_MS = 5_000;
/**
 * How much older than the last head kept a smaller one may be and still be
 * stale, not a rollback: brokers sharing a log each serve the head they
 * signed last, up to a signing interval old, so a witness behind a load
 * balancer can be shown an older, smaller head after a newer one.
 */
export const STALE_MS = 30_000;

/** The verdict on a new head: kept or let pass (`first`, `grew`; `same`, `stale`), or an alarm. */
export type WitnessVerdict =
  | { readonly kind: 'first' | 'same' | 'grew' | 'stale'; readonly head: TreeHead }
  | { readonly kind: 'bad-signature' | 'rollback' | 'fork' | 'time' | 'unproven'; readonly reason: string };

/**
 * The sizes between which `judgeTreeHead` needs the log's consistency proof
 * to judge `next` (the smaller first), or undefined when it needs none.
 */
export function proofNeeded(last: SignedTreeHead | undefined, next: SignedTreeHead): { readonly from: number; readonly to: number } | undefined {
  if (last === undefined || next.size === last.size) return undefined;
  if (next.size > last.size) return { from: last.size, to: next.size };
  return isStale(last, next) ? { from: next.size, to: last.size } : undefined;
}

/** A smaller head signed before `last`, and not long before: one served late, if the log proves it a prefix of `last`. */
function isStale(last: SignedTreeHead, next: SignedTreeHead): boolean {
  return next.timestamp <= last.timestamp && last.timestamp - next.timestamp <= STALE_MS;
}

/**
 * Judges `next` against `last` (undefined on the first poll) at `nowMs` on
 * the witness's clock, with `proof` the log's consistency proof between
 * the two sizes that `proofNeeded` names (base64 hashes; undefined when
 * the log gave none).
 */
export function judgeTreeHead(last: SignedTreeHead | undefined, next: SignedTreeHead, proof: readonly string[] | undefined, key: LogPublicKey, nowMs: number): WitnessVerdict {
  const signed = verifyTreeHead(next, key.publicKey, key.keyId);
  if (!signed.ok) return { kind: 'bad-signature', reason: `the new tree head (${String(next.size)} records): ${signed.reason}` };
  const records = `${String(next.size)} records`;
  if (next.timestamp > nowMs + CLOCK_SKEW_MS) return { kind: 'time', reason: `the tree head of ${records} is signed ${isoTime(next.timestamp)}, in the future (the witness's clock says ${isoTime(nowMs)})` };
  if (last === undefined) return { kind: 'first', head: signed.head };
  const previous = { size: last.size, rootHash: Uint8Array.from(Buffer.from(last.rootHash, 'base64')) };
  const proofHashes = proof?.map((p) => Uint8Array.from(Buffer.from(p, 'base64')));
  const seen = `the one of ${String(last.size)} records seen before (signed ${isoTime(last.timestamp)})`;
  if (next.size < last.size) {
    if (!isStale(last, next)) return { kind: 'rollback', reason: `the log shrank from ${String(last.size)} to ${String(next.size)} records since the head signed ${isoTime(last.timestamp)}` };
    if (proofHashes === undefined) return { kind: 'unproven', reason: `the log showed an older head of ${records} and gave no consistency proof that ${seen} extends it` };
    const check = verifyConsistency(signed.head, previous, proofHashes);
    return check.ok ? { kind: 'stale', head: signed.head } : { kind: 'fork', reason: `the older head of ${records} it showed is not a prefix of ${seen} (${check.message}): two histories were signed` };
  }
  if (next.size === last.size) {
    return next.rootHash === last.rootHash ? { kind: 'same', head: signed.head } : { kind: 'fork', reason: `two different roots signed for ${records}: the log was rewritten` };
  }
  if (next.timestamp < last.timestamp - CLOCK_SKEW_MS) return { kind: 'time', reason: `the tree head of ${records} is signed ${isoTime(next.timestamp)}, before ${seen}, which it extends: a log signs its heads in order` };
  if (proofHashes === undefined) return { kind: 'unproven', reason: `the log showed a head of ${records} and gave no consistency proof that it extends ${seen}` };
  const check = verifyConsistency(previous, signed.head, proofHashes);
  if (!check.ok) return { kind: 'fork', reason: `the tree of ${records} does not extend ${seen} (${check.message}): records before then were changed` };
  return { kind: 'grew', head: signed.head };
}

