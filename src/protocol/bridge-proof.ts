/**
 * The bridge's proof of identity (`typ` gb-bridge-proof+jws): in `admitted`,
 * a compact JWS over the client's `join` challenge and the participant it
 * admitted, signed with the Ed25519 key the broker has configured for its
 * datacenter and publishes at `GET /v1/bridges/keys`. A bridge without that
 * key (an impostor, a misrouted URL) cannot make one. The bridge signs; the
 * SDK checks it on admission, and `geobridge receipt verify` again later.
 */
import { CompactSign, compactVerify, type CryptoKey, type JWK } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { fieldsOk, isObject, nonEmpty, optional, type Parsed } from '../core/fields.js';
import { isTime } from '../core/time.js';
import { isChallenge } from './signalling.js';

/** The JWS `typ` of a bridge's proof of identity. */
export const BRIDGE_PROOF_TYPE = 'gb-bridge-proof+jws';

const ID_MAX = 100;
/** `sha-512` and 64 colon-separated bytes, with room to spare. */
const FINGERPRINT_MAX = 256;

/** What a bridge signs to prove to a client that it holds its datacenter's key. */
export interface BridgeProof {
  readonly datacenter: string;
  /** The client's `join` challenge. */
  readonly challenge: string;
  /** The participant it admitted (the ticket's subject). */
  readonly participant: string;
  /** When it signed, ms since the epoch (for logs; the challenge makes it fresh). */
  readonly at: number;
  /**
   * Between bridges (a cascade hop): the fingerprint of the DTLS certificate
   * its media runs over, as SDP writes it (`sha-256 AB:…`). The other bridge
   * takes only SDP naming it, so a relay in the middle carries no media.
   */
  readonly fingerprint?: string | undefined;
}

/** What the proof must say. */
export type ExpectedBridgeProof = Pick<BridgeProof, 'datacenter' | 'challenge' | 'participant'>;

/** Parses the payload of a bridge proof. */
export function parseBridgeProof(value: unknown): Parsed<BridgeProof> {
  if (!isObject(value)) return { ok: false, error: 'the proof payload is not a JSON object' };
  const problem = fieldsOk(value, { datacenter: nonEmpty(ID_MAX), challenge: isChallenge, participant: nonEmpty(ID_MAX), at: isTime, fingerprint: optional(nonEmpty(FINGERPRINT_MAX)) });
  return problem === undefined ? { ok: true, message: value as unknown as BridgeProof } : { ok: false, error: `bridge proof: ${problem}` };
}

/** Signs a proof with the datacenter's private key. */
export function signBridgeProof(privateKey: CryptoKey, proof: BridgeProof): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(proof))).setProtectedHeader({ alg: 'EdDSA', typ: BRIDGE_PROOF_TYPE, kid: proof.datacenter }).sign(privateKey);
}

function invalid(why: string): GeobridgeError {
  return new GeobridgeError('BRIDGE_PROOF_INVALID', why);
}

/**
 * Checks that `proof` is the bridge of `expected.datacenter` answering that
 * challenge for that participant, signed with `key` (the datacenter's public
 * key as the broker publishes it). Throws BRIDGE_PROOF_INVALID saying why not.
 */
export async function verifyBridgeProof(key: CryptoKey | JWK | Uint8Array, proof: string, expected: ExpectedBridgeProof): Promise<BridgeProof> {
  let verified;
  try {
    verified = await compactVerify(proof, key, { algorithms: ['EdDSA'] });
  } catch {
    throw invalid(`the proof is not signed by the key the broker publishes for ${expected.datacenter}: the bridge may be an impostor`);
  }
  if (verified.protectedHeader.typ !== BRIDGE_PROOF_TYPE) throw invalid(`the proof is not a ${BRIDGE_PROOF_TYPE}`);
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch {
    throw invalid('the proof payload is not JSON');
  }
  const parsed = parseBridgeProof(payload);
  if (!parsed.ok) throw invalid(parsed.error);
  const { datacenter, challenge, participant } = parsed.message;
  // A proof for another connection is a replayed or misdirected one.
  if (datacenter !== expected.datacenter || challenge !== expected.challenge || participant !== expected.participant) {
    throw invalid(`the proof is for ${datacenter}, another challenge or another participant`);
  }
  return parsed.message;
}
