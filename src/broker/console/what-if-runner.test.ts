// The what-if worker runs the source through tsx when the broker does (no
// dist/ built: right after `npm ci`). Its eval'd boot code must find tsx from
// the broker's own files, not from the directory the broker was started in.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, expect, it } from 'vitest';
import { WhatIfRunner } from './what-if-runner.js';

const WORLD = readFileSync(new URL('../../../examples/world.yaml', import.meta.url), 'utf8');
const cwd = process.cwd();
let runner: WhatIfRunner | undefined;

afterEach(async () => {
  process.chdir(cwd);
  await runner?.close();
});

it('answers when the broker was started outside the repository', async () => {
  process.chdir(tmpdir());
  runner = new WhatIfRunner();
  const answer = await runner.run('sha', WORLD, { down: 'eu-central' });
  expect(answer.down).toEqual(['eu-central']);
  expect(answer.countries.find((c) => c.country === 'DE')?.before).toBe('eu-central');
});
