/**
 * A long meeting: one participant stays while publishers come and go, each
 * next one's stream reusing the m-line the last one's left (sfu.ts
 * `addSending`). werift replaces the transceiver of a reused m-line without
 * stopping it; before `retire`, each one replaced went on with its RTCP
 * timer for good and kept what it had sent alive (+40 MB and +160 timers
 * per 100 joins and leaves, measured in session 32).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RTCRtpTransceiver } from 'werift';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { joinCall, participantIdOf, until, type Caller } from './participant.fixture.js';
import type { Room } from './sfu.js';

const MEDIA_MS = 30_000;
let cluster: Cluster;
let meeting: string;
let anchor: Caller;

const room = (): Room | undefined => cluster.bridges.get('us-east')?.rooms.get(meeting);

beforeAll(async () => {
  cluster = await startCluster(['us-east']);
  meeting = await cluster.meeting('Comings and goings');
  anchor = await joinCall(cluster, meeting, 'Stays', 'US');
  await until(() => anchor.datacenter() !== undefined && (room()?.participants.size ?? 0) === 1, MEDIA_MS);
}, 120_000);

afterAll(async () => {
  anchor.leave();
  await cluster.close();
}, 60_000);

it('stops every sending m-line werift replaces, and keeps no departed publisher reachable from a parked one', async () => {
  const stays = [...(room()?.participants.values() ?? [])][0];
  if (stays === undefined) throw new Error('the participant who stays is not in the room');
  const added: RTCRtpTransceiver[] = [];
  stays.pc.onTransceiverAdded.subscribe((t) => added.push(t));
  for (let i = 0; i < 3; i++) {
    const name = `Visitor ${String(i)}`;
    const visitor = await joinCall(cluster, meeting, name, 'US', { publish: true });
    await until(() => anchor.received(participantIdOf(anchor, name) ?? '', 'us-east') > 0, MEDIA_MS);
    visitor.leave();
    await until(() => room()?.participants.size === 1, MEDIA_MS);
    // Once the client has answered the m-line going inactive, the next visitor's video reuses it.
    await until(() => stays.parked.some((t) => t.kind === 'video' && t.currentDirection === 'inactive'), MEDIA_MS);
  }
  const current = new Set(stays.pc.getTransceivers());
  const replaced = added.filter((t) => !current.has(t));
  // The second and third visitors' video reused the m-line the one before left: without that, nothing here is tested.
  expect(replaced.length).toBeGreaterThan(0);
  for (const t of replaced) expect({ stopped: t.sender.stopped, rtcp: (t.sender as unknown as { rtcpRunning: boolean }).rtcpRunning }).toEqual({ stopped: true, rtcp: false });
  // What is parked waits for the next stream: nothing of the last visitor's is still hooked to it.
  for (const t of stays.parked) expect((t.sender.onReady as unknown as { event: { stack: unknown[] } }).event.stack).toEqual([]);
}, 120_000);
