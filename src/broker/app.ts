/**
 * The broker's HTTP app, built by a factory so tests drive it with
 * `inject()`. Every route has a TypeBox schema (unknown fields rejected);
 * every error leaves as `{ statusCode, code, error, message }` from the one
 * table in http-errors.ts; OpenAPI UI at /docs.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { isGeobridgeError } from '../core/errors.js';
import type { BrokerContext } from './context.js';
import { errorBody, RETRY_AFTER_SECONDS, type ErrorBody } from './http-errors.js';
import { adminRoutes } from './routes/admin.js';
import { servePresence } from './presence.js';
import { registerRateLimits, type PresenceLimits } from './rate-limits.js';
import { answerClientError } from './raw-answers.js';
import { isTrustedProxy } from './client-ip.js';
import { limitConnectionsPerAddress } from './connection-limit.js';
import { bridgeRoutes } from './routes/bridges.js';
import { consoleRoutes } from './routes/console.js';
import { consolePageRoutes } from './routes/console-page.js';
import { logRoutes } from './routes/log.js';
import { manifestRoutes } from './routes/manifest.js';
import { identityRoutes } from './routes/identity.js';
import { meetingRoutes } from './routes/meetings.js';
import { routeRoutes } from './routes/route.js';
import { systemRoutes } from './routes/system.js';
import { webRoutes } from './routes/web.js';
import type { BrokerApp } from './routes/broker-app.js';

/**
 * How long a request may take to arrive whole, headers and body; past it Node
 * answers 408 REQUEST_TIMEOUT (raw-answers.ts) and closes the connection.
 * Fastify 5 turns Node's own request timeout off, so a body that never comes
 * would hold its socket for good. Upgraded (presence) sockets leave Node's
 * request accounting at the upgrade.
 */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * A connection with no bytes either way for this long is closed without an
 * answer (Node's server timeout): a handler that never answers, a client that
 * stops reading. Longer than a stalled request takes to get its 408, and than
 * the console stream's pings (15 s); ws switches it off on WebSockets.
 */
const IDLE_TIMEOUT_MS = 120_000;

/** Options of the HTTP layer itself. */
export interface AppOptions {
  /** Pino options (JSON logs), `true` for defaults, or `false` (tests). */
  readonly logger?: boolean | { readonly level: string };
  /** How long a request may take to arrive whole (default REQUEST_TIMEOUT_MS); tests shorten it. */
  readonly requestTimeoutMs?: number;
  /** How long a connection may stay silent (default IDLE_TIMEOUT_MS); tests shorten it. */
  readonly idleTimeoutMs?: number;
}

/** What Fastify refused before any route ran, as the broker's error body, with Fastify's own status. */
function frameworkErrorBody(error: FastifyError): ErrorBody {
  const status = error.statusCode ?? 500;
  if (error.code === 'FST_ERR_BAD_URL') return errorBody('BAD_REQUEST', `${error.message}; check the URL (a % must start a valid escape such as %20).`, status);
  if (status === 414) return errorBody('URI_TOO_LONG', 'a part of the URL is longer than the broker takes; send a shorter one.', status);
  return errorBody(status < 500 ? 'BAD_REQUEST' : 'INTERNAL', error.message, status);
}

/** Builds the broker app; call `ready()` or `listen()` on the result. */
export async function buildBrokerApp(ctx: BrokerContext, options: AppOptions = {}): Promise<FastifyInstance> {
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  /** Set once the limits are registered (before the app can serve anything). */
  let limits: PresenceLimits | undefined = undefined;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: 1024 * 1024,
    requestTimeout,
    // Node holds the headers to the shorter of its headers and request timeouts and the whole request to the longer,
    // so both are set; it looks for late requests every tenth of that (not every 30 s), so each is answered near its deadline.
    http: { headersTimeout: requestTimeout, requestTimeout, connectionsCheckingInterval: Math.ceil(requestTimeout / 10) },
    connectionTimeout: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
    trustProxy: false, // X-Forwarded-For is honoured only from configured proxies (client-ip.ts)
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // What fails before a route (a malformed %-escape in the URL, bytes that are not HTTP/1.1) gets the error body too.
    frameworkErrors: (error, request, reply) => {
      const body = frameworkErrorBody(error);
      // Fastify answers these before any hook runs: a malformed URL (400) or one too long (414) is counted as a failure here.
      if (body.statusCode < 500) limits?.countFailure(request.raw);
      void (reply as FastifyReply).status(body.statusCode).send(body);
    },
    clientErrorHandler: (error, socket) => {
      // Bytes that are not HTTP, or a request that never arrived whole, spend the address's failures like any malformed request.
      if (answerClientError(error, socket)) limits?.countConnectionFailure(socket);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  const { maxConnectionsPerAddress, trustedProxies } = ctx.config;
  limitConnectionsPerAddress(app.server, maxConnectionsPerAddress, (address) => isTrustedProxy(address, trustedProxies), () => { ctx.metrics.rateLimited.inc({ limit: 'connections' }); });

  // Manifests are uploaded as YAML text.
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((error: unknown, request, reply) => {
    const { code, message } = classify(error);
    const body = errorBody(code, message);
    // A refusal for want of capacity inside the fence is an answer, audited as a decision: not a failure of the broker.
    if (code === 'NO_CAPACITY_IN_FENCE' || code === 'NO_ZONE') request.log.info({ code }, 'route refused');
    else if (body.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    const retry = RETRY_AFTER_SECONDS[code];
    if (retry !== undefined) void reply.header('retry-after', String(retry));
    return reply.status(body.statusCode).send(body);
  });

  // Before every route (the docs' too): the limits attach to routes as they are added.
  limits = await registerRateLimits(app, ctx);
  // No route means no credential: a 404 spends the `requests` budget like any public route.
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, (request, reply) =>
    reply.status(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url}; see /docs for the API.`)),
  );
  // Whatever rejections were counted reach the audit log before the broker closes it.
  app.addHook('onClose', () => ctx.rejections.close());

  await app.register(swagger, {
    openapi: {
      info: { title: 'geobridge broker', version: '1', description: 'Routes participants to datacenters inside their fences, signs route tickets, audits every decision.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const typed = app as unknown as BrokerApp;
  systemRoutes(typed, ctx);
  adminRoutes(typed, ctx);
  meetingRoutes(typed, ctx);
  routeRoutes(typed, ctx);
  identityRoutes(typed, ctx);
  bridgeRoutes(typed, ctx);
  servePresence(app, ctx, limits);
  manifestRoutes(typed, ctx);
  logRoutes(typed, ctx);
  webRoutes(typed, ctx);
  consoleRoutes(typed, ctx);
  consolePageRoutes(typed, ctx);
  return app;
}

/** Maps any thrown error to a code of the table and a message safe to show. */
function classify(thrown: unknown): { code: string; message: string } {
  if (isGeobridgeError(thrown)) return { code: thrown.code, message: thrown.message };
  const error = thrown as FastifyError;
  if (error.validation) return { code: 'VALIDATION', message: `${error.message}; see /docs for the schema.` };
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'PAYLOAD_TOO_LARGE', message: 'the body is larger than 1 MiB.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send application/json (or application/yaml for manifests).' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'BAD_REQUEST', message: 'the body is not valid JSON.' };
    default:
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return { code: 'BAD_REQUEST', message: error.message };
      return { code: 'INTERNAL', message: 'an internal error occurred; it has been logged.' };
  }
}

