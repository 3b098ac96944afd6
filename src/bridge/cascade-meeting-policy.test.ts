/**
 * A cascade hop is held to the meeting's policy in force, not to the one its
 * participants' route tickets were issued under (docs/cascading.md#the-fence-on-every-hop).
 * Anna (DE) on eu-central and Kenji (JP) on ap-tokyo share a meeting; the
 * hop eu-central → ap-tokyo carries Anna's video. When eu-central hears
 * that the host account now allows only Germany (`meeting-policy`), it
 * stops sending her video to Japan at once, on its own: the broker's plan
 * still holds the hop, Anna stays where she is, and Kenji's video, which
 * ap-tokyo was not told about, still comes in.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hopsOf } from '../broker/cascade.js';
import { meetingPolicyOf } from '../broker/route-request.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { joinCall, participantIdOf, until, type Caller } from './participant.fixture.js';
import type { Room } from './sfu.js';

/** A loaded 2-core machine runs other test files beside this one. */
const MEDIA_MS = 30_000;

let cluster: Cluster;
let meeting: string;
let anna: Caller;
let kenji: Caller;

beforeAll(async () => {
  cluster = await startCluster(['eu-central', 'ap-tokyo'], ['eu-central', 'ap-tokyo'], { cascade: true });
  meeting = await cluster.meeting('Narrowed');
  anna = await joinCall(cluster, meeting, 'Anna', 'DE', { publish: true });
  kenji = await joinCall(cluster, meeting, 'Kenji', 'JP', { publish: true });
  await until(() => anna.datacenter() !== undefined && kenji.datacenter() !== undefined, MEDIA_MS);
}, 120_000);

afterAll(async () => {
  anna.leave();
  kenji.leave();
  await cluster.close();
}, 60_000);

it('stops a hop carrying media into a jurisdiction the meeting’s policy no longer allows, as soon as the sending bridge hears of it', async () => {
  expect([anna.datacenter(), kenji.datacenter()]).toEqual(['eu-central', 'ap-tokyo']);
  await until(() => participantIdOf(kenji, 'Anna') !== undefined && participantIdOf(anna, 'Kenji') !== undefined, MEDIA_MS);
  const annaId = participantIdOf(kenji, 'Anna') ?? '';
  const kenjiId = participantIdOf(anna, 'Kenji') ?? '';
  const annaSeenByKenji = (): number => kenji.received(annaId, 'ap-tokyo');
  const kenjiSeenByAnna = (): number => anna.received(kenjiId, 'eu-central');
  await until(() => annaSeenByKenji() > 20 && kenjiSeenByAnna() > 20, MEDIA_MS);
  expect([annaSeenByKenji(), kenjiSeenByAnna()].map((n) => n > 20), 'both hops carry video').toEqual([true, true]);

  // The account now allows Germany only; eu-central is told, as the broker tells a meeting's bridges.
  const ctx = cluster.broker.context;
  const row = await ctx.store.getMeeting(meeting);
  const account = await ctx.store.getAccount(row?.accountId ?? '');
  if (account === undefined) throw new Error('the meeting has no account');
  await ctx.control.meetingPolicy('eu-central', meeting, { ...meetingPolicyOf(account, row, true), accountJurisdictions: ['DE'] }, (account.policyRevision ?? 0) + 1);

  const tokyo = (): Room | undefined => cluster.bridges.get('ap-tokyo')?.rooms.get(meeting);
  await until(() => tokyo()?.remotes.has(annaId) === false, MEDIA_MS);
  expect(tokyo()?.remotes.has(annaId), 'Anna is no longer relayed into Japan').toBe(false);
  // The bridge acted alone: the plan still holds the hop, and Anna, inside the new policy, stays.
  expect(hopsOf(ctx, meeting).filter((h) => h.streams.includes(annaId)).map((h) => `${h.from}→${h.to}`)).toEqual(['eu-central→ap-tokyo']);
  expect(cluster.bridges.get('eu-central')?.rooms.get(meeting)?.participants.has(annaId)).toBe(true);

  // Packets already on their way when the hop stopped have arrived once Kenji's video has moved on a little.
  let since = kenjiSeenByAnna();
  await until(() => kenjiSeenByAnna() > since + 25, MEDIA_MS);
  const base = annaSeenByKenji();
  since = kenjiSeenByAnna();
  await until(() => kenjiSeenByAnna() > since + 50, MEDIA_MS);
  expect(kenjiSeenByAnna(), 'Kenji’s video still reaches Anna').toBeGreaterThan(since + 50);
  expect(annaSeenByKenji() - base, 'packets of Anna that reached Japan after the policy excluded it').toBe(0);
}, 120_000);
