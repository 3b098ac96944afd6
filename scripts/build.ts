/**
 * `npm run build`: compiles the CLI into dist/cli/ and the meeting page's (and the console's)
 * scripts into dist/web/, then stamps dist/ (scripts/dist-stamp.js) so that
 * bin/geobridge.js runs it, not the TypeScript through tsx, until a source
 * changes.
 *
 * The CLI is one esbuild bundle with its npm packages inside, split per
 * command so that a process loads only its command's code. Resolving and
 * compiling werift's hundreds of files from node_modules was most of a bridge
 * process's start: `bridge --help` takes 0.27 s bundled, 0.70 s with the
 * packages left in node_modules, 1.1–1.5 s through tsx. Packages stay outside
 * the bundle (EXTERNAL) when they are native or find files beside their own
 * code at run time.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { build, type Metafile, type Plugin } from 'esbuild';
import { bundleConsoleScript, bundlePageScripts } from '../src/broker/page-bundle.js';
import { newestMtimeMs, removeStamp, writeStamp } from './dist-stamp.js';

const ROOT = join(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');
const CLI = join(ROOT, 'dist', 'cli');
const WEB = join(ROOT, 'dist', 'web');

/**
 * Left to node_modules: better-sqlite3 is native; esbuild is native and only bundles the page when running
 * from source; fastify's logger (pino) starts worker files and @fastify/swagger-ui serves its own folder;
 * pg-native is pg's optional native driver, which we do not use and npm does not install; ioredis reads its
 * own package.json and its command table beside its code.
 */
const EXTERNAL = ['better-sqlite3', 'esbuild', 'fastify', '@fastify/*', 'pg-native', 'ioredis'];

/** Code in node_modules that locates files beside itself, which breaks once bundled elsewhere. */
const SELF_LOCATING = /\b__dirname\b|\b__filename\b|\bimport\.meta\.(url|dirname|filename)\b/;

/**
 * Keeps `import.meta.url` of each of our modules its source file's (relative to the bundle, so the checkout
 * may move): paths next to a module (examples/, bin/, src/web/) resolve as they do under tsx.
 */
const sourceUrls: Plugin = {
  name: 'source-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      if (!path.startsWith(SRC)) return undefined;
      const url = `new URL(${JSON.stringify(relative(CLI, path))}, import.meta.url).href`;
      return { contents: (await readFile(path, 'utf8')).replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};

/** Builds dist/ under the repository root; returns the seconds it took. */
export async function buildDist(): Promise<number> {
  const started = performance.now();
  // Taken before anything is read: a source saved during the build leaves dist/ stale.
  const inputsMtimeMs = newestMtimeMs(ROOT);
  removeStamp(ROOT);
  rmSync(CLI, { recursive: true, force: true });
  rmSync(WEB, { recursive: true, force: true });
  const [cli, page, consoleScript] = await Promise.all([
    build({
      // The console's what-if runs in a worker thread of its own (src/broker/console/what-if-runner.ts).
      entryPoints: { main: join(SRC, 'cli', 'main.ts'), 'what-if-worker': join(SRC, 'broker', 'console', 'what-if-worker.ts') },
      outdir: CLI,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: EXTERNAL,
      define: { GEOBRIDGE_BUILT: 'true' },
      // Bundled CommonJS packages require Node's built-ins and the external packages.
      banner: { js: "import { createRequire as geobridgeRequire } from 'node:module'; const require = geobridgeRequire(import.meta.url);" },
      plugins: [sourceUrls],
      metafile: true,
      logLevel: 'warning',
    }),
    bundlePageScripts(),
    bundleConsoleScript(),
  ]);
  checkBundledPackages(cli.metafile);
  mkdirSync(WEB, { recursive: true });
  writeFileSync(join(WEB, 'app.js'), page.js);
  writeFileSync(join(WEB, 'e2ee-worker.js'), page.worker);
  writeFileSync(join(WEB, 'console.js'), consoleScript);
  writeStamp(ROOT, inputsMtimeMs);
  return (performance.now() - started) / 1000;
}

/** Fails the build if a bundled package locates files beside itself: it would look for them in dist/cli/. */
function checkBundledPackages(metafile: Metafile): void {
  const packages = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (inPackage?.[1] !== undefined && SELF_LOCATING.test(readFileSync(join(ROOT, input), 'utf8'))) packages.add(inPackage[1]);
  }
  if (packages.size > 0) {
    throw new Error(`bundled packages locate files beside their own code (__dirname, import.meta.url): ${[...packages].join(', ')}. Add them to EXTERNAL in scripts/build.ts.`);
  }
}

if (process.argv[1] === import.meta.filename) {
  process.stderr.write('building dist/ (the CLI and the meeting page)…\n');
  try {
    process.stderr.write(`built dist/ in ${(await buildDist()).toFixed(1)} s\n`);
  } catch (error) {
    // esbuild has printed its errors; ours say what to change.
    process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
