/**
 * Reads a manifest file from disk and parses it; reading is the shell's job,
 * parsing the core's.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { GeobridgeError } from '../core/errors.js';
import { parseManifest, type ParseResult } from '../core/manifest/parse.js';
import type { Manifest } from '../core/manifest/types.js';

/** Reads and parses `path`; an unreadable file throws UNREADABLE_FILE (exit 2). */
export function loadManifest(path: string): ParseResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new GeobridgeError('UNREADABLE_FILE', `cannot read manifest '${path}': ${reason}. Check the path.`);
  }
  return parseManifest(text, displayPath(path));
}

/** The manifest at `path`, or INVALID_MANIFEST naming the first problem's place (for commands that need one that parses). */
export function requireManifest(path: string): Manifest {
  const parsed = loadManifest(path);
  if (parsed.manifest) return parsed.manifest;
  const first = parsed.diagnostics[0];
  const where = first ? `${first.file}:${first.line}:${first.column}: ${first.code}: ${first.message}` : parsed.file;
  throw new GeobridgeError('INVALID_MANIFEST', `${parsed.file} does not parse (${where}); run 'geobridge check ${parsed.file}'.`);
}

/** A path as the user would type it: relative to the working directory when inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
