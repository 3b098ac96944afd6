/**
 * `npm run bench -- failover`: time from SIGKILL of a meeting's bridge
 * process to media flowing again for both participants. Goal: p95 ≤ 3000 ms.
 *
 * An in-process broker (dev mode, examples/world.yaml, heartbeat timeout
 * 1.5 s, as `geobridge up` and src/bridge/cluster.fixture.ts run it) and
 * three `geobridge bridge` child processes for the North American
 * datacenters a US participant may use (us-east, us-west, ca-central),
 * heart-beating every 400 ms, media on 127.0.0.1. Two Node participants
 * (src/sdk/node.ts) route as if from the US and both publish synthetic
 * video. Each round kills the meeting's bridge (SIGKILL) and times until
 * each participant receives its first packet on a track of the new bridge;
 * the round's figure is the later of the two. Then the killed bridge is
 * restarted so the next round has somewhere to go.
 */
import type { MediaStreamTrack } from 'werift';
import { startProcessCluster, type ProcessCluster } from '../src/bridge/processes.fixture.js';
import { nodeSession, type SessionEvent } from '../src/sdk/node.js';
import type { Session } from '../src/sdk/session.js';
import { pollUntil, quantile, syntheticVideo, type VideoSource } from './media-support.js';
import type { BenchOptions } from './harness.js';

const DATACENTERS = ['us-east', 'us-west', 'ca-central'] as const;
const HEARTBEAT_TIMEOUT_MS = 1500;
const GOAL_P95_MS = 3000;
/** A round that has not recovered by then fails the run. */
const ROUND_LIMIT_MS = 20_000;
const VIDEO = { fps: 30, packetsPerFrame: 4, payloadBytes: 1000 } as const;

interface Caller {
  readonly session: Session<MediaStreamTrack>;
  readonly video: VideoSource;
  /** Time of the first packet on each received track, in arrival order. */
  readonly firstPackets: number[];
  connectedTo?: string;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const kills = opts.quick ? 3 : 8;
  const cluster = await startProcessCluster(DATACENTERS, { heartbeatMs: 400, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
  const callers: Caller[] = [];
  try {
    opts.log(`broker at ${cluster.broker.url}; bridges ${[...cluster.bridges].map(([dc, c]) => `${dc} (pid ${c.pid ?? '?'})`).join(', ')}`);
    const meeting = await cluster.meeting('Failover benchmark');
    for (let i = 0; i < 2; i++) callers.push(joinCall(cluster.broker.url, await cluster.joinToken(meeting, `caller ${i + 1}`), 1000 + i));
    const flowing = await pollUntil(() => callers.every((c) => c.firstPackets.length > 0), ROUND_LIMIT_MS);
    if (!flowing) throw new Error('media never flowed between the two participants');
    const samples: number[] = [];
    for (let round = 1; round <= kills; round++) {
      const { ms, from, to } = await killAndTime(cluster, callers);
      samples.push(ms);
      opts.log(`kill ${round}/${kills}: ${from} → ${to}, media on both after ${ms.toFixed(0)} ms`);
      await cluster.restart(from);
      // Let the restarted bridge heartbeat and the call settle before the next kill.
      await new Promise((r) => setTimeout(r, 2000));
    }
    const p95Ms = quantile(samples, 0.95);
    return { medianMs: opts.median(samples), p95Ms, maxMs: Math.max(...samples), n: samples.length, goalP95Ms: GOAL_P95_MS, goalMet: p95Ms <= GOAL_P95_MS, heartbeatMs: 400, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, samplesMs: samples };
  } finally {
    for (const c of callers) {
      c.session.leave();
      c.video.stop();
    }
    await cluster.close();
  }
}

/** SIGKILLs the meeting's bridge; resolves once both callers receive media on a track of another bridge. */
async function killAndTime(cluster: ProcessCluster, callers: readonly Caller[]): Promise<{ ms: number; from: string; to: string }> {
  const from = callers[0]?.connectedTo ?? '';
  if (!callers.every((c) => c.connectedTo === from)) throw new Error(`the callers are on different bridges: ${callers.map((c) => c.connectedTo ?? '-').join(', ')}`);
  const killedAt = performance.now();
  cluster.kill(from);
  const recoveredAt = (c: Caller): number | undefined => c.firstPackets.find((t) => t > killedAt);
  const back = await pollUntil(() => callers.every((c) => recoveredAt(c) !== undefined && c.connectedTo !== from), ROUND_LIMIT_MS);
  if (!back) throw new Error(`no media ${ROUND_LIMIT_MS} ms after killing ${from}; callers on ${callers.map((c) => c.connectedTo ?? '-').join(', ')}`);
  const ms = Math.max(...callers.map((c) => (recoveredAt(c) ?? Number.NaN) - killedAt));
  return { ms, from, to: callers[0]?.connectedTo ?? '' };
}

/** Joins as if from the US, publishing synthetic video, and notes the first packet of every track received. */
function joinCall(broker: string, joinToken: string, ssrc: number): Caller {
  const video = syntheticVideo({ ...VIDEO, ssrc });
  const firstPackets: number[] = [];
  const caller: Caller = { video, firstPackets, session: undefined as unknown as Session<MediaStreamTrack> };
  const onEvent = (e: SessionEvent<MediaStreamTrack>): void => {
    if (e.type === 'connected') caller.connectedTo = e.datacenter;
    if (e.type !== 'track-added') return;
    const first = e.track.onReceiveRtp.subscribe(() => {
      first.unSubscribe();
      firstPackets.push(performance.now());
    });
  };
  const session = nodeSession({ broker, joinToken, country: 'US', tracks: { video: video.track }, onEvent });
  Object.assign(caller, { session });
  session.join();
  return caller;
}
