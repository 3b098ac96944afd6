/**
 * Bridges with Node participants (werift on both ends, real sockets on
 * 127.0.0.1): admission only with a valid ticket for this datacenter,
 * forwarding between participants, placement and redirects, and the audit.
 */
import { join } from 'node:path';
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket, useOPUS, useVP8 } from 'werift';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { KeyRing } from '../broker/keys.js';
import { SigningKeyFiles } from '../broker/signing-key-secrets.js';
import { SqliteStore } from '../broker/store/sqlite-store.js';
import { reissueRouteTicket } from '../broker/ticket.fixture.js';
import type { SessionEvent } from '../sdk/node.js';
import { newChallenge } from '../sdk/bridge-proof.js';
import { nodeSession } from '../sdk/node.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { MAX_REPLAY_PACKETS } from './sfu.js';
import { syntheticVideo, until, waitFor } from './participant.fixture.js';
import { readRouteTicketUnverified } from '../protocol/route-ticket.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east', 'us-west', 'eu-north', 'cn-beijing'], ['us-east', 'us-west', 'eu-north']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});


/** The broker's key ring options on the cluster's data directory: its secrets, as that broker's holder (a ring of its own would sign with a key the broker does not publish). */
function brokerKeyOptions(): { secrets: SigningKeyFiles; holder: string } {
  const secrets = new SigningKeyFiles(cluster.dataDir);
  return { secrets, holder: secrets.holder() };
}
/** Ada alone in a new meeting on us-east, connected, sending nothing. */
async function adaAlone(): Promise<{ meeting: string; a: ReturnType<typeof nodeSession>; events: SessionEvent<MediaStreamTrack>[] }> {
  const meeting = await cluster.meeting();
  const events: SessionEvent<MediaStreamTrack>[] = [];
  const a = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), country: 'US', onEvent: (e) => events.push(e) });
  a.join();
  await waitFor(events, (e) => (e.type === 'connected' ? e : undefined));
  return { meeting, a, events };
}

