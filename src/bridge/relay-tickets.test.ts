/**
 * A cascade hop lives only as long as the relay ticket it runs on
 * (docs/cascading.md#relay-tickets), as eu-central's bridge holds it to the
 * receiving ends the test plays with the bridge's own RelayLink: a hop whose
 * ticket expires without a newer one is ended at `exp` plus the clock
 * tolerance, and one renewed in time is not; a ticket whose other end's key
 * is not the one the broker publishes for that datacenter opens no hop, on
 * either side; and when the broker revokes a key, the hop whose ticket it
 * signed is ended while the others go on. The revoked key is one a thief
 * copied before a rotation, who mints a ticket with it
 * (docs/security.md#known-limits).
 */
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { MediaStreamTrack, RTCRtpReceiver } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { issueRelayTicket } from '../broker/tickets.js';
import { signBridgeProof } from '../protocol/bridge-proof.js';
import { CLOCK_TOLERANCE_SECONDS } from '../protocol/jwt.js';
import { RELAY_TICKET_AUDIENCE, RELAY_TICKET_TYPE, verifyRelayTicket } from '../protocol/relay-ticket.js';
import { SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { joinCall, until, type Caller } from './participant.fixture.js';
import { RelayLink } from './relay-link.js';
import { Room, type RemotePeer, type Slot } from './sfu.js';

/** A loaded 2-core machine runs other test files beside this one. */
const MEDIA_MS = 30_000;

let cluster: Cluster;
let meeting: string;
let anna: Caller;
let annaId: string;
/** The key that signed tickets before the rotation, as a thief copied its file then. */
let stolen: { kid: string; key: KeyObject };
/** What the bridges logged. */
const bridgeLog: Readonly<Record<string, unknown>>[] = [];

beforeAll(async () => {
  // Only eu-central runs: the hops the test opens are the only ones, and the broker plans none.
  cluster = await startCluster(['eu-central', 'ap-tokyo', 'eu-west'], ['eu-central'], { cascade: true, bridge: { log: (line) => bridgeLog.push(line) } });
  const kid = cluster.broker.context.keys.currentKid;
  stolen = { kid, key: createPrivateKey(readFileSync(join(cluster.dataDir, 'keys', `ticket-${kid}.pem`))) };
  // A rotation on schedule: the old key is retired (it still verifies), Anna's ticket is the new key's.
  const rotated = await cluster.admin('/v1/admin/keys/rotate');
  expect(rotated.status).toBe(200);
  meeting = await cluster.meeting('Relay tickets');
  anna = await joinCall(cluster, meeting, 'Anna', 'DE', { publish: true });
  await until(() => anna.datacenter() !== undefined && (euRoom()?.participants.size ?? 0) === 1, MEDIA_MS);
  annaId = [...(euRoom()?.participants.keys() ?? [])][0] ?? '';
  expect(anna.datacenter()).toBe('eu-central');
}, 120_000);

afterAll(async () => {
  anna.leave();
  await cluster.close();
}, 60_000);

const euRoom = (): Room | undefined => cluster.bridges.get('eu-central')?.rooms.get(meeting);
const keyOf = (dc: string): string => String(cluster.broker.context.config.bridgePublicJwks[dc]?.x);

/** A relay ticket for a hop of Anna's meeting (or `options.meeting`), signed by the broker's current key. */
async function ticket(from: string, to: string, options: { expiresInSeconds?: number; fromKey?: string; toKey?: string; streams?: string[]; meeting?: string } = {}): Promise<{ token: string; exp: number }> {
  const ctx = cluster.broker.context;
  const issued = await issueRelayTicket(ctx.keys, {
    issuer: ctx.config.issuer,
    meeting: options.meeting ?? meeting,
    from,
    to,
    fromKey: options.fromKey ?? keyOf(from),
    toKey: options.toKey ?? keyOf(to),
    manifest: ctx.policy.current.sha256,
    e2ee: false,
    streams: options.streams ?? [annaId],
    ...(options.expiresInSeconds === undefined ? {} : { expiresInSeconds: options.expiresInSeconds }),
  });
  return { token: issued.token, exp: issued.claims.exp };
}

/** A room that counts the RTP packets the hops into it bring. */
class CountingRoom extends Room {
  packets = 0;

  override publishRemote(remote: RemotePeer, slot: Slot, track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    track.onReceiveRtp.subscribe(() => {
      this.packets++;
    });
    super.publishRemote(remote, slot, track, receiver);
  }
}

interface Tap {
  readonly link: RelayLink;
  packets(): number;
  /** Why the hop closed, and when (wall clock ms), once it has. */
  closed(): { why: string; at: number } | undefined;
}

/** The receiving end of a hop from eu-central with `token`, proving it holds `key` for datacenter `to`. */
async function tap(to: string, token: string, key: CryptoKey): Promise<Tap> {
  const sink = new CountingRoom(meeting, { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 });
  const claims = await verifyRelayTicket(cluster.broker.context.keys.keyResolver(), token, { now: new Date() });
  let closed: { why: string; at: number } | undefined;
  const link = new RelayLink({
    room: sink,
    url: cluster.bridges.get('eu-central')?.url ?? '',
    ticket: token,
    claims,
    link: { prove: (challenge, participant, fingerprint) => signBridgeProof(key, { datacenter: to, challenge, participant, at: Date.now(), fingerprint }) },
    log: () => undefined,
    onClosed: (why) => {
      closed = { why, at: Date.now() };
    },
  });
  return { link, packets: () => sink.packets, closed: () => closed };
}

/** A bridge's private key, as its identity JWK holds it. */
async function bridgeKey(dc: string): Promise<CryptoKey> {
  return privateKey(cluster.identities.get(dc));
}

async function privateKey(jwk: JWK | undefined): Promise<CryptoKey> {
  const key = await importJWK(jwk ?? {}, 'EdDSA');
  if (key instanceof Uint8Array) throw new Error('not an Ed25519 key');
  return key;
}

/** An Ed25519 key pair no datacenter has: its private key and its public `x`. */
async function strangerKey(): Promise<{ key: CryptoKey; x: string }> {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  return { key: pair.privateKey, x: String((await exportJWK(pair.publicKey)).x) };
}

const ended = (code: string): Readonly<Record<string, unknown>>[] => bridgeLog.filter((l) => l.msg === 'relay ended' && l.code === code);

describe('a hop lives as long as its relay ticket', () => {
  it('is ended when its ticket expires, after the clock tolerance, if no newer ticket came', async () => {
    const first = await ticket('eu-central', 'ap-tokyo');
    const hop = await tap('ap-tokyo', first.token, await bridgeKey('ap-tokyo'));
    try {
      await until(() => hop.packets() > 20, MEDIA_MS);
      expect(hop.packets(), 'Anna’s video crosses the hop').toBeGreaterThan(20);
      // The hop now runs on a ticket that lives one second, and nothing renews it.
      const short = await ticket('eu-central', 'ap-tokyo', { expiresInSeconds: 1 });
      hop.link.update(short.token);
      await until(() => hop.closed() !== undefined, MEDIA_MS);
      expect(hop.closed()?.why ?? 'still open').toContain('RELAY_TICKET_EXPIRED');
      // Not before the tolerance every token gets: a broker's clock a little ahead cuts no hop.
      expect(hop.closed()?.at).toBeGreaterThanOrEqual((short.exp + CLOCK_TOLERANCE_SECONDS) * 1000);
      await until(() => euRoom()?.relays.has('relay:ap-tokyo') === false, MEDIA_MS);
      expect(euRoom()?.relays.has('relay:ap-tokyo')).toBe(false);
      expect(ended('RELAY_TICKET_EXPIRED')).toHaveLength(1);
    } finally {
      hop.link.close('test done');
    }
  }, 90_000);

  it('is not ended at its first ticket’s expiry when a newer ticket renewed it in time', async () => {
    const short = await ticket('eu-central', 'ap-tokyo', { expiresInSeconds: 2 });
    const hop = await tap('ap-tokyo', short.token, await bridgeKey('ap-tokyo'));
    try {
      // As the broker's refresh does (every 15 s, each ticket good for the route ticket lifetime).
      hop.link.update((await ticket('eu-central', 'ap-tokyo')).token);
      // Past the short ticket's end, its tolerance and a tick of the bridge's clock, on a loaded machine.
      const past = (short.exp + CLOCK_TOLERANCE_SECONDS) * 1000 + 3000;
      await until(() => Date.now() > past || hop.closed() !== undefined, MEDIA_MS);
      expect(hop.closed()).toBeUndefined();
      const base = hop.packets();
      await until(() => hop.packets() > base + 20, MEDIA_MS);
      expect(hop.packets()).toBeGreaterThan(base + 20);
    } finally {
      hop.link.close('test done');
    }
  }, 90_000);
});

describe('a hop leaves nothing behind', () => {
  it('takes away, when it closes, the room it made for a meeting with nobody on the sending bridge', async () => {
    const nobody = await cluster.meeting('Nobody here');
    const rooms = (): ReadonlyMap<string, Room> | undefined => cluster.bridges.get('eu-central')?.rooms;
    const hop = await tap('ap-tokyo', (await ticket('eu-central', 'ap-tokyo', { meeting: nobody })).token, await bridgeKey('ap-tokyo'));
    await until(() => rooms()?.get(nobody)?.relays.has('relay:ap-tokyo') === true, MEDIA_MS);
    expect(rooms()?.get(nobody)?.relays.has('relay:ap-tokyo')).toBe(true);
    hop.link.close('test done');
    await until(() => rooms()?.has(nobody) === false, MEDIA_MS);
    expect(rooms()?.has(nobody)).toBe(false);
  }, 90_000);
});

describe('a relay ticket names the bridge keys the broker publishes', () => {
  it('opens no hop to a bridge whose key the broker does not publish for the receiving datacenter', async () => {
    const stranger = await strangerKey();
    // ap-tokyo's name with another key; then uk-south, for which the broker has no key at all.
    for (const to of ['ap-tokyo', 'uk-south']) {
      const forged = await ticket('eu-central', to, { toKey: stranger.x });
      const hop = await tap(to, forged.token, stranger.key);
      try {
        await until(() => hop.closed() !== undefined, MEDIA_MS);
        expect(hop.closed()?.why ?? 'still open', to).toContain('RELAY_TICKET_INVALID');
        expect(hop.link.admitted, to).toBe(false);
        expect(hop.packets(), to).toBe(0);
      } finally {
        hop.link.close('test done');
      }
    }
  }, 90_000);

  it('does not connect to a sending bridge the ticket names another key for than the broker publishes', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => SIGNALLING_SUBPROTOCOL });
    await new Promise((resolve) => wss.once('listening', resolve));
    const address = wss.address();
    const url = `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/signal`;
    const connections: string[] = [];
    wss.on('connection', (ws) => {
      ws.once('message', (data: Buffer) => {
        connections.push((JSON.parse(data.toString('utf8')) as { type: string }).type);
        ws.close();
      });
    });
    try {
      const stranger = await strangerKey();
      // The broker tells eu-central to pull from "ap-tokyo" at the test's URL, with a ticket naming a key that is not ap-tokyo's.
      const forged = await ticket('ap-tokyo', 'eu-central', { fromKey: stranger.x, streams: ['someone'] });
      await cluster.broker.context.control.relay('eu-central', { meeting, from: 'ap-tokyo', url, ticket: forged.token });
      const refused = (): Readonly<Record<string, unknown>>[] => bridgeLog.filter((l) => l.msg === 'relay not opened' && l.from === 'ap-tokyo');
      await until(() => refused().length > 0 || connections.length > 0, MEDIA_MS);
      expect(refused().map((l) => l.code)).toEqual(['RELAY_TICKET_INVALID']);
      expect(connections).toEqual([]);
      // The same with ap-tokyo's own key connects: the check is the key, not the hop.
      const proper = await ticket('ap-tokyo', 'eu-central', { streams: ['someone'] });
      await cluster.broker.context.control.relay('eu-central', { meeting, from: 'ap-tokyo', url, ticket: proper.token });
      await until(() => connections.length > 0, MEDIA_MS);
      expect(connections).toEqual(['relay']);
    } finally {
      await new Promise((resolve) => {
        wss.close(resolve);
      });
    }
  }, 90_000);
});

