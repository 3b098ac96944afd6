/**
 * `npm run bench -- join`: in real Chromium, the time from clicking "Join
 * meeting" to the first decoded frame of remote video — for the newcomer,
 * and for the participant already in the meeting, who waits for the
 * newcomer's video (that side depends on the bridge asking the newcomer for
 * a keyframe).
 *
 * A dev-mode broker and an in-process bridge for us-east on 127.0.0.1
 * (src/bridge/cluster.fixture.ts); Chromium with its fake camera and
 * microphone and the flags of test/browser/call.test.ts. The first tab joins
 * and stays, publishing. Each round a second tab opens the invite link,
 * fills the join screen, and joins; both pages then poll their own inbound
 * video statistics (`window.geobridge.stats()`, every 10 ms, in the page)
 * until a new stream has `framesDecoded > 0`. Times are read in each page
 * (`performance.timeOrigin + performance.now()`, the same clock for every
 * tab), from the click dispatched in the newcomer's page. The newcomer then
 * leaves and its tab closes. One untimed round first warms up.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { startCluster, type Cluster } from '../src/bridge/cluster.fixture.js';
import { launchChromium } from '../test/browser/chromium.fixture.js';
import { quantile } from './media-support.js';
import type { BenchOptions } from './run.js';

/** A join that shows no frame by then fails the run. */
const FRAME_LIMIT_MS = 30_000;

interface Round {
  /** Newcomer: click → first decoded frame of the first participant's video. */
  readonly newcomerMs: number;
  /** Newcomer: click → the SDK's `connected` event (route, ticket, admission). */
  readonly connectedMs: number;
  /** First participant: the newcomer's click → first decoded frame of the newcomer's video. */
  readonly firstMs: number;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const joins = opts.quick ? 4 : 10;
  let cluster: Cluster | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  try {
    [cluster, browser] = await Promise.all([startCluster(['us-east'], ['us-east']), launchChromium()]);
    const context = browser.context;
    const link = await invite(cluster);
    const host = await openInvite(context, cluster, link, 'Ada');
    await clickJoin(host);
    await host.waitForFunction(() => window.geobridge.state.phase === 'connected', undefined, { timeout: FRAME_LIMIT_MS });
    opts.log('the first participant is in the meeting; the newcomers follow');
    const rounds: Round[] = [];
    for (let i = 0; i <= joins; i++) {
      const round = await joinOnce(context, cluster, link, host, `Newcomer ${i}`);
      if (i === 0) {
        opts.log(`warm-up: newcomer ${round.newcomerMs.toFixed(0)} ms, first participant ${round.firstMs.toFixed(0)} ms`);
        continue;
      }
      rounds.push(round);
      opts.log(`join ${i}/${joins}: newcomer ${round.newcomerMs.toFixed(0)} ms (connected at ${round.connectedMs.toFixed(0)} ms), first participant ${round.firstMs.toFixed(0)} ms`);
    }
    const pick = (key: keyof Round): number[] => rounds.map((r) => r[key]);
    return {
      medianMs: opts.median(pick('newcomerMs')),
      p95Ms: quantile(pick('newcomerMs'), 0.95),
      n: rounds.length,
      connectedMedianMs: opts.median(pick('connectedMs')),
      firstParticipantMedianMs: opts.median(pick('firstMs')),
      firstParticipantP95Ms: quantile(pick('firstMs'), 0.95),
      newcomerSamplesMs: pick('newcomerMs'),
      firstParticipantSamplesMs: pick('firstMs'),
    };
  } finally {
    await browser?.close();
    await cluster?.close();
  }
}

/** One newcomer: open, join, time both sides' first decoded frame, leave. */
async function joinOnce(context: BrowserContext, cluster: Cluster, link: string, host: Page, name: string): Promise<Round> {
  const page = await openInvite(context, cluster, link, name);
  const hostBaseline = await decodingVideoStreams(host);
  const clickedAt = await clickJoin(page);
  const [newcomerAt, firstAt] = await Promise.all([waitForNewVideo(page, 0), waitForNewVideo(host, hostBaseline)]);
  const connectedAt = await page.evaluate(() => {
    const connected = window.geobridge.events.find((e) => e.type === 'connected');
    return performance.timeOrigin + Number(connected?.at ?? Number.NaN);
  });
  await page.click('#leave');
  await page.close();
  // The next round starts once the bridge has removed the newcomer and the host's page shows it.
  await host.locator('.tile:not(.self)').waitFor({ state: 'detached', timeout: 10_000 });
  return { newcomerMs: newcomerAt - clickedAt, connectedMs: connectedAt - clickedAt, firstMs: firstAt - clickedAt };
}

async function invite(cluster: Cluster): Promise<string> {
  const meeting = await cluster.meeting('Join benchmark');
  const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
  if (res.status !== 201) throw new Error(`invite: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { invite: string }).invite;
}

/** Opens the invite link in a new tab and fills the join screen (camera open, button enabled). */
async function openInvite(context: BrowserContext, cluster: Cluster, link: string, name: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${cluster.broker.url}/join#invite=${link}`);
  await page.locator('#join:not([disabled])').waitFor({ timeout: 15_000 });
  await page.fill('#name', name);
  await page.selectOption('#country', 'US');
  return page;
}

/** Clicks "Join meeting" inside the page; returns the click's time on the shared clock. */
function clickJoin(page: Page): Promise<number> {
  return page.evaluate(() => {
    const at = performance.timeOrigin + performance.now();
    document.getElementById('join')?.click();
    return at;
  });
}

/** Inbound video streams of the page's peer connection that have decoded a frame. */
function decodingVideoStreams(page: Page): Promise<number> {
  return page.evaluate(async () => (await window.geobridge.stats()).filter((s) => s.kind === 'video' && s.framesDecoded > 0).length);
}

/** Polls inside the page until more than `baseline` inbound video streams have decoded a frame; returns when, on the shared clock. */
async function waitForNewVideo(page: Page, baseline: number): Promise<number> {
  const at = await page.evaluate(
    async ({ baseline, limitMs }) => {
      const deadline = performance.now() + limitMs;
      while (performance.now() < deadline) {
        const decoding = (await window.geobridge.stats()).filter((s) => s.kind === 'video' && s.framesDecoded > 0).length;
        if (decoding > baseline) return performance.timeOrigin + performance.now();
        await new Promise((r) => setTimeout(r, 10));
      }
      return null;
    },
    { baseline, limitMs: FRAME_LIMIT_MS },
  );
  if (at === null) throw new Error(`no new decoded video within ${FRAME_LIMIT_MS} ms: ${JSON.stringify(await page.evaluate(async () => ({ state: window.geobridge.state, stats: await window.geobridge.stats() })))}`);
  return at;
}
