/**
 * The bridge's proof of identity: good for the datacenter, challenge and
 * participant it names, signed by that datacenter's key, typed as a proof.
 */
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from './code-of.fixture.js';
import { BRIDGE_PROOF_TYPE, signBridgeProof, verifyBridgeProof, type BridgeProof } from './bridge-proof.js';

const proof: BridgeProof = { datacenter: 'eu-fra', challenge: 'c'.repeat(43), participant: 'p-1', at: 1_772_366_400_000 };
const expected = { datacenter: proof.datacenter, challenge: proof.challenge, participant: proof.participant };

let key: CryptoKey;
let publicJwk: JWK;
let impostor: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  key = pair.privateKey;
  publicJwk = await exportJWK(pair.publicKey);
  impostor = (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey;
});

function signRaw(payload: unknown, typ: string, with_: CryptoKey = key): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', typ, kid: 'eu-fra' }).sign(with_);
}

describe('bridge proofs', () => {
  it('verify when signed by the datacenter key for this challenge and participant', async () => {
    expect(await verifyBridgeProof(publicJwk, await signBridgeProof(key, proof), expected)).toEqual(proof);
  });

  it('are refused signed by another key, with another typ, or for another connection', async () => {
    expect(await codeOf(verifyBridgeProof(publicJwk, await signBridgeProof(impostor, proof), expected))).toBe('BRIDGE_PROOF_INVALID');
    expect(await codeOf(verifyBridgeProof(publicJwk, await signRaw(proof, 'gb-bridge+jws'), expected))).toBe('BRIDGE_PROOF_INVALID');
    for (const other of [{ datacenter: 'eu-ams' }, { challenge: 'd'.repeat(43) }, { participant: 'p-2' }]) {
      expect(await codeOf(verifyBridgeProof(publicJwk, await signBridgeProof(key, proof), { ...expected, ...other })), JSON.stringify(other)).toBe('BRIDGE_PROOF_INVALID');
    }
  });

  it('are refused with a malformed field, naming it', async () => {
    const error = await verifyBridgeProof(publicJwk, await signRaw({ ...proof, challenge: 'short' }, BRIDGE_PROOF_TYPE), expected).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BRIDGE_PROOF_INVALID', message: expect.stringContaining("'challenge'") as unknown });
  });
});
