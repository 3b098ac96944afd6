/**
 * A route ticket's `ice` claim: for each candidate datacenter, the declared
 * STUN/TURN servers the participant may accept from its bridge — the core's
 * `iceAllowance`, which the SDK checks what a bridge hands it against
 * (docs/security.md#turn-relays-and-residency). Datacenters with none are
 * left out: the SDK allows nothing for a datacenter the ticket does not list.
 *
 * `POST /v1/route` is a hot path, and the rule filters each candidate's
 * servers through the participant's allowed set (~250 codes for most
 * countries): ~8 µs a request computed afresh. The decider hands out the same
 * frozen allowed list for every participant of a country (`compilePolicy`
 * memoizes it), so the answer is remembered per (manifest, that list,
 * datacenter) — bounded by lists × datacenters. A list narrowed by an account
 * or meeting is a fresh array each time: computed afresh (such lists are
 * short, so it is cheap).
 */
import { allowedIceServers, iceAllowance, type IceAllowance } from '../core/ice/allowed.js';
import type { DeclaredIceServer, Manifest } from '../core/manifest/types.js';

type Servers = readonly DeclaredIceServer[];

const NONE: Servers = Object.freeze([]);
const memo = new WeakMap<Manifest, WeakMap<readonly string[], Map<string, Servers>>>();

/** `iceAllowance(manifest, datacenters, allowedJurisdictions)` without the datacenters that have none, remembered when `allowedJurisdictions` is a frozen list. */
export function routeIceAllowance(manifest: Manifest, datacenters: readonly string[], allowedJurisdictions: readonly string[]): IceAllowance {
  if (!Object.isFrozen(allowedJurisdictions)) return Object.fromEntries(Object.entries(iceAllowance(manifest, datacenters, allowedJurisdictions)).filter(([, servers]) => servers.length > 0));
  let byList = memo.get(manifest);
  if (!byList) memo.set(manifest, (byList = new WeakMap<readonly string[], Map<string, Servers>>()));
  let byDatacenter = byList.get(allowedJurisdictions);
  if (!byDatacenter) byList.set(allowedJurisdictions, (byDatacenter = new Map<string, Servers>()));
  const allowance: Record<string, Servers> = {};
  for (const id of datacenters) {
    let servers = byDatacenter.get(id);
    if (!servers) byDatacenter.set(id, (servers = frozen(allowedIceServers(manifest, id, allowedJurisdictions))));
    if (servers.length > 0) allowance[id] = servers;
  }
  return allowance;
}

/** A deep-frozen copy (or NONE). */
function frozen(servers: Servers): Servers {
  if (servers.length === 0) return NONE;
  return Object.freeze(servers.map((s) => Object.freeze({ urls: Object.freeze([...s.urls]), jurisdiction: s.jurisdiction })));
}
