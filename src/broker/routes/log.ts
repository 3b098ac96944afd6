/**
 * The transparency log, public as RFC 9162 logs are: the log key, the latest
 * signed tree head, and the proofs that let anyone check a record is in the
 * log (inclusion) and that the log only ever grew (consistency). Hashes and
 * signatures only; the records themselves stay with the operator.
 */
import { Type } from 'typebox';
import { GeobridgeError } from '../../core/errors.js';
import type { BrokerApp } from './broker-app.js';
import type { BrokerContext } from '../context.js';
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
  },
  { additionalProperties: false },
);

/** /v1/log/key, /v1/log/sth, /v1/log/proof, /v1/log/consistency. */
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
    '/v1/log/sth',
    { schema: { tags: ['log'], summary: 'The latest signed tree head: covers every record durable a second before, at most', response: { 200: Sth } } },
    async (_request, reply) => reply.header('cache-control', 'no-store').send(await ctx.treeHeads.latest()),
  );

  app.get(
    '/v1/log/proof',
    {
      schema: {
        tags: ['log'],
        summary: 'Inclusion proof (RFC 9162 §2.1.3) of leaf `index` (record index + 1) in the tree of `size` leaves (default: the latest signed tree head)',
        querystring: Type.Object({ index: Count, size: Type.Optional(Count) }, { additionalProperties: false }),
        response: { 200: Type.Object({ index: Type.Integer(), seq: Type.Integer(), size: Type.Integer(), recordHash: Type.String({ description: "The record's chain hash, hex: the leaf's entry" }), proof: Type.Array(Base64Hash) }) },
      },
    },
    async (request) => {
      const index = Number(request.query.index);
      const size = request.query.size === undefined ? (await ctx.treeHeads.latest()).size : Number(request.query.size);
      if (index >= size) throw new GeobridgeError('TRANSLOG_OUT_OF_RANGE', `leaf ${String(index)} is not in a tree of ${String(size)} leaves${request.query.size === undefined ? ' (the latest signed tree head; a newer one comes within a second)' : ''}.`);
      const proof = await ctx.audit.inclusionProof(index + 1, size);
      const [record] = await ctx.audit.read({ from: index + 1, to: index + 1 });
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
        querystring: Type.Object({ from: Count, to: Type.Optional(Count) }, { additionalProperties: false }),
        response: { 200: Type.Object({ from: Type.Integer(), to: Type.Integer(), proof: Type.Array(Base64Hash) }) },
      },
    },
    async (request) => {
      const from = Number(request.query.from);
      const to = request.query.to === undefined ? (await ctx.treeHeads.latest()).size : Number(request.query.to);
      return { from, to, proof: (await ctx.audit.consistencyProof(from, to)).map(base64) };
    },
  );
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
