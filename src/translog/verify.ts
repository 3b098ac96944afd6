/**
 * Verification of inclusion (RFC 9162 §2.1.3.2) and consistency (§2.1.4.2)
 * proofs, step by step as the RFC writes them. Whatever they are given —
 * wrong types, negative, fractional or huge sizes, NaN — they return a
 * result and never throw, so a CLI can print `reason` and `message`.
 *
 * Sizes are Numbers up to 2^53 − 1; the RFC's shifts are written as halvings,
 * because JavaScript's bit operators would cut them to 32 bits.
 */
import { equalBytes, hashChildren, hashEmptyTree, isHash } from './hash.js';
import type { TreeHead } from './tree.js';

/** Why a proof failed. */
export type ProofFailure =
  /** A size or leaf index is not an integer in 0..2^53 − 1. */
  | 'invalid-number'
  /** A hash, a tree head or the proof is not what it must be (32-byte Uint8Arrays, an array). */
  | 'malformed'
  /** The leaf index is not below the tree size (§2.1.3.2 step 1). */
  | 'index-out-of-range'
  /** The first tree is larger than the second. */
  | 'sizes-out-of-order'
  /** Nodes are left when the path has reached the root (step 4a / 6a; a non-empty proof between equal sizes or from the empty tree). */
  | 'proof-too-long'
  /** The path ends below the root (step 5 / 7: sn is not 0; an empty consistency path, step 1). */
  | 'proof-too-short'
  /** The inclusion path leads to another root. */
  | 'root-mismatch'
  /** The consistency path does not rebuild the first tree's root. */
  | 'first-root-mismatch'
  /** The consistency path does not lead to the second tree's root (or two heads of one size differ). */
  | 'second-root-mismatch';

/** The outcome of a verification. */
export type VerifyResult = { readonly ok: true } | { readonly ok: false; readonly reason: ProofFailure; readonly message: string };

const OK: VerifyResult = Object.freeze({ ok: true });

function fail(reason: ProofFailure, message: string): VerifyResult {
  return { ok: false, reason, message };
}

function isLSBSet(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

/** Exact for every safe integer, unlike Math.log2, which rounds 2^50 − 1 to 50. */
function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

/** Why `value` is not a valid size or index, if it is not. */
function checkCount(value: unknown, what: string): VerifyResult | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? undefined : fail('invalid-number', `${what} is not an integer in 0..2^53 − 1: ${describe(value)}`);
}

function checkHead(head: unknown, what: string): VerifyResult | undefined {
  if (typeof head !== 'object' || head === null) return fail('malformed', `${what} is not a tree head: ${describe(head)}`);
  const { size, rootHash } = head as Partial<Record<keyof TreeHead, unknown>>;
  return checkCount(size, `${what}'s size`) ?? (isHash(rootHash) ? undefined : fail('malformed', `${what}'s root hash is not 32 bytes: ${describe(rootHash)}`));
}

function checkProof(proof: unknown): VerifyResult | undefined {
  if (!Array.isArray(proof)) return fail('malformed', `the proof is not an array of hashes: ${describe(proof)}`);
  const bad = proof.findIndex((node) => !isHash(node));
  return bad === -1 ? undefined : fail('malformed', `proof node ${String(bad)} is not 32 bytes: ${describe(proof[bad])}`);
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `${String(value.length)} bytes`;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return `an array of ${String(value.length)}`;
  return value === null ? 'null' : typeof value;
}

/**
 * Verifies that the leaf with hash `leafHash` is at `index` in the tree of
 * `head` (§2.1.3.2). `head.size` is bound only through `head.rootHash`: take
 * both from one signed tree head — the path of leaf 0 in a tree of 5 leaves,
 * for one, also checks as leaf 0 of a tree of 6 with that same root.
 */
