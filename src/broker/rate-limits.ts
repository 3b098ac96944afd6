/**
 * Per-address rate limits (@fastify/rate-limit) on everything a caller can
 * make the broker do without proving who it is. The address is the client's
 * as client-ip.ts resolves it — `X-Forwarded-For` only from trusted proxies,
 * so behind a proxy each client has its own budget and a client cannot pick
 * one — with IPv6 grouped per /64, which one host usually holds whole.
 * Each limit is per address and minute (`RateLimits`):
 *
 * - `requests`: routes that take no credential (the page and its files,
 *   /v1/info, health, metrics, the API docs, the bridges' public keys,
 *   and URLs no route serves), one budget across them.
 *   Routes that check a credential — a bearer token (their schema's
 *   `security`) or a bridge's signature — are left to `failures`, so a bridge
 *   or a participant's routes are never slowed by how busy they are.
 * - `invites`: /v1/invites/accept and /v1/invites/preview, each. The invite
 *   is a credential that everyone holding the link has, and it mints join
 *   tokens without end.
 * - `failures`: answers 400, 401, 413 and 415 (malformed, or failing
 *   authentication) on any route, URLs refused before routing (400, 414;
 *   counted in app.ts), what Node answers itself (bytes that are not HTTP,
 *   400; headers too large, 431; a request that never arrived whole, 408;
 *   counted in app.ts), and failed presence hellos. Once an
 *   address has spent them, every route and the presence socket answer 429
 *   before doing any work, until its minute is over. They are counted when
 *   the answer leaves, so concurrent requests can overshoot by their number.
 * - `presence`: presence WebSocket upgrades, counted before the handshake.
 *
 * Windows run on the process clock in the plugin's in-memory store (the
 * 5,000 most recent addresses per limit), one store per broker process; with
 * a bus (`serve --bus`) in Redis, so brokers behind one load balancer share
 * each address's budget. While Redis is away the limits are not enforced
 * rather than refuse everything (health included): no route is admitted
 * then anyway (bus/cluster.ts).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import rateLimit, { normalizeIP, type RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GeobridgeError } from '../core/errors.js';
import { isTrustedProxy, resolveClientAddress } from './client-ip.js';
import type { BrokerContext, RateLimits } from './context.js';
import { errorBody } from './http-errors.js';

const WINDOW_MS = 60_000;
/** Addresses remembered as having failed (as many as the plugin's store keeps per limit, and then some). */
const MAX_SUSPECTS = 10_000;

/** Answers that mean "malformed, or not who it claims to be". */
const FAILURE_STATUSES: ReadonlySet<number> = new Set([400, 401, 413, 415]);

/** The bridge API's routes, each of which checks the signature of the message it carries (routes/bridges.ts); `GET /v1/bridges/keys` is public. */
const SIGNED_BY_BRIDGE: ReadonlySet<string> = new Set(['heartbeat', 'admissions', 'mls', 'relays/lost', 'placements', 'renewals'].map((path) => `POST /v1/bridges/${path}`));

const COUNTED: Readonly<Record<keyof RateLimits, string>> = {
  requests: 'requests to routes without a credential',
  invites: 'invite requests to this route',
  failures: 'malformed or unauthenticated requests',
  presence: 'presence connections',
};

/** What the presence socket, and the answers Fastify gives before any hook, need from the limits. */
export interface PresenceLimits {
  /** Calls `admit` unless the address is over its presence or failure limit; then answers 429 on the raw socket. */
  gateUpgrade(request: IncomingMessage, socket: Duplex, admit: () => void): void;
  /** Counts a failure against the address of a request no route answers: a failed presence hello, a URL refused before routing. */
  countFailure(request: IncomingMessage): void;
  /**
   * Counts a failure against the peer of a connection Node answered itself
   * (bytes that are not HTTP, headers too large, a request that never
   * arrived whole); not a trusted proxy's, whose client is unknown then.
   */
  countConnectionFailure(socket: Socket): void;
}

/** What the limiter's key is read from: a Fastify request or a raw upgrade request. */
interface AddressSource {
  readonly socket: { readonly remoteAddress?: string | undefined };
  readonly headers: IncomingHttpHeaders;
}

