// The public SDK's Room, through the Node entry point (src/sdk/node/index.ts) over a real broker and bridges:
// invite → join, typed events (state with datacenter and jurisdiction, route, participants, tracks with their
// source, E2EE state and roster, chat), mute, leave, the routing receipt as a JSON object, and refusals with codes.
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../src/bridge/cluster.fixture.js';
import { syntheticVideo } from '../src/bridge/participant.fixture.js';
import { createRoom, type RoomEvent, type Room } from '../src/sdk/node/index.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east', 'us-west', 'cn-beijing'], ['us-east', 'us-west']);
}, 30_000);

afterAll(async () => {
  await cluster.close();
});

async function invite(meeting: string): Promise<string> {
  const res = await fetch(new URL(`/v1/meetings/${meeting}/invites`, cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
  return ((await res.json()) as { invite: string }).invite;
}

/** Every event a room emitted, in order. */
function record(room: Room<MediaStreamTrack>): RoomEvent<MediaStreamTrack>[] {
  const events: RoomEvent<MediaStreamTrack>[] = [];
  room.on('*', (e) => events.push(e));
  return events;
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Room (Node entry point)', () => {
  it('joins from an invite, reports state, route, participants and tracks by source, mutes, and leaves', async () => {
    const meeting = await cluster.meeting('SDK room');
    const link = await invite(meeting);
    const video = syntheticVideo();
    const ada = createRoom({ broker: cluster.broker.url, invite: link, name: 'Ada', country: 'US', e2ee: false, camera: video.track });
    const adaEvents = record(ada);
    await ada.join();
    expect(ada.state).toMatchObject({ connection: 'connected', keys: 'off', datacenter: 'us-east', jurisdiction: 'US', role: 'primary', attempts: 1 });
    expect(ada.meeting).toBe(meeting);
    expect(ada.participant).toMatch(/\S/);
    const route = adaEvents.find((e) => e.type === 'route');
    expect(route?.type === 'route' ? route.route.candidates.map((c) => c.jurisdiction) : []).toContain('US');
    expect(adaEvents.flatMap((e) => (e.type === 'state' ? [e.state.connection] : []))).toEqual(expect.arrayContaining(['routing', 'connected']));

    const bo = createRoom({ broker: cluster.broker.url, token: await cluster.joinToken(meeting, 'Bo'), country: 'US', e2ee: false });
    const boEvents = record(bo);
    await bo.join();
    await until(() => boEvents.some((e) => e.type === 'track-added' && e.source === 'camera' && e.participant === ada.participant), 10_000, 'Ada’s camera at Bo');
    expect([...bo.participants.values()].map((p) => p.name)).toEqual(['Ada']);
    await until(() => adaEvents.some((e) => e.type === 'participant-joined' && e.participant.name === 'Bo'), 5000, 'Bo at Ada');

    ada.mute('camera');
    expect(ada.isOn('camera')).toBe(false);
    await until(() => bo.participants.get(ada.participant ?? '')?.video === false, 5000, 'Ada’s camera shown off at Bo');

    const receipt = await ada.routingReceipt();
    expect(receipt.routes).toHaveLength(1);
    expect(receipt.routes[0]?.connections[0]?.datacenter).toBe('us-east');
    expect(JSON.parse(JSON.stringify(receipt))).toEqual(receipt);

    ada.leave();
    ada.leave();
    expect(ada.state.connection).toBe('left');
    await until(() => boEvents.some((e) => e.type === 'participant-left' && e.id === ada.participant), 5000, 'Ada to leave');
    expect(boEvents.some((e) => e.type === 'track-removed' && e.source === 'camera')).toBe(true);
    bo.leave();
    video.stop();
  }, 40_000);

  it('with E2EE (the default) gives every member one epoch and security code, a roster of both, and chat; refuses to publish in the clear', async () => {
    const meeting = await cluster.meeting('SDK E2EE');
    expect(() => createRoom({ broker: cluster.broker.url, token: 'x', camera: syntheticVideo().track })).toThrow(expect.objectContaining({ code: 'E2EE_UNSUPPORTED' }) as Error);
    const rooms = await Promise.all(['Ada', 'Bo'].map(async (name) => createRoom({ broker: cluster.broker.url, token: await cluster.joinToken(meeting, name), country: 'US' })));
    const events = rooms.map(record);
    await Promise.all(rooms.map((r) => r.join()));
    const codes = (i: number): string[] => (events[i] ?? []).flatMap((e) => (e.type === 'e2ee' && e.members.length === 2 ? [e.securityCode] : []));
    await until(() => codes(0).length > 0 && codes(1).length > 0 && codes(0).at(-1) === codes(1).at(-1), 15_000, 'one security code for both');
    const e2ee = events[0]?.find((e) => e.type === 'e2ee');
    expect(e2ee && 'keys' in e2ee).toBe(false);
    await until(() => rooms.every((r) => r.state.keys === 'agreed'), 5000, 'keys agreed');
    await until(() => (events[1] ?? []).some((e) => e.type === 'roster' && e.members.length === 2 && e.members.every((m) => m.flags.length === 0)), 5000, 'a roster of both');
    await expect(rooms[0]?.publishCamera(syntheticVideo().track)).rejects.toMatchObject({ code: 'E2EE_UNSUPPORTED' });

    expect(rooms[0]?.sendChat('hello from the SDK')).toBe(true);
    await until(() => (events[1] ?? []).some((e) => e.type === 'chat' && e.text === 'hello from the SDK' && e.name === 'Ada' && !e.self), 5000, 'the chat at Bo');
    for (const r of rooms) r.leave();
  }, 40_000);

  it('rejects join() with the broker’s code, and says so in a refused event', async () => {
    const meeting = await cluster.meeting('US only');
    const room = createRoom({ broker: cluster.broker.url, token: await cluster.joinToken(meeting, 'Chen'), country: 'CN', e2ee: false });
    const events = record(room);
    await expect(room.join()).rejects.toMatchObject({ code: 'FENCE_CONFLICT' });
    expect(events.find((e) => e.type === 'refused')).toMatchObject({ code: 'FENCE_CONFLICT' });
    expect(room.state.connection).toBe('refused');
    expect(() => createRoom({ broker: cluster.broker.url })).toThrow(expect.objectContaining({ code: 'ROOM_OPTIONS_INVALID' }) as Error);
    await expect(createRoom({ broker: cluster.broker.url, invite: 'not-an-invite', name: 'X' }).join()).rejects.toMatchObject({ status: 401 });
  }, 30_000);
});
