/**
 * Field checks for JSON messages and files (the signalling messages of
 * src/protocol, the routing receipt file): small
 * predicates composed into per-message schemas, and `fieldsOk`, which names
 * the first missing, malformed or unknown field. Pure and never throwing.
 */

/** A parsed JSON object. */
export type Fields = Readonly<Record<string, unknown>>;
/** A predicate on one field's value; `optional` fields may be absent. */
export type Check = ((value: unknown) => boolean) & { readonly optional?: true };
/** A message schema: its fields and their checks. */
export type Schema = Readonly<Record<string, Check>>;

/** A field that may be absent. */
export const optional = (check: Check): Check => Object.assign((v: unknown) => check(v), { optional: true as const });

/** A string of at most `max` characters. */
export const str =
  (max: number): Check =>
  (v) =>
    typeof v === 'string' && v.length <= max;

/** A non-empty string of at most `max` characters. */
export const nonEmpty =
  (max: number): Check =>
  (v) =>
    typeof v === 'string' && v.length > 0 && v.length <= max;

/** A boolean. */
export const bool: Check = (v) => typeof v === 'boolean';

/** A safe integer ≥ 0. */
export function count(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** One of the given strings. */
export const oneOf =
  (...values: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);

/** An array of at most `max` items, each passing `item`. */
export const arrayOf =
  (item: Check, max: number): Check =>
  (v) =>
    Array.isArray(v) && v.length <= max && v.every(item);

/** An object whose fields pass `schema`. */
export const objectOf =
  (schema: Schema): Check =>
  (v) =>
    isObject(v) && fieldsOk(v, schema) === undefined;

/** The first problem with `value`'s fields: a missing, malformed or unknown one. */
export function fieldsOk(value: Fields, schema: Schema): string | undefined {
  for (const [name, check] of Object.entries(schema)) {
    if (!Object.hasOwn(value, name)) {
      if (check.optional) continue;
      return `field '${name}' is missing`;
    }
    if (!check(value[name])) return `field '${name}' is malformed`;
  }
  const unknown = Object.keys(value).find((k) => !Object.hasOwn(schema, k));
  return unknown === undefined ? undefined : `field '${unknown}' is not part of the protocol`;
}

/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A parse result: the message, or what is wrong with it. */
export type Parsed<M> = { readonly ok: true; readonly message: M } | { readonly ok: false; readonly error: string };

/** Parses a `type`-tagged JSON object against the schema of its type. */
export function parseTagged<M>(value: unknown, schemas: Readonly<Record<string, Schema>>, what: string): Parsed<M> {
  if (!isObject(value)) return { ok: false, error: `the ${what} is not a JSON object` };
  const type = value.type;
  if (typeof type !== 'string' || !Object.hasOwn(schemas, type)) return { ok: false, error: `unknown message type ${shownType(type)}; expected one of ${Object.keys(schemas).join(', ')}` };
  const problem = fieldsOk(value, { type: () => true, ...(schemas[type] ?? {}) });
  return problem === undefined ? { ok: true, message: value as M } : { ok: false, error: `'${type}' message: ${problem}` };
}

/**
 * A message's `type` as an error names it: a string quoted (cut short), any
 * other value by its kind. Never `JSON.stringify` of the value itself, which
 * throws (RangeError) on a type nested some thousand levels deep, sent by
 * whoever wants the parser, and the server reading with it, to fall over.
 */
function shownType(type: unknown): string {
  if (typeof type === 'string') return JSON.stringify(type.length > 40 ? `${type.slice(0, 40)}…` : type);
  return `(${type === null ? 'null' : Array.isArray(type) ? 'a list' : typeof type === 'object' ? 'an object' : `a ${typeof type}`})`;
}
