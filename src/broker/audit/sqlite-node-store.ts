/**
 * The transparency log's node store in the audit log's SQLite file: the
 * table node-store.ts describes, holding only the perfect subtrees of
 * FIRST_STORED_LEVEL or above, as the PostgreSQL log does (stored-levels.ts
 * says why; the lower nodes are computed from audit_log's hashes). The
 * tree's size is its last record's seq, and `MerkleTree.append` numbers the
 * new leaf by the size: a record is inserted after its leaf is appended.
 * Synchronous, as NodeStore is, so MerkleTree runs on it unchanged; writes
 * happen inside the audit writer's transaction, reads on any connection.
 */
import type Database from 'better-sqlite3';
import type { NodeStore } from '../../translog/index.js';
import { FIRST_STORED_LEVEL, recordLeaf, subtreeHash } from './stored-levels.js';

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
      const first = index * 2 ** level;
      const leaves = this.#records.all(first, first + 2 ** level).map(recordLeaf);
      return subtreeHash((leaf) => leaves[leaf - first], level, index);
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
