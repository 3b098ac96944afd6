/**
 * A cascaded meeting in real Chromium (issue 16): three meeting pages, "as if
 * from" Germany, the US and Japan, join one meeting of a broker started with
 * cascade and each lands on its own nearest bridge (eu-central, us-east,
 * ap-tokyo); the bridges relay what world.yaml's fences allow. Each page
 * decodes the video of every peer its fences allow, and the US page never
 * gets the German participant's: the EEA fence keeps her media out of the
 * US, so it is on eu-central and ap-tokyo only, never on us-east — sampled
 * all along, not once. Then eu-central dies: she comes back on eu-south and
 * the Japanese page decodes her video again; the time is printed.
 *
 * End to end encrypted, as the page is by default: the three pages are one
 * MLS group across the three bridges (the broker orders it), show one
 * security code, and decrypt one another's SFrame frames, which cross the
 * hops unchanged; after the failover Dora goes on in the same group.
 *
 * The operator console's map draws the meeting's relays, one curve per pair
 * of bridges with the streams it carries, as the broker holds them.
 */
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../src/bridge/cluster.fixture.js';
import type { Participant } from '../../src/bridge/sfu.js';
import { hopsOf } from '../../src/broker/cascade.js';
import { parseKid } from '../../src/mls/kid.js';
import { decodeHeader } from '../../src/sframe/header.js';
import { tapVideoFrames, vp8ClearBytes } from './bridge-tap.fixture.js';
import { checkE2eeVariant, launchChromium, openInvite, pageState, until, type PageState } from './chromium.fixture.js';

/** Each page's country and the bridge it must land on. */
const DE = { name: 'Dora', country: 'DE', datacenter: 'eu-central' } as const;
const US = { name: 'Uma', country: 'US', datacenter: 'us-east' } as const;
const JP = { name: 'Jun', country: 'JP', datacenter: 'ap-tokyo' } as const;
/** Where Dora goes when eu-central dies: the nearest other primary of her zone. */
const SPARE = 'eu-south';
/** A loaded 2-core machine runs other test files beside this one (on a slow day, three E2EE pages took over 60 s there). */
const MEDIA_MS = 90_000;
/**
 * The bound of the failover: no stall (issue 16's goal is 3 s; the figure is printed: 2–3 s on a quiet machine).
 * With a core burnt beside this file, Jun decoded Dora again 5–33 s after the kill (median 11 s of 11 runs);
 * before session 24 the call could stall for good.
 */
const FAILOVER_LIMIT_MS = 45_000;
/** Frames a page must decode from a peer to count as seeing them. */
const FRAMES = 5;
/** SCREENSHOTS=1 also writes docs/images/console-relays.png (docs/console.md shows it). */
const SHOTS = process.env.SCREENSHOTS === '1' ? join(import.meta.dirname, '../../docs/images') : undefined;

let cluster: Cluster;
let context: BrowserContext;
let closeChromium: () => Promise<void>;
let meeting: string;
const pages = new Map<string, Page>();
/** Where Dora's media was seen where it must never be: on us-east, or on Uma's page. */
const violations: string[] = [];
let sampler: ReturnType<typeof setInterval> | undefined;
let pageSampler: ReturnType<typeof setInterval> | undefined;

beforeAll(async () => {
  let chromium;
  const all = [DE.datacenter, US.datacenter, JP.datacenter, SPARE];
  [cluster, chromium] = await Promise.all([startCluster(all, all, { cascade: true }), launchChromium()]);
  ({ context, close: closeChromium } = chromium);
  meeting = await cluster.meeting('Cascade in Chromium');
  sampler = setInterval(sampleBridges, 20);
  let busy = false;
  pageSampler = setInterval(() => {
    const uma = pages.get(US.name);
    if (busy || !uma) return;
    busy = true;
    void samplePage(uma).finally(() => (busy = false));
  }, 250);
}, 90_000);

afterAll(async () => {
  clearInterval(sampler);
  clearInterval(pageSampler);
  await closeChromium();
  await cluster.close();
}, 90_000);

function page(name: string): Page {
  const p = pages.get(name);
  if (!p) throw new Error(`no page for ${name}`);
  return p;
}

/** Dora's participant ids, as any bridge knows her (she keeps hers across a failover, but nothing here relies on it). */
function doraIds(): Set<string> {
  const ids = new Set<string>();
  for (const bridge of cluster.bridges.values()) {
    const room = bridge.rooms.get(meeting);
    for (const p of room?.participants.values() ?? []) if (p.name === DE.name) ids.add(p.id);
    for (const r of room?.remotes.values() ?? []) if (r.info().name === DE.name) ids.add(r.id);
  }
  return ids;
}

