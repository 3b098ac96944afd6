/**
 * `npm run bench -- policy-enforcement`: time from a policy change to the
 * last packet forwarded by a bridge the new policy forbids. Goal: p95 ≤ 1000 ms.
 *
 * A broker and in-process bridges for us-east and ca-central
 * (src/bridge/cluster.fixture.ts: dev mode, examples/world.yaml, SQLite in
 * a temporary directory; heartbeats every 400 ms as `geobridge up` sends
 * them), all on 127.0.0.1, in this process so that the us-east room can be
 * watched. Each change has a fresh meeting: a Node participant
 * (src/sdk/node.ts) routing as if from the US joins first and publishes
 * synthetic video, which places the meeting on us-east; one from Canada
 * joins, is sent to the meeting there, and subscribes. Once its video has
 * flowed for a second, PUT /v1/manifest with world.yaml plus a fence that
 * keeps Canadians in Canada (src/broker/policy-edits.fixture.ts): the broker
 * re-homes the meeting to ca-central and us-east must stop forwarding.
 *
 * Timed from just before the PUT is sent to the last increment of the
 * meeting's us-east `Room.forwarded` (bench/forwarding-watch.ts), watched
 * until 2 s after both participants are together again on ca-central (or
 * 10 s have passed without that) with nothing forwarded; and to the
 * Canadian's first packet of the publisher's video through ca-central. A
 * meeting not together again within 10 s is counted, not fatal, and so are
 * the bridges' control-channel resets during a change (the bridges' log).
 * Then both leave, the meeting is ended and world.yaml is put back. One
 * untimed change first warms up.
 */
import { readFileSync } from 'node:fs';
import type { MediaStreamTrack } from 'werift';
import { startCluster, WORLD, type Cluster } from '../src/bridge/cluster.fixture.js';
import { canadaStaysInCanada } from '../src/broker/policy-edits.fixture.js';
import { nodeSession, type SessionEvent } from '../src/sdk/node.js';
import type { Session } from '../src/sdk/session.js';
import { ForwardingWatch, SAMPLE_MS } from './forwarding-watch.js';
import { pollUntil, quantile, syntheticVideo } from './media-support.js';
import type { BenchOptions } from './harness.js';

const GOAL_P95_MS = 1000;
/** How long the room must forward nothing, once both participants are on ca-central, before a change counts as enforced. */
const QUIET_MS = 2000;
/** A step that has not happened by then fails the run. */
const STEP_LIMIT_MS = 20_000;
/** A change after which the two participants are not together on ca-central by then counts as not reunited (the run goes on). */
const REUNION_LIMIT_MS = 10_000;
/** As `geobridge up` and bench/failover.ts run their bridges. */
const HEARTBEAT_MS = 400;
/** Video flows this long to the subscriber before the change. */
const STEADY_MS = 1000;
const VIDEO = { fps: 30, packetsPerFrame: 4, payloadBytes: 1000 } as const;
const FROM = 'us-east';
const TO = 'ca-central';

/** A Node participant and what it saw. */
interface Participant {
  readonly session: Session<MediaStreamTrack>;
  /** The datacenter of the current connection. */
  connectedTo(): string | undefined;
  /** First packet of each video track received, and the datacenter it came through. */
  readonly firstPackets: readonly { readonly datacenter: string | undefined; readonly at: number }[];
  /** Refusals and failures, for error messages. */
  readonly trouble: readonly string[];
}

/** One timed change; every figure from just before the PUT was sent, ms. */
interface Change {
  /** → the last increment of the meeting's us-east `Room.forwarded` (0 if none came after the PUT left). */
  readonly lastForwardMs: number;
  /** The same, as the 5 ms poll saw it. */
  readonly polledMs: number;
  /** → us-east had verified the new manifest and began re-checking its participants. */
  readonly policyAtBridgeMs: number;
  /** → the PUT's answer. */
  readonly putMs: number;
  /** Packets us-east forwarded after the PUT was sent. */
  readonly packetsAfter: number;
  /** → the subscriber's first packet of the publisher's video through ca-central; undefined if the meeting was not together there within REUNION_LIMIT_MS. */
  readonly reunitedMs: number | undefined;
  /** Bridges whose control channel the heartbeat check reset during the change (the broker answered a heartbeat with the new version before the push arrived). */
  readonly resets: readonly string[];
  /** Where the participants were at the end, and what went wrong (for the log). */
  readonly state: string;
}

