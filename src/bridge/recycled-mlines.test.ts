/**
 * A subscriber whose client takes reused m-lines (`join.recycles`, both SDK
 * platforms) keeps an offer the size of what it carries: six participants
 * come one after another, each sending its own marked video, and leave. Ada,
 * there throughout, gets each one's video as a new track on the m-line the
 * one before left, with only that participant's packets on it, and her
 * connection at the bridge holds as many m-lines at the end as after the
 * first. Before, each left two m-lines behind in every subscriber's offers
 * for good (~490 bytes each: past ~530 of them an offer no longer fits a
 * 256 KiB frame).
 */
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SessionEvent } from '../sdk/node.js';
import { nodeSession } from '../sdk/node.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { publishOnce, until, waitFor } from './participant.fixture.js';
import type { Participant } from './sfu.js';

type Event = SessionEvent<MediaStreamTrack>;

/** A loaded 2-core machine runs other test files beside this one. */
const WAIT_MS = 30_000;
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east'], ['us-east']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});

it('puts each newcomer’s video on an m-line a departed participant left, and the subscriber’s m-lines stay as many', async () => {
  const meeting = await cluster.meeting('Churn');
  const adaEvents: Event[] = [];
  const ada = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), country: 'US', onEvent: (e) => adaEvents.push(e) });
  ada.join();
  try {
    await waitFor(adaEvents, (e) => (e.type === 'connected' ? e : undefined), WAIT_MS);
    const mLines: number[] = [];
    for (let fill = 1; fill <= 6; fill++) {
      const name = `Bo ${String(fill)}`;
      const seen = await publishOnce(cluster, meeting, adaEvents, name, 'US', fill, WAIT_MS);
      expect(seen.mine, `${name}'s packets on the track Ada was given`).toBeGreaterThan(10);
      expect(seen.others, `other packets on ${name}'s track`).toBe(0);
      await waitFor(adaEvents, (e) => (e.type === 'participant-left' && adaEvents.some((j) => j.type === 'participant-joined' && j.peer.id === e.id && j.peer.name === name) ? e : undefined), WAIT_MS);
      // Ada's connection at the bridge once the departure has been negotiated away.
      const adaAtBridge = (): Participant | undefined => [...(cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.values() ?? [])].find((p) => p.name === 'Ada');
      // Her answer to the offer without Bo's stream is in: only then may the next newcomer take his m-line.
      const negotiated = (): boolean => adaAtBridge()?.outgoing.length === 0 && (adaAtBridge()?.parked ?? []).every((t) => t.currentDirection === 'inactive');
      await until(negotiated, WAIT_MS);
      expect(negotiated(), 'Ada answered the offer that ended Bo’s stream').toBe(true);
      mLines.push(adaAtBridge()?.pc.getTransceivers().length ?? -1);
    }
    // Her own three, and the one video m-line each newcomer took over in turn.
    expect(mLines).toEqual([4, 4, 4, 4, 4, 4]);
  } finally {
    ada.leave();
  }
}, 180_000);
