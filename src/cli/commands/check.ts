/**
 * `geobridge check [manifest…]`: every diagnostic of every file, compiler style
 * or JSON. Exit 0 clean, 1 errors (or warnings with --strict), 2 unreadable.
 */
import type { Diagnostic } from '../../core/diagnostics.js';
import { isGeobridgeError } from '../../core/errors.js';
import { checkManifest } from '../../core/verify/check.js';
import { parseCommandArgs } from '../args.js';
import { DEFAULT_MANIFEST, EXIT, type Io } from '../io.js';
import { displayPath, loadManifest } from '../manifest-file.js';

export const CHECK_HELP = `Usage: geobridge check [--json] [--strict] [manifest.yaml …]

Verifies manifests and reports every problem at once, each at file:line:col:
unknown fields, invalid codes, lists that cross a fence (the 2020 incident),
countries without an in-fence primary, one-way enclaves, N-1 capacity.
Without a file it checks the bundled examples/world.yaml.

Options:
  --json     print {"diagnostics": [...], "errors": N, "warnings": N}, and
             "unreadable": [{"file", "code", "message"}] for files not read
  --strict   fail on warnings too
  -h, --help show this help

Exit codes: 0 clean · 1 errors (or warnings with --strict) · 2 unreadable input

Examples:
  geobridge check examples/incident-2020.yaml
  geobridge check --json examples/world.yaml | jq '.diagnostics[].code'
  Every code and its fix: docs/errors.md
`;

/** Runs `check`. */
export function runCheck(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseCommandArgs('check', argv, { json: { type: 'boolean' }, strict: { type: 'boolean' } });
  if (values.help) {
    io.out(CHECK_HELP);
    return EXIT.ok;
  }
  const files = positionals.length > 0 ? positionals : [DEFAULT_MANIFEST];
  const diagnostics: Diagnostic[] = [];
  /** Files that could not be read: nothing was checked in them, which a summary of 0 errors must not hide. */
  const unreadable: { file: string; code: string; message: string }[] = [];
  for (const file of files) {
    try {
      diagnostics.push(...checkManifest(loadManifest(file)));
    } catch (error) {
      if (!isGeobridgeError(error)) throw error;
      unreadable.push({ file, code: error.code, message: error.message });
      io.err(`error ${error.code}: ${error.message}\n`);
    }
  }
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  if (values.json) {
    io.out(`${JSON.stringify({ diagnostics, errors, warnings, ...(unreadable.length > 0 ? { unreadable } : {}) }, null, 2)}\n`);
  } else {
    for (const d of diagnostics) io.out(formatDiagnostic(d));
    const notRead = unreadable.length > 0 ? `, ${String(unreadable.length)} not read` : '';
    const summary = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}${notRead}`;
    // One file that could not be read has no summary: it was not checked.
    if (files.length > 1) io.out(`${files.length} manifests: ${summary}\n`);
    else if (unreadable.length === 0) io.out(`${displayPath(files[0] ?? '')}: ${summary}\n`);
  }
  if (unreadable.length > 0) return EXIT.badInput;
  return errors > 0 || (values.strict && warnings > 0) ? EXIT.violations : EXIT.ok;
}

/** Compiler style: `file:line:col: error GB_X: message`, then one note per related place. */
export function formatDiagnostic(d: Diagnostic): string {
  const notes = d.related.map((r) => `  ${d.file}:${r.line}:${r.column}: note: ${r.message}\n`).join('');
  return `${d.file}:${d.line}:${d.column}: ${d.severity} ${d.code}: ${d.message}\n${notes}`;
}
