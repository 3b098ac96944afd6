/**
 * What a witness decides when a log shows it a new signed tree head: the
 * head must be signed by the key it pinned, and the log it describes must
 * extend the last one the witness saw — never shrink (a rollback), never
 * show two roots for one size or a tree that does not contain the old one
 * (a fork). Anyone can run one (`geobridge audit witness`); a log that
 * rewrites its history then has to convince every witness, and cannot.
 */
import { verifyConsistency, type TreeHead } from '../../translog/index.js';
import { verifyTreeHead, type SignedTreeHead } from './tree-heads.js';
import type { LogPublicKey } from './verify-log.js';

/** The verdict on a new head. */
export type WitnessVerdict =
  | { readonly kind: 'first' | 'same' | 'grew'; readonly head: TreeHead }
  | { readonly kind: 'bad-signature' | 'rollback' | 'fork'; readonly reason: string };

/**
 * Judges `next` against `last` (undefined on the first poll), with
 * `proof` the log's consistency proof from last.size to next.size (base64
 * hashes; ignored when the sizes are equal or there is no last head).
 */
export function judgeTreeHead(last: SignedTreeHead | undefined, next: SignedTreeHead, proof: readonly string[], key: LogPublicKey): WitnessVerdict {
  const signed = verifyTreeHead(next, key.publicKey, key.keyId);
  if (!signed.ok) return { kind: 'bad-signature', reason: `the new tree head (${String(next.size)} records): ${signed.reason}` };
  if (last === undefined) return { kind: 'first', head: signed.head };
  const previous = { size: last.size, rootHash: Uint8Array.from(Buffer.from(last.rootHash, 'base64')) };
  if (next.size < last.size) return { kind: 'rollback', reason: `the log shrank from ${String(last.size)} to ${String(next.size)} records since the head signed ${new Date(last.timestamp).toISOString()}` };
  if (next.size === last.size) {
    return next.rootHash === last.rootHash ? { kind: 'same', head: signed.head } : { kind: 'fork', reason: `two different roots signed for ${String(next.size)} records: the log was rewritten` };
  }
  const check = verifyConsistency(previous, signed.head, proof.map((p) => Uint8Array.from(Buffer.from(p, 'base64'))));
  if (!check.ok) return { kind: 'fork', reason: `the tree of ${String(next.size)} records does not extend the one of ${String(last.size)} seen before (${check.message}): records before then were changed` };
  return { kind: 'grew', head: signed.head };
}
