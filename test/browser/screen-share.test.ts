/**
 * Screen sharing in real Chromium with E2EE on: Ada clicks "Share screen",
 * Bo decodes her screen in its own tile, "Ada’s screen", while the bridge
 * sees only SFrame ciphertext on it; when Ada stops it from the browser's
 * own UI (the track's 'ended'), the screen leaves Bo's page.
 *
 * The capture is real getDisplayMedia: headless Chromium with
 * --use-fake-device-for-media-stream and --use-fake-ui-for-media-stream
 * (chromium.fixture.ts) answers it with a fake 1280×720 screen, no picker,
 * so the test goes through the button exactly as a user does.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { parseKid } from '../../src/mls/kid.js';
import { decodeHeader } from '../../src/sframe/header.js';
import { tapVideoFrames, vp8ClearBytes } from './bridge-tap.fixture.js';
import { launchChromium, openInvite, pageState, until, untilMediaFlows } from './chromium.fixture.js';

let cluster: Cluster;
let context: BrowserContext;
let closeChromium: () => Promise<void>;

beforeAll(async () => {
  let chromium;
  [cluster, chromium] = await Promise.all([startCluster(['us-east'], ['us-east']), launchChromium()]);
  ({ context, close: closeChromium } = chromium);
}, 45_000);

afterAll(async () => {
  await closeChromium();
  await cluster.close();
}, 30_000);

/** The page's E2EE epoch and group size, once keys are agreed. */
async function e2ee(page: Page): Promise<{ epoch: number; members: number } | undefined> {
  const s = (await pageState(page)).e2ee;
  return s && 'epoch' in s ? s : undefined;
}

/** Frames decoded so far from the track the remote screen tile plays, or undefined while there is none. */
function screenFramesDecoded(page: Page): Promise<number | undefined> {
  return page.evaluate(async () => {
    const video = document.querySelector<HTMLVideoElement>('.tile.screen:not([data-screen="self"]) video');
    const id = video?.srcObject instanceof MediaStream ? video.srcObject.getVideoTracks()[0]?.id : undefined;
    if (id === undefined) return undefined;
    const stats = await window.geobridge.stats();
    return stats.find((s) => s.trackIdentifier === id)?.framesDecoded;
  });
}

describe('screen sharing in Chromium', () => {
  it('shares a screen end-to-end encrypted: the other page decodes it in its own tile, the bridge sees ciphertext, and it ends from the browser UI', async () => {
    const meeting = await cluster.meeting('Screens');
    const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
    const link = ((await res.json()) as { invite: string }).invite;
    const pages: Page[] = [];
    for (const name of ['Ada', 'Bo']) {
      const { page } = await openInvite(context, cluster.broker.url, link, name, 'US');
      await page.click('#join');
      pages.push(page);
    }
    const [ada, bo] = pages as [Page, Page];
    await until(async () => (await Promise.all(pages.map(e2ee))).every((s) => s?.members === 2), 90_000, 'two members in one epoch');
    await Promise.all(pages.map((p) => untilMediaFlows(p, 40_000)));
    expect(await bo.locator('.tile.screen').count()).toBe(0);

    // The button, as a user clicks it (a user gesture, which getDisplayMedia needs).
    await ada.click('#screen');
    await until(async () => (await pageState(ada)).screenSharing === true, 20_000, 'Ada to share');
    expect(await ada.getAttribute('#screen', 'aria-pressed')).toBe('true');
    const tile = bo.locator('.tile.screen:not([data-screen="self"])');
    await tile.waitFor({ timeout: 30_000 });
    expect(await tile.locator('.tile-name').textContent()).toBe('Ada’s screen');

    // Bo decodes it, and keeps decoding it.
    await until(async () => ((await screenFramesDecoded(bo)) ?? 0) > 10, 40_000, 'Bo to decode Ada’s screen');
    const decoded = (await screenFramesDecoded(bo)) ?? 0;
    await until(async () => ((await screenFramesDecoded(bo)) ?? 0) > decoded + 10, 20_000, 'Bo’s decoded screen frames to keep rising');

    // What the bridge forwards of Ada's screen is SFrame under the group's current epoch, from Ada's leaf, never the clear picture.
    // (Clear VP8 read as an SFrame header would give a random KID: ten frames agreeing on these is no accident.)
    const { epoch } = (await e2ee(ada)) ?? { epoch: -1 };
    const kidOf = (frame: Uint8Array): ReturnType<typeof parseKid> => parseKid(decodeHeader(frame.subarray(vp8ClearBytes(frame))).kid);
    const [camera] = await tapVideoFrames(cluster, 'us-east', meeting, 'Ada', 1, 'video');
    const adaLeaf = camera ? kidOf(camera).senderIndex : -1;
    const frames = await tapVideoFrames(cluster, 'us-east', meeting, 'Ada', 10, 'screen');
    for (const frame of frames) expect(kidOf(frame)).toEqual({ context: 0n, senderIndex: adaLeaf, epochBits: BigInt(epoch) % 16n });

    // Ada stops it from the browser's own "Stop sharing" bar: the capture track ends.
    await ada.evaluate(() => {
      const video = document.querySelector<HTMLVideoElement>('.tile.screen[data-screen="self"] video');
      const track = video?.srcObject instanceof MediaStream ? video.srcObject.getVideoTracks()[0] : undefined;
      if (!track) throw new Error('no screen preview on Ada’s page');
      // The browser fires 'ended' when the user stops the capture in its UI; track.stop() would not fire it.
      track.dispatchEvent(new Event('ended'));
    });
    await until(async () => (await pageState(ada)).screenSharing === false, 20_000, 'Ada to stop sharing');
    expect(await ada.getAttribute('#screen', 'aria-pressed')).toBe('false');
    await tile.waitFor({ state: 'detached', timeout: 30_000 });
    const removed = await bo.evaluate(() => window.geobridge.events.filter((e) => e.type === 'track-removed' && e.source === 'screen').length);
    expect(removed).toBe(1);
    await Promise.all(pages.map((p) => p.close()));
  }, 240_000);
});
