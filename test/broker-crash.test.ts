// A real `geobridge serve` process killed with SIGKILL in the middle of a
// burst of route requests: the audit chain still verifies, every decision a
// client received is in it, and a restarted broker keeps appending to the
// same chain. Loopback only; every child is killed in afterAll.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyChain, type AuditRecord } from '../src/broker/audit/audit-log.js';
import type { InclusionPromise } from '../src/broker/audit/tree-heads.js';
import { proveReceipt, type ClaimedRoute } from '../src/broker/audit/verify-log.js';
import { loadLogKey } from '../src/broker/log-key.js';
import { SqliteAuditLog } from '../src/broker/audit/sqlite-audit-log.js';
import { decided } from '../src/broker/route-answer.fixture.js';

const ROOT = join(import.meta.dirname, '..');
const HOST = '127.0.0.1';
const ADMIN_TOKEN = randomBytes(24).toString('base64url'); // 32 characters
const WORKERS = 16;
const JOIN_TOKENS = 20;
/** The kill waits for this many decisions, so the log holds real work when it comes… */
const KILL_AFTER_DECISIONS = 50;
/** …and for this long into the burst, so every worker is in its loop. */
const KILL_AFTER_MS = 300;
/** A burst that has not reached the kill point by then is killed anyway (and the test fails). */
const BURST_CAP_MS = 20_000;
const READY_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 10_000;

const dataDir = mkdtempSync(join(tmpdir(), 'geobridge-broker-crash-'));
const auditPath = join(dataDir, 'audit.sqlite');
const children = new Set<ChildProcess>();

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** A port that was free a moment ago (the broker does not print the port it got for 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  if (typeof address !== 'object' || address === null) throw new Error('no port from node:net');
  return address.port;
}

interface Broker {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The tail of its stdout and stderr, for failure messages. */
  output(): string;
}

/** Spawns `geobridge serve --dev` on `port` with this suite's data directory. */
function spawnBroker(port: number): Broker {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GEOBRIDGE_')) env[key] = value;
  env.GEOBRIDGE_ADMIN_TOKEN = ADMIN_TOKEN;
  env.GEOBRIDGE_LOG_LEVEL = 'warn';
  const child = spawn(process.execPath, ['bin/geobridge.js', 'serve', '--manifest', 'examples/world.yaml', '--dev', '--data', dataDir, '--listen', `${HOST}:${port}`], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, url: `http://${HOST}:${port}`, exited, output: () => output };
}

