/**
 * A bridge: the media server of one datacenter. Clients reach it over one
 * WebSocket (the signalling protocol in src/core/signalling/), present the
 * route ticket the broker signed, and are admitted only if the ticket names
 * this datacenter and its jurisdiction, is unexpired and verifies against
 * the broker's keys. Every admission and refusal is reported to the broker's
 * audit log. The meeting's placement is claimed through the broker: if the
 * meeting lives in another datacenter of the participant's ticket, the client
 * is redirected there.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import { WebSocketServer, type WebSocket } from 'ws';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import { encodeMessage, MAX_SIGNALLING_FRAME_BYTES, parseClientMessage, SIGNALLING_SUBPROTOCOL, type BridgeMessage, type ClientMessage, type IceServer } from '../core/signalling/protocol.js';
import type { RouteTicketClaims } from '../broker/tickets.js';
import { BrokerLink } from './broker-link.js';
import { Participant, Room, type MediaOptions } from './sfu.js';

/** Options of `startBridge` (the `geobridge bridge` flags). */
export interface BridgeOptions {
  readonly datacenter: string;
  readonly broker: string;
  readonly privateJwk: JWK;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The signalling URL clients use; defaults to ws://host:port/signal. */
  readonly publicUrl?: string;
  readonly media: MediaOptions;
  /** STUN/TURN servers handed to every admitted client for its media connection. */
  readonly iceServers?: readonly IceServer[];
  /** Every this many ms; the broker marks the datacenter down after a few missed. */
  readonly heartbeatMs: number;
  /** How long SIGTERM waits for clients to move before closing (ms). */
  readonly drainMs: number;
  /** How long a client has to send `join` after connecting (ms). */
  readonly joinTimeoutMs?: number;
  readonly log?: (line: Readonly<Record<string, unknown>>) => void;
}

/** A running bridge. */
export interface RunningBridge {
  readonly url: string;
  readonly datacenter: string;
  /** Participants by meeting, for tests and heartbeats. */
  readonly rooms: ReadonlyMap<string, Room>;
  /** Stops admitting, tells every client to move, and closes when they are gone or after `drainMs`. */
  drain(): Promise<void>;
  /** Closes at once. */
  close(): Promise<void>;
}

