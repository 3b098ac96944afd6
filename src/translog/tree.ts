/**
 * An append-only Merkle tree over a NodeStore (RFC 9162 §2.1): appends, tree
 * heads and the proofs of §2.1.3.1 (PATH) and §2.1.4.1 (PROOF/SUBPROOF), for
 * the current size or any earlier one.
 *
 * Nothing is rehashed from the leaves. An append stores its leaf hash and the
 * hash of every perfect subtree it completes (on average one more). Every
 * MTH(D[a:b]) the RFC's recursions need has `a` aligned to a power of two at
 * least b − a, so it is the right fold of at most log2(b − a) + 1 stored
 * perfect subtrees; in a proof at most one of them is not itself perfect, so a
 * root or a proof costs O(log n) reads and hashes.
 */
import { GeobridgeError } from '../core/errors.js';
import { hashChildren, hashEmptyTree, hashLeaf } from './hash.js';
import { MemoryNodeStore, type NodeStore } from './node-store.js';

/** A tree of `size` leaves and its root hash (MTH), as a signed tree head will carry them. */
export interface TreeHead {
  readonly size: number;
  readonly rootHash: Uint8Array;
}

/** An append-only RFC 9162 Merkle tree whose hashes live in a NodeStore. */
export class MerkleTree {
  readonly #store: NodeStore;

  /** A tree over `store`, which may already hold leaves (a reopened log). */
  constructor(store: NodeStore = new MemoryNodeStore()) {
    this.#store = store;
  }

  /** The number of leaves. */
  get size(): number {
    return this.#store.size();
  }

  /** Appends an entry and returns its leaf index. */
  append(data: Uint8Array): number {
    const index = this.#store.size();
    let hash = hashLeaf(data);
    const writes: [level: number, index: number, hash: Uint8Array][] = [[0, index, hash]];
    // A right child completes its parent: climb while the node is one.
    for (let level = 0, i = index; i % 2 === 1; level++, i = (i - 1) / 2) {
      hash = hashChildren(this.#node(level, i - 1), hash);
      writes.push([level + 1, (i - 1) / 2, hash]);
    }
    // Top down: level 0 counts the leaf, so it goes last (node-store.ts).
    for (let w = writes.length - 1; w >= 0; w--) {
      const [level, i, h] = writes[w] as [number, number, Uint8Array];
      this.#store.put(level, i, h);
    }
    return index;
  }

  /** The tree head of the first `size` leaves (default: all of them). */
  head(size: number = this.size): TreeHead {
    this.#checkSize(size, 'tree size');
    return { size, rootHash: size === 0 ? hashEmptyTree() : this.#range(0, size) };
  }

  /** PATH(index, D[size]) of §2.1.3.1: the inclusion proof of leaf `index` in the tree of `size` leaves. */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    this.#checkSize(size, 'tree size');
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new GeobridgeError('TRANSLOG_OUT_OF_RANGE', `leaf index ${String(index)} is not in a tree of ${String(size)} leaves`);
    }
    const out: Uint8Array[] = [];
    this.#path(index, 0, size, out);
    return out;
  }

  /**
   * PROOF(first, D[second]) of §2.1.4.1: the consistency proof from the tree
   * of `first` leaves to that of `second`. Empty when first is 0 or equals
   * second: there is nothing to prove (the RFC defines PROOF for 0 < first < second).
   */
  consistencyProof(first: number, second: number = this.size): Uint8Array[] {
    this.#checkSize(second, 'second tree size');
    if (!Number.isSafeInteger(first) || first < 0 || first > second) {
      throw new GeobridgeError('TRANSLOG_OUT_OF_RANGE', `first tree size ${String(first)} is not in 0..${String(second)}`);
    }
    const out: Uint8Array[] = [];
    if (first > 0 && first < second) this.#subproof(first, 0, second, true, out);
    return out;
  }

  /** PATH(index − lo, D[lo:hi]), appended to `out` (deepest node first, as the RFC's ':' concatenates). */
  #path(index: number, lo: number, hi: number, out: Uint8Array[]): void {
    if (hi - lo === 1) return;
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      this.#path(index, lo, lo + k, out);
      out.push(this.#range(lo + k, hi));
    } else {
      this.#path(index, lo + k, hi, out);
      out.push(this.#range(lo, lo + k));
    }
  }

  /**
   * SUBPROOF(m, D[lo:hi], b), appended to `out`. `b` is true while D[lo:lo+m]
   * is the whole old tree, whose root the verifier already holds (§2.1.4.1).
   */
  #subproof(m: number, lo: number, hi: number, b: boolean, out: Uint8Array[]): void {
    if (m === hi - lo) {
      if (!b) out.push(this.#range(lo, hi));
      return;
    }
    const k = splitPoint(hi - lo);
    if (m <= k) {
      this.#subproof(m, lo, lo + k, b, out);
      out.push(this.#range(lo + k, hi));
    } else {
      this.#subproof(m - k, lo + k, hi, false, out);
      out.push(this.#range(lo, lo + k));
    }
  }

  /**
   * MTH(D[lo:hi]) for hi > lo, `lo` a multiple of a power of two ≥ hi − lo:
   * the perfect subtrees that tile it, largest first, folded from the right
   * (§2.1.1 splits at the largest power of two below the size).
   */
  #range(lo: number, hi: number): Uint8Array {
    const parts: Uint8Array[] = [];
    for (let start = lo; start < hi; ) {
      let level = 0;
      let width = 1;
      while (width * 2 <= hi - start) {
        width *= 2;
        level++;
      }
      parts.push(this.#node(level, start / width));
      start += width;
    }
    let hash = parts.pop() as Uint8Array;
    for (let p = parts.pop(); p !== undefined; p = parts.pop()) hash = hashChildren(p, hash);
    return hash;
  }

  #node(level: number, index: number): Uint8Array {
    const hash = this.#store.get(level, index);
    if (hash === undefined) throw new GeobridgeError('TRANSLOG_MISSING_NODE', `the node store has no hash for node (${String(level)}, ${String(index)}) of a tree of ${String(this.size)} leaves`);
    return hash;
  }

  #checkSize(size: number, what: string): void {
    const have = this.#store.size();
    if (!Number.isSafeInteger(size) || size < 0 || size > have) {
      throw new GeobridgeError('TRANSLOG_OUT_OF_RANGE', `${what} ${String(size)} is not in 0..${String(have)}, the leaves of the log`);
    }
  }
}

/**
 * k of §2.1.1: the largest power of two smaller than `n` (n ≥ 2). Plain
 * arithmetic, not bit operators, which would cut sizes to 32 bits.
 */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