/** Polls /readyz until it answers 200; fails early if the broker exits. */
async function waitReady(broker: Broker): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (broker.child.exitCode !== null || broker.child.signalCode !== null) throw new Error(`broker exited before it was ready:\n${broker.output()}`);
    try {
      const res = await fetch(`${broker.url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      await res.arrayBuffer();
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`broker not ready within ${READY_TIMEOUT_MS} ms:\n${broker.output()}`);
}

/** POSTs JSON with a bearer token; the body as parsed JSON. */
async function post(url: string, bearer: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const parsed: unknown = await res.json();
  return { status: res.status, body: parsed };
}

/** A string field of a JSON object, or a thrown error naming what came back. */
function stringField(value: unknown, key: string): string {
  const field = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  if (typeof field !== 'string') throw new Error(`expected a string '${key}' in ${JSON.stringify(value)}`);
  return field;
}

/** POSTs and insists on `status`. */
async function expectPost(url: string, bearer: string, body: unknown, status: number): Promise<unknown> {
  const res = await post(url, bearer, body);
  if (res.status !== status) throw new Error(`POST ${url}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** The broker's exit, or a thrown error when it has not exited within EXIT_TIMEOUT_MS. */
async function exitOf(broker: Broker): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`broker did not exit within ${EXIT_TIMEOUT_MS} ms:\n${broker.output()}`));
    }, EXIT_TIMEOUT_MS);
  });
  try {
    return await Promise.race([broker.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function readAudit(): Promise<AuditRecord[]> {
  const log = SqliteAuditLog.open(auditPath, { create: false });
  try {
    return await log.read();
  } finally {
    await log.close();
  }
}

interface JoinToken {
  readonly token: string;
  readonly participant: string;
}

/** What the crash test leaves for the restart test. */
let crashed: { port: number; tokens: readonly JoinToken[]; records: readonly AuditRecord[] } | undefined;

describe('broker killed (SIGKILL) in the middle of a route burst', () => {
  it('keeps a verifiable audit chain holding every decision a client received', { timeout: 60_000 }, async ({ annotate }) => {
    const port = await freePort();
    const broker = spawnBroker(port);
    try {
      await waitReady(broker);

      const created = await expectPost(`${broker.url}/v1/accounts`, ADMIN_TOKEN, { name: 'Crash Test', homeCountry: 'US' }, 201);
      const apiKey = stringField(created, 'apiKey');
      const meetingId = stringField(await expectPost(`${broker.url}/v1/meetings`, apiKey, { title: 'crash' }, 201), 'id');
      const tokens: JoinToken[] = [];
      for (let i = 0; i < JOIN_TOKENS; i++) {
        const issued = await expectPost(`${broker.url}/v1/meetings/${meetingId}/join-tokens`, apiKey, { name: `p${i}` }, 201);
        tokens.push({ token: stringField(issued, 'token'), participant: stringField(issued, 'participant') });
      }

      // The burst: WORKERS loops of POST /v1/route until the kill.
      const received: { decisionId: string; participant: string; receipt: InclusionPromise; manifestSha256: string; route: ClaimedRoute }[] = [];
      const unexpected: string[] = [];
      let failedByKill = 0;
      let killedAfterMs: number | undefined;
      const burstStart = performance.now();
      // A function, not the variable: the compiler would carry the loop's narrowing across awaits.
      const killed = (): boolean => killedAfterMs !== undefined;
      const kill = (): void => {
        if (killed()) return;
        killedAfterMs = performance.now() - burstStart;
        broker.child.kill('SIGKILL');
      };
      const cap = setTimeout(kill, BURST_CAP_MS);
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; !killed(); i++) {
          const join = tokens[(w + i * WORKERS) % tokens.length];
          if (!join) throw new Error('no join token');
          try {
            const pending = post(`${broker.url}/v1/route`, join.token, { country: 'US' });
            // Killed with this request just sent, so at least one is in flight: a fast broker could
            // otherwise answer every outstanding request before the signal lands.
            if (received.length >= KILL_AFTER_DECISIONS && performance.now() - burstStart >= KILL_AFTER_MS) kill();
            const res = await pending;
            if (res.status !== 200) {
              unexpected.push(`${res.status} ${JSON.stringify(res.body)}`);
              return;
            }
            // The route is the ticket's: the answer does not repeat it.
            const body = decided(res.body as { ticket: string; receipt: InclusionPromise });
            received.push({ decisionId: body.decisionId, participant: join.participant, receipt: body.receipt, manifestSha256: body.manifestSha256, route: { country: body.country, candidates: body.candidates } });
          } catch (error) {
            // In flight when the broker died: reset connection, cut body, refused.
            if (killed()) failedByKill++;
            else unexpected.push(String(error));
            return;
          }
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
      clearTimeout(cap);
      kill(); // every worker stopped early: end the broker all the same
      const exit = await exitOf(broker);
      const burstMs = Math.round(performance.now() - burstStart);

      const records = await readAudit();
      const logged = new Map<unknown, AuditRecord>();
      for (const r of records) if (r.type === 'route.decision') logged.set(r.data.decisionId, r);
      const decisions = records.filter((r) => r.type === 'route.decision').length;
      const summary = `${received.length} decisions received, ${failedByKill} requests failed by the kill at ${Math.round(killedAfterMs ?? -1)} ms (burst ${burstMs} ms), ${decisions} decisions and ${records.length} records in the log`;
      await annotate(summary);

      expect(unexpected, `requests that failed before the kill (${summary})`).toEqual([]);
      expect(exit, summary).toEqual({ code: null, signal: 'SIGKILL' });
      // (1) The chain survives the crash.
      expect(verifyChain(records), summary).toEqual({ ok: true, count: records.length });
      // (2) Durable before the answer: every decision a client holds is logged, under its participant.
      expect(logged.size, `decisionIds are unique (${summary})`).toBe(decisions);
      const missing = received.filter((r) => logged.get(r.decisionId)?.data.participant !== r.participant);
      expect(missing, `received decisions missing from the log (${summary})`).toEqual([]);
      // (2b) Every answer's receipt is the log's signed promise of that very record, kept through the crash.
      const key = await loadLogKey(dataDir, false);
      const unproven = received.map((r) => ({ r, check: proveReceipt(records, { promise: r.receipt, decisionId: r.decisionId, manifestSha256: r.manifestSha256, route: r.route }, key) })).filter((x) => !x.check.ok);
      expect(unproven.map((x) => `${x.r.decisionId}: ${x.check.ok ? '' : x.check.reason}`), summary).toEqual([]);
      // Nothing logged that no request asked for: at most one record per request that died in flight.
      expect(decisions - received.length, summary).toBeGreaterThanOrEqual(0);
      expect(decisions - received.length, summary).toBeLessThanOrEqual(failedByKill);
      // (3) The kill really landed mid-burst.
      expect(received.length, summary).toBeGreaterThanOrEqual(KILL_AFTER_DECISIONS);
      expect(failedByKill, summary).toBeGreaterThan(0);

      crashed = { port, tokens, records };
    } finally {
      broker.child.kill('SIGKILL');
    }
  });

  it('restarts on the same data directory and appends to the same chain', { timeout: 60_000 }, async () => {
    if (!crashed) throw new Error('the crash test did not complete');
    const before = crashed.records;
    const broker = spawnBroker(crashed.port);
    try {
      await waitReady(broker);
      // A join token issued before the crash still routes: the signing keys outlived it.
      const join = crashed.tokens[0];
      if (!join) throw new Error('no join token');
      const { decisionId } = decided((await expectPost(`${broker.url}/v1/route`, join.token, { country: 'US' }, 200)) as { ticket: string });

      broker.child.kill('SIGTERM');
      expect(await exitOf(broker), broker.output()).toEqual({ code: 0, signal: null });

      const records = await readAudit();
      expect(verifyChain(records)).toEqual({ ok: true, count: before.length + 1 });
      expect(records.slice(0, before.length)).toEqual(before);
      expect(records.at(-1)).toMatchObject({ seq: before.length + 1, type: 'route.decision', prevHash: before.at(-1)?.hash, data: { decisionId, participant: join.participant } });
    } finally {
      broker.child.kill('SIGKILL');
    }
  });
});
