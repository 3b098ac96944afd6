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
import { verifyBridgeProof, type BridgeProof, type ExpectedBridgeProof } from '../protocol/bridge-proof.js';

/** The proof checked: what it signs (its `at`, when the bridge admitted), or why it is not the bridge of `expected.datacenter` answering that challenge for that participant. */
export async function checkBridgeProof(proof: string, expected: ExpectedBridgeProof, keys: Static<typeof BridgeKeysAnswer>['keys']): Promise<{ readonly ok: true; readonly proof: BridgeProof } | { readonly ok: false; readonly reason: string }> {
  const jwk = Object.hasOwn(keys, expected.datacenter) ? keys[expected.datacenter] : undefined;
  if (jwk === undefined) return { ok: false, reason: `the broker publishes no key for datacenter ${expected.datacenter}` };
  try {
    return { ok: true, proof: await verifyBridgeProof(jwk, proof, expected) };
  } catch (error) {
    if (isGeobridgeError(error)) return { ok: false, reason: error.message };
    throw error;
  }
}
