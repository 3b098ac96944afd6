/**
 * `transit: e2ee` in a live cascade (issue 16): world.yaml with the EEA
 * fence letting its clients' end-to-end encrypted media transit bridges
 * outside it. A German participant whose SDK is in the meeting's MLS group
 * has her streams relayed to the US bridge, with a ticket and audit that say
 * they are encrypted; one whose client does not encrypt has none relayed
 * there, is reported unreachable for it, and a US bridge asked by a ticket
 * that marks her stream clear to take it is sent nothing of hers.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hopsOf } from '../broker/cascade.js';
import { encryptingMembers } from '../broker/group-delivery.js';
import { openRelay } from '../broker/relays.js';
import { nodeSession, type SessionEvent } from '../sdk/node.js';
import type { Session } from '../sdk/session.js';
import { startCluster, WORLD, type Cluster } from './cluster.fixture.js';
import { until } from './participant.fixture.js';

const DCS = ['eu-central', 'us-east'];
/** A loaded 2-core machine runs other test files beside this one. */
const WAIT_MS = 30_000;

let cluster: Cluster;

interface Member {
  readonly session: Session<MediaStreamTrack>;
  readonly events: SessionEvent<MediaStreamTrack>[];
}

async function joinAs(meeting: string, name: string, country: string, e2ee: boolean): Promise<Member> {
  const events: SessionEvent<MediaStreamTrack>[] = [];
  const session = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, name), country, e2ee, onEvent: (e) => events.push(e) });
  session.join();
  return { session, events };
}

beforeAll(async () => {
  const text = readFileSync(WORLD, 'utf8').replace('    clients: [EEA]\n    allow: [EEA, GB, JP]\n', '    clients: [EEA]\n    allow: [EEA, GB, JP]\n    transit: e2ee\n');
  if (!text.includes('transit: e2ee')) throw new Error('world.yaml changed: the EEA fence was not found');
  const dir = mkdtempSync(join(tmpdir(), 'geobridge-transit-'));
  const manifestPath = join(dir, 'world-transit.yaml');
  writeFileSync(manifestPath, text);
  cluster = await startCluster(DCS, DCS, { cascade: true, manifestPath });
}, 60_000);

afterAll(async () => {
  await cluster.close();
}, 60_000);

describe('transit: e2ee in a live cascade', () => {
  it('relays an encrypting German participant’s streams to the US bridge, with a ticket and records that say they are encrypted', async () => {
    const meeting = await cluster.meeting('Transit');
    const anna = await joinAs(meeting, 'Anna', 'DE', true);
    const ben = await joinAs(meeting, 'Ben', 'US', true);
    const ctx = cluster.broker.context;
    await until(() => encryptingMembers(ctx, meeting).size === 2 && hopsOf(ctx, meeting).length === 2, WAIT_MS);
    const hops = hopsOf(ctx, meeting).map((h) => `${h.from}→${h.to} e2ee:${String(h.e2ee)} clear:${h.clear.join(',')}`);
    expect(hops.sort()).toEqual(['eu-central→us-east e2ee:true clear:', 'us-east→eu-central e2ee:true clear:']);
    const opened = (await ctx.audit.read()).filter((r) => r.type === 'relay.opened' && r.data.meeting === meeting && r.data.from === 'eu-central');
    expect(opened.map((r) => r.data.e2ee)).toEqual([true]);
    for (const m of [anna, ben]) m.session.leave();
  });

  it('relays nothing of a German participant who does not encrypt to the US, tells the American why, and a US bridge holding a ticket that marks her stream clear gets none of it', async () => {
    const meeting = await cluster.meeting('Transit, one in the clear');
    // Dan first: the first arrival founds the group, and a client that does not encrypt never does.
    const dan = await joinAs(meeting, 'Dan', 'US', true);
    const ctx = cluster.broker.context;
    await until(() => encryptingMembers(ctx, meeting).size === 1, WAIT_MS);
    const carla = await joinAs(meeting, 'Carla', 'DE', false);
    type Notice = { name: string; direction: string; reason: string };
    const notices = (): readonly Notice[] => dan.events.findLast((e) => e.type === 'unreachable')?.peers ?? [];
    await until(() => notices().length === 1 && hopsOf(ctx, meeting).length === 1, WAIT_MS);
    expect(notices().map((n) => `${n.name} ${n.direction} ${n.reason}`)).toEqual(['Carla from FENCE']);
    // Dan's media may go to Germany; Carla's stays there.
    expect(hopsOf(ctx, meeting).map((h) => `${h.from}→${h.to}`)).toEqual(['us-east→eu-central']);
    expect(encryptingMembers(ctx, meeting).size).toBe(1);
    // The sending bridge's own check: a hop eu-central → us-east whose ticket names Carla as clear carries nothing of hers.
    const carlaId = [...(cluster.bridges.get('eu-central')?.rooms.get(meeting)?.participants.values() ?? [])].find((p) => p.name === 'Carla')?.id ?? '';
    expect(carlaId).not.toBe('');
    await openRelay(ctx, { meeting, from: 'eu-central', to: 'us-east', streams: [carlaId], countries: { [carlaId]: 'DE' }, e2ee: true, clear: [carlaId] });
    await new Promise((r) => setTimeout(r, 2000));
    expect(cluster.bridges.get('us-east')?.rooms.get(meeting)?.remotes.has(carlaId)).toBe(false);
    const euRoom = cluster.bridges.get('eu-central')?.rooms.get(meeting);
    expect([...(euRoom?.relays.values() ?? [])].flatMap((s) => s.outgoing.filter((o) => o.publisher === carlaId))).toEqual([]);
    expect(cluster.bridges.get('us-east')?.unreachableOf(meeting)).toBeDefined();
    // Both leave at once: the broker's plan then has nobody to tell, and each bridge forgets the meeting whole.
    for (const m of [carla, dan]) m.session.leave();
    await until(() => DCS.every((dc) => !cluster.bridges.get(dc)?.rooms.has(meeting)), WAIT_MS);
    expect(DCS.map((dc) => cluster.bridges.get(dc)?.unreachableOf(meeting))).toEqual([undefined, undefined]);
  });
});