export function verifyInclusion(leafHash: Uint8Array, index: number, proof: readonly Uint8Array[], head: TreeHead): VerifyResult {
  const bad = (isHash(leafHash) ? undefined : fail('malformed', `the leaf hash is not 32 bytes: ${describe(leafHash)}`)) ?? checkCount(index, 'the leaf index') ?? checkHead(head, 'the tree head') ?? checkProof(proof);
  if (bad) return bad;
  // 1. The leaf must be in the tree.
  if (index >= head.size) return fail('index-out-of-range', `leaf ${String(index)} is not in a tree of ${String(head.size)} leaves`);
  // 2., 3.
  let fn = index;
  let sn = head.size - 1;
  let r = leafHash;
  // 4.
  for (const p of proof) {
    // a.
    if (sn === 0) return fail('proof-too-long', `the proof has more nodes than leaf ${String(index)} of a tree of ${String(head.size)} needs`);
    // b.
    if (isLSBSet(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isLSBSet(fn)) {
        while (!isLSBSet(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    // c.
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  if (sn !== 0) return fail('proof-too-short', `the proof ends before the root of a tree of ${String(head.size)} leaves`);
  if (!equalBytes(r, head.rootHash)) return fail('root-mismatch', `the proof does not lead from leaf ${String(index)} to the root of the tree of ${String(head.size)} leaves`);
  return OK;
}

/**
 * Verifies that the tree of `second` extends the tree of `first`: same
 * leaves, in the same order, then more (§2.1.4.2). Beyond the RFC, which
 * defines the algorithm for 0 < first < second: equal sizes need an empty
 * proof and equal roots; the empty tree (its root SHA-256("")) precedes every
 * tree, with an empty proof.
 */
export function verifyConsistency(first: TreeHead, second: TreeHead, proof: readonly Uint8Array[]): VerifyResult {
  const bad = checkHead(first, 'the first tree head') ?? checkHead(second, 'the second tree head') ?? checkProof(proof);
  if (bad) return bad;
  const m = first.size;
  const n = second.size;
  if (m > n) return fail('sizes-out-of-order', `the first tree (${String(m)} leaves) is larger than the second (${String(n)})`);
  if (m === 0 || m === n) {
    if (proof.length > 0) return fail('proof-too-long', `a proof from ${String(m)} to ${String(n)} leaves is empty, this one has ${String(proof.length)} nodes`);
    if (m === 0 && !equalBytes(first.rootHash, hashEmptyTree())) return fail('first-root-mismatch', 'the first tree has 0 leaves but its root is not SHA-256 of the empty string');
    if (m === n && !equalBytes(first.rootHash, second.rootHash)) return fail('second-root-mismatch', `two trees of ${String(n)} leaves with different roots: the log forked`);
    return OK;
  }
  // 1.
  if (proof.length === 0) return fail('proof-too-short', `the proof from ${String(m)} to ${String(n)} leaves is empty`);
  // 2. The old root is itself a node of the new tree; the proof leaves it out.
  const path = isPowerOfTwo(m) ? [first.rootHash, ...proof] : proof;
  // 3.
  let fn = m - 1;
  let sn = n - 1;
  // 4.
  while (isLSBSet(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  let fr = path[0] as Uint8Array;
  let sr = fr;
  // 6.
  for (const c of path.slice(1)) {
    // a.
    if (sn === 0) return fail('proof-too-long', `the proof has more nodes than ${String(m)} → ${String(n)} leaves needs`);
    // b.
    if (isLSBSet(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isLSBSet(fn)) {
        while (!isLSBSet(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    // c.
    fn = half(fn);
    sn = half(sn);
  }
  // 7.
  if (sn !== 0) return fail('proof-too-short', `the proof ends before the root of the tree of ${String(n)} leaves`);
  if (!equalBytes(fr, first.rootHash)) return fail('first-root-mismatch', `the proof does not rebuild the root of the tree of ${String(m)} leaves`);
  if (!equalBytes(sr, second.rootHash)) return fail('second-root-mismatch', `the proof does not lead to the root of the tree of ${String(n)} leaves`);
  return OK;
}
