/**
 * `npm run bench -- bridge-cpu`: the bridge's CPU per forwarded packet for
 * one publisher → 1, 4 and 8 subscribers, as a ratio to a bare werift
 * forwarder (bench/forwarder-child.ts) in the same run. Goal: ratio ≤ 1.1.
 *
 * The forwarder runs alone in a fresh child process per measurement, the
 * werift subscribers (src/sdk/node.ts peers) in another, and the parent
 * runs the publisher: synthetic VP8-typed video, 30 frames/s × 13 packets
 * of 1,000 bytes (390 packets/s, ~3.2 Mbit/s). Once every
 * subscriber receives, a warm-up, then the child's `process.cpuUsage()`
 * over a fixed window and the packets it forwarded in it (inbound ×
 * subscribers). Ours and bare alternate within each round (the first of
 * each round alternating too); each figure is the median over the rounds.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nodePlatform } from '../src/sdk/node.js';
import { FORWARDER_CHILD_FLAG, type ForwarderMode, type FromForwarder, type ToForwarder } from './forwarder-child.js';
import { syntheticVideo } from './media-support.js';
import { SUBSCRIBER_CHILD_FLAG, type FromSubscribers, type ToSubscribers } from './subscriber-child.js';
import type { BenchOptions } from './harness.js';

const FANOUTS = [1, 4, 8] as const;
const VIDEO = { fps: 30, packetsPerFrame: 13, payloadBytes: 1000, ssrc: 5000 } as const;
const GOAL_RATIO = 1.1;
const FORWARDER = fileURLToPath(new URL('./forwarder-child.ts', import.meta.url));
const SUBSCRIBERS = fileURLToPath(new URL('./subscriber-child.ts', import.meta.url));

interface Sample {
  /** CPU µs of the forwarder process per forwarded packet. */
  readonly usPerPacket: number;
  /** CPU share of one core over the window. */
  readonly cpuShare: number;
  /** Packets/s the forwarder received from the publisher in the window (the machine may fall short of the 390 sent). */
  readonly inboundPerSec: number;
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const rounds = opts.quick ? 1 : 3;
  const timing = { warmupMs: opts.quick ? 1000 : 2000, windowMs: opts.quick ? 2000 : 5000 };
  const out: Record<string, unknown> = {};
  let ratio = 0;
  for (const fanout of FANOUTS) {
    const samples: Record<ForwarderMode, Sample[]> = { ours: [], bare: [] };
    for (let r = 0; r < rounds; r++) {
      const order: readonly ForwarderMode[] = (r + fanout) % 2 === 0 ? ['ours', 'bare'] : ['bare', 'ours'];
      for (const mode of order) {
        const s = await measureOnce(mode, fanout, timing, opts.log);
        samples[mode].push(s);
        opts.log(`1 → ${fanout}, round ${r + 1}/${rounds}, ${mode}: ${s.usPerPacket.toFixed(1)} µs/packet, ${(s.cpuShare * 100).toFixed(0)} % of a core, ${s.inboundPerSec.toFixed(0)} packets/s in`);
      }
    }
    const med = (mode: ForwarderMode, key: keyof Sample): number => opts.median(samples[mode].map((s) => s[key]));
    const fanoutRatio = med('ours', 'usPerPacket') / med('bare', 'usPerPacket');
    ratio = Math.max(ratio, fanoutRatio);
    out[`fanout${fanout}`] = { ratio: fanoutRatio, oursUsPerPacket: med('ours', 'usPerPacket'), bareUsPerPacket: med('bare', 'usPerPacket'), oursCpuShare: med('ours', 'cpuShare'), bareCpuShare: med('bare', 'cpuShare'), oursInboundPerSec: med('ours', 'inboundPerSec'), bareInboundPerSec: med('bare', 'inboundPerSec') };
  }
  return { ratio, goalRatio: GOAL_RATIO, goalMet: ratio <= GOAL_RATIO, ...out, packetsPerSec: VIDEO.fps * VIDEO.packetsPerFrame, payloadBytes: VIDEO.payloadBytes, rounds, windowSeconds: timing.windowMs / 1000 };
}

