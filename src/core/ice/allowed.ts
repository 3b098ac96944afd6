/**
 * Which STUN/TURN servers a participant may be handed: the runtime half of
 * "TURN inside the fence" (docs/manifest.md#ice), one rule for the broker, the
 * bridge and the SDK. A TURN server relays the participant's (encrypted) media,
 * so it is held to the participant's allowed jurisdictions exactly as the
 * bridge is; a STUN server learns the participant's address, and is held to
 * the same rule so that no scheme is an exception.
 */
import type { DeclaredIceServer, Manifest } from '../manifest/types.js';
import { compilePolicy } from '../policy/compile.js';
import type { IceServer } from './rules.js';

/** The servers a participant may accept from each candidate datacenter's bridge, by datacenter id. */
export type IceAllowance = Readonly<Record<string, readonly DeclaredIceServer[]>>;

/** Why a URL a bridge handed out is not used. */
export type IceRejection =
  /** The broker's allowance for this datacenter does not list the URL. */
  | 'NOT_DECLARED'
  /** The allowance places the URL in two jurisdictions: where it is, is unknown. */
  | 'OUTSIDE_FENCE';

/** One URL a bridge handed out that the client must not use. */
export interface RejectedIceUrl {
  readonly url: string;
  readonly reason: IceRejection;
}

/** The outcome of `checkIceServers`. */
export interface IceCheck {
  /** The handed servers with only their accepted URLs (credentials kept), in the order handed; servers left without a URL are dropped. */
  readonly accepted: readonly IceServer[];
  /** Every URL not accepted, in the order handed. */
  readonly rejected: readonly RejectedIceUrl[];
}

/** The servers of `servers` whose jurisdiction is in `allowedJurisdictions`, in their order. */
export function iceServersWithin(servers: readonly DeclaredIceServer[], allowedJurisdictions: Iterable<string>): DeclaredIceServer[] {
  // Most datacenters declare none; a fence list is ~250 codes, not worth a Set for nothing.
  if (servers.length === 0) return [];
  const allowed = allowedJurisdictions instanceof Set ? (allowedJurisdictions as ReadonlySet<string>) : new Set(allowedJurisdictions);
  return servers.filter((s) => allowed.has(s.jurisdiction));
}

/** The servers the manifest declares for a datacenter that a participant with these allowed jurisdictions may use; none for an unknown datacenter. */
export function allowedIceServers(manifest: Manifest, datacenter: string, allowedJurisdictions: Iterable<string>): DeclaredIceServer[] {
  return iceServersWithin(compilePolicy(manifest).datacenterById.get(datacenter)?.ice ?? [], allowedJurisdictions);
}

/** `allowedIceServers` for each of a decision's candidates: what the broker tells the client it may accept. */
export function iceAllowance(manifest: Manifest, datacenters: readonly string[], allowedJurisdictions: readonly string[]): IceAllowance {
  let allowed: ReadonlySet<string> | undefined;
  const byId = compilePolicy(manifest).datacenterById;
  return Object.fromEntries(
    datacenters.map((id) => {
      const declared = byId.get(id)?.ice ?? [];
      return [id, declared.length === 0 ? [] : iceServersWithin(declared, (allowed ??= new Set(allowedJurisdictions)))];
    }),
  );
}

/**
 * The client's check of the servers a bridge handed it: a URL is used only if
 * the allowance for that datacenter declares it. The broker allows only
 * servers inside the participant's jurisdictions, and the allowance is a
 * claim of the signed route ticket (src/sdk/ice-servers.ts). A URL the allowance places in two jurisdictions
 * is somewhere unknown, and unknown fails closed.
 */
export function checkIceServers(handed: readonly IceServer[], allowance: readonly DeclaredIceServer[]): IceCheck {
  const places = new Map<string, Set<string>>();
  for (const server of allowance) for (const url of server.urls) places.set(url, (places.get(url) ?? new Set()).add(server.jurisdiction));
  const inside = new Set<string>();
  const outside = new Set<string>();
  for (const [url, where] of places) (where.size === 1 ? inside : outside).add(url);
  const accepted: IceServer[] = [];
  const rejected: RejectedIceUrl[] = [];
  for (const server of handed) {
    const urls: string[] = [];
    for (const url of server.urls) {
      if (outside.has(url)) rejected.push({ url, reason: 'OUTSIDE_FENCE' });
      else if (!inside.has(url)) rejected.push({ url, reason: 'NOT_DECLARED' });
      else urls.push(url);
    }
    if (urls.length > 0) accepted.push({ ...server, urls });
  }
  return { accepted, rejected };
}
