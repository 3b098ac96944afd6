/**
 * A child process for the multi-process append test (audit.test.ts):
 * `node --import tsx append-race.fixture.ts FILE COUNT WRITER`. It prints
 * "opening", opens the log (waiting for the write lock if another holds it,
 * as a broker upgrading the file must), prints "ready", waits for "go" on stdin (so both writers start
 * together), appends COUNT records and prints "done".
 */
import { createInterface } from 'node:readline';
import { SqliteAuditLog } from './sqlite-audit-log.js';

const [file, countText, writer] = process.argv.slice(2);
if (file === undefined || countText === undefined || writer === undefined) {
  process.stderr.write('usage: append-race.fixture.ts FILE COUNT WRITER\n');
  process.exit(2);
}
process.stdout.write('opening\n');
const log = SqliteAuditLog.open(file);
const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const line of lines) if (line.trim() === 'go') break;
lines.close();
for (let i = 0; i < Number(countText); i++) {
  await log.append('admin.action', { writer, i }, new Date().toISOString());
  // Pause like a broker between requests. In a tight loop one writer retakes
  // SQLite's lock at once while the other sleeps in its busy handler, so the
  // writers would run one after the other and never race.
  await new Promise((resolve) => setTimeout(resolve, 1));
}
await log.close();
process.stdout.write('done\n');
