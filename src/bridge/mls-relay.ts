/**
 * The bridge as the MLS delivery service of its meetings (RFC 9420 §14):
 * it orders commits with the pure rule of src/e2ee/delivery.ts — the first
 * commit for an epoch wins, later ones are refused so their senders rebase —
 * and relays key packages, proposals, commits and Welcomes between the
 * participants. It sees only public framing: never a key.
 *
 * A meeting's group lives as long as someone on this bridge holds it: the
 * first participant into an empty room founds a fresh group (epoch 0), so a
 * meeting re-homed to another bridge starts a new group there. The relay
 * keeps who holds the group — its founder, each member whose commit it
 * accepted, each member that says it joined — and when the last holder
 * leaves while others still wait to be added, it asks the earliest of them
 * to found a new group (`mls-found`): without that they would wait forever
 * for a Welcome nobody can send.
 */
import type { BridgeMessage, MlsSubmitMessage } from '../core/signalling/protocol.js';
import { deliver, openDelivery, type DeliveryState } from '../e2ee/delivery.js';

/** A message for one participant. */
export interface Outgoing {
  readonly to: string;
  readonly message: BridgeMessage;
}

export class MlsRelay {
  #state: DeliveryState;
  readonly #meeting: string;
  /** Participants who hold the group, as far as the relay has seen. */
  readonly #holders = new Set<string>();

  constructor(meeting: string) {
    this.#meeting = meeting;
    this.#state = openDelivery(meeting);
  }

  /** Called when `participant` is admitted into a room of `others` participants; true if it founds the group. */
  admit(participant: string, others: number): boolean {
    if (others > 0) return false;
    this.#refound(participant);
    return true;
  }

  /** The participant says it holds the group now. */
  joined(participant: string): void {
    this.#holders.add(participant);
  }

  /** `participant` left; `remaining` are those still in the room, earliest admitted first. */
  left(participant: string, remaining: readonly string[]): Outgoing[] {
    this.#holders.delete(participant);
    const founder = remaining[0];
    if (this.#holders.size > 0 || founder === undefined) return [];
    this.#refound(founder);
    return [{ to: founder, message: { type: 'mls-found' } }];
  }

  #refound(founder: string): void {
    this.#state = openDelivery(this.#meeting);
    this.#holders.clear();
    this.#holders.add(founder);
  }

  /** What to send, and to whom, for a participant's submission; `everyone` are the room's other participants. */
  submit(from: string, message: MlsSubmitMessage, everyone: readonly string[]): Outgoing[] {
    const bytes = Buffer.from(message.data, 'base64url');
    const result = deliver(this.#state, { message: bytes, ...(message.welcome !== undefined ? { welcome: Buffer.from(message.welcome, 'base64url') } : {}) });
    this.#state = result.state;
    const toAll = (kind: 'key-package' | 'commit' | 'proposal' | 'welcome', data: string): Outgoing[] => everyone.map((to) => ({ to, message: { type: 'mls', kind, from, data } }));
    switch (result.kind) {
      case 'rejected':
        return [{ to: from, message: { type: 'mls-result', accepted: false, reason: result.reason, epoch: Number(result.epoch) } }];
      case 'relay':
        return toAll(result.what, message.data);
      case 'commit-accepted':
        this.#holders.add(from);
        // Members apply the commit; those still waiting to join try the Welcome (it opens only for the members it adds).
        return [
          { to: from, message: { type: 'mls-result', accepted: true, reason: 'accepted', epoch: Number(result.state.epoch) } },
          ...toAll('commit', message.data),
          ...(message.welcome !== undefined ? toAll('welcome', message.welcome) : []),
        ];
    }
  }
}
