/**
 * `npm run bench -- audit`: durable appends per second to the SQLite audit
 * log (`SqliteAuditLog`: WAL, `synchronous=FULL`, one IMMEDIATE transaction
 * per append that reads the last hash, hashes the canonical JSON and
 * inserts), as a ratio to raw `better-sqlite3` inserts of the same rows into
 * the same table on another file, one single-row IMMEDIATE transaction each,
 * also with `synchronous=FULL`, measured in the same run:
 *
 *   ratio = appendsPerSec / rawInsertsPerSec
 *
 * so the ratio shows what the hash chain and the adapter cost over a durable
 * insert (both pay one fsync per commit). The log commits in a writer thread,
 * so that no fsync stalls the event loop; a second baseline does the raw
 * insert in such a thread too, the main thread waiting for its answer:
 *
 *   threadRatio = appendsPerSec / threadRawInsertsPerSec
 *
 * is then what the chain and the tree cost over a durable insert made the
 * way a server must make it, and `usPerThreadHop` (thread raw − raw) what
 * the hop to the thread and back costs. The record is a realistic
 * `route.decision`: what POST /v1/route writes for a participant in the US
 * on examples/world.yaml, with a fresh decision id each time.
 *
 * Sequential appends await each append before the next. Concurrent appends
 * are 8 appenders, `Promise.all` over batches of 8. The same two sequential
 * loops also run on `:memory:` databases, where nothing is written to disk:
 * `memoryRatio` is then the CPU cost of the chain (canonical JSON, SHA-256,
 * reading the last hash) against a bare insert, whatever the disk.
 * Timed windows of 2 s on files and 1 s in memory (0.3 s and 0.2 s quick)
 * after a warm-up, interleaved (append, raw, concurrent, memory append,
 * memory raw; each round starts one later), 5 rounds (3 quick); each figure
 * is the median.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { canonicalJson } from '../src/broker/audit/audit-log.js';
import { SqliteAuditLog } from '../src/broker/audit/sqlite-audit-log.js';
import { parseManifest } from '../src/core/manifest/parse.js';
import { isRefusal, selectDatacenters } from '../src/core/select/select.js';
import type { BenchOptions } from './harness.js';

const CONCURRENCY = 8;
/** Distinct records to cycle through (each with its own decision id), built before timing. */
const RECORDS = 1024;

