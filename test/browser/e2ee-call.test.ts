/**
 * End-to-end encryption in real Chromium with three participants: all
 * decode each other and show one security code; when one leaves, the other
 * two move to an epoch it never held keys for, every frame the bridge
 * forwards after that is encrypted under that epoch, and their code changes.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { parseKid } from '../../src/e2ee/kid.js';
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

type E2ee = { epoch: number; securityCode: string; members: number };

async function e2ee(page: Page): Promise<E2ee | undefined> {
  const s = (await pageState(page)).e2ee;
  return s && 'securityCode' in s ? s : undefined;
}

/** Epochs the page was ever given keys for. */
function epochsSeen(page: Page): Promise<number[]> {
  return page.evaluate(() => window.geobridge.events.filter((e) => e.type === 'e2ee').map((e) => Number(e.epoch)));
}

/** KID epoch bits of the next `count` VP8 frames the bridge receives from `name`. */
async function forwardedEpochBits(meeting: string, name: string, count: number): Promise<bigint[]> {
  const frames = await tapVideoFrames(cluster, 'us-east', meeting, name, count);
  return frames.map((frame) => parseKid(decodeHeader(frame.subarray(vp8ClearBytes(frame))).kid).epochBits);
}

describe('end-to-end encryption in Chromium', () => {
  it('three participants share one code; after one leaves, the others use keys it never had', async () => {
    const meeting = await cluster.meeting('Three-way');
    const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
    const link = ((await res.json()) as { invite: string }).invite;
    const pages: Page[] = [];
    for (const name of ['Ada', 'Bo', 'Cy']) {
      const { page } = await openInvite(context, cluster.broker.url, link, name, 'US');
      await page.click('#join');
      pages.push(page);
    }
    const [ada, bo, cy] = pages as [Page, Page, Page];
    await until(async () => (await Promise.all(pages.map(e2ee))).every((s) => s?.members === 3), 60_000, 'three members in one epoch');
    await Promise.all(pages.map((p) => untilMediaFlows(p, 40_000)));
    const three = await Promise.all(pages.map(e2ee));
    expect(new Set(three.map((s) => s?.securityCode)).size).toBe(1);
    expect(new Set(three.map((s) => s?.epoch)).size).toBe(1);

    await cy.click('#leave');
    await until(async () => (await Promise.all([ada, bo].map(e2ee))).every((s) => s?.members === 2), 30_000, 'the two remaining members to rekey');
    const two = await Promise.all([ada, bo].map(e2ee));
    const epoch = two[0]?.epoch ?? -1;
    expect(two[1]?.epoch).toBe(epoch);
    expect(two[0]?.securityCode).toBe(two[1]?.securityCode);
    expect(two[0]?.securityCode).not.toBe(three[0]?.securityCode);
    // Cy was never given keys for the new epoch ...
    expect(await epochsSeen(cy)).not.toContain(epoch);
    // ... and once Ada's sender switches to it (a few hundred ms after her keys), every frame she sends is under it.
    const newBits = BigInt(epoch) % 16n;
    await until(async () => (await forwardedEpochBits(meeting, 'Ada', 1))[0] === newBits, 20_000, "Ada's sender to switch epochs");
    const bits = await forwardedEpochBits(meeting, 'Ada', 10);
    expect(bits.every((b) => b === newBits)).toBe(true);
    await Promise.all([ada, bo].map((p) => untilMediaFlows(p, 20_000)));
    await Promise.all(pages.map((p) => p.close()));
  }, 120_000);
});
