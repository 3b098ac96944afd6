/**
 * Which Merkle nodes the audit logs store, and how they compute the others:
 * the SQLite and the PostgreSQL node stores keep only the perfect subtrees of
 * FIRST_STORED_LEVEL or above, and compute a lower node from the hashes of at
 * most 2^(FIRST_STORED_LEVEL − 1) records, which audit_log holds anyway (leaf
 * i is record i + 1, its entry the record's hash). A record then costs 1/8
 * of a node row instead of two; a root reads ≤ 15 record hashes, a proof ≤ 31
 * (its path's lower siblings, and the small subtrees at the tree's right edge).
 */
import { hashChildren, hashLeaf } from '../../translog/index.js';
import { leafEntry } from './audit-log.js';

/**
 * The lowest level with rows in a node table. Set by the audit schema's
 * version 3 (SQLite) and migration 2 (PostgreSQL), which deleted the rows
 * below: changing it takes another version of both.
 */
export const FIRST_STORED_LEVEL = 4;

/** The leaf hash of the record whose `hash` (hex) is its entry. */
export function recordLeaf(hash: string): Uint8Array {
  return hashLeaf(leafEntry(hash));
}

/**
 * Node (level, index) from the leaf hashes `leafAt` gives by leaf number
 * (RFC 9162 §2.1.1: a perfect subtree splits in halves), or undefined when
 * one of its 2^level leaves is missing.
 */
export function subtreeHash(leafAt: (leaf: number) => Uint8Array | undefined, level: number, index: number): Uint8Array | undefined {
  if (level === 0) return leafAt(index);
  const left = subtreeHash(leafAt, level - 1, 2 * index);
  const right = subtreeHash(leafAt, level - 1, 2 * index + 1);
  return left === undefined || right === undefined ? undefined : hashChildren(left, right);
}
