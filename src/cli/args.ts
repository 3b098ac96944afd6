/**
 * Argument parsing on node:util parseArgs, with usage errors that name the
 * flag and point at --help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GeobridgeError } from '../core/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses argv strictly; an unknown flag or missing value is a USAGE error (exit 2). */
export function parseCommandArgs<O extends Options>(command: string, argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new GeobridgeError('USAGE', `${command}: ${message.replace(/\. To specify a positional argument.*$/s, '')}; see 'geobridge ${command} --help'.`);
  }
}

/** Splits "a,b,c" into trimmed, non-empty parts. */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}
