/**
 * End-to-end encryption in real Chromium with three participants: all
 * decode each other and show one security code and a roster of the three,
 * none flagged; when one leaves, the other two move to an epoch it never held
 * keys for, every frame the bridge forwards after that is encrypted under
 * that epoch, and their code changes. A ghost that a colluding broker and
 * bridge slip into the group is on both pages' rosters, with a warning.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { ghostKeyPackage, injectKeyPackage } from '../../src/bridge/ghost.fixture.js';
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

type E2ee = { epoch: number; securityCode: string; members: number };

async function e2ee(page: Page): Promise<E2ee | undefined> {
  const s = (await pageState(page)).e2ee;
  return s && 'securityCode' in s ? s : undefined;
}

/** The roster as the page shows it: names (ours marked), and the warnings. */
async function rosterShown(page: Page): Promise<{ names: string[]; warnings: string[]; text: string; alert: string | null }> {
  const roster = (await pageState(page)).roster;
  return {
    names: (roster?.members ?? []).map((m) => (m.self ? `${m.name} (you)` : m.name)),
    warnings: roster?.warnings ?? [],
    text: (await page.locator('#roster-list').textContent()) ?? '',
    alert: (await page.locator('#roster-alert').isVisible()) ? await page.locator('#roster-alert').textContent() : null,
  };
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
    for (const [i, page] of pages.entries()) {
      const shown = await rosterShown(page);
      expect(shown.names).toEqual(['Ada', 'Bo', 'Cy'].map((n, j) => (i === j ? `${n} (you)` : n)));
      expect(shown.warnings).toEqual([]);
      expect(shown.alert).toBeNull();
      // The list is drawn from the same event a moment later: on a loaded machine the text can lag the state.
      const drawn = async (): Promise<string> => (await rosterShown(page)).text;
      await until(async () => { const text = await drawn(); return ['Ada', 'Bo', 'Cy'].every((name) => text.includes(name)); }, 10_000, 'the roster list to show all three');
      for (const name of ['Ada', 'Bo', 'Cy']) expect(await drawn()).toContain(name);
    }

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
    await until(async () => (await Promise.all([ada, bo].map(rosterShown))).every((r) => r.names.length === 2 && r.warnings.length === 0), 10_000, 'rosters of two');

    // A colluding broker vouches for a key it holds in Bo's name; the bridge relays it as Bo's: a second leaf for Bo.
    const boId = (await pageState(ada)).roster?.members.find((m) => m.name === 'Bo')?.participant ?? '';
    injectKeyPackage(cluster, 'us-east', meeting, boId, await ghostKeyPackage(cluster, meeting, boId, 'Bo'));
    await until(async () => (await Promise.all([ada, bo].map(rosterShown))).every((r) => r.alert !== null), 30_000, 'both pages to warn');
    const [adaSees, boSees] = await Promise.all([ada, bo].map(rosterShown));
    expect(adaSees?.names).toEqual(['Ada (you)', 'Bo', 'Bo']);
    expect(adaSees?.warnings).toEqual(['Bo is in the encryption group twice — at most one of the two is really Bo.', 'Bo is in the encryption group twice — at most one of the two is really Bo.']);
    expect(adaSees?.alert).toContain('2 members of the encryption group are not accounted for');
    expect(adaSees?.text).toContain('Warning: Bo is in the encryption group twice');
    expect(boSees?.names).toEqual(['Ada', 'Bo (you)', 'Bo']);
    expect(boSees?.warnings).toEqual(['A second member of the encryption group claims to be you (Bo) — it is not this device.']);
    // The same code on both pages: only the roster shows the ghost.
    const [adaCode, boCode] = await Promise.all([ada, bo].map(e2ee));
    expect(adaCode?.securityCode).toBe(boCode?.securityCode);
    await Promise.all(pages.map((p) => p.close()));
  }, 120_000);
});
