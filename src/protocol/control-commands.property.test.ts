/**
 * The broker → bridge control channel's parsers, fuzzed: the `command`
 * claim (control-commands.ts) and the signed control message around it
 * (control-message.ts). `parseControlCommand` and `parseControlMessage`
 * never throw and return a valid command as sent; `verifyControlMessage`
 * resolves with its claims or throws one of its documented codes; and a
 * command they accept is one the bridge can act on: the group messages of
 * `mls` reach participants as the signalling messages they parse, an
 * `evict`'s code and reason fit the `refused` it becomes.
 */
import fc from 'fast-check';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { isGeobridgeError } from '../core/errors.js';
import { MAX_REVOKED_KIDS, parseControlCommand, type ControlCommand } from './control-commands.js';
import { CONTROL_AUDIENCE, CONTROL_TYPE, parseControlMessage, verifyControlMessage, type ControlMessageClaims } from './control-message.js';
import { encodeMessage, parseBridgeMessage, type GroupDeliveryMessage } from './signalling.js';

const id = fc.string({ minLength: 1, maxLength: 100 });
const text = (max: number): fc.Arbitrary<string> => fc.string({ maxLength: max });
const code = fc.stringMatching(/^[A-Z]{2}$/);
const b64 = fc.stringMatching(/^[A-Za-z0-9_-]{1,60}$/);
const groupDelivery: fc.Arbitrary<GroupDeliveryMessage> = fc.oneof(
  fc.record({ type: fc.constant('mls' as const), kind: fc.constantFrom('key-package' as const, 'commit' as const, 'proposal' as const, 'welcome' as const, 'application' as const), from: id, data: b64 }),
  fc.record({ type: fc.constant('mls-result' as const), accepted: fc.boolean(), reason: text(64), epoch: fc.nat(), kind: fc.constant('application' as const) }, { requiredKeys: ['type', 'accepted', 'reason', 'epoch'] }),
  fc.constant({ type: 'mls-found' as const }),
  fc.constant({ type: 'mls-resync' as const }),
  fc.record({ type: fc.constant('mls-members' as const), members: fc.array(fc.record({ id, name: text(100), since: fc.nat() }), { maxLength: 3 }), gone: fc.array(id, { maxLength: 3 }) }, { requiredKeys: ['type', 'members'] }),
);
const command: fc.Arbitrary<ControlCommand> = fc.oneof(
  fc.record({ type: fc.constant('policy' as const), version: fc.nat(), sha256: fc.stringMatching(/^[0-9a-f]{64}$/) }),
  fc.record(
    {
      type: fc.constant('meeting-policy' as const),
      meeting: id,
      policy: fc.record({ hostCountry: code, plan: fc.string({ minLength: 1, maxLength: 64 }), accountJurisdictions: fc.array(code, { maxLength: 3 }), meetingJurisdictions: fc.array(code, { maxLength: 3 }), cascade: fc.constant(true as const) }, { requiredKeys: ['hostCountry'] }),
      revision: fc.nat(),
    },
    { requiredKeys: ['type', 'meeting', 'policy'] },
  ),
  fc.record({ type: fc.constant('move' as const), meeting: id, to: id, reason: text(500) }),
  fc.record({ type: fc.constant('end' as const), meeting: id, reason: text(500) }),
  fc.record({ type: fc.constant('evict' as const), meeting: id, participant: id, session: id, code: fc.string({ minLength: 1, maxLength: 64 }), reason: text(500) }),
  fc.record({ type: fc.constant('keys' as const), revoked: fc.array(id, { maxLength: 4 }) }),
  fc.record({ type: fc.constant('relay' as const), meeting: id, from: id, url: fc.constantFrom('ws://127.0.0.1:9/signal', 'wss://bridge.example.org/signal'), ticket: fc.string({ minLength: 1, maxLength: 100 }) }),
  fc.record({ type: fc.constant('relay-end' as const), meeting: id, from: id, reason: text(500) }),
  fc.record({ type: fc.constant('mls' as const), meeting: id, deliveries: fc.array(fc.record({ to: fc.array(id, { maxLength: 3 }), message: groupDelivery }), { maxLength: 3 }) }),
  fc.record({ type: fc.constant('unreachable' as const), meeting: id, pairs: fc.array(fc.record({ from: id, to: id, reason: fc.string({ minLength: 1, maxLength: 64 }) }), { maxLength: 3 }), names: fc.array(fc.record({ id, name: text(100) }), { maxLength: 3 }) }),
);

