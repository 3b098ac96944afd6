/**
 * A cascade hop reuses m-lines as a participant's connection does
 * (docs/media.md, "Reused m-lines"): Kenji (JP) stays on ap-tokyo and Anna
 * (DE) on eu-central, her video keeping the hop eu-central → ap-tokyo open,
 * while four more Germans, one after another, join eu-central, send their
 * own marked video and leave. Each one's video reaches Kenji over the hop eu-central →
 * ap-tokyo with only their packets on his track, and the hop's sending end
 * holds as many m-lines after the fourth as after the first.
 */
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SessionEvent } from '../sdk/node.js';
import { nodeSession } from '../sdk/node.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { markedVideo, publishOnce, until, waitFor } from './participant.fixture.js';
import type { Participant } from './sfu.js';

type Event = SessionEvent<MediaStreamTrack>;

/** A loaded 2-core machine runs other test files beside this one. */
const WAIT_MS = 45_000;
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['eu-central', 'ap-tokyo'], ['eu-central', 'ap-tokyo'], { cascade: true });
}, 60_000);
afterAll(async () => {
  await cluster.close();
}, 60_000);

it('puts each newcomer’s video on the hop’s m-line a departed participant left', async () => {
  const meeting = await cluster.meeting('Cascade churn');
  const kenjiEvents: Event[] = [];
  const kenji = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Kenji'), country: 'JP', onEvent: (e) => kenjiEvents.push(e) });
  kenji.join();
  const annaVideo = markedVideo(0x40);
  const leaving: { leave(): void }[] = [kenji];
  try {
    expect(await waitFor(kenjiEvents, (e) => (e.type === 'connected' ? e.datacenter : undefined), WAIT_MS)).toBe('ap-tokyo');
    const annaEvents: Event[] = [];
    const anna = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Anna'), country: 'DE', tracks: { video: annaVideo.track }, onEvent: (e) => annaEvents.push(e) });
    anna.join();
    leaving.push(anna);
    expect(await waitFor(annaEvents, (e) => (e.type === 'connected' ? e.datacenter : undefined), WAIT_MS)).toBe('eu-central');
    const annaId = await waitFor(kenjiEvents, (e) => (e.type === 'participant-joined' && e.peer.name === 'Anna' ? e.peer.id : undefined), WAIT_MS);
    await waitFor(kenjiEvents, (e) => (e.type === 'track-added' && e.peer === annaId ? e : undefined), WAIT_MS);
    // The sending end of the hop eu-central → ap-tokyo: a subscriber of eu-central's room.
    const hopEnd = (): Participant | undefined => [...(cluster.bridges.get('eu-central')?.rooms.get(meeting)?.relays.values() ?? [])][0];
    const mLines: number[] = [];
    for (let fill = 1; fill <= 4; fill++) {
      const name = `Greta ${String(fill)}`;
      const seen = await publishOnce(cluster, meeting, kenjiEvents, name, 'DE', fill, WAIT_MS);
      expect(seen.mine, `${name}'s packets on the track Kenji was given`).toBeGreaterThan(10);
      expect(seen.others, `other packets on ${name}'s track`).toBe(0);
      // The hop's answer to the offer without her stream is in: only then may the next one take her m-line.
      const negotiated = (): boolean => hopEnd()?.outgoing.every((o) => o.publisher === annaId) === true && (hopEnd()?.parked ?? []).every((t) => t.currentDirection === 'inactive');
      await until(negotiated, WAIT_MS);
      expect(negotiated(), 'the hop answered the offer that ended her stream').toBe(true);
      mLines.push(hopEnd()?.pc.getTransceivers().length ?? -1);
    }
    expect(mLines[0]).toBeGreaterThan(0);
    expect(mLines, 'the hop’s m-lines after each departure').toEqual(mLines.map(() => mLines[0]));
  } finally {
    for (const session of leaving) session.leave();
    annaVideo.stop();
  }
}, 240_000);
