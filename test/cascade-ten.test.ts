/**
 * A larger cascaded meeting (issue 16): ten Node SDK participants publishing
 * synthetic video, from countries spread over four datacenters of a broker
 * started with cascade, under examples/world.yaml. What may reach whom is not
 * written here: the core's `planMeeting` says where each participant connects
 * and which directed pairs its fences forbid, and `mayCarry` agrees pair by
 * pair. Every allowed pair must get the sender's video, every forbidden pair
 * none of it, and the hops the broker keeps must be the core's `planRelays`
 * over the members as their bridges admitted them.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, WORLD, type Cluster } from '../src/bridge/cluster.fixture.js';
import { joinCall, until, type Caller } from '../src/bridge/participant.fixture.js';
import { hopsOf } from '../src/broker/cascade.js';
import { parseManifest } from '../src/core/manifest/parse.js';
import type { Manifest } from '../src/core/manifest/types.js';
import { mayCarry, planMeeting, planRelays, type MeetingPlan } from '../src/core/plan/plan.js';

/** EEA participants on eu-central (their media may go to Japan, not to the US or Brazil), two in the US, two in East Asia, one in Brazil. */
const PEOPLE: readonly { readonly name: string; readonly country: string }[] = [
  { name: 'de-1', country: 'DE' },
  { name: 'de-2', country: 'DE' },
  { name: 'de-3', country: 'DE' },
  { name: 'pl-1', country: 'PL' },
  { name: 'pl-2', country: 'PL' },
  { name: 'us-1', country: 'US' },
  { name: 'us-2', country: 'US' },
  { name: 'jp-1', country: 'JP' },
  { name: 'kr-1', country: 'KR' },
  { name: 'br-1', country: 'BR' },
];
/** A loaded 2-core machine runs other test files beside this one. */
const MEDIA_MS = 45_000;
/** The packets an allowed pair must see: a second of the fixture's 50 packets/s, after negotiation. */
const ENOUGH = 20;

const manifest = readManifest();
/** The core's plan of this meeting, unencrypted as the Node participants are (no fence's transit is taken). */
const plan: MeetingPlan = planMeeting(manifest, PEOPLE, {}, { e2ee: false });
const bridgeOf = new Map(plan.participants.map((p) => [p.name, p.datacenter]));
const datacenters = [...new Set(plan.participants.map((p) => p.datacenter ?? ''))].sort();
const forbidden = new Set(plan.unreachable.map((u) => `${u.from}→${u.to}`));
const pairs = PEOPLE.flatMap((s) => PEOPLE.filter((r) => r !== s).map((r) => ({ sender: s.name, receiver: r.name })));
const allowed = pairs.filter((p) => !forbidden.has(`${p.sender}→${p.receiver}`));

let cluster: Cluster;
let meeting: string;
const callers = new Map<string, Caller>();
/** Participant ids, by name, as the bridges admitted them. */
const ids = new Map<string, string>();

function readManifest(): Manifest {
  const parsed = parseManifest(readFileSync(WORLD, 'utf8'), WORLD);
  if (!parsed.manifest) throw new Error(`examples/world.yaml does not parse: ${JSON.stringify(parsed.diagnostics)}`);
  return parsed.manifest;
}

function caller(name: string): Caller {
  const c = callers.get(name);
  if (!c) throw new Error(`no participant ${name}`);
  return c;
}

/** Video packets `receiver` got from `sender` on the receiver's own bridge. */
function got(sender: string, receiver: string): number {
  const r = caller(receiver);
  return r.received(ids.get(sender) ?? '-', r.datacenter() ?? '-');
}

/** Every participant id the bridges admitted in the meeting, by name. */
function admittedIds(): Map<string, string> {
  const out = new Map<string, string>();
  for (const dc of datacenters) for (const p of cluster.bridges.get(dc)?.rooms.get(meeting)?.participants.values() ?? []) out.set(p.name, p.id);
  return out;
}

/** Where `sender`'s video to `receiver` got to, for a failure message: the sending bridge's relay, the receiving bridge's room, the receiver's events. */
function trace(sender: string, receiver: string): string {
  const id = ids.get(sender) ?? '-';
  const from = bridgeOf.get(sender) ?? '-';
  const to = bridgeOf.get(receiver) ?? '-';
  const fromRoom = cluster.bridges.get(from)?.rooms.get(meeting);
  const toRoom = cluster.bridges.get(to)?.rooms.get(meeting);
  const relay = fromRoom?.relays.get(`relay:${to}`);
  const remote = toRoom?.remotes.get(id);
  const subscriber = toRoom?.participants.get(ids.get(receiver) ?? '-');
  const hop = hopsOf(cluster.broker.context, meeting).find((h) => h.from === from && h.to === to);
  const seen = caller(receiver).events.filter((e) => (e.type === 'participant-joined' && e.peer.id === id) || (e.type === 'track-added' && e.peer === id)).map((e) => e.type);
  return JSON.stringify({
    hop: from === to ? 'same bridge' : (hop?.streams.includes(id) ?? false),
    relaySends: from === to ? undefined : (relay?.outgoing.filter((o) => o.publisher === id).map((o) => o.slot) ?? 'no relay'),
    remote: from === to ? undefined : (remote ? [...remote.published.keys()] : 'none'),
    toReceiver: subscriber?.outgoing.filter((o) => o.publisher === id).map((o) => o.slot) ?? 'not admitted',
    receiverEvents: seen,
  });
}

