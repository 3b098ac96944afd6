/**
 * The SQLite audit log's writers. With synchronous=FULL every commit waits
 * for the disk (fsync); on the event loop that wait stalls every request in
 * flight. `ThreadWriter` holds its own connection in a worker thread and
 * commits one batch at a time, while the event loop goes on serving requests
 * and collecting the next batch (group commit). A batch is durable when
 * `write` resolves, exactly as when the event loop committed it.
 * `InlineWriter` commits on the caller's connection: for in-memory databases,
 * which no other connection can see and which never wait for a disk.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { GeobridgeError } from '../../core/errors.js';
import { MerkleTree } from '../../translog/index.js';
import { fillRecordJson, GENESIS_HASH, hashCanonicalJson, leafEntry, RECORD_JSON_BETWEEN } from './audit-log.js';
import { SqliteNodeStore } from './sqlite-node-store.js';
import { FIRST_STORED_LEVEL } from './stored-levels.js';

/** One record to append: its fields and the canonical JSON around the prevHash and seq that the writer fills in (`recordJsonTemplate`). */
export interface RowToWrite {
  readonly at: string;
  readonly type: string;
  readonly dataJson: string;
  readonly before: string;
  readonly after: string;
}

/** A signed tree head to keep, as stored (tree-heads.ts). */
export interface HeadToWrite {
  readonly size: number;
  readonly rootHash: string;
  readonly timestamp: number;
  readonly keyId: string;
  readonly signature: string;
}

/** Where the writer put a record in the chain. */
export interface WrittenRow {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
}

interface WriterData {
  readonly sqlite: string;
  readonly path: string;
  readonly busyTimeoutMs: number;
  readonly genesis: string;
  readonly between: string;
  readonly insertRecord: string;
  readonly insertHead: string;
  readonly firstStoredLevel: number;
}

/** The caller of the batch in flight. */
interface Waiting {
  readonly resolve: (rows: WrittenRow[]) => void;
  readonly reject: (error: unknown) => void;
}

type WriterReply = { readonly rows: WrittenRow[] } | { readonly error: { readonly name: string; readonly code: unknown; readonly message: string } };

const INSERT_RECORD = 'INSERT INTO audit_log (seq, at, type, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)';
const INSERT_HEAD = 'INSERT INTO translog_head (size, timestamp, root_hash, key_id, signature) VALUES (?, ?, ?, ?, ?)';