/** One measurement, tried again once in fresh processes if the media never reached every subscriber (a loaded machine can time out a handshake). */
async function measureOnce(mode: ForwarderMode, fanout: number, timing: { warmupMs: number; windowMs: number }, log: (m: string) => void): Promise<Sample> {
  try {
    return await measureAttempt(mode, fanout, timing);
  } catch (error) {
    log(`${error instanceof Error ? error.message : String(error)}; trying again`);
    return measureAttempt(mode, fanout, timing);
  }
}

/** One forwarder in a fresh child process: connect everyone, warm up, measure one window, tear down. */
async function measureAttempt(mode: ForwarderMode, fanout: number, timing: { warmupMs: number; windowMs: number }): Promise<Sample> {
  // The children inherit process.execArgv (`--import tsx`), so they can run the .ts files.
  const forwarder = fork(FORWARDER, [FORWARDER_CHILD_FLAG], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const subscribers = fork(SUBSCRIBERS, [SUBSCRIBER_CHILD_FLAG], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const video = syntheticVideo(VIDEO);
  const publisher = nodePlatform({ video: video.track }).createPeer([]);
  let failure: string | undefined;
  let onCpu: ((m: FromForwarder) => void) | undefined;
  let onCount: ((received: readonly number[]) => void) | undefined;
  forwarder.on('message', (m: FromForwarder) => {
    if (m.type === 'error') failure = m.message;
    else if (m.type === 'cpu') onCpu?.(m);
    else if (m.peer !== 'pub') send(subscribers, m);
    else publisher.answer(m.sdp, m.streams).then((sdp) => { send(forwarder, { type: 'answer', peer: m.peer, sdp }); }, (e: unknown) => { failure = String(e); });
  });
  subscribers.on('message', (m: FromSubscribers) => {
    if (m.type === 'error') failure = m.message;
    else if (m.type === 'answer') send(forwarder, m);
    else onCount?.(m.received);
  });
  const count = (): Promise<readonly number[]> => new Promise((resolve) => { onCount = resolve; send(subscribers, { type: 'count' }); });
  try {
    send(forwarder, { type: 'start', mode, subscribers: fanout });
    let received: readonly number[] = [];
    const deadline = performance.now() + 45_000;
    while (failure === undefined && performance.now() < deadline && !(received.length === fanout && received.every((n) => n > 0))) {
      await new Promise((r) => setTimeout(r, 200));
      received = await count();
    }
    if (failure !== undefined || !received.every((n) => n > 0) || received.length !== fanout) throw new Error(`${mode} 1 → ${fanout}: media did not reach every subscriber: ${failure ?? `received ${received.join(', ')}`}`);
    await new Promise((r) => setTimeout(r, timing.warmupMs));
    const cpu = await new Promise<FromForwarder>((resolve) => {
      onCpu = resolve;
      send(forwarder, { type: 'measure', ms: timing.windowMs });
    });
    if (cpu.type !== 'cpu' || cpu.forwarded === 0) throw new Error(`${mode} 1 → ${fanout}: nothing forwarded in the window`);
    return { usPerPacket: (cpu.cpuMs * 1000) / cpu.forwarded, cpuShare: cpu.cpuMs / cpu.ms, inboundPerSec: (cpu.inbound * 1000) / cpu.ms };
  } finally {
    video.stop();
    publisher.close();
    await Promise.all([stopChild(forwarder), stopChild(subscribers)]);
  }
}

function send(child: ChildProcess, m: ToForwarder | ToSubscribers): void {
  if (child.connected) child.send(m);
}

/** Asks the child to close its peer connections and exit; kills it after 5 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  send(child, { type: 'stop' });
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
