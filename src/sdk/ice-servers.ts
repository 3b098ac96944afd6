/**
 * The client's half of "TURN inside the fence"
 * (docs/security.md#turn-relays-and-residency): a bridge's `admitted`
 * message names the STUN/TURN servers to use, and the SDK uses only those the
 * broker's route ticket allowed for that datacenter (the broker allows only
 * servers declared inside the participant's jurisdictions). A bridge cannot
 * widen what the broker allowed.
 */
import { checkIceServers, type IceAllowance, type IceRejection } from '../core/ice/allowed.js';
import type { IceServer } from '../protocol/signalling.js';

/** A URL a bridge handed out that the SDK does not use (the `ice-server-refused` event). */
export interface IceServerRefused {
  readonly type: 'ice-server-refused';
  readonly datacenter: string;
  readonly url: string;
  /** `NOT_DECLARED`: the route answer does not allow it for this datacenter; `OUTSIDE_FENCE`: it is declared outside the ticket's jurisdictions. */
  readonly reason: IceRejection;
}

/** The servers the peer connection may use (only their accepted URLs, credentials kept), and an event for every URL refused. */
export function screenIceServers(
  handed: readonly IceServer[],
  allowance: IceAllowance,
  datacenter: string,
): { readonly accepted: readonly IceServer[]; readonly refused: readonly IceServerRefused[] } {
  // Own keys only: a datacenter id such as `constructor` must not find Object.prototype's.
  const allowed = Object.hasOwn(allowance, datacenter) ? (allowance[datacenter] ?? []) : [];
  const { accepted, rejected } = checkIceServers(handed, allowed);
  return { accepted, refused: rejected.map(({ url, reason }) => ({ type: 'ice-server-refused', datacenter, url, reason })) };
}
