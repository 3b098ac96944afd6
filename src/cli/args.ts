/**
 * Argument parsing on node:util parseArgs, with usage errors that name the
 * flag and point at --help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GeobridgeError } from '../core/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses argv strictly; an unknown flag, a missing value, a flag given twice
 * (the second would silently win) or more than `maxPositionals` arguments
 * (when given) is a USAGE error (exit 2). Flags declared `multiple` repeat.
 */
export function parseCommandArgs<O extends Options>(command: string, argv: readonly string[], options: O, maxPositionals?: number) {
  const usage = (what: string): GeobridgeError => new GeobridgeError('USAGE', `${command}: ${what}; see 'geobridge ${command} --help'.`);
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw usage(message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const given = new Map<string, string[]>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || options[token.name]?.type !== 'string' || options[token.name]?.multiple === true) continue;
    given.set(token.name, [...(given.get(token.name) ?? []), token.value ?? '']);
  }
  for (const [name, values] of given) if (values.length > 1) throw usage(`--${name} was given ${String(values.length)} times (${values.map((v) => `'${v}'`).join(', ')}); give it once`);
  const extra = maxPositionals === undefined ? undefined : parsed.positionals[maxPositionals];
  if (extra !== undefined) throw usage(`unexpected argument '${extra}'${maxPositionals === 0 ? ' (it takes flags only)' : ''}`);
  return { values: parsed.values, positionals: parsed.positionals };
}

/** Splits "a,b,c" into trimmed, non-empty parts. */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}
