/**
 * Checks a bridge's `admitted` proof kept in a routing receipt file, as the
 * SDK did when it connected (src/sdk/bridge-proof.ts, whose layer the CLI
 * does not import): a JWS over the participant's challenge, signed with the
 * key the broker publishes for that datacenter (GET /v1/bridges/keys). It
 * shows the datacenter was reached, not merely an address.
 */
import type { Static } from 'typebox';
import { isGeobridgeError } from '../core/errors.js';
import type { BridgeKeysAnswer } from '../protocol/answers.js';
import { verifyBridgeProof, type ExpectedBridgeProof } from '../protocol/bridge-proof.js';

/** Why `proof` is not the bridge of `expected.datacenter` answering that challenge for that participant, or undefined when it is. */
export async function bridgeProofProblem(proof: string, expected: ExpectedBridgeProof, keys: Static<typeof BridgeKeysAnswer>['keys']): Promise<string | undefined> {
  const jwk = Object.hasOwn(keys, expected.datacenter) ? keys[expected.datacenter] : undefined;
  if (jwk === undefined) return `the broker publishes no key for datacenter ${expected.datacenter}`;
  try {
    await verifyBridgeProof(jwk, proof, expected);
    return undefined;
  } catch (error) {
    if (isGeobridgeError(error)) return error.message;
    throw error;
  }
}
