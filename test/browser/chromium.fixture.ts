/**
 * Driving the meeting page in real Chromium (playwright-core, Debian's
 * chromium, found as `npm test` finds it, fake camera and microphone): launch,
 * open an invite link, read the page's state and its inbound RTP statistics.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { findChromium } from '../../scripts/ensure.js';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
];

export interface Inbound {
  kind: string;
  packetsReceived: number;
  framesDecoded: number;
  bytesReceived: number;
  mimeType: string;
}
export interface PageState {
  phase: string;
  connected?: { datacenter: string; jurisdiction: string; role: string; attempts: number };
  refusal?: { code: string; message: string; text: string };
  e2ee?: { epoch: number; securityCode: string; members: number } | { error: string };
  roster?: {
    epoch: number;
    members: { name: string; participant: string; self: boolean; left: boolean; keyFingerprint: string; flags: string[] }[];
    joining: string[];
    warnings: string[];
  };
  screenSharing?: boolean;
  participants?: { id: string; name: string; audio: boolean; video: boolean; inGroup: boolean }[];
  activeSpeaker?: string;
}
/** A route answer the page received: the route is in its ticket. */
export interface RouteBody {
  ticket: string;
  bridges?: Record<string, string>;
}

/** A Chromium with a fresh profile; `close` removes the profile too. `args` are added after the defaults (a later switch wins). */
export async function launchChromium(options: { args?: readonly string[] } = {}): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const executablePath = findChromium();
  if (executablePath === undefined) throw new Error('Chromium is missing (/usr/bin/chromium, or chromium on PATH): install it (apt-get install -y chromium)');
  const profile = mkdtempSync(join(tmpdir(), 'geobridge-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: [...ARGS, ...(options.args ?? [])], permissions: ['camera', 'microphone'] });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the meeting page on an invite link and fills the lobby; `query` (e.g. `?e2ee=off`) goes on the page's URL. Returns the page and the route answers it receives. */
export async function openInvite(context: BrowserContext, brokerUrl: string, link: string, name: string, country: string, query = ''): Promise<{ page: Page; routes: RouteBody[] }> {
  const page = await context.newPage();
  const routes: RouteBody[] = [];
  page.on('response', (response) => {
    // A route answer that arrives as the page closes (a page that reconnected just before the test ended) has no body to read.
    if (new URL(response.url()).pathname === '/v1/route' && response.ok()) void response.json().then((body: RouteBody) => routes.push(body), () => undefined);
  });
  await page.goto(`${brokerUrl}/join${query}#invite=${link}`);
  await page.locator('#join:not([disabled])').waitFor({ timeout: 15_000 });
  await page.fill('#name', name);
  await page.selectOption('#country', country);
  return { page, routes };
}

/**
 * Checks that a page ran as meant: with E2EE its SFrame worker decrypted
 * video; without (the dev switch `?e2ee=off`) it has no worker and says so.
 */
export async function checkE2eeVariant(page: Page, e2ee: boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const seen = await page.evaluate(async () => ({ stats: await window.geobridge.e2eeStats(), line: document.getElementById('e2ee')?.textContent ?? '' }));
    const ok = e2ee ? (seen.stats?.decrypted.video ?? 0) > 0 : seen.stats === undefined && seen.line.includes('Not end-to-end encrypted');
    if (ok) return;
    // A page that just reconnected (its media path failed on a loaded machine) has decrypted nothing yet on its new connection.
    if (Date.now() > deadline) throw new Error(`the page meant to run ${e2ee ? 'with' : 'without'} E2EE did not within ${ms} ms: ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => JSON.parse(JSON.stringify(window.geobridge.state)) as PageState);
}

/** Polls the page's inbound RTP statistics until it decodes video and receives audio. */
export async function untilMediaFlows(page: Page, ms: number): Promise<Inbound[]> {
  const deadline = Date.now() + ms;
  let stats: Inbound[] = [];
  while (Date.now() < deadline) {
    stats = await page.evaluate(() => window.geobridge.stats());
    const video = stats.some((s) => s.kind === 'video' && s.framesDecoded > 0);
    const audio = stats.some((s) => s.kind === 'audio' && s.packetsReceived > 0);
    if (video && audio) return stats;
    await new Promise((r) => setTimeout(r, 100));
  }
  const crypto = await page.evaluate(() => window.geobridge.e2eeStats());
  throw new Error(`no decoded media within ${ms} ms: ${JSON.stringify(stats)}; state ${JSON.stringify(await pageState(page))}; e2ee ${JSON.stringify(crypto)}`);
}

/** Waits for `check`; on timeout, throws naming `what`, and what there was when `seen` is given. */
export async function until(check: () => Promise<boolean>, ms: number, what: string, seen?: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${seen ? `: ${await seen()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The page's received video bitrate over `ms`, in bits per second. */
export async function videoBitrate(page: Page, ms: number): Promise<number> {
  const bytes = async (): Promise<number> => (await page.evaluate(() => window.geobridge.stats())).filter((s) => s.kind === 'video').reduce((n, s) => n + s.bytesReceived, 0);
  const before = await bytes();
  const started = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return ((await bytes()) - before) * 8 / ((Date.now() - started) / 1000);
}
