/**
 * `npm run bench -- audit-pg`: durable appends per second to the PostgreSQL
 * audit log (`PostgresAuditLog.append`: group commit; while the log knows the
 * chain's end from its own last commit, one prepared statement per batch that
 * inserts the hashed records and their Merkle nodes, else a transaction that
 * locks audit_log and reads the end first), as a ratio to raw inserts of the
 * same rows (each record serialized with JSON.stringify and stamped with its
 * time, as any logger must; no key sorting, no hashes) into a table of the
 * same shape in the same database, with the same durability
 * (`synchronous_commit=on`, checked) and the same commits: one per batch, one
 * prepared statement each, at the same concurrency:
 *
 *   ratio = appendsPerSec / rawInsertsPerSec      (goal: ≥ 0.7)
 *
 * Concurrency 8: `Promise.all` over batches of 8 appends, which the adapter
 * commits as one batch of 8; the baseline inserts the same 8 rows with one
 * `INSERT … SELECT FROM unnest(…)`, as the adapter inserts its records.
 * Sequential (one in flight): each append its own commit, against one
 * single-row insert each.
 *
 * The records are bench/audit.ts's realistic route.decision records (1,024
 * distinct). A fresh database gb_bench_<random> per run, dropped at the end.
 * After the rounds, the disk a record takes (`diskBytesPerRecord`: the log's
 * tables and indexes over its records) and a raw row (`diskBytesPerRawRow`).
 * Windows of 2 s (0.3 s quick) after a warm-up of each loop, 5 rounds (3
 * quick), each round starting one loop later; medians. The pg statements per
 * commit of each side are counted (each is one round trip to the server).
 */
import { performance } from 'node:perf_hooks';
import { canonicalJson, verifyChain } from '../src/broker/audit/audit-log.js';
import { PostgresAuditLog } from '../src/broker/audit/postgres-audit-log.js';
import { openPool } from '../src/broker/pg.js';
import { decisionRecords } from './audit.js';
import type { BenchOptions } from './harness.js';
import { countPgQueries, withFreshDatabase } from './pg-bench.js';

const CONCURRENCY = 8;
const GOAL = 0.7;
const RAW_APP = 'bench-raw';

// audit_log's shape (postgres-audit-log.ts): the same columns, types, collation and indexes.
const RAW_SCHEMA = `
CREATE TABLE raw_log (
  seq BIGINT PRIMARY KEY CHECK (seq > 0),
  at TEXT COLLATE "C" NOT NULL,
  type TEXT NOT NULL,
  data JSON NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX raw_log_at ON raw_log (at);
CREATE INDEX raw_log_type ON raw_log (type, seq);
`;

type Kind = 'append' | 'raw' | 'sequentialAppend' | 'sequentialRaw';
const KINDS: readonly Kind[] = ['append', 'raw', 'sequentialAppend', 'sequentialRaw'];

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  return withFreshDatabase(opts.log, (url) => measure(opts, url));
}

