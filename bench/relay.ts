/**
 * `npm run bench -- relay`: what one cascade hop (docs/cascading.md, "Bridges
 * relay") costs, against a bridge forwarding the same stream to a local
 * subscriber, in the same run (issue 16). Loopback only.
 *
 * - CPU: a broker with `cascade: true` in this process, eu-central and
 *   ap-tokyo as whole bridges in child processes (bench/bridge-child.ts, so
 *   each one's `process.cpuUsage()` is its own), one publisher from DE on
 *   eu-central sending synthetic VP8-typed video (30 frames/s × 13 packets
 *   of 1,000 bytes, as bridge-cpu). Each round: both bridges idle (the
 *   publisher paused), eu-central receiving with nobody to forward to, then
 *   phase "direct": one subscriber from DE, on eu-central, and phase
 *   "relayed": one subscriber from JP, on ap-tokyo, fed over the hop
 *   eu-central → ap-tokyo the broker plans (EEA media may go to Japan under
 *   world.yaml). Each bridge's CPU less its idle rate, per packet it
 *   forwarded: the local forward (direct, eu-central) is the baseline; the
 *   hop adds relayed eu-central + relayed ap-tokyo − the local forward.
 *   One subscriber per stream on purpose: a relayed stream is received once
 *   more and sent once more, which is what a bridge does for a stream it
 *   forwards to one subscriber; with more subscribers the local figure per
 *   packet would shrink as the receive is shared, and the ratio would say
 *   more about fan-out than about the hop.
 * - Latency: the publisher stamps `performance.now()` into each payload
 *   (bytes 8–15; byte 0 keeps a VP8 descriptor that starts no key frame);
 *   each subscriber reads it on arrival, in this same process and clock.
 *   Per phase (interleaved), and once paired, before the rounds (it warms
 *   both bridges' forwarding up too): a subscriber on each bridge at once,
 *   the same packet's two arrivals subtracted.
 *
 * Phases alternate within each round (the first alternating between rounds);
 * every CPU figure is the median over rounds, the ratio the median of the
 * rounds' own ratios; latencies are pooled over rounds.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MediaStreamTrack, RtpHeader, RtpPacket } from 'werift';
import { startCluster, type Cluster } from '../src/bridge/cluster.fixture.js';
import { nodeSession, type SessionEvent } from '../src/sdk/node.js';
import type { Session } from '../src/sdk/session.js';
import { BRIDGE_CHILD_FLAG, type FromBridge, type RoomShape, type ToBridge } from './bridge-child.js';
import { pollUntil, quantile } from './media-support.js';
import type { BenchOptions } from './harness.js';

const VIDEO = { fps: 30, packetsPerFrame: 13, payloadBytes: 1000, ssrc: 7000 } as const;
/** The publisher's bridge and the one behind the hop, and where their participants come from. */
const SENDER = { datacenter: 'eu-central', country: 'DE' } as const;
const RECEIVER = { datacenter: 'ap-tokyo', country: 'JP' } as const;
const GOAL_RATIO = 1.2;
const BRIDGE = fileURLToPath(new URL('./bridge-child.ts', import.meta.url));
/** Where the send time sits in each payload. */
const STAMP_OFFSET = 8;
const MEDIA_LIMIT_MS = 30_000;

type Phase = 'direct' | 'relayed';

/** Both bridges over one window. */
interface Window {
  /** CPU ms of each bridge. */
  readonly senderCpuMs: number;
  readonly receiverCpuMs: number;
  /** Packets each bridge forwarded (to its subscriber, or to the relay). */
  readonly senderForwarded: number;
  readonly receiverForwarded: number;
  /** Packets the publisher sent. */
  readonly sent: number;
  readonly ms: number;
}

/** A phase's window, seen from its subscriber too. */
interface Sample extends Window {
  /** Packets the subscriber got. */
  readonly delivered: number;
  /** Publisher → subscriber ms of every packet. */
  readonly latencies: readonly number[];
}

