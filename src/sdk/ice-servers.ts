/**
 * The client's half of "TURN inside the fence"
 * (docs/security.md#turn-relays-and-residency): a bridge's `admitted`
 * message names the STUN/TURN servers to use, and the SDK uses only those the
 * broker's route answer allowed for that datacenter (the broker allows only
 * servers declared inside the participant's jurisdictions). A bridge cannot
 * widen what the broker allowed.
 */
import { checkIceServers, type IceAllowance, type IceRejection } from '../core/ice/allowed.js';
import type { DeclaredIceServer } from '../core/manifest/types.js';
import type { IceServer } from '../protocol/signalling.js';

/** A URL a bridge handed out that the SDK does not use (the `ice-server-refused` event). */
export interface IceServerRefused {
  readonly type: 'ice-server-refused';
  readonly datacenter: string;
  readonly url: string;
  /** `NOT_DECLARED`: the route answer does not allow it for this datacenter; `OUTSIDE_FENCE`: it is declared outside the ticket's jurisdictions. */
  readonly reason: IceRejection;
}

/**
 * The route answer's `iceServers`, read defensively: a datacenter whose entry
 * is not a list of `{ urls: string[], jurisdiction: string }` gets nothing, and
 * a missing field allows nothing — every server a bridge hands out is then
 * refused (fail closed: a broker that does not say cannot be taken to allow).
 */
export function readIceAllowance(value: unknown): IceAllowance {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  // fromEntries defines own properties: a `__proto__` key stays a key.
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, DeclaredIceServer[]] => Array.isArray(entry[1]) && entry[1].every(isDeclaredServer)));
}

/**
 * The route answer's `iceServers`, if the route ticket signs them: the ticket's
 * `ice` claim is the base64url SHA-256 of the allowance's JSON
 * (`JSON.stringify`, as the broker computes it: src/broker/route-ice.ts). An
 * allowance that does not match allows nothing: the unsigned answer cannot
 * widen what the broker decided.
 */
export async function signedIceAllowance(value: unknown, signed: unknown): Promise<IceAllowance> {
  if (typeof signed !== 'string') return {};
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify(value))));
  let binary = '';
  for (const b of digest) binary += String.fromCharCode(b);
  const mine = btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return mine === signed ? readIceAllowance(value) : {};
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

function isDeclaredServer(value: unknown): value is DeclaredIceServer {
  if (typeof value !== 'object' || value === null) return false;
  const { urls, jurisdiction } = value as { urls?: unknown; jurisdiction?: unknown };
  return Array.isArray(urls) && urls.every((u) => typeof u === 'string') && typeof jurisdiction === 'string';
}
