/**
 * `npm run bench -- failover-chromium`: time from SIGKILL of a meeting's
 * bridge process to every participant decoding every other participant's
 * video again, in Chromium with end-to-end encryption — the MLS group carried to
 * the next bridge, its keys in a new SFrame worker, a key frame. Goal: p95 ≤
 * 1.5 s on loopback.
 *
 * A broker in this process and bridge processes for us-east, us-west and
 * ca-central (src/bridge/processes.fixture.ts); three meeting pages in one
 * headless Chromium join as if from the US with Chromium's fake camera.
 * Each round kills the meeting's bridge, times until each page decodes
 * video from the two others through another bridge (the page watches its
 * own inbound RTP statistics every 50 ms), and restarts the killed bridge.
 *
 * Baseline: the same rounds with the pages' dev-only `?e2ee=off` switch
 * (src/web/e2ee-switch.ts), in a meeting of their own, so `e2eeRatio` is
 * what end-to-end encryption adds to recovery. Each variant runs idle, then
 * loaded (a child process burning one core for the duration), and all of
 * that twice: with the fake camera at its default 30 frames/s, where three
 * pages encoding and decoding 720p in software keep both cores busy, and at
 * 10 frames/s, which leaves the machine CPU for the failover itself.
 * `--quick`: 3 kills per block instead of 10.
 */
import type { Page } from 'playwright-core';
import { startProcessCluster, type ProcessCluster } from '../src/bridge/processes.fixture.js';
import { checkE2eeVariant, launchChromium } from '../test/browser/chromium.fixture.js';
import { burnCpu, joinPages, killAndTime, type Phases } from '../test/browser/failover.fixture.js';
import { quantile } from './media-support.js';
import type { BenchOptions } from './harness.js';

const DATACENTERS = ['us-east', 'us-west', 'ca-central'];
const GOAL_P95_MS = 1500;
/** Fake camera frame rates: Chromium's default, and one that leaves CPU to spare on two cores. */
const CAMERAS = [30, 10] as const;
const VARIANTS = [
  { name: 'e2ee', query: '' },
  { name: 'plain', query: '?e2ee=off' },
] as const;

type Samples = { ms: number[]; phases: Phases[] };

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const kills = opts.quick ? 3 : 10;
  const cluster = await startProcessCluster(DATACENTERS);
  const out: Record<string, unknown> = {};
  try {
    for (const fps of CAMERAS) {
      const chromium = await launchChromium({ args: [`--use-fake-device-for-media-stream=fps=${String(fps)}`] });
      try {
        const blocks: Record<string, Samples> = {};
        for (const load of ['idle', 'loaded'] as const) {
          const burner = load === 'loaded' ? burnCpu() : undefined;
          try {
            for (const variant of VARIANTS) {
              const label = `${String(fps)} fps, ${variant.name}, ${load}`;
              const meeting = await cluster.meeting(`Failover benchmark (${label})`);
              const pages = await joinPages(chromium.context, cluster, meeting, ['Ada', 'Bo', 'Cy'], variant.query);
              for (const page of pages) await checkE2eeVariant(page, variant.name === 'e2ee');
              blocks[`${variant.name}.${load}`] = await rounds(opts, cluster, pages, kills, label);
              await Promise.all(pages.map((p) => p.close()));
            }
          } finally {
            burner?.stop();
          }
        }
        out[`camera${String(fps)}fps`] = summarize(opts, blocks);
      } finally {
        await chromium.close();
      }
    }
  } finally {
    await cluster.close();
  }
  const headline = (out.camera30fps as { e2ee: { idle: { p95Ms: number } } }).e2ee.idle.p95Ms;
  return { goalP95Ms: GOAL_P95_MS, goalMet: headline <= GOAL_P95_MS, ...out, n: kills, participants: 3 };
}

/** `kills` rounds on `pages`: kill the meeting's bridge, time the recovery, restart the bridge, let the call settle. */
async function rounds(opts: BenchOptions, cluster: ProcessCluster, pages: readonly Page[], kills: number, label: string): Promise<Samples> {
  const samples: Samples = { ms: [], phases: [] };
  for (let i = 1; i <= kills; i++) {
    const round = await killAndTime(cluster, pages);
    samples.ms.push(round.ms);
    samples.phases.push(round.phases);
    opts.log(`${label} kill ${i}/${kills}: ${round.from} → ${round.to}, every page decoding everyone after ${round.ms} ms (${round.perPageMs.join(', ')}); slowest page: ${JSON.stringify(round.phases)}`);
    await cluster.restart(round.from);
    // The restarted bridge heartbeats, and the call settles, before the next kill.
    await new Promise((r) => setTimeout(r, 2000));
  }
  return samples;
}

/** Median, p95 and max per block, the median of each phase, and E2EE's ratio to the plain baseline. */
function summarize(opts: BenchOptions, blocks: Record<string, Samples>): Record<string, unknown> {
  const figures = (s: Samples | undefined): Record<string, unknown> => {
    if (!s) return {};
    const phase = (k: keyof Phases): number => opts.median(s.phases.map((p) => p[k]));
    return {
      medianMs: opts.median(s.ms),
      p95Ms: quantile(s.ms, 0.95),
      maxMs: Math.max(...s.ms),
      // The slowest page of each round: when it saw the drop, was admitted again, had everyone in its group.
      phasesMedianMs: { drop: phase('dropMs'), admitted: phase('admittedMs'), group: phase('groupMs'), decoded: phase('decodedMs') },
      samplesMs: s.ms,
    };
  };
  const ratio = (load: string): number => opts.median(blocks[`e2ee.${load}`]?.ms ?? []) / opts.median(blocks[`plain.${load}`]?.ms ?? []);
  return {
    e2ee: { idle: figures(blocks['e2ee.idle']), loaded: figures(blocks['e2ee.loaded']) },
    plain: { idle: figures(blocks['plain.idle']), loaded: figures(blocks['plain.loaded']) },
    e2eeRatioIdle: ratio('idle'),
    e2eeRatioLoaded: ratio('loaded'),
  };
}