/** One round: both bridges idle (the publisher paused), the sending bridge receiving with nobody to forward to, and the two phases. */
interface Round {
  readonly idle: Window;
  readonly receiving: Window;
  readonly direct: Sample;
  readonly relayed: Sample;
}

interface Timing {
  readonly warmupMs: number;
  readonly windowMs: number;
  /** The idle and receiving windows. */
  readonly shortMs: number;
}

/** A bridge child and its replies. */
interface BridgeProcess {
  readonly child: ChildProcess;
  ask<T extends FromBridge['type']>(m: ToBridge, reply: T): Promise<Extract<FromBridge, { type: T }>>;
  tell(m: ToBridge): void;
}

interface Bench {
  readonly cluster: Cluster;
  readonly meeting: string;
  readonly sender: BridgeProcess;
  readonly receiver: BridgeProcess;
  readonly video: StampedVideo;
  readonly timing: Timing;
  readonly log: (message: string) => void;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const rounds = opts.quick ? 1 : 3;
  const timing: Timing = { warmupMs: opts.quick ? 1000 : 2000, windowMs: opts.quick ? 2000 : 5000, shortMs: opts.quick ? 1000 : 2500 };
  const cluster = await startCluster([SENDER.datacenter, RECEIVER.datacenter], [], { cascade: true });
  const sender = spawnBridge();
  const receiver = spawnBridge();
  const video = stampedVideo();
  let publisher: Session<MediaStreamTrack> | undefined;
  try {
    await Promise.all(
      (
        [
          [sender, SENDER.datacenter],
          [receiver, RECEIVER.datacenter],
        ] as const
      ).map(([b, dc]) => b.ask({ type: 'start', datacenter: dc, broker: cluster.broker.url, privateJwk: cluster.identities.get(dc) ?? {} }, 'started')),
    );
    opts.log(`bridges ${SENDER.datacenter} and ${RECEIVER.datacenter} up in child processes`);
    const meeting = await cluster.meeting('Relay bench');
    publisher = await publish(cluster, meeting, video);
    const bench: Bench = { cluster, meeting, sender, receiver, video, timing, log: opts.log };
    // First, and so also the warm-up: each bridge's first seconds of forwarding (a fresh process's JIT) cost more, and would land in the first round.
    const paired = await measurePaired(bench);
    opts.log(`paired: ${paired.addedMs.length} packets at both, hop adds p50 ${quantile(paired.addedMs, 0.5).toFixed(2)} ms`);
    const done: Round[] = [];
    for (let r = 0; r < rounds; r++) {
      const label = `round ${r + 1}/${rounds}`;
      await settle(bench, 'idle');
      video.paused = true;
      await sleep(1000);
      const idle = await measureWindow(bench, timing.shortMs);
      video.paused = false;
      await sleep(1000);
      const receiving = await measureWindow(bench, timing.shortMs);
      opts.log(`${label}, idle: ${SENDER.datacenter} ${pct(idle.senderCpuMs, idle.ms)}, ${RECEIVER.datacenter} ${pct(idle.receiverCpuMs, idle.ms)} of a core; receiving only: ${SENDER.datacenter} ${pct(receiving.senderCpuMs, receiving.ms)} (${receiving.sent} packets sent)`);
      const phases: Partial<Record<Phase, Sample>> = {};
      const order: readonly Phase[] = r % 2 === 0 ? ['direct', 'relayed'] : ['relayed', 'direct'];
      for (const phase of order) {
        const s = await measurePhase(phase, bench);
        phases[phase] = s;
        opts.log(`${label}, ${phase}: ${SENDER.datacenter} ${pct(s.senderCpuMs, s.ms)} (${s.senderForwarded} forwarded), ${RECEIVER.datacenter} ${pct(s.receiverCpuMs, s.ms)} (${s.receiverForwarded} forwarded); ${s.delivered} of ${s.sent} delivered; latency p50 ${quantile(s.latencies, 0.5).toFixed(2)} ms`);
      }
      if (phases.direct === undefined || phases.relayed === undefined) throw new Error(`${label} lost a phase`);
      done.push({ idle, receiving, direct: phases.direct, relayed: phases.relayed });
    }
    return summarize(done, paired, opts, { rounds, ...timing });
  } finally {
    video.stop();
    publisher?.leave();
    await Promise.all([stopBridge(sender), stopBridge(receiver)]);
    await cluster.close();
  }
}

