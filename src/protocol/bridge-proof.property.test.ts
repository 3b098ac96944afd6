/**
 * The bridge's proof of identity, fuzzed: the client (SDK), a hop's two
 * bridges and `geobridge receipt verify` check proofs a bridge they do not
 * trust yet sent. Whatever the proof, `verifyBridgeProof` resolves with the
 * payload as signed or throws BRIDGE_PROOF_INVALID, never anything else; and
 * what it accepts is safe to use (`receipt verify` prints `at` with
 * `new Date(at).toISOString()`).
 */
import fc from 'fast-check';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { isGeobridgeError } from '../core/errors.js';
import { BRIDGE_PROOF_TYPE, parseBridgeProof, signBridgeProof, verifyBridgeProof, type BridgeProof } from './bridge-proof.js';

const proofArb: fc.Arbitrary<BridgeProof> = fc.record({
  datacenter: fc.string({ minLength: 1, maxLength: 100 }),
  challenge: fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
  participant: fc.string({ minLength: 1, maxLength: 100 }),
  at: fc.integer({ min: 0, max: 8.64e15 }),
});
/** Values a field may be retyped to, or pushed out of bounds with. */
const odd = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0.5, 8.64e15 + 1, 2 ** 53 - 1, 2 ** 53 + 2, 1e308, '', 'x'.repeat(101), 'c'.repeat(42), 'c'.repeat(44), null, [], {}),
);
const FIELDS = ['datacenter', 'challenge', 'participant', 'at'] as const;

let key: CryptoKey;
let publicJwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  key = pair.privateKey;
  publicJwk = await exportJWK(pair.publicKey);
});

/** Payload bytes signed with the datacenter's key, under `typ`. */
function signBytes(bytes: Uint8Array, typ: string = BRIDGE_PROOF_TYPE): Promise<string> {
  return new CompactSign(bytes).setProtectedHeader({ alg: 'EdDSA', typ }).sign(key);
}
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const expectedOf = (p: Pick<BridgeProof, 'datacenter' | 'challenge' | 'participant'>): Pick<BridgeProof, 'datacenter' | 'challenge' | 'participant'> => ({ datacenter: p.datacenter, challenge: p.challenge, participant: p.participant });

/** What `verifyBridgeProof` made of `jws`: the proof (checked safe to print), or the code it threw; any other throw fails the test. */
async function outcome(jws: string, expected: Pick<BridgeProof, 'datacenter' | 'challenge' | 'participant'>): Promise<BridgeProof | string> {
  try {
    const proof = await verifyBridgeProof(publicJwk, jws, expected);
    expect(new Date(proof.at).toISOString()).toMatch(/Z$/);
    return proof;
  } catch (error) {
    if (!isGeobridgeError(error)) throw error;
    return error.code;
  }
}

describe('bridge proofs, fuzzed', () => {
  it('verify every valid proof, returning it as signed', async () => {
    await fc.assert(
      fc.asyncProperty(proofArb, async (p) => {
        expect(await outcome(await signBridgeProof(key, p), expectedOf(p))).toEqual(p);
      }),
      { numRuns: 100 },
    );
  });

  it('refuse any other string with BRIDGE_PROOF_INVALID', async () => {
    const texts = fc.oneof(
      fc.string(),
      fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((parts) => parts.join('.').replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '')),
      fc.jsonValue().map((v) => `${Buffer.from(JSON.stringify(v)).toString('base64url')}.${Buffer.from(JSON.stringify(v)).toString('base64url')}.AAAA`),
    );
    await fc.assert(
      fc.asyncProperty(texts, proofArb, async (jws, p) => {
        expect(await outcome(jws, expectedOf(p))).toBe('BRIDGE_PROOF_INVALID');
      }),
      { numRuns: 300 },
    );
  });

  it('signed payloads that are not a proof, or a proof with a field deleted, retyped or out of bounds: refused, never a raw error', async () => {
    // The bytes signed, and the connection they are checked for (a mutated proof: its own, so only the mutation can fail it).
    const payloads = fc.oneof(
      fc.tuple(fc.uint8Array({ maxLength: 100 }), proofArb),
      fc.tuple(fc.jsonValue().map((v) => utf8(JSON.stringify(v))), proofArb),
      fc.tuple(proofArb, fc.constantFrom(...FIELDS, 'extra', 'constructor'), fc.boolean(), odd).map(([p, field, drop, value]): [Uint8Array, BridgeProof] => {
        const fields: Record<string, unknown> = { ...p };
        if (drop) Reflect.deleteProperty(fields, field);
        else fields[field] = value;
        return [utf8(JSON.stringify(fields)), p];
      }),
    );
    await fc.assert(
      fc.asyncProperty(payloads, async ([bytes, p]) => {
        const got = await outcome(await signBytes(bytes), expectedOf(p));
        // Accepted only when it is a valid proof for this connection, and then as signed.
        if (typeof got !== 'string') expect(got).toEqual(JSON.parse(new TextDecoder().decode(bytes)));
        else expect(got).toBe('BRIDGE_PROOF_INVALID');
      }),
      { numRuns: 300 },
    );
  });

  it('parseBridgeProof never throws, and accepts only what is safe to print', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), proofArb, fc.tuple(proofArb, fc.constantFrom(...FIELDS), odd).map(([p, f, v]) => ({ ...p, [f]: v }))), (value) => {
        const parsed = parseBridgeProof(value);
        if (parsed.ok) {
          expect(parsed.message).toBe(value);
          expect(new Date(parsed.message.at).toISOString()).toMatch(/Z$/);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('regressions: `at` past the last Date, deep nesting, __proto__', async () => {
    const p: BridgeProof = { datacenter: 'eu-fra', challenge: 'c'.repeat(43), participant: 'p-1', at: 1_772_366_400_000 };
    const expected = expectedOf(p);
    // Before: accepted, and `geobridge receipt verify --broker` threw RangeError printing it.
    for (const at of [8.64e15 + 1, 2 ** 53 - 1]) expect(await outcome(await signBridgeProof(key, { ...p, at }), expected)).toBe('BRIDGE_PROOF_INVALID');
    expect(await outcome(await signBridgeProof(key, { ...p, at: 8.64e15 }), expected)).toEqual({ ...p, at: 8.64e15 });
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    for (const json of [deep, `{"datacenter":${deep},"challenge":"${p.challenge}","participant":"p-1","at":1}`, `{"__proto__":{"at":1},"datacenter":"eu-fra","challenge":"${p.challenge}","participant":"p-1","at":1}`]) {
      expect(await outcome(await signBytes(utf8(json)), expected)).toBe('BRIDGE_PROOF_INVALID');
    }
    expect(await outcome(await signBytes(utf8(JSON.stringify(p)), 'gb-bridge+jws'), expected)).toBe('BRIDGE_PROOF_INVALID');
  });
});
