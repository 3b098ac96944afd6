/**
 * A client admitted to a meeting must bring its media path up: one that
 * never answers the bridge's offer (or whose ICE checks never succeed) is
 * ended after the bridge's `connectTimeoutMs` with MEDIA_PATH_FAILED, and
 * leaves the room and the broker's member list. Before, it held its place,
 * and counted in the bridge's load, for as long as it kept the socket open.
 * A participant whose path came up stays.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { joinCall, rawJoin, until, type Caller } from './participant.fixture.js';

/** Shorter than the product's 30 s, and long enough for a loaded 2-core machine to connect a real participant (Ada) inside it. */
const CONNECT_MS = 15_000;
let cluster: Cluster;
let ada: Caller | undefined;

beforeAll(async () => {
  cluster = await startCluster(['us-east'], ['us-east'], { bridge: { connectTimeoutMs: CONNECT_MS } });
}, 60_000);

afterAll(async () => {
  ada?.leave();
  await cluster.close();
}, 30_000);

it('ends a session whose media path never comes up, and keeps one whose path did', async () => {
  const meeting = await cluster.meeting('Silent');
  ada = await joinCall(cluster, meeting, 'Ada', 'US', { publish: true });
  await until(() => ada?.datacenter() === 'us-east', 30_000);

  const { ws, got } = await rawJoin(cluster, meeting, 'Sid', 'us-east');
  try {
    const sid = String(got.find((m) => m.type === 'admitted')?.participant);
    const room = (): ReadonlyMap<string, unknown> | undefined => cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants;
    expect(room()?.has(sid), 'Sid is in the room once admitted').toBe(true);

    // Sid never answers the offer.
    await until(() => got.some((m) => m.type === 'refused'), CONNECT_MS + 20_000);
    const refused = got.find((m) => m.type === 'refused');
    expect(refused?.code).toBe('MEDIA_PATH_FAILED');
    expect(String(refused?.message)).toMatch(/did not come up within 15 s of admission/);
    expect(room()?.has(sid), 'Sid is no longer in the room').toBe(false);
    const members = async (): Promise<string[]> => (await cluster.broker.context.store.listParticipants(meeting)).map((p) => p.id);
    let listed = await members();
    for (let i = 0; i < 100 && listed.includes(sid); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      listed = await members();
    }
    expect(listed, 'the broker’s member list').not.toContain(sid);

    // Ada's path came up long before her deadline passed: she stays, well past it.
    expect(ada.events.filter((e) => e.type === 'bridge-refused')).toEqual([]);
    expect(room()?.size).toBe(1);
    expect(listed).toHaveLength(1);
  } finally {
    ws.terminate();
  }
}, 90_000);
