/**
 * examples/sdk-minimal, the smallest application of the public SDK, served
 * by `npm run example`'s server (scripts/example.mjs) next to a broker and
 * bridges, in real Chromium: two pages join one meeting from its invite
 * link with camera and E2EE, and each decodes the other's video, decrypted
 * by the SDK's own SFrame worker, while the bridge forwards only ciphertext.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample } from '../../scripts/example.mjs';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { parseKid } from '../../src/mls/kid.js';
import { decodeHeader } from '../../src/sframe/header.js';
import { tapVideoFrames, vp8ClearBytes } from './bridge-tap.fixture.js';
import { launchChromium, until } from './chromium.fixture.js';

const root = join(import.meta.dirname, '..', '..');
let cluster: Cluster;
let context: BrowserContext;
let closeChromium: () => Promise<void>;
let example: { url: string; close(): Promise<void> };

beforeAll(async () => {
  let chromium;
  [cluster, chromium] = await Promise.all([startCluster(['us-east'], ['us-east']), launchChromium()]);
  ({ context, close: closeChromium } = chromium);
  example = await startExample({ broker: cluster.broker.url, port: 0 });
}, 120_000);

afterAll(async () => {
  await closeChromium();
  await example.close();
  await cluster.close();
}, 60_000);

/** What the example's room says: its state, video frames decoded, frames its SFrame worker decrypted, and the code shown. */
interface Seen {
  connection: string | undefined;
  keys: string | undefined;
  framesDecoded: number;
  decrypted: number;
  code: string;
}

function seen(page: Page): Promise<Seen> {
  return page.evaluate(async () => {
    const room = (window as unknown as { room?: { state: { connection: string; keys: string }; getStats(): Promise<RTCStatsReport | undefined>; e2eeStats(): Promise<{ decrypted: { video: number } } | undefined> } }).room;
    let framesDecoded = 0;
    (await room?.getStats())?.forEach((s: Record<string, unknown>) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded += Number(s.framesDecoded ?? 0);
    });
    return { connection: room?.state.connection, keys: room?.state.keys, framesDecoded, decrypted: (await room?.e2eeStats())?.decrypted.video ?? 0, code: document.querySelector('#code')?.textContent ?? '' };
  });
}

describe('examples/sdk-minimal in Chromium', () => {
  it('is a page under 80 lines that type-checks against the SDK', async () => {
    const lines = ['index.html', 'main.ts'].map((f) => readFileSync(join(root, 'examples', 'sdk-minimal', f), 'utf8').split('\n').length);
    expect((lines[0] ?? 0) + (lines[1] ?? 0)).toBeLessThan(80);
    await promisify(execFile)(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'examples', 'sdk-minimal'), '--noEmit'], { timeout: 120_000 });
  }, 120_000);

  it('two pages join one meeting from the invite link, with camera and E2EE, and each decodes the other’s video', async () => {
    const meeting = await cluster.meeting('SDK example');
    const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
    const { invite } = (await res.json()) as { invite: string };
    const pages = await Promise.all(
      ['Ada', 'Bo'].map(async (name) => {
        const page = await context.newPage();
        await page.goto(`${example.url}/?country=US&name=${name}#invite=${invite}`);
        return page;
      }),
    );
    for (const page of pages) {
      await until(async () => {
        const s = await seen(page);
        return s.connection === 'connected' && s.keys === 'agreed' && s.framesDecoded > 0 && s.decrypted > 0;
      }, 40_000, `${page.url()} to decode the other's video, decrypted: ${JSON.stringify(await seen(page))}`);
    }
    const [ada, bo] = await Promise.all(pages.map(seen));
    expect(ada?.code).toMatch(/^Security code: \d{5}( \d{5}){5}$/);
    expect(bo?.code).toBe(ada?.code);
    // Each page shows itself and the other's camera.
    for (const page of pages) expect(await page.locator('video').count()).toBe(2);

    // On the bridge, Ada's video is SFrame ciphertext under the meeting's epoch.
    const frames = await tapVideoFrames(cluster, 'us-east', meeting, 'Ada', 10);
    for (const frame of frames) expect(parseKid(decodeHeader(frame.subarray(vp8ClearBytes(frame))).kid).senderIndex).toBeGreaterThanOrEqual(0);
    await Promise.all(pages.map((p) => p.close()));
  }, 90_000);
});
