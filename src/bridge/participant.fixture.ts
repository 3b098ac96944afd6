/**
 * Test fixture: Node SDK participants in a cluster's meetings, with real RTP
 * (a synthetic VP8-typed track), their events, and the video they receive
 * counted per datacenter; plus polling helpers. Everything on 127.0.0.1.
 */
import { MediaStreamTrack, RtpHeader, RtpPacket } from 'werift';
import WebSocket from 'ws';
import { SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { newChallenge } from '../sdk/bridge-proof.js';
import type { SessionEvent } from '../sdk/node.js';
import { nodeSession } from '../sdk/node.js';
import type { Session } from '../sdk/session.js';
import type { Cluster } from './cluster.fixture.js';

type Event = SessionEvent<MediaStreamTrack>;

/** Polls until `condition` holds or `ms` pass; resolves either way (the caller asserts). */
export async function until(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** The first event `pick` accepts, or a timeout error listing the events seen. */
export function waitFor<T>(events: readonly Event[], pick: (e: Event) => T | undefined, ms = 15_000): Promise<T> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      for (const e of events) {
        const v = pick(e);
        if (v !== undefined) {
          resolve(v);
          return;
        }
      }
      if (Date.now() - started > ms) {
        reject(new Error(`timed out; events: ${events.map((e) => (e.type === 'bridge-refused' || e.type === 'refused' || e.type === 'failed' ? `${e.type}:${e.code}` : e.type === 'connected' ? `connected:${e.datacenter}` : e.type)).join(', ')}`));
        return;
      }
      setTimeout(poll, 20);
    };
    poll();
  });
}

/** A werift video track that sends a synthetic VP8-typed RTP packet every 20 ms until stopped. */
export function syntheticVideo(ssrc = 1234): { track: MediaStreamTrack; stop: () => void } {
  const track = new MediaStreamTrack({ kind: 'video' });
  let seq = 0;
  const timer = setInterval(() => {
    seq = (seq + 1) & 0xffff;
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc, marker: true });
    track.writeRtp(new RtpPacket(header, Buffer.alloc(200, seq & 0xff)));
  }, 20);
  return {
    track,
    stop: () => {
      clearInterval(timer);
    },
  };
}

/** A werift video track whose payloads start `fill, ~fill` (syntheticVideo's are uniform), so a receiver can tell whose they are. */
export function markedVideo(fill: number): { track: MediaStreamTrack; stop: () => void } {
  const track = new MediaStreamTrack({ kind: 'video' });
  let seq = 0;
  const timer = setInterval(() => {
    seq = (seq + 1) & 0xffff;
    track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 9000 + fill, marker: true }), Buffer.concat([Buffer.from([fill, ~fill & 0xff]), Buffer.alloc(198, fill)])));
  }, 20);
  return { track, stop: () => { clearInterval(timer); } };
}

/** Whether an RTP payload is one of markedVideo(fill)'s. */
export function isMarked(payload: Buffer, fill: number): boolean {
  return payload[0] === fill && payload[1] === (~fill & 0xff);
}

/**
 * A publisher that joins `meeting` as `name` from `country` sending
 * markedVideo(fill), stays until the observer (whose events are
 * `observed`) has had more than 10 of its packets on the video track it was
 * given, then leaves: how many of those packets were its own and how many
 * anyone else's, counted until it left.
 */
export async function publishOnce(cluster: Cluster, meeting: string, observed: readonly Event[], name: string, country: string, fill: number, ms: number): Promise<{ mine: number; others: number }> {
  const video = markedVideo(fill);
  const session = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, name), country, tracks: { video: video.track }, onEvent: () => undefined });
  session.join();
  let mine = 0;
  let others = 0;
  try {
    const id = await waitFor(observed, (e) => (e.type === 'participant-joined' && e.peer.name === name ? e.peer.id : undefined), ms);
    const added = await waitFor(observed, (e) => (e.type === 'track-added' && e.peer === id && e.kind === 'video' ? e : undefined), ms);
    added.track.onReceiveRtp.subscribe((rtp) => {
      if (isMarked(rtp.payload, fill)) mine++;
      else others++;
    });
    await until(() => mine > 10, ms);
    return { mine, others };
  } finally {
    session.leave();
    video.stop();
  }
}

