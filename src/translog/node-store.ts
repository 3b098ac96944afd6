/**
 * Where a Merkle tree keeps its hashes: one per *perfect subtree*. Node
 * (level, index) is MTH(D[index·2^level : (index+1)·2^level]) — level 0 holds
 * the leaf hashes, level 1 the hashes of leaf pairs, and so on. A tree of n
 * leaves has at most 2n − 1 of them, each written once and never changed;
 * every root and proof of RFC 9162 §2.1 is made of them (tree.ts).
 *
 * The interface is synchronous and minimal so that a database table can
 * implement it directly. In SQLite (better-sqlite3 is synchronous):
 *
 *   CREATE TABLE translog_node (level INTEGER NOT NULL, idx INTEGER NOT NULL,
 *     hash BLOB NOT NULL CHECK (length(hash) = 32), PRIMARY KEY (level, idx)) STRICT, WITHOUT ROWID;
 *   get:  SELECT hash FROM translog_node WHERE level = ? AND idx = ?
 *   put:  INSERT INTO translog_node (level, idx, hash) VALUES (?, ?, ?)   -- never REPLACE: a node is immutable
 *   size: SELECT COALESCE(MAX(idx) + 1, 0) FROM translog_node WHERE level = 0   -- one seek on the key
 *
 * (The audit logs go further: they keep no row below level 4, computing
 * those nodes from the records' hashes, and count the size by the records:
 * src/broker/audit/sqlite-node-store.ts.)
 *
 * PostgreSQL takes the same table (BYTEA, BIGINT). The adapter runs each
 * `MerkleTree.append` in one transaction, with appends serialised (one
 * writer, or a lock), so a crash keeps all of an append's nodes or none;
 * `append` also writes the leaf (level 0) last, so `size()` never counts a
 * leaf whose completed subtrees are missing. Node's PostgreSQL drivers are
 * asynchronous: such an adapter reads the nodes a call needs first (which
 * ones depends only on the sizes and the index) and serves `get` from them.
 */
import { HASH_SIZE } from './hash.js';

/** The hashes of a tree's perfect subtrees, by (level, index). */
export interface NodeStore {
  /** The hash of node (level, index), or undefined if it was never written. */
  get(level: number, index: number): Uint8Array | undefined;
  /** Writes the hash of node (level, index); each node is written once. */
  put(level: number, index: number, hash: Uint8Array): void;
  /** The number of leaves: the nodes written at level 0. */
  size(): number;
}

const INITIAL_CAPACITY = 64;

/**
 * A NodeStore in memory: each level's hashes back to back in one growing
 * buffer (32 bytes a node, no object per node), so a tree of 10^6 leaves
 * takes ~64 MB. Levels are written in index order, as MerkleTree does.
 */
export class MemoryNodeStore implements NodeStore {
  /** Level l's buffer: node (l, i) at bytes 32i..32i + 31. */
  readonly #levels: Uint8Array[] = [];
  /** Nodes written at each level. */
  readonly #counts: number[] = [];

  /** A copy of the hash, so that no caller can change the store through a proof. */
  get(level: number, index: number): Uint8Array | undefined {
    const buffer = this.#levels[level];
    if (buffer === undefined || !Number.isSafeInteger(index) || index < 0 || index >= (this.#counts[level] ?? 0)) return undefined;
    return buffer.slice(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }

  put(level: number, index: number, hash: Uint8Array): void {
    if (!Number.isSafeInteger(level) || level < 0 || level > this.#levels.length) throw new RangeError(`node level ${String(level)} skips a level`);
    if (hash.length !== HASH_SIZE) throw new RangeError(`a node hash has ${String(HASH_SIZE)} bytes, got ${String(hash.length)}`);
    const count = this.#counts[level] ?? 0;
    if (index !== count) throw new RangeError(`level ${String(level)} is written in order: expected node ${String(count)}, got ${String(index)}`);
    let buffer = this.#levels[level] ?? new Uint8Array(INITIAL_CAPACITY * HASH_SIZE);
    if ((count + 1) * HASH_SIZE > buffer.length) {
      const grown = new Uint8Array(buffer.length * 2);
      grown.set(buffer);
      buffer = grown;
    }
    buffer.set(hash, count * HASH_SIZE);
    this.#levels[level] = buffer;
    this.#counts[level] = count + 1;
  }

  size(): number {
    return this.#counts[0] ?? 0;
  }
}
