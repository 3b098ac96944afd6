/**
 * The manifests a party has seen put in force, by SHA-256 (hex), the most
 * recent few: a route ticket names the manifest it was decided under, and
 * tickets live minutes while manifests change far more rarely. The broker and
 * the bridges each keep one (src/broker/context.ts, src/bridge/broker-link.ts).
 */
import type { Manifest } from './types.js';

export class RecentManifests {
  readonly #limit: number;
  // A Map iterates in insertion order: its first key is the oldest.
  readonly #bySha256 = new Map<string, Manifest>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** `manifest` is in force now (again, or for the first time); the oldest beyond the limit is forgotten. */
  adopt(sha256: string, manifest: Manifest): void {
    this.#bySha256.delete(sha256);
    this.#bySha256.set(sha256, manifest);
    for (const oldest of this.#bySha256.keys()) {
      if (this.#bySha256.size <= this.#limit) break;
      this.#bySha256.delete(oldest);
    }
  }

  /** The manifest with this SHA-256, if it is one of the recent ones (a function, to hand to a ticket verifier as it is). */
  readonly bySha256 = (sha256: string): Manifest | undefined => this.#bySha256.get(sha256);
}
