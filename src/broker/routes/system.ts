/**
 * Health, readiness, the public keys that verify tickets, and metrics.
 */
import { Type } from 'typebox';
import type { BrokerApp } from './broker-app.js';
import type { BrokerContext } from '../context.js';
import { PublicJwkSchema } from './schemas.js';

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
      await ctx.store.latestManifest();
      await ctx.audit.read({ from: 1, to: 1 });
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
