/**
 * The worker thread that answers what-ifs (what-if-runner.ts): the simulator
 * runs for tens of milliseconds on world.yaml and about a second on a
 * 1,000-datacenter manifest, which the broker's event loop, busy with routes
 * and heartbeats, must not wait for. It gets the manifest in force as text
 * (parsed once per version) and the query; it answers the what-if, or the
 * code and message of why not.
 */
import { parentPort } from 'node:worker_threads';
import { isGeobridgeError } from '../../core/errors.js';
import { parseManifest } from '../../core/manifest/parse.js';
import type { Manifest } from '../../core/manifest/types.js';
import { whatIf } from './what-if.js';
import type { WhatIfReply, WhatIfRequest } from './what-if-runner.js';

/** The manifest last asked about: its forecast steady state is cached on the object (what-if.ts). */
let last: { readonly sha256: string; readonly manifest: Manifest } | undefined;

function manifestOf(request: WhatIfRequest): Manifest {
  if (last?.sha256 !== request.sha256) {
    const { manifest } = parseManifest(request.text, 'the manifest in force');
    if (!manifest) throw new Error('the manifest in force does not parse');
    last = { sha256: request.sha256, manifest };
  }
  return last.manifest;
}

parentPort?.on('message', (request: WhatIfRequest) => {
  let reply: WhatIfReply;
  try {
    reply = { id: request.id, answer: whatIf(manifestOf(request), request.query) };
  } catch (error) {
    reply = { id: request.id, error: isGeobridgeError(error) ? { code: error.code, message: error.message } : { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) } };
  }
  parentPort?.postMessage(reply);
});
