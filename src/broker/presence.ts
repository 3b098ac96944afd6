/**
 * Bridge presence and control. Each bridge keeps one WebSocket open to the
 * broker (`/v1/bridges/presence`) and proves on it who it is with a signed
 * hello. While it is open:
 *
 * - the broker pushes commands on it (control.ts): the manifest in force at
 *   once, then every change that concerns the bridge;
 * - when it drops — the bridge process died, or its host or network did —
 *   the datacenter is down at once instead of when heartbeats go stale, so
 *   clients get a route elsewhere within milliseconds of the failure.
 *
 * The hello carries the bridge's grace (how long it keeps forwarding without
 * a channel before it fails closed) and a boot id. A bridge that stays away
 * longer than its grace, or comes back as a new process, has dropped its
 * participants: the broker drops them from its member lists too.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import { GeobridgeError } from '../core/errors.js';
import { MAX_BRIDGE_GRACE_MS } from '../protocol/control-commands.js';
import { verifyBridgeMessage } from '../protocol/bridge-message.js';
import { replanMeeting } from './cascade.js';
import { leaveGroup } from './group-delivery.js';
import { recordAudit, type BrokerContext } from './context.js';
import type { BridgeAbilities } from './control.js';
import { catchUpBridge } from './recheck.js';
import type { PresenceLimits } from './rate-limits.js';
import { answerWithoutUpgrade } from './raw-answers.js';
import { rejectBridgeMessage } from './rejection-summary.js';

export const PRESENCE_PATH = '/v1/bridges/presence';

/** How long a new presence connection has to identify itself. */
const HELLO_TIMEOUT_MS = 5000;
/** Beyond the bridge's grace, before its members are dropped here (clock and timer slack). */
const DROP_MARGIN_MS = 2000;

interface Hello {
  readonly nonce: string;
  readonly boot: string;
  readonly graceMs: number;
  readonly abilities: BridgeAbilities;
}

function helloOf(payload: unknown): Hello {
  const body = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  const { kind, nonce, boot, graceMs, mlsResync, policyRevisions } = body;
  if (kind !== 'presence') throw new GeobridgeError('BRIDGE_MESSAGE_INVALID', 'the first message must be a signed presence hello');
  if (typeof nonce !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) throw new GeobridgeError('BRIDGE_MESSAGE_INVALID', 'the presence hello needs a nonce of 16–64 base64url characters');
  if (typeof boot !== 'string' || boot.length === 0 || boot.length > 64) throw new GeobridgeError('BRIDGE_MESSAGE_INVALID', 'the presence hello needs a boot id');
  if (typeof graceMs !== 'number' || !Number.isInteger(graceMs) || graceMs < 0 || graceMs > MAX_BRIDGE_GRACE_MS) {
    throw new GeobridgeError('BRIDGE_MESSAGE_INVALID', `the presence hello needs graceMs, a whole number of ms up to ${MAX_BRIDGE_GRACE_MS}`);
  }
  return { nonce, boot, graceMs, abilities: { mlsResync: mlsResync === true, policyRevisions: policyRevisions === true } };
}

