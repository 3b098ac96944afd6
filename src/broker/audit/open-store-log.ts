/**
 * Opens a record store's log (record-logs.ts): a SQLite file in the data
 * directory or a PostgreSQL database. Its first record (`store.opened`) says
 * which store it is, so a database configured for the wrong store, or one
 * holding a broker's own log, is refused at start.
 */
import { join } from 'node:path';
import { GeobridgeError } from '../../core/errors.js';
import { describeUrl } from '../pg.js';
import { logNameOf, type AuditLog } from './audit-log.js';
import { PostgresAuditLog } from './postgres-audit-log.js';
import { SqliteAuditLog } from './sqlite-audit-log.js';

/** The SQLite file of store `id`'s log in the data directory. */
export function recordStoreFile(dataDir: string, id: string): string {
  return join(dataDir, `records-${id}.sqlite`);
}

/** Opens store `id`'s log and checks (or, in an empty log, writes) that it is that store's. */
export async function openRecordStoreLog(id: string, url: string, dataDir: string, now: () => Date, prepareFile: (path: string) => string = (path) => path): Promise<AuditLog> {
  const audit = url === 'sqlite' ? SqliteAuditLog.open(prepareFile(recordStoreFile(dataDir, id))) : await PostgresAuditLog.open(url);
  try {
    const [first] = await audit.read({ from: 1, to: 1 });
    if (first === undefined) await audit.append('store.opened', { store: id }, now().toISOString());
    else if (logNameOf(first) !== id) {
      const holds = logNameOf(first) === undefined ? "a broker's own audit log" : `the log of record store '${String(logNameOf(first))}'`;
      throw new GeobridgeError('RECORD_STORE_MISMATCH', `record store '${id}' is configured at ${url === 'sqlite' ? recordStoreFile(dataDir, id) : describeUrl(url)}, which holds ${holds}: give each record store its own database (--record-stores ${id}=postgres://…).`);
    }
    return audit;
  } catch (error) {
    await audit.close();
    throw error;
  }
}
