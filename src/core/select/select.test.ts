// Joining a placed meeting: the meeting's datacenter first (then the participant's own fallbacks), or a refusal; never across a fence.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/types.js';
import type { Datacenter } from '../manifest/types.js';
import { compilePolicy } from '../policy/compile.js';
import { routeRequestFor, whyNotHeldAt } from './meeting-policy.js';
import { indexLiveState, isRefusal, selectDatacenters, selectRoute } from './select.js';

const m = parseManifest(`version: 1
datacenters:
  us-east: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 }, capacity: 100 }
  us-west: { jurisdiction: US, location: { lat: 37.34, lon: -121.89 }, capacity: 100 }
  eu-west: { jurisdiction: IE, location: { lat: 53.35, lon: -6.26 }, capacity: 100 }
  cn-beijing: { jurisdiction: CN, location: { lat: 39.9, lon: 116.4 }, capacity: 100 }
zones:
  na: { countries: [US, CA], primaries: [us-east, us-west], secondaries: [eu-west] }
  eu: { countries: [DE, FR], primaries: [eu-west], secondaries: [] }
  cn: { countries: [CN], primaries: [cn-beijing] }
fences:
  - { name: china-stays-in-china, clients: [CN], allow: [CN] }
  - { name: nobody-else-into-china, clients: ['*', '!CN'], deny: [CN] }
`).manifest as Manifest;

describe('selectDatacenters with a placed meeting', () => {
  it('sends a participant to the meeting’s datacenter first, then to its own candidates should that one vanish', () => {
    const d = selectDatacenters(m, { country: 'US', placedAt: 'us-west' });
    expect(isRefusal(d) ? d.error.code : d.candidates).toEqual([
      { datacenter: 'us-west', role: 'primary', jurisdiction: 'US' },
      { datacenter: 'us-east', role: 'primary', jurisdiction: 'US' },
      { datacenter: 'eu-west', role: 'secondary', jurisdiction: 'IE' },
    ]);
    expect(d.excluded).toEqual([{ datacenter: 'cn-beijing', reason: 'FENCE' }]);
  });

  it('lets a participant from another zone join inside its fence (lists do not apply), its own zone behind', () => {
    const d = selectDatacenters(m, { country: 'DE', placedAt: 'us-east' });
    expect(isRefusal(d) ? d.error.code : d.candidates).toEqual([
      { datacenter: 'us-east', role: 'secondary', jurisdiction: 'US' },
      { datacenter: 'eu-west', role: 'primary', jurisdiction: 'IE' },
    ]);
    expect(d.excluded.find((e) => e.datacenter === 'us-east')).toBeUndefined();
  });

  it('offers the meeting’s datacenter alone when the participant’s own zone has nothing left', () => {
    const d = selectDatacenters(m, { country: 'DE', placedAt: 'us-east' }, { down: new Set(['eu-west']) });
    expect(isRefusal(d) ? d.error.code : d.candidates.map((c) => c.datacenter)).toEqual(['us-east']);
  });

  it('refuses with FENCE_CONFLICT rather than move a meeting across a fence', () => {
    const d = selectDatacenters(m, { country: 'CN', placedAt: 'us-east' });
    expect(isRefusal(d) && d.error.code).toBe('FENCE_CONFLICT');
    const other = selectDatacenters(m, { country: 'US', placedAt: 'cn-beijing' });
    expect(isRefusal(other) && other.error.code).toBe('FENCE_CONFLICT');
  });

  it('refuses with FENCE_CONFLICT when the account narrows the meeting’s jurisdiction away', () => {
    const d = selectDatacenters(m, { country: 'US', placedAt: 'us-east', accountJurisdictions: ['IE'] });
    expect(isRefusal(d) && d.error.code).toBe('FENCE_CONFLICT');
  });

  it('decides as usual when the meeting’s datacenter is down, so the meeting can re-home', () => {
    const d = selectDatacenters(m, { country: 'US', placedAt: 'us-west' }, { down: new Set(['us-west']) });
    expect(isRefusal(d) ? d.error.code : d.candidates.map((c) => c.datacenter)).toEqual(['us-east', 'eu-west']);
  });

  it('refuses when the meeting’s datacenter is full instead of splitting the meeting', () => {
    const d = selectDatacenters(m, { country: 'US', placedAt: 'us-west' }, { utilization: new Map([['us-west', 0.95]]) });
    expect(isRefusal(d) && d.error.code).toBe('NO_CAPACITY_IN_FENCE');
    expect(d.excluded).toContainEqual({ datacenter: 'us-west', reason: 'FULL' });
  });
});

describe('refusals say what is missing', () => {
  it('names the in-fence datacenters that are down or full when nothing is left', () => {
    const d = selectDatacenters(m, { country: 'US' }, { down: new Set(['us-east', 'eu-west']), utilization: new Map([['us-west', 0.95]]) });
    expect(isRefusal(d) && d.error.code).toBe('NO_CAPACITY_IN_FENCE');
    expect(isRefusal(d) && d.error.message).toContain('down: eu-west, us-east; full: us-west');
  });

  it('refuses for good a guest whose fences share no datacenter with the host’s', () => {
    const d = selectDatacenters(m, { country: 'CN', hostCountry: 'US' });
    expect(isRefusal(d) && d.error.code).toBe('FENCE_CONFLICT');
    expect(d.excluded).toContainEqual({ datacenter: 'cn-beijing', reason: 'MEETING' });
  });

  it('holds the guest of a cascaded meeting to its own fences only: the host’s do not bind where it connects', () => {
    const request = routeRequestFor('CN', { hostCountry: 'US', cascade: true });
    expect(request.hostCountry).toBeUndefined();
    const d = selectDatacenters(m, request);
    expect(isRefusal(d) ? d.error.code : d.candidates.map((c) => c.datacenter)).toEqual(['cn-beijing']);
    expect(whyNotHeldAt(m, 'cn-beijing', 'CN', { hostCountry: 'US', cascade: true })).toBeUndefined();
    expect(whyNotHeldAt(m, 'cn-beijing', 'CN', { hostCountry: 'US' })).toBe('MEETING');
    // The account's own narrowing still binds.
    expect(whyNotHeldAt(m, 'cn-beijing', 'CN', { hostCountry: 'US', cascade: true, accountJurisdictions: ['US'] })).toBe('ACCOUNT');
  });
});

