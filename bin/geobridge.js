#!/usr/bin/env node
// Launcher: runs the compiled CLI (dist/, `npm run build`) when it is up to date with the sources, and the
// TypeScript through tsx otherwise, so `npx geobridge` works right after `npm ci` and right after an edit.
// GEOBRIDGE_FROM_SOURCE=1 runs the sources anyway (bench/start.ts compares the two).
import { fileURLToPath } from 'node:url';
import { distIsFresh } from '../scripts/dist-stamp.js';

// `geobridge … | head` closes the pipe early; that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (/** @type {NodeJS.ErrnoException} */ error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

/** @type {{ main: (argv: readonly string[]) => Promise<number> }} */
let cli;
if (process.env.GEOBRIDGE_FROM_SOURCE === undefined && distIsFresh(fileURLToPath(new URL('..', import.meta.url)))) {
  cli = await import(new URL('../dist/cli/main.js', import.meta.url).href);
} else {
  (await import('tsx/esm/api')).register();
  cli = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