describe('bridge with Node participants', () => {
  it("admits two participants of a meeting and forwards one to the other, on the subscriber's own m-line (MID)", async () => {
    const meeting = await cluster.meeting();
    const video = syntheticVideo();
    const aEvents: SessionEvent<MediaStreamTrack>[] = [];
    const bEvents: SessionEvent<MediaStreamTrack>[] = [];
    const a = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), country: 'US', tracks: { video: video.track }, onEvent: (e) => aEvents.push(e) });
    const b = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Bo'), country: 'US', onEvent: (e) => bEvents.push(e) });
    a.join();
    const connected = await waitFor(aEvents, (e) => (e.type === 'connected' ? e : undefined));
    expect(connected).toMatchObject({ datacenter: 'us-east', jurisdiction: 'US', role: 'primary', attempts: 1 });
    b.join();
    await waitFor(bEvents, (e) => (e.type === 'connected' ? e : undefined));
    const track = await waitFor(bEvents, (e) => (e.type === 'track-added' && e.kind === 'video' ? e.track : undefined));
    let received = 0;
    const mids = new Set<string>();
    track.onReceiveRtp.subscribe((rtp) => {
      received++;
      // The only header extension the bridge negotiates is the MID.
      for (const e of rtp.header.extensions) mids.add(e.payload.toString('utf8'));
    });
    await until(() => received > 5, 5000);
    expect(received).toBeGreaterThan(5);
    expect(bEvents.some((e) => e.type === 'participant-joined' && e.peer.name === 'Ada')).toBe(true);
    // A browser routes a packet by its MID header extension before its SSRC: the publisher's MID (or a relay
    // hop's) on the subscriber's connection names another m-line there, and the stream is lost.
    const room = cluster.bridges.get('us-east')?.rooms.get(meeting);
    const ada = [...(room?.participants.values() ?? [])].find((p) => p.name === 'Ada');
    const bo = [...(room?.participants.values() ?? [])].find((p) => p.name === 'Bo');
    const sent = bo?.outgoing.find((o) => o.publisher === ada?.id && o.slot === 'video')?.transceiver.mid;
    expect(sent).toBeDefined();
    expect(sent).not.toBe(ada?.incoming.get('video')?.transceiver.mid);
    expect([...mids]).toEqual([sent]);
    a.leave();
    b.leave();
    video.stop();
  }, 30_000);

  it("ends a session whose media path failed on the bridge's side, and the SDK reconnects at once", async () => {
    const { meeting, a, events } = await adaAlone();
    try {
      const room = cluster.bridges.get('us-east')?.rooms.get(meeting);
      const first = [...(room?.participants.values() ?? [])][0];
      expect(first).toBeDefined();
      // As werift reports a path whose consent expired or whose DTLS handshake failed: the client's side may
      // still say connected (its handshake completed), and would wait on a connection that carries nothing.
      first?.pc.connectionStateChange.execute('failed');
      const refused = await waitFor(events, (e) => (e.type === 'bridge-refused' ? e : undefined));
      expect(refused).toMatchObject({ datacenter: 'us-east', code: 'MEDIA_PATH_FAILED' });
      await until(() => events.filter((e) => e.type === 'connected').length === 2, 10_000);
      const again = [...(cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.values() ?? [])];
      expect(again).toHaveLength(1);
      expect(again[0]).not.toBe(first);
    } finally {
      a.leave();
    }
  }, 30_000);

  it('is the DTLS client of every connection, and the SDK answers as the server', async () => {
    // A browser's ClientHello sent before werift's ICE agent had nominated a pair was dropped and resent a
    // second later; as the client the bridge starts the handshake itself once ICE is up (sfu.ts).
    const { meeting, a } = await adaAlone();
    try {
      const transports = () => [...(cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.values() ?? [])].flatMap((p) => p.pc.dtlsTransports);
      await until(() => transports().length > 0 && transports().every((t) => t.state === 'connected'), 10_000);
      expect(transports().map((t) => t.role)).toEqual(['client']);
    } finally {
      a.leave();
    }
  }, 30_000);

  it('publishes a stream when the answer says it sends, before its first packet, and the first packet reaches the subscriber', async () => {
    const meeting = await cluster.meeting();
    // Ada's camera sends nothing yet (as under E2EE before the keys are agreed); she has no microphone.
    const camera = new MediaStreamTrack({ kind: 'video' });
    const aEvents: SessionEvent<MediaStreamTrack>[] = [];
    const bEvents: SessionEvent<MediaStreamTrack>[] = [];
    const a = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), country: 'US', tracks: { video: camera }, onEvent: (e) => aEvents.push(e) });
    const b = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Bo'), country: 'US', onEvent: (e) => bEvents.push(e) });
    try {
      a.join();
      await waitFor(aEvents, (e) => (e.type === 'connected' ? e : undefined));
      b.join();
      // Bo negotiates Ada's camera with no packet of it sent anywhere.
      const track = await waitFor(bEvents, (e) => (e.type === 'track-added' && e.kind === 'video' ? e.track : undefined));
      const sequence: number[] = [];
      track.onReceiveRtp.subscribe((rtp) => sequence.push(rtp.header.sequenceNumber));
      // Once both transports are up (Ada's first packet was the only thing still missing), a key frame from her reaches Bo.
      await until(() => [...(cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.values() ?? [])].every((p) => p.pc.connectionState === 'connected'), 10_000);
      await new Promise((r) => setTimeout(r, 200));
      let seq = 100;
      const timer = setInterval(() => {
        seq++;
        const payload = Buffer.alloc(200, 7);
        payload.set([0x10, 0x50, 0x02, 0x00]);
        camera.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 5678, marker: true }), payload));
      }, 20);
      try {
        await until(() => sequence.length > 5, 5000);
      } finally {
        clearInterval(timer);
      }
      expect(sequence.length).toBeGreaterThan(5);
      // No stream for the microphone Ada does not have: an m-line she leaves inactive publishes nothing.
      expect(bEvents.flatMap((e) => (e.type === 'track-added' ? [e.kind] : []))).toEqual(['video']);
    } finally {
      a.leave();
      b.leave();
    }
  }, 30_000);
});

