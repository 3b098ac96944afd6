/**
 * The transparency log's nodes in PostgreSQL: the table node-store.ts
 * describes (BIGINT index, BYTEA hash), one row per perfect subtree of
 * FIRST_STORED_LEVEL or above; the nodes below are computed from
 * audit_log's hashes (stored-levels.ts). The log's size is its last
 * record's seq. NodeStore is synchronous and
 * node-postgres is not, so, as node-store.ts suggests, the nodes a call
 * needs are read first and MerkleTree runs on them in memory: which nodes a
 * root, a proof or an append reads depends only on the sizes and indices,
 * never on the hashes, so a first run on placeholder hashes lists them
 * (`readNodes`), and an append needs only the frontier (`frontier`).
 */
import type pg from 'pg';
import { MerkleTree, type NodeStore } from '../../translog/index.js';
import { FIRST_STORED_LEVEL, recordLeaf, subtreeHash } from './stored-levels.js';

/** Where a tree's hashes are: its node table and the audit_log whose record hashes are its leaves (escaped, schema-qualified names). */
export interface TreeTables {
  readonly nodes: string;
  readonly records: string;
}

/** The node table of the schema `q` (an escaped identifier). Nodes are written once and never changed. */
export function nodeTable(q: string): string {
  return `CREATE TABLE ${q}.translog_node (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
  );`;
}

/** Runs one statement. */
export type NodeQuery = (text: string, values?: readonly unknown[]) => Promise<pg.QueryResult>;

/** A node an append wrote: (level, index) and its hash. */
export type NodeWrite = [level: number, index: number, hash: Uint8Array];

/** A node's place: (level, index). */
type NodeKey = readonly [level: number, index: number];

const key = (level: number, index: number): string => `${String(level)}/${String(index)}`;

/** A NodeStore over the nodes read for one call, plus the nodes that call writes (those to be stored kept in `written`, to be inserted). */
class LoadedNodeStore implements NodeStore {
  readonly #nodes: Map<string, Uint8Array>;
  #size: number;
  /** Placeholder hashes for nodes not loaded: set while planning which nodes a call reads. */
  readonly #misses: NodeKey[] | undefined;
  readonly written: NodeWrite[] = [];

  constructor(size: number, nodes: Map<string, Uint8Array>, misses?: NodeKey[]) {
    this.#size = size;
    this.#nodes = nodes;
    this.#misses = misses;
  }

