// bin/geobridge.js runs the compiled CLI (dist/) only while it is up to date with the sources, and the CLI
// loads a command's code only when that command runs: both keep `npm start` fast (docs/media.md).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { distIsFresh, newestMtimeMs, writeStamp } from '../scripts/dist-stamp.js';

const ROOT = join(import.meta.dirname, '..');
let root: string;

/** Writes `text` to `path` under the fake checkout, modified at `mtimeS` (seconds since the epoch). */
function put(path: string, text: string, mtimeS = 1_000_000): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  utimesSync(file, mtimeS, mtimeS);
}

/** Sets every directory of the fake checkout's sources to an old time, as a settled checkout has. */
function settleDirectories(): void {
  for (const dir of ['src', 'src/cli']) utimesSync(join(root, dir), 1_000_000, 1_000_000);
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'geobridge-launcher-'));
  put('package.json', '{ "type": "module" }');
  put('package-lock.json', '{}');
  put('src/cli/main.ts', "export async function main(): Promise<number> { process.stdout.write('source'); return 0; }\n");
  put('dist/cli/main.js', "export async function main() { process.stdout.write('dist'); return 0; }\n");
  settleDirectories();
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('the build stamp', () => {
  it('is fresh until a source is newer, a file is added or removed, or the lock changes', () => {
    expect(distIsFresh(root)).toBe(false);
    writeStamp(root, newestMtimeMs(root));
    expect(distIsFresh(root)).toBe(true);

    put('src/cli/main.ts', 'edited', 1_000_100);
    expect(distIsFresh(root)).toBe(false);
    writeStamp(root, newestMtimeMs(root));

    // A file copied in with its old time still changes its directory's.
    put('src/cli/new.ts', 'old file', 1_000_000);
    expect(distIsFresh(root)).toBe(false);
    rmSync(join(root, 'src/cli/new.ts'));
    settleDirectories();
    expect(distIsFresh(root)).toBe(true);

    put('package-lock.json', '{ "changed": true }', 1_000_200);
    expect(distIsFresh(root)).toBe(false);
  });
});

describe('bin/geobridge.js', () => {
  /** Runs the launcher copied into the fake checkout; returns what its CLI printed. */
  const launch = (): string => execFileSync(process.execPath, [join(root, 'bin/geobridge.js')], { encoding: 'utf8' });

  beforeEach(() => {
    for (const file of ['bin/geobridge.js', 'scripts/dist-stamp.js']) {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      copyFileSync(join(ROOT, file), join(root, file));
      utimesSync(join(root, file), 1_000_000, 1_000_000);
    }
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  });

  it('runs dist/ while it is up to date, and the sources through tsx once a source is newer', () => {
    expect(launch()).toBe('source');
    writeStamp(root, newestMtimeMs(root));
    expect(launch()).toBe('dist');
    put('src/cli/main.ts', "export async function main(): Promise<number> { process.stdout.write('edited'); return 0; }\n", 1_000_100);
    expect(launch()).toBe('edited');
  }, 30_000);
});

describe('the CLI', () => {
  /** The npm packages a `geobridge …` process loaded (CommonJS ones are all in require.cache, whether it ran dist/ or tsx). */
  const packagesLoaded = (...argv: string[]): string => {
    const probe = "import { createRequire } from 'node:module'; process.on('exit', () => process.stderr.write(Object.keys(createRequire(process.argv[1]).cache).join('\\n')));";
    return spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(probe)}`, join(ROOT, 'bin/geobridge.js'), ...argv], { encoding: 'utf8' }).stderr;
  };

  it("loads only the command that runs: 'check --help' does not load the broker's fastify, 'serve --help' does", () => {
    expect(packagesLoaded('check', '--help')).not.toContain('/node_modules/fastify/');
    expect(packagesLoaded('serve', '--help')).toContain('/node_modules/fastify/');
  }, 30_000);
});
