/**
 * Files a command writes its results to (--json FILE, --report FILE,
 * --html FILE). Checked before the work that fills them, so a long run is
 * not lost to a mistyped path, and written with UNWRITABLE_FILE naming the
 * flag when the disk refuses anyway.
 */
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { GeobridgeError } from '../core/errors.js';

function unwritable(flag: string, path: string, why: string, cause?: unknown): GeobridgeError {
  return new GeobridgeError('UNWRITABLE_FILE', `${flag} '${path}' cannot be written: ${why}. Give a file in a directory that exists and that you may write to.`, cause === undefined ? undefined : { cause });
}

/** Throws UNWRITABLE_FILE, naming `flag`, when `path` cannot be written: a directory, a read-only file, or a directory that is missing or read-only. */
export function checkOutputFile(path: string, flag: string): void {
  let isDirectory: boolean | undefined;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    isDirectory = undefined;
  }
  if (isDirectory === true) throw unwritable(flag, path, 'it is a directory');
  const target = isDirectory === undefined ? dirname(resolve(path)) : path;
  try {
    accessSync(target, constants.W_OK);
  } catch (error) {
    throw unwritable(flag, path, isDirectory === undefined ? `its directory ${target} is missing or not writable` : 'it is not writable', error);
  }
}

/** Writes `text` to `path`; UNWRITABLE_FILE naming `flag` when it cannot. */
export function writeOutputFile(path: string, text: string, flag: string): void {
  try {
    writeFileSync(path, text);
  } catch (error) {
    throw unwritable(flag, path, error instanceof Error ? error.message : String(error), error);
  }
}
