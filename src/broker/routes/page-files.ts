/**
 * Serving a browser page's own files (the meeting page's, the console's):
 * each page loads them once per process, and every answer carries the
 * page's security headers.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Routes that are a page's files, left out of /docs. */
export const HIDDEN = { hide: true } as const;

/**
 * A handler factory for a page's files: `load` (cached by the caller, once
 * per process) is started now, so the first visitor does not wait for a
 * bundle, and a failure surfaces on the page's requests.
 */
export function pageFiles<A>(load: () => Promise<A>, headers: Readonly<Record<string, string>>): (type: string, pick: (files: A) => string) => (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  load().catch(() => undefined);
  return (type, pick) => async (_request, reply) => reply.headers(headers).type(type).send(pick(await load()));
}