const hopLines = (hops: readonly { from: string; to: string; streams: readonly string[] }[]): string[] => hops.map((h) => `${h.from}→${h.to}:${[...h.streams].sort().join(',')}`).sort();

beforeAll(async () => {
  cluster = await startCluster(datacenters, datacenters, { cascade: true });
  meeting = await cluster.meeting('Ten across four');
  const joined = await Promise.all(PEOPLE.map((p) => joinCall(cluster, meeting, p.name, p.country, { publish: true })));
  for (const c of joined) callers.set(c.name, c);
  await until(() => admittedIds().size === PEOPLE.length && joined.every((c) => c.datacenter() !== undefined), MEDIA_MS);
  for (const [name, id] of admittedIds()) ids.set(name, id);
}, 90_000);

afterAll(async () => {
  for (const c of callers.values()) c.leave();
  await cluster.close();
}, 60_000);

describe('a cascaded meeting of ten over four datacenters', () => {
  it('is the meeting the core plans: four bridges, and pairs the fences forbid', () => {
    expect(datacenters).toHaveLength(4);
    expect(plan.participants.every((p) => p.datacenter !== null)).toBe(true);
    // Not vacuous: world.yaml's EEA fence keeps the German and Polish participants' media out of the US and Brazil.
    expect(plan.unreachable.length).toBeGreaterThan(0);
    expect(plan.unreachable.every((u) => u.reason === 'FENCE')).toBe(true);
    // The plan's pairs are the fence rule itself, pair by pair.
    const jurisdiction = new Map(manifest.datacenters.map((d) => [d.id, d.jurisdiction]));
    const country = new Map(PEOPLE.map((p) => [p.name, p.country]));
    for (const { sender, receiver } of pairs) {
      const from = bridgeOf.get(sender);
      const to = bridgeOf.get(receiver) ?? '';
      const carries = from === to || mayCarry(manifest, country.get(sender) ?? '', jurisdiction.get(to) ?? '', { e2ee: false });
      expect(forbidden.has(`${sender}→${receiver}`), `${sender} → ${receiver}`).toBe(!carries);
    }
    expect(ids.size).toBe(PEOPLE.length);
  });

  it('puts each participant on the bridge of its own decision', () => {
    for (const p of PEOPLE) expect(caller(p.name).datacenter(), p.name).toBe(bridgeOf.get(p.name));
  });

  it('delivers every allowed directed pair\u2019s video, and nothing of a forbidden pair', async () => {
    const started = performance.now();
    await until(() => allowed.every((p) => got(p.sender, p.receiver) > ENOUGH), MEDIA_MS);
    const flowingMs = Math.round(performance.now() - started);
    const missing = allowed.filter((p) => got(p.sender, p.receiver) <= ENOUGH).map((p) => `${p.sender}→${p.receiver}: ${got(p.sender, p.receiver)} packets; ${trace(p.sender, p.receiver)}`);
    expect(missing, 'allowed pairs without video').toEqual([]);
    const leaked = pairs
      .filter((p) => forbidden.has(`${p.sender}→${p.receiver}`))
      .flatMap((p) => {
        const sender = ids.get(p.sender) ?? '-';
        const tracks = caller(p.receiver).events.filter((e) => e.type === 'track-added' && e.peer === sender).length;
        return got(p.sender, p.receiver) > 0 || tracks > 0 ? [`${p.sender}→${p.receiver}: ${got(p.sender, p.receiver)} packets, ${tracks} tracks`] : [];
      });
    expect(leaked, 'forbidden pairs with media').toEqual([]);
    console.log(JSON.stringify({ cascadeTen: { participants: PEOPLE.length, datacenters, allowedPairs: allowed.length, forbiddenPairs: forbidden.size, allFlowingMs: flowingMs } }));
  });

  it('keeps the hops the core plans over the admitted members', async () => {
    const admitted = PEOPLE.map((p) => ({ name: ids.get(p.name) ?? '', country: p.country, datacenter: caller(p.name).datacenter() ?? null }));
    const expected = hopLines(planRelays(manifest, admitted, { e2ee: false }).relays);
    // The same hops as the offline plan, named by participant id.
    expect(expected).toEqual(hopLines(plan.relays.map((r) => ({ ...r, streams: r.streams.map((n) => ids.get(n) ?? n) }))));
    await until(() => JSON.stringify(hopLines(hopsOf(cluster.broker.context, meeting))) === JSON.stringify(expected), 10_000);
    expect(hopLines(hopsOf(cluster.broker.context, meeting))).toEqual(expected);
  });
});
