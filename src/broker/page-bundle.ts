/**
 * The meeting page's scripts (src/web/app.ts and the E2EE worker of
 * src/sdk/sframe-transform.ts) and the operator console's (src/console/app.ts),
 * bundled for browsers by esbuild: by the build (`npm run build`, into
 * dist/web/) and by the broker when it runs from source.
 */
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const WEB = fileURLToPath(new URL('../web/', import.meta.url));
const SDK = fileURLToPath(new URL('../sdk/', import.meta.url));
const CONSOLE = fileURLToPath(new URL('../console/', import.meta.url));
const BROWSER: BuildOptions = { bundle: true, write: false, platform: 'browser', target: 'es2022', minify: true, logLevel: 'silent' };

/** The page's scripts: `app.js` (an ES module) and `e2ee-worker.js`. */
export interface PageScripts {
  readonly js: string;
  readonly worker: string;
}

/** Bundles the E2EE worker (src/sdk/sframe-transform.ts) as one classic script: `runSFrameWorker(self)`. */
export async function buildE2eeWorker(): Promise<string> {
  const entry = { contents: "import { runSFrameWorker } from './sframe-transform.js';\nrunSFrameWorker(self);\n", resolveDir: SDK, sourcefile: 'e2ee-worker.ts', loader: 'ts' as const };
  const result = await build({ ...BROWSER, stdin: entry, format: 'iife' });
  return result.outputFiles?.[0]?.text ?? '';
}

/** Bundles the page's script and its E2EE worker. */
export async function bundlePageScripts(): Promise<PageScripts> {
  const [page, worker] = await Promise.all([build({ ...BROWSER, entryPoints: [`${WEB}app.ts`], format: 'esm' }), buildE2eeWorker()]);
  return { js: page.outputFiles?.[0]?.text ?? '', worker };
}

/** Bundles the operator console's script (an ES module). */
export async function bundleConsoleScript(): Promise<string> {
  const result = await build({ ...BROWSER, entryPoints: [`${CONSOLE}app.ts`], format: 'esm' });
  return result.outputFiles?.[0]?.text ?? '';
}
