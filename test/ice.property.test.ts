/**
 * STUN/TURN servers inside the fence, over random manifests: the runtime rule
 * (allowedIceServers) against the contract, and `check` against the runtime
 * rule. Fences are read by the reference model in arbitraries.ts, never by
 * compile.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_COUNTRY_CODES, allowedIceServers, checkManifest, parseManifest, printManifest, type Manifest } from '../src/core/index.js';
import { DATACENTER_IDS, fenceAllowedSet, insideFences, JURISDICTIONS, manifestArb, zoneOf } from './arbitraries.js';

/** Paths `datacenters.ID.ice[i]` of the servers some participant a datacenter serves may not be handed, by the reference model. */
function withheld(manifest: Manifest): string[] {
  const out = new Set<string>();
  for (const country of ALL_COUNTRY_CODES) {
    const zone = zoneOf(manifest, country);
    for (const id of new Set([...(zone?.primaries ?? []), ...(zone?.secondaries ?? [])])) {
      const dc = manifest.datacenters.find((d) => d.id === id);
      // Participants the fence keeps off the datacenter are never handed its servers at all.
      if (!dc || !insideFences(manifest, country, dc.jurisdiction)) continue;
      const given = allowedIceServers(manifest, id, fenceAllowedSet(manifest, country));
      dc.ice.forEach((server, i) => {
        if (!given.includes(server)) out.add(`datacenters.${id}.ice[${i}]`);
      });
    }
  }
  return [...out].sort();
}

describe('allowedIceServers over random manifests', () => {
  it('never gives a server outside the allowed set, and gives every declared server inside it', () => {
    fc.assert(
      fc.property(manifestArb, fc.constantFrom(...DATACENTER_IDS, 'dc-unknown'), fc.subarray<string>([...JURISDICTIONS]), (manifest, id, allowed) => {
        const given = allowedIceServers(manifest, id, allowed);
        expect(given.every((s) => allowed.includes(s.jurisdiction))).toBe(true);
        const declared = manifest.datacenters.find((d) => d.id === id)?.ice ?? [];
        expect(given).toEqual(declared.filter((s) => allowed.includes(s.jurisdiction)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('check and the runtime rule agree', () => {
  it('GB_ICE_OUTSIDE_FENCE names exactly the servers the runtime rule withholds from someone a datacenter serves', () => {
    fc.assert(
      fc.property(manifestArb, (manifest) => {
        const parsed = parseManifest(printManifest(manifest));
        const reported = checkManifest(parsed)
          .filter((d) => d.code === 'GB_ICE_OUTSIDE_FENCE')
          .map((d) => d.path.replace(/\.jurisdiction$/, ''));
        expect([...new Set(reported)].sort()).toEqual(withheld(manifest));
      }),
      { numRuns: 200 },
    );
  });
});
