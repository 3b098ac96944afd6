/**
 * Test fixture: a broker's audit log rewritten as a forger holding its data
 * directory (and so its log key) would, for the CLI tests that must catch it.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditRecord } from '../src/broker/audit/audit-log.js';
import { SqliteAuditLog } from '../src/broker/audit/sqlite-audit-log.js';
import { TreeHeadSigner } from '../src/broker/audit/tree-heads.js';
import { loadLogKey } from '../src/broker/log-key.js';

/**
 * What the auditor did, done by someone who also holds the log key:
 * the log rebuilt from the records `keep` selects, with seq, prev_hash,
 * hash, the Merkle tree and a signed head all recomputed.
 */
export async function rewriteLog(dir: string, keep: (r: AuditRecord) => boolean, edit: (r: AuditRecord) => AuditRecord['data'] = (r) => r.data): Promise<void> {
  const file = join(dir, 'audit.sqlite');
  const old = SqliteAuditLog.open(file, { create: false });
  const records = (await old.read()).filter(keep);
  await old.close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  const log = SqliteAuditLog.open(file);
  for (const r of records) await log.append(r.type, edit(r), r.at);
  await new TreeHeadSigner(log, await loadLogKey(dir, false)).refresh();
  await log.close();
}