describe('streams announced in join', () => {
  it('are in the others\' offers before the announcer answers, and withdrawn when its answer does not send them', async () => {
    const meeting = await cluster.meeting();
    const boEvents: SessionEvent<MediaStreamTrack>[] = [];
    const bo = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Bo'), country: 'US', onEvent: (e) => boEvents.push(e) });
    bo.join();
    await waitFor(boEvents, (e) => (e.type === 'connected' ? e : undefined));
    // The announcer speaks the protocol by hand, so that it can hold its answer back.
    const { ticket, bridges } = await route(meeting);
    const received: { type: string; sdp?: string; participant?: string }[] = [];
    const ws = new WebSocket(bridges['us-east'] ?? '', SIGNALLING_SUBPROTOCOL);
    ws.on('message', (data: Buffer) => received.push(JSON.parse(data.toString('utf8')) as { type: string }));
    await new Promise((resolve) => ws.on('open', resolve));
    try {
      ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge(), sends: ['audio', 'video'] }));
      await until(() => received.some((m) => m.type === 'offer'), 10_000);
      const offer = received.find((m) => m.type === 'offer');
      const announcer = received.find((m) => m.type === 'admitted')?.participant;
      // Bo negotiates both streams while the announcer has not answered anything.
      const added = async (kind: string): Promise<void> => {
        await waitFor(boEvents, (e) => (e.type === 'track-added' && e.peer === announcer && e.kind === kind ? e : undefined));
      };
      await Promise.all([added('audio'), added('video')]);
      expect(received.filter((m) => m.type === 'offer')).toHaveLength(1);
      // Its answer sends nothing (no tracks): both are withdrawn, and Bo's next offer drops them.
      const pc = new RTCPeerConnection({ codecs: { audio: [useOPUS()], video: [useVP8()] } });
      await pc.setRemoteDescription({ type: 'offer', sdp: offer?.sdp ?? '' });
      await pc.setLocalDescription(await pc.createAnswer());
      ws.send(JSON.stringify({ type: 'answer', sdp: pc.localDescription?.sdp ?? '' }));
      const removed = async (kind: string): Promise<void> => {
        await waitFor(boEvents, (e) => (e.type === 'track-removed' && e.peer === announcer && e.kind === kind ? e : undefined));
      };
      await Promise.all([removed('audio'), removed('video')]);
      const room = cluster.bridges.get('us-east')?.rooms.get(meeting);
      expect([...(room?.participants.get(announcer ?? '')?.published.keys() ?? [])]).toEqual([]);
      await pc.close();
    } finally {
      ws.close();
      bo.leave();
    }
  }, 30_000);
});

describe('codecs in one BUNDLE group', () => {
  it('give every Opus m-line of an offer the same format parameters, the ones browsers answer with', async () => {
    // Chromium answers Opus with minptime=10;useinbandfec=1 and refuses to bundle one payload type with two sets
    // of parameters ("codec collision", an error since Chromium 156): the bridge's own m-lines must carry the same.
    const meeting = await cluster.meeting();
    const adaEvents: SessionEvent<MediaStreamTrack>[] = [];
    const ada = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), country: 'US', tracks: { audio: new MediaStreamTrack({ kind: 'audio' }) }, onEvent: (e) => adaEvents.push(e) });
    ada.join();
    await waitFor(adaEvents, (e) => (e.type === 'connected' ? e : undefined));
    const { ticket, bridges } = await route(meeting);
    const offers: string[] = [];
    const ws = new WebSocket(bridges['us-east'] ?? '', SIGNALLING_SUBPROTOCOL);
    const pc = new RTCPeerConnection({ codecs: { audio: [useOPUS({ parameters: 'minptime=10;useinbandfec=1' })], video: [useVP8()] } });
    pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as { type: string; sdp?: string };
      if (m.type !== 'offer' || m.sdp === undefined) return;
      offers.push(m.sdp);
      void (async () => {
        await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp ?? '' });
        await pc.setLocalDescription(await pc.createAnswer());
        ws.send(JSON.stringify({ type: 'answer', sdp: pc.localDescription?.sdp ?? '' }));
      })();
    });
    await new Promise((resolve) => ws.on('open', resolve));
    try {
      ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge(), sends: ['audio'] }));
      // Our own audio's m-line (its parameters from our answer) and Ada's, forwarded (the bridge's own).
      const opusLines = (sdp: string): string[][] =>
        sdp
          .split('m=')
          .slice(1)
          .filter((section) => section.startsWith('audio'))
          .map((section) => section.split('\r\n').filter((l) => l.startsWith('a=fmtp:96')));
      await until(() => offers.some((o) => opusLines(o).length >= 2), 10_000);
      const both = offers.filter((o) => opusLines(o).length >= 2);
      expect(both.length).toBeGreaterThan(0);
      for (const offer of offers) {
        const lines = opusLines(offer);
        expect(lines.every((l) => l.length === 1)).toBe(true);
        expect(new Set(lines.map((l) => l[0])).size).toBe(1);
      }
    } finally {
      ws.close();
      await pc.close();
      ada.leave();
    }
  }, 30_000);
});

