/**
 * A cascaded meeting over real bridges (issue 16): participants in Germany,
 * the US and Japan each on their own nearest bridge of one meeting, the
 * broker planning the hops from where they are admitted, and the bridges
 * relaying real RTP over WebRTC between them — only what the fences allow.
 * Under world.yaml an EEA participant's media may go to Japan but not to the
 * US, so Ben (US) never gets Anna's (DE) video and no hop towards us-east
 * ever carries it, while everyone else sees everyone.
 *
 * Then the relay's own guards, with tickets the broker's key ring signs:
 * a bridge that cannot prove the receiving datacenter's key, a ticket used
 * twice, and a ticket for another hop are refused, and a hop whose ticket
 * names a participant the fences keep out carries nothing of theirs.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { hopsOf, refreshHops } from '../broker/cascade.js';
import { overviewOf } from '../broker/routes/console.js';
import { issueRelayTicket } from '../broker/tickets.js';
import { signBridgeProof } from '../protocol/bridge-proof.js';
import { localDtlsFingerprint } from './dtls-fingerprint.js';
import { parseBridgeMessage, SIGNALLING_SUBPROTOCOL, type BridgeMessage } from '../protocol/signalling.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { joinCall, participantIdOf, until, type Caller } from './participant.fixture.js';
import type { Room } from './sfu.js';

const DCS = ['eu-central', 'us-east', 'ap-tokyo'];
/** Where Anna goes when eu-central dies: the rest of her zone's primaries. */
const SPARE = ['eu-south', 'eu-west'];
/** China is an enclave under world.yaml: nobody else's media goes in, nothing of its participants' comes out. */
const ENCLAVE = ['cn-beijing'];
/** A loaded 2-core machine runs other test files beside this one. */
const MEDIA_MS = 30_000;
/** The DTLS certificate this process's peer connections run over, which a relaying bridge signs in its proof. */
const DTLS = await localDtlsFingerprint();

let cluster: Cluster;
let meeting: string;
let anna: Caller;
let ben: Caller;
let kenji: Caller;
const ids = new Map<string, string>();
/** What the broker logged, line by line. */
const brokerLog: Record<string, unknown>[] = [];

beforeAll(async () => {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.startsWith('{')) brokerLog.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  cluster = await startCluster([...DCS, ...SPARE, ...ENCLAVE], [...DCS, ...SPARE, ...ENCLAVE], { cascade: true, brokerLogger: { level: 'info', stream } as { readonly level: string } });
  meeting = await cluster.meeting('Cascade');
  anna = await joinCall(cluster, meeting, 'Anna', 'DE', { publish: true });
  ben = await joinCall(cluster, meeting, 'Ben', 'US', { publish: true });
  kenji = await joinCall(cluster, meeting, 'Kenji', 'JP', { publish: true });
  await until(() => [anna, ben, kenji].every((c) => c.datacenter() !== undefined), MEDIA_MS);
  for (const [caller, observer] of [
    [anna, kenji],
    [ben, kenji],
    [kenji, anna],
  ] as const) {
    await until(() => participantIdOf(observer, caller.name) !== undefined, MEDIA_MS);
    ids.set(caller.name, participantIdOf(observer, caller.name) ?? '');
  }
}, 90_000);

afterAll(async () => {
  for (const c of [anna, ben, kenji]) c.leave();
  await cluster.close();
}, 60_000);

/** Video packets `receiver` got from `sender` on the receiver's own bridge. */
const got = (receiver: Caller, sender: Caller): number => receiver.received(ids.get(sender.name) ?? '', receiver.datacenter() ?? '');

