/**
 * The transparency log's node store in the audit log's SQLite file: the
 * table node-store.ts describes, one row per perfect subtree. Synchronous, as
 * NodeStore is, so MerkleTree runs on it unchanged; writes happen inside the
 * audit writer's transaction, reads on any connection (nodes never change).
 */
import type Database from 'better-sqlite3';
import type { NodeStore } from '../../translog/index.js';

export const NODE_TABLE = `
CREATE TABLE IF NOT EXISTS translog_node (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;
`;

/** A NodeStore over `translog_node` of one connection. */
export class SqliteNodeStore implements NodeStore {
  readonly #get: Database.Statement<[number, number], Buffer>;
  readonly #put: Database.Statement<[number, number, Uint8Array]>;
  readonly #size: Database.Statement<[], number>;

  constructor(db: Database.Database) {
    this.#get = db.prepare<[number, number], Buffer>('SELECT hash FROM translog_node WHERE level = ? AND idx = ?').pluck();
    this.#put = db.prepare<[number, number, Uint8Array]>('INSERT INTO translog_node (level, idx, hash) VALUES (?, ?, ?)');
    this.#size = db.prepare<[], number>('SELECT COALESCE(MAX(idx) + 1, 0) FROM translog_node WHERE level = 0').pluck();
  }

  get(level: number, index: number): Uint8Array | undefined {
    const hash = this.#get.get(level, index);
    return hash === undefined ? undefined : Uint8Array.from(hash);
  }

  put(level: number, index: number, hash: Uint8Array): void {
    this.#put.run(level, index, hash);
  }

  size(): number {
    return this.#size.get() ?? 0;
  }
}
