// Keeps docs/sdk.md the SDK's reference: every name the public entry points (src/sdk/index.ts,
// src/sdk/node/index.ts) export has its heading there, and every name heading its API sections is exported.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** The names an index.ts re-exports (`export { a, type B } from …`, `export type { C } from …`). */
function exportedNames(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/^export (?:type )?\{([^}]*)\} from/gm)].flatMap((m) => (m[1] ?? '').split(',').map((n) => n.trim().replace(/^type\s+/, '')).filter((n) => n !== ''));
}

describe('docs/sdk.md', () => {
  const entries = ['src/sdk/index.ts', 'src/sdk/node/index.ts'];
  const exported = new Set(entries.flatMap(exportedNames));
  const headings = new Set([...readFileSync(join(root, 'docs/sdk.md'), 'utf8').matchAll(/^### (\S+)$/gm)].map((m) => m[1] ?? ''));

  it('has a heading for every name the entry points export', () => {
    expect([...exported].filter((n) => !headings.has(n)).sort()).toEqual([]);
  });

  it('documents no name the entry points do not export', () => {
    expect([...headings].filter((n) => !exported.has(n)).sort()).toEqual([]);
  });

  it('reads the entry points (the scan itself works)', () => {
    expect(exported.has('connect')).toBe(true);
    expect(exported.has('NodeRoomOptions')).toBe(true);
    expect(exported.size).toBeGreaterThan(30);
  });

  it('the entry points only re-export (index.ts names what it exports)', () => {
    for (const file of entries) {
      const code = readFileSync(join(root, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\/\/.*$/gm, '');
      expect(code.split(/;\s*/).map((s) => s.trim()).filter((s) => s !== '' && !/^export (?:type )?\{[^}]*\} from '[^']+'$/.test(s))).toEqual([]);
    }
  });
});