describe('selectRoute looks only at what can be a candidate', () => {
  // 200 datacenters, of which the zone of US lists three; each records when a decision reads its jurisdiction,
  // which every check of a datacenter does first (the fence).
  const read = new Set<string>();
  const watched = (dc: Datacenter): Datacenter => {
    const { jurisdiction, ...rest } = dc;
    return Object.defineProperty({ ...rest, jurisdiction }, 'jurisdiction', {
      enumerable: true,
      get: (): string => {
        read.add(dc.id);
        return jurisdiction;
      },
    });
  };
  const extra = Array.from({ length: 196 }, (_, i): Datacenter => ({ id: `far-${String(i).padStart(3, '0')}`, jurisdiction: 'JP', location: { lat: 35.7, lon: 139.7 }, capacity: 100, tags: [], ice: [] }));
  const big = { ...m, datacenters: [...m.datacenters, ...extra].map(watched) };
  // A manifest object of its own per check, compiled before it as the broker does (not part of a decision), so that
  // what a first decision works out once per country (listed-view.ts) is read inside the window too.
  const readBy = (decide: (manifest: Manifest) => unknown): string[] => {
    const fresh = { ...big };
    compilePolicy(fresh);
    read.clear();
    decide(fresh);
    decide(fresh);
    return [...read].sort();
  };

  it('reads only the zone’s listed datacenters and the placed meeting’s; explaining reads them all', () => {
    expect(readBy((big) => selectRoute(big, { country: 'US' }))).toEqual(['eu-west', 'us-east', 'us-west']);
    expect(readBy((big) => selectRoute(big, { country: 'US', placedAt: 'far-150' }))).toEqual(['eu-west', 'far-150', 'us-east', 'us-west']);
    expect(readBy((big) => selectRoute(big, { country: 'US', location: { lat: 52.5, lon: 13.4 } }))).toEqual(['eu-west', 'us-east', 'us-west']);
    expect(readBy((big) => selectDatacenters(big, { country: 'US' }))).toHaveLength(200);
    expect(readBy((big) => selectDatacenters(big, { country: 'US', placedAt: 'far-150' }))).toHaveLength(200);
  });

  it('gives the same answers as the explained decider, minus excluded', () => {
    for (const request of [{ country: 'US' }, { country: 'US', placedAt: 'far-150' }, { country: 'DE', placedAt: 'us-east' }]) {
      const explained = selectDatacenters(big, request);
      if (isRefusal(explained)) throw new Error(`${JSON.stringify(request)} is refused`);
      const { excluded, ...route } = explained;
      expect(excluded.length + route.candidates.length).toBe(200);
      expect(selectRoute(big, request)).toStrictEqual(route);
    }
  });

  it('refuses as the explained decider does, explaining the datacenters it examined (the explained one names all 200)', () => {
    const requests = [
      { request: { country: 'US' }, live: { down: new Set(['us-east', 'us-west', 'eu-west']) } },
      { request: { country: 'CN', placedAt: 'us-east' }, live: {} },
      { request: { country: 'US', placedAt: 'us-west' }, live: { utilization: new Map([['us-west', 0.95]]) } },
      { request: { country: 'ZA' }, live: {} }, // no zone
    ];
    const examined = [['eu-west', 'us-east', 'us-west'], ['us-east'], ['us-west'], []];
    requests.forEach(({ request, live }, i) => {
      const fast = selectRoute(big, request, live);
      const explained = selectDatacenters(big, request, live);
      expect(isRefusal(explained) && explained.excluded).toHaveLength(200);
      if (!isRefusal(fast) || !isRefusal(explained)) throw new Error(`${JSON.stringify(request)} is not refused`);
      expect(fast.excluded.map((e) => e.datacenter)).toEqual(examined[i]);
      expect(fast).toStrictEqual({ ...explained, excluded: explained.excluded.filter((e) => examined[i]?.includes(e.datacenter)) });
    });
  });
});

describe('indexLiveState', () => {
  const live = { down: new Set(['us-east']), utilization: new Map([['us-west', 0.95]]) };

  it('decides as the maps do, and is ignored on another manifest (its positions would name other datacenters)', () => {
    const indexed = indexLiveState(m, live);
    expect(selectRoute(m, { country: 'US' }, indexed)).toStrictEqual(selectRoute(m, { country: 'US' }, live));
    const other = { ...m, datacenters: [...m.datacenters].reverse() };
    // Indexed for `other`, whose positions are the same ids in another order: a decision on `m` must not read it.
    const foreign = { ...indexLiveState(other, live), down: new Set<string>(), utilization: new Map<string, number>() };
    expect(selectRoute(m, { country: 'US' }, foreign)).toStrictEqual(selectRoute(m, { country: 'US' }, {}));
  });

  it('keeps an unknown (NaN) load as full: it fails closed', () => {
    const unknown = indexLiveState(m, { utilization: new Map([['us-east', Number.NaN]]) });
    const route = selectRoute(m, { country: 'US' }, unknown);
    expect(isRefusal(route) ? [] : route.candidates.map((c) => c.datacenter)).not.toContain('us-east');
  });
});
