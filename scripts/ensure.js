/**
 * What `npm start` and `npm test` need before they run (their prestart and
 * pretest scripts), so that each works on a fresh machine: the dependencies
 * of package-lock.json, dist/ built (start), Chromium for the browser tests
 * (test). It says what it does, and nothing when all is in place. Plain
 * JavaScript without dependencies: it runs before node_modules may exist.
 *
 * Usage: node scripts/ensure.js start|test
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, lstatSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distIsFresh } from './dist-stamp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * @typedef {object} DependencyState
 * @property {number | undefined} installedMtimeMs node_modules/.package-lock.json's, which npm writes at every install; undefined if missing
 * @property {number} lockMtimeMs package-lock.json's
 * @property {boolean} linked node_modules is a symbolic link (to another checkout's)
 * @property {() => boolean} sameAsLock whether the installed packages are the lock's (read only when the times disagree)
 */

/**
 * What node_modules needs: nothing, `npm ci`, or — when it is a link, which `npm ci` would empty — a word to the user.
 * A lock newer than the install may still name the same packages (a fresh checkout of it), hence `sameAsLock`.
 * @param {DependencyState} state
 * @returns {'none' | 'install' | 'linked'}
 */
export function dependenciesAction(state) {
  if (state.installedMtimeMs !== undefined && (state.installedMtimeMs >= state.lockMtimeMs || state.sameAsLock())) return 'none';
  return state.linked ? 'linked' : 'install';
}

/**
 * @typedef {{ packages?: Record<string, { version?: string, optional?: boolean }> }} Lockfile
 */

/**
 * True when npm's record of what it installed names the lock's packages at the lock's versions (optional ones
 * may be missing: those for other platforms are never installed).
 * @param {Lockfile} lock package-lock.json
 * @param {Lockfile} installed node_modules/.package-lock.json
 * @returns {boolean}
 */
export function installedMatchesLock(lock, installed) {
  const wanted = lock.packages ?? {};
  const have = installed.packages ?? {};
  const missing = Object.entries(wanted).some(([path, p]) => path !== '' && p.optional !== true && have[path] === undefined);
  return !missing && Object.entries(have).every(([path, p]) => wanted[path]?.version === p.version);
}

/**
 * The Chromium the browser tests launch: /usr/bin/chromium, else `chromium` on PATH; undefined if neither.
 * @param {string} [path] the PATH to search
 * @param {(file: string) => boolean} [isExecutable]
 * @returns {string | undefined}
 */
export function findChromium(path = process.env.PATH ?? '', isExecutable = executable) {
  return ['/usr/bin/chromium', ...path.split(delimiter).filter((dir) => dir !== '').map((dir) => join(dir, 'chromium'))].find((file) => isExecutable(file));
}

/** @param {string} file */
function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** @param {string} message */
function say(message) {
  process.stderr.write(`${message}\n`);
}

/**
 * Runs a command in the repository root, its output shown; true if it succeeded.
 * @param {string} command
 * @param {readonly string[]} args
 */
function run(command, args) {
  return spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' }).status === 0;
}

/** @param {string} file */
function readLockfile(file) {
  return /** @type {Lockfile} */ (JSON.parse(readFileSync(file, 'utf8')));
}

function ensureDependencies() {
  const nodeModules = join(ROOT, 'node_modules');
  const installed = join(nodeModules, '.package-lock.json');
  const lock = join(ROOT, 'package-lock.json');
  const action = dependenciesAction({
    installedMtimeMs: statSync(installed, { throwIfNoEntry: false })?.mtimeMs,
    lockMtimeMs: statSync(lock).mtimeMs,
    linked: lstatSync(nodeModules, { throwIfNoEntry: false })?.isSymbolicLink() ?? false,
    sameAsLock: () => installedMatchesLock(readLockfile(lock), readLockfile(installed)),
  });
  if (action === 'linked') {
    say(`warning: node_modules is a link and does not hold the packages of package-lock.json; run 'npm ci' where it points to (not here: npm ci would empty the linked folder).`);
  } else if (action === 'install') {
    say('installing dependencies: node_modules is missing or older than package-lock.json; running npm ci…');
    if (!run('npm', ['ci', '--no-audit', '--no-fund'])) throw new Error("npm ci failed (its output is above); fix that, then run this command again.");
  }
}

function ensureBuilt() {
  if (distIsFresh(ROOT)) return;
  say('dist/ is missing or older than the sources:');
  if (!run(process.execPath, ['--import', 'tsx', 'scripts/build.ts'])) throw new Error("the build failed (its output is above); 'npm run build' runs it again.");
}

function ensureChromium() {
  if (findChromium() !== undefined) return;
  const manual = 'install it (Debian/Ubuntu: sudo apt-get install chromium) for test/browser/ to pass';
  // Installing takes root and apt-get, as CI's Debian image has.
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) {
    say(`warning: Chromium not found (/usr/bin/chromium, or chromium on PATH); ${manual}.`);
    return;
  }
  say('Chromium not found, and the browser tests need it; installing it: apt-get update && apt-get install -y chromium…');
  const installed = run('apt-get', ['update', '-qq']) && spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  if (!installed) say(`warning: could not install Chromium with apt-get (see above); ${manual}.`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const task = process.argv[2];
  if (task !== 'start' && task !== 'test') {
    say('usage: node scripts/ensure.js start|test');
    process.exit(2);
  }
  try {
    ensureDependencies();
    if (task === 'start') ensureBuilt();
    else ensureChromium();
  } catch (error) {
    say(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