describe('the broker revokes a key', () => {
  it('ends the hop whose ticket that key signed, and no other', async () => {
    const ctx = cluster.broker.context;
    // The thief's ticket, signed with the copied key, now retired: still good until revoked.
    const iat = Math.floor(Date.now() / 1000);
    const minted = await new SignJWT({ meeting, from: 'eu-central', to: 'ap-tokyo', fromKey: keyOf('eu-central'), toKey: keyOf('ap-tokyo'), manifest: ctx.policy.current.sha256, e2ee: false, streams: [annaId] })
      .setProtectedHeader({ alg: 'EdDSA', kid: stolen.kid, typ: RELAY_TICKET_TYPE })
      .setAudience(RELAY_TICKET_AUDIENCE)
      .setSubject('ap-tokyo')
      .setIssuer(ctx.config.issuer)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 120)
      .setJti(randomUUID())
      .sign(stolen.key);
    const thief = await tap('ap-tokyo', minted, await bridgeKey('ap-tokyo'));
    // A hop on the current key's ticket, to another bridge.
    const honest = await tap('eu-west', (await ticket('eu-central', 'eu-west')).token, await bridgeKey('eu-west'));
    try {
      await until(() => thief.packets() > 20 && honest.packets() > 20, MEDIA_MS);
      expect([thief.packets(), honest.packets()].map((n) => n > 20), 'both hops carry Anna’s video').toEqual([true, true]);

      const revoked = await cluster.admin('/v1/admin/keys/revoke', { kid: stolen.kid });
      expect(revoked.status).toBe(200);
      await until(() => thief.closed() !== undefined, MEDIA_MS);
      expect(thief.closed()?.why ?? 'still open').toContain('KEY_REVOKED');
      await until(() => euRoom()?.relays.has('relay:ap-tokyo') === false, MEDIA_MS);
      expect([...(euRoom()?.relays.keys() ?? [])]).toEqual(['relay:eu-west']);
      expect(ended('KEY_REVOKED')).toHaveLength(1);

      // The other hop goes on, and so does Anna, whose ticket the new key signed.
      const base = honest.packets();
      await until(() => honest.packets() > base + 20, MEDIA_MS);
      expect(honest.packets()).toBeGreaterThan(base + 20);
      expect(honest.closed()).toBeUndefined();
      expect(euRoom()?.participants.has(annaId)).toBe(true);
    } finally {
      thief.link.close('test done');
      honest.link.close('test done');
    }
  }, 90_000);
});
