/**
 * The manifest in force, swapped whole when a change is accepted (here or,
 * with brokers sharing a bus, on another broker), and the recent ones that
 * tickets in flight may still name.
 */
import { RecentManifests } from '../core/manifest/recent.js';
import type { Manifest } from '../core/manifest/types.js';

/** The manifest in force and its version; replaced whole on an accepted change. */
export interface PolicyState {
  readonly manifest: Manifest;
  readonly version: number;
  readonly sha256: string;
  readonly text: string;
}

/** How many manifests the broker keeps at hand by hash: route tickets live minutes, manifests change far more rarely. */
const RECENT_MANIFESTS = 16;

/** Holds the manifest in force (swapped atomically: one reference), and the recent ones that tickets in flight may name. */
export class PolicyHolder {
  #state: PolicyState;
  readonly #recent = new RecentManifests(RECENT_MANIFESTS);

  constructor(state: PolicyState) {
    this.#state = state;
    this.#recent.adopt(state.sha256, state.manifest);
  }

  get current(): PolicyState {
    return this.#state;
  }

  replace(state: PolicyState): void {
    this.#state = state;
    this.#recent.adopt(state.sha256, state.manifest);
  }

  /** A manifest in force in this process's life, by SHA-256 (hex), if it is one of the recent ones. */
  readonly manifestBySha256 = (sha256: string): Manifest | undefined => this.#recent.bySha256(sha256);

  #queue: Promise<unknown> = Promise.resolve();

  /**
   * Runs policy changes one at a time (a manifest change and its re-check of
   * live meetings, an account's new policy and its re-check), so that two
   * changes can never interleave and leave a meeting checked against a
   * manifest that is no longer in force.
   */
  exclusive<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(change, change);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
