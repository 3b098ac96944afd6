// Keeps docs/errors.md and the codes in the source in sync, both ways.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HTTP_STATUS } from '../src/broker/http-errors.js';
import { DIAGNOSTIC_CODES } from '../src/core/diagnostics.js';
import { UNREACHABLE_REASONS } from '../src/core/plan/plan.js';

const root = join(import.meta.dirname, '..');
const documented = new Set([...readFileSync(join(root, 'docs/errors.md'), 'utf8').matchAll(/^### ([A-Z][A-Z0-9_]+)$/gm)].map((m) => m[1]));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Codes thrown as GeobridgeError (or its subclass SFrameError) or returned as refusals anywhere in src/, and the cascade plan's reasons. */
function codesInSource(): Set<string> {
  const codes = new Set<string>([...Object.keys(DIAGNOSTIC_CODES), ...Object.keys(HTTP_STATUS), ...Object.keys(UNREACHABLE_REASONS)]);
  for (const file of sourceFiles(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:GeobridgeError|SFrameError)\(\s*'([A-Z][A-Z0-9_]+)'/g)) codes.add(m[1] ?? '');
    for (const m of text.matchAll(/code: '([A-Z][A-Z0-9_]+)'/g)) codes.add(m[1] ?? '');
    // The simulator's own outcome codes.
    for (const m of text.matchAll(/refuse\('([A-Z][A-Z0-9_]+)'/g)) codes.add(m[1] ?? '');
    // A bridge ending a session or a relay with a code (MOVED is no error: the client is sent `move`).
    for (const m of text.matchAll(/\bend\((?:\w+, )?'([A-Z][A-Z0-9_]+)'/g)) if (m[1] !== 'MOVED') codes.add(m[1] ?? '');
  }
  return codes;
}

describe('docs/errors.md', () => {
  const inSource = codesInSource();

  it('documents every code the source can produce', () => {
    expect([...inSource].filter((c) => !documented.has(c)).sort()).toEqual([]);
  });

  it('documents no code that the source no longer has', () => {
    expect([...documented].filter((c) => c !== undefined && !inSource.has(c)).sort()).toEqual([]);
  });

  it('finds the codes it checks (the scan itself works)', () => {
    expect(inSource.has('GB_FENCE_CROSSED')).toBe(true);
    expect(inSource.has('NO_CAPACITY_IN_FENCE')).toBe(true);
    expect(inSource.has('USAGE')).toBe(true);
    expect(inSource.has('SFRAME_AUTH_FAILED')).toBe(true);
    expect(inSource.has('RELAY_FAILED')).toBe(true);
  });
});