describe('key frames for a new subscriber', () => {
  it('replays the last key frame and what followed; asks the publisher (four times at most) when there is none or the run is too long', async () => {
    const meeting = await cluster.meeting();
    // VP8 payloads (RFC 7741): descriptor with S = 1, then a frame tag whose P bit says delta (1) or key (0).
    const KEY = 0x50;
    const DELTA = 0x31;
    let nextKey = false;
    const track = new MediaStreamTrack({ kind: 'video' });
    let seq = 0;
    const send = (tag: number): void => {
      seq = (seq + 1) & 0xffff;
      const payload = Buffer.alloc(200, 7);
      payload.set([0x10, tag, 0x02, 0x00]);
      track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 4321, marker: true }), payload));
    };
    const timer = setInterval(() => {
      send(nextKey ? KEY : DELTA);
      nextKey = false;
    }, 20);
    const sessions: { leave(): void }[] = [];
    try {
      const aEvents: SessionEvent<MediaStreamTrack>[] = [];
      const ada = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Ada'), country: 'US', tracks: { video: track }, onEvent: (e) => aEvents.push(e) });
      sessions.push(ada);
      ada.join();
      await waitFor(aEvents, (e) => (e.type === 'connected' ? e : undefined));
      // Count the bridge's keyframe requests to Ada once her video is published.
      const room = cluster.bridges.get('us-east')?.rooms.get(meeting);
      await until(() => [...(room?.participants.values() ?? [])].some((p) => p.published.get('video')?.receiver !== undefined), 10_000);
      const published = [...(room?.participants.values() ?? [])].find((p) => p.name === 'Ada')?.published.get('video');
      const receiver = published?.receiver;
      if (!published || !receiver) throw new Error('Ada’s video was not published');
      let requests = 0;
      const pli = receiver.sendRtcpPLI.bind(receiver);
      receiver.sendRtcpPLI = (ssrc: number) => {
        requests++;
        return pli(ssrc);
      };

      /** Joins `name` and returns the frame tags and sequence numbers of the first packets it receives of Ada's video. */
      const subscribe = async (name: string): Promise<{ tag: number; seq: number }[]> => {
        const events: SessionEvent<MediaStreamTrack>[] = [];
        const s = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, name), country: 'US', onEvent: (e) => events.push(e) });
        sessions.push(s);
        s.join();
        const video = await waitFor(events, (e) => (e.type === 'track-added' && e.kind === 'video' ? e.track : undefined));
        const received: { tag: number; seq: number }[] = [];
        video.onReceiveRtp.subscribe((rtp) => received.push({ tag: rtp.payload[1] ?? 0, seq: rtp.header.sequenceNumber }));
        await until(() => received.length > 5, 10_000);
        return received;
      };

      // Delta frames only, nothing to replay: asked at connect, then again every 350 ms, four requests in all.
      await subscribe('Bo');
      await until(() => requests >= 4, 5_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(requests).toBe(4);

      // One key frame, then deltas: a newcomer gets that key frame first and every packet since, in order, and nobody asks Ada.
      nextKey = true;
      await until(() => published.keyframes >= 1, 5_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      requests = 0;
      const cy = await subscribe('Cy');
      expect(cy[0]?.tag).toBe(KEY);
      expect(cy.slice(1).every((p, i) => p.tag === DELTA && p.seq === (((cy[i]?.seq ?? 0) + 1) & 0xffff))).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(requests).toBe(0);

      // More than MAX_REPLAY_PACKETS since that key frame: the next newcomer is asked for, as without one.
      for (let i = 0; i <= MAX_REPLAY_PACKETS; i++) send(DELTA);
      await until(() => published.replay === undefined, 5_000);
      await subscribe('Dee');
      await until(() => requests >= 4, 5_000);
      expect(published.replay).toBeUndefined();
    } finally {
      clearInterval(timer);
      for (const s of sessions) s.leave();
    }
  }, 40_000);
});

