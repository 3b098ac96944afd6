/**
 * The policy each meeting on this bridge is held to, as the broker last said
 * it: in its answer to an admission, and in `meeting-policy` commands. Both
 * can come late: an answer read before a change whose command came first,
 * or two changes of one account made at once on two brokers. Each carries
 * the account's policy revision (the store counts every change), and the
 * highest revision heard wins, whatever the order it arrives in.
 *
 * A policy without a revision (from a broker older than revisions) is taken
 * as it comes, as before, and the next revised one is taken after it.
 */
import type { MeetingPolicy } from '../core/select/meeting-policy.js';

interface Held {
  readonly policy: MeetingPolicy;
  readonly revision: number | undefined;
}

export class MeetingPolicies {
  readonly #held = new Map<string, Held>();

  /** The policy `meeting` is held to here, if the broker said one. */
  get(meeting: string): MeetingPolicy | undefined {
    return this.#held.get(meeting)?.policy;
  }

  /** Holds `meeting` to `policy` unless a later revision is held already; false when it was older, and changed nothing. */
  take(meeting: string, policy: MeetingPolicy, revision: number | undefined): boolean {
    const held = this.#held.get(meeting);
    if (revision !== undefined && held?.revision !== undefined && revision < held.revision) return false;
    this.#held.set(meeting, { policy, revision });
    return true;
  }

  /** Nobody here attends `meeting` any more. */
  forget(meeting: string): void {
    this.#held.delete(meeting);
  }
}
