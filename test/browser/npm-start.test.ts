/**
 * `npm start` (geobridge up) as a stranger uses it, in real Chromium: it
 * comes up with a bridge process per datacenter, the invite link it prints
 * opens the meeting page, two participants join and decode each other's
 * video and audio; then the meeting's bridge process is SIGKILLed and both
 * are back on the next datacenter inside their fence with media flowing,
 * the audit log shows the re-homing, and Ctrl-C leaves no process behind.
 * Real processes and sockets on 127.0.0.1, bounded in time.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditLog } from '../../src/broker/audit/sqlite-audit-log.js';
import { launchChromium, openInvite, pageState, until, untilMediaFlows } from './chromium.fixture.js';

const ROOT = join(import.meta.dirname, '..', '..');
let dataDir: string;
let up: ChildProcessWithoutNullStreams;
let stderr = '';
let stdout = '';
const pids = new Map<string, number>();
let context: BrowserContext;
let closeChromium: () => Promise<void>;
/** The "two tabs idle for 2 minutes": long enough for a loaded machine to stall a heartbeat or two. */
const IDLE_MS = 120_000;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'geobridge-up-'));
  // `npm start` is `geobridge up`; its flags pass through.
  up = spawn('npm', ['start', '--silent', '--', '--data', dataDir, '--listen', '127.0.0.1:0'], { cwd: ROOT, env: { ...process.env, GEOBRIDGE_LOG_LEVEL: 'warn' }, detached: true });
  up.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  up.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    for (const m of c.toString().matchAll(/bridge (\S+)\s+pid (\d+)/g)) pids.set(m[1] ?? '', Number(m[2]));
  });
  ({ context, close: closeChromium } = await launchChromium());
  const deadline = Date.now() + 240_000;
  while (!stdout.includes('/join#invite=') && Date.now() < deadline && up.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  if (!stdout.includes('/join#invite=')) throw new Error(`geobridge up did not come up:\n${stderr}\n${stdout}`);
}, 250_000);

afterAll(async () => {
  await closeChromium();
  try {
    process.kill(-(up.pid ?? 0), 'SIGKILL');
  } catch {
    // Already gone, as it should be.
  }
  rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

describe('npm start (geobridge up)', () => {
  it('comes up; a call in Chromium survives SIGKILL of its bridge; Ctrl-C stops everything', async () => {
    // A handful of datacenters by default (--all for the 20 of world.yaml).
    expect([...pids.keys()].sort()).toEqual(['cn-beijing', 'eu-central', 'eu-west', 'us-east', 'us-gov-east', 'us-west']);
    expect(stdout).toMatch(/geobridge is up \(\d+\.\d s\)/);
    const link = /(http:\/\/127\.0\.0\.1:\d+)\/join#invite=(\S+)/.exec(stdout);
    expect(link).not.toBeNull();
    const url = link?.[1] ?? '';
    const invite = link?.[2] ?? '';

    const ada = await openInvite(context, url, invite, 'Ada', 'US');
    const bo = await openInvite(context, url, invite, 'Bo', 'US');
    await ada.page.click('#join');
    await bo.page.click('#join');
    await Promise.all([untilMediaFlows(ada.page, 40_000), untilMediaFlows(bo.page, 40_000)]);
    const first = (await pageState(ada.page)).connected?.datacenter ?? '';
    expect(first).toBe('us-east');
    expect((await pageState(bo.page)).connected?.datacenter).toBe(first);

    // Two tabs in a call, idle for two minutes on a busy machine: no bridge is judged dead, no meeting moves.
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const idle = await auditRecords();
    expect(idle.filter((r) => r.type === 'bridge.enrolled')).toHaveLength(pids.size);
    expect(idle.filter((r) => r.type === 'bridge.lost' || r.type === 'placement.rehomed')).toEqual([]);
    expect((await pageState(ada.page)).connected?.datacenter).toBe(first);

    // Kill the meeting's bridge process outright, mid-call.
    const killedAt = Date.now();
    process.kill(pids.get(first) ?? 0, 'SIGKILL');
    const movedOn = async (): Promise<boolean> => {
      const [a, b] = [await pageState(ada.page), await pageState(bo.page)];
      return a.phase === 'connected' && b.phase === 'connected' && a.connected?.datacenter !== first && a.connected?.datacenter === b.connected?.datacenter;
    };
    await until(movedOn, 20_000, 'both participants to reconnect elsewhere');
    await Promise.all([untilMediaFlows(ada.page, 20_000), untilMediaFlows(bo.page, 20_000)]);
    const recoveryMs = Date.now() - killedAt;
    const second = (await pageState(ada.page)).connected;
    // Inside the participants' fence: another North American datacenter of the US jurisdiction set.
    expect(second?.jurisdiction).toMatch(/^(US|CA)$/);
    console.log(`failover in Chromium: media decoded again on ${second?.datacenter ?? '?'} ${recoveryMs} ms after SIGKILL of ${first}`);

    await ada.page.click('#leave');
    await bo.page.click('#leave');

    // Ctrl-C in a terminal signals the whole foreground process group.
    process.kill(-(up.pid ?? 0), 'SIGINT');
    const groupGone = (): Promise<boolean> => {
      try {
        process.kill(-(up.pid ?? 0), 0);
        return Promise.resolve(false);
      } catch {
        return Promise.resolve(true);
      }
    };
    // Bridges close at once on SIGINT; a loaded machine (CI runs test files side by side) may take a while to reap 21 processes.
    await until(groupGone, 60_000, 'geobridge up and its bridges to exit');
    expect(stderr).toContain('stopping: bridges drain, then the broker closes');

    // The audit log shows the re-homing.
    const records = await auditRecords();
    const rehomed = records.filter((r) => r.type === 'placement.rehomed').map((r) => r.data as { from?: string; datacenter?: string });
    expect(rehomed).toContainEqual(expect.objectContaining({ from: first, datacenter: second?.datacenter }));
    expect(records.some((r) => r.type === 'bridge.lost' && (r.data as { datacenter?: string }).datacenter === first)).toBe(true);
  }, 200_000 + IDLE_MS);
});

async function auditRecords(): Promise<{ type: string; data: unknown }[]> {
  const audit = SqliteAuditLog.open(join(dataDir, 'audit.sqlite'));
  try {
    return await audit.read();
  } finally {
    await audit.close();
  }
}