/** Where Dora's streams are on the bridges: `dc:local` (she publishes there), `dc:remote` (a relay brought them in), `dc:out:<subscriber>` (sent on). */
function doraOnBridges(ids = doraIds()): string[] {
  const out: string[] = [];
  for (const [dc, bridge] of cluster.bridges) {
    const room = bridge.rooms.get(meeting);
    if (!room) continue;
    for (const p of room.participants.values()) if (ids.has(p.id) && p.published.size > 0) out.push(`${dc}:local`);
    for (const r of room.remotes.values()) if (ids.has(r.id) || r.info().name === DE.name) out.push(`${dc}:remote`);
    for (const s of [...room.participants.values(), ...room.relays.values()]) if (s.outgoing.some((o) => ids.has(o.publisher))) out.push(`${dc}:out:${s.id}`);
  }
  return out.sort();
}

/** Whether Dora's streams are where they belong: published on `home`, relayed to Tokyo and nowhere else. */
function laidOut(where: readonly string[], home: string): boolean {
  const dcs = [...new Set(where.map((w) => w.split(':')[0]))].sort();
  return JSON.stringify(dcs) === JSON.stringify([JP.datacenter, home].sort()) && where.includes(`${home}:local`) && where.includes(`${JP.datacenter}:remote`);
}

/** Every 20 ms: is anything of Dora's on us-east? */
function sampleBridges(): void {
  const room = cluster.bridges.get(US.datacenter)?.rooms.get(meeting);
  if (!room) return;
  const ids = doraIds();
  const seen = [
    ...[...room.participants.values()].filter((p) => p.name === DE.name || ids.has(p.id)).map((p) => `participant ${p.id}`),
    ...[...room.remotes.values()].filter((r) => r.info().name === DE.name || ids.has(r.id)).map((r) => `remote ${r.id}`),
    ...[...room.participants.values(), ...room.relays.values()].flatMap((s) => s.outgoing.filter((o) => ids.has(o.publisher)).map((o) => `sent to ${s.id}: ${o.slot}`)),
  ];
  for (const s of seen) if (violations.length < 50) violations.push(`us-east: ${s}`);
}

/** Every 250 ms: does Uma's page know of Dora? */
async function samplePage(uma: Page): Promise<void> {
  try {
    const seen = await uma.evaluate((name) => {
      const tiles = [...document.querySelectorAll('.tile-name')].map((e) => e.textContent);
      const listed = (window.geobridge.state.participants ?? []).map((p) => p.name);
      return [...tiles, ...listed].filter((n) => n.includes(name));
    }, DE.name);
    for (const s of seen) if (violations.length < 50) violations.push(`Uma's page shows ${s}`);
  } catch {
    // The page closed while it was sampled.
  }
}

/** Frames each remote participant's camera decoded on this page so far, by name, as its tiles play them (getStats matched to the tile's track). */
function decodedByName(p: Page): Promise<Record<string, number>> {
  return p.evaluate(async () => {
    const stats = await window.geobridge.stats();
    const out: Record<string, number> = {};
    for (const tile of document.querySelectorAll<HTMLElement>('.tile:not(.self):not(.screen)')) {
      const name = tile.querySelector('.tile-name')?.textContent ?? '';
      const source = tile.querySelector('video')?.srcObject;
      const track = source instanceof MediaStream ? source.getVideoTracks()[0] : undefined;
      if (track === undefined) continue;
      out[name] = stats.filter((s) => s.kind === 'video' && s.trackIdentifier === track.id).reduce((n, s) => n + s.framesDecoded, 0);
    }
    return out;
  });
}

/** Video streams the page decodes that no tile of `names` plays. */
function decodedOutside(p: Page, names: readonly string[]): Promise<string[]> {
  return p.evaluate(async (names) => {
    const stats = await window.geobridge.stats();
    const known = new Set<string>();
    for (const tile of document.querySelectorAll<HTMLElement>('.tile:not(.self)')) {
      if (!names.includes(tile.querySelector('.tile-name')?.textContent ?? '')) continue;
      const source = tile.querySelector('video')?.srcObject;
      for (const t of source instanceof MediaStream ? source.getVideoTracks() : []) known.add(t.id);
    }
    return stats.filter((s) => s.kind === 'video' && s.framesDecoded > 0 && !known.has(s.trackIdentifier)).map((s) => `${s.trackIdentifier}: ${s.framesDecoded} frames`);
  }, names);
}

