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

/** One entity-tag of a list (RFC 9110 §8.8.3): optionally weak, quoted, no quote inside. */
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;

/**
 * The version an `If-Match` header lets a change land on, given the one in
 * force (`current`): undefined when the header is absent or `*` (any
 * version); `current` when the list names it; otherwise the highest version
 * it names (a reader of a newer store than this broker has caught up with),
 * or -1 when it names none of ours (a weak tag never matches: §13.1.1).
 * Throws BAD_REQUEST, naming the header, when it is not a list of entity tags.
 */
export function ifMatchVersion(header: string | string[] | undefined, current: number, read: string): number | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header.join(',') : header).trim();
  if (value === '*') return undefined;
  const versions: number[] = [];
  for (const item of value.split(',')) {
    const tag = ENTITY_TAG.exec(item.trim());
    if (!tag) {
      throw new GeobridgeError('BAD_REQUEST', `header If-Match must be the entity tag ${read} gives in its ETag header, e.g. "7" (with the quotes), or *; it was ${JSON.stringify(value.slice(0, 40))}.`);
    }
    if (tag[1] === undefined && /^(0|[1-9]\d{0,14})$/.test(tag[2] ?? '')) versions.push(Number(tag[2]));
  }
  if (versions.includes(current)) return current;
  return versions.length === 0 ? -1 : Math.max(...versions);
}