// The audit log's table, for the raw inserts (same columns, STRICT, json_valid, index on `at`).
const RAW_SCHEMA = `
CREATE TABLE raw_log (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL CHECK (json_valid(data)),
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE INDEX raw_log_at ON raw_log (at);
`;

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const windowMs = opts.quick ? 300 : 2000;
  const memoryWindowMs = opts.quick ? 200 : 1000;
  const warmupMs = opts.quick ? 200 : 1000;
  const rounds = opts.quick ? 3 : 5;
  const records = decisionRecords();
  const recordBytes = canonicalJson(records[0]).length;
  opts.log(`record: ${recordBytes} bytes of canonical JSON (${RECORDS} distinct)`);

  const dir = mkdtempSync(join(tmpdir(), 'geobridge-bench-audit-'));
  const audit = SqliteAuditLog.open(join(dir, 'audit.sqlite'));
  const memoryAudit = SqliteAuditLog.open(':memory:');
  const raw = openRaw(join(dir, 'raw.sqlite'));
  const memoryRaw = openRaw(':memory:');
  const threadRaw = openThreadRaw(join(dir, 'thread-raw.sqlite'));
  try {
    let i = 0;
    const next = (): Record<string, unknown> => records[i++ % RECORDS] ?? {};
    const appendLoop = (log: SqliteAuditLog) => (ms: number) =>
      timed(ms, async () => {
        await log.append('route.decision', next(), new Date().toISOString());
        return 1;
      });
    // The baseline serializes each record as any logger must (JSON.stringify: key order is the chain's concern).
    const rawLoop = (insert: (data: string) => void) => (ms: number) =>
      timed(ms, () => {
        insert(JSON.stringify(next()));
        return Promise.resolve(1);
      });
    const loops: Readonly<Record<Kind, (ms: number) => Promise<number>>> = {
      append: appendLoop(audit),
      raw: rawLoop(raw.insert),
      threadRaw: (ms) =>
        timed(ms, async () => {
          await threadRaw.insert(JSON.stringify(next()));
          return 1;
        }),
      concurrent: (ms) =>
        timed(ms, async () => {
          await Promise.all(Array.from({ length: CONCURRENCY }, () => audit.append('route.decision', next(), new Date().toISOString())));
          return CONCURRENCY;
        }),
      memoryAppend: appendLoop(memoryAudit),
      memoryRaw: rawLoop(memoryRaw.insert),
    };
    const kinds = Object.keys(loops) as Kind[];
    const window = (kind: Kind): number => (kind.startsWith('memory') ? memoryWindowMs : windowMs);
    for (const kind of kinds) opts.log(`${kind}: warm-up ${(await loops[kind](warmupMs)).toFixed(0)}/s`);
    const samples: Record<Kind, number[]> = { append: [], raw: [], threadRaw: [], concurrent: [], memoryAppend: [], memoryRaw: [] };
    for (let r = 0; r < rounds; r++) {
      // Each round starts one kind later, so that none always follows the same one.
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + r) % kinds.length] ?? 'append';
        samples[kind].push(await loops[kind](window(kind)));
      }
      opts.log(`round ${r + 1}/${rounds}: ${kinds.map((k) => `${k} ${(samples[k].at(-1) ?? 0).toFixed(0)}/s`).join(', ')}`);
    }

    const first = await audit.read({ from: 1, to: 1 });
    if (first[0]?.type !== 'route.decision') throw new Error('the audit log does not hold the appended records');
    const m = (kind: Kind): number => opts.median(samples[kind]);
    return {
      ratio: m('append') / m('raw'),
      appendsPerSec: m('append'),
      rawInsertsPerSec: m('raw'),
      concurrentAppendsPerSec: m('concurrent'),
      concurrentVsSequentialRatio: m('concurrent') / m('append'),
      usPerAppend: 1e6 / m('append'),
      usPerRawInsert: 1e6 / m('raw'),
      threadRatio: m('append') / m('threadRaw'),
      threadRawInsertsPerSec: m('threadRaw'),
      usPerThreadHop: 1e6 / m('threadRaw') - 1e6 / m('raw'),
      memoryRatio: m('memoryAppend') / m('memoryRaw'),
      memoryAppendsPerSec: m('memoryAppend'),
      memoryRawInsertsPerSec: m('memoryRaw'),
      memoryUsPerAppend: 1e6 / m('memoryAppend'),
      memoryUsPerRawInsert: 1e6 / m('memoryRaw'),
      recordBytes,
      concurrency: CONCURRENCY,
      rounds,
      windowSeconds: windowMs / 1000,
    };
  } finally {
    await audit.close();
    await memoryAudit.close();
    raw.db.close();
    memoryRaw.db.close();
    await threadRaw.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Kind = 'append' | 'raw' | 'threadRaw' | 'concurrent' | 'memoryAppend' | 'memoryRaw';

/** The baseline: a table like the audit log's, and one single-row IMMEDIATE transaction per insert. */
function openRaw(path: string): { db: Database.Database; insert: (data: string) => void } {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(RAW_SCHEMA);
  // The same shape of row as an audit record: seq, time, type, canonical JSON, two 64-hex-digit hashes.
  const statement = db.prepare<[number, string, string, string, string, string]>('INSERT INTO raw_log (seq, at, type, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)');
  const hash = 'f'.repeat(64);
  let seq = 0;
  const transaction = db.transaction((data: string) => {
    seq++;
    statement.run(seq, new Date().toISOString(), 'route.decision', data, hash, hash);
  });
  return {
    db,
    insert: (data) => {
      transaction.immediate(data);
    },
  };
}

/** The raw insert of `openRaw`, made by a worker thread with its own connection, as the audit log's writer thread makes its commits. */
function openThreadRaw(path: string): { insert: (data: string) => Promise<void>; close: () => Promise<number> } {
  const source = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(workerData.schema);
const statement = db.prepare('INSERT INTO raw_log (seq, at, type, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)');
const hash = 'f'.repeat(64);
let seq = 0;
const transaction = db.transaction((data) => {
  seq++;
  statement.run(seq, new Date().toISOString(), 'route.decision', data, hash, hash);
});
parentPort.on('message', (data) => {
  transaction.immediate(data);
  parentPort.postMessage(seq);
});
`;
  const worker = new Worker(source, { eval: true, workerData: { sqlite: createRequire(import.meta.url).resolve('better-sqlite3'), path, schema: RAW_SCHEMA }, execArgv: [] });
  return {
    insert: (data) =>
      new Promise((resolve, reject) => {
        worker.once('message', () => {
          resolve();
        });
        worker.once('error', reject);
        worker.postMessage(data);
      }),
    close: () => worker.terminate(),
  };
}

/** Calls `step` (which reports how many operations it did) until `ms` have passed; operations per second. */
async function timed(ms: number, step: () => Promise<number>): Promise<number> {
  const start = performance.now();
  const end = start + ms;
  let ops = 0;
  let now = start;
  while (now < end) {
    ops += await step();
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

/** Realistic route.decision records: what the broker writes for a US participant on examples/world.yaml. */
export function decisionRecords(): Record<string, unknown>[] {
  const file = new URL('../examples/world.yaml', import.meta.url);
  const manifest = parseManifest(readFileSync(file, 'utf8'), 'examples/world.yaml').manifest;
  if (!manifest) throw new Error('examples/world.yaml does not parse');
  const result = selectDatacenters(manifest, { country: 'US' });
  if (isRefusal(result)) throw new Error(`examples/world.yaml refuses a US participant: ${result.error.code}`);
  const meeting = `mtg_${randomUUID()}`;
  const account = `acc_${randomUUID()}`;
  return Array.from({ length: RECORDS }, () => ({
    participant: `ptc_${randomUUID()}`,
    meeting,
    account,
    country: 'US',
    zone: result.zone,
    policyVersion: 1,
    decisionId: `dec_${randomUUID()}`,
    candidates: result.candidates,
  }));
}