/** Values a field may be retyped to, or pushed out of bounds with. */
const odd = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0.5, 2 ** 53, 8.64e15 + 1, 1e308, '', 'x'.repeat(101), 'x'.repeat(16_385), 'ws://a b', 'http://a', '__proto__', null, true, [], {}, [{}], [null]),
  fc.constant(Array.from({ length: MAX_REVOKED_KIDS + 1 }, (_, i) => `k${i}`)),
);

/** A command with one field (top-level or one level down) deleted, retyped or out of bounds, or one added. */
const mutated = fc.tuple(command, fc.nat(), fc.boolean(), odd, fc.constantFrom('extra', '__proto__', 'constructor')).map(([c, pick, drop, value, extra]) => {
  const copy = JSON.parse(JSON.stringify(c)) as Record<string, unknown>;
  const keys = Object.keys(copy);
  // Now and then a field of a nested object (policy, a delivery, a pair) instead.
  const nested = Object.values(copy).flatMap((v): unknown[] => (Array.isArray(v) ? (v as unknown[]) : [v])).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v));
  const target = pick % 3 === 0 && nested.length > 0 ? (nested[pick % nested.length] ?? copy) : copy;
  const names = target === copy ? keys : Object.keys(target);
  const field = pick % 7 === 6 ? extra : (names[pick % Math.max(1, names.length)] ?? extra);
  if (drop) Reflect.deleteProperty(target, field);
  else Object.defineProperty(target, field, { value, enumerable: true, writable: true, configurable: true });
  // Through JSON, as the claim arrives (JSON.parse makes `__proto__` an own key).
  return JSON.parse(JSON.stringify(copy)) as unknown;
});

const deep = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** The command parsed, checked: never a throw, and an accepted one is returned as sent and safe for the bridge. */
function parsedSafely(value: unknown): ReturnType<typeof parseControlCommand> {
  const parsed = parseControlCommand(value);
  if (!parsed.ok) {
    expect(typeof parsed.error).toBe('string');
    return parsed;
  }
  expect(parsed.message).toBe(value);
  const c = parsed.message;
  // The bridge passes each group message on to its participants as is (server.ts): they must parse it.
  if (c.type === 'mls') for (const d of c.deliveries) expect(parseBridgeMessage(encodeMessage(d.message))).toEqual({ ok: true, message: d.message });
  // An evicted session is told `refused` with the command's code and reason.
  if (c.type === 'evict') expect(parseBridgeMessage(encodeMessage({ type: 'refused', code: c.code, message: c.reason })).ok).toBe(true);
  return parsed;
}