const pct = (cpuMs: number, ms: number): string => `${((cpuMs / ms) * 100).toFixed(1)} %`;

/**
 * Per round, each bridge's CPU net of its own idle rate (measured with the
 * publisher paused), per packet it forwarded: the sending bridge's to its
 * own subscriber (direct: the local forward, the baseline) or to the relay
 * (relayed), the receiving bridge's to its subscriber (relayed). What the
 * hop adds is the relayed phase's two bridges less the direct phase's one.
 */
function summarize(rounds: readonly Round[], paired: { addedMs: readonly number[]; lost: number }, opts: BenchOptions, run: { rounds: number } & Timing): Record<string, unknown> {
  const { median } = opts;
  const net = (cpuMs: number, idle: number, ms: number): number => cpuMs - idle * ms;
  const perRound = rounds.map(({ idle, receiving, direct, relayed }) => {
    const idleSender = idle.senderCpuMs / idle.ms;
    const idleReceiver = idle.receiverCpuMs / idle.ms;
    const localUs = usPer(net(direct.senderCpuMs, idleSender, direct.ms), direct.senderForwarded);
    const relayedSenderUs = usPer(net(relayed.senderCpuMs, idleSender, relayed.ms), relayed.senderForwarded);
    const relayedReceiverUs = usPer(net(relayed.receiverCpuMs, idleReceiver, relayed.ms), relayed.receiverForwarded);
    const receiveUs = usPer(net(receiving.senderCpuMs, idleSender, receiving.ms), receiving.sent);
    const relayAddedUs = relayedSenderUs + relayedReceiverUs - localUs;
    return { ratio: relayAddedUs / localUs, localUs, relayAddedUs, relayedSenderUs, relayedReceiverUs, receiveUs, idleSender, idleReceiver };
  });
  const med = (pick: (r: (typeof perRound)[number]) => number): number => median(perRound.map(pick));
  const perSec = (phase: Phase, pick: (s: Sample) => number): number => median(rounds.map((r) => (pick(r[phase]) * 1000) / r[phase].ms));
  const pooled = (phase: Phase): number[] => rounds.flatMap((r) => r[phase].latencies);
  const direct = pooled('direct');
  const relayed = pooled('relayed');
  const ratio = med((r) => r.ratio);
  return {
    relayToLocalCpuRatio: ratio,
    goalRatio: GOAL_RATIO,
    goalMet: ratio <= GOAL_RATIO,
    roundRatios: perRound.map((r) => r.ratio),
    cpu: {
      localUsPerPacket: med((r) => r.localUs),
      relayAddedUsPerPacket: med((r) => r.relayAddedUs),
      relayedSenderUsPerPacket: med((r) => r.relayedSenderUs),
      relayedReceiverUsPerPacket: med((r) => r.relayedReceiverUs),
      receiveOnlyUsPerPacket: med((r) => r.receiveUs),
      senderIdleShare: med((r) => r.idleSender),
      receiverIdleShare: med((r) => r.idleReceiver),
      directDeliveredPerSec: perSec('direct', (s) => s.delivered),
      relayedDeliveredPerSec: perSec('relayed', (s) => s.delivered),
    },
    latency: {
      directMedianMs: quantile(direct, 0.5),
      relayedMedianMs: quantile(relayed, 0.5),
      addedMedianMs: quantile(relayed, 0.5) - quantile(direct, 0.5),
      directP95Ms: quantile(direct, 0.95),
      relayedP95Ms: quantile(relayed, 0.95),
      roundAddedMedianMs: rounds.map((r) => quantile(r.relayed.latencies, 0.5) - quantile(r.direct.latencies, 0.5)),
      packets: { direct: direct.length, relayed: relayed.length },
      pairedAddedMedianMs: quantile(paired.addedMs, 0.5),
      pairedAddedP95Ms: quantile(paired.addedMs, 0.95),
      pairedPackets: paired.addedMs.length,
      pairedMissingBehindHop: paired.lost,
    },
    packetsPerSec: VIDEO.fps * VIDEO.packetsPerFrame,
    payloadBytes: VIDEO.payloadBytes,
    subscribersPerStream: 1,
    rounds: run.rounds,
    windowSeconds: run.windowMs / 1000,
    idleWindowSeconds: run.shortMs / 1000,
  };
}

