/**
 * The bridge → broker messages (enroll, heartbeat, claims, admission reports,
 * the presence hello), fuzzed: a bridge is another datacenter's server and
 * may be compromised, or an impostor may speak for it. Whatever it sends,
 * `verifyBridgeMessage` resolves with the message as signed or throws one of
 * its documented GeobridgeError codes; `claimedDatacenterOf` never throws;
 * and the ReplayGuard takes each seq once.
 */
import fc from 'fast-check';
import { CompactSign, generateKeyPair, type CompactJWSHeaderParameters, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { isGeobridgeError } from '../core/errors.js';
import { BRIDGE_MESSAGE_TYPE, claimedDatacenterOf, ReplayGuard, signBridgeMessage, verifyBridgeMessage, type VerifiedBridgeMessage } from './bridge-message.js';

const DC = 'eu-central';
const NOW = new Date('2026-03-01T08:00:00Z');
const SKEW_S = 30;
const CODES = ['BRIDGE_UNKNOWN', 'BRIDGE_BAD_SIGNATURE', 'BRIDGE_STALE', 'BRIDGE_REPLAYED', 'BRIDGE_MESSAGE_INVALID'];

let key: CryptoKey;
let other: CryptoKey;
let keys: Map<string, CryptoKey>;

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  key = pair.privateKey;
  other = (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey;
  // Another datacenter's key is configured too: a message signed with one and naming the other must fail.
  keys = new Map([
    [DC, pair.publicKey],
    ['ap-tokyo', (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).publicKey],
  ]);
});

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
function signRaw(bytes: Uint8Array, header: CompactJWSHeaderParameters = { alg: 'EdDSA', kid: DC, typ: BRIDGE_MESSAGE_TYPE }, with_: CryptoKey = key): Promise<string> {
  return new CompactSign(bytes).setProtectedHeader(header).sign(with_);
}

/** The verified message, or the code thrown; a throw that is not a documented GeobridgeError fails the test. */
async function outcome(jws: string, guard?: ReplayGuard): Promise<VerifiedBridgeMessage | string> {
  try {
    return await verifyBridgeMessage(keys, jws, { now: NOW, maxSkewSeconds: SKEW_S, ...(guard ? { replayGuard: guard } : {}) });
  } catch (error) {
    if (!isGeobridgeError(error)) throw error;
    expect(CODES).toContain(error.code);
    return error.code;
  } finally {
    // Counting rejections reads the header of anything sent: it never throws either.
    const claimed = claimedDatacenterOf(jws);
    expect(claimed === undefined || claimed === DC || keys.has(claimed) || /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(claimed)).toBe(true);
  }
}

const seq = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const at = fc.integer({ min: NOW.getTime() - SKEW_S * 1000, max: NOW.getTime() + SKEW_S * 1000 });
/** Values a field may be retyped to, or pushed out of bounds with. */
const odd = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0.5, -0.5, 2 ** 53, 2 ** 53 + 2, 8.64e15 + 1, -8.64e15 - 1, 1e308, NOW.getTime() + 0.5, NOW.getTime() + SKEW_S * 1000 + 1, '1', '', 'ap-tokyo', '__proto__', null, [], {}),
);
const FIELDS = ['datacenter', 'seq', 'at', 'body'] as const;

