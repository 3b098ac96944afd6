/**
 * The transparency log's nodes in PostgreSQL: the table node-store.ts
 * describes (BIGINT index, BYTEA hash), one row per perfect subtree. NodeStore
 * is synchronous and node-postgres is not, so, as node-store.ts suggests, the
 * nodes a call needs are read first and MerkleTree runs on them in memory:
 * which nodes a root, a proof or an append reads depends only on the sizes and
 * indices, never on the hashes, so a first run on placeholder hashes lists
 * them (`readNodes`), and an append needs only the frontier (`frontier`).
 */
import type pg from 'pg';
import { MerkleTree, type NodeStore } from '../../translog/index.js';

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

/** A NodeStore over the nodes read for one call, plus the nodes that call writes (kept in `written`, to be inserted). */
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
    this.written.push([level, index, hash]);
    if (level === 0) this.#size = index + 1;
  }

  size(): number {
    return this.#size;
  }
}

/** Reads the nodes at `keys` of table `table`. */
async function fetchNodes(query: NodeQuery, table: string, keys: readonly NodeKey[]): Promise<Map<string, Uint8Array>> {
  const nodes = new Map<string, Uint8Array>();
  if (keys.length === 0) return nodes;
  const { rows } = await query(`SELECT level, idx, hash FROM ${table} WHERE (level, idx) IN (SELECT * FROM unnest($1::int[], $2::bigint[]))`, [keys.map((k) => k[0]), keys.map((k) => k[1])]);
  for (const row of rows as { level: number; idx: string; hash: Buffer }[]) nodes.set(key(row.level, Number(row.idx)), Uint8Array.from(row.hash));
  return nodes;
}

/** The number of leaves in the node table `table`. */
export async function treeSize(query: NodeQuery, table: string): Promise<number> {
  const { rows } = await query(`SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ${table} WHERE level = 0`);
  return Number((rows[0] as { n: string } | undefined)?.n ?? 0);
}

/**
 * Runs `fn` on the tree in `table`: first on placeholder hashes, to learn
 * which nodes it reads (and to throw TRANSLOG_OUT_OF_RANGE before any read),
 * then on those nodes, read in one statement. Nodes never change, so the
 * reads need no transaction.
 */
export async function readNodes<T>(query: NodeQuery, table: string, fn: (tree: MerkleTree) => T): Promise<T> {
  const size = await treeSize(query, table);
  const misses: NodeKey[] = [];
  fn(new MerkleTree(new LoadedNodeStore(size, new Map(), misses)));
  return fn(new MerkleTree(new LoadedNodeStore(size, await fetchNodes(query, table, misses))));
}

/** The tree ready for appends, over the nodes loaded for it; `written` collects what the appends write. */
export interface AppendTree {
  readonly tree: MerkleTree;
  readonly written: NodeWrite[];
  /** The frontier after the appends made so far: all a later append reads (`treeOnFrontier`). */
  frontier(): Map<string, Uint8Array>;
}

/**
 * The tree in `table` ready for appends: the roots of the perfect subtrees
 * that tile its `size` leaves are the only stored nodes an append reads (the
 * left siblings it climbs past); the rest it writes itself. Call inside the
 * appending transaction, after taking the append lock; insert
 * `written` before committing (`insertNodes`).
 */
export async function frontier(query: NodeQuery, table: string, size: number): Promise<AppendTree> {
  return treeOnFrontier(size, await fetchNodes(query, table, frontierKeys(size)));
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
