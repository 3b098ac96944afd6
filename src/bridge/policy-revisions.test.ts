/**
 * A bridge keeps the meeting policy of the highest account revision it
 * heard. Two changes of one account made at once on two brokers, or a
 * broker's admission answer read before a change whose command came first,
 * reach the bridge in either order; before revisions, the last one heard
 * won, and a wider, older policy could hold the meeting again.
 *
 * The broker's control channel stands in for the other broker: it sends
 * eu-central the commands in the order a loaded network may deliver them.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MeetingPolicy } from '../core/select/meeting-policy.js';
import { SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { newChallenge } from '../sdk/bridge-proof.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { until } from './participant.fixture.js';

/** A loaded 2-core machine runs other test files beside this one. */
const WAIT_MS = 30_000;

let cluster: Cluster;
const logs: Readonly<Record<string, unknown>>[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  cluster = await startCluster(['eu-central'], ['eu-central'], { bridge: { log: (line) => logs.push(line) } });
}, 120_000);

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await cluster.close();
}, 60_000);

/** Joins a German participant over a bare signalling socket; what the bridge says to it. */
async function join(meeting: string, name: string): Promise<{ type: string; code?: string }[]> {
  const res = await fetch(new URL('/v1/route', cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${await cluster.joinToken(meeting, name)}`, 'content-type': 'application/json' }, body: JSON.stringify({ country: 'DE' }) });
  expect(res.status).toBe(200);
  const { ticket } = (await res.json()) as { ticket: string };
  const ws = new WebSocket(cluster.bridges.get('eu-central')?.url ?? '', SIGNALLING_SUBPROTOCOL);
  sockets.push(ws);
  const got: { type: string; code?: string }[] = [];
  ws.on('message', (data: Buffer) => got.push(JSON.parse(data.toString('utf8')) as (typeof got)[number]));
  ws.on('error', () => undefined);
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() }));
  await until(() => got.some((m) => m.type === 'admitted' || m.type === 'refused'), WAIT_MS);
  expect(got.map((m) => m.type), `${name} admitted`).toContain('admitted');
  return got;
}

/** The policy eu-central holds the meeting to. */
function held(meeting: string): MeetingPolicy | undefined {
  const bridge = cluster.bridges.get('eu-central') as unknown as { meetingPolicy(meeting: string): MeetingPolicy | undefined };
  return bridge.meetingPolicy(meeting);
}

/** The broker tells eu-central the account's policy at `revision`, and waits until the bridge has handled it. */
async function tell(meeting: string, revision: number, accountJurisdictions: readonly string[]): Promise<void> {
  const before = logs.filter((l) => l.msg === 'control').length;
  await cluster.broker.context.control.meetingPolicy('eu-central', meeting, { hostCountry: 'US', accountJurisdictions }, revision);
  await until(() => logs.filter((l) => l.msg === 'control').length > before, WAIT_MS);
}

it('keeps the latest revision against an older command and an older admission answer, and obeys the next one', async () => {
  const meeting = await cluster.meeting('Revised');
  const anna = await join(meeting, 'Anna');

  // Revision 5 allows Germany; revision 4, older and narrower, comes after it: it changes nothing, and Anna stays.
  await tell(meeting, 5, ['DE', 'US']);
  await tell(meeting, 4, ['US', 'JP']);
  expect(logs.filter((l) => l.msg === 'a meeting policy older than the one held was not taken').map((l) => l.revision)).toEqual([4]);
  expect(held(meeting)?.accountJurisdictions).toEqual(['DE', 'US']);

  // Bo's admission answer was read from the store, whose account the test never changed (revision 0, no narrowing):
  // it admits Bo, and the meeting stays held to revision 5.
  await join(meeting, 'Bo');
  expect(held(meeting)?.accountJurisdictions, 'the policy held after an older admission answer').toEqual(['DE', 'US']);
  expect(anna.some((m) => m.type === 'refused')).toBe(false);

  // Revision 6 rules Germany out: both leave.
  await tell(meeting, 6, ['US', 'JP']);
  // The refusal reaches Anna's socket after the bridge has taken her out of the room: wait for both.
  await until(() => (cluster.bridges.get('eu-central')?.rooms.get(meeting)?.participants.size ?? 0) === 0 && anna.some((m) => m.type === 'refused'), WAIT_MS);
  expect(anna.filter((m) => m.type === 'refused').map((m) => m.code)).toEqual(['TICKET_OUTSIDE_FENCE']);
  expect(cluster.bridges.get('eu-central')?.rooms.get(meeting)?.participants.size ?? 0).toBe(0);
}, 120_000);