/** Who each page must decode, under world.yaml's fences: the EEA fence keeps Dora's media out of the US. */
const SEES: Readonly<Record<string, readonly string[]>> = {
  [DE.name]: [US.name, JP.name],
  [US.name]: [JP.name],
  [JP.name]: [DE.name, US.name],
};

type Group = Extract<PageState['e2ee'], { securityCode: string }>;
let groupBefore: Group;

/** Waits until the pages of `who` show one E2EE epoch and code with all three members, and returns it. */
async function oneGroup(who: readonly { name: string }[]): Promise<Group> {
  const groups = async (): Promise<PageState['e2ee'][]> => Promise.all(who.map(async (w) => (await pageState(page(w.name))).e2ee));
  await until(
    async () => {
      const all = await groups();
      return all.every((g) => g !== undefined && 'securityCode' in g && g.members === 3 && JSON.stringify(g) === JSON.stringify(all[0]));
    },
    MEDIA_MS,
    `one group of three on every page (${JSON.stringify(await groups())})`,
  );
  return (await groups())[0] as Group;
}

/** What a page and the bridges hold when a wait for media times out: each tile's track, the page's inbound streams and E2EE counters, and every bridge's view of the meeting. */
async function mediaState(name: string): Promise<string> {
  const p = page(name);
  const onPage = await p.evaluate(async () => ({
    tiles: [...document.querySelectorAll<HTMLElement>('.tile:not(.self)')].map((tile) => {
      const source = tile.querySelector('video')?.srcObject;
      return { name: tile.querySelector('.tile-name')?.textContent ?? '', tracks: source instanceof MediaStream ? source.getTracks().map((t) => `${t.kind}:${t.id}:${t.readyState}`) : [] };
    }),
    inbound: await window.geobridge.stats(),
    e2ee: await window.geobridge.e2eeStats(),
  }));
  const bridges: Record<string, unknown> = {};
  for (const [dc, bridge] of cluster.bridges) {
    const room = bridge.rooms.get(meeting);
    if (!room) continue;
    bridges[dc] = {
      participants: [...room.participants.values()].map((s) => ({ id: s.id, name: s.name, state: s.pc.connectionState, published: publishedState(s.published), outgoing: outgoingState(s.outgoing) })),
      remotes: [...room.remotes.values()].map((r) => ({ id: r.id, name: r.info().name, published: publishedState(r.published) })),
      relays: [...room.relays.values()].map((s) => ({ id: s.id, state: s.pc.connectionState, outgoing: outgoingState(s.outgoing) })),
    };
  }
  return JSON.stringify({ page: { name, state: await pageState(p), ...onPage }, bridges, hops: hopsOf(cluster.broker.context, meeting) });
}

/** Each published slot: its SSRC, key frames seen, and who it is sent to. */
function publishedState(published: Participant['published']): string[] {
  return [...published].map(([slot, p]) => `${slot}:ssrc=${p.track?.ssrc ?? '-'}:keyframes=${p.keyframes}:to=${[...p.outlets.keys()].join('+')}`);
}

/** Each outgoing stream: its publisher, slot, m-line, direction, DTLS state, and packets sent (werift's sender counts them for its reports). */
function outgoingState(outgoing: Participant['outgoing']): string[] {
  return outgoing.map((o) => `${o.publisher}:${o.slot}:${o.transceiver.mid ?? '-'}:${o.transceiver.direction}:${o.transceiver.sender.dtlsTransport.state}:sent=${(o.transceiver.sender as unknown as { packetCount: number }).packetCount}`);
}

/** What the pages of `names` and the bridges hold, for a wait for media that timed out. */
async function mediaStates(names: readonly string[]): Promise<string> {
  const states = await Promise.all(names.map((name) => mediaState(name).catch((error: unknown) => `${name}: ${String(error)}`)));
  return states.join('\n');
}

async function decodesAll(name: string): Promise<boolean> {
  const decoded = await decodedByName(page(name));
  return (SEES[name] ?? []).every((peer) => (decoded[peer] ?? 0) >= FRAMES);
}

