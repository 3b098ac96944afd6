/**
 * The SFrame worker's script (sframe-transform.ts's `runSFrameWorker(self)`,
 * bundled), which the built SDK carries inline so that an application gets
 * encrypted media without serving a worker file: scripts/build-sdk.mjs
 * replaces this module with the bundled script. Running from source it is
 * undefined, and the application passes `e2eeWorker` (a URL of the script,
 * e.g. the broker's /e2ee-worker.js on the page's own origin).
 */
export const E2EE_WORKER_SOURCE: string | undefined = undefined;
