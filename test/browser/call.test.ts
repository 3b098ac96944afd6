/**
 * The meeting page in real Chromium against a dev-mode broker and
 * in-process bridges on 127.0.0.1: two participants open the invite link
 * and each decodes the other's video and audio; a participant joining "as
 * if from" China a meeting held in the US is refused with FENCE_CONFLICT and
 * told so in words; a US participant's route never names a Chinese
 * datacenter. Chromium uses its fake camera and microphone.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import { parseKid } from '../../src/mls/kid.js';
import { decodeHeader } from '../../src/sframe/header.js';
import { tapVideoFrames, vp8ClearBytes } from './bridge-tap.fixture.js';
import { launchChromium, openInvite as open, pageState, until, untilMediaFlows, videoBitrate, type Inbound, type RouteBody } from './chromium.fixture.js';
import { readRouteTicketUnverified } from '../../src/protocol/route-ticket.js';

let cluster: Cluster;
let context: BrowserContext;
let closeChromium: () => Promise<void>;

beforeAll(async () => {
  let chromium;
  [cluster, chromium] = await Promise.all([startCluster(['us-east', 'us-west', 'eu-west', 'cn-beijing'], ['us-east', 'us-west', 'cn-beijing']), launchChromium()]);
  ({ context, close: closeChromium } = chromium);
}, 45_000);

afterAll(async () => {
  await closeChromium();
  await cluster.close();
}, 30_000);

async function invite(meeting: string): Promise<string> {
  const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
  expect(res.status).toBe(201);
  return ((await res.json()) as { invite: string }).invite;
}

function openInvite(link: string, name: string, country: string): Promise<{ page: Page; routes: RouteBody[] }> {
  return open(context, cluster.broker.url, link, name, country);
}

describe('the meeting page in Chromium', () => {
  it('two participants join from the invite link and each decodes the other’s video and audio', async () => {
    const started = Date.now();
    const meetingId = await cluster.meeting('Quarterly planning');
    const link = await invite(meetingId);
    const ada = await openInvite(link, 'Ada Lovelace', 'US');
    const bo = await openInvite(link, 'Bo Chen', 'US');
    expect(await ada.page.textContent('#meeting-title')).toBe('Quarterly planning');

    const clicked = Date.now();
    await ada.page.click('#join');
    await bo.page.click('#join');
    const timed = async (page: Page): Promise<{ stats: Inbound[]; ms: number }> => ({ stats: await untilMediaFlows(page, 40_000), ms: Date.now() - clicked });
    const [adaFlow, boFlow] = await Promise.all([timed(ada.page), timed(bo.page)]);
    const adaStats = adaFlow.stats;
    const boStats = boFlow.stats;

    expect(adaStats.some((s) => s.kind === 'video' && s.framesDecoded > 0)).toBe(true);
    expect(boStats.some((s) => s.kind === 'audio' && s.packetsReceived > 0)).toBe(true);
    // Only what the SFrame transform handles is negotiated: Opus (no RED, whose redundant copies the packetizer would build from ciphertext) and VP8.
    // A stream's codec report can lag its first packets in a stats snapshot (mimeType ''); those say nothing either way.
    const known = [...adaStats, ...boStats].filter((x) => x.packetsReceived > 0 && x.mimeType !== '');
    expect(new Set(known.map((x) => x.kind))).toEqual(new Set(['audio', 'video']));
    for (const st of known) expect(st.mimeType.toLowerCase()).toBe(st.kind === 'audio' ? 'audio/opus' : 'video/vp8');
    for (const p of [ada, bo]) {
      const state = await pageState(p.page);
      expect(state.phase).toBe('connected');
      expect(state.connected).toMatchObject({ jurisdiction: 'US', role: 'primary' });
      // The badge follows the SDK's call state, sampled a moment after the first frames.
      await until(async () => /United States \(US\) · primary · \d+ attempts?/.test((await p.page.textContent('#badge-text')) ?? ''), 10_000, `${p.page.url()}: the badge to show the route once media flows`);
    }
    expect(await ada.page.textContent('.tile:not(.self) .tile-name')).toBe('Bo Chen');
    expect(await bo.page.textContent('.tile:not(.self) .tile-name')).toBe('Ada Lovelace');

    // End to end encrypted: one security code for both, frames decrypted in the pages, none dropped.
    const codes = await Promise.all([ada, bo].map(async (p) => (await pageState(p.page)).e2ee));
    expect(codes[0]).toMatchObject({ members: 2, securityCode: expect.stringMatching(/^\d{5}( \d{5}){5}$/) as unknown });
    expect(codes[1]).toEqual(codes[0]);
    expect(await ada.page.textContent('#e2ee')).toContain((codes[0] as { securityCode: string }).securityCode);
    const crypto = await bo.page.evaluate(() => window.geobridge.e2eeStats());
    expect(crypto?.decrypted.video).toBeGreaterThan(0);
    expect(crypto?.dropped.authFailed).toBe(0);
    expect(crypto?.sendLayout).toBe('whole'); // both members' leaves say they read it (docs/sframe.md, "Frame layouts")

    // The bridge forwards only ciphertext: after VP8's clear payload header, every frame starts with an SFrame header
    // whose KID names the epoch and sender, and a frame does not decode without the key.
    const epoch = BigInt((codes[0] as { epoch: number }).epoch);
    const frames = await tapVideoFrames(cluster, 'us-east', meetingId, 'Ada Lovelace', 20);
    for (const frame of frames) {
      const header = decodeHeader(frame.subarray(vp8ClearBytes(frame)));
      expect(parseKid(header.kid).epochBits).toBe(epoch & 0xfn);
    }

    // The bridge's REMB lets the publisher climb past Chromium's ~300 kbit/s start (docs/media.md).
    await new Promise((r) => setTimeout(r, 4000));
    const bitrate = await videoBitrate(bo.page, 2000);
    console.log(`video received by Bo, 4–6 s into the call: ${Math.round(bitrate / 1000)} kbit/s`);
    expect(bitrate).toBeGreaterThan(100_000);

    // Muting shows on the other side.
    await ada.page.click('#mic');
    await until(async () => (await bo.page.locator('.tile.muted:not(.self)').count()) === 1, 5000, 'the muted mark');

    await ada.page.click('#leave');
    await until(async () => (await bo.page.locator('.tile:not(.self)').count()) === 0, 5000, 'Ada’s tile to go');
    await bo.page.click('#leave');
    console.log(`two-participant call: join click → first decoded frame: Ada (joined first) ${adaFlow.ms} ms, Bo ${boFlow.ms} ms; whole test ${Date.now() - started} ms`);
    await Promise.all([ada.page.close(), bo.page.close()]);
  }, 60_000);

  it('refuses a participant from China a meeting held in the US, in words; the US route names no Chinese datacenter', async () => {
    const info = (await (await fetch(new URL('/v1/info', cluster.broker.url))).json()) as { dev: boolean; datacenters: { id: string; jurisdiction: string }[] };
    expect(info.dev).toBe(true);
    const chinese = new Set(info.datacenters.filter((d) => d.jurisdiction === 'CN').map((d) => d.id));
    expect(chinese.size).toBeGreaterThan(0);

    const link = await invite(await cluster.meeting('Board meeting'));
    const us = await openInvite(link, 'Una', 'US');
    await us.page.click('#join');
    await until(async () => (await pageState(us.page)).phase === 'connected', 20_000, 'the US participant to connect');
    expect((await pageState(us.page)).connected?.jurisdiction).toBe('US');
    expect(us.routes.length).toBeGreaterThan(0);
    for (const route of us.routes) {
      const candidates = readRouteTicketUnverified(route.ticket).candidates;
      expect(candidates.length).toBeGreaterThan(0);
      const named = [...candidates, ...Object.keys(route.bridges ?? {})];
      expect(named.filter((d) => chinese.has(d))).toEqual([]);
      expect(readRouteTicketUnverified(route.ticket).candidateJurisdictions).not.toContain('CN');
    }

    const cn = await openInvite(link, 'Chen', 'CN');
    await cn.page.click('#join');
    await until(async () => (await pageState(cn.page)).refusal !== undefined, 20_000, 'the refusal');
    expect((await pageState(cn.page)).refusal?.code).toBe('FENCE_CONFLICT');
    expect(await cn.page.textContent('#notice-text')).toBe("This meeting is held in United States (US) and your organisation's policy does not allow your connection there.");
    expect(await cn.page.isVisible('#notice')).toBe(true);
    expect(cn.routes).toEqual([]);

    await us.page.click('#leave');
    await Promise.all([us.page.close(), cn.page.close()]);
  }, 60_000);
});
