// bin/geobridge.js runs the compiled CLI (dist/) only while it is up to date with the sources, the CLI
// loads a command's code only when that command runs, and the build's dist/ behaves as the sources do:
// what keeps `npm start` fast (docs/media.md).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildDist } from '../scripts/build.js';
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

/** Makes a `geobridge …` process list, on stderr as it exits, the CommonJS modules it loaded from node_modules (whether it ran dist/ or tsx). */
const PROBE = ['--import', `data:text/javascript,${encodeURIComponent("import { createRequire } from 'node:module'; process.on('exit', () => process.stderr.write(Object.keys(createRequire(process.argv[1]).cache).join('\\n')));")}`];

/** What `geobridge …argv` printed on stderr, the modules it loaded included. */
const packagesLoaded = (...argv: string[]): string => spawnSync(process.execPath, [...PROBE, join(ROOT, 'bin/geobridge.js'), ...argv], { encoding: 'utf8' }).stderr;

describe('the CLI', () => {
  it("loads only the command that runs: 'check --help' does not load the broker's fastify, 'serve --help' does", () => {
    expect(packagesLoaded('check', '--help')).not.toContain('/node_modules/fastify/');
    expect(packagesLoaded('serve', '--help')).toContain('/node_modules/fastify/');
  }, 30_000);
});

describe('the built CLI (npm run build)', () => {
  // As `npm start` does: rebuilding a fresh dist/ could pull it from under a process of another test file.
  beforeAll(async () => {
    if (!distIsFresh(ROOT)) await buildDist();
  }, 120_000);

  it('is what the launcher runs: a bridge loads werift from the bundle, not from node_modules', () => {
    expect(packagesLoaded('bridge', '--help')).not.toContain('/node_modules/werift/');
  }, 30_000);

  it('runs `up` as `npm start` does, finding the files beside the sources as tsx does (examples/, bin/, src/web/), and serves the page scripts the build bundled without loading esbuild', async () => {
    const data = mkdtempSync(join(tmpdir(), 'geobridge-built-'));
    const up = spawn(process.execPath, [...PROBE, join(ROOT, 'bin/geobridge.js'), 'up', '--datacenters', 'us-east', '--data', data, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => up.once('exit', resolve));
    let said = '';
    up.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        up.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const link = /(http:\/\/\S+)\/join#invite=/.exec(out);
          if (link?.[1] !== undefined) resolve(link[1]);
        });
        void exited.then(() => {
          reject(new Error(`up exited: ${said}`));
        });
      });
      for (const file of ['app.js', 'e2ee-worker.js']) expect(await (await fetch(`${url}/${file}`)).text()).toBe(readFileSync(join(ROOT, 'dist/web', file), 'utf8'));
      expect((await fetch(`${url}/join`)).status).toBe(200);
      // The console's what-if runs in the worker the build put beside the CLI.
      const login = await fetch(`${url}/v1/console/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: readFileSync(join(data, 'admin-token'), 'utf8').trim() }) });
      expect(login.status).toBe(200);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const whatIf = await fetch(`${url}/v1/console/what-if?down=us-east`, { headers: { cookie } });
      expect(whatIf.status, await whatIf.clone().text()).toBe(200);
      expect(((await whatIf.json()) as { down: string[] }).down).toEqual(['us-east']);
    } finally {
      up.kill('SIGINT');
      await exited;
      rmSync(data, { recursive: true, force: true });
    }
    expect(said).toContain('/node_modules/fastify/');
    expect(said).not.toContain('/node_modules/esbuild/');
  }, 90_000);
});
