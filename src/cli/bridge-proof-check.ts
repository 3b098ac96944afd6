/**
 * Checks a bridge's `admitted` proof kept in a routing receipt file, as the
 * SDK did when it connected (src/sdk/bridge-proof.ts, whose layer the CLI
 * does not import): a JWS over the participant's challenge, signed with the
 * key the broker publishes for that datacenter (GET /v1/bridges/keys). It
 * shows the datacenter was reached, not merely an address.
 */
import { compactVerify, importJWK, type JWK } from 'jose';
import { BRIDGE_PROOF_TYPE, parseBridgeProof } from '../protocol/signalling.js';

/** What the proof must say. */
export interface ExpectedBridgeProof {
  readonly datacenter: string;
  readonly challenge: string;
  readonly participant: string;
}

/** Why `proof` is not the bridge of `expected.datacenter` answering that challenge for that participant, or undefined when it is. */
export async function bridgeProofProblem(proof: string, expected: ExpectedBridgeProof, keys: Readonly<Record<string, unknown>>): Promise<string | undefined> {
  const jwk = keys[expected.datacenter];
  if (typeof jwk !== 'object' || jwk === null) return `the broker publishes no key for datacenter ${expected.datacenter}`;
  let payload: unknown;
  try {
    const verified = await compactVerify(proof, await importJWK(jwk as JWK, 'EdDSA'), { algorithms: ['EdDSA'] });
    if (verified.protectedHeader.typ !== BRIDGE_PROOF_TYPE) return `the proof is not a ${BRIDGE_PROOF_TYPE}`;
    payload = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch {
    return `the proof is not signed by the key the broker publishes for ${expected.datacenter}`;
  }
  const parsed = parseBridgeProof(payload);
  if (!parsed.ok) return parsed.error;
  const { datacenter, challenge, participant } = parsed.message;
  if (datacenter !== expected.datacenter || challenge !== expected.challenge || participant !== expected.participant) return `the proof is for ${datacenter}, another challenge or another participant`;
  return undefined;
}
