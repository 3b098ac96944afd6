/**
 * `npm run bench -- check`: the cost of verifying a large manifest,
 * `checkManifest(parseManifest(text))`, as a ratio to parsing its YAML alone
 * with the `yaml` package (`parseDocument` with a `LineCounter`, the way
 * src/core/manifest/parse.ts calls it), both measured in the same run:
 *
 *   ratio = checkMs / parseMs        (goal: ≤ 3)
 *
 * The manifest is generated (1,000 datacenters, all 250 countries, seed 1).
 * Two more timings split the cost: `parseManifestMs` (YAML → Manifest with
 * positions) and `verifyMs` (checkManifest on an already parsed manifest,
 * including compilePolicy: each run gets a fresh manifest object, so the
 * per-manifest policy cache never hides the compile).
 */
import { LineCounter, parseDocument } from 'yaml';
import { checkManifest, parseManifest } from '../src/core/index.js';
import { generateManifest } from './generate-manifest.js';
import type { BenchOptions } from './harness.js';

const FILE = 'generated.yaml';

export function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const text = generateManifest({ datacenters: 1000, countries: 250, seed: 1 });
  const parsed = parseManifest(text, FILE);
  const { manifest } = parsed;
  const diagnostics = checkManifest(parsed);
  if (!manifest || diagnostics.some((d) => d.severity === 'error')) throw new Error(`the generated manifest has errors: ${diagnostics.map((d) => d.code).join(', ')}`);
  opts.log(`manifest: ${text.length} bytes, ${text.split('\n').length} lines, ${manifest.datacenters.length} datacenters, ${manifest.zones.length} zones, ${manifest.fences.length} fences, ${diagnostics.length} diagnostics`);

  const t = opts.timeRuns({
    check: () => checkManifest(parseManifest(text, FILE)),
    parse: () => {
      const lineCounter = new LineCounter();
      return parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
    },
    parseManifest: () => parseManifest(text, FILE),
    verify: () => checkManifest({ ...parsed, manifest: { ...manifest } }),
  });
  return Promise.resolve({
    ratio: t.check.ms / t.parse.ms,
    checkMs: t.check.ms,
    parseMs: t.parse.ms,
    parseManifestMs: t.parseManifest.ms,
    verifyMs: t.verify.ms,
    runs: t.check.samplesMs.length,
    bytes: text.length,
    datacenters: manifest.datacenters.length,
    zones: manifest.zones.length,
    fences: manifest.fences.length,
  });
}
