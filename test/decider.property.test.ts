/**
 * Properties of the one decider (PRODUCT.md, "Decisions"), over random
 * manifests × requests × live states. The allowed set is computed by the
 * reference model in arbitraries.ts, never by compile.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateManifestModel } from '../bench/generate-manifest.js';
import {
  ALL_COUNTRY_CODES,
  compilePolicy,
  greatCircleKm,
  isGeobridgeError,
  isRefusal,
  parseManifest,
  printManifest,
  selectDatacenters,
  indexLiveState,
  selectRoute,
  type Candidate,
  type Datacenter,
  type LiveState,
  type Manifest,
  type RouteRequest,
  type RouteResult,
} from '../src/core/index.js';
import {
  DATACENTER_IDS,
  effectiveJurisdictions,
  effectivelyAllowed,
  insideFences,
  loadOf,
  manifestArb,
  meetingPermits,
  operational,
  planPermits,
  pointArb,
  policyPermits,
  scenarioArb,
  toLiveState,
  twoDecimals,
  whereIs,
  zoneOf,
  type Scenario,
} from './arbitraries.js';

const CONTRACT_REASONS = new Set(['FENCE', 'PLAN', 'ACCOUNT', 'MEETING', 'DOWN', 'FULL', 'NOT_LISTED']);

/** Throws with the message when the condition fails (cheaper than expect() in hot properties). */
function ensure(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

function candidatesOf(result: RouteResult): readonly Candidate[] {
  return isRefusal(result) ? [] : result.candidates;
}

function datacenter(manifest: Manifest, id: string): Datacenter {
  const dc = manifest.datacenters.find((d) => d.id === id);
  if (!dc) throw new Error(`the decider named '${id}', which the manifest does not define`);
  return dc;
}

/** What the contract says the decider must offer: every eligible primary, and the eligible secondaries (before the limit). */
function eligible(manifest: Manifest, request: RouteRequest, live: LiveState): { primaries: Set<string>; secondaries: Set<string> } {
  const zone = zoneOf(manifest, request.country);
  const primaries = new Set<string>();
  const secondaries = new Set<string>();
  if (!zone) return { primaries, secondaries };
  for (const dc of manifest.datacenters) {
    if (!policyPermits(manifest, request, dc) || !operational(manifest, live, dc.id)) continue;
    if (zone.primaries.includes(dc.id)) primaries.add(dc.id);
    else if (zone.secondaries.includes(dc.id)) secondaries.add(dc.id);
  }
  return { primaries, secondaries };
}

describe('selectDatacenters: residency (the main invariant)', () => {
  it('(a) never offers a datacenter outside the effective allowed set, a claimed enclave, or one lacking the plan tags', () => {
    fc.assert(
      fc.property(scenarioArb, ({ manifest, request, live }) => {
        const result = selectDatacenters(manifest, request, live);
        // Plain checks, not expect(): this property runs 10,000 times and expect() would dominate its cost.
        const allowed = effectiveJurisdictions(manifest, request);
        ensure(result.allowedJurisdictions.join() === allowed.join(), () => `allowedJurisdictions ${result.allowedJurisdictions.join()} ≠ ${allowed.join()}`);
        for (const c of candidatesOf(result)) {
          const dc = datacenter(manifest, c.datacenter);
          ensure(c.jurisdiction === dc.jurisdiction, () => `${c.datacenter} reported in ${c.jurisdiction}, defined in ${dc.jurisdiction}`);
          ensure(insideFences(manifest, request.country, dc.jurisdiction), () => `${c.datacenter} (${dc.jurisdiction}) crosses a fence of ${request.country}`);
          ensure(effectivelyAllowed(manifest, request, dc.jurisdiction), () => `${c.datacenter} (${dc.jurisdiction}) is outside the account or meeting jurisdictions`);
          ensure(planPermits(manifest, request, dc), () => `${c.datacenter} lacks the plan's tags or is claimed by another exclusive plan`);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('selectDatacenters: live state, roles, accounting', () => {
  it('(b) never offers a datacenter that is down, at or above maxUtilization, or of unknown (NaN) load', () => {
    fc.assert(
      fc.property(scenarioArb, ({ manifest, request, live }) => {
        for (const c of candidatesOf(selectDatacenters(manifest, request, live))) {
          expect(live.down?.has(c.datacenter)).toBe(false);
          const u = loadOf(live, c.datacenter);
          expect(Number.isNaN(u)).toBe(false);
          expect(u).toBeLessThan(manifest.selection.maxUtilization);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('(c) lists primaries before secondaries, each from its own list, and at most selection.secondaries secondaries', () => {
    fc.assert(
      fc.property(scenarioArb, ({ manifest, request, live }) => {
        const candidates = candidatesOf(selectDatacenters(manifest, request, live));
        const zone = zoneOf(manifest, request.country);
        const firstSecondary = candidates.findIndex((c) => c.role === 'secondary');
        if (firstSecondary >= 0) expect(candidates.slice(firstSecondary).every((c) => c.role === 'secondary')).toBe(true);
        expect(candidates.filter((c) => c.role === 'secondary').length).toBeLessThanOrEqual(manifest.selection.secondaries);
        for (const c of candidates) {
          if (c.role === 'primary') expect(zone?.primaries).toContain(c.datacenter);
          else {
            expect(zone?.secondaries).toContain(c.datacenter);
            expect(zone?.primaries).not.toContain(c.datacenter);
          }
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('(d) accounts for every datacenter exactly once, each exclusion with a true contract reason', () => {
    fc.assert(
      fc.property(scenarioArb, ({ manifest, request, live }) => {
        const result = selectDatacenters(manifest, request, live);
        const named = [...candidatesOf(result).map((c) => c.datacenter), ...result.excluded.map((e) => e.datacenter)];
        expect([...named].sort()).toEqual(manifest.datacenters.map((d) => d.id).sort());
        const zone = zoneOf(manifest, request.country);
        const offered = eligible(manifest, request, live);
        for (const { datacenter: id, reason } of result.excluded) {
          expect(CONTRACT_REASONS).toContain(reason);
          const dc = datacenter(manifest, id);
          // The fence outranks every other reason: an audit must see who would have crossed it.
          expect(reason === 'FENCE', `${id}: ${reason}`).toBe(!insideFences(manifest, request.country, dc.jurisdiction));
          const truth: Record<string, boolean> = {
            FENCE: true,
            PLAN: !planPermits(manifest, request, dc),
            ACCOUNT: !(request.accountJurisdictions?.includes(dc.jurisdiction) ?? true),
            MEETING: !meetingPermits(manifest, request, dc.jurisdiction),
            DOWN: live.down?.has(id) ?? false,
            FULL: !(loadOf(live, id) < manifest.selection.maxUtilization),
            // Not on the zone's lists, or an eligible secondary past selection.secondaries.
            NOT_LISTED: !zone || (!zone.primaries.includes(id) && (!zone.secondaries.includes(id) || offered.secondaries.has(id))),
          };
          expect(truth[reason], `${id} excluded as ${reason}, which is not true of it`).toBe(true);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('(g) refuses only when nothing in the fence is listed, up and below the limit; NO_ZONE only without a zone', () => {
    fc.assert(
      fc.property(scenarioArb, ({ manifest, request, live }) => {
        const result = selectDatacenters(manifest, request, live);
        const zone = zoneOf(manifest, request.country);
        const { primaries, secondaries } = eligible(manifest, request, live);
        const offerable = primaries.size + Math.min(secondaries.size, manifest.selection.secondaries);
        if (isRefusal(result)) {
          // FENCE_CONFLICT exactly when no datacenter is inside both the participant's fences and the host's.
          const host = request.hostCountry;
          const disjoint = host !== undefined && manifest.datacenters.every((dc) => !insideFences(manifest, request.country, dc.jurisdiction) || !insideFences(manifest, host, dc.jurisdiction));
          expect(result.error.code).toBe(!zone ? 'NO_ZONE' : disjoint ? 'FENCE_CONFLICT' : 'NO_CAPACITY_IN_FENCE');
          expect(result.error.message).not.toBe('');
          if (zone) expect(offerable).toBe(0);
          return;
        }
        expect(result.zone).toBe(zone?.id);
        // Every eligible primary is offered, and as many eligible secondaries as the limit lets through.
        const offered = result.candidates;
        expect(new Set(offered.filter((c) => c.role === 'primary').map((c) => c.datacenter))).toEqual(primaries);
        const backups = offered.filter((c) => c.role === 'secondary').map((c) => c.datacenter);
        expect(backups.length).toBe(Math.min(secondaries.size, manifest.selection.secondaries));
        for (const id of backups) expect(secondaries).toContain(id);
        expect(result.attempts).toEqual({ perPrimary: manifest.selection.primaryAttempts, timeoutMs: manifest.selection.attemptTimeoutMs });
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('selectDatacenters: determinism', () => {
  it('(e) gives the same answer twice, for a copied manifest, and whatever the insertion order of live state', () => {
    fc.assert(
      fc.property(scenarioArb, fc.func(fc.integer()), ({ manifest, request, entries, live }, shuffleKey) => {
        const first = selectDatacenters(manifest, request, live);
        expect(selectDatacenters(manifest, request, live)).toStrictEqual(first);
        expect(selectDatacenters(structuredClone(manifest), structuredClone(request), structuredClone(live))).toStrictEqual(first);
        const reordered = toLiveState({
          down: [...entries.down].reverse(),
          utilization: [...entries.utilization].sort(([a], [b]) => shuffleKey(a) - shuffleKey(b)),
        });
        expect(selectDatacenters(manifest, request, reordered)).toStrictEqual(first);
      }),
      { numRuns: 1_000 },
    );
  });
});

/** Checks (f) on one decision: within a role, equal load ⇒ nearer first; equal distance ⇒ less loaded first. */
function expectNearAndLightFirst(manifest: Manifest, request: RouteRequest, live: LiveState, result: RouteResult): void {
  const from = whereIs(request);
  const facts = (c: Candidate): { km: number; load: number } => ({
    km: greatCircleKm(from, datacenter(manifest, c.datacenter).location),
    load: loadOf(live, c.datacenter),
  });
  const candidates = candidatesOf(result);
  candidates.forEach((a, i) => {
    for (const b of candidates.slice(i + 1)) {
      if (a.role !== b.role) continue;
      const fa = facts(a);
      const fb = facts(b);
      if (fa.load === fb.load) expect(fa.km, `${a.datacenter} ranks before nearer ${b.datacenter} at equal load`).toBeLessThanOrEqual(fb.km);
      if (fa.km === fb.km) expect(fa.load, `${a.datacenter} ranks before less loaded ${b.datacenter} at equal distance`).toBeLessThanOrEqual(fb.load);
    }
  });
  // The secondaries chosen are the best ones: no eligible secondary left out is both nearer-or-equal and lighter-or-equal (one strictly).
  const chosen = candidates.filter((c) => c.role === 'secondary');
  const zone = zoneOf(manifest, request.country);
  if (!zone) return;
  const left = manifest.datacenters.filter(
    (dc) =>
      zone.secondaries.includes(dc.id) &&
      !zone.primaries.includes(dc.id) &&
      !chosen.some((c) => c.datacenter === dc.id) &&
      policyPermits(manifest, request, dc) &&
      operational(manifest, live, dc.id),
  );
  for (const c of chosen) {
    const mine = facts(c);
    for (const dc of left) {
      const km = greatCircleKm(from, dc.location);
      const load = loadOf(live, dc.id);
      const dominates = km <= mine.km && load <= mine.load && (km < mine.km || load < mine.load);
      expect(dominates, `secondary ${dc.id} left out although it beats chosen ${c.datacenter}`).toBe(false);
    }
  }
}

/** Datacenters crowded on three points with loads from a small set, so that ties in distance and load are common. */
const crowdedArb: fc.Arbitrary<Scenario> = fc
  .record({
    points: fc.uniqueArray(pointArb, { minLength: 1, maxLength: 3, selector: (p) => `${p.lat},${p.lon}` }),
    n: fc.integer({ min: 2, max: 8 }),
  })
  .chain(({ points, n }) =>
    fc.record({
      spots: fc.array(fc.integer({ min: 0, max: points.length - 1 }), { minLength: n, maxLength: n }),
      roles: fc.array(fc.constantFrom('primary', 'secondary'), { minLength: n, maxLength: n }),
      loads: fc.array(fc.option(fc.constantFrom(0, 0.1, 0.5, 0.7), { nil: undefined }), { minLength: n, maxLength: n }),
      secondaries: fc.integer({ min: 0, max: 8 }),
      from: fc.option(fc.oneof(fc.constantFrom(...points), pointArb), { nil: undefined }),
    }).map(({ spots, roles, loads, secondaries, from }): Scenario => {
      const ids = spots.map((_, i) => `dc-${i}`);
      const manifest: Manifest = {
        version: 1,
        groups: [],
        datacenters: ids.map((id, i) => ({ id, jurisdiction: 'US', location: points[spots[i] ?? 0] ?? { lat: 0, lon: 0 }, capacity: 1000, tags: [], ice: [] })),
        stores: [],
        zones: [
          {
            id: 'everywhere',
            countries: ['*'],
            primaries: ids.filter((_, i) => roles[i] === 'primary'),
            secondaries: ids.filter((_, i) => roles[i] === 'secondary'),
          },
        ],
        fences: [],
        plans: [],
        selection: { secondaries, primaryAttempts: 2, attemptTimeoutMs: 1500, maxUtilization: 0.9 },
      };
      const entries = { down: [], utilization: ids.flatMap((id, i) => (loads[i] === undefined ? [] : [[id, loads[i]] as const])) };
      return { manifest, request: from ? { country: 'US', location: from } : { country: 'US' }, entries, live: toLiveState(entries) };
    }),
  );

describe('selectDatacenters: ordering (f)', () => {
  it('ranks a nearer datacenter first at equal load, and a less loaded one first at equal distance (crowded points)', () => {
    fc.assert(
      fc.property(crowdedArb, ({ manifest, request, live }) => {
        expectNearAndLightFirst(manifest, request, live, selectDatacenters(manifest, request, live));
        // The hot path stops walking the secondaries early (the rest are farther): the same order, and the same ones kept.
        expectRouteIsDecisionUnexplained(manifest, request, live);
      }),
      { numRuns: 3_000 },
    );
  });

  it('holds the same ordering on random manifests', () => {
    fc.assert(
      fc.property(scenarioArb, ({ manifest, request, live }) => {
        expectNearAndLightFirst(manifest, request, live, selectDatacenters(manifest, request, live));
      }),
      { numRuns: 2_000 },
    );
  });

  const pair = (a: Datacenter['location'], b: Datacenter['location']): Manifest => ({
    version: 1,
    groups: [],
    datacenters: [
      // Ids in the opposite order of the expected answer, so an id tie-break cannot pass the test by luck.
      { id: 'b-first', jurisdiction: 'DE', location: a, capacity: 100, tags: [], ice: [] },
      { id: 'a-second', jurisdiction: 'DE', location: b, capacity: 100, tags: [], ice: [] },
    ],
    stores: [],
    zones: [{ id: 'all', countries: ['*'], primaries: ['a-second', 'b-first'], secondaries: [] }],
    fences: [],
    plans: [],
    selection: { secondaries: 2, primaryAttempts: 2, attemptTimeoutMs: 1500, maxUtilization: 0.9 },
  });

  it('puts the less loaded of two datacenters at the same point first', () => {
    fc.assert(
      fc.property(pointArb, pointArb, twoDecimals(0, 0.89), twoDecimals(0, 0.89), (at, from, x, y) => {
        fc.pre(x !== y);
        const [light, heavy] = x < y ? [x, y] : [y, x];
        const manifest = pair(at, at);
        const live = { utilization: new Map([['b-first', light], ['a-second', heavy]]) };
        const result = selectDatacenters(manifest, { country: 'DE', location: from }, live);
        expect(candidatesOf(result).map((c) => c.datacenter)).toEqual(['b-first', 'a-second']);
      }),
      { numRuns: 1_000 },
    );
  });

  it('puts the nearer of two equally loaded datacenters first', () => {
    fc.assert(
      fc.property(pointArb, pointArb, pointArb, fc.constantFrom(0, 0.3, 0.8), (p, q, from, load) => {
        const dp = greatCircleKm(from, p);
        const dq = greatCircleKm(from, q);
        fc.pre(dp !== dq);
        const [near, far] = dp < dq ? [p, q] : [q, p];
        const manifest = pair(near, far);
        const live = { utilization: new Map([['b-first', load], ['a-second', load]]) };
        const result = selectDatacenters(manifest, { country: 'DE', location: from }, live);
        expect(candidatesOf(result).map((c) => c.datacenter)).toEqual(['b-first', 'a-second']);
      }),
      { numRuns: 1_000 },
    );
  });

  // Known bug, found here: rank() clamps utilization to 0.999 and compareRanked() breaks ties on the
  // clamped value, so with maxUtilization 1 two loads in [0.999, 1) tie and the id decides. The
  // properties above stay below 0.999; this is the minimal failing input.
  it('puts the less loaded first even above 99.9 % load (regression: clamped utilization ties)', () => {
    const at = { lat: 50.11, lon: 8.68 };
    const manifest: Manifest = { ...pair(at, at), selection: { secondaries: 2, primaryAttempts: 2, attemptTimeoutMs: 1500, maxUtilization: 1 } };
    const live = { utilization: new Map([['b-first', 0.9991], ['a-second', 0.9999]]) };
    const result = selectDatacenters(manifest, { country: 'DE', location: at }, live);
    expect(candidatesOf(result).map((c) => c.datacenter)).toEqual(['b-first', 'a-second']);
  });

  it('examples: Frankfurt before Dublin for a Berlin client; same rack, lighter first', () => {
    const berlin = { lat: 52.52, lon: 13.4 };
    const frankfurt = { lat: 50.11, lon: 8.68 };
    const dublin = { lat: 53.35, lon: -6.26 };
    expect(greatCircleKm(berlin, frankfurt)).toBeLessThan(greatCircleKm(berlin, dublin));
    const near = selectDatacenters(pair(frankfurt, dublin), { country: 'DE', location: berlin }, {});
    expect(candidatesOf(near).map((c) => c.datacenter)).toEqual(['b-first', 'a-second']);
    const rack = selectDatacenters(pair(frankfurt, frankfurt), { country: 'DE', location: berlin }, { utilization: new Map([['b-first', 0.2], ['a-second', 0.6]]) });
    expect(candidatesOf(rack).map((c) => c.datacenter)).toEqual(['b-first', 'a-second']);
  });
});

describe('manifest round trip (h)', () => {
  it('parseManifest(printManifest(m)) gives m back with no diagnostics', () => {
    fc.assert(
      fc.property(manifestArb, (manifest) => {
        const text = printManifest(manifest);
        const parsed = parseManifest(text);
        expect(parsed.diagnostics, text).toEqual([]);
        expect(parsed.manifest).toStrictEqual(manifest);
      }),
      { numRuns: 1_000 },
    );
  });
});

/**
 * The hot path (`selectRoute`) is the explained decision minus `excluded`:
 * same zone, allowed jurisdictions, candidates in the same order and
 * attempts; a refusal is the same refusal (code, message), explaining only
 * the datacenters it examined: the zone's listed ones, or the placed meeting's.
 */
function expectRouteIsDecisionUnexplained(manifest: Manifest, request: RouteRequest, live: LiveState): void {
  const explained = selectDatacenters(manifest, request, live);
  const fast = selectRoute(manifest, request, live);
  // The live state indexed by datacenter position (as the broker's registry hands it over) decides the same, both ways.
  const indexed = indexLiveState(manifest, live);
  expect(selectRoute(manifest, request, indexed)).toStrictEqual(fast);
  expect(selectDatacenters(manifest, request, indexed)).toStrictEqual(explained);
  if (isRefusal(explained)) {
    if (!isRefusal(fast)) throw new Error(`the explained decider refuses ${JSON.stringify(request)} and the hot path does not`);
    const zone = zoneOf(manifest, request.country);
    const listed = new Set([...(zone?.primaries ?? []), ...(zone?.secondaries ?? [])]);
    // A meeting placed where the participant may not go, or full: that datacenter alone. Else the zone's lists.
    const placedRefusal = request.placedAt !== undefined && explained.excluded.some((e) => e.datacenter === request.placedAt && e.reason !== 'DOWN' && e.reason !== 'NOT_LISTED') && !live.down?.has(request.placedAt);
    const examined = (e: { datacenter: string }): boolean => (placedRefusal ? e.datacenter === request.placedAt : explained.error.code !== 'NO_ZONE' && listed.has(e.datacenter));
    expect(fast).toStrictEqual({ ...explained, excluded: explained.excluded.filter(examined) });
    return;
  }
  const { excluded, ...unexplained } = explained;
  expect(excluded.length + explained.candidates.length).toBe(manifest.datacenters.length);
  // Not merely an empty or undefined `excluded`: the hot path's answer has no such key.
  expect(Object.keys(fast)).not.toContain('excluded');
  expect(fast).toStrictEqual(unexplained);
}

describe('selectRoute: the hot path decides as the explained decider does', () => {
  const generated = generateManifestModel({ datacenters: 1000, countries: 250, seed: 1 });

  it('gives the explained decision minus excluded, or the same refusal, for random manifests, requests (placed or not) and live states', () => {
    // A placed meeting anywhere the arbitraries name, or in a datacenter the manifest lost.
    const placedArb = fc.option(fc.constantFrom(...DATACENTER_IDS, 'dc-gone'), { nil: undefined });
    fc.assert(
      fc.property(scenarioArb, placedArb, ({ manifest, request, live }, placedAt) => {
        expectRouteIsDecisionUnexplained(manifest, placedAt === undefined ? request : { ...request, placedAt }, live);
      }),
      { numRuns: 3_000 },
    );
  });

  it('placedOnly: the placed datacenter alone, as the full join names it first, or the same decision when it cannot be joined', () => {
    fc.assert(
      fc.property(scenarioArb, fc.constantFrom(...DATACENTER_IDS, 'dc-gone'), ({ manifest, request, live }, placedAt) => {
        const alone = { ...request, placedAt, placedOnly: true };
        expectRouteIsDecisionUnexplained(manifest, alone, live);
        const full = selectRoute(manifest, { ...request, placedAt }, live);
        const only = selectRoute(manifest, alone, live);
        // Joined there: that datacenter alone. Refused, or placed where it is down or gone: the same decision.
        if (!isRefusal(full) && full.candidates[0]?.datacenter === placedAt) expect(only).toEqual({ ...full, candidates: full.candidates.slice(0, 1) });
        else expect(only).toEqual(full);
      }),
      { numRuns: 2_000 },
    );
  });

  it('holds on the generated 1,000-datacenter manifest: every country, host, placement and a busy live state', () => {
    const manifest = generated;
    const ids = compilePolicy(manifest).datacentersById.map((d) => d.id);
    // Every 7th datacenter down and loads 0..0.99 spread over the rest, so some zones run out and refuse.
    const busy: LiveState = { down: new Set(ids.filter((_, i) => i % 7 === 0)), utilization: new Map(ids.map((id, i) => [id, (i % 100) / 100])) };
    const plan = manifest.plans[0]?.id;
    let refusals = 0;
    for (const country of ALL_COUNTRY_CODES) {
      const requests: RouteRequest[] = [
        { country },
        { country, hostCountry: 'US', placedAt: ids[country.charCodeAt(0) % ids.length] ?? '' },
        { country, accountJurisdictions: [country], ...(plan === undefined ? {} : { plan }) },
        // Seen from a point of its own rather than the country's: the zone's lists ranked from there.
        { country, location: { lat: (country.charCodeAt(0) % 140) - 70, lon: (country.charCodeAt(1) * 7) % 360 - 180 } },
      ];
      for (const request of requests) {
        for (const live of [{}, busy]) {
          expectRouteIsDecisionUnexplained(manifest, request, live);
          if (isRefusal(selectRoute(manifest, request, live))) refusals++;
        }
      }
    }
    // Both branches ran: routes and (explained) refusals.
    expect(refusals).toBeGreaterThan(0);
    expect(refusals).toBeLessThan(ALL_COUNTRY_CODES.length * 8);
  });

  it('rejects bad input as the explained decider does', () => {
    const manifest = generated;
    const bad: RouteRequest[] = [{ country: 'XX' }, { country: 'DE', plan: 'no-such-plan' }, { country: 'DE', hostCountry: 'de' }];
    for (const request of bad) {
      const codeOf = (decide: () => unknown): string => {
        try {
          decide();
        } catch (error) {
          if (isGeobridgeError(error)) return error.code;
          throw error;
        }
        throw new Error(`${JSON.stringify(request)} was accepted`);
      };
      const code = codeOf(() => selectRoute(manifest, request));
      expect(code).toBe(codeOf(() => selectDatacenters(manifest, request)));
      expect(['INVALID_COUNTRY', 'UNKNOWN_PLAN']).toContain(code);
    }
  });
});
