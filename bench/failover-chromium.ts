/**
 * `npm run bench -- failover-chromium`: time from SIGKILL of a meeting's
 * bridge process to every participant decoding every other participant's
 * video again, in Chromium with end-to-end encryption — a new MLS group on
 * the next bridge, new SFrame keys, a key frame under them. Goal: p95 ≤
 * 1.5 s on loopback.
 *
 * A broker in this process and bridge processes for us-east, us-west and
 * ca-central (src/bridge/processes.fixture.ts); three meeting pages in one
 * headless Chromium join as if from the US with Chromium's fake camera.
 * Each round kills the meeting's bridge, times until each page decodes
 * video from the two others through another bridge (the page watches its
 * own inbound RTP statistics every 50 ms), and restarts the killed bridge.
 * The same rounds run idle, then loaded: a child process burning one core
 * for the duration. `--quick`: 3 kills each instead of 10.
 */
import type { BrowserContext } from 'playwright-core';
import { startProcessCluster } from '../src/bridge/processes.fixture.js';
import { launchChromium } from '../test/browser/chromium.fixture.js';
import { burnCpu, joinPages, killAndTime } from '../test/browser/failover.fixture.js';
import { quantile } from './media-support.js';
import type { BenchOptions } from './run.js';

const DATACENTERS = ['us-east', 'us-west', 'ca-central'];
const GOAL_P95_MS = 1500;

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const kills = opts.quick ? 3 : 10;
  const [cluster, chromium] = await Promise.all([startProcessCluster(DATACENTERS), launchChromium()]);
  try {
    const context: BrowserContext = chromium.context;
    const meeting = await cluster.meeting('Failover benchmark');
    const pages = await joinPages(context, cluster, meeting, ['Ada', 'Bo', 'Cy']);
    opts.log(`three pages decoding each other on ${DATACENTERS.join(', ')}; ${kills} kills idle, then ${kills} loaded`);
    const rounds = async (label: string): Promise<number[]> => {
      const samples: number[] = [];
      for (let i = 1; i <= kills; i++) {
        const round = await killAndTime(cluster, pages);
        samples.push(round.ms);
        opts.log(`${label} kill ${i}/${kills}: ${round.from} → ${round.to}, every page decoding everyone after ${round.ms} ms (${round.perPageMs.join(', ')}); slowest page: ${JSON.stringify(round.phases)}`);
        await cluster.restart(round.from);
        // The restarted bridge heartbeats, and the call settles, before the next kill.
        await new Promise((r) => setTimeout(r, 2000));
      }
      return samples;
    };
    const idle = await rounds('idle');
    const burner = burnCpu();
    let loaded: number[];
    try {
      loaded = await rounds('loaded');
    } finally {
      burner.stop();
    }
    const figures = (samples: number[]): Record<string, number> => ({ medianMs: opts.median(samples), p95Ms: quantile(samples, 0.95), maxMs: Math.max(...samples) });
    const idleFigures = figures(idle);
    return {
      idle: idleFigures,
      loaded: figures(loaded),
      n: kills,
      participants: pages.length,
      e2ee: true,
      goalP95Ms: GOAL_P95_MS,
      goalMet: (idleFigures.p95Ms ?? Infinity) <= GOAL_P95_MS,
      idleSamplesMs: idle,
      loadedSamplesMs: loaded,
    };
  } finally {
    await chromium.close();
    await cluster.close();
  }
}
