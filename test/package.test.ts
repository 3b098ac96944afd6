// geobridge as the package npm would publish: `npm pack` (its prepack runs `npm run build`) in a copy of
// the repository, so the build cannot touch the dist/ other test files run, then the tarball unpacked into
// another project's node_modules. What it holds is what its package.json promises, and no more: the CLI
// runs from dist/ with no TypeScript beside it, and `geobridge/core` and `geobridge/sdk/node` load there
// and decide as the sources do.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, selectRoute } from '../src/core/index.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
// Under the repository (its .tmp/ is ignored), so the unpacked package resolves its dependencies from node_modules.
const work = join(root, '.tmp', `package-${String(process.pid)}`);
const copy = join(work, 'repo');
const consumer = join(work, 'consumer');
const installed = join(consumer, 'node_modules', 'geobridge');
/** What `npm pack` needs to build and pack; node_modules is linked, not copied. */
const SOURCES = ['package.json', 'package-lock.json', 'bin', 'scripts', 'src', 'examples', 'schema', 'docs', 'README.md', 'ARCHITECTURE.md', 'LICENSE', 'tsconfig.json', 'tsconfig.base.json', 'tsconfig.build.json'];

interface Packed {
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}
let packed: Packed;
let paths: Set<string>;

beforeAll(async () => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(copy, { recursive: true });
  for (const entry of SOURCES) cpSync(join(root, entry), join(copy, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
  // The build scripts print progress on stdout too: the JSON is what follows it.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: copy, maxBuffer: 64 * 1024 * 1024 });
  packed = (JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1)) as Packed[])[0] as Packed;
  paths = new Set(packed.files.map((f) => f.path));
  mkdirSync(installed, { recursive: true });
  await run('tar', ['xzf', join(work, packed.filename), '-C', installed, '--strip-components=1']);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
}, 300_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Every file an `exports` entry names, whatever its conditions (the source condition aside). */
function exportTargets(exports: Record<string, unknown>): string[] {
  const out: string[] = [];
  const visit = (value: unknown, condition: string): void => {
    if (typeof value === 'string') {
      if (condition !== 'geobridge-source') out.push(value.replace(/^\.\//, ''));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) visit(inner, key);
    }
  };
  visit(exports, '');
  return out;
}

describe('the published package', () => {
  it('may be published, and holds every file its package.json names', () => {
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { private?: boolean; license?: string; bin: Record<string, string>; exports: Record<string, unknown> };
    expect(manifest.private).toBeUndefined();
    expect(manifest.license).toBe('Apache-2.0');
    const promised = [...Object.values(manifest.bin), ...exportTargets(manifest.exports)];
    expect(promised.length).toBeGreaterThanOrEqual(8); // the bin, and the types and module of each entry point
    expect(promised.filter((p) => !paths.has(p))).toEqual([]);
    // Read at run time: the launcher's freshness check, the default manifest, the meeting page, the licence.
    for (const file of ['scripts/dist-stamp.js', 'dist/stamp.json', 'examples/world.yaml', 'dist/web/app.js', 'dist/web/e2ee-worker.js', 'LICENSE', 'README.md']) expect(paths).toContain(file);
  });

  it('holds no sources, tests, benchmarks or local leftovers', () => {
    const stray = [...paths].filter((p) => /^(src|test|bench|\.ci|\.tmp|tmp-probe|node_modules|data)\//.test(p) || /\.test\.|\.fixture\./.test(p));
    expect(stray).toEqual([]);
  });

  it('runs its CLI from dist/, with no TypeScript beside it', async () => {
    expect(paths.has('src/cli/main.ts')).toBe(false); // so the launcher's tsx fallback could not have run it
    const { stdout } = await run(process.execPath, [join(installed, 'bin', 'geobridge.js'), 'check', join(installed, 'examples', 'world.yaml')], { cwd: consumer });
    expect(stdout).toContain('0 errors');
  });

  it('gives another project geobridge/core, deciding as the sources do, and geobridge/sdk/node', async () => {
    writeFileSync(
      join(consumer, 'decide.mjs'),
      `import { readFileSync } from 'node:fs';
import { parseManifest, selectRoute } from 'geobridge/core';
import * as sdk from 'geobridge/sdk/node';
const { manifest } = parseManifest(readFileSync(process.argv[2], 'utf8'));
const routes = Object.fromEntries(['DE', 'US', 'CN', 'BR'].map((country) => [country, selectRoute(manifest, { country })]));
console.log(JSON.stringify({ routes, sdk: typeof sdk.createRoom }));
`,
    );
    const world = join(installed, 'examples', 'world.yaml');
    const { stdout } = await run(process.execPath, ['decide.mjs', world], { cwd: consumer });
    const answer = JSON.parse(stdout) as { routes: Record<string, unknown>; sdk: string };
    expect(answer.sdk).toBe('function');
    const { manifest } = parseManifest(readFileSync(world, 'utf8'));
    if (!manifest) throw new Error('world.yaml does not parse');
    for (const country of ['DE', 'US', 'CN', 'BR']) expect(answer.routes[country]).toEqual(JSON.parse(JSON.stringify(selectRoute(manifest, { country }))));
  });
});
