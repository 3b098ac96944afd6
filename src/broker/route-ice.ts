/**
 * The route answer's `iceServers`: for each candidate datacenter, the declared
 * STUN/TURN servers the participant may accept from its bridge — the core's
 * `iceAllowance`, which the SDK checks what a bridge hands it against
 * (docs/security.md#turn-relays-and-residency).
 *
 * `POST /v1/route` is a hot path, and the rule filters each candidate's
 * servers through the participant's allowed set (~250 codes for most
 * countries): ~8 µs a request computed afresh. The decider hands out the same
 * frozen allowed list for every participant of a country (`compilePolicy`
 * memoizes it), so the answer is remembered per (manifest, that list,
 * datacenter) — bounded by lists × datacenters — and its JSON with it. A list
 * narrowed by an account or meeting is a fresh array each time: computed
 * afresh (such lists are short, so it is cheap).
 */
import { createHash } from 'node:crypto';
import { allowedIceServers, iceAllowance, type IceAllowance } from '../core/ice/allowed.js';
import type { DeclaredIceServer, Manifest } from '../core/manifest/types.js';

type Servers = readonly DeclaredIceServer[];

const NONE: Servers = Object.freeze([]);
const memo = new WeakMap<Manifest, WeakMap<readonly string[], Map<string, Servers>>>();
/** JSON text of the lists this module made: frozen all the way down, so never stale. */
const texts = new WeakMap<Servers, string>([[NONE, '[]']]);

/** `iceAllowance(manifest, datacenters, allowedJurisdictions)`, remembered when `allowedJurisdictions` is a frozen list. */
export function routeIceAllowance(manifest: Manifest, datacenters: readonly string[], allowedJurisdictions: readonly string[]): IceAllowance {
  if (!Object.isFrozen(allowedJurisdictions)) return iceAllowance(manifest, datacenters, allowedJurisdictions);
  let byList = memo.get(manifest);
  if (!byList) memo.set(manifest, (byList = new WeakMap<readonly string[], Map<string, Servers>>()));
  let byDatacenter = byList.get(allowedJurisdictions);
  if (!byDatacenter) byList.set(allowedJurisdictions, (byDatacenter = new Map<string, Servers>()));
  const allowance: Record<string, Servers> = {};
  for (const id of datacenters) {
    let servers = byDatacenter.get(id);
    if (!servers) byDatacenter.set(id, (servers = frozen(allowedIceServers(manifest, id, allowedJurisdictions))));
    allowance[id] = servers;
  }
  return allowance;
}

/** The JSON of one datacenter's list, as Fastify's serializer of the route schema writes it (`{"urls":[…],"jurisdiction":…}` each). */
export function iceServersJson(servers: Servers): string {
  const known = texts.get(servers);
  if (known !== undefined) return known;
  let json = '';
  for (const s of servers) {
    let urls = '';
    for (const url of s.urls) urls += `${urls === '' ? '' : ','}${JSON.stringify(url)}`;
    json += `${json === '' ? '' : ','}{"urls":[${urls}],"jurisdiction":${JSON.stringify(s.jurisdiction)}}`;
  }
  return `[${json}]`;
}

/** A deep-frozen copy (or NONE), with its JSON remembered. */
function frozen(servers: Servers): Servers {
  if (servers.length === 0) return NONE;
  const copy = Object.freeze(servers.map((s) => Object.freeze({ urls: Object.freeze([...s.urls]), jurisdiction: s.jurisdiction })));
  texts.set(copy, iceServersJson(copy));
  return copy;
}

/**
 * What a route ticket signs of the allowance (its `ice` claim): the base64url
 * SHA-256 of its JSON, as `JSON.stringify` writes it and as the SDK recomputes
 * it from the answer it parsed (src/sdk/ice-servers.ts, `signedIceAllowance`).
 */
export function iceAllowanceDigest(allowance: IceAllowance): string {
  return createHash('sha256').update(JSON.stringify(allowance)).digest('base64url');
}
