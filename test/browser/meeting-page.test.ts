/**
 * The meeting page as people use it, in real Chromium (fake camera and
 * microphone, two of each): the lobby lists the devices, remembers the one
 * picked and shows a moving microphone level; in a call of two, each page's
 * participant list matches its encryption roster, the tile of whoever speaks
 * is highlighted, the lock opens the security code, "Copy invite" puts the
 * link in the clipboard; at phone width every control is on screen.
 *
 * SCREENSHOTS=1 also writes docs/images/lobby.png, meeting-desktop.png and
 * meeting-phone.png (npx vitest run test/browser/meeting-page.test.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { launchChromium, openInvite, pageState, until, untilMediaFlows } from './chromium.fixture.js';

const SHOTS = process.env.SCREENSHOTS === '1' ? join(import.meta.dirname, '../../docs/images') : undefined;
/** Every control of the call, in the bar and the footer. */
const CONTROLS = ['#mic', '#cam', '#screen', '#chat-toggle', '#people', '#leave', '#e2ee-button', '#copy-invite'];

let cluster: Cluster;
let context: BrowserContext;
let closeChromium: () => Promise<void>;

beforeAll(async () => {
  let chromium;
  // Two fake cameras (Chromium always fakes two microphones), so that switching can be seen.
  [cluster, chromium] = await Promise.all([startCluster(['us-east'], ['us-east']), launchChromium({ args: ['--use-fake-device-for-media-stream=device-count=2'] })]);
  ({ context, close: closeChromium } = chromium);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cluster.broker.url });
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
}, 45_000);

afterAll(async () => {
  await closeChromium();
  await cluster.close();
}, 30_000);

async function inviteLink(meeting: string): Promise<string> {
  const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
  expect(res.status).toBe(201);
  return ((await res.json()) as { invite: string }).invite;
}

/** The microphone meter's readings (0–100) over `ms`. */
async function meterReadings(page: Page, ms: number): Promise<number[]> {
  const out: number[] = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    out.push(Number(await page.getAttribute('#mic-level', 'aria-valuenow')));
    await new Promise((r) => setTimeout(r, 40));
  }
  return out;
}

/** The deviceId of the preview's track of `kind`. */
function previewDevice(page: Page, kind: 'audio' | 'video'): Promise<string | undefined> {
  return page.evaluate((k) => {
    const video = document.querySelector<HTMLVideoElement>('#preview');
    const stream = video?.srcObject as MediaStream | null;
    const track = k === 'audio' ? stream?.getAudioTracks()[0] : stream?.getVideoTracks()[0];
    return track?.readyState === 'live' ? track.getSettings().deviceId : undefined;
  }, kind);
}

/** Fails with the control's name unless it lies wholly inside the viewport, is big enough to tap, and is what a tap at its centre hits. */
async function expectTappable(page: Page, selector: string): Promise<void> {
  const viewport = page.viewportSize();
  const box = await page.locator(selector).boundingBox();
  expect(box, `${selector} is rendered`).not.toBeNull();
  if (!box || !viewport) return;
  expect({ selector, left: box.x >= 0, top: box.y >= 0, right: box.x + box.width <= viewport.width, bottom: box.y + box.height <= viewport.height }).toEqual({ selector, left: true, top: true, right: true, bottom: true });
  expect(Math.min(box.width, box.height), `${selector} is at least 40 px`).toBeGreaterThanOrEqual(40);
  const hit = await page.evaluate(([sel, x, y]) => document.elementFromPoint(x, y)?.closest(sel) !== null, [selector, box.x + box.width / 2, box.y + box.height / 2] as const);
  expect(hit, `${selector} is not covered`).toBe(true);
}

async function noHorizontalScroll(page: Page): Promise<void> {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: document.documentElement.clientWidth }));
  expect(scroll).toBeLessThanOrEqual(width);
}

