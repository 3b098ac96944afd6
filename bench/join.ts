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
 *
 * Two variants, each in its own meeting (an unencrypted page cannot read an
 * encrypted one's media): E2EE on, as every meeting runs, and off through
 * the page's dev-only `?e2ee=off` switch (src/web/e2ee-switch.ts). Both
 * first participants stay in their meetings throughout, and the rounds
 * alternate between the variants (on, off, off, on, …), so that a slow phase
 * of the machine hits both. `e2eeRatio` is the newcomer's median with E2EE
 * over the median without.
 *
 * The floor, in the same run, a round after each pair: two RTCPeerConnections
 * connected directly inside one Chromium page (in-page signalling, the same
 * fake camera, already open as the lobby's is), from creating them to the
 * first decoded frame. `floorRatio` is the newcomer's median with E2EE over
 * the floor's: what routing, admission, the bridge and the keys add to
 * WebRTC itself (issue 14's goal: ≤ 2).
 */
import type { BrowserContext, Page } from 'playwright-core';
import { startCluster, type Cluster } from '../src/bridge/cluster.fixture.js';
import { checkE2eeVariant, launchChromium } from '../test/browser/chromium.fixture.js';
import { quantile } from './media-support.js';
import type { BenchOptions } from './harness.js';

/** A join that shows no frame by then fails the run. */
const FRAME_LIMIT_MS = 30_000;
/** Goal for the newcomer's median with E2EE over without (issue 6). */
const GOAL_E2EE_RATIO = 1.15;
/** Goal for the newcomer's median with E2EE over the direct floor (issue 14). */
const GOAL_FLOOR_RATIO = 2;

type Variant = 'on' | 'off';
const VARIANTS: readonly Variant[] = ['on', 'off'];

interface Round {
  /** Newcomer: click → first decoded frame of the first participant's video. */
  readonly newcomerMs: number;
  /** Newcomer: click → the SDK's `connected` event (route, ticket, admission). */
  readonly connectedMs: number;
  /** First participant: the newcomer's click → first decoded frame of the newcomer's video. */
  readonly firstMs: number;
  /** Newcomer, E2EE on: click → the SDK's first `e2ee` event (the MLS epoch's SFrame keys); NaN when off. */
  readonly keysMs: number;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const joins = opts.quick ? 4 : 10;
  let cluster: Cluster | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  try {
    [cluster, browser] = await Promise.all([startCluster(['us-east'], ['us-east']), launchChromium()]);
    const context = browser.context;
    const meetings = {} as Record<Variant, { link: string; host: Page }>;
    for (const variant of VARIANTS) {
      const link = await invite(cluster, variant);
      const host = await openInvite(context, cluster, link, `Ada (E2EE ${variant})`, variant);
      await clickJoin(host);
      await host.waitForFunction(() => window.geobridge.state.phase === 'connected', undefined, { timeout: FRAME_LIMIT_MS });
      meetings[variant] = { link, host };
    }
    opts.log('the first participants are in their meetings (E2EE on, E2EE off); the newcomers follow');
    const rounds: Record<Variant, Round[]> = { on: [], off: [] };
    const floor: number[] = [];
    const floorPage = await context.newPage();
    await floorPage.goto(`${cluster.broker.url}/healthz`);
    for (let i = 0; i <= joins; i++) {
      // a, b, b, a, a, b…: neither variant always goes first.
      const order = i % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) {
        const { link, host } = meetings[variant];
        const round = await joinOnce(context, cluster, link, host, `Newcomer ${i}`, variant);
        const keys = Number.isNaN(round.keysMs) ? '' : `, keys at ${round.keysMs.toFixed(0)} ms`;
        const line = `newcomer ${round.newcomerMs.toFixed(0)} ms (connected at ${round.connectedMs.toFixed(0)} ms${keys}), first participant ${round.firstMs.toFixed(0)} ms`;
        if (i === 0) {
          opts.log(`warm-up, E2EE ${variant}: ${line}`);
          continue;
        }
        rounds[variant].push(round);
        opts.log(`join ${i}/${joins}, E2EE ${variant}: ${line}`);
      }
      const direct = await floorOnce(floorPage);
      opts.log(`${i === 0 ? 'warm-up' : `floor ${i}/${joins}`}: two peer connections in one page, first decoded frame after ${direct.toFixed(0)} ms`);
      if (i > 0) floor.push(direct);
    }
    const figures = (list: readonly Round[]): Record<string, unknown> => {
      const pick = (key: keyof Round): number[] => list.map((r) => r[key]);
      return {
        medianMs: opts.median(pick('newcomerMs')),
        p95Ms: quantile(pick('newcomerMs'), 0.95),
        n: list.length,
        connectedMedianMs: opts.median(pick('connectedMs')),
        ...(list.every((r) => Number.isNaN(r.keysMs)) ? {} : { keysMedianMs: opts.median(pick('keysMs')) }),
        firstParticipantMedianMs: opts.median(pick('firstMs')),
        firstParticipantP95Ms: quantile(pick('firstMs'), 0.95),
        newcomerSamplesMs: pick('newcomerMs'),
        firstParticipantSamplesMs: pick('firstMs'),
      };
    };
    const medianOf = (variant: Variant, key: keyof Round): number => opts.median(rounds[variant].map((r) => r[key]));
    const e2eeRatio = medianOf('on', 'newcomerMs') / medianOf('off', 'newcomerMs');
    const floorRatio = medianOf('on', 'newcomerMs') / opts.median(floor);
    return {
      e2eeRatio,
      goalE2eeRatio: GOAL_E2EE_RATIO,
      goalMet: e2eeRatio <= GOAL_E2EE_RATIO,
      floorRatio,
      goalFloorRatio: GOAL_FLOOR_RATIO,
      floorGoalMet: floorRatio <= GOAL_FLOOR_RATIO,
      floor: { medianMs: opts.median(floor), p95Ms: quantile(floor, 0.95), n: floor.length, samplesMs: floor },
      firstParticipantE2eeRatio: medianOf('on', 'firstMs') / medianOf('off', 'firstMs'),
      on: figures(rounds.on),
      off: figures(rounds.off),
    };
  } finally {
    await browser?.close();
    await cluster?.close();
  }
}

/** One newcomer: open, join, time both sides' first decoded frame, leave. */
async function joinOnce(context: BrowserContext, cluster: Cluster, link: string, host: Page, name: string, variant: Variant): Promise<Round> {
  const page = await openInvite(context, cluster, link, name, variant);
  const hostBaseline = await decodingVideoStreams(host);
  const clickedAt = await clickJoin(page);
  const [newcomerAt, firstAt] = await Promise.all([waitForNewVideo(page, 0), waitForNewVideo(host, hostBaseline)]);
  const [connectedAt, keysAt] = await page.evaluate(() =>
    ['connected', 'e2ee'].map((type) => {
      const event = window.geobridge.events.find((e) => e.type === type);
      return performance.timeOrigin + Number(event?.at ?? Number.NaN);
    }),
  );
  // After the timing: the page ran the variant it was meant to.
  await checkE2eeVariant(page, variant === 'on');
  await page.click('#leave');
  await page.close();
  // The next round starts once the bridge has removed the newcomer and the host's page shows it.
  await host.locator('.tile:not(.self)').waitFor({ state: 'detached', timeout: 10_000 });
  return { newcomerMs: newcomerAt - clickedAt, connectedMs: (connectedAt ?? Number.NaN) - clickedAt, firstMs: firstAt - clickedAt, keysMs: (keysAt ?? Number.NaN) - clickedAt };
}

/**
 * The floor: two peer connections in `page`, connected directly (candidates
 * and descriptions handed over in the page), carrying the fake camera opened
 * beforehand; ms from creating them to the receiver's first decoded frame.
 */
async function floorOnce(page: Page): Promise<number> {
  const ms = await page.evaluate(async (limitMs) => {
    const camera = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const started = performance.now();
    const sender = new RTCPeerConnection();
    const receiver = new RTCPeerConnection();
    try {
      sender.onicecandidate = (e) => void (e.candidate && receiver.addIceCandidate(e.candidate));
      receiver.onicecandidate = (e) => void (e.candidate && sender.addIceCandidate(e.candidate));
      for (const track of camera.getTracks()) sender.addTrack(track, camera);
      await sender.setLocalDescription();
      await receiver.setRemoteDescription(sender.localDescription as RTCSessionDescriptionInit);
      await receiver.setLocalDescription();
      await sender.setRemoteDescription(receiver.localDescription as RTCSessionDescriptionInit);
      while (performance.now() - started < limitMs) {
        const stats = [...(await receiver.getStats()).values()] as { type: string; kind?: string; framesDecoded?: number }[];
        if (stats.some((s) => s.type === 'inbound-rtp' && s.kind === 'video' && (s.framesDecoded ?? 0) > 0)) return performance.now() - started;
        await new Promise((r) => setTimeout(r, 10));
      }
      return null;
    } finally {
      sender.close();
      receiver.close();
      for (const track of camera.getTracks()) track.stop();
    }
  }, FRAME_LIMIT_MS);
  if (ms === null) throw new Error(`two peer connections in one page decoded no frame within ${FRAME_LIMIT_MS} ms`);
  return ms;
}

async function invite(cluster: Cluster, variant: Variant): Promise<string> {
  const meeting = await cluster.meeting(`Join benchmark, E2EE ${variant}`);
  const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
  if (res.status !== 201) throw new Error(`invite: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { invite: string }).invite;
}

/** Opens the invite link in a new tab and fills the join screen (camera open, button enabled). */
async function openInvite(context: BrowserContext, cluster: Cluster, link: string, name: string, variant: Variant): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${cluster.broker.url}/join${variant === 'off' ? '?e2ee=off' : ''}#invite=${link}`);
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