const usPer = (cpuMs: number, packets: number): number => (packets > 0 ? (cpuMs * 1000) / packets : Number.NaN);

/** Both bridges' CPU and forwarded packets over `ms`, and what the publisher sent meanwhile. */
async function measureWindow(bench: Bench, ms: number, during?: { start: () => void; stop: () => void }): Promise<Window> {
  const { sender, receiver, video } = bench;
  sender.tell({ type: 'begin' });
  receiver.tell({ type: 'begin' });
  during?.start();
  const sent = video.sent();
  await sleep(ms);
  const [a, b] = await Promise.all([sender.ask({ type: 'end' }, 'cpu'), receiver.ask({ type: 'end' }, 'cpu')]);
  during?.stop();
  return { senderCpuMs: a.cpuMs, receiverCpuMs: b.cpuMs, senderForwarded: a.forwarded, receiverForwarded: b.forwarded, sent: video.sent() - sent, ms: Math.max(a.ms, b.ms) };
}

/** Waits until the previous phase's subscriber, and its hop, are gone: only the publisher is left. */
async function settle(bench: Bench, next: string): Promise<void> {
  const { sender, receiver, meeting } = bench;
  const settled = await pollAsync(async () => {
    const [a, b] = await Promise.all([roomOf(sender, meeting), roomOf(receiver, meeting)]);
    return a?.participants === 1 && a.relays === 0 && a.remotes === 0 && (b === undefined || (b.participants === 0 && b.relays === 0 && b.remotes === 0));
  }, MEDIA_LIMIT_MS);
  if (!settled) throw new Error(`${next}: the meeting did not settle back to its publisher alone`);
}

/** A subscriber of the meeting: the packets it got, and when each stamped one arrived while recording. */
interface Subscriber {
  received(): number;
  /** Send stamp → arrival (performance.now()), of the packets that arrived while `recording`. */
  readonly arrivals: Map<number, number>;
  recording: boolean;
  leave(): void;
}

/** Joins from `where.country`; resolves once media flows to it on `where.datacenter`. */
async function subscribe(bench: Bench, name: string, where: { readonly country: string; readonly datacenter: string }): Promise<Subscriber> {
  const { cluster, meeting } = bench;
  let received = 0;
  let datacenter: string | undefined;
  const failures: string[] = [];
  const session = nodeSession({
    broker: cluster.broker.url,
    joinToken: await cluster.joinToken(meeting, name),
    country: where.country,
    onEvent: (e: SessionEvent<MediaStreamTrack>) => {
      if (e.type === 'connected') datacenter = e.datacenter;
      if (e.type === 'refused' || e.type === 'failed' || e.type === 'bridge-refused') failures.push(`${e.type}: ${e.code}`);
      if (e.type !== 'track-added' || e.kind !== 'video') return;
      e.track.onReceiveRtp.subscribe((rtp) => {
        const now = performance.now();
        received++;
        if (sub.recording && rtp.payload.length >= STAMP_OFFSET + 8) sub.arrivals.set(rtp.payload.readDoubleLE(STAMP_OFFSET), now);
      });
    },
  });
  const sub: Subscriber = {
    received: () => received,
    arrivals: new Map(),
    recording: false,
    leave: () => {
      session.leave();
    },
  };
  session.join();
  try {
    if (!(await pollUntil(() => received > 30 || failures.length > 0, MEDIA_LIMIT_MS, 20)) || failures.length > 0) {
      throw new Error(`${name}: no media reached the subscriber (${failures.join(', ') || `received ${received}`})`);
    }
    if (datacenter !== where.datacenter) throw new Error(`${name}: the subscriber is on ${datacenter ?? '?'}, not ${where.datacenter}`);
  } catch (error) {
    session.leave();
    throw error;
  }
  return sub;
}