/** What the bridges logged, with the time, by datacenter. */
type BridgeLogs = ReadonlyMap<string, readonly { readonly at: number; readonly line: Readonly<Record<string, unknown>> }[]>;

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const changes = opts.quick ? 5 : 20;
  const world = readFileSync(WORLD, 'utf8');
  const texts = { world, canada: canadaStaysInCanada(world) };
  const logs = new Map<string, { at: number; line: Readonly<Record<string, unknown>> }[]>();
  const cluster = await startCluster([FROM, TO], []);
  try {
    for (const dc of [FROM, TO]) {
      const lines: { at: number; line: Readonly<Record<string, unknown>> }[] = [];
      logs.set(dc, lines);
      await cluster.startBridge(dc, {
        heartbeatMs: HEARTBEAT_MS,
        log: (line) => {
          if (line.msg === 'policy in force' || line.msg === 'control channel reset') lines.push({ at: performance.now(), line });
        },
      });
    }
    opts.log(`broker at ${cluster.broker.url}; bridges ${FROM}, ${TO}; ${changes} changes after one untimed`);
    const results: Change[] = [];
    for (let round = 0; round <= changes; round++) {
      const c = await change(cluster, texts, logs, round);
      const label = round === 0 ? 'warm-up' : `change ${round}/${changes}`;
      const reunited = c.reunitedMs === undefined ? `NOT together on ${TO} within ${REUNION_LIMIT_MS} ms (${c.state})` : `video again on ${TO} ${c.reunitedMs.toFixed(0)} ms`;
      opts.log(`${label}: last forward ${c.lastForwardMs.toFixed(1)} ms (polled ${c.polledMs.toFixed(0)}), ${c.packetsAfter} packets after the PUT; policy at ${FROM} ${c.policyAtBridgeMs.toFixed(0)} ms, PUT answered ${c.putMs.toFixed(0)} ms; ${reunited}${c.resets.length > 0 ? `; control channel reset on ${c.resets.join(', ')}` : ''}`);
      if (round > 0) results.push(c);
    }
    return summarize(opts, results);
  } finally {
    await cluster.close();
  }
}

function summarize(opts: BenchOptions, results: readonly Change[]): Record<string, unknown> {
  const pick = (f: (c: Change) => number, of: readonly Change[] = results): number[] => of.map(f);
  const stats = (values: readonly number[]): Record<string, number> | null => (values.length === 0 ? null : { medianMs: opts.median(values), p95Ms: quantile(values, 0.95), maxMs: Math.max(...values), n: values.length });
  const samples = pick((c) => c.lastForwardMs);
  const reunited = results.flatMap((c) => (c.reunitedMs === undefined ? [] : [c.reunitedMs]));
  const packets = pick((c) => c.packetsAfter);
  const p95Ms = quantile(samples, 0.95);
  const reset = results.filter((c) => c.resets.includes(FROM));
  return {
    medianMs: opts.median(samples),
    p95Ms,
    maxMs: Math.max(...samples),
    n: samples.length,
    goalP95Ms: GOAL_P95_MS,
    goalMet: p95Ms <= GOAL_P95_MS,
    reunited: stats(reunited),
    notReunited: results.length - reunited.length,
    reunionLimitMs: REUNION_LIMIT_MS,
    fromChannelResets: reset.length,
    anyChannelResets: results.filter((c) => c.resets.length > 0).length,
    withoutResetMedianMs: stats(pick((c) => c.lastForwardMs, results.filter((c) => !c.resets.includes(FROM))))?.medianMs ?? null,
    withResetMedianMs: stats(pick((c) => c.lastForwardMs, reset))?.medianMs ?? null,
    policyAtBridgeMedianMs: opts.median(pick((c) => c.policyAtBridgeMs)),
    putMedianMs: opts.median(pick((c) => c.putMs)),
    polledMedianMs: opts.median(pick((c) => c.polledMs)),
    packetsAfterChangeMedian: opts.median(packets),
    packetsAfterChangeMax: Math.max(...packets),
    packetsPerSec: VIDEO.fps * VIDEO.packetsPerFrame,
    heartbeatMs: HEARTBEAT_MS,
    sampleMs: SAMPLE_MS,
    quietMs: QUIET_MS,
    samplesMs: samples,
    reunitedSamplesMs: results.map((c) => c.reunitedMs ?? null),
  };
}

