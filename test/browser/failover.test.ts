/**
 * Failover with end-to-end encryption in Chromium: three participants on
 * meeting pages, the meeting's bridge process SIGKILLed five times in a row
 * (each time the one the meeting moved to, the killed one restarted), and
 * every time all three must decode each other's video again through the next
 * bridge, in the MLS group they had: the same epoch and security code, so
 * nobody has to compare codes again after a failover. Then five more kills with the
 * machine loaded (a child process burning a core). The figures are printed;
 * `npm run bench -- failover-chromium` measures them over more kills.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcessCluster, type ProcessCluster } from '../../src/bridge/processes.fixture.js';
import { launchChromium, pageState, until } from './chromium.fixture.js';
import { burnCpu, joinPages, killAndTime, type Round } from './failover.fixture.js';

const DATACENTERS = ['us-east', 'us-west', 'ca-central'];
const KILLS = 5;

let cluster: ProcessCluster;
let context: BrowserContext;
let closeChromium: () => Promise<void>;

beforeAll(async () => {
  let chromium;
  [cluster, chromium] = await Promise.all([startProcessCluster(DATACENTERS), launchChromium()]);
  ({ context, close: closeChromium } = chromium);
}, 90_000);

afterAll(async () => {
  await closeChromium();
  await cluster.close();
});

/** Kills the meeting's bridge `KILLS` times; each time checks that all three pages go on in their group and decode each other. */
async function fiveKills(pages: readonly Page[], label: string): Promise<Round[]> {
  const rounds: Round[] = [];
  for (let i = 1; i <= KILLS; i++) {
    const codeOf = (s: Awaited<ReturnType<typeof pageState>>): string | undefined => (s.e2ee && 'securityCode' in s.e2ee ? s.e2ee.securityCode : undefined);
    // The pages agree on one code before the kill: a commit still on its way (a late joiner, the last restart) settles first.
    const codes = async (): Promise<(string | undefined)[]> => (await Promise.all(pages.map(pageState))).map(codeOf);
    await until(async () => new Set(await codes()).size === 1 && (await codes())[0] !== undefined, 30_000, 'the three pages to agree on one security code');
    const before = await codes();
    const round = await killAndTime(cluster, pages);
    rounds.push(round);
    console.log(`failover ${label} ${i}/${KILLS}: ${round.from} → ${round.to}, every page decoding everyone after ${round.ms} ms (${round.perPageMs.join(', ')}); slowest page: ${JSON.stringify(round.phases)}`);
    expect(round.to).not.toBe(round.from);
    const states = await Promise.all(pages.map(pageState));
    // The group went on: all three in it, with the code they had before the kill.
    expect(states.map((s) => (s.e2ee && 'members' in s.e2ee ? s.e2ee.members : 0))).toEqual([3, 3, 3]);
    expect(new Set(before).size).toBe(1);
    expect(states.map(codeOf)).toEqual(before);
    await cluster.restart(round.from);
  }
  return rounds;
}

describe('failover in Chromium with E2EE', () => {
  it('five SIGKILLs of the meeting bridge, idle and then loaded: every time all three decode each other again', async () => {
    const meeting = await cluster.meeting('Failover');
    const pages = await joinPages(context, cluster, meeting, ['Ada', 'Bo', 'Cy']);
    const idle = await fiveKills(pages, 'idle');
    const burner = burnCpu();
    let loaded: Round[];
    try {
      loaded = await fiveKills(pages, 'loaded');
    } finally {
      burner.stop();
    }
    const summary = (rounds: Round[]): string => rounds.map((r) => r.ms).sort((a, b) => a - b).join(', ');
    console.log(`failover idle ms: ${summary(idle)}; loaded ms: ${summary(loaded)}`);
    await Promise.all(pages.map((p) => p.close()));
  }, 600_000);
});