describe('control commands, fuzzed', () => {
  it('accept every valid command as sent', () => {
    fc.assert(
      fc.property(command, (c) => {
        expect(parsedSafely(JSON.parse(JSON.stringify(c)))).toEqual({ ok: true, message: c });
      }),
      { numRuns: 1000 },
    );
  });

  it('never throw on arbitrary JSON, or on a command with a field deleted, retyped, out of bounds or added', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.json().map((j) => JSON.parse(j) as unknown), mutated), (value) => {
        parsedSafely(value);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuse each field just past its bounds, and take it at them', () => {
    const x = (n: number): string => 'x'.repeat(n);
    const policy = { hostCountry: 'DE' };
    // Each valid command, then per field: a value at its bound (taken) and values past it (refused).
    const table: [Record<string, unknown>, Record<string, [unknown, unknown[]]>][] = [
      [{ type: 'policy', version: 1, sha256: 'a'.repeat(64) }, { version: [Number.MAX_SAFE_INTEGER, [-1, 0.5, 2 ** 53, '1']], sha256: ['0'.repeat(64), ['a'.repeat(63), 'A'.repeat(64), 'g'.repeat(64)]] }],
      [{ type: 'meeting-policy', meeting: 'm', policy }, { meeting: [x(100), [x(101), '']], policy: [{ hostCountry: 'DE', plan: x(64), accountJurisdictions: Array(300).fill('US') }, [{ hostCountry: 'de' }, { hostCountry: 'DE', plan: x(65) }, { hostCountry: 'DE', accountJurisdictions: Array(301).fill('US') }, { hostCountry: 'DE', cascade: false }, { hostCountry: 'DE', x: 1 }]], revision: [0, [-1, 0.5]] }],
      [{ type: 'move', meeting: 'm', to: 'd', reason: '' }, { to: [x(100), [x(101), '']], reason: [x(500), [x(501), 5]] }],
      [{ type: 'end', meeting: 'm', reason: '' }, { reason: [x(500), [x(501), null]] }],
      [{ type: 'evict', meeting: 'm', participant: 'p', session: 's', code: 'C', reason: '' }, { participant: [x(100), [x(101)]], session: [x(100), [x(101)]], code: [x(64), [x(65), '']], reason: [x(500), [x(501)]] }],
      [{ type: 'keys', revoked: [] }, { revoked: [Array(MAX_REVOKED_KIDS).fill('k'), [Array(MAX_REVOKED_KIDS + 1).fill('k'), [''], [x(101)], 'k']] }],
      [{ type: 'relay', meeting: 'm', from: 'd', url: 'ws://a', ticket: 't' }, { url: [`wss://${x(2000)}`, ['http://a', 'ws://', `ws://${x(2001)}`, 'ws://a b']], ticket: [x(16_384), [x(16_385), '']] }],
      [{ type: 'relay-end', meeting: 'm', from: 'd', reason: '' }, { from: [x(100), [x(101)]], reason: [x(500), [x(501)]] }],
      [{ type: 'mls', meeting: 'm', deliveries: [] }, { deliveries: [[{ to: ['p'], message: { type: 'mls-found' } }], [[{ to: ['p'], message: { type: 'end' } }], [{ to: [''], message: { type: 'mls-found' } }], [{ to: ['p'], message: { type: 'mls-found', x: 1 } }]]] }],
      [{ type: 'unreachable', meeting: 'm', pairs: [], names: [] }, { pairs: [[{ from: 'a', to: 'b', reason: x(64) }], [[{ from: 'a', to: 'b', reason: x(65) }], [{ from: 'a', to: 'b', reason: '' }]]], names: [[{ id: 'a', name: x(100) }], [[{ id: 'a', name: x(101) }]]] }],
    ];
    for (const [base, fields] of table) {
      expect(parsedSafely(base).ok, JSON.stringify(base)).toBe(true);
      for (const [field, [edge, past]] of Object.entries(fields)) {
        expect(parsedSafely({ ...base, [field]: edge }).ok, `${String(base.type)}.${field} at its bound`).toBe(true);
        for (const bad of past) expect(parsedSafely({ ...base, [field]: bad }).ok, `${String(base.type)}.${field} = ${JSON.stringify(bad).slice(0, 40)}`).toBe(false);
      }
    }
  });

  it('regressions: a type nested 10,000 deep, at the top or in a group message', () => {
    // Before: RangeError (parseTagged named an unknown type with JSON.stringify), out of the parser.
    const top = JSON.parse(`{"type":${deep(10_000)}}`) as unknown;
    expect(parsedSafely(top)).toMatchObject({ ok: false, error: expect.stringMatching(/^unknown message type \(a list\)/) as unknown });
    const inDelivery = JSON.parse(`{"type":"mls","meeting":"m","deliveries":[{"to":["p"],"message":{"type":${deep(10_000)}}}]}`) as unknown;
    expect(parsedSafely(inDelivery)).toEqual({ ok: false, error: "'mls' message: field 'deliveries' is malformed" });
    const objects = JSON.parse(`{"type":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`) as unknown;
    expect(parsedSafely(objects).ok).toBe(false);
    for (const json of ['{"type":"__proto__"}', '{"type":"constructor"}', '{"type":"toString"}', '{"__proto__":{"type":"end"},"meeting":"m","reason":""}', '{"type":"end","meeting":"m","reason":"","__proto__":{}}']) {
      expect(parsedSafely(JSON.parse(json)).ok, json).toBe(false);
    }
    expect(parsedSafely({ type: 'keys', revoked: Array.from({ length: MAX_REVOKED_KIDS + 1 }, (_, i) => `k${i}`) }).ok).toBe(false);
  });
});