  get(level: number, index: number): Uint8Array | undefined {
    const hash = this.#nodes.get(key(level, index));
    if (hash !== undefined || this.#misses === undefined) return hash;
    this.#misses.push([level, index]);
    return new Uint8Array(32);
  }

  put(level: number, index: number, hash: Uint8Array): void {
    this.#nodes.set(key(level, index), hash);
    if (level >= FIRST_STORED_LEVEL) this.written.push([level, index, hash]);
    if (level === 0) this.#size = index + 1;
  }

  size(): number {
    return this.#size;
  }
}

/**
 * Reads the nodes at `keys` in one statement: the stored ones from the node
 * table, the others computed from the record hashes they cover. A node whose
 * rows are missing is left out (MerkleTree then throws TRANSLOG_MISSING_NODE).
 */
async function fetchNodes(query: NodeQuery, tables: TreeTables, keys: readonly NodeKey[]): Promise<Map<string, Uint8Array>> {
  const nodes = new Map<string, Uint8Array>();
  if (keys.length === 0) return nodes;
  const stored = keys.filter(([level]) => level >= FIRST_STORED_LEVEL);
  const computed = keys.filter(([level]) => level < FIRST_STORED_LEVEL);
  const seqs = new Set<number>();
  for (const [level, index] of computed) for (let leaf = index * 2 ** level; leaf < (index + 1) * 2 ** level; leaf++) seqs.add(leaf + 1);
  const { rows } = await query(
    `SELECT level, idx, hash, NULL AS record_hash FROM ${tables.nodes} WHERE (level, idx) IN (SELECT * FROM unnest($1::int[], $2::bigint[]))
     UNION ALL SELECT -1, seq - 1, NULL, hash FROM ${tables.records} WHERE seq = ANY($3::bigint[])`,
    [stored.map((k) => k[0]), stored.map((k) => k[1]), [...seqs]],
  );
  const leaves = new Map<number, Uint8Array>();
  for (const row of rows as { level: number; idx: string; hash: Buffer | null; record_hash: string | null }[]) {
    if (row.hash !== null) nodes.set(key(row.level, Number(row.idx)), Uint8Array.from(row.hash));
    else if (row.record_hash !== null) leaves.set(Number(row.idx), recordLeaf(row.record_hash));
  }
  for (const [level, index] of computed) {
    const hash = subtreeHash((leaf) => leaves.get(leaf), level, index);
    if (hash !== undefined) nodes.set(key(level, index), hash);
  }
  return nodes;
}

/** The number of leaves of the tree: the records, numbered 1 to the last seq without gaps. */
export async function treeSize(query: NodeQuery, tables: TreeTables): Promise<number> {
  const { rows } = await query(`SELECT COALESCE(MAX(seq), 0) AS n FROM ${tables.records}`);
  return Number((rows[0] as { n: string } | undefined)?.n ?? 0);
}

/**
 * Runs `fn` on the tree in `tables`: first on placeholder hashes, to learn
 * which nodes it reads (and to throw TRANSLOG_OUT_OF_RANGE before any read),
 * then on those nodes, read in one statement. Nodes never change, so the
 * reads need no transaction.
 */
export async function readNodes<T>(query: NodeQuery, tables: TreeTables, fn: (tree: MerkleTree) => T): Promise<T> {
  const size = await treeSize(query, tables);
  const misses: NodeKey[] = [];
  fn(new MerkleTree(new LoadedNodeStore(size, new Map(), misses)));
  return fn(new MerkleTree(new LoadedNodeStore(size, await fetchNodes(query, tables, misses))));
}

/** The tree ready for appends, over the nodes loaded for it; `written` collects what the appends write. */
export interface AppendTree {
  readonly tree: MerkleTree;
  readonly written: NodeWrite[];
  /** The frontier after the appends made so far: all a later append reads (`treeOnFrontier`). */
  frontier(): Map<string, Uint8Array>;
}

/**
 * The tree in `tables` ready for appends: the roots of the perfect subtrees
 * that tile its `size` leaves are the only stored nodes an append reads (the
 * left siblings it climbs past); the rest it writes itself. Call inside the
 * appending transaction, after taking the append lock; insert
 * `written` before committing (`insertNodes`).
 */
export async function frontier(query: NodeQuery, tables: TreeTables, size: number): Promise<AppendTree> {
  return treeOnFrontier(size, await fetchNodes(query, tables, frontierKeys(size)));
}

/** The tree of `size` leaves ready for appends, over its frontier as a writer remembers it from its last append. */
export function treeOnFrontier(size: number, nodes: ReadonlyMap<string, Uint8Array>): AppendTree {
  const store = new LoadedNodeStore(size, new Map(nodes));
  return {
    tree: new MerkleTree(store),
    written: store.written,
    frontier: () => {
      const next = new Map<string, Uint8Array>();
      for (const [level, index] of frontierKeys(store.size())) {
        const hash = store.get(level, index);
        if (hash !== undefined) next.set(key(level, index), hash);
      }
      return next;
    },
  };
}

/** Where the roots of the perfect subtrees tiling `size` leaves are, left to right. */
function frontierKeys(size: number): NodeKey[] {
  const keys: NodeKey[] = [];
  for (let start = 0, rest = size; rest > 0; ) {
    let width = 1;
    let level = 0;
    while (width * 2 <= rest) {
      width *= 2;
      level++;
    }
    keys.push([level, start / width]);
    start += width;
    rest -= width;
  }
  return keys;
}

/** Inserts the nodes an append wrote, in one statement (INSERT, never upsert: a node is immutable). */
export async function insertNodes(query: NodeQuery, table: string, written: NodeWrite[]): Promise<void> {
  if (written.length === 0) return;
  await query(`INSERT INTO ${table} (level, idx, hash) SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])`, [
    written.map((w) => w[0]),
    written.map((w) => w[1]),
    written.map((w) => Buffer.from(w[2])),
  ]);
}
