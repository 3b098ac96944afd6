/**
 * A small closed-loop HTTP/1.1 load generator for bench/route-http.ts: N
 * keep-alive connections on `node:net`, each sending its pre-serialized
 * request, waiting for the whole response, and sending again, for a warm-up
 * and then a measured window. It runs in a child process (`startLoad` forks
 * this file), so that the server under test has its event loop, and a CPU,
 * to itself, like a load tester on the same machine.
 *
 * It parses only what it needs (status code, Content-Length, end of the
 * body), which keeps the client's own cost per request far below the
 * servers': on a 2-CPU machine the client shares the CPUs with the server.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What one load phase does. */
export interface LoadSpec {
  readonly host: string;
  readonly port: number;
  /** Per connection, the port it uses instead of `port` (to spread connections over several servers). */
  readonly ports?: readonly number[];
  /** One raw HTTP/1.1 request per connection (its length sets the number of connections). */
  readonly requests: readonly string[];
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Gives up on responses still missing this long after the window closed. */
  readonly drainTimeoutMs?: number;
}

/** What one load phase measured. */
export interface LoadResult {
  /** Responses completed inside the measured window. */
  readonly completed: number;
  /** Length of the measured window, ms. */
  readonly windowMs: number;
  readonly perSec: number;
  /** Latency percentiles of requests sent and answered inside the window, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses that were not 200 (warm-up included), by status code. */
  readonly failures: Readonly<Record<string, number>>;
  /** The first body of a failed response, to say why. */
  readonly firstFailure?: string;
  /** All 200 responses, warm-up included (to reconcile with what the server recorded). */
  readonly ok: number;
}

type ChildReply = { readonly result: LoadResult } | { readonly error: string } | { readonly ready: true };

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

/** The argument that makes this file, run as a script, serve LoadSpecs from its parent. */
const CHILD_FLAG = '--http-load-child';

/** A load generator in a child process: one phase at a time. */
export interface LoadClient {
  /** Runs one load phase and resolves with what it measured. */
  run(spec: LoadSpec): Promise<LoadResult>;
  /** Ends the child process; idempotent. */
  close(): void;
}

/** Forks the load generator (this file) and waits until it is ready. */
export function openLoadClient(): Promise<LoadClient> {
  // The child inherits process.execArgv (`--import tsx`), so it can run this .ts file.
  const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let pending: { resolve: (reply: ChildReply) => void; reject: (error: Error) => void } | undefined;
  let exited: Error | undefined;
  child.on('message', (message: ChildReply) => {
    const p = pending;
    pending = undefined;
    p?.resolve(message);
  });
  const fail = (error: Error): void => {
    exited = error;
    const p = pending;
    pending = undefined;
    p?.reject(error);
  };
  child.once('error', fail);
  child.once('exit', (code, signal) => {
    fail(new Error(`the load process exited (${signal ?? `code ${code ?? '?'}`})`));
  });
  const ask = (spec: LoadSpec | null): Promise<ChildReply> =>
    new Promise((resolve, reject) => {
      if (exited) {
        reject(exited);
        return;
      }
      pending = { resolve, reject };
      child.send({ spec });
    });
  const client: LoadClient = {
    run: async (spec) => {
      const reply = await ask(spec);
      if ('error' in reply) throw new Error(`load process: ${reply.error}`);
      if (!('result' in reply)) throw new Error('load process: no result');
      return reply.result;
    },
    close: () => {
      if (child.connected) child.disconnect();
    },
  };
  return ask(null).then(() => client);
}

/** The child's side: one load phase. */
async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let firstFailure: string | undefined;
  let ok = 0;
  let completed = 0;
  const start = performance.now();
  const measureFrom = start + spec.warmupMs;
  const measureTo = measureFrom + spec.durationMs;

  const sockets = new Set<Socket>();
  const runConnection = (request: string, index: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const bytes = Buffer.from(request, 'latin1');
      const socket = connect({ host: spec.host, port: spec.ports?.[index] ?? spec.port });
      sockets.add(socket);
      socket.setNoDelay(true);
      let buffer: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      let ended = false;
      const send = (): void => {
        if (performance.now() >= measureTo) {
          ended = true;
          socket.end();
          resolve();
          return;
        }
        sentAt = performance.now();
        socket.write(bytes);
      };
      socket.on('connect', send);
      socket.on('error', reject);
      socket.on('close', () => {
        if (ended) resolve();
        else reject(new Error('the server closed a connection before the window ended'));
      });
      socket.on('data', (chunk: Buffer) => {
        buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
        const headerEnd = buffer.indexOf(HEADER_END);
        if (headerEnd < 0) return;
        const head = buffer.toString('latin1', 0, headerEnd);
        const length = CONTENT_LENGTH.exec(head)?.[1];
        if (length === undefined) {
          reject(new Error(`a response without Content-Length: ${head}`));
          socket.destroy();
          return;
        }
        const end = headerEnd + HEADER_END.length + Number(length);
        if (buffer.length < end) return;
        if (buffer.length > end) {
          reject(new Error('more bytes than one response: the server answered something not asked'));
          socket.destroy();
          return;
        }
        const now = performance.now();
        const status = head.slice(9, 12);
        if (status === '200') {
          ok++;
          if (now >= measureFrom && now < measureTo) completed++;
          if (sentAt >= measureFrom && now < measureTo) latencies.push(now - sentAt);
        } else {
          failures[status] = (failures[status] ?? 0) + 1;
          firstFailure ??= buffer.toString('utf8', headerEnd + HEADER_END.length, end);
        }
        buffer = Buffer.alloc(0);
        send();
      });
    });

  let timer: NodeJS.Timeout | undefined;
  const drain = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      resolve('timeout');
    }, spec.warmupMs + spec.durationMs + (spec.drainTimeoutMs ?? 10_000));
  });
  const outcome = await Promise.race([Promise.all(spec.requests.map(runConnection)), drain]).finally(() => {
    clearTimeout(timer);
    // After a failure the other connections may still be open: close them, so that nothing outlives the phase.
    for (const socket of sockets) socket.destroy();
  });
  if (outcome === 'timeout') throw new Error(`responses were still missing ${spec.drainTimeoutMs ?? 10_000} ms after the window closed`);

  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    completed,
    windowMs: spec.durationMs,
    perSec: (completed * 1000) / spec.durationMs,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    failures,
    ...(firstFailure !== undefined ? { firstFailure } : {}),
    ok,
  };
}

if (process.argv.includes(CHILD_FLAG)) {
  // One message at a time: `{spec: null}` asks whether the child is ready, `{spec}` runs a phase.
  process.on('message', (message: { spec: LoadSpec | null }) => {
    const reply = (r: ChildReply): void => {
      process.send?.(r);
    };
    if (message.spec === null) {
      reply({ ready: true });
      return;
    }
    runLoad(message.spec).then(
      (result) => {
        reply({ result });
      },
      (error: unknown) => {
        reply({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      },
    );
  });
}
