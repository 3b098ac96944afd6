/**
 * `geobridge schema`: prints the manifest's JSON Schema for editors.
 */
import { MANIFEST_JSON_SCHEMA } from '../../core/manifest/schema.js';
import { parseCommandArgs } from '../args.js';
import { EXIT, type Io } from '../io.js';

export const SCHEMA_HELP = `Usage: geobridge schema > manifest.schema.json

Prints the JSON Schema (draft 2020-12) of manifest version 1. Point your editor
at it with a first line in the manifest:
  # yaml-language-server: $schema=./manifest.schema.json
`;

/** Runs `schema`. */
export function runSchema(argv: readonly string[], io: Io): number {
  const { values } = parseCommandArgs('schema', argv, {}, 0);
  io.out(values.help ? SCHEMA_HELP : `${JSON.stringify(MANIFEST_JSON_SCHEMA, null, 2)}\n`);
  return EXIT.ok;
}