/** One change: a fresh meeting on us-east, the fence, the timing; then the meeting ended and world.yaml back. */
async function change(cluster: Cluster, texts: { readonly world: string; readonly canada: string }, logs: BridgeLogs, round: number): Promise<Change> {
  const usEast = cluster.bridges.get(FROM);
  if (!usEast) throw new Error(`no bridge for ${FROM}`);
  const meeting = await cluster.meeting(`Policy enforcement benchmark ${round}`);
  const video = syntheticVideo({ ...VIDEO, ssrc: 4000 + round });
  const people: Participant[] = [];
  let watch: ForwardingWatch | undefined;
  let timed: Change;
  try {
    const publisher = join(cluster, await cluster.joinToken(meeting, 'Publisher (US)'), 'US', video.track);
    people.push(publisher);
    // The first joiner places the meeting: the US participant, so that it lands on us-east.
    await step(() => publisher.connectedTo() === FROM, `the US publisher did not connect to ${FROM}`, people);
    const subscriber = join(cluster, await cluster.joinToken(meeting, 'Subscriber (CA)'), 'CA');
    people.push(subscriber);
    await step(() => subscriber.firstPackets.some((p) => p.datacenter === FROM), `the CA subscriber received no video on ${FROM}`, people);
    watch = new ForwardingWatch(() => usEast.rooms.get(meeting));
    await new Promise((r) => setTimeout(r, STEADY_MS));
    const before = watch.seen().packets;
    if (before === 0) throw new Error(`${FROM} forwarded nothing in the ${STEADY_MS} ms before the change`);

    const sentAt = performance.now();
    const answer = await putManifest(cluster, texts.canada);
    const putMs = performance.now() - sentAt;
    if (!answer.rehomed.some((r) => r.meeting === meeting && r.from === FROM && r.to === TO)) throw new Error(`the change did not re-home the meeting to ${TO}: ${JSON.stringify(answer.rehomed)}`);
    const through = (p: Participant): number | undefined => p.firstPackets.find((f) => f.datacenter === TO && f.at > sentAt)?.at;
    const together = (): boolean => through(subscriber) !== undefined && publisher.connectedTo() === TO;
    // Watch on until both are together on ca-central (or the limit), and 2 s more: a stray re-admission on us-east would show.
    const seen = await watch.quiet(QUIET_MS, REUNION_LIMIT_MS + QUIET_MS + 5000, () => together() || performance.now() - sentAt > REUNION_LIMIT_MS, () => describe(people));
    const policyAtBridge = logs.get(FROM)?.find((l) => l.line.msg === 'policy in force' && l.line.version === answer.version)?.at;
    if (policyAtBridge === undefined) throw new Error(`${FROM} never logged policy version ${answer.version}`);
    const reunitedAt = through(subscriber);
    timed = {
      lastForwardMs: Math.max(0, (seen.lastIncrementAt ?? sentAt) - sentAt),
      polledMs: Math.max(0, (seen.lastPolledChangeAt ?? sentAt) - sentAt),
      policyAtBridgeMs: policyAtBridge - sentAt,
      putMs,
      packetsAfter: seen.packets - before,
      reunitedMs: together() && reunitedAt !== undefined ? reunitedAt - sentAt : undefined,
      resets: [...logs].filter(([, lines]) => lines.some((l) => l.at > sentAt && l.line.msg === 'control channel reset')).map(([dc]) => dc),
      state: `${describe(people)} | meeting placed at ${await placementOf(cluster, meeting)}`,
    };
  } finally {
    watch?.stop();
    for (const p of people) p.session.leave();
    video.stop();
  }
  // Ended, so that the next change's re-check sees one live meeting, as this one did.
  await endMeeting(cluster, meeting);
  await putManifest(cluster, texts.world);
  await pollUntil(() => [...cluster.bridges.values()].every((b) => !b.rooms.has(meeting)), 5000);
  // The restore may have reset a channel too (after a heartbeat, it shows): the next change starts with both bridges admitting.
  await new Promise((r) => setTimeout(r, HEARTBEAT_MS + 100));
  await bridgesReady(cluster);
  return timed;
}