describe('a cascaded meeting in Chromium', () => {
  it('puts each page on its own bridge, and each decodes every peer its fences allow, and no other', async () => {
    const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(201);
    const link = ((await res.json()) as { invite: string }).invite;
    for (const who of [DE, US, JP]) {
      const { page: p } = await openInvite(context, cluster.broker.url, link, who.name, who.country);
      await p.click('#join');
      pages.set(who.name, p);
    }
    for (const who of [DE, US, JP]) {
      await until(async () => (await pageState(page(who.name))).connected !== undefined, MEDIA_MS, `${who.name} to connect`);
      expect((await pageState(page(who.name))).connected?.datacenter, who.name).toBe(who.datacenter);
    }
    const started = Date.now();
    // All three pages at one moment: a page that reconnected meanwhile (a media path that failed on a loaded
    // machine is ended, and the page comes back at once) counts its new tiles' frames afresh.
    let decoded: Record<string, Record<string, number>> = {};
    await until(
      async () => {
        decoded = Object.fromEntries(await Promise.all([DE, US, JP].map(async (w) => [w.name, await decodedByName(page(w.name))] as const)));
        return [DE, US, JP].every((w) => (SEES[w.name] ?? []).every((peer) => (decoded[w.name]?.[peer] ?? 0) >= FRAMES));
      },
      MEDIA_MS,
      'every page to decode every peer it may',
      () => mediaStates([DE.name, US.name, JP.name]),
    );
    console.log(`cascade in Chromium: every page decodes every peer it may ${Date.now() - started} ms after all three connected`);
    for (const who of [DE, US, JP]) {
      for (const peer of SEES[who.name] ?? []) expect(decoded[who.name]?.[peer] ?? 0, `${who.name} decodes ${peer}`).toBeGreaterThanOrEqual(FRAMES);
      // Nothing decoded that is not one of the peers it may see.
      expect(await decodedOutside(page(who.name), SEES[who.name] ?? [])).toEqual([]);
      await checkE2eeVariant(page(who.name), true);
    }
    // One group across the three bridges: one epoch, one code, three members on every page.
    groupBefore = await oneGroup([DE, US, JP]);
    // What Dora's bridge forwards is SFrame ciphertext under that epoch's keys, and it crosses the hop to Tokyo as it is.
    for (const frame of await tapVideoFrames(cluster, DE.datacenter, meeting, DE.name, 10)) {
      expect(parseKid(decodeHeader(frame.subarray(vp8ClearBytes(frame))).kid).epochBits).toBe(BigInt(groupBefore.epoch) & 0xfn);
    }
    // Uma's page never even hears of Dora (the sampler checks all along); it lists Jun and herself once Jun is there
    // (a page whose media path failed on a loaded machine leaves and comes back).
    const listed = async (): Promise<string[]> => ((await pageState(page(US.name))).participants ?? []).map((p) => p.name).sort();
    await until(async () => JSON.stringify(await listed()) === JSON.stringify([JP.name, US.name]), MEDIA_MS, "Uma's page to list Jun and Uma").catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}: it lists ${JSON.stringify(await listed())}`, { cause: e });
    });
    expect(violations).toEqual([]);
  }, 210_000);

  it('keeps Dora\u2019s streams on eu-central and ap-tokyo only, never on us-east', async () => {
    const ids = doraIds();
    expect(ids.size).toBe(1);
    // Never on us-east: the sampler looks every 20 ms. Where they are now: eu-central and Tokyo, once a hop that
    // failed on a loaded machine is open again.
    await until(() => Promise.resolve(laidOut(doraOnBridges(ids), DE.datacenter)), MEDIA_MS, "Dora's streams on eu-central and ap-tokyo", () => `they are on ${JSON.stringify(doraOnBridges(ids))}`);
    const where = doraOnBridges(ids);
    const dcs = new Set(where.map((w) => w.split(':')[0]));
    expect([...dcs].sort()).toEqual([JP.datacenter, DE.datacenter].sort());
    expect(where).toContain(`${DE.datacenter}:local`);
    expect(where).toContain(`${JP.datacenter}:remote`);
    // eu-central sends her streams to one relay only: Tokyo's.
    expect(where.filter((w) => w.startsWith(`${DE.datacenter}:out:relay:`))).toEqual([`${DE.datacenter}:out:relay:${JP.datacenter}`]);
    expect(violations).toEqual([]);
  });

  it('draws the meeting\u2019s relays between its bridges on the operator console\u2019s map, one curve per pair of bridges', async () => {
    const pairOf = (h: { from: string; to: string }): string => [h.from, h.to].sort().join(' ↔ ');
    /** The broker's hops, as the map should title them: "a ↔ b" → "N streams in 1 meeting". */
    const planned = (): Map<string, string> => {
      const streams = new Map<string, number>();
      for (const h of hopsOf(cluster.broker.context, meeting)) streams.set(pairOf(h), (streams.get(pairOf(h)) ?? 0) + h.streams.length);
      return new Map([...streams].map(([pair, n]) => [pair, `${n} stream${n === 1 ? '' : 's'} in 1 meeting`]));
    };
    expect(planned().size).toBeGreaterThan(0);
    const consolePage = await context.newPage();
    try {
      await consolePage.goto(new URL('/console', cluster.broker.url).href);
      await consolePage.fill('#token', cluster.adminToken);
      await consolePage.click('#login-form button[type=submit]');
      // Each title reads "a ↔ b: N streams in M meetings".
      const sorted = (entries: Iterable<[string, string]>): [string, string][] => [...entries].sort(([a], [b]) => a.localeCompare(b));
      // One entry per curve, so that two curves for one pair would show.
      const drawn = async (): Promise<[string, string][]> =>
        sorted(
          (await consolePage.$$eval('#world path.relay title', (titles) => titles.map((t) => t.textContent))).map((t): [string, string] => {
            const [pair = '', rest = ''] = t.split(': ');
            return [pair.split(' ↔ ').sort().join(' ↔ '), rest];
          }),
        );
      // The map follows the broker's events: it draws the hops once the overview has them (and again if a
      // page reconnected on a loaded machine and the broker planned the hops anew meanwhile).
      let seen: { drawn: [string, string][]; planned: [string, string][] } = { drawn: [], planned: [] };
      await until(
        async () => {
          seen = { drawn: await drawn(), planned: sorted(planned()) };
          return JSON.stringify(seen.drawn) === JSON.stringify(seen.planned);
        },
        MEDIA_MS,
        'the map to draw the broker\u2019s hops',
        () => JSON.stringify(seen),
      );
      expect(seen.drawn).toEqual(seen.planned);
      if (SHOTS) await consolePage.screenshot({ path: join(SHOTS, 'console-relays.png') });
    } finally {
      await consolePage.close();
    }
  }, 90_000);

  it('moves Dora to eu-south when eu-central dies, Jun decodes her video again, and the group and its code go on', async () => {
    const dora = page(DE.name);
    const jun = page(JP.name);
    const killed = Date.now();
    await cluster.bridges.get(DE.datacenter)?.close();
    cluster.bridges.delete(DE.datacenter);
    await until(async () => (await pageState(dora)).connected?.datacenter === SPARE && (await pageState(dora)).phase === 'connected', FAILOVER_LIMIT_MS + 10_000, `Dora to reconnect on ${SPARE}`);
    const movedMs = Date.now() - killed;
    // Every frame of hers Jun decodes from now on came through eu-south: eu-central is gone, and her page has been on eu-south since.
    let last = (await decodedByName(jun))[DE.name] ?? 0;
    let fresh = 0;
    await until(
      async () => {
        const now = (await decodedByName(jun))[DE.name] ?? 0;
        // A new stream starts counting from zero.
        fresh += now >= last ? now - last : now;
        last = now;
        return fresh >= FRAMES;
      },
      FAILOVER_LIMIT_MS + 10_000,
      'Jun to decode Dora again',
      () => mediaStates([JP.name]),
    );
    const backMs = Date.now() - killed;
    console.log(JSON.stringify({ cascadeFailoverChromium: { killed: DE.datacenter, movedTo: SPARE, reconnectedMs: movedMs, decodedAgainMs: backMs } }));
    expect(backMs).toBeLessThan(FAILOVER_LIMIT_MS);
    // Dora sees the others again on eu-south, and the fences still hold.
    await until(() => decodesAll(DE.name), MEDIA_MS, 'Dora to decode Uma and Jun on eu-south', () => mediaStates([DE.name]));
    await until(() => Promise.resolve(laidOut(doraOnBridges(), SPARE)), MEDIA_MS, `Dora's streams on ${SPARE} and ap-tokyo`, () => `they are on ${JSON.stringify(doraOnBridges())}`);
    const where = doraOnBridges();
    expect([...new Set(where.map((w) => w.split(':')[0]))].sort()).toEqual([JP.datacenter, SPARE].sort());
    expect(where.filter((w) => w.startsWith(`${SPARE}:out:relay:`))).toEqual([`${SPARE}:out:relay:${JP.datacenter}`]);
    expect(await decodedOutside(page(US.name), [JP.name])).toEqual([]);
    expect(violations).toEqual([]);
    // Dora carried the group to eu-south and went on in it: the code the three compared still holds.
    expect(await oneGroup([DE, US, JP])).toEqual(groupBefore);
    await Promise.all([...pages.values()].map((p) => p.close()));
    pages.clear();
  }, 210_000);
});
