/**
 * Route decision ids (`dec_…`) that sort by the time they were made: a UUID
 * version 7 (RFC 9562 §5.7: 48 bits of Unix milliseconds, then random bits).
 * A decision id is also a participant's session id at the broker, and when
 * two admissions of one participant race, the later route must win: a
 * connection attempt the client already abandoned must not replace the one
 * it kept (`isNewerDecision`).
 */
import { randomBytes } from 'node:crypto';

const PREFIX = 'dec_';
const V7 = /^dec_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A new decision id made at `nowMs`. */
export function newDecisionId(nowMs: number = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(Math.max(0, Math.floor(nowMs)), 0, 6);
  b[6] = 0x70 | ((b[6] ?? 0) & 0x0f);
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f);
  const hex = b.toString('hex');
  return `${PREFIX}${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The millisecond a decision id was made, or undefined for ids of another form (older brokers). */
export function decisionTime(id: string): number | undefined {
  return V7.test(id) ? parseInt(id.slice(PREFIX.length, PREFIX.length + 8) + id.slice(PREFIX.length + 9, PREFIX.length + 13), 16) : undefined;
}

/** True when decision `a` was made strictly later than `b`; false when either time is unknown or they tie. */
export function isNewerDecision(a: string, b: string): boolean {
  const ta = decisionTime(a);
  const tb = decisionTime(b);
  return ta !== undefined && tb !== undefined && ta > tb;
}