describe('bridge messages, fuzzed', () => {
  it('verify every valid message, returning its body as sent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), seq, at, async (body, s, when) => {
        const jws = await signBridgeMessage(key, DC, body, { now: new Date(when), seq: s });
        // As sent is as JSON carries it (-0 arrives as 0).
        expect(await outcome(jws, new ReplayGuard())).toEqual({ datacenter: DC, seq: s, at: when, payload: JSON.parse(JSON.stringify(body)) as unknown });
      }),
      { numRuns: 150 },
    );
  });

  it('refuse any other string with a documented code', async () => {
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const texts = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.tuple(fc.jsonValue(), fc.jsonValue()).map(([h, p]) => `${b64(h)}.${b64(p)}.AAAA`),
      fc.tuple(fc.jsonValue(), fc.jsonValue()).map(([kid, p]) => `${b64({ alg: 'EdDSA', typ: BRIDGE_MESSAGE_TYPE, kid })}.${b64(p)}.${b64(p)}`),
      fc.constantFrom(DC, ...['ap-tokyo', 'x'.repeat(64)]).map((kid) => `${b64({ alg: 'EdDSA', typ: BRIDGE_MESSAGE_TYPE, kid })}.${b64({ datacenter: kid, seq: 1, at: NOW.getTime(), body: {} })}.${'A'.repeat(86)}`),
    );
    await fc.assert(
      fc.asyncProperty(texts, async (jws) => {
        expect(CODES).toContain(await outcome(jws));
      }),
      { numRuns: 400 },
    );
  });

  it('signed envelopes with a field deleted, retyped or out of bounds, or that are no envelope: refused with a code, or accepted as sent', async () => {
    const envelopes = fc.oneof(
      fc.uint8Array({ maxLength: 100 }),
      fc.jsonValue().map((v) => utf8(JSON.stringify(v))),
      fc.tuple(fc.jsonValue({ maxDepth: 2 }), seq, at, fc.constantFrom(...FIELDS, 'extra', 'constructor'), fc.boolean(), odd).map(([body, s, when, field, drop, value]) => {
        const fields: Record<string, unknown> = { datacenter: DC, seq: s, at: when, body };
        if (drop) Reflect.deleteProperty(fields, field);
        else fields[field] = value;
        return utf8(JSON.stringify(fields));
      }),
    );
    await fc.assert(
      fc.asyncProperty(envelopes, async (bytes) => {
        const got = await outcome(await signRaw(bytes));
        if (typeof got === 'string') return;
        // Accepted: a fresh, in-window, well-formed envelope, exactly as signed.
        const sent = JSON.parse(new TextDecoder().decode(bytes)) as { datacenter: unknown; seq: unknown; at: unknown; body: unknown };
        expect(got).toEqual({ datacenter: sent.datacenter, seq: sent.seq, at: sent.at, payload: sent.body });
        expect(Number.isSafeInteger(got.seq) && got.seq >= 0).toBe(true);
        expect(Math.abs(got.at - NOW.getTime())).toBeLessThanOrEqual(SKEW_S * 1000);
        expect(new Date(got.at).toISOString()).toMatch(/Z$/);
      }),
      { numRuns: 300 },
    );
  });

  it('take seq and at only in bounds: seq a safe integer ≥ 0, at a safe integer within the skew of now', async () => {
    const number = fc.oneof(
      fc.integer({ min: -3, max: 3 }),
      fc.double({ noNaN: true }),
      fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 53 + 2, 8.64e15, 8.64e15 + 1, -8.64e15 - 1, 1e308, 0.5),
      fc.integer({ min: NOW.getTime() - 2 * SKEW_S * 1000, max: NOW.getTime() + 2 * SKEW_S * 1000 }),
      fc.integer({ min: NOW.getTime() - SKEW_S * 1000, max: NOW.getTime() + SKEW_S * 1000 }).map((t) => t + 0.5),
    );
    await fc.assert(
      fc.asyncProperty(number, number, async (seqSent, atSent) => {
        const json = JSON.stringify({ datacenter: DC, seq: seqSent, at: atSent, body: null });
        // As JSON carries them (-0 arrives as 0).
        const { seq: s, at: when } = JSON.parse(json) as { seq: number; at: number };
        const got = await outcome(await signRaw(utf8(json)));
        const seqOk = Number.isSafeInteger(s) && s >= 0;
        const atOk = Number.isSafeInteger(when);
        if (!seqOk || !atOk) expect(got).toBe('BRIDGE_MESSAGE_INVALID');
        else if (Math.abs(when - NOW.getTime()) > SKEW_S * 1000) expect(got).toBe('BRIDGE_STALE');
        else expect(got).toEqual({ datacenter: DC, seq: s, at: when, payload: null });
      }),
      { numRuns: 300 },
    );
  });

  it('headers that lie (typ, kid, alg, another key): refused with the right code', async () => {
    const envelope = utf8(JSON.stringify({ datacenter: DC, seq: 1, at: NOW.getTime(), body: { kind: 'heartbeat' } }));
    const kid = fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constantFrom('__proto__', 'constructor', 'ap-tokyo', 'us-east', 'x'.repeat(65), ''));
    await fc.assert(
      fc.asyncProperty(kid, fc.constantFrom(BRIDGE_MESSAGE_TYPE, 'gb-bridge-proof+jws', 'JWT', undefined), async (k, typ) => {
        const header = { alg: 'EdDSA', kid: k, ...(typ === undefined ? {} : { typ }) } as CompactJWSHeaderParameters;
        const got = await outcome(await signRaw(envelope, header));
        if (typ === BRIDGE_MESSAGE_TYPE && k === DC) expect(got).toMatchObject({ datacenter: DC, seq: 1 });
        else if (typ === BRIDGE_MESSAGE_TYPE && k === 'ap-tokyo') expect(got).toBe('BRIDGE_BAD_SIGNATURE');
        else if (typ === BRIDGE_MESSAGE_TYPE && typeof k === 'string' && /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(k)) expect(got).toBe('BRIDGE_UNKNOWN');
        else expect(got).toBe('BRIDGE_MESSAGE_INVALID');
      }),
      { numRuns: 100 },
    );
    expect(await outcome(await signRaw(envelope, { alg: 'EdDSA', kid: DC, typ: BRIDGE_MESSAGE_TYPE }, other))).toBe('BRIDGE_BAD_SIGNATURE');
  });

  it('deep nesting and __proto__ keys as JSON.parse makes them', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const deepObject = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    expect(await outcome(await signRaw(utf8(deep)))).toBe('BRIDGE_MESSAGE_INVALID');
    const envelope = (fields: Record<string, string>): string => `{${Object.entries({ datacenter: `"${DC}"`, seq: '7', at: String(NOW.getTime()), body: '{}', ...fields }).map(([k, v]) => `"${k}":${v}`).join(',')}}`;
    for (const field of ['datacenter', 'seq', 'at']) expect(await outcome(await signRaw(utf8(envelope({ [field]: deep }))))).toBe('BRIDGE_MESSAGE_INVALID');
    // The body is opaque here: the broker checks each kind's schema (routes/bridges.ts). A deep one still arrives as sent.
    const got = await outcome(await signRaw(utf8(envelope({ body: deepObject }))));
    expect(got).toMatchObject({ datacenter: DC, seq: 7 });
    const proto = await outcome(await signRaw(utf8(envelope({ ['__proto__']: '{"datacenter":"ap-tokyo"}', body: '{"__proto__":{"kind":"presence"}}' }))));
    expect(proto).toMatchObject({ datacenter: DC, seq: 7 });
    expect(({} as Record<string, unknown>).kind).toBeUndefined();
    const header = Buffer.from(`{"alg":"EdDSA","typ":"${BRIDGE_MESSAGE_TYPE}","kid":${deep}}`).toString('base64url');
    expect(await outcome(`${header}.e30.${'A'.repeat(86)}`)).toBe('BRIDGE_MESSAGE_INVALID');
  });

  it('ReplayGuard: takes each seq once, and none at or below the window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.oneof(fc.nat(40), fc.constantFrom(0, Number.MAX_SAFE_INTEGER)), { maxLength: 60 }), (window, seqs) => {
        const guard = new ReplayGuard(window);
        const taken = new Set<number>();
        let highest = -Infinity;
        for (const s of seqs) {
          const fresh = !taken.has(s) && (s > highest || s > highest - window);
          expect(guard.admit(DC, s).fresh).toBe(fresh);
          if (fresh) {
            taken.add(s);
            highest = Math.max(highest, s);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