describe('control messages, fuzzed', () => {
  const DC = 'eu-central';
  const NONCE = 'n'.repeat(32);
  const NOW = new Date('2026-03-01T08:00:00Z');
  let key: CryptoKey;
  let jwks: { keys: JWK[] };

  beforeAll(async () => {
    const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    key = pair.privateKey;
    jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA' }] };
  });

  const iat = Math.floor(NOW.getTime() / 1000);
  /** Signed as the broker signs (jose's SignJWT would refuse what this test sends, or throw on stringifying it). */
  function sign(claims: Record<string, unknown> | string): Promise<string> {
    const json = typeof claims === 'string' ? claims : JSON.stringify(claims);
    return new CompactSign(new TextEncoder().encode(json)).setProtectedHeader({ alg: 'EdDSA', typ: CONTROL_TYPE, kid: 'k1' }).sign(key);
  }
  const validClaims = (c: unknown, seq: unknown = 1): Record<string, unknown> => ({ aud: CONTROL_AUDIENCE, sub: DC, iat, exp: iat + 60, jti: 'j-1', nonce: NONCE, seq, command: c });

  /** The claims, or the code thrown; anything but a documented GeobridgeError fails the test. */
  async function outcome(token: string): Promise<ControlMessageClaims | string> {
    try {
      const claims = await verifyControlMessage(jwks, token, { now: NOW, datacenter: DC, nonce: NONCE });
      expect(Number.isInteger(claims.seq)).toBe(true);
      return claims;
    } catch (error) {
      if (!isGeobridgeError(error)) throw error;
      expect(['CONTROL_MESSAGE_INVALID', 'KEY_REVOKED', 'JWKS_UNAVAILABLE']).toContain(error.code);
      return error.code;
    }
  }

  it('verify a valid message with any valid command, returning the command as sent', async () => {
    await fc.assert(
      fc.asyncProperty(command, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), async (c, seq) => {
        expect(await outcome(await sign(validClaims(c, seq)))).toMatchObject({ sub: DC, nonce: NONCE, seq, command: c });
      }),
      { numRuns: 100 },
    );
  });

  it('refuse arbitrary tokens, and signed messages whose command or claims are hostile, with a code', async () => {
    const claimsArb = fc.oneof(
      fc.tuple(fc.oneof(fc.jsonValue(), mutated), fc.oneof(fc.nat(), odd)).map(([c, seq]) => validClaims(c, seq)),
      fc.tuple(command, fc.constantFrom('sub', 'nonce', 'seq', 'jti', 'iat', 'exp', 'aud', 'command'), odd).map(([c, field, value]) => ({ ...validClaims(c), [field]: value })),
    );
    await fc.assert(
      fc.asyncProperty(claimsArb, async (claims) => {
        const got = await outcome(await sign(claims));
        // As JSON carries it (-0 arrives as 0).
        if (typeof got !== 'string') expect(got.command).toEqual(JSON.parse(JSON.stringify(claims.command)));
      }),
      { numRuns: 200 },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), async (token) => {
        expect(await outcome(token)).toBe('CONTROL_MESSAGE_INVALID');
      }),
      { numRuns: 200 },
    );
  });

  it('parseControlMessage never throws on an arbitrary payload', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('sub', 'iat', 'exp', 'jti', 'nonce', 'seq', 'command', 'aud', '__proto__'), fc.oneof(fc.jsonValue({ maxDepth: 2 }), odd, mutated)), (payload) => {
        const result = parseControlMessage(payload);
        if (result.ok) expect(result.claims.command).toBe(payload.command);
      }),
      { numRuns: 1000 },
    );
  });

  it('regression: a signed command nested 10,000 deep is refused with its code', async () => {
    // Before: verifyControlMessage threw RangeError, not CONTROL_MESSAGE_INVALID.
    const claims = JSON.stringify(validClaims('COMMAND')).replace('"COMMAND"', `{"type":${deep(10_000)}}`);
    expect(await outcome(await sign(claims))).toBe('CONTROL_MESSAGE_INVALID');
  });
});
