/**
 * JSON text of frozen lists, serialized once. The decider hands out the same
 * frozen fence list (~250 country codes) for every participant of a country
 * (`compilePolicy` memoizes it), and each route answer carries it twice, in
 * the body and inside the signed ticket; `JSON.stringify` of it costs ~8 µs
 * each time. A frozen array of primitives can never change, so its text
 * never goes stale; anything else is serialized anew.
 */

const texts = new WeakMap<readonly unknown[], string>();

/** `JSON.stringify(value)`, remembered for frozen arrays of primitives. */
export function toJson(value: unknown): string | undefined {
  if (!Array.isArray(value) || !Object.isFrozen(value)) return JSON.stringify(value);
  let text = texts.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    // Frozen keeps the elements in place; only primitives are immutable themselves.
    if (value.every((e) => typeof e !== 'object' || e === null)) texts.set(value, text);
  }
  return text;
}

/**
 * `JSON.stringify(object)` of a flat object, its values through `toJson`:
 * the same text, with frozen lists from the cache. (A value's `toJSON` gets
 * '' as its key instead of the property name; JWT claims have none.)
 */
export function objectToJson(object: Readonly<Record<string, unknown>>): string {
  let json = '';
  for (const name of Object.keys(object)) {
    const text = toJson(object[name]);
    if (text !== undefined) json += `${json === '' ? '{' : ','}${JSON.stringify(name)}:${text}`;
  }
  return json === '' ? '{}' : `${json}}`;
}
