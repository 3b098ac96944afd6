// Writes schema/manifest.schema.json from src/core/manifest/schema.ts, for
// editors (the examples point at it with `# yaml-language-server: $schema=…`).
// Run with `npx tsx scripts/write-schema.ts` after changing the schema module;
// test/schema.test.ts fails while the two differ.
import { writeFileSync } from 'node:fs';
import { MANIFEST_JSON_SCHEMA } from '../src/core/manifest/schema.js';

const OUT = new URL('../schema/manifest.schema.json', import.meta.url);

writeFileSync(OUT, `${JSON.stringify(MANIFEST_JSON_SCHEMA, null, 2)}\n`);
console.log(`wrote ${OUT.pathname}`);
