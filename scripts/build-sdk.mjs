#!/usr/bin/env node
// Builds the SDK's two entry points for applications (docs/sdk.md):
//   dist/sdk/index.js         geobridge/sdk       browsers: one ES module, npm packages bundled in,
//                                                 the SFrame worker inlined (and dist/sdk/e2ee-worker.js)
//   dist/sdk/node.js          geobridge/sdk/node  Node: one ES module, npm packages left as imports
//   dist/sdk/types/           declarations (tsc --emitDeclarationOnly, src/sdk/tsconfig.build.json)
// and the pure core, for tools that check manifests or decide routes as the broker does:
//   dist/core/index.js        geobridge/core      one ES module importing its npm packages (yaml);
//                                                 declarations in dist/types/core/ (npm run build's tsc)
// Usage: node scripts/build-sdk.mjs [--out DIR] [--no-types]     (npm run build:sdk; --out moves the SDK only)
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sdk = join(root, 'src', 'sdk');

/** The SFrame worker (sframe-transform.ts's runSFrameWorker) as one classic script, as the broker serves it at /e2ee-worker.js. */
async function buildWorker() {
  const entry = { contents: "import { runSFrameWorker } from './sframe-transform.js';\nrunSFrameWorker(self);\n", resolveDir: sdk, sourcefile: 'e2ee-worker.ts', loader: 'ts' };
  const result = await build({ stdin: entry, bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2022', minify: true, logLevel: 'silent' });
  return result.outputFiles[0]?.text ?? '';
}

/** Replaces src/sdk/sframe-worker-source.ts (undefined from source) with the bundled worker. */
function inlineWorker(worker) {
  return {
    name: 'geobridge-e2ee-worker',
    setup(b) {
      b.onLoad({ filter: /[\\/]sdk[\\/]sframe-worker-source\.ts$/ }, () => ({ contents: `export const E2EE_WORKER_SOURCE = ${JSON.stringify(worker)};\n`, loader: 'ts' }));
    },
  };
}

/** Builds into `out` (default dist/sdk); `types: false` skips the declarations (the example server's quick build). */
export async function buildSdk({ out = join(root, 'dist', 'sdk'), types = true } = {}) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const worker = await buildWorker();
  writeFileSync(join(out, 'e2ee-worker.js'), worker);
  const common = { bundle: true, format: 'esm', target: 'es2022', sourcemap: true, logLevel: 'warning', plugins: [inlineWorker(worker)] };
  await Promise.all([
    build({ ...common, entryPoints: [join(sdk, 'index.ts')], outfile: join(out, 'index.js'), platform: 'browser' }),
    build({ ...common, entryPoints: [join(sdk, 'node', 'index.ts')], outfile: join(out, 'node.js'), platform: 'node', packages: 'external' }),
  ]);
  if (types) {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '-p', join(sdk, 'tsconfig.build.json'), '--outDir', join(out, 'types')], { stdio: 'inherit' });
  }
  return out;
}

/** Builds `geobridge/core` into `out` (default dist/core); resolves to `out`. */
export async function buildCore({ out = join(root, 'dist', 'core') } = {}) {
  rmSync(out, { recursive: true, force: true });
  await build({ entryPoints: [join(root, 'src', 'core', 'index.ts')], outfile: join(out, 'index.js'), bundle: true, format: 'esm', platform: 'neutral', target: 'es2022', packages: 'external', sourcemap: true, logLevel: 'warning' });
  return out;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, 'no-types': { type: 'boolean' } } });
  const [out, core] = await Promise.all([buildSdk({ ...(values.out !== undefined ? { out: resolve(values.out) } : {}), types: values['no-types'] !== true }), buildCore()]);
  console.log(`geobridge SDK built into ${out}, its core into ${core}`);
}
