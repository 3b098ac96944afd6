/**
 * Failover as participants live it, in Chromium: meeting pages in one
 * browser on a broker with bridge processes (src/bridge/processes.fixture.ts),
 * the meeting's bridge SIGKILLed, and the time until every page decodes
 * every other participant's video again through the next bridge. Shared by
 * test/browser/failover.test.ts and `npm run bench -- failover-chromium`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { BrowserContext, Page } from 'playwright-core';
import type { ProcessCluster } from '../../src/bridge/processes.fixture.js';
import { openInvite, pageState } from './chromium.fixture.js';

/** A round that has not recovered by then fails. */
export const ROUND_LIMIT_MS = 30_000;

/** Opens the invite in a tab per name (as if from the US), joins, and waits until every page decodes every other one's video. */
export async function joinPages(context: BrowserContext, cluster: ProcessCluster, meeting: string, names: readonly string[], query = ''): Promise<Page[]> {
  const link = await cluster.invite(meeting);
  const pages: Page[] = [];
  for (const name of names) {
    const { page } = await openInvite(context, cluster.broker.url, link, name, 'US', query);
    await page.click('#join');
    pages.push(page);
  }
  const ready = await Promise.all(pages.map((p) => decodingAll(p, names.length - 1, undefined, ROUND_LIMIT_MS)));
  if (ready.some((t) => t < 0)) throw new Error(`the pages did not decode each other within ${ROUND_LIMIT_MS} ms: ${JSON.stringify(await Promise.all(pages.map(timeline)))}`);
  return pages;
}

/** What a page shows and the SDK events it logged, for a failure message. */
async function timeline(page: Page): Promise<unknown> {
  const state = await pageState(page);
  const events = await page.evaluate(() => window.geobridge.events.filter((e) => e.type !== 'participant-updated' && e.type !== 'roster'));
  return { phase: state.phase, on: state.connected?.datacenter, e2ee: state.e2ee, events };
}

/** One kill: where from, where to, and ms from the kill until each page (and the last of them) decodes everyone again. */
export interface Round {
  readonly from: string;
  readonly to: string;
  readonly ms: number;
  readonly perPageMs: readonly number[];
  /** Where the time went, for the slowest page: ms from the kill until it saw the drop, was admitted on the next bridge, had a group of everyone, and decoded everyone. */
  readonly phases: Phases;
}

export interface Phases {
  readonly dropMs: number;
  readonly admittedMs: number;
  readonly groupMs: number;
  readonly decodedMs: number;
}

/** SIGKILLs the bridge the pages are on and times until every page decodes every other page's video through another bridge. */
export async function killAndTime(cluster: ProcessCluster, pages: readonly Page[]): Promise<Round> {
  const states = await Promise.all(pages.map(pageState));
  const from = states[0]?.connected?.datacenter ?? '';
  if (!states.every((s) => s.connected?.datacenter === from)) throw new Error(`the pages are on different bridges: ${states.map((s) => s.connected?.datacenter ?? '-').join(', ')}`);
  // Each page watches itself (50 ms steps, in the page), so that timing does not wait on this process.
  const watches = pages.map((p) => decodingAll(p, pages.length - 1, from, ROUND_LIMIT_MS));
  const killedAt = Date.now();
  cluster.kill(from);
  const at = await Promise.all(watches);
  const after = await Promise.all(pages.map(pageState));
  if (at.some((t) => t < 0)) throw new Error(`no decoded video on every page ${ROUND_LIMIT_MS} ms after killing ${from}: ${JSON.stringify(await Promise.all(pages.map(timeline)))}`);
  const perPageMs = at.map((t) => t - killedAt);
  const slowest = perPageMs.indexOf(Math.max(...perPageMs));
  const page = pages[slowest] ?? pages[0];
  const phases = page ? await phasesOf(page, killedAt, pages.length, perPageMs[slowest] ?? 0) : { dropMs: 0, admittedMs: 0, groupMs: 0, decodedMs: 0 };
  return { from, to: after[0]?.connected?.datacenter ?? '', ms: Math.max(...perPageMs), perPageMs, phases };
}

/** The page's own event times after the kill (its clock is `performance.timeOrigin + at`). */
async function phasesOf(page: Page, killedAt: number, participants: number, decodedMs: number): Promise<Phases> {
  const events = await page.evaluate(() => window.geobridge.events.map((e) => ({ ...e, at: performance.timeOrigin + Number(e.at) })));
  const after = events.filter((e) => e.at >= killedAt);
  const first = (match: (e: Record<string, unknown>) => boolean): number => {
    const e = after.find(match);
    return e ? Math.round(e.at - killedAt) : -1;
  };
  return {
    dropMs: first((e) => e.type === 'reconnecting'),
    admittedMs: first((e) => e.type === 'connected'),
    groupMs: first((e) => e.type === 'roster' && e.members === participants && e.joining === 0),
    decodedMs,
  };
}

/**
 * Resolves with the wall-clock time at which `page`, connected to a bridge
 * other than `notOn`, decodes video from `others` participants on its current
 * connection (frames that fail to decrypt never reach the decoder), or -1
 * after `limitMs`.
 */
function decodingAll(page: Page, others: number, notOn: string | undefined, limitMs: number): Promise<number> {
  return page.evaluate(
    async ({ others, notOn, limitMs }) => {
      const deadline = Date.now() + limitMs;
      while (Date.now() < deadline) {
        const { state } = window.geobridge;
        if (state.phase === 'connected' && state.connected !== undefined && state.connected.datacenter !== notOn) {
          const stats = await window.geobridge.stats();
          if (stats.filter((s) => s.kind === 'video' && s.framesDecoded > 0).length >= others) return Date.now();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return -1;
    },
    { others, notOn, limitMs },
  );
}

/** A child process that keeps one core busy until stopped: "the machine loaded". */
export function burnCpu(): { stop: () => void } {
  const child: ChildProcess = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  return {
    stop: () => {
      child.kill('SIGKILL');
    },
  };
}