/** Resolves once every bridge answers `ok` on its status page (control channel up, manifest in force known). */
async function bridgesReady(cluster: Cluster): Promise<void> {
  const deadline = performance.now() + STEP_LIMIT_MS;
  for (;;) {
    const statuses = await Promise.all(
      [...cluster.bridges.values()].map(async (b) => {
        const res = await fetch(b.url.replace(/^ws/, 'http').replace(/\/signal$/, '/'));
        return `${b.datacenter} ${((await res.json()) as { status: string }).status}`;
      }),
    );
    if (statuses.every((s) => s.endsWith(' ok'))) return;
    if (performance.now() > deadline) throw new Error(`the bridges are not all ok after ${STEP_LIMIT_MS} ms: ${statuses.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Joins as if from `country`, publishing `video` if given, and notes what it receives. */
function join(cluster: Cluster, joinToken: string, country: string, video?: MediaStreamTrack): Participant {
  let connectedTo: string | undefined;
  const firstPackets: { datacenter: string | undefined; at: number }[] = [];
  const trouble: string[] = [];
  const onEvent = (e: SessionEvent<MediaStreamTrack>): void => {
    if (e.type === 'connected') connectedTo = e.datacenter;
    if (e.type === 'bridge-refused' || e.type === 'refused' || e.type === 'failed') trouble.push(`${e.type} ${e.code}: ${e.message}`);
    if (e.type === 'notice' && e.notice.type === 'retrying') trouble.push(`retrying (${e.notice.reason}) in ${e.notice.delayMs} ms`);
    if (e.type !== 'track-added' || e.kind !== 'video') return;
    const via = connectedTo;
    const first = e.track.onReceiveRtp.subscribe(() => {
      first.unSubscribe();
      firstPackets.push({ datacenter: via, at: performance.now() });
    });
  };
  const session = nodeSession({ broker: cluster.broker.url, joinToken, country, tracks: video ? { video } : {}, onEvent });
  session.join();
  return { session, connectedTo: () => connectedTo, firstPackets, trouble };
}

/** Waits for `condition`, or fails the run with `what` and what the participants went through. */
async function step(condition: () => boolean, what: string, people: readonly Participant[]): Promise<void> {
  if (await pollUntil(condition, STEP_LIMIT_MS, SAMPLE_MS)) return;
  throw new Error(`${what} within ${STEP_LIMIT_MS} ms; ${describe(people)}`);
}

/** Where each participant is, what it received and what went wrong, for error messages. */
function describe(people: readonly Participant[]): string {
  return people.map((p) => `${p.session.status}, last connected to ${p.connectedTo() ?? '-'}, video via [${p.firstPackets.map((f) => f.datacenter ?? '-').join(', ')}], trouble [${p.trouble.join('; ')}]`).join(' | ');
}

/** PUT /v1/manifest as the admin; the new version and the meetings it re-homed. */
async function putManifest(cluster: Cluster, text: string): Promise<{ version: number; rehomed: readonly { meeting: string; from: string; to: string }[] }> {
  const res = await fetch(new URL('/v1/manifest', cluster.broker.url), { method: 'PUT', headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/yaml' }, body: text });
  const body = (await res.json()) as { version: number; recheck: { rehomed: { meeting: string; from: string; to: string }[] } };
  if (res.status !== 200) throw new Error(`PUT /v1/manifest: ${res.status} ${JSON.stringify(body)}`);
  return { version: body.version, rehomed: body.recheck.rehomed };
}

/** Where the broker has the meeting (GET /v1/meetings/:id), for the log. */
async function placementOf(cluster: Cluster, meeting: string): Promise<string> {
  const res = await fetch(new URL(`/v1/meetings/${meeting}`, cluster.broker.url), { headers: { authorization: `Bearer ${cluster.apiKey}` } });
  const body = (await res.json()) as { placement?: { datacenter: string; epoch: number } };
  return body.placement ? `${body.placement.datacenter} (epoch ${body.placement.epoch})` : 'nowhere';
}

/** DELETE /v1/meetings/:id with the account's key. */
async function endMeeting(cluster: Cluster, meeting: string): Promise<void> {
  const res = await fetch(new URL(`/v1/meetings/${meeting}`, cluster.broker.url), { method: 'DELETE', headers: { authorization: `Bearer ${cluster.apiKey}` } });
  if (res.status !== 204) throw new Error(`DELETE /v1/meetings/${meeting}: ${res.status} ${await res.text()}`);
}
