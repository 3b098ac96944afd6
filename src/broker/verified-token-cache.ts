/**
 * Tokens whose signature this broker has already verified, by their exact
 * text. A participant re-routes (reconnects, fails over) with the same join
 * token, and an Ed25519 signature over identical bytes cannot verify
 * differently the second time, so it is checked once. Only the signature
 * check is saved: the caller still checks expiry, the meeting and that the
 * signing key is still active — neither retired nor revoked — on every use,
 * so an entry under a revoked key is never used again (it is verified in
 * full, and refused). Bounded: the oldest entry goes first.
 */

/** What the first, full verification established about a token. */
export interface VerifiedToken<Claims> {
  readonly claims: Claims;
  /** The key that signed it. */
  readonly kid: string;
}

/** Default bound: ~10,000 live join tokens is a busy broker, about 10 MB (1,085 bytes an entry, measured in session 32). */
export const DEFAULT_VERIFIED_TOKENS = 10_000;

/** A bounded map from token text to what verifying it established. */
export class VerifiedTokenCache<Claims> {
  readonly #max: number;
  // A Map iterates in insertion order, so its first key is the oldest entry.
  readonly #entries = new Map<string, VerifiedToken<Claims>>();

  constructor(max = DEFAULT_VERIFIED_TOKENS) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`a verified-token cache holds at least one token, got ${max}`);
    this.#max = max;
  }

  /** The entry for exactly this token text, if it was verified before. */
  get(token: string): VerifiedToken<Claims> | undefined {
    return this.#entries.get(token);
  }

  /** Remembers a token that has just passed full verification. */
  remember(token: string, entry: VerifiedToken<Claims>): void {
    this.#entries.delete(token);
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, entry);
  }

  /** Forgets a token (expired, or its key is no longer active). */
  forget(token: string): void {
    this.#entries.delete(token);
  }

  get size(): number {
    return this.#entries.size;
  }
}
