/**
 * Optimistic concurrency for the admin API's policy changes (RFC 9110
 * §13.1.1): a read answers with `ETag: "N"`, N the version or revision read;
 * a change sent with `If-Match: "N"` lands only on that version, or is
 * refused with 412 and changes nothing. Without the header a change
 * replaces whatever is in force, as before.
 */
import { GeobridgeError } from '../../core/errors.js';

/** The entity tag of version (or revision) `n`. */
export function etagOf(n: number): string {
  return `"${String(n)}"`;
}

/**
 * The version an `If-Match` header names; undefined when it is absent or `*`
 * (any version). Throws BAD_REQUEST, naming the header, for anything else
 * than one strong tag of ours.
 */
export function ifMatchVersion(header: string | string[] | undefined, read: string): number | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header.join(',') : header).trim();
  if (value === '*') return undefined;
  const match = /^"(0|[1-9]\d{0,14})"$/.exec(value);
  if (!match?.[1]) {
    throw new GeobridgeError('BAD_REQUEST', `header If-Match must be one entity tag as ${read} gives it in its ETag header, e.g. "7" (with the quotes), or *; it was ${JSON.stringify(value.slice(0, 40))}.`);
  }
  return Number(match[1]);
}
