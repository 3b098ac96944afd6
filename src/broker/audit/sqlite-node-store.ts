/**
 * The transparency log's node store in the audit log's SQLite file: the
 * table node-store.ts describes, holding only the perfect subtrees of
 * FIRST_STORED_LEVEL or above, as the PostgreSQL log does. A lower node is
 * computed from the hashes of at most 2^(FIRST_STORED_LEVEL − 1) records,
 * which audit_log holds anyway (leaf i is record i + 1, its entry the
 * record's hash), so a record costs 1/8 of a node row instead of two. The
 * tree's size is its last record's seq, and `MerkleTree.append` numbers the
 * new leaf by the size: a record is inserted after its leaf is appended.
 * Synchronous, as NodeStore is, so MerkleTree runs on it unchanged; writes
 * happen inside the audit writer's transaction, reads on any connection.
 */
import type Database from 'better-sqlite3';
import { hashChildren, hashLeaf, type NodeStore } from '../../translog/index.js';
import { leafEntry } from './audit-log.js';

/**
 * The lowest level with rows in the node table. Set by the audit schema's
 * version 3, which deleted the rows below: changing it takes another version.
 */
export const FIRST_STORED_LEVEL = 4;

/** The node table, named `name`: a broker of schema 2, which writes every level, has its commits fail here rather than land. */
export function nodeTable(name: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${name} (
  level INTEGER NOT NULL CHECK (level >= ${String(FIRST_STORED_LEVEL)}),
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;
`;
}

/** A NodeStore over `translog_node` and `audit_log` of one connection. */
export class SqliteNodeStore implements NodeStore {
  readonly #get: Database.Statement<[number, number], Buffer>;
  readonly #put: Database.Statement<[number, number, Uint8Array]>;
  readonly #records: Database.Statement<[number, number], string>;
  readonly #size: Database.Statement<[], number>;

  constructor(db: Database.Database) {
    this.#get = db.prepare<[number, number], Buffer>('SELECT hash FROM translog_node WHERE level = ? AND idx = ?').pluck();
    this.#put = db.prepare<[number, number, Uint8Array]>('INSERT INTO translog_node (level, idx, hash) VALUES (?, ?, ?)');
    this.#records = db.prepare<[number, number], string>('SELECT hash FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq').pluck();
    this.#size = db.prepare<[], number>('SELECT COALESCE(MAX(seq), 0) FROM audit_log').pluck();
  }

  get(level: number, index: number): Uint8Array | undefined {
    if (level < FIRST_STORED_LEVEL) {
      const width = 2 ** level;
      const leaves = this.#records.all(index * width, (index + 1) * width).map((hash) => hashLeaf(leafEntry(hash)));
      return leaves.length === width ? subtreeHash(leaves) : undefined;
    }
    const hash = this.#get.get(level, index);
    return hash === undefined ? undefined : Uint8Array.from(hash);
  }

  /** Keeps the nodes of FIRST_STORED_LEVEL and above; the others are the records'. */
  put(level: number, index: number, hash: Uint8Array): void {
    if (level >= FIRST_STORED_LEVEL) this.#put.run(level, index, hash);
  }

  size(): number {
    return this.#size.get() ?? 0;
  }
}

/** The hash of a perfect subtree from its leaf hashes (a power of two of them; RFC 9162 §2.1.1 splits in halves). */
function subtreeHash(leaves: readonly Uint8Array[]): Uint8Array {
  let level = leaves;
  while (level.length > 1) level = Array.from({ length: level.length / 2 }, (_, i) => hashChildren(level[2 * i] as Uint8Array, level[2 * i + 1] as Uint8Array));
  return level[0] as Uint8Array;
}
