/**
 * The chat payload parser against what another participant may put in an
 * MLS application message: every valid payload round-trips, nothing makes
 * `parseChat` throw, and what it accepts is safe where it is shown (the
 * meeting page prints `sentAt` with `new Date(sentAt).toISOString()`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHAT_TEXT_MAX, encodeChat, parseChat, type ChatPayload } from './chat.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((t) => t.trim() !== '');
const sentAt = fc.integer({ min: 0, max: 8.64e15 });
const chat: fc.Arbitrary<ChatPayload> = fc.record({ v: fc.constant(1 as const), text, sentAt });

/** Values a field may be retyped to, or pushed out of bounds with. */
const odd = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0.5, -0.5, 8.64e15 + 1, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, '1', '', ' ', null, true, [], {}),
  fc.constantFrom('x'.repeat(CHAT_TEXT_MAX + 1), '\ud800', 'a\udc00b', '\u0000'),
);
const FIELDS = ['v', 'text', 'sentAt'] as const;

/** A payload with one field deleted, retyped or out of bounds, or one field added. */
const mutated = fc.tuple(chat, fc.constantFrom(...FIELDS, 'extra', '__proto__', 'constructor'), fc.boolean(), odd).map(([c, field, drop, value]) => {
  const fields: Record<string, unknown> = { v: c.v, text: c.text, sentAt: c.sentAt };
  if (drop) Reflect.deleteProperty(fields, field);
  else fields[field] = value;
  // JSON.stringify skips a `__proto__` set by assignment: spell it as JSON.parse would read it.
  return field === '__proto__' && !drop ? JSON.stringify(fields).replace(/^\{/, `{"__proto__":${JSON.stringify(value)},`) : JSON.stringify(fields);
});

function deep(depth: number, open: string, close: string, inner = '1'): string {
  return `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
}

/** parseChat's answer, checked: never a throw, and an accepted payload is one the page can show. */
function parsedSafely(bytes: Uint8Array): ReturnType<typeof parseChat> {
  const result = parseChat(bytes);
  if (result.ok) {
    expect(new Date(result.chat.sentAt).toISOString()).toMatch(/Z$/);
    expect(result.chat.v).toBe(1);
    expect(typeof result.chat.text).toBe('string');
  } else {
    expect(typeof result.error).toBe('string');
  }
  return result;
}

describe('parseChat, fuzzed', () => {
  it('round-trips every valid payload', () => {
    fc.assert(
      fc.property(chat, (c) => {
        expect(parsedSafely(encodeChat(c))).toEqual({ ok: true, chat: c });
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary bytes, strings or JSON', () => {
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string().map(utf8), fc.json().map(utf8), fc.jsonValue().map((v) => utf8(JSON.stringify(v))));
    fc.assert(
      fc.property(bytes, (b) => {
        parsedSafely(b);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses a payload with a field deleted, retyped or out of bounds, or added, and never throws', () => {
    fc.assert(
      fc.property(mutated, (json) => {
        const result = parsedSafely(utf8(json));
        // Only a value that is itself valid passes (a retyped sentAt that is another valid time): returned as sent.
        if (result.ok) expect(result.chat).toEqual(JSON.parse(json));
      }),
      { numRuns: 1000 },
    );
  });

  it('regressions: a sentAt past the last Date, a deeply nested version', () => {
    // Before: accepted, and the meeting page's `new Date(sentAt).toISOString()` threw RangeError.
    for (const at of [8.64e15 + 1, 2 ** 53 - 1]) expect(parsedSafely(utf8(`{"v":1,"text":"hi","sentAt":${at}}`))).toEqual({ ok: false, error: 'the chat payload has no valid sentAt' });
    expect(parsedSafely(utf8('{"v":1,"text":"hi","sentAt":8640000000000000}')).ok).toBe(true);
    // Before: parseChat threw RangeError (JSON.stringify of the version, to name it).
    for (const [open, close] of [['[', ']'], ['{"a":', '}']] as const) {
      expect(parsedSafely(utf8(`{"v":${deep(10_000, open, close)},"text":"hi","sentAt":1}`))).toEqual({ ok: false, error: 'unknown chat payload version object' });
    }
    expect(parsedSafely(utf8('{"v":2,"text":"hi","sentAt":1}'))).toEqual({ ok: false, error: 'unknown chat payload version 2' });
    expect(parsedSafely(utf8(`{"v":1,"text":${deep(10_000, '[', ']')},"sentAt":1}`)).ok).toBe(false);
    expect(parsedSafely(utf8('{"v":1,"text":"hi","sentAt":1,"__proto__":{"polluted":true}}'))).toEqual({ ok: false, error: "the chat payload has an unknown field '__proto__'" });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
