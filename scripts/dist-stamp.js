/**
 * Whether dist/ (`npm run build`) is up to date with its sources, cheaply: the
 * build records the newest modification time among its inputs, and dist/ is
 * fresh while nothing under them is newer. That costs one stat per file (about
 * 300), never reading one. Plain JavaScript without dependencies: the launcher
 * asks before it knows whether it needs tsx, and `npm start` before
 * node_modules may exist.
 */
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What dist/ is built from, relative to the repository root. Directories count
 * too: adding, removing or renaming a file changes its directory's time.
 */
export const BUILD_INPUTS = ['src', 'package-lock.json', 'scripts/build.ts', 'scripts/dist-stamp.js'];

const STAMP = join('dist', 'stamp.json');

/**
 * The newest modification time (ms) of `paths` under `root` and of everything below them; 0 if none exists.
 * @param {string} root
 * @param {readonly string[]} [paths]
 * @returns {number}
 */
export function newestMtimeMs(root, paths = BUILD_INPUTS) {
  let newest = 0;
  /** @param {string} path */
  const visit = (path) => {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return;
    newest = Math.max(newest, stat.mtimeMs);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  for (const path of paths) visit(join(root, path));
  return newest;
}

/**
 * True when dist/ under `root` was built from its inputs as they are now.
 * @param {string} root
 * @returns {boolean}
 */
export function distIsFresh(root) {
  let stamp;
  try {
    stamp = /** @type {{ inputsMtimeMs?: unknown }} */ (JSON.parse(readFileSync(join(root, STAMP), 'utf8')));
  } catch {
    return false;
  }
  return typeof stamp.inputsMtimeMs === 'number' && newestMtimeMs(root) <= stamp.inputsMtimeMs;
}

/**
 * Marks dist/ as built from inputs whose newest time was `inputsMtimeMs`, taken before the build read them
 * (a file saved during the build is then newer, and the next run builds again).
 * @param {string} root
 * @param {number} inputsMtimeMs
 */
export function writeStamp(root, inputsMtimeMs) {
  writeFileSync(join(root, STAMP), `${JSON.stringify({ inputsMtimeMs })}\n`);
}

/**
 * Marks dist/ as stale, before a build empties it: a launcher started meanwhile runs the sources.
 * @param {string} root
 */
export function removeStamp(root) {
  rmSync(join(root, STAMP), { force: true });
}
