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
import { BRIDGE_PROOF_TYPE, parseBridgeProof } from '../protocol/signalling.js';

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

/** The broker's published bridge keys, fetched once per broker and shared by its sessions (again when a datacenter is missing, or its key no longer verifies: a bridge added, or re-keyed, since). */
export class BridgeKeys {
  static readonly #byBroker = new Map<string, BridgeKeys>();
  readonly #url: URL;
  #keys: Promise<Readonly<Record<string, JWK>>> | undefined;
  /** Imported keys, by datacenter and the JWK's `x` (a re-keyed datacenter gets a new entry). */
  readonly #imported = new Map<string, Promise<CryptoKey | Uint8Array>>();

  private constructor(broker: string) {
    this.#url = new URL('/v1/bridges/keys', broker);
  }

  /** The keys of `broker`, shared by every session of this page or process. */
  static of(broker: string): BridgeKeys {
    const url = new URL(broker).origin;
    let keys = BridgeKeys.#byBroker.get(url);
    if (!keys) BridgeKeys.#byBroker.set(url, (keys = new BridgeKeys(url)));
    return keys;
  }

  /** Starts the fetch now, so that the first admission does not wait for it. */
  prefetch(): void {
    this.#keys ??= this.#fetch();
    this.#keys.catch(() => undefined);
  }

  /** Checks a bridge's proof; throws with the reason when it does not hold. */
  async verify(proof: string, expected: ExpectedProof): Promise<void> {
    try {
      await this.#verifyWith(await this.#current(), proof, expected);
    } catch (error) {
      // Perhaps the datacenter was added or re-keyed since the keys were fetched: fetch them again, once.
      this.#keys = this.#fetch();
      await this.#verifyWith(await this.#keys, proof, expected).catch(() => {
        throw error;
      });
    }
  }

  async #verifyWith(keys: Readonly<Record<string, JWK>>, proof: string, expected: ExpectedProof): Promise<void> {
    const jwk = keys[expected.datacenter];
    if (jwk === undefined) throw new Error(`the broker publishes no key for datacenter ${expected.datacenter}`);
    const cacheKey = `${expected.datacenter} ${String(jwk.x)}`;
    let key = this.#imported.get(cacheKey);
    if (!key) this.#imported.set(cacheKey, (key = importJWK(jwk, 'EdDSA')));
    let verified;
    try {
      verified = await compactVerify(proof, await key, { algorithms: ['EdDSA'] });
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
