/**
 * A client knows it reached the datacenter its ticket names, not merely a
 * server at the address it was given: the client sends a fresh challenge in
 * `join`, and the bridge answers in `admitted` with a JWS over it, signed
 * with the Ed25519 key the broker has configured for that datacenter and
 * publishes at `GET /v1/bridges/keys`. A bridge without that key (an
 * impostor, a misrouted URL) is refused before its media or its MLS
 * messages are used.
 */
import { importJWK } from 'jose';
import type { Static } from 'typebox';
import type { BridgeKeysAnswer } from '../protocol/answers.js';
import { verifyBridgeProof, type ExpectedBridgeProof } from '../protocol/bridge-proof.js';
import { BrokerClient } from './broker-client.js';

/** The published keys: an Ed25519 public JWK per datacenter. */
type PublishedKeys = Static<typeof BridgeKeysAnswer>['keys'];

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
  readonly #client: BrokerClient;
  #keys: Promise<PublishedKeys> | undefined;
  /** Imported keys, by datacenter and the JWK's `x` (a re-keyed datacenter gets a new entry). */
  readonly #imported = new Map<string, Promise<CryptoKey | Uint8Array>>();

  private constructor(client: BrokerClient) {
    this.#client = client;
  }

  /** The keys of `broker`, shared by every session of this page or process. */
  static of(broker: BrokerClient | string): BridgeKeys {
    const client = typeof broker === 'string' ? new BrokerClient(broker) : broker;
    let keys = BridgeKeys.#byBroker.get(client.url);
    if (!keys) BridgeKeys.#byBroker.set(client.url, (keys = new BridgeKeys(client)));
    return keys;
  }

  /** Starts the fetch now, so that the first admission does not wait for it. */
  prefetch(): void {
    this.#keys ??= this.#fetch();
    this.#keys.catch(() => undefined);
  }

  /** Checks a bridge's proof; throws with the reason when it does not hold. */
  async verify(proof: string, expected: ExpectedBridgeProof): Promise<void> {
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

  async #verifyWith(keys: PublishedKeys, proof: string, expected: ExpectedBridgeProof): Promise<void> {
    const jwk = keys[expected.datacenter];
    if (jwk === undefined) throw new Error(`the broker publishes no key for datacenter ${expected.datacenter}`);
    const cacheKey = `${expected.datacenter} ${jwk.x}`;
    let key = this.#imported.get(cacheKey);
    if (!key) this.#imported.set(cacheKey, (key = importJWK(jwk, 'EdDSA')));
    await verifyBridgeProof(await key, proof, expected);
  }

  #current(): Promise<PublishedKeys> {
    this.#keys ??= this.#fetch();
    return this.#keys;
  }

  async #fetch(): Promise<PublishedKeys> {
    try {
      return await this.#client.bridgeKeys();
    } catch (error) {
      this.#keys = undefined;
      throw error;
    }
  }
}
