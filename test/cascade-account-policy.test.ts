/**
 * An account's new data routing control reaches a live cascaded meeting on
 * real bridges (serve --cascade): Anna (DE) on eu-central and Kenji (JP) on
 * ap-tokyo, a hop each way, and the host account narrows to US and JP. The
 * broker re-checks the meeting at once: eu-central removes Anna
 * (TICKET_OUTSIDE_FENCE) on the broker's word, not at her next ticket
 * renewal (tickets here live 10 min, so a renewal cannot be what removes
 * her), the hops into and out of Germany are gone from the plan, and she
 * comes back where the new policy allows her (ap-tokyo: her fences allow
 * Japan).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../src/bridge/cluster.fixture.js';
import { joinCall, participantIdOf, until, type Caller } from '../src/bridge/participant.fixture.js';
import { hopsOf } from '../src/broker/cascade.js';

/** What a loaded 2-core machine may take for the broker's command to reach the bridge and the bridge to act (the goal is a second). */
const OBEYED_MS = 10_000;

let cluster: Cluster;
let anna: Caller;
let kenji: Caller;
let meeting: string;

beforeAll(async () => {
  cluster = await startCluster(['eu-central', 'ap-tokyo', 'us-east'], ['eu-central', 'ap-tokyo', 'us-east'], { cascade: true, routeTicketSeconds: 600 });
  meeting = await cluster.meeting('Cascade');
  anna = await joinCall(cluster, meeting, 'Anna', 'DE', { publish: true });
  kenji = await joinCall(cluster, meeting, 'Kenji', 'JP', { publish: true });
}, 120_000);

afterAll(async () => {
  anna.leave();
  kenji.leave();
  await cluster.close();
}, 60_000);

it('removes the member the narrowed account rules out within seconds, and the hops into her datacenter with her', async () => {
  await until(() => anna.datacenter() !== undefined && kenji.datacenter() !== undefined, 30_000);
  expect([anna.datacenter(), kenji.datacenter()]).toEqual(['eu-central', 'ap-tokyo']);
  await until(() => participantIdOf(anna, 'Kenji') !== undefined, 30_000);
  const kenjiId = participantIdOf(anna, 'Kenji') ?? '';
  // Kenji's video reaches Anna over the hop into eu-central.
  await until(() => anna.received(kenjiId, 'eu-central') > 20, 45_000);
  expect(anna.received(kenjiId, 'eu-central')).toBeGreaterThan(20);

  const accounts = (await (await fetch(`${cluster.broker.url}/v1/accounts`, { headers: { authorization: `Bearer ${cluster.adminToken}` } })).json()) as { accounts: { id: string }[] };
  const changedAt = performance.now();
  const res = await fetch(`${cluster.broker.url}/v1/accounts/${accounts.accounts[0]?.id ?? ''}/policy`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ allowedJurisdictions: ['US', 'JP'] }),
  });
  expect(res.status, await res.text()).toBe(200);
  // The broker's plan dropped the hops before it answered.
  expect(hopsOf(cluster.broker.context, meeting).filter((h) => h.from === 'eu-central' || h.to === 'eu-central')).toEqual([]);

  const refusal = (): string | undefined => (anna.events.find((e) => e.type === 'refused' || e.type === 'bridge-refused') as { code?: string } | undefined)?.code;
  await until(() => refusal() !== undefined, OBEYED_MS);
  const removedMs = Math.round(performance.now() - changedAt);
  console.log(`Anna removed from eu-central ${String(removedMs)} ms after the account excluded DE (${refusal() ?? 'not removed'})`);
  expect(refusal()).toBe('TICKET_OUTSIDE_FENCE');
  const frankfurt = (): number => cluster.bridges.get('eu-central')?.rooms.get(meeting)?.participants.size ?? 0;
  await until(() => frankfurt() === 0, OBEYED_MS);
  expect(frankfurt(), 'participants still held on eu-central (DE) after the account excluded DE').toBe(0);

  // She takes a fresh route, which the new policy sends to Japan.
  await until(() => anna.datacenter() === 'ap-tokyo', 45_000);
  expect(anna.datacenter()).toBe('ap-tokyo');
  expect(hopsOf(cluster.broker.context, meeting).filter((h) => h.from === 'eu-central' || h.to === 'eu-central')).toEqual([]);
}, 240_000);