/** Registers the limits on `app` (before its routes); returns what the presence socket uses. */
export async function registerRateLimits(app: FastifyInstance, ctx: BrokerContext): Promise<PresenceLimits> {
  const { rateLimits: limits, trustedProxies } = ctx.config;
  const keyOf = (request: AddressSource): string =>
    normalizeIP(resolveClientAddress({ remoteAddress: request.socket.remoteAddress ?? '', forwardedFor: request.headers['x-forwarded-for'], trustedProxies }));

  // A route that checks a credential gets no `requests` hook at all: the plugin runs its key generator (the
  // client-address lookup) before the allow list, so an allow-listed route would still pay for it on every request.
  app.addHook('onRoute', (route) => {
    if (route.config?.rateLimit === undefined && checksCredential(route)) route.config = { ...route.config, rateLimit: false };
  });
  await app.register(rateLimit, {
    global: true,
    max: limits.requests,
    timeWindow: WINDOW_MS,
    hook: 'onRequest',
    keyGenerator: keyOf,
    allowList: (request) => checksCredential(request.routeOptions),
    errorResponseBuilder: (_request, context) => refusal(ctx, 'requests', context.max, context.ttl),
    ...(ctx.cluster ? { redis: ctx.cluster.redis, nameSpace: ctx.cluster.key('rate:'), skipOnError: true } : {}),
  });
  // Named apart: in Redis both limiters would otherwise count under one key per address.
  const failures = app.createRateLimit({ max: limits.failures, timeWindow: WINDOW_MS, keyGenerator: (request) => `failures:${keyOf(request)}`, allowList: () => false });
  const connections = app.createRateLimit({ max: limits.presence, timeWindow: WINDOW_MS, keyGenerator: (request) => `presence:${keyOf(request)}`, allowList: () => false });
  /**
   * Addresses with a failure in the last window, and when (process clock, as the plugin's windows): the limiter is asked only about
   * those, so a request from an address that never failed — nearly every real one — costs a Map lookup,
   * not a trip through the plugin's store (~10 µs on POST /v1/route, profiled).
   */
  const suspects = new Map<string, number>();
  const suspect = (key: string): boolean => {
    const at = suspects.get(key);
    if (at === undefined) return false;
    if (performance.now() - at < WINDOW_MS) return true;
    suspects.delete(key);
    return false;
  };
  const failed = (request: FastifyRequest): Promise<unknown> => {
    const key = keyOf(request);
    suspects.delete(key);
    suspects.set(key, performance.now());
    // Bounded like the plugin's own store: the oldest suspicions go first.
    if (suspects.size > MAX_SUSPECTS) for (const old of [...suspects.keys()].slice(0, suspects.size - MAX_SUSPECTS)) suspects.delete(old);
    return failures(request);
  };
  /** Seconds until the address may try again when it has spent its failures, else undefined. */
  const spent = async (request: FastifyRequest): Promise<number | undefined> => {
    if (!suspect(keyOf(request))) return undefined;
    const state = await failures(request, { increment: false });
    return !state.isAllowed && state.remaining === 0 ? state.ttlInSeconds : undefined;
  };

  // Global hooks run before the plugin's route hooks and before the body is read.
  app.addHook('onRequest', (request, reply, done) => {
    // With no failure anywhere in the last minute (the usual case), not even the client's address is needed.
    if (suspects.size === 0 || !suspect(keyOf(request))) {
      done();
      return;
    }
    spent(request).then(
      (wait) => {
        if (wait === undefined) {
          done();
          return;
        }
        void reply.header('retry-after', String(wait));
        done(refusal(ctx, 'failures', limits.failures, wait * 1000));
      },
      (error: unknown) => {
        done(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
  app.addHook('onResponse', async (request, reply) => {
    if (FAILURE_STATUSES.has(reply.statusCode)) await failed(request);
  });

  return {
    gateUpgrade(request, socket, admit) {
      // Node hands an upgrade's socket over without an error listener; one reset during the check must not crash the broker.
      const onError = (): void => {
        socket.destroy();
      };
      socket.on('error', onError);
      const asRequest = limiterRequest(request);
      const check = async (): Promise<{ limit: keyof RateLimits; max: number; seconds: number } | undefined> => {
        const wait = await spent(asRequest);
        if (wait !== undefined) return { limit: 'failures', max: limits.failures, seconds: wait };
        const state = await connections(asRequest);
        return !state.isAllowed && state.isExceeded ? { limit: 'presence', max: limits.presence, seconds: state.ttlInSeconds } : undefined;
      };
      check().then(
        (over) => {
          if (socket.destroyed) return;
          if (over !== undefined) {
            refuseUpgrade(socket, refusal(ctx, over.limit, over.max, over.seconds * 1000), over.seconds);
            return;
          }
          // The WebSocket server puts its own error handling on the socket.
          socket.off('error', onError);
          admit();
        },
        () => {
          socket.destroy();
        },
      );
    },
    countFailure(request) {
      failed(limiterRequest(request)).catch(() => undefined);
    },
    countConnectionFailure(socket) {
      if (isTrustedProxy(socket.remoteAddress ?? '', trustedProxies)) return;
      failed(limiterRequest({ socket, headers: {} })).catch(() => undefined);
    },
  };
}

/** The route config of the invite routes: their own, tighter budget per route. */
export function inviteRateLimit(ctx: BrokerContext): RateLimitOptions {
  return { max: ctx.config.rateLimits.invites, timeWindow: WINDOW_MS, errorResponseBuilder: (_request, context) => refusal(ctx, 'invites', context.max, context.ttl) };
}

/** Routes that check a credential of their own: a bearer token (declared in the schema's `security`) or a bridge's signature. */
function checksCredential(route: { readonly schema?: { readonly security?: unknown } | undefined; readonly method?: string | readonly string[] | undefined; readonly url?: string | undefined }): boolean {
  return route.schema?.security !== undefined || (typeof route.method === 'string' && SIGNED_BY_BRIDGE.has(`${route.method} ${route.url ?? ''}`));
}

/** The error a limited request is answered with (429 through the error table; `Retry-After` is set beside it), counted. */
function refusal(ctx: BrokerContext, limit: keyof RateLimits, max: number, ttlMs: number): GeobridgeError {
  ctx.metrics.rateLimited.inc({ limit });
  const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
  return new GeobridgeError('RATE_LIMITED', `this address sent more than ${max} ${COUNTED[limit]} in a minute; retry in ${seconds} s.`);
}

/**
 * A raw request (an upgrade, or a connection whose bytes never made one) as
 * the limiter reads a Fastify one: the key comes from its socket and
 * headers, and the plugin looks for a group id in the route's config, which
 * a raw request has none of.
 */
function limiterRequest(request: AddressSource): FastifyRequest {
  const source: AddressSource & { readonly routeOptions: { readonly config: object } } = { socket: request.socket, headers: request.headers, routeOptions: { config: {} } };
  return source as unknown as FastifyRequest;
}

/** Answers an upgrade with the error body and `Retry-After`, before any WebSocket handshake, and closes the socket. */
function refuseUpgrade(socket: Duplex, error: GeobridgeError, retryAfterSeconds: number): void {
  const body = JSON.stringify(errorBody(error.code, error.message));
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nRetry-After: ${retryAfterSeconds}\r\n\r\n${body}`,
  );
}