/** Serves presence connections on the app's HTTP server. */
export function servePresence(app: FastifyInstance, ctx: BrokerContext, limits: PresenceLimits): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  /** The connection each datacenter is present on; an older one closing changes nothing. */
  const current = new Map<string, WebSocket>();
  /** The boot id each datacenter last said hello with. */
  const boots = new Map<string, string>();
  /** The grace each datacenter's bridge announced. */
  const graces = new Map<string, number>();
  /** Members of a lost bridge are dropped when these fire. */
  const drops = new Map<string, ReturnType<typeof setTimeout>>();

  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(request.url ?? '/', 'http://broker').pathname !== PRESENCE_PATH) {
      answerWithoutUpgrade(app.server, request, socket, head);
      return;
    }
    limits.gateUpgrade(request, socket, () => {
      wss.handleUpgrade(request, socket, head, (ws) => {
        accept(ws, request);
      });
    });
  });
  // Before the HTTP server closes: it waits for every connection, and upgraded sockets are connections too.
  app.addHook('preClose', (done) => {
    for (const timer of drops.values()) clearTimeout(timer);
    drops.clear();
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => {
      done();
    });
  });

  /** Forgets the members of a bridge that has dropped them (fail-closed grace over, or a new process). */
  async function dropMembers(datacenter: string, why: string): Promise<void> {
    const removed = await ctx.store.removeParticipantsAt(datacenter);
    if (removed.length > 0) app.log.warn({ datacenter, members: removed.length }, `members of ${datacenter} dropped: ${why}`);
    for (const p of removed) leaveGroup(ctx, p.meetingId, p.id, p.session);
    for (const meeting of new Set(removed.map((p) => p.meetingId))) void replanMeeting(ctx, meeting, (line) => { app.log.warn(line); });
  }

  function accept(ws: WebSocket, request: IncomingMessage): void {
    let datacenter: string | undefined;
    const hello = setTimeout(() => { ws.close(1008, 'identify first'); }, HELLO_TIMEOUT_MS);
    ws.once('message', (data, isBinary) => {
      clearTimeout(hello);
      if (isBinary || !Buffer.isBuffer(data)) { ws.close(1008, 'text frames only'); return; }
      const text = data.toString('utf8');
      verifyBridgeMessage(ctx.config.bridgeKeys, text, { now: ctx.now(), maxSkewSeconds: 30, replayGuard: ctx.helloGuard })
        .then(async (message) => {
          const said = helloOf(message.payload);
          const dc = message.datacenter;
          clearTimeout(drops.get(dc));
          drops.delete(dc);
          // A new process starts empty: whatever the old one held is gone.
          // With several brokers the bridge may have said hello to another one last.
          const before = ctx.cluster?.bootOf(dc) ?? boots.get(dc);
          boots.set(dc, said.boot);
          if (before !== undefined && before !== said.boot) await dropMembers(dc, 'its bridge restarted');
          if (ws.readyState !== ws.OPEN) return;
          datacenter = dc;
          current.get(dc)?.close(1000, 'replaced');
          current.set(dc, ws);
          // mlsTickets: a member's route ticket may come with its MLS messages (a cascading broker that restarted takes members back by it).
          ws.send(JSON.stringify({ present: true, mlsTickets: true }));
          ctx.control.attach(dc, ws, said.nonce, said.abilities);
          ctx.cluster?.present(dc, said.boot);
          graces.set(dc, said.graceMs);
          // Commands sent while it was away were lost with the old connection. If they cannot be worked out, the
          // bridge must not carry on as if it had heard everything: it reconnects, and fails closed meanwhile.
          await catchUpBridge(ctx, dc, (line) => {
            app.log.warn(line);
          }).catch((error: unknown) => {
            app.log.error({ datacenter: dc, err: error }, 'could not catch a bridge up on missed commands');
            ws.close(1011, 'catch-up failed');
          });
        })
        .catch((error: unknown) => {
          const code = rejectBridgeMessage(ctx, PRESENCE_PATH, text, error);
          limits.countFailure(request);
          ws.close(1008, code);
        });
    });
    ws.on('close', () => {
      clearTimeout(hello);
      if (datacenter === undefined || current.get(datacenter) !== ws) return;
      const dc = datacenter;
      current.delete(dc);
      ctx.control.detach(dc, ws);
      ctx.registry.lost(dc);
      ctx.cluster?.lost(dc);
      app.log.warn({ datacenter: dc }, 'bridge presence lost: datacenter down until its next heartbeat');
      void recordAudit(ctx, 'bridge.lost', { datacenter: dc }).catch(() => undefined);
      // The bridge fails closed after its grace; then its members are gone, here too.
      const timer = setTimeout(() => {
        drops.delete(dc);
        if (!current.has(dc) && ctx.cluster?.heldElsewhere(dc) !== true) void dropMembers(dc, 'its bridge stayed away longer than its grace').catch(() => undefined);
      }, (graces.get(dc) ?? 0) + DROP_MARGIN_MS);
      timer.unref();
      drops.set(dc, timer);
    });
    ws.on('error', () => undefined);
  }
}