describe('the meeting page in Chromium', () => {
  it('lobby: lists cameras and microphones, remembers the one picked, and shows a moving microphone level', async () => {
    const link = await inviteLink(await cluster.meeting('Design review'));
    const { page } = await openInvite(context, cluster.broker.url, link, 'Ada', 'US');
    await page.setViewportSize({ width: 1280, height: 800 });
    await until(async () => (await page.locator('#camera-select option').count()) === 2 && !(await page.isDisabled('#camera-select')), 15_000, 'two cameras listed');
    const cameras = await page.$$eval('#camera-select option', (os) => os.map((o) => ({ value: (o as HTMLOptionElement).value, label: o.textContent })));
    const microphones = await page.$$eval('#mic-select option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(cameras.every((c) => c.value !== '' && c.label !== '')).toBe(true);
    expect(microphones.length).toBeGreaterThanOrEqual(2);
    expect(await page.inputValue('#camera-select')).toBe(await previewDevice(page, 'video'));

    // The fake microphone beeps twice a second: the level rises and falls.
    const readings = await meterReadings(page, 3000);
    expect(Math.max(...readings)).toBeGreaterThan(30);
    expect(Math.min(...readings)).toBeLessThan(Math.max(...readings));
    expect(new Set(readings).size).toBeGreaterThan(3);
    if (SHOTS) {
      // On a beep, so the picture shows the meter at work.
      await until(async () => Number(await page.getAttribute('#mic-level', 'aria-valuenow')) > 50, 10_000, 'a beep');
      await page.screenshot({ path: join(SHOTS, 'lobby.png') });
    }

    // Another camera and microphone: the preview reopens with them, and a reload remembers them.
    const current = await page.inputValue('#camera-select');
    const other = cameras.find((c) => c.value !== current)?.value ?? '';
    const otherMic = microphones.find((m) => m !== 'default' && m !== '') ?? '';
    await page.selectOption('#camera-select', other);
    await until(async () => (await previewDevice(page, 'video')) === other, 15_000, 'the preview to switch camera');
    await page.selectOption('#mic-select', otherMic);
    await until(async () => (await previewDevice(page, 'audio')) === otherMic, 15_000, 'the preview to switch microphone');
    expect(Math.max(...(await meterReadings(page, 1500)))).toBeGreaterThan(30);
    await page.reload();
    await page.locator('#join:not([disabled])').waitFor({ timeout: 15_000 });
    await until(async () => (await previewDevice(page, 'video')) === other && (await page.inputValue('#camera-select')) === other, 15_000, 'the remembered camera').catch(async (e: unknown) => {
      throw new Error(`${String(e)}: ${JSON.stringify({ other, preview: await previewDevice(page, 'video'), select: await page.inputValue('#camera-select'), stored: await page.evaluate(() => localStorage.getItem('geobridge.camera')) })}`);
    });
    expect(await previewDevice(page, 'audio')).toBe(otherMic);
    expect(await page.inputValue('#mic-select')).toBe(otherMic);
    // Back to the defaults for the next test (one profile).
    await page.evaluate(() => {
      localStorage.removeItem('geobridge.camera');
      localStorage.removeItem('geobridge.microphone');
    });

    // The lobby and, after a refusal, the notice fit a phone.
    for (const size of [{ width: 390, height: 844 }, { width: 360, height: 740 }]) {
      await page.setViewportSize(size);
      await noHorizontalScroll(page);
      await page.locator('#join').scrollIntoViewIfNeeded();
      await expectTappable(page, '#join');
    }
    await page.close();
  }, 90_000);

  it('a call of two: participant lists match the rosters, the speaker is highlighted, the lock shows the code, the invite is copied, and a phone shows every control', async () => {
    const meeting = await cluster.meeting('Weekly product sync with the design, platform and research teams');
    const link = await inviteLink(meeting);
    const ada = (await openInvite(context, cluster.broker.url, link, 'Ada Lovelace', 'US')).page;
    const bo = (await openInvite(context, cluster.broker.url, link, 'Bo Chen', 'US')).page;
    for (const page of [ada, bo]) await page.setViewportSize({ width: 1280, height: 800 });
    await ada.click('#join');
    await bo.click('#join');
    await Promise.all([ada, bo].map((p) => untilMediaFlows(p, 40_000)));

    // Each page lists both participants, itself first, both in the encryption group: exactly the roster's members.
    const rostersOfTwo = async (): Promise<boolean> =>
      (await Promise.all([ada, bo].map(pageState))).every((s) => s.roster?.members.length === 2 && s.participants?.length === 2 && s.participants.every((p) => p.inGroup));
    await until(rostersOfTwo, 40_000, 'both rosters and participant lists of two');
    for (const [page, me, them] of [[ada, 'Ada Lovelace', 'Bo Chen'], [bo, 'Bo Chen', 'Ada Lovelace']] as const) {
      const state = await pageState(page);
      const participants = state.participants ?? [];
      expect(participants.map((p) => p.name)).toEqual([me, them]);
      expect(new Set(participants.map((p) => p.id))).toEqual(new Set(state.roster?.members.filter((m) => !m.left).map((m) => m.participant)));
      expect(participants[0]?.id).toBe(state.roster?.members.find((m) => m.self)?.participant);
      expect(participants.every((p) => p.audio && p.video)).toBe(true);
      expect(await page.locator('#people-list .person').allTextContents()).toEqual([`${me} (you)In the encryption group`, `${them}In the encryption group`]);
      expect(await page.textContent('#people-count')).toBe('2');
    }
    const adaId = (await pageState(ada)).participants?.[0]?.id ?? '';
    const boId = (await pageState(bo)).participants?.[0]?.id ?? '';

    // Muting shows in the other's list.
    await ada.click('#mic');
    await until(async () => (await pageState(bo)).participants?.find((p) => p.id === adaId)?.audio === false, 10_000, 'Ada muted in Bo’s list');
    await ada.click('#mic');
    await until(async () => (await pageState(bo)).participants?.find((p) => p.id === adaId)?.audio === true, 10_000, 'Ada unmuted in Bo’s list');

    // Bo's fake microphone beeps: Ada's page, reading Bo's decrypted audio, highlights his tile.
    await until(async () => (await pageState(ada)).activeSpeaker === boId && (await ada.locator(`.tile.speaking[data-peer="${boId}"]`).count()) === 1, 20_000, 'Bo highlighted as the speaker');
    expect(await ada.locator('.tile.self.speaking').count()).toBe(0);

    // The lock opens the encryption panel: the state in words and the code in six groups of five digits.
    await until(async () => (await ada.getAttribute('#e2ee-button', 'data-state')) === 'on', 20_000, 'the lock to say encrypted');
    expect(await ada.textContent('#e2ee-label')).toBe('Encrypted');
    await ada.click('#e2ee-button');
    expect(await ada.isVisible('#e2ee-panel')).toBe(true);
    const code = (await pageState(ada)).e2ee;
    const groups = await ada.locator('#security-code .code-group').allTextContents();
    expect(groups).toHaveLength(6);
    expect(groups.join(' ')).toBe(code && 'securityCode' in code ? code.securityCode : 'no code');
    expect(await ada.locator('#roster-list .member').count()).toBe(2);
    // The title is whole, not cut by the encryption line.
    const title = ada.locator('#call-title');
    expect(await title.evaluate((e) => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight)).toBe(true);
    if (SHOTS) await ada.screenshot({ path: join(SHOTS, 'meeting-desktop.png') });

    // Copy invite: the page's own link, in the clipboard.
    await bo.click('#copy-invite');
    await until(async () => (await bo.textContent('#invite-status')) === 'Link copied', 10_000, '"Link copied"');
    expect(await bo.evaluate(() => navigator.clipboard.readText())).toBe(`${cluster.broker.url}/join#invite=${link}`);

    // At phone widths every control is on screen and tappable, tiles stack, nothing scrolls sideways.
    for (const size of [{ width: 390, height: 844 }, { width: 360, height: 740 }]) {
      await bo.setViewportSize(size);
      await noHorizontalScroll(bo);
      for (const control of CONTROLS) await expectTappable(bo, control);
      const tiles = await bo.locator('#grid .tile').evaluateAll((ts) => ts.map((t) => t.getBoundingClientRect()).map((r) => ({ x: Math.round(r.x), y: Math.round(r.y) })));
      expect(tiles).toHaveLength(2);
      expect(tiles[0]?.x).toBe(tiles[1]?.x);
      expect(tiles[0]?.y).not.toBe(tiles[1]?.y);
    }
    await bo.setViewportSize({ width: 390, height: 844 });
    if (SHOTS) await bo.screenshot({ path: join(SHOTS, 'meeting-phone.png') });
    // A panel covers the call on a phone, and closes from its own button.
    await bo.click('#people');
    expect(await bo.isVisible('#people-panel')).toBe(true);
    await expectTappable(bo, '#people-panel [data-close]');
    if (SHOTS) await bo.screenshot({ path: join(SHOTS, 'meeting-phone-participants.png') });
    await bo.click('#people-panel [data-close]');
    expect(await bo.isVisible('#people-panel')).toBe(false);

    // Leaving: the notice fits the phone too.
    await bo.click('#leave');
    await bo.locator('#notice').waitFor({ state: 'visible', timeout: 10_000 });
    await noHorizontalScroll(bo);
    await expectTappable(bo, '#notice-retry');
    await ada.click('#leave');
    await Promise.all([ada.close(), bo.close()]);
  }, 150_000);
});
