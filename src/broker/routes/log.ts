/**
 * The transparency log, public as RFC 9162 logs are: the log key, the latest
 * signed tree head, and the proofs that let anyone check a record is in the
 * log (inclusion) and that the log only ever grew (consistency). Hashes and
 * signatures only; the records themselves stay with the operator. With
 * record stores (manifest `stores:`) each store keeps its own log: `store=ID`
 * selects it, and `/v1/log/stores` lists them.
 */
import { Type } from 'typebox';
import { GeobridgeError } from '../../core/errors.js';
import type { BrokerApp } from './broker-app.js';
import type { BrokerContext } from '../context.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { TreeHeadSigner } from '../audit/tree-heads.js';
import { logPublicJwk } from '../log-key.js';
import { PublicJwkSchema } from './schemas.js';

const Base64Hash = Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$', description: 'SHA-256, base64' });
const Count = Type.String({ pattern: '^[0-9]{1,15}$', description: 'A non-negative integer' });
const Sth = Type.Object(
  {
    size: Type.Integer({ minimum: 0, description: 'Records (leaves) in the tree' }),
    rootHash: Base64Hash,
    timestamp: Type.Integer({ minimum: 0, description: 'When it was signed, ms since 1970' }),
    keyId: Type.String({ description: 'The log key that signed it (RFC 7638 thumbprint)' }),
    signature: Type.String({ description: 'Ed25519 over the tree head message (docs/security.md), base64' }),
    log: Type.Optional(Type.String({ description: "The record store whose log this is (absent: the broker's own log); the signature covers it" })),
  },
  { additionalProperties: false },
);
const StoreParam = Type.Optional(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,63}$', description: "A record store's id (GET /v1/log/stores): its log instead of the broker's own" }));

/** The log a request names: a record store's (`store`), or the broker's own. */
function logOf(ctx: BrokerContext, store: string | undefined): { audit: AuditLog; treeHeads: TreeHeadSigner } {
  if (store === undefined) return ctx;
  const log = ctx.storeLogs.get(store);
  if (log === undefined) throw new GeobridgeError('NOT_FOUND', `this broker keeps no log for record store '${store}'; GET /v1/log/stores lists those it keeps.`);
  return log;
}

/** /v1/log/key, /v1/log/stores, /v1/log/sth, /v1/log/proof, /v1/log/consistency. */
export function logRoutes(app: BrokerApp, ctx: BrokerContext): void {
  app.get(
    '/v1/log/key',
    {
      schema: {
        tags: ['log'],
        summary: "The transparency log's public key (Ed25519 JWK); pin it to check tree heads",
        response: { 200: PublicJwkSchema },
      },
    },
    async (_request, reply) => reply.header('cache-control', 'public, max-age=3600').send(logPublicJwk(ctx.logKey)),
  );

  app.get(
    '/v1/log/stores',
    {
      schema: {
        tags: ['log'],
        summary: 'The record stores whose logs this broker keeps (manifest `stores:`), each a transparency log of its own under the one log key',
        response: { 200: Type.Object({ stores: Type.Array(Type.Object({ id: Type.String(), jurisdiction: Type.String(), size: Type.Integer({ description: 'Records in its latest signed tree head' }) })) }) },
      },
    },
    async (_request, reply) => {
      const declared = new Map(ctx.policy.current.manifest.stores.map((s) => [s.id, s.jurisdiction]));
      const stores = await Promise.all(ctx.storeLogs.all().map(async (log) => ({ id: log.name, jurisdiction: declared.get(log.name) ?? '', size: (await log.treeHeads.latest()).size })));
      return reply.header('cache-control', 'no-store').send({ stores });
    },
  );

  app.get(
    '/v1/log/sth',
    {
      schema: {
        tags: ['log'],
        summary: 'The latest signed tree head: covers every record durable a second before, at most',
        querystring: Type.Object({ store: StoreParam }, { additionalProperties: false }),
        response: { 200: Sth },
      },
    },
    async (request, reply) => reply.header('cache-control', 'no-store').send(await logOf(ctx, request.query.store).treeHeads.latest()),
  );

  app.get(
    '/v1/log/proof',
    {
      schema: {
        tags: ['log'],
        summary: 'Inclusion proof (RFC 9162 §2.1.3) of leaf `index` (record index + 1) in the tree of `size` leaves (default: the latest signed tree head)',
        querystring: Type.Object({ index: Count, size: Type.Optional(Count), store: StoreParam }, { additionalProperties: false }),
        response: { 200: Type.Object({ index: Type.Integer(), seq: Type.Integer(), size: Type.Integer(), recordHash: Type.String({ description: "The record's chain hash, hex: the leaf's entry" }), proof: Type.Array(Base64Hash) }) },
      },
    },
    async (request) => {
      const log = logOf(ctx, request.query.store);
      const index = Number(request.query.index);
      const size = request.query.size === undefined ? (await log.treeHeads.latest()).size : Number(request.query.size);
      if (index >= size) throw new GeobridgeError('TRANSLOG_OUT_OF_RANGE', `leaf ${String(index)} is not in a tree of ${String(size)} leaves${request.query.size === undefined ? ' (the latest signed tree head; a newer one comes within a second)' : ''}.`);
      const proof = await log.audit.inclusionProof(index + 1, size);
      const [record] = await log.audit.read({ from: index + 1, to: index + 1 });
      if (record === undefined) throw new GeobridgeError('TRANSLOG_OUT_OF_RANGE', `leaf ${String(index)} is not in the log.`);
      return { index, seq: record.seq, size, recordHash: record.hash, proof: proof.map(base64) };
    },
  );

  app.get(
    '/v1/log/consistency',
    {
      schema: {
        tags: ['log'],
        summary: 'Consistency proof (RFC 9162 §2.1.4) from the tree of `from` leaves to that of `to` (default: the latest signed tree head)',
        querystring: Type.Object({ from: Count, to: Type.Optional(Count), store: StoreParam }, { additionalProperties: false }),
        response: { 200: Type.Object({ from: Type.Integer(), to: Type.Integer(), proof: Type.Array(Base64Hash) }) },
      },
    },
    async (request) => {
      const log = logOf(ctx, request.query.store);
      const from = Number(request.query.from);
      const to = request.query.to === undefined ? (await log.treeHeads.latest()).size : Number(request.query.to);
      return { from, to, proof: (await log.audit.consistencyProof(from, to)).map(base64) };
    },
  );
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