/** Publisher → subscriber ms of each recorded packet. */
const latenciesOf = (sub: Subscriber): number[] => [...sub.arrivals].map(([sent, at]) => at - sent);

/** One phase: a subscriber joins on the publisher's bridge (direct) or behind the hop (relayed), media flows, warm-up, one window, it leaves. */
async function measurePhase(phase: Phase, bench: Bench): Promise<Sample> {
  const { sender, receiver, meeting, timing } = bench;
  await settle(bench, phase);
  const sub = await subscribe(bench, `Sub ${phase}`, phase === 'direct' ? SENDER : RECEIVER);
  try {
    await sleep(timing.warmupMs);
    const [a, b] = await Promise.all([roomOf(sender, meeting), roomOf(receiver, meeting)]);
    const hop = (a?.relays ?? 0) > 0 || (b?.remotes ?? 0) > 0;
    if (hop !== (phase === 'relayed')) throw new Error(`${phase}: expected ${phase === 'relayed' ? 'a' : 'no'} hop ${SENDER.datacenter} → ${RECEIVER.datacenter}`);
    const shape = (r: RoomShape | undefined): string => (r ? `${r.participants} participants, ${r.relays} relays out, ${r.remotes} remote peers` : 'no room');
    bench.log(`${phase}: ${SENDER.datacenter} ${shape(a)}; ${RECEIVER.datacenter} ${shape(b)}`);
    let before = 0;
    const window = await measureWindow(bench, timing.windowMs, {
      start: () => {
        sub.recording = true;
        before = sub.received();
      },
      stop: () => {
        sub.recording = false;
      },
    });
    const delivered = sub.received() - before;
    if (delivered === 0 || (phase === 'direct' ? window.senderForwarded : window.receiverForwarded) === 0) throw new Error(`${phase}: nothing delivered in the window`);
    return { ...window, delivered, latencies: latenciesOf(sub) };
  } finally {
    sub.leave();
  }
}

/**
 * Both subscribers at once, one on each bridge (before the rounds, so it warms up both bridges' forwarding too): each packet's arrival behind
 * the hop less its arrival on the publisher's own bridge. A stall of this
 * process delays both arrivals of a packet alike, so the difference keeps
 * only the hop.
 */
async function measurePaired(bench: Bench): Promise<{ addedMs: number[]; lost: number }> {
  await settle(bench, 'paired');
  const near = await subscribe(bench, 'Sub near', SENDER);
  try {
    const far = await subscribe(bench, 'Sub far', RECEIVER);
    try {
      await sleep(2 * bench.timing.warmupMs);
      near.recording = far.recording = true;
      await sleep(bench.timing.windowMs);
      near.recording = far.recording = false;
      const addedMs: number[] = [];
      let lost = 0;
      for (const [sent, at] of near.arrivals) {
        const there = far.arrivals.get(sent);
        if (there === undefined) lost++;
        else addedMs.push(there - at);
      }
      return { addedMs, lost };
    } finally {
      far.leave();
    }
  } finally {
    near.leave();
  }
}

/** The publisher from the sending bridge's country. */
async function publish(cluster: Cluster, meeting: string, video: StampedVideo): Promise<Session<MediaStreamTrack>> {
  let datacenter: string | undefined;
  const session = nodeSession({
    broker: cluster.broker.url,
    joinToken: await cluster.joinToken(meeting, 'Publisher'),
    country: SENDER.country,
    tracks: { video: video.track },
    onEvent: (e) => {
      if (e.type === 'connected') datacenter = e.datacenter;
    },
  });
  session.join();
  if (!(await pollUntil(() => datacenter !== undefined, MEDIA_LIMIT_MS, 20)) || datacenter !== SENDER.datacenter) {
    session.leave();
    throw new Error(`the publisher is on ${datacenter ?? 'no bridge'}, not ${SENDER.datacenter}`);
  }
  return session;
}