describe('a cascaded meeting', () => {
  it('puts each participant on its own nearest bridge', () => {
    expect([anna.datacenter(), ben.datacenter(), kenji.datacenter()]).toEqual(DCS);
  });

  it('relays every stream the fences allow between the bridges, and each receiver gets it', async () => {
    const allowed: readonly [Caller, Caller][] = [
      [anna, kenji],
      [ben, anna],
      [ben, kenji],
      [kenji, anna],
      [kenji, ben],
    ];
    await until(() => allowed.every(([sender, receiver]) => got(receiver, sender) > 20), MEDIA_MS);
    for (const [sender, receiver] of allowed) expect(got(receiver, sender), `${sender.name} → ${receiver.name}`).toBeGreaterThan(20);
    expect(hopsOf(cluster.broker.context, meeting).map((h) => `${h.from}→${h.to}:${h.streams.join(',')}`).sort()).toEqual([
      `ap-tokyo→eu-central:${ids.get('Kenji')}`,
      `ap-tokyo→us-east:${ids.get('Kenji')}`,
      `eu-central→ap-tokyo:${ids.get('Anna')}`,
      `us-east→ap-tokyo:${ids.get('Ben')}`,
      `us-east→eu-central:${ids.get('Ben')}`,
    ]);
    // The operator console draws the same hops, with the number of streams each carries.
    const overview = await overviewOf(cluster.broker.context);
    expect(overview.relays.map((r) => `${r.from}→${r.to}:${r.streams}`).sort()).toEqual(hopsOf(cluster.broker.context, meeting).map((h) => `${h.from}→${h.to}:${h.streams.length}`).sort());
  });

  it('never lets Anna\u2019s media reach the US: no hop carries it, and Ben gets none of it', () => {
    expect(got(ben, anna)).toBe(0);
    const usRoom = cluster.bridges.get('us-east')?.rooms.get(meeting);
    expect(usRoom?.remotes.has(ids.get('Anna') ?? '')).toBe(false);
    expect([...(cluster.bridges.get('eu-central')?.rooms.get(meeting)?.relays.keys() ?? [])]).toEqual(['relay:ap-tokyo']);
  });

  it('tells each participant whom it cannot exchange media with, and why', async () => {
    type Notice = { id: string; name: string; direction: string; reason: string };
    const latest = (caller: Caller): readonly Notice[] | undefined => caller.events.findLast((e) => e.type === 'unreachable')?.peers;
    await until(() => latest(ben)?.length === 1 && latest(anna)?.length === 1, MEDIA_MS);
    expect(latest(ben)).toEqual([{ id: ids.get('Anna'), name: 'Anna', direction: 'from', reason: 'FENCE' }]);
    expect(latest(anna)).toEqual([{ id: ids.get('Ben'), name: 'Ben', direction: 'to', reason: 'FENCE' }]);
    // Kenji reaches everyone: nothing to tell.
    expect(latest(kenji) ?? []).toEqual([]);
  });

  it('admits a Chinese and an American participant of one meeting each to their own datacenter, tells each why they cannot see the other, and moves no frame across', async () => {
    const enclave = await cluster.meeting('Enclave');
    const li = await joinCall(cluster, enclave, 'Li', 'CN', { publish: true });
    const sam = await joinCall(cluster, enclave, 'Sam', 'US', { publish: true });
    try {
      type Notice = { name: string; direction: string; reason: string };
      const latest = (caller: Caller): readonly Notice[] => caller.events.findLast((e) => e.type === 'unreachable')?.peers ?? [];
      await until(() => latest(li).length === 2 && latest(sam).length === 2, MEDIA_MS);
      expect([li.datacenter(), sam.datacenter()], JSON.stringify(li.events.filter((e) => e.type === 'refused' || e.type === 'bridge-refused' || e.type === 'failed'))).toEqual(['cn-beijing', 'us-east']);
      const said = (caller: Caller): string[] => latest(caller).map((n) => `${n.name} ${n.direction} ${n.reason}`).sort();
      expect(said(li)).toEqual(['Sam from FENCE', 'Sam to FENCE']);
      expect(said(sam)).toEqual(['Li from FENCE', 'Li to FENCE']);
      // A second of media flowing on each side, and none of it on the other's bridge.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(hopsOf(cluster.broker.context, enclave)).toEqual([]);
      for (const dc of ['cn-beijing', 'us-east']) {
        const room = cluster.bridges.get(dc)?.rooms.get(enclave);
        expect([room?.remotes.size, room?.relays.size], dc).toEqual([0, 0]);
      }
      expect(li.events.some((e) => e.type === 'track-added')).toBe(false);
      expect(sam.events.some((e) => e.type === 'track-added')).toBe(false);
    } finally {
      li.leave();
      sam.leave();
    }
  });

  it('audits each hop once per participant it carries, in the broker\u2019s log', async () => {
    const records = await cluster.broker.context.audit.read();
    const opened = records.filter((r) => r.type === 'relay.opened').map((r) => `${String(r.data.from)}→${String(r.data.to)}:${String(r.data.participant)}`);
    expect(opened.sort()).toEqual(hopsOf(cluster.broker.context, meeting).map((h) => `${h.from}→${h.to}:${h.streams.join(',')}`).sort());
  });

  it('refuses a relay whose bridge cannot prove the receiving datacenter\u2019s key, a ticket used twice, and a ticket for another hop', async () => {
    const ctx = cluster.broker.context;
    const keyOf = (dc: string): string => String(ctx.config.bridgePublicJwks[dc]?.x);
    const ticket = async (from: string, to: string): Promise<{ token: string; jti: string }> => {
      const issued = await issueRelayTicket(ctx.keys, { issuer: ctx.config.issuer, meeting, from, to, fromKey: keyOf(from), toKey: keyOf(to), manifest: ctx.policy.current.sha256, e2ee: false, streams: [ids.get('Anna') ?? ''] });
      return { token: issued.token, jti: issued.claims.jti };
    };
    const url = cluster.bridges.get('eu-central')?.url ?? '';
    const tokyoKey = await signingKey(cluster.identities.get('ap-tokyo'));
    const usKey = await signingKey(cluster.identities.get('us-east'));

    const good = await ticket('eu-central', 'ap-tokyo');
    // Signed by us-east's key: the ticket names ap-tokyo's.
    expect(await relayAnswer(url, good.token, await proofBy(usKey, 'ap-tokyo', good.jti))).toMatchObject({ type: 'refused', code: 'BRIDGE_PROOF_INVALID' });
    // The refused attempt did not spend the ticket; the first proper use does.
    // A bridge of a geobridge before hops were bound to a DTLS certificate signs none.
    expect(await relayAnswer(url, good.token, await proofBy(tokyoKey, 'ap-tokyo', good.jti, null))).toMatchObject({ type: 'refused', code: 'BRIDGE_PROOF_INVALID' });
    expect(await relayAnswer(url, good.token, await proofBy(tokyoKey, 'ap-tokyo', good.jti))).toMatchObject({ type: 'relay-admitted' });
    expect(await relayAnswer(url, good.token, await proofBy(tokyoKey, 'ap-tokyo', good.jti))).toMatchObject({ type: 'refused', code: 'RELAY_TICKET_REUSED' });
    const elsewhere = await ticket('us-east', 'ap-tokyo');
    expect(await relayAnswer(url, elsewhere.token, await proofBy(tokyoKey, 'ap-tokyo', elsewhere.jti))).toMatchObject({ type: 'refused', code: 'RELAY_TICKET_WRONG_DATACENTER' });
  });

  it('carries nothing of a participant the fences keep out, even when the ticket names them', async () => {
    const ctx = cluster.broker.context;
    const keyOf = (dc: string): string => String(ctx.config.bridgePublicJwks[dc]?.x);
    // A hop eu-central → us-east naming Anna, as a stale or wrong plan might: the sending bridge checks her fence itself.
    const issued = await issueRelayTicket(ctx.keys, { issuer: ctx.config.issuer, meeting, from: 'eu-central', to: 'us-east', fromKey: keyOf('eu-central'), toKey: keyOf('us-east'), manifest: ctx.policy.current.sha256, e2ee: true, streams: [ids.get('Anna') ?? ''] });
    const usKey = await signingKey(cluster.identities.get('us-east'));
    const frames = await relayFrames(cluster.bridges.get('eu-central')?.url ?? '', issued.token, await proofBy(usKey, 'us-east', issued.claims.jti), 3000);
    const admitted = frames.find((m) => m.type === 'relay-admitted');
    expect(admitted).toMatchObject({ type: 'relay-admitted', peers: [] });
    const offers = frames.filter((m): m is Extract<BridgeMessage, { type: 'offer' }> => m.type === 'offer');
    expect(offers.flatMap((o) => o.streams)).toEqual([]);
  });

  it('opens again a hop a receiving bridge lost while the plan still holds it, when the broker refreshes its hops', async () => {
    const ctx = cluster.broker.context;
    const tokyo = (): Room | undefined => cluster.bridges.get('ap-tokyo')?.rooms.get(meeting);
    const annaId = ids.get('Anna') ?? '';
    // As a network fault between the bridges would: Tokyo's link from eu-central goes, the plan is unchanged.
    await ctx.control.relayEnd('ap-tokyo', meeting, 'eu-central', 'test: the link broke');
    await until(() => tokyo()?.remotes.has(annaId) === false, MEDIA_MS);
    expect(tokyo()?.remotes.has(annaId)).toBe(false);
    await refreshHops(ctx);
    const base = got(kenji, anna);
    await until(() => got(kenji, anna) > base + 20, MEDIA_MS);
    expect(got(kenji, anna)).toBeGreaterThan(base + 20);
    // A refresh audits nothing new: the hop carries what it carried.
    const opened = (await ctx.audit.read()).filter((r) => r.type === 'relay.opened' && r.data.participant === annaId);
    expect(opened).toHaveLength(1);
  });

  it('ends a hop whose media path failed on the sending side, and the receiving bridge has the broker open it again at once', async () => {
    const tokyo = (): Room | undefined => cluster.bridges.get('ap-tokyo')?.rooms.get(meeting);
    const sending = cluster.bridges.get('eu-central')?.rooms.get(meeting);
    const annaId = ids.get('Anna') ?? '';
    const relay = sending?.relays.get('relay:ap-tokyo');
    const remote = tokyo()?.remotes.get(annaId);
    expect(relay).toBeDefined();
    expect(remote).toBeDefined();
    // As werift reports a path whose consent expired or whose DTLS handshake failed; the receiving side
    // (here, its handshake done) may still say connected, and would go on holding a hop that carries nothing.
    relay?.pc.connectionStateChange.execute('failed');
    // Tokyo drops Anna and the broker opens the hop again at once, so on a loaded box Anna may already be
    // back when this looks: a new remote (not the one the dead hop fed) is what shows the old one went.
    await until(() => tokyo()?.remotes.get(annaId) !== remote && sending?.relays.get('relay:ap-tokyo') !== relay, MEDIA_MS);
    expect(tokyo()?.remotes.get(annaId)).not.toBe(remote);
    expect(sending?.relays.get('relay:ap-tokyo')).not.toBe(relay);
    // Tokyo told the broker, which sent a fresh ticket then and there (not at its next refresh, up to 15 s later).
    const told = (): Record<string, unknown>[] => brokerLog.filter((l) => l.msg === 'relay lost' && l.meeting === meeting && l.from === 'eu-central' && l.to === 'ap-tokyo');
    await until(() => told().length > 0, MEDIA_MS);
    expect(told().map((l) => [l.reopened, String(l.reason)])).toEqual([[true, expect.stringContaining('RELAY_FAILED') as string]]);
    const base = got(kenji, anna);
    await until(() => got(kenji, anna) > base + 20, MEDIA_MS);
    expect(got(kenji, anna)).toBeGreaterThan(base + 20);
  });

  it('rebuilds the hops when a bridge dies: its participant moves inside her fence, and the others get her media again', async () => {
    const ctx = cluster.broker.context;
    const annaId = ids.get('Anna') ?? '';
    const killed = performance.now();
    await cluster.bridges.get('eu-central')?.close();
    cluster.bridges.delete('eu-central');
    await until(() => SPARE.includes(anna.datacenter() ?? ''), MEDIA_MS);
    expect(SPARE).toContain(anna.datacenter());
    const moved = anna.datacenter() ?? '';
    const base = got(kenji, anna);
    await until(() => got(kenji, anna) > base + 20 && got(anna, kenji) > 20, MEDIA_MS);
    const backMs = Math.round(performance.now() - killed);
    const tokyo = cluster.bridges.get('ap-tokyo')?.rooms.get(meeting);
    const seen = { hops: hopsOf(ctx, meeting).map((h) => `${h.from}→${h.to}:${h.streams.join(',')}`), tokyoRemotes: [...(tokyo?.remotes.keys() ?? [])], tokyoRemoteStreams: [...(tokyo?.remotes.get(annaId)?.published.keys() ?? [])], southRelays: [...(cluster.bridges.get(moved)?.rooms.get(meeting)?.relays.keys() ?? [])] };
    expect(got(kenji, anna), `Kenji gets Anna's video from ${moved} again (${JSON.stringify(seen)})`).toBeGreaterThan(base + 20);
    expect(got(anna, kenji), `Anna gets Kenji's video on ${moved}`).toBeGreaterThan(20);
    expect(hopsOf(ctx, meeting).filter((h) => h.streams.includes(annaId)).map((h) => `${h.from}→${h.to}`)).toEqual([`${moved}→ap-tokyo`]);
    // Still never towards the US.
    expect(got(ben, anna)).toBe(0);
    console.log(JSON.stringify({ cascadeFailover: { killed: 'eu-central', movedTo: moved, mediaBackMs: backMs } }));
  });

  it('closes the hops of a participant who leaves, and audits it', async () => {
    anna.leave();
    const ctx = cluster.broker.context;
    await until(() => !hopsOf(ctx, meeting).some((h) => h.streams.includes(ids.get('Anna') ?? '')), MEDIA_MS);
    expect(hopsOf(ctx, meeting).some((h) => h.streams.includes(ids.get('Anna') ?? ''))).toBe(false);
    await until(() => cluster.bridges.get('ap-tokyo')?.rooms.get(meeting)?.remotes.has(ids.get('Anna') ?? '') === false, MEDIA_MS);
    expect(cluster.bridges.get('ap-tokyo')?.rooms.get(meeting)?.remotes.has(ids.get('Anna') ?? '')).toBe(false);
    // The broker tells the bridge before it writes the record: wait for the record, not the bridge.
    const closedHops = async (): Promise<string[]> => (await ctx.audit.read()).filter((r) => r.type === 'relay.closed' && r.data.participant === ids.get('Anna')).map((r) => `${String(r.data.from)}→${String(r.data.to)}`);
    const deadline = Date.now() + MEDIA_MS;
    while ((await closedHops()).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // Her first hop closed when eu-central died, her second when she left.
    expect(await closedHops()).toEqual(['eu-central→ap-tokyo', `${anna.datacenter() ?? ''}→ap-tokyo`]);
  });
});

/** A bridge's private key, as its identity JWK holds it. */
async function signingKey(jwk: JWK | undefined): Promise<CryptoKey> {
  const key = await importJWK(jwk ?? {}, 'EdDSA');
  if (key instanceof Uint8Array) throw new Error('not an Ed25519 key');
  return key;
}

/** A relaying bridge's proof: `BridgeProof` by `datacenter`, over `challenge`, for the ticket's jti. */
async function proofBy(key: CryptoKey, datacenter: string, jti: string, fingerprint: string | null = DTLS): Promise<{ challenge: string; proof: string }> {
  const challenge = randomBytes(32).toString('base64url');
  return { challenge, proof: await signBridgeProof(key, { datacenter, challenge, participant: jti, at: Date.now(), fingerprint: fingerprint ?? undefined }) };
}

/** The first answer a bridge gives to a `relay` message. */
async function relayAnswer(url: string, ticket: string, signed: { challenge: string; proof: string }): Promise<BridgeMessage | undefined> {
  return (await relayFrames(url, ticket, signed, 0, 1))[0];
}

/** What a bridge sends a relay in `ms` (or until `count` frames). */
function relayFrames(url: string, ticket: string, signed: { challenge: string; proof: string }, ms: number, count = Infinity): Promise<BridgeMessage[]> {
  return new Promise((resolve, reject) => {
    const frames: BridgeMessage[] = [];
    const ws = new WebSocket(url, SIGNALLING_SUBPROTOCOL);
    const done = (): void => {
      clearTimeout(timer);
      ws.close();
      resolve(frames);
    };
    const timer = setTimeout(done, ms === 0 ? 15_000 : ms);
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'relay', ticket, ...signed }));
    });
    ws.on('message', (data) => {
      const parsed = parseBridgeMessage(Buffer.isBuffer(data) ? data.toString('utf8') : '');
      if (!parsed.ok) {
        reject(new Error(parsed.error));
        return;
      }
      frames.push(parsed.message);
      if (frames.length >= count) done();
    });
    ws.on('error', reject);
  });
}
