/**
 * Child process for the cross-process claim race in store.test.ts. Opens the
 * shared database, prints `ready`, waits for `go` on stdin, makes one claim
 * with expected epoch 0, prints the ClaimResult as a JSON line and exits.
 * Usage: node --import tsx claim-race.fixture.ts <dbPath> <meetingId> <datacenter> <at>
 */
import { createInterface } from 'node:readline';
import { SqliteStore } from './sqlite-store.js';

const [dbPath, meetingId, datacenter, at] = process.argv.slice(2);
if (dbPath === undefined || meetingId === undefined || datacenter === undefined || at === undefined) {
  process.stderr.write('usage: claim-race.fixture.ts <dbPath> <meetingId> <datacenter> <at>\n');
  process.exit(2);
}

// Bounded even if the parent never says go (unref: this timer alone keeps nothing alive).
setTimeout(() => {
  process.stderr.write('no go within 20 s\n');
  process.exit(3);
}, 20_000).unref();

const store = SqliteStore.open(dbPath);
const lines = createInterface({ input: process.stdin });
const go = new Promise<boolean>((resolve) => {
  lines.on('line', (line) => {
    if (line.trim() === 'go') resolve(true);
  });
  lines.on('close', () => {
    resolve(false);
  });
});
process.stdout.write('ready\n');
if (!(await go)) {
  process.stderr.write('stdin closed before go\n');
  process.exit(4);
}
lines.close();
const result = await store.claimPlacement(meetingId, datacenter, 0, at);
process.stdout.write(`${JSON.stringify(result)}\n`);
await store.close();
process.exit(0);