/** bench/media-support.ts's synthetic video, with `performance.now()` at STAMP_OFFSET of each payload, and a pause. */
interface StampedVideo {
  readonly track: MediaStreamTrack;
  /** While true, frames are skipped (the idle window). */
  paused: boolean;
  sent(): number;
  stop(): void;
}

function stampedVideo(): StampedVideo {
  const track = new MediaStreamTrack({ kind: 'video' });
  let seq = 0;
  let frame = 0;
  let sent = 0;
  const video: StampedVideo = {
    track,
    paused: false,
    sent: () => sent,
    stop: () => {
      clearInterval(timer);
    },
  };
  const timer = setInterval(() => {
    frame++;
    if (video.paused) return;
    for (let i = 0; i < VIDEO.packetsPerFrame; i++) {
      seq = (seq + 1) & 0xffff;
      // 7: a VP8 payload descriptor without S, so no packet reads as a key frame (src/bridge/vp8.ts).
      const payload = Buffer.alloc(VIDEO.payloadBytes, 7);
      payload.writeDoubleLE(performance.now(), STAMP_OFFSET);
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: (frame * 90_000) / VIDEO.fps, ssrc: VIDEO.ssrc, marker: i === VIDEO.packetsPerFrame - 1 });
      track.writeRtp(new RtpPacket(header, payload));
      sent++;
    }
  }, 1000 / VIDEO.fps);
  return video;
}

/** The meeting's room on a bridge, if it has one. */
async function roomOf(bridge: BridgeProcess, meeting: string): Promise<RoomShape | undefined> {
  return (await bridge.ask({ type: 'state' }, 'state')).rooms[meeting];
}

function spawnBridge(): BridgeProcess {
  // The child inherits process.execArgv (`--import tsx`), so it can run the .ts file.
  const child = fork(BRIDGE, [BRIDGE_CHILD_FLAG], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const waiting: { type: FromBridge['type']; resolve: (m: FromBridge) => void; reject: (e: Error) => void }[] = [];
  child.on('message', (m: FromBridge) => {
    if (m.type === 'error') {
      for (const w of waiting.splice(0)) w.reject(new Error(m.message));
      return;
    }
    const at = waiting.findIndex((w) => w.type === m.type);
    if (at >= 0) waiting.splice(at, 1)[0]?.resolve(m);
  });
  child.on('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`a bridge child exited (${signal ?? `code ${String(code)}`})`));
  });
  const tell = (m: ToBridge): void => {
    if (child.connected) child.send(m);
  };
  return {
    child,
    tell,
    ask: <T extends FromBridge['type']>(m: ToBridge, reply: T) =>
      new Promise<Extract<FromBridge, { type: T }>>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(entry), 1);
          reject(new Error(`a bridge child did not answer ${m.type} within 60 s`));
        }, 60_000);
        const entry = {
          type: reply,
          resolve: (x: FromBridge) => {
            clearTimeout(timer);
            resolve(x as Extract<FromBridge, { type: T }>);
          },
          reject: (e: Error) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        waiting.push(entry);
        tell(m);
      }),
  };
}

/** Asks the child to close its bridge and exit; kills it after 5 s. */
async function stopBridge(b: BridgeProcess): Promise<void> {
  if (b.child.exitCode !== null || b.child.signalCode !== null) return;
  const exited = new Promise((r) => b.child.once('exit', r));
  b.tell({ type: 'stop' });
  const timer = setTimeout(() => b.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Resolves true once `condition()` resolves true, false after `ms`. */
async function pollAsync(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    setTimeout(r, ms);
  });
