/**
 * The meeting chat's payload: JSON `{ v: 1, text, sentAt }` as UTF-8, carried
 * inside an MLS application message (application.ts), so only the group's
 * members read it. Both ends check it; parsing never throws.
 */
import { isTime } from '../core/time.js';

/** The longest chat text, in Unicode code points (what a person counts as characters). */
export const CHAT_TEXT_MAX = 2000;

/** One chat message as its sender wrote it. */
export interface ChatPayload {
  readonly v: 1;
  readonly text: string;
  /** The sender's clock, ms since the Unix epoch: shown, never trusted for ordering. */
  readonly sentAt: number;
}

/** Why `text` cannot be sent, or undefined if it can. */
export function chatTextProblem(text: unknown): string | undefined {
  if (typeof text !== 'string') return 'the chat text is not a string';
  if (text.trim() === '') return 'the chat text is empty';
  const points = Array.from(text);
  if (points.length > CHAT_TEXT_MAX) return `the chat text has ${points.length} characters; at most ${CHAT_TEXT_MAX} are allowed`;
  // A lone surrogate has no UTF-8 form: it would arrive as U+FFFD, not as written.
  if (points.some((c) => c.length === 1 && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdfff)) return 'the chat text is not well-formed Unicode';
  return undefined;
}

/** The payload's bytes; throws (a bug) if `text` fails `chatTextProblem`. */
export function encodeChat(payload: ChatPayload): Uint8Array {
  const problem = chatTextProblem(payload.text);
  if (problem !== undefined) throw new Error(problem);
  return new TextEncoder().encode(JSON.stringify({ v: 1, text: payload.text, sentAt: payload.sentAt }));
}

/** The payload in `bytes`, or why it is not one. */
export function parseChat(bytes: Uint8Array): { readonly ok: true; readonly chat: ChatPayload } | { readonly ok: false; readonly error: string } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, error: 'the chat payload is not UTF-8 JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, error: 'the chat payload is not a JSON object' };
  const { v, text, sentAt, ...rest } = value as Record<string, unknown>;
  // Named by its type unless a number: JSON.stringify of a deeply nested value throws (RangeError).
  if (v !== 1) return { ok: false, error: `unknown chat payload version ${typeof v === 'number' ? v : typeof v}` };
  const problem = chatTextProblem(text);
  if (problem !== undefined || typeof text !== 'string') return { ok: false, error: problem ?? 'the chat text is not a string' };
  if (!isTime(sentAt)) return { ok: false, error: 'the chat payload has no valid sentAt' };
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) return { ok: false, error: `the chat payload has an unknown field '${unknown}'` };
  return { ok: true, chat: { v: 1, text, sentAt } };
}