/** A message a raw signalling socket got. */
export type RawMessage = { readonly type: string; readonly [field: string]: unknown };

/**
 * A bare signalling socket (no SDK, no media) that routes as `name` from
 * `country` and joins `datacenter`'s bridge with its ticket: every message
 * it gets, once the bridge has answered the join (`admitted`, or `refused`).
 */
export async function rawJoin(cluster: Cluster, meeting: string, name: string, datacenter: string, country = 'US'): Promise<{ ws: WebSocket; got: RawMessage[] }> {
  const res = await fetch(new URL('/v1/route', cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${await cluster.joinToken(meeting, name)}`, 'content-type': 'application/json' }, body: JSON.stringify({ country }) });
  const { ticket } = (await res.json()) as { ticket: string };
  const ws = new WebSocket(cluster.bridges.get(datacenter)?.url ?? '', SIGNALLING_SUBPROTOCOL);
  const got: RawMessage[] = [];
  ws.on('message', (data: Buffer) => got.push(JSON.parse(data.toString('utf8')) as RawMessage));
  ws.on('error', () => undefined);
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() }));
  await until(() => got.some((m) => m.type === 'admitted' || m.type === 'refused'), 20_000);
  return { ws, got };
}

/** A participant: its session, its events, and the video packets it received from each peer, per datacenter. */
export interface Caller {
  readonly name: string;
  readonly session: Session<MediaStreamTrack>;
  readonly events: Event[];
  /** Video packets received from `peer` while connected to `datacenter`. */
  received(peer: string, datacenter: string): number;
  /** The datacenter of the latest `connected` event. */
  datacenter(): string | undefined;
  leave(): void;
}

/** Joins `meeting` as `name` from `country` (dev-mode broker), publishing synthetic video when `publish`. */
export async function joinCall(cluster: Cluster, meeting: string, name: string, country: string, options: { publish?: boolean; joinToken?: string; e2ee?: boolean } = {}): Promise<Caller> {
  const video = options.publish ? syntheticVideo() : undefined;
  const events: Event[] = [];
  const counts = new Map<string, number>();
  let current: string | undefined;
  const session = nodeSession({
    broker: cluster.broker.url,
    joinToken: options.joinToken ?? (await cluster.joinToken(meeting, name)),
    country,
    ...(options.e2ee === true ? { e2ee: true } : {}),
    ...(video ? { tracks: { video: video.track } } : {}),
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'connected') current = e.datacenter;
      if (e.type === 'track-added' && e.kind === 'video') {
        const key = `${e.peer}@${current ?? '?'}`;
        e.track.onReceiveRtp.subscribe(() => counts.set(key, (counts.get(key) ?? 0) + 1));
      }
    },
  });
  session.join();
  return {
    name,
    session,
    events,
    received: (peer, datacenter) => counts.get(`${peer}@${datacenter}`) ?? 0,
    datacenter: () => current,
    leave: () => {
      session.leave();
      video?.stop();
    },
  };
}

/** The participant id a caller was admitted as (from the peers the others saw, or its own connection). */
export function participantIdOf(observer: Caller, name: string): string | undefined {
  for (const e of observer.events) if (e.type === 'participant-joined' && e.peer.name === name) return e.peer.id;
  return undefined;
}

/**
 * When a room stopped forwarding: samples `room.forwarded` every 5 ms until it
 * has not moved for `quietMs`, and returns the ms from `since`
 * (performance.now()) to its last increase (≤ 0 when it never moved after).
 */
export async function lastForwardedAt(room: { readonly forwarded: number }, since: number, quietMs = 2000, capMs = 15_000): Promise<number> {
  let seen = room.forwarded;
  let lastChange = since;
  const deadline = since + capMs;
  while (performance.now() - lastChange < quietMs && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
    if (room.forwarded !== seen) {
      seen = room.forwarded;
      lastChange = performance.now();
    }
  }
  return lastChange - since;
}