/** Starts a bridge: listens, enrolls with the broker (first heartbeat), then keeps heart-beating. */
export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const log = options.log ?? ((): void => undefined);
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ datacenter: options.datacenter, status: draining ? 'draining' : 'ok' }));
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, resolve);
  });
  const port = (http.address() as AddressInfo).port;
  const url = options.publicUrl ?? `ws://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/signal`;
  const link = await BrokerLink.open({ broker: options.broker, datacenter: options.datacenter, privateJwk: options.privateJwk, url });
  const rooms = new Map<string, Room>();
  /** Placement epochs this bridge knows, by meeting. */
  const epochs = new Map<string, number>();
  let draining = false;
  let cpuBefore = process.cpuUsage();
  let cpuAt = performance.now();

  const participants = (): number => [...rooms.values()].reduce((n, r) => n + r.participants.size, 0);
  const heartbeat = async (): Promise<void> => {
    const used = process.cpuUsage(cpuBefore);
    const elapsed = performance.now() - cpuAt;
    cpuBefore = process.cpuUsage();
    cpuAt = performance.now();
    const cpu = elapsed > 0 ? (used.user + used.system) / 1000 / elapsed : 0;
    await link.heartbeat({ participants: participants(), cpu: Math.round(cpu * 1000) / 1000, draining });
  };
  await heartbeat();
  const leavePresence = link.keepPresent();
  const beat = setInterval(() => {
    heartbeat().catch((error: unknown) => {
      log({ level: 'warn', msg: 'heartbeat failed', error: describe(error) });
    });
  }, options.heartbeatMs);
  const tick = setInterval(() => {
    for (const room of rooms.values()) room.tick();
  }, 1000);

  const wss = new WebSocketServer({
    server: http,
    path: '/signal',
    maxPayload: MAX_SIGNALLING_FRAME_BYTES,
    handleProtocols: (protocols) => (protocols.has(SIGNALLING_SUBPROTOCOL) ? SIGNALLING_SUBPROTOCOL : false),
  });
  wss.on('connection', (socket, request) => {
    serveClient(socket, request);
  });

  function send(socket: WebSocket, message: BridgeMessage): void {
    if (socket.readyState === socket.OPEN) socket.send(encodeMessage(message));
  }

  function refuse(socket: WebSocket, code: string, message: string): void {
    send(socket, { type: 'refused', code, message });
    socket.close(1008, code.slice(0, 100));
  }

  function serveClient(socket: WebSocket, request: IncomingMessage): void {
    if (socket.protocol !== SIGNALLING_SUBPROTOCOL) {
      refuse(socket, 'PROTOCOL', `speak the ${SIGNALLING_SUBPROTOCOL} subprotocol`);
      return;
    }
    let joined: { participant: Participant; room: Room; ticket: RouteTicketClaims } | undefined;
    let joining = false;
    /**
     * Messages are applied one after another, a join included: the client may answer the offer or
     * send its MLS key package as soon as `admitted` arrives, while the admission is still adding
     * it to the room.
     */
    let applied: Promise<void> = Promise.resolve();
    const joinTimer = setTimeout(() => {
      if (!joined) refuse(socket, 'JOIN_TIMEOUT', 'send a join message with your route ticket first');
    }, options.joinTimeoutMs ?? 10_000);

    socket.on('message', (data, isBinary) => {
      const parsed = isBinary ? { ok: false as const, error: 'binary frames are not part of the protocol' } : parseClientMessage(rawText(data));
      if (!parsed.ok) {
        refuse(socket, 'BAD_MESSAGE', parsed.error);
        return;
      }
      const message = parsed.message;
      if (message.type === 'join') {
        if (joined || joining) { refuse(socket, 'BAD_MESSAGE', 'join was already sent'); return; }
        joining = true;
        applied = admit(socket, message.ticket, message.name)
          .then((result) => {
            clearTimeout(joinTimer);
            joined = result;
          })
          .catch((error: unknown) => {
            clearTimeout(joinTimer);
            const code = isGeobridgeError(error) ? error.code : 'BRIDGE_ERROR';
            refuse(socket, code, isGeobridgeError(error) ? error.message : 'the bridge failed to admit you; try again');
            log({ level: 'info', msg: 'not admitted', code, remote: request.socket.remoteAddress });
          });
        return;
      }
      if (!joining) { refuse(socket, 'BAD_MESSAGE', 'send join first'); return; }
      applied = applied.then(async () => {
        // A failed or redirected admission has already closed the socket.
        if (!joined) return;
        await handle(joined.participant, joined.room, message).catch((error: unknown) => {
          log({ level: 'warn', msg: 'signalling failed', participant: joined?.participant.id, error: describe(error) });
          refuse(socket, 'BAD_MESSAGE', 'the message could not be applied');
        });
      });
    });
    socket.on('close', () => {
      clearTimeout(joinTimer);
      if (joined) void leave(joined.participant, joined.room);
    });
    socket.on('error', () => undefined);
  }

  /** Admits the participant, or redirects it (resolves undefined), or throws why not. */
  async function admit(socket: WebSocket, token: string, name: string): Promise<{ participant: Participant; room: Room; ticket: RouteTicketClaims } | undefined> {
    if (draining) throw new GeobridgeError('BRIDGE_DRAINING', 'this bridge is shutting down; ask the broker for a fresh route.');
    let ticket: RouteTicketClaims;
    try {
      ticket = await link.verifyTicket(token);
    } catch (error) {
      // Who presented it is unknown until the ticket verifies; the audit still records the refusal.
      const code = isGeobridgeError(error) ? error.code : 'TICKET_INVALID';
      await link.refused('unknown', 'unknown', code).catch(() => undefined);
      throw error;
    }
    const placed = await place(ticket);
    if (placed !== options.datacenter) {
      send(socket, { type: 'redirect', datacenter: placed });
      socket.close(1000, 'redirect');
      await link.refused(ticket.sub, ticket.meeting, `redirected to ${placed}, where the meeting lives`).catch(() => undefined);
      return undefined;
    }
    // The broker re-checks the ticket against the policy in force before the participant gets media.
    await link.admitted(ticket.sub, ticket.meeting, token);
    let room = rooms.get(ticket.meeting);
    if (!room) {
      room = new Room(ticket.meeting, options.media);
      rooms.set(ticket.meeting, room);
    }
    const existing = room.participants.get(ticket.sub);
    if (existing) await room.remove(existing.id);
    const participant = new Participant(ticket.sub, name, room.peerConfig(), {
      offer: (sdp, streams) => {
        send(socket, { type: 'offer', sdp, streams });
      },
      notify: (m) => {
        send(socket, m);
      },
      move: (reason) => {
        send(socket, { type: 'move', reason });
        socket.close(1001, 'move');
      },
    });
    // No await from here to room.add: the founder decision and the membership change happen together.
    const mlsFounder = room.mls.admit(room.participants.size);
    send(socket, { type: 'admitted', participant: ticket.sub, meeting: ticket.meeting, datacenter: options.datacenter, jurisdiction: link.jurisdiction ?? '', peers: [...room.participants.values()].map((p) => p.info()), mlsFounder, iceServers: options.iceServers ?? [] });
    for (const other of room.participants.values()) other.notify({ type: 'peer-joined', peer: participant.info() });
    await room.add(participant);
    log({ level: 'info', msg: 'admitted', participant: ticket.sub, meeting: ticket.meeting, country: ticket.country });
    return { participant, room, ticket };
  }

  /** Where the meeting lives after claiming it for this datacenter: here, or another datacenter of the ticket. */
  async function place(ticket: RouteTicketClaims): Promise<string> {
    let result = await link.claim(ticket.meeting, epochs.get(ticket.meeting) ?? 0);
    if (!result.won && result.datacenter !== options.datacenter && !ticket.candidates.includes(result.datacenter)) {
      // The broker left the meeting's datacenter out of this fresh ticket (down or draining): re-home it here.
      result = await link.claim(ticket.meeting, result.epoch);
    }
    epochs.set(ticket.meeting, result.epoch);
    if (result.won || result.datacenter === options.datacenter) return options.datacenter;
    if (ticket.candidates.includes(result.datacenter)) return result.datacenter;
    throw new GeobridgeError('PLACED_ELSEWHERE', `the meeting lives in ${result.datacenter}, which your route ticket does not allow; ask the broker for a fresh route.`);
  }

  async function handle(participant: Participant, room: Room, message: ClientMessage): Promise<void> {
    switch (message.type) {
      case 'answer':
        await participant.answer(message.sdp);
        return;
      case 'state':
        participant.audio = message.audio;
        participant.video = message.video;
        for (const other of room.participants.values()) if (other !== participant) other.notify({ type: 'peer-updated', peer: participant.info() });
        return;
      case 'leave':
        await leave(participant, room);
        return;
      case 'mls': {
        const others = [...room.participants.keys()].filter((id) => id !== participant.id);
        for (const out of room.mls.submit(participant.id, message, others)) room.participants.get(out.to)?.notify(out.message);
        return;
      }
      case 'join':
        return;
    }
  }

  async function leave(participant: Participant, room: Room): Promise<void> {
    if (room.participants.get(participant.id) !== participant) return;
    await room.remove(participant.id);
    for (const other of room.participants.values()) other.notify({ type: 'peer-left', id: participant.id });
    if (room.participants.size === 0) rooms.delete(room.meeting);
    await link.left(participant.id, room.meeting).catch(() => undefined);
    log({ level: 'info', msg: 'left', participant: participant.id, meeting: room.meeting });
  }

  let closed = false;
  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    clearInterval(beat);
    clearInterval(tick);
    leavePresence();
    for (const socket of wss.clients) socket.terminate();
    for (const room of rooms.values()) for (const p of room.participants.values()) await p.close();
    rooms.clear();
    await new Promise<void>((resolve) => {
      wss.close(() => {
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      http.close(() => {
        resolve();
      });
      http.closeAllConnections();
    });
  }

  return {
    url,
    datacenter: options.datacenter,
    rooms,
    close,
    drain: async () => {
      draining = true;
      // The broker stops routing here at once, and a moving client's fresh route will not name this datacenter.
      await heartbeat().catch(() => undefined);
      for (const room of rooms.values()) for (const p of room.participants.values()) p.disconnect('this bridge is shutting down');
      const deadline = performance.now() + options.drainMs;
      while (participants() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await close();
    },
  };
}

function rawText(data: unknown): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return '';
}

function describe(error: unknown): string {
  return error instanceof Error ? `${isGeobridgeError(error) ? `${error.code}: ` : ''}${error.message}` : String(error);
}
