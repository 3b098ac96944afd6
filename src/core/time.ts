import { count } from './fields.js';

/**
 * Times as the protocol carries them: milliseconds since 1970. A time read
 * from a peer is bounded by what a Date holds, because whoever reads it
 * shows it, and `toISOString` throws past that.
 */

/** The last instant a Date holds (ECMA-262 §21.4.1.1): 8.64e15 ms, in 275760. */
export const TIME_MAX_MS = 8.64e15;

/** Whether `value` is milliseconds since 1970 that a Date holds (an integer from 0 to TIME_MAX_MS). */
export function isTime(value: unknown): value is number {
  return count(value) && value <= TIME_MAX_MS;
}

/** `ms` as an ISO 8601 time; in plain milliseconds when no Date holds it (what a signature covers is shown as it is). */
export function isoTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= TIME_MAX_MS ? new Date(ms).toISOString() : `${String(ms)} ms after 1970`;
}
