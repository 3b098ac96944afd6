/**
 * The meeting chat in real Chromium: two participants with end-to-end
 * encryption; one types a message in the chat panel and presses Enter, the
 * other sees an unread count and then the message under the sender's name,
 * rendered as text (markup in it stays text). The page's event timeline
 * records who wrote when, never what.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { launchChromium, openInvite, pageState, until } from './chromium.fixture.js';

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

interface ShownChat {
  from: string;
  name: string;
  text: string;
  self: boolean;
}

function chatState(page: Page): Promise<ShownChat[]> {
  return page.evaluate(() => JSON.parse(JSON.stringify(window.geobridge.state.chat)) as ShownChat[]);
}

async function members(page: Page): Promise<number> {
  const s = (await pageState(page)).e2ee;
  return s && 'members' in s ? s.members : 0;
}

describe('meeting chat in Chromium', () => {
  it('a message typed in one tab and sent with Enter shows in the other under the sender’s name, as text', async () => {
    const meeting = await cluster.meeting('Chat');
    const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
    const link = ((await res.json()) as { invite: string }).invite;
    const pages: Page[] = [];
    for (const name of ['Ada', 'Bo']) {
      const { page } = await openInvite(context, cluster.broker.url, link, name, 'US');
      await page.click('#join');
      pages.push(page);
    }
    const [ada, bo] = pages as [Page, Page];
    await until(async () => (await Promise.all(pages.map(members))).every((n) => n === 2), 90_000, 'both pages in one encryption group of two');

    const marker = `marker-${crypto.randomUUID()}`;
    const text = `hi Bo <b>not bold</b> <img src=x onerror="window.pwned=1"> ${marker}`;
    await ada.click('#chat-toggle');
    await ada.locator('#chat-input').fill(text);
    await ada.locator('#chat-input').press('Enter');
    await until(async () => (await chatState(bo)).some((c) => c.text === text), 30_000, 'Bo’s page to receive the chat');
    expect(await chatState(bo)).toEqual([expect.objectContaining({ name: 'Ada', text, self: false })]);
    expect(await chatState(ada)).toEqual([expect.objectContaining({ name: 'Ada', text, self: true })]);
    expect(await ada.locator('#chat-input').inputValue()).toBe('');

    // Bo's panel is closed: one unread. Opening it shows the message, as text, and clears the count.
    await expect.poll(() => bo.locator('#chat-unread').textContent(), { timeout: 10_000 }).toBe('1');
    await bo.click('#chat-toggle');
    await expect.poll(() => bo.locator('#chat-unread').isVisible(), { timeout: 10_000 }).toBe(false);
    const item = bo.locator('#chat-list .chat-message').first();
    expect(await item.locator('.chat-name').textContent()).toBe('Ada');
    expect(await item.locator('.chat-text').textContent()).toBe(text);
    expect(await bo.locator('#chat-list b, #chat-list img').count()).toBe(0);
    expect(await bo.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();

    // Bo answers with the Send button; Ada's panel is open, so nothing counts as unread there.
    await bo.locator('#chat-input').fill('hello Ada');
    await bo.click('#chat-send');
    await until(async () => (await chatState(ada)).some((c) => c.text === 'hello Ada' && c.name === 'Bo'), 30_000, 'Ada’s page to receive the answer');
    expect(await ada.locator('#chat-list .chat-message').count()).toBe(2);
    expect(await ada.locator('#chat-unread').isVisible()).toBe(false);

    // The event timeline (shared with support) says who wrote, never what.
    for (const page of pages) expect(await page.evaluate(() => JSON.stringify(window.geobridge.events))).not.toContain(marker);
    for (const page of pages) expect((await pageState(page)).e2ee).not.toHaveProperty('error');
  }, 180_000);
});
