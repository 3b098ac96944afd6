/**
 * Health, readiness, the public keys that verify tickets, and metrics.
 */
import { Type } from 'typebox';
import { GeobridgeError } from '../../core/errors.js';
import type { BrokerApp } from './broker-app.js';
import type { BrokerContext } from '../context.js';
import { PublicJwkSchema } from './schemas.js';

/**
 * How long /readyz waits for the store and the audit log together before it
 * answers 503: below the 5 s a load balancer's health check commonly waits,
 * so the answer is ours and names what is away, and below the adapters' own
 * statement deadline (QUERY_TIMEOUT_MS), which also includes waiting for a
 * free connection; a store that takes longer than this for one small read is
 * not ready for traffic.
 */
export const READY_TIMEOUT_MS = 3000;

/** Settles as `work` does, or rejects with `timeout()` once `ms` have passed; `work`'s later failure is ignored. */
async function within<T>(work: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(timeout());
    }, ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Asks the store and the audit log at once, each within READY_TIMEOUT_MS;
 * throws the store's failure if both fail (a fixed order, whichever came
 * first), so a hung adapter is a 503 with its code, never a hung probe.
 */
async function checkStorage(ctx: BrokerContext): Promise<void> {
  const seconds = String(READY_TIMEOUT_MS / 1000);
  const [store, audit] = await Promise.allSettled([
    within(ctx.store.latestManifest(), READY_TIMEOUT_MS, () => new GeobridgeError('STORE_UNAVAILABLE', `the store did not answer within ${seconds} s; check that it is up and reachable`)),
    within(ctx.audit.read({ from: 1, to: 1 }), READY_TIMEOUT_MS, () => new GeobridgeError('AUDIT_UNAVAILABLE', `the audit log did not answer within ${seconds} s; check that it is up and reachable`)),
  ]);
  if (store.status === 'rejected') throw store.reason;
  if (audit.status === 'rejected') throw audit.reason;
}

/** /healthz, /readyz, /.well-known/jwks.json, /v1/keys/history, /metrics. */
export function systemRoutes(app: BrokerApp, ctx: BrokerContext): void {
  app.get('/healthz', { schema: { tags: ['system'], summary: 'Liveness: the process answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, () => ({ status: 'ok' as const }));

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['system'],
        summary: 'Readiness: store and audit log answer, a manifest is in force, and the bus (with --bus) is up',
        response: { 200: Type.Object({ status: Type.Literal('ready'), manifestVersion: Type.Integer(), liveBridges: Type.Integer() }) },
      },
    },
    async () => {
      ctx.cluster?.assertReady();
      await checkStorage(ctx);
      return { status: 'ready' as const, manifestVersion: ctx.policy.current.version, liveBridges: ctx.registry.liveCount(ctx.monotonicMs()) };
    },
  );

  // Another broker may have rotated or revoked a key: the store is re-read at most every 30 s, not per request.
  let lastRefresh = ctx.now().getTime();
  const refreshed = async (): Promise<void> => {
    if (ctx.now().getTime() - lastRefresh <= 30_000) return;
    lastRefresh = ctx.now().getTime();
    await ctx.keys.refresh();
  };
  app.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['system'], summary: 'Public keys (Ed25519) that verify route tickets and join tokens', response: { 200: Type.Object({ keys: Type.Array(PublicJwkSchema) }) } } },
    async (_request, reply) => {
      await refreshed();
      return reply.header('cache-control', 'public, max-age=60').send({ keys: ctx.keys.jwks().keys.map((k) => ({ ...k })) });
    },
  );

  app.get(
    '/v1/keys/history',
    {
      schema: {
        tags: ['system'],
        summary: 'Every key that ever signed tickets, its public half and its life (current, retired, revoked): for checking a routing receipt after the JWKS has dropped its key',
        response: {
          200: Type.Object({
            keys: Type.Array(
              Type.Object({
                jwk: PublicJwkSchema,
                state: Type.Union([Type.Literal('current'), Type.Literal('retired'), Type.Literal('revoked')]),
                createdAt: Type.String(),
                retiredAt: Type.Optional(Type.String()),
                revokedAt: Type.Optional(Type.String()),
              }),
            ),
          }),
        },
      },
    },
    async (_request, reply) => {
      await refreshed();
      return reply.header('cache-control', 'public, max-age=60').send({ keys: ctx.keys.history().map((k) => ({ ...k, jwk: { ...k.jwk } })) });
    },
  );

  app.get('/metrics', { schema: { tags: ['system'], summary: 'Prometheus metrics (text exposition format)', response: { 200: Type.String() } } }, async (_request, reply) => {
    ctx.metrics.liveBridges.set(ctx.registry.liveCount(ctx.monotonicMs()));
    ctx.metrics.manifestVersion.set(ctx.policy.current.version);
    return reply.header('content-type', ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
}