// Plain JavaScript, evaluated in the worker: a worker does not inherit this
// process's TypeScript loader. It is InlineWriter's transaction, with
// fillRecordJson and MerkleTree.append (src/translog/tree.ts: the leaf, then
// the parent of every perfect subtree it completes) over SqliteNodeStore
// written out; audit.test.ts holds the tree it writes to MerkleTree's. The
// nodes below FIRST_STORED_LEVEL, which are not stored, are kept in memory
// for the block of 2^FIRST_STORED_LEVEL leaves being filled (read back from
// the records when another writer moved on, or a batch failed). IMMEDIATE
// takes the write lock before reading the last hash, so writers in other
// connections and processes cannot fork the chain; a failed insert aborts
// the whole batch, records, tree nodes and heads alike.
const WRITER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createHash, hash: oneShotHash } = require('node:crypto');
let append;
try {
  const Database = require(workerData.sqlite);
  const db = new Database(workerData.path, { fileMustExist: true, timeout: workerData.busyTimeoutMs });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('fullfsync = ON');
  const last = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  const insert = db.prepare(workerData.insertRecord);
  const insertHead = db.prepare(workerData.insertHead);
  const node = db.prepare('SELECT hash FROM translog_node WHERE level = ? AND idx = ?').pluck();
  const putNode = db.prepare('INSERT INTO translog_node (level, idx, hash) VALUES (?, ?, ?)');
  const recordHashes = db.prepare('SELECT hash FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq').pluck();
  const LEAF = Buffer.from([0]);
  const INTERIOR = Buffer.from([1]);
  const FIRST = workerData.firstStoredLevel;
  const BLOCK = 2 ** FIRST;
  const leafHash = (recordHash) => createHash('sha256').update(LEAF).update(Buffer.from(recordHash, 'hex')).digest();
  const parent = (left, right) => createHash('sha256').update(INTERIOR).update(left).update(right).digest();
  let block;
  // Adds a leaf to the block's levels; returns the block's root when the leaf completes it.
  const addLeaf = (leaf) => {
    let hash = leaf;
    for (let level = 0; level < FIRST; level++) {
      const row = block.levels[level];
      row.push(hash);
      if (row.length % 2 === 1) return undefined;
      hash = parent(row[row.length - 2], hash);
    }
    return hash;
  };
  const appendLeaf = (index, recordHash) => {
    const first = index - (index % BLOCK);
    if (block === undefined || block.first !== first || block.levels[0].length !== index - first) {
      block = { first, levels: Array.from({ length: FIRST }, () => []) };
      for (const hash of recordHashes.all(first, index)) addLeaf(leafHash(hash));
    }
    let hash = addLeaf(leafHash(recordHash));
    if (hash === undefined) return;
    putNode.run(FIRST, first / BLOCK, hash);
    for (let level = FIRST, i = first / BLOCK; i % 2 === 1; level++, i = (i - 1) / 2) {
      hash = parent(node.get(level, i - 1), hash);
      putNode.run(level + 1, (i - 1) / 2, hash);
    }
  };
  const batch = db.transaction((rows, heads) => {
    let previous = last.get();
    const written = rows.map((row) => {
      const seq = (previous === undefined ? 0 : previous.seq) + 1;
      const prevHash = previous === undefined ? workerData.genesis : previous.hash;
      const text = row.before + JSON.stringify(prevHash) + workerData.between + JSON.stringify(seq) + row.after;
      const hash = oneShotHash('sha256', text);
      appendLeaf(seq - 1, hash);
      insert.run(seq, row.at, row.type, row.dataJson, prevHash, hash);
      previous = { seq, hash };
      return { seq, prevHash, hash };
    });
    for (const h of heads) insertHead.run(h.size, h.timestamp, h.rootHash, h.keyId, h.signature);
    return written;
  });
  append = (message) => {
    try {
      return batch.immediate(message.rows, message.heads);
    } catch (error) {
      // Rolled back: the block may hold leaves that were never committed.
      block = undefined;
      throw error;
    }
  };
} catch (error) {
  append = () => { throw error; };
}
parentPort.on('message', (message) => {
  try {
    parentPort.postMessage({ rows: append(message) });
  } catch (error) {
    parentPort.postMessage({ error: { name: String(error && error.name), code: error && error.code, message: String(error && error.message) } });
  }
});
`;

/** Appends batches of audit rows and tree heads, one batch at a time, each in one IMMEDIATE transaction. */
export interface AuditWriter {
  /** Appends `rows` (and their tree leaves) and `heads` in one transaction; resolves when they are committed (durable, for a file). */
  write(rows: readonly RowToWrite[], heads?: readonly HeadToWrite[]): Promise<WrittenRow[]>;
  close(): Promise<void>;
}

/** Commits on the caller's thread, with the caller's connection (in-memory databases). */
export class InlineWriter implements AuditWriter {
  readonly #append: (rows: readonly RowToWrite[], heads: readonly HeadToWrite[]) => WrittenRow[];

  constructor(db: Database.Database) {
    const last = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    const insert = db.prepare<[number, string, string, string, string, string]>(INSERT_RECORD);
    const insertHead = db.prepare<[number, number, string, string, string]>(INSERT_HEAD);
    const tree = new MerkleTree(new SqliteNodeStore(db));
    const batch = db.transaction((rows: readonly RowToWrite[], heads: readonly HeadToWrite[]): WrittenRow[] => {
      let previous = last.get();
      const written = rows.map((row) => {
        const seq = (previous?.seq ?? 0) + 1;
        const prevHash = previous?.hash ?? GENESIS_HASH;
        const hash = hashCanonicalJson(fillRecordJson(row, prevHash, seq));
        // The tree's size is the records': the leaf goes in before its record (sqlite-node-store.ts).
        tree.append(leafEntry(hash));
        insert.run(seq, row.at, row.type, row.dataJson, prevHash, hash);
        previous = { seq, hash };
        return { seq, prevHash, hash };
      });
      for (const h of heads) insertHead.run(h.size, h.timestamp, h.rootHash, h.keyId, h.signature);
      return written;
    });
    this.#append = (rows, heads) => batch.immediate(rows, heads);
  }

  write(rows: readonly RowToWrite[], heads: readonly HeadToWrite[] = []): Promise<WrittenRow[]> {
    return new Promise((resolve) => {
      resolve(this.#append(rows, heads));
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A worker thread that appends batches of audit rows to one SQLite file. */
export class ThreadWriter implements AuditWriter {
  readonly #worker: Worker;
  #waiting: Waiting | undefined;
  #failure: Error | undefined;

  constructor(path: string, busyTimeoutMs: number) {
    const workerData: WriterData = { sqlite: createRequire(import.meta.url).resolve('better-sqlite3'), path, busyTimeoutMs, genesis: GENESIS_HASH, between: RECORD_JSON_BETWEEN, insertRecord: INSERT_RECORD, insertHead: INSERT_HEAD, firstStoredLevel: FIRST_STORED_LEVEL };
    this.#worker = new Worker(WRITER_SOURCE, { eval: true, workerData, execArgv: [] });
    // Idle, the writer does not keep the process alive; a batch in flight does.
    this.#worker.unref();
    this.#worker.on('message', (reply: WriterReply) => {
      const waiting = this.#take();
      if ('rows' in reply) waiting?.resolve(reply.rows);
      else waiting?.reject(writerError(reply.error));
    });
    const stopped = (why: string, cause?: unknown): GeobridgeError => new GeobridgeError('AUDIT_UNAVAILABLE', `the writer thread of audit log '${path}' ${why}.`, { cause });
    this.#worker.on('error', (error) => {
      this.#fail(stopped(`failed: ${error.message}`, error));
    });
    this.#worker.on('exit', (code) => {
      this.#fail(stopped(`exited (code ${code})`));
    });
  }

  /** Appends `rows` and `heads` in one transaction; resolves when they are durable. One batch at a time. */
  write(rows: readonly RowToWrite[], heads: readonly HeadToWrite[] = []): Promise<WrittenRow[]> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiting) return Promise.reject(new Error('the audit writer takes one batch at a time'));
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#worker.ref();
      this.#worker.postMessage({ rows, heads });
    });
  }

  /** Stops the thread (after the batch in flight, which the caller awaits first). */
  async close(): Promise<void> {
    this.#failure ??= new GeobridgeError('AUDIT_UNAVAILABLE', 'the audit writer is closed.');
    await this.#worker.terminate();
  }

  /** The caller of the batch in flight, which is over: the idle thread no longer keeps the process alive. */
  #take(): Waiting | undefined {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    this.#worker.unref();
    return waiting;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#take()?.reject(error);
  }
}

/** An error of the writer thread as this thread's kind: SqliteErrors stay SqliteErrors, so their codes map as before. */
function writerError(error: { readonly name: string; readonly code: unknown; readonly message: string }): Error {
  return error.name === 'SqliteError' ? new Database.SqliteError(error.message, String(error.code)) : new Error(error.message);
}