/** A US participant's route: its ticket and the candidates' bridge URLs. */
async function route(meeting: string, country = 'US'): Promise<{ ticket: string; candidates: string[]; bridges: Record<string, string> }> {
  const res = await fetch(new URL('/v1/route', cluster.broker.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${await cluster.joinToken(meeting, 'Probe')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ country }),
  });
  const body = (await res.json()) as { ticket: string; bridges: Record<string, string> };
  return { ticket: body.ticket, candidates: [...readRouteTicketUnverified(body.ticket).candidates], bridges: body.bridges };
}

/** What a bridge answers to `join` with `ticket`: its first message. */
function present(bridgeUrl: string, ticket: string): Promise<{ type: string; code?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(bridgeUrl, SIGNALLING_SUBPROTOCOL);
    ws.on('open', () => { ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() })); });
    ws.once('message', (data: Buffer) => {
      resolve(JSON.parse(data.toString('utf8')) as { type: string; code?: string });
      ws.close();
    });
    ws.on('error', reject);
  });
}

describe('bridge admission', () => {
  it('refuses a ticket for another datacenter, an expired ticket and a forged one', async () => {
    const meeting = await cluster.meeting();
    const { ticket, candidates } = await route(meeting);
    expect(candidates).not.toContain('eu-north');
    const euNorth = cluster.bridges.get('eu-north')?.url ?? '';
    expect(await present(euNorth, ticket)).toMatchObject({ type: 'refused', code: 'TICKET_WRONG_DATACENTER' });

    const usEast = cluster.bridges.get('us-east')?.url ?? '';
    const [head, payload, signature] = ticket.split('.');
    const flipped = `${signature?.startsWith('A') ? 'B' : 'A'}${signature?.slice(1) ?? ''}`;
    expect(await present(usEast, `${head ?? ''}.${payload ?? ''}.${flipped}`)).toMatchObject({ type: 'refused', code: 'TICKET_INVALID' });
    // The client is refused at once; the broker still audits the refusal of a ticket it could not tie to anyone.
    const forgedRefusals = async (): Promise<number> => (await cluster.broker.context.audit.read()).filter((r) => r.type === 'bridge.refusal' && r.data.reason === 'TICKET_INVALID').length;
    const deadline = Date.now() + 10_000;
    while ((await forgedRefusals()) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await forgedRefusals()).toBeGreaterThan(0);

    // The broker's own key, on a clock an hour behind: a genuine ticket that expired long ago.
    const store = SqliteStore.open(join(cluster.dataDir, 'broker.sqlite'));
    const keys = await KeyRing.load(store, () => new Date(Date.now() - 3_600_000), brokerKeyOptions());
    const keysNow = await KeyRing.load(store, () => new Date(), brokerKeyOptions());
    const expired = await reissueRouteTicket(keys, ticket, { participant: 'p-old', candidates: ['us-east'], candidateJurisdictions: ['US'], decision: 'dec-old', name: 'Old' });
    await store.close();
    expect(await present(usEast, expired.token)).toMatchObject({ type: 'refused', code: 'TICKET_EXPIRED' });
    // Genuinely signed, but under a manifest the broker never sent this bridge: its fence cannot be derived here.
    const unknown = await reissueRouteTicket(keysNow, ticket, { manifest: 'f'.repeat(64) });
    expect(await present(usEast, unknown.token)).toMatchObject({ type: 'refused', code: 'TICKET_UNKNOWN_MANIFEST' });
    // A guest's ticket whose policy inputs put this datacenter outside its fence (a host that allows only CA).
    const narrowed = await reissueRouteTicket(keysNow, ticket, { policy: { hostCountry: 'US', meetingJurisdictions: ['CA'] } });
    expect(await present(usEast, narrowed.token)).toMatchObject({ type: 'refused', code: 'TICKET_OUTSIDE_FENCE' });
    // And the genuine, fresh ticket is admitted where it points.
    expect(await present(usEast, ticket)).toMatchObject({ type: 'admitted' });
  }, 30_000);

  it('applies what a client sends right behind its join, in order, before the admission has finished', async () => {
    const meeting = await cluster.meeting();
    const { ticket, bridges } = await route(meeting);
    const url = bridges['us-east'] ?? '';
    const received: { type: string; code?: string }[] = [];
    const ws = new WebSocket(url, SIGNALLING_SUBPROTOCOL);
    ws.on('message', (data: Buffer) => received.push(JSON.parse(data.toString('utf8')) as { type: string }));
    await new Promise((resolve) => ws.on('open', resolve));
    // An SDK with a key package ready sends it the moment `admitted` arrives: here, without even waiting for it.
    ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() }));
    ws.send(JSON.stringify({ type: 'state', audio: false, video: true }));
    ws.send(JSON.stringify({ type: 'state', audio: false, video: false }));
    await until(() => received.some((m) => m.type === 'offer' || m.type === 'refused'), 10_000);
    await until(() => received.some((m) => m.type === 'refused'), 300);
    expect(received.filter((m) => m.type === 'refused')).toEqual([]);
    expect([...(cluster.bridges.get('us-east')?.rooms.get(meeting)?.participants.values() ?? [])][0]).toMatchObject({ name: 'Probe', audio: false, video: false });
    ws.close();
  }, 30_000);

  it("redirects a participant to the meeting's datacenter when the ticket names it, and never outside the ticket", async () => {
    const meeting = await cluster.meeting();
    // Place the meeting on us-east through a real admission.
    const { ticket } = await route(meeting);
    const usEast = cluster.bridges.get('us-east')?.url ?? '';
    expect(await present(usEast, ticket)).toMatchObject({ type: 'admitted' });
    // Tickets issued before the placement (a race) may put another datacenter first.
    const store = SqliteStore.open(join(cluster.dataDir, 'broker.sqlite'));
    const keys = await KeyRing.load(store, () => new Date(), brokerKeyOptions());
    const issue = async (candidates: string[]): Promise<string> =>
      (await reissueRouteTicket(keys, ticket, { participant: `p-${candidates.join('-')}`, candidates, candidateJurisdictions: candidates.map(() => 'US'), decision: 'dec-race', name: 'Racer' })).token;
    const both = await issue(['us-west', 'us-east']);
    const westOnly = await issue(['us-west']);
    await store.close();
    const usWest = cluster.bridges.get('us-west')?.url ?? '';
    expect(await present(usWest, both)).toEqual({ type: 'redirect', datacenter: 'us-east' });
    // us-east is alive and serving, so us-west may not take the meeting; the ticket does not allow us-east.
    expect(await present(usWest, westOnly)).toMatchObject({ type: 'refused', code: 'PLACED_ELSEWHERE' });
  }, 30_000);

  it('marks a datacenter down the moment its bridge goes away, not a heartbeat timeout later', async () => {
    const meeting = await cluster.meeting();
    expect((await route(meeting)).bridges).toHaveProperty('us-west');
    await cluster.bridges.get('us-west')?.close();
    const closedAt = Date.now();
    let bridges = (await route(meeting)).bridges;
    while ('us-west' in bridges && Date.now() - closedAt < 1000) bridges = (await route(meeting)).bridges;
    expect(Date.now() - closedAt).toBeLessThan(1000); // the heartbeat timeout here is 1,500 ms
    expect(bridges).not.toHaveProperty('us-west');
    await cluster.startBridge('us-west');
    expect((await route(meeting)).bridges).toHaveProperty('us-west');
  }, 30_000);
});

describe('bridge drain', () => {
  it('on drain tells its participants to move, and they reconnect on another datacenter of their fence', async () => {
    const meeting = await cluster.meeting();
    const events: SessionEvent<MediaStreamTrack>[] = [];
    const p = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, 'Dee'), country: 'US', onEvent: (e) => events.push(e) });
    p.join();
    expect(await waitFor(events, (e) => (e.type === 'connected' ? e.datacenter : undefined))).toBe('us-east');
    const drained = cluster.bridges.get('us-east')?.drain();
    const moved = await waitFor(events, (e) => (e.type === 'connected' && e.datacenter !== 'us-east' ? e : undefined));
    await drained;
    expect(moved).toMatchObject({ datacenter: 'us-west', jurisdiction: 'US' });
    expect(events.some((e) => e.type === 'reconnecting')).toBe(true);
    p.leave();
    await cluster.startBridge('us-east');
  }, 30_000);
});
