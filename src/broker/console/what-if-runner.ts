/**
 * Runs what-ifs (what-if.ts) in a worker thread (what-if-worker.ts), one at
 * a time in the order asked, so that the simulator never holds up the
 * broker's routes and heartbeats. The worker starts with the first what-if
 * and stays for the next; one that dies fails what it was answering and is
 * started again for the next question.
 */
import { Worker } from 'node:worker_threads';
import { GeobridgeError } from '../../core/errors.js';
import type { ConsoleWhatIf } from '../../protocol/console-answers.js';
import type { WhatIfQuery } from './what-if.js';

/** True in the compiled CLI (scripts/build.ts builds the worker beside it); undefined under tsx. */
declare const GEOBRIDGE_BUILT: boolean | undefined;

/** What the worker is asked: the manifest in force, as text and hash, and the query. */
export interface WhatIfRequest {
  readonly id: number;
  readonly sha256: string;
  readonly text: string;
  readonly query: WhatIfQuery;
}

/** The worker's answer, or why there is none (a GeobridgeError's code and message). */
export type WhatIfReply = { readonly id: number; readonly answer: ConsoleWhatIf } | { readonly id: number; readonly error: { readonly code: string; readonly message: string } };

const SOURCE = new URL('./what-if-worker.ts', import.meta.url);
const BUILT = new URL('../../../dist/cli/what-if-worker.js', import.meta.url);

/**
 * The worker: the built one, or the source through tsx (registered in the
 * worker, as bin/geobridge.js does in the process). tsx is found from here:
 * an eval'd worker would look for it from the working directory.
 */
function startWorker(): Worker {
  if (typeof GEOBRIDGE_BUILT === 'boolean') return new Worker(BUILT);
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(SOURCE.href)}); });`;
  return new Worker(boot, { eval: true });
}

export class WhatIfRunner {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (answer: ConsoleWhatIf) => void; reject: (error: Error) => void }>();

  /** The what-if on the manifest `text` (whose hash is `sha256`), or the GeobridgeError saying what the query got wrong. */
  run(sha256: string, text: string, query: WhatIfQuery): Promise<ConsoleWhatIf> {
    const worker = this.#started();
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const request: WhatIfRequest = { id, sha256, text, query: { ...(query.down === undefined ? {} : { down: query.down }), ...(query.demand === undefined ? {} : { demand: query.demand }) } };
      worker.postMessage(request);
    });
  }

  /** Stops the worker; what it was answering fails. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll(new Error('the broker is closing'));
    await worker?.terminate();
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = startWorker();
    worker.on('message', (reply: WhatIfReply) => {
      const waiting = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (!waiting) return;
      if ('answer' in reply) waiting.resolve(reply.answer);
      else waiting.reject(reply.error.code === 'INTERNAL' ? new Error(reply.error.message) : new GeobridgeError(reply.error.code, reply.error.message));
    });
    const gone = (error: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#failAll(error);
    };
    worker.on('error', gone);
    worker.on('exit', (code) => {
      gone(new Error(`the what-if worker stopped (exit code ${String(code)})`));
    });
    // It must not keep the process alive: a broker that closes without close() still exits.
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #failAll(error: Error): void {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }
}
