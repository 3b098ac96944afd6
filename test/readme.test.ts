// Keeps README's promises about the repository true: its documentation list
// names every page in docs/ (and only pages that exist), every relative link
// it holds points at a file, and its list of benchmarks is the runner's; and
// every file of the repository that README, ARCHITECTURE.md or docs/ name exists.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The lines of the README section under `## title`. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no section '${title}'`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

describe('README', () => {
  it('lists every page of docs/ under Documentation', () => {
    const listed = new Set([...section('Documentation').matchAll(/\]\((docs\/[\w-]+\.md)\)/g)].map((m) => m[1]));
    const pages = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
    expect([...listed].sort()).toEqual(pages.sort());
  });

  it('links only to files that exist', () => {
    const targets = [...readme.matchAll(/\]\(((?!https?:|#)[^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1] ?? '');
    expect(targets.length).toBeGreaterThan(10);
    expect(targets.filter((t) => !existsSync(join(root, t)))).toEqual([]);
  });

  it('names exactly the benchmarks that `npm run bench` runs', () => {
    const runner = readFileSync(join(root, 'bench/run.ts'), 'utf8');
    const registry = runner.slice(runner.indexOf('const BENCHMARKS'), runner.indexOf('\n};', runner.indexOf('const BENCHMARKS')));
    const names = [...registry.matchAll(/^ {2}'?([\w-]+)'?: \{ description/gm)].map((m) => m[1]);
    const sentence = /runs a benchmark \(([^;]+);/.exec(section('Development'))?.[1] ?? '';
    const listed = [...sentence.matchAll(/`([\w-]+)`/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(10);
    expect(listed.sort()).toEqual(names.sort());
  });

  it('and the docs name only files that exist', () => {
    const pages = ['README.md', 'ARCHITECTURE.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const missing: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(root, page), 'utf8');
      for (const m of text.matchAll(/(?<![\w./-])((?:src|test|bench|examples|scripts|bin)\/[\w./-]*\.(?:ts|js|yaml|json|md|csv))\b/g)) {
        if (!existsSync(join(root, m[1] ?? ''))) missing.push(`${page}: ${m[1] ?? ''}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
