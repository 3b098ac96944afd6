/**
 * `npm run bench -- start`: seconds from `npm start` to the meeting link it
 * prints (six bridge processes), against the seconds to its broker answering
 * /healthz in the same run (linkRatio). Built (dist/, as `npm start` runs it
 * after its set-up) and from source (GEOBRIDGE_FROM_SOURCE=1: every process
 * through tsx, the page bundled at broker start, as before the build
 * existed), interleaved. Goal: the link within 10 s.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const GOAL_LINK_S = 10;
const LIMIT_MS = 180_000;

interface Start {
  readonly brokerS: number;
  readonly linkS: number;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const rounds = opts.quick ? 1 : 3;
  // `npm start` builds first if dist/ is stale; outside the timed runs.
  await start(false);
  const built: Start[] = [];
  const source: Start[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const [fromSource, into] of [[false, built], [true, source]] as const) {
      const s = await start(fromSource);
      into.push(s);
      opts.log(`round ${round}/${rounds} ${fromSource ? 'source' : 'built '}: broker ready ${s.brokerS.toFixed(2)} s, link ${s.linkS.toFixed(2)} s`);
    }
  }
  const linkS = opts.median(built.map((s) => s.linkS));
  const brokerS = opts.median(built.map((s) => s.brokerS));
  const sourceLinkS = opts.median(source.map((s) => s.linkS));
  return { linkS, brokerS, linkRatio: linkS / brokerS, sourceLinkS, sourceBrokerS: opts.median(source.map((s) => s.brokerS)), sourceToBuiltRatio: sourceLinkS / linkS, goalLinkS: GOAL_LINK_S, goalMet: linkS <= GOAL_LINK_S, rounds };
}

/** Runs `npm start` on a free port and a fresh data directory until its link, then Ctrl-C; resolves to its timings. */
async function start(fromSource: boolean): Promise<Start> {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'geobridge-bench-start-'));
  const env = { ...process.env, ...(fromSource ? { GEOBRIDGE_FROM_SOURCE: '1' } : {}) };
  const started = performance.now();
  // A process group of its own: Ctrl-C reaches npm, `up` and its bridges, as in a terminal.
  const child = spawn('npm', ['start', '--silent', '--', '--listen', `127.0.0.1:${port}`, '--data', data], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let said = '';
  child.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  try {
    let brokerS: number | undefined;
    const link = new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('/join#invite=')) resolve(performance.now());
      });
      void exited.then(() => {
        reject(new Error(`npm start exited before its link:\n${said}`));
      });
      setTimeout(() => {
        reject(new Error(`no link within ${LIMIT_MS / 1000} s:\n${said}`));
      }, LIMIT_MS).unref();
    });
    void link.catch(() => undefined);
    while (brokerS === undefined) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) brokerS = (performance.now() - started) / 1000;
      } catch {
        await Promise.race([new Promise((r) => setTimeout(r, 20)), link]);
      }
    }
    return { brokerS, linkS: ((await link) - started) / 1000 };
  } finally {
    try {
      process.kill(-(child.pid ?? 0), 'SIGINT');
    } catch {
      // Gone already (it failed to start).
    }
    await exited;
    rmSync(data, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}
