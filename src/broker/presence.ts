/**
 * Bridge presence: each bridge keeps one WebSocket open to the broker
 * (`/v1/bridges/presence`) and proves on it who it is with a signed message.
 * When that connection drops — the bridge process died, or its host or
 * network did — the broker marks the datacenter down at once instead of
 * waiting for heartbeats to go stale, so clients get a route elsewhere
 * within milliseconds of the failure. Heartbeats still carry the load
 * reports and bring a datacenter back.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import { verifyBridgeMessage } from './attestation.js';
import { recordAudit, type BrokerContext } from './context.js';
import type { PresenceLimits } from './rate-limits.js';
import { rejectBridgeMessage } from './rejection-summary.js';

export const PRESENCE_PATH = '/v1/bridges/presence';

/** How long a new presence connection has to identify itself. */
const HELLO_TIMEOUT_MS = 5000;

/** Serves presence connections on the app's HTTP server. */
export function servePresence(app: FastifyInstance, ctx: BrokerContext, limits: PresenceLimits): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  /** The connection each datacenter is present on; an older one closing changes nothing. */
  const current = new Map<string, WebSocket>();

  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(request.url ?? '/', 'http://broker').pathname !== PRESENCE_PATH) {
      socket.destroy();
      return;
    }
    limits.gateUpgrade(request, socket, () => {
      wss.handleUpgrade(request, socket, head, (ws) => {
        accept(ws, request);
      });
    });
  });
  app.addHook('onClose', (_app, done) => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => {
      done();
    });
  });

  function accept(ws: WebSocket, request: IncomingMessage): void {
    let datacenter: string | undefined;
    const hello = setTimeout(() => { ws.close(1008, 'identify first'); }, HELLO_TIMEOUT_MS);
    ws.once('message', (data, isBinary) => {
      clearTimeout(hello);
      if (isBinary || !Buffer.isBuffer(data)) { ws.close(1008, 'text frames only'); return; }
      const text = data.toString('utf8');
      verifyBridgeMessage(ctx.config.bridgeKeys, text, { now: ctx.now(), maxSkewSeconds: 30, replayGuard: ctx.replayGuard })
        .then((message) => {
          const body = message.payload as { kind?: unknown };
          if (body.kind !== 'presence') throw new Error('the first message must be a signed presence');
          datacenter = message.datacenter;
          current.get(datacenter)?.close(1000, 'replaced');
          current.set(datacenter, ws);
          ws.send(JSON.stringify({ present: true }));
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
      current.delete(datacenter);
      ctx.registry.lost(datacenter);
      app.log.warn({ datacenter }, 'bridge presence lost: datacenter down until its next heartbeat');
      void recordAudit(ctx, 'bridge.lost', { datacenter }).catch(() => undefined);
    });
    ws.on('error', () => undefined);
  }
}
