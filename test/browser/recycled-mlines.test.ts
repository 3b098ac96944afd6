/**
 * Reused m-lines in real Chromium (`join.recycles`, docs/media.md): Ada stays
 * in the meeting page while Bo joins and leaves, then Cy joins. The bridge
 * puts Cy's audio and video on the m-lines Bo left, and Ada's page takes
 * them as Cy's: her tile plays Cy's video, decrypted end to end, and Ada's
 * connection holds no more m-lines than with one other participant.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { launchChromium, openInvite as open, until, untilMediaFlows } from './chromium.fixture.js';

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

async function join(link: string, name: string): Promise<Page> {
  const { page } = await open(context, cluster.broker.url, link, name, 'US');
  await page.click('#join');
  return page;
}

/** Video frames the page decoded, over every stream it received. */
async function framesDecoded(page: Page): Promise<number> {
  return (await page.evaluate(() => window.geobridge.stats())).filter((s) => s.kind === 'video').reduce((n, s) => n + s.framesDecoded, 0);
}

/** The m-lines of `name`'s connection at the bridge. */
function mLinesAtBridge(meeting: string, name: string): number | undefined {
  const participant = [...(cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.values() ?? [])].find((p) => p.name === name);
  return participant?.pc.getTransceivers().length;
}

it('plays a newcomer’s video on the m-lines a departed participant left', async () => {
  const meeting = await cluster.meeting('Drop-in');
  const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
  const link = ((await res.json()) as { invite: string }).invite;
  const ada = await join(link, 'Ada');
  const bo = await join(link, 'Bo');
  await untilMediaFlows(ada, 40_000);
  expect(mLinesAtBridge(meeting, 'Ada')).toBe(5);

  await bo.click('#leave');
  await until(async () => (await ada.locator('.tile:not(.self)').count()) === 0, 15_000, 'Bo’s tile to go');
  await until(() => Promise.resolve(cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.size === 1), 15_000, 'Bo to leave the bridge');
  await bo.close();
  // The departure negotiated away (Ada answered the offer without Bo's streams), and her decoder idle.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const before = await framesDecoded(ada);
  const decryptedBefore = (await ada.evaluate(() => window.geobridge.e2eeStats()))?.decrypted.video ?? 0;

  const cy = await join(link, 'Cy');
  await until(async () => (await ada.textContent('.tile:not(.self) .tile-name')) === 'Cy', 30_000, 'Cy’s tile');
  await until(async () => (await framesDecoded(ada)) > before + 30, 40_000, 'Ada to decode Cy’s video', async () => JSON.stringify(await ada.evaluate(() => window.geobridge.stats())));
  await until(() => ada.evaluate(() => { const v = document.querySelector<HTMLVideoElement>('.tile:not(.self) video'); return v !== null && v.videoWidth > 0; }), 15_000, 'Cy’s tile to play');
  const crypto = await ada.evaluate(() => window.geobridge.e2eeStats());
  expect(crypto?.decrypted.video ?? 0).toBeGreaterThan(decryptedBefore);
  expect(crypto?.dropped.authFailed).toBe(0);
  // Cy's audio and video took over Bo's m-lines.
  expect(mLinesAtBridge(meeting, 'Ada')).toBe(5);
  await Promise.all([ada.close(), cy.close()]);
}, 150_000);
