/**
 * Who is calling: the operator (admin token), an account (API key), or a
 * participant (join token). Each helper throws a GeobridgeError that the
 * error table maps to 401/403.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { GeobridgeError } from '../core/errors.js';
import type { BrokerContext } from './context.js';
import type { Account } from './store/store.js';
import type { JoinTokenClaims } from '../protocol/join-token.js';
import { verifyJoinTokenOnce } from './tickets.js';

/** SHA-256 (hex) of a secret; secrets are stored and compared only as hashes. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!match?.[1]) throw new GeobridgeError('UNAUTHORIZED', 'send `Authorization: Bearer <token>`.');
  return match[1];
}

/** Requires the admin token. */
export function requireAdmin(ctx: BrokerContext, request: FastifyRequest): void {
  const given = Buffer.from(sha256Hex(bearer(request)), 'hex');
  const expected = Buffer.from(ctx.config.adminTokenHash, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new GeobridgeError('UNAUTHORIZED', 'the admin token is not valid.');
}

/** Requires an account API key; returns the account. */
export async function requireAccount(ctx: BrokerContext, request: FastifyRequest): Promise<Account> {
  const account = await ctx.store.findAccountByApiKeyHash(sha256Hex(bearer(request)));
  if (!account) throw new GeobridgeError('UNAUTHORIZED', 'the API key is not valid.');
  return account;
}

/** Requires a join token; returns its claims. */
export function requireJoinToken(ctx: BrokerContext, request: FastifyRequest): Promise<JoinTokenClaims> {
  return verifyJoinTokenOnce(ctx.keys, bearer(request), { now: ctx.now() });
}
