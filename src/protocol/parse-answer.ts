/**
 * Reading a broker's HTTP answer against its schema (answers.ts,
 * route-answer.ts), so that a client never casts what it is sent: the
 * answer, typed, or BROKER_ANSWER_INVALID naming the first field that does
 * not match. TypeBox's `Value` interprets the schema without generating
 * code, so it runs under the meeting page's Content-Security-Policy (no
 * `unsafe-eval`).
 */
import type { Static, TSchema } from 'typebox';
import type { TLocalizedValidationError } from 'typebox/error';
import { Value } from 'typebox/value';
import { GeobridgeError } from '../core/errors.js';

/** The answer `value` as `schema` types it; throws BROKER_ANSWER_INVALID naming the field that does not match. `what` names the request (`POST /v1/route`). */
export function parseAnswer<Schema extends TSchema>(schema: Schema, value: unknown, what: string): Static<Schema> {
  if (Value.Check(schema, value)) return value;
  throw new GeobridgeError('BROKER_ANSWER_INVALID', `The broker's answer to ${what} does not match the protocol: ${problemOf(Value.Errors(schema, value))}.`);
}

/** The answer as `schema` types it, or why it is not one (as `parseAnswer` would throw it): for a caller to whom a malformed answer is itself a finding. */
export function answerOrWhy<Schema extends TSchema>(schema: Schema, value: unknown, what: string): { readonly ok: true; readonly value: Static<Schema> } | { readonly ok: false; readonly reason: string } {
  if (Value.Check(schema, value)) return { ok: true, value };
  return { ok: false, reason: `The broker's answer to ${what} does not match the protocol: ${problemOf(Value.Errors(schema, value))}` };
}

/** The first problem, said of the field it is about. */
function problemOf(errors: readonly TLocalizedValidationError[]): string {
  const first = errors[0];
  if (first === undefined) return 'it is not what the schema describes';
  if (first.keyword === 'required') return `field '${fieldName(first.instancePath, first.params.requiredProperties[0])}' is missing`;
  if (first.keyword === 'additionalProperties') return `field '${fieldName(first.instancePath, first.params.additionalProperties[0])}' is not part of the protocol`;
  // A union reports each branch, then itself last: its message says most.
  const last = errors.findLast((e) => e.instancePath === first.instancePath) ?? first;
  return `field '${fieldName(first.instancePath)}' ${last.message}`;
}

/** A JSON pointer (RFC 6901) as a field path: `/candidates/0/role` → `candidates[0].role`; the whole answer is `(answer)`. */
function fieldName(pointer: string, child?: string): string {
  const segments = [...pointer.split('/').slice(1), ...(child === undefined ? [] : [child])].map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (segments.length === 0) return '(answer)';
  return segments.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}
