/**
 * A client knows it reached the datacenter its ticket names, not merely a
 * server at the address it was given: the client sends a fresh challenge in
 * `join`, and the bridge answers in `admitted` with a JWS over it, signed
 * with the Ed25519 key the broker has configured for that datacenter and
 * publishes at `GET /v1/bridges/keys`. A bridge without that key (an
 * impostor, a misrouted URL) is refused before its media or its MLS
 * messages are used.
 */
import { compactVerify, importJWK, type JWK } from 'jose';
import { BRIDGE_PROOF_TYPE, parseBridgeProof } from '../core/signalling/protocol.js';

/** What the proof must say. */
export interface ExpectedProof {
  readonly datacenter: string;
  readonly challenge: string;
  readonly participant: string;
}

/** 32 random bytes, base64url without padding: the `join` challenge. */
export function newChallenge(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The broker's published bridge keys, fetched once (again when a datacenter is missing: a bridge added since). */
export class BridgeKeys {
  readonly #url: URL;
  #keys: Promise<Readonly<Record<string, JWK>>> | undefined;

  constructor(broker: string) {
    this.#url = new URL('/v1/bridges/keys', broker);
  }

  /** Starts the fetch now, so that the first admission does not wait for it. */
  prefetch(): void {
    this.#keys ??= this.#fetch();
    this.#keys.catch(() => undefined);
  }

  /** Checks a bridge's proof; throws with the reason when it does not hold. */
  async verify(proof: string, expected: ExpectedProof): Promise<void> {
    let jwk = (await this.#current())[expected.datacenter];
    if (jwk === undefined) {
      this.#keys = this.#fetch();
      jwk = (await this.#keys)[expected.datacenter];
    }
    if (jwk === undefined) throw new Error(`the broker publishes no key for datacenter ${expected.datacenter}`);
    const key = await importJWK(jwk, 'EdDSA');
    let verified;
    try {
      verified = await compactVerify(proof, key, { algorithms: ['EdDSA'] });
    } catch {
      throw new Error(`the bridge did not prove it holds the key of ${expected.datacenter}: it may be an impostor`);
    }
    if (verified.protectedHeader.typ !== BRIDGE_PROOF_TYPE) throw new Error(`the bridge's proof is not a ${BRIDGE_PROOF_TYPE}`);
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder().decode(verified.payload));
    } catch {
      throw new Error("the bridge's proof payload is not JSON");
    }
    const parsed = parseBridgeProof(payload);
    if (!parsed.ok) throw new Error(parsed.error);
    const { datacenter, challenge, participant } = parsed.message;
    if (datacenter !== expected.datacenter || challenge !== expected.challenge || participant !== expected.participant) {
      throw new Error(`the bridge's proof is for ${datacenter}, another challenge or another participant: a replayed or misdirected proof`);
    }
  }

  #current(): Promise<Readonly<Record<string, JWK>>> {
    this.#keys ??= this.#fetch();
    return this.#keys;
  }

  async #fetch(): Promise<Readonly<Record<string, JWK>>> {
    const response = await fetch(this.#url);
    const body = (await response.json().catch(() => ({}))) as { keys?: unknown };
    if (!response.ok || typeof body.keys !== 'object' || body.keys === null) {
      this.#keys = undefined;
      throw new Error(`the broker's bridge keys could not be loaded (HTTP ${response.status})`);
    }
    return body.keys as Record<string, JWK>;
  }
}