async function measure(opts: BenchOptions, url: string): Promise<Record<string, unknown>> {
  const windowMs = opts.quick ? 300 : 2000;
  const warmupMs = opts.quick ? 200 : 1000;
  const rounds = opts.quick ? 3 : 5;
  const records = decisionRecords();
  const recordBytes = canonicalJson(records[0]).length;
  const queries = countPgQueries();
  const audit = await PostgresAuditLog.open(url);
  const rawPool = openPool(url, { application_name: RAW_APP });
  try {
    await rawPool.query(RAW_SCHEMA);
    const durability = (await rawPool.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows[0]?.s;
    if (durability !== 'on') throw new Error(`synchronous_commit is '${durability ?? '?'}' on this server; the baseline needs 'on'`);
    let i = 0;
    let seq = 0;
    const hash = 'f'.repeat(64);
    const next = (): Record<string, unknown> => records[i++ % records.length] ?? {};
    const appendBatch = (n: number) => async (): Promise<number> => {
      await Promise.all(Array.from({ length: n }, () => audit.append('route.decision', next(), new Date().toISOString())));
      return n;
    };
    // The baseline: the rows the adapter inserts (seq, time, type, JSON, two 64-hex-digit hashes), n per commit,
    // written as the adapter writes a batch: one prepared statement, committed on its own. Each record is serialized
    // and stamped with its time, as the appends are and as any logger must (JSON.stringify: key order is the chain's).
    const rawBatch = (n: number) => async (): Promise<number> => {
      const rows = Array.from({ length: n }, () => ({ seq: ++seq, at: new Date().toISOString(), data: JSON.stringify(next()) }));
      await rawPool.query({
        name: 'bench-raw-insert',
        text: 'INSERT INTO raw_log (seq, at, type, data, prev_hash, hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::json[], $5::text[], $6::text[])',
        values: [rows.map((r) => r.seq), rows.map((r) => r.at), rows.map(() => 'route.decision'), rows.map((r) => r.data), rows.map(() => hash), rows.map(() => hash)],
      });
      return n;
    };
    const steps: Readonly<Record<Kind, () => Promise<number>>> = {
      append: appendBatch(CONCURRENCY),
      raw: rawBatch(CONCURRENCY),
      sequentialAppend: appendBatch(1),
      sequentialRaw: rawBatch(1),
    };
    const batchSize: Readonly<Record<Kind, number>> = { append: CONCURRENCY, raw: CONCURRENCY, sequentialAppend: 1, sequentialRaw: 1 };
    const app = (kind: Kind): string => (kind.endsWith('aw') ? RAW_APP : 'geobridge-audit');
    for (const kind of KINDS) opts.log(`${kind}: warm-up ${(await timed(warmupMs, steps[kind])).perSec.toFixed(0)}/s`);
    const samples: Record<Kind, number[]> = { append: [], raw: [], sequentialAppend: [], sequentialRaw: [] };
    const statements: Record<Kind, number[]> = { append: [], raw: [], sequentialAppend: [], sequentialRaw: [] };
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < KINDS.length; k++) {
        const kind = KINDS[(k + r) % KINDS.length] ?? 'append';
        queries.take();
        const { perSec, ops } = await timed(windowMs, steps[kind]);
        samples[kind].push(perSec);
        statements[kind].push((queries.take()[app(kind)] ?? 0) / (ops / batchSize[kind]));
      }
      opts.log(`round ${r + 1}/${rounds}: ${KINDS.map((k) => `${k} ${(samples[k].at(-1) ?? 0).toFixed(0)}/s`).join(', ')}`);
    }

    const all = await audit.read();
    const check = verifyChain(all);
    if (!check.ok) throw new Error(`the audit chain breaks at record ${check.seq}: ${check.reason}`);
    opts.log(`audit log: ${all.length} records, chain verified; raw_log: ${seq} rows`);
    // What a record takes on disk, its share of the tree's nodes and all indexes included, against a raw row.
    const sizes = (await rawPool.query<{ log: string; raw: string }>(
      "SELECT pg_total_relation_size('audit_log') + pg_total_relation_size('translog_node') + pg_total_relation_size('translog_head') AS log, pg_total_relation_size('raw_log') AS raw",
    )).rows[0];
    const m = (kind: Kind): number => opts.median(samples[kind]);
    const ratio = m('append') / m('raw');
    return {
      ratio,
      goal: GOAL,
      goalMet: ratio >= GOAL,
      appendsPerSec: m('append'),
      rawInsertsPerSec: m('raw'),
      sequentialRatio: m('sequentialAppend') / m('sequentialRaw'),
      sequentialAppendsPerSec: m('sequentialAppend'),
      sequentialRawInsertsPerSec: m('sequentialRaw'),
      statementsPerCommit: { append: opts.median(statements.append), raw: opts.median(statements.raw), sequentialAppend: opts.median(statements.sequentialAppend), sequentialRaw: opts.median(statements.sequentialRaw) },
      recordBytes,
      diskBytesPerRecord: Math.round(Number(sizes?.log ?? 0) / all.length),
      diskBytesPerRawRow: Math.round(Number(sizes?.raw ?? 0) / seq),
      concurrency: CONCURRENCY,
      rounds,
      windowSeconds: windowMs / 1000,
      appendedRecords: all.length,
    };
  } finally {
    await audit.close();
    await rawPool.end();
  }
}

/** Calls `step` (which reports how many operations it did) until `ms` have passed; operations per second and operations done. */
async function timed(ms: number, step: () => Promise<number>): Promise<{ perSec: number; ops: number }> {
  const start = performance.now();
  const end = start + ms;
  let ops = 0;
  let now = start;
  while (now < end) {
    ops += await step();
    now = performance.now();
  }
  return { perSec: (ops * 1000) / (now - start), ops };
}
