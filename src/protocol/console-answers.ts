/**
 * The operator console's API answers (docs/console.md): defined once,
 * declared by the broker's console routes, read by the console page.
 */
import { Type, type Static } from 'typebox';

/** GET /v1/console/session: the session's CSRF token (the session itself is an http-only cookie) and when it expires. */
export const ConsoleSessionAnswer = Type.Object({ csrf: Type.String(), expiresAt: Type.String() }, { additionalProperties: false });

/** POST /v1/console/login: the new session's CSRF token. */
export const ConsoleLoginAnswer = Type.Object({ csrf: Type.String() }, { additionalProperties: false });

/** A datacenter as the console shows it: the manifest's, with the broker's live view of its bridge. */
export const ConsoleDatacenter = Type.Object(
  {
    id: Type.String(),
    jurisdiction: Type.String(),
    location: Type.Object({ lat: Type.Number(), lon: Type.Number() }, { additionalProperties: false }),
    state: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('draining')], {
      description: 'up: its bridge reported within the heartbeat timeout; draining: it did and said it drains; down: it never reported, stopped, or its presence dropped (even in --dev, where routing counts it up)',
    }),
    participants: Type.Integer({ description: 'Participants admitted there' }),
    capacity: Type.Number(),
    utilization: Type.Number({ description: 'participants ÷ capacity (0 when capacity is 0)' }),
    meetings: Type.Integer({ description: 'Distinct meetings among its participants' }),
    loop: Type.Union([Type.Number(), Type.Null()], { description: "How busy its bridge's event loop is, averaged over recent heartbeats (0–1); null when down" }),
    shedding: Type.Boolean({ description: 'Its bridge is too busy to take new participants (serve --shed-at): routing counts it full' }),
  },
  { additionalProperties: false },
);

/** A cascade hop the broker holds. */
export const ConsoleRelay = Type.Object({ meeting: Type.String(), from: Type.String(), to: Type.String(), streams: Type.Integer({ description: 'Participants whose streams the hop carries' }) }, { additionalProperties: false });

/** GET /v1/console/overview, and each `overview` event of GET /v1/console/events. */
export const ConsoleOverview = Type.Object(
  {
    policyVersion: Type.Integer({ description: 'Version of the manifest in force' }),
    datacenters: Type.Array(ConsoleDatacenter, { description: 'Every datacenter of the manifest in force, in its order' }),
    relays: Type.Array(ConsoleRelay, { description: 'The cascade hops the broker holds (empty unless it runs with --cascade)' }),
  },
  { additionalProperties: false },
);

/** A live meeting: where it is held, who is where, its relays. */
export const ConsoleMeeting = Type.Object(
  {
    id: Type.String(),
    title: Type.String(),
    account: Type.String(),
    datacenter: Type.Union([Type.String(), Type.Null()], { description: 'Where it is placed; null when unplaced (a cascaded meeting has no home)' }),
    participants: Type.Array(Type.Object({ id: Type.String(), country: Type.String(), datacenter: Type.String() }, { additionalProperties: false })),
    relays: Type.Array(Type.Object({ from: Type.String(), to: Type.String(), streams: Type.Integer() }, { additionalProperties: false })),
    cascade: Type.Boolean({ description: 'The broker cascades meetings (serve --cascade)' }),
    e2ee: Type.Union([Type.Object({ epoch: Type.Integer(), members: Type.Integer() }, { additionalProperties: false }), Type.Null()], {
      description:
        "Its MLS group as its delivery service sees it (the bridge's last heartbeat; the broker's own in a cascade): the epoch, and how many participants showed they hold it. null: nobody does, so nothing is end-to-end encrypted",
    }),
  },
  { additionalProperties: false },
);

/** GET /v1/console/meetings. */
export const ConsoleMeetingsAnswer = Type.Object({ meetings: Type.Array(ConsoleMeeting, { description: 'Live meetings with at least one admitted participant, by title then id' }) }, { additionalProperties: false });

/** GET /v1/console/fences/countries/:code: where a country's participants may be, and under which fences (the decider's own answer). */
export const ConsoleCountryFences = Type.Object(
  {
    country: Type.String(),
    name: Type.String(),
    fences: Type.Array(Type.Object({ name: Type.String(), transit: Type.Union([Type.Literal('never'), Type.Literal('e2ee')]) }), { description: 'The fences that bind its participants, in manifest order' }),
    jurisdictions: Type.Array(Type.String(), { description: 'The jurisdictions its participants may reach: every binding fence allows them (sorted)' }),
    datacenters: Type.Array(Type.Object({ id: Type.String(), jurisdiction: Type.String() }), { description: 'The datacenters in those jurisdictions' }),
  },
  { additionalProperties: false },
);

/** GET /v1/console/fences/datacenters/:id: which countries' participants may use a datacenter. */
export const ConsoleDatacenterFences = Type.Object(
  { datacenter: Type.String(), jurisdiction: Type.String(), countries: Type.Array(Type.String(), { description: 'Every country whose fences allow the jurisdiction (sorted)' }) },
  { additionalProperties: false },
);

/** One day's or the whole range's aggregates of `geobridge audit report` (its `report.total` and `report.days[]`), without the rows. */
const ConsoleAuditSection = Type.Object({
  records: Type.Object({ total: Type.Integer(), byType: Type.Array(Type.Object({ type: Type.String(), count: Type.Integer() })) }),
  connections: Type.Object({ total: Type.Integer() }),
  outOfZone: Type.Object({ total: Type.Integer() }),
  routeDecisions: Type.Object({ total: Type.Integer() }),
  refusals: Type.Object({ total: Type.Integer() }),
  relays: Type.Object({
    total: Type.Integer({ description: "Cascade hops opened carrying a participant's media (`relay.opened`)" }),
    unencrypted: Type.Integer({ description: 'Of those, the ones whose record says the media was not end-to-end encrypted' }),
  }),
  placements: Type.Object({ claimed: Type.Integer(), rehomed: Type.Integer(), released: Type.Integer(), ended: Type.Integer() }),
  manifests: Type.Object({ changed: Type.Integer(), rejected: Type.Integer() }),
});

/** GET /v1/console/audit/report: the report of every log over [from, to), as `geobridge audit report --json` makes it. */
export const ConsoleAuditReport = Type.Object({ from: Type.String(), to: Type.String(), total: ConsoleAuditSection, days: Type.Array(Type.Intersect([ConsoleAuditSection, Type.Object({ date: Type.String() })])) });

/** GET /v1/console/audit/records: the newest records that pass the filter, newest first, and how many pass in all. */
export const ConsoleAuditRecords = Type.Object({
  total: Type.Integer(),
  records: Type.Array(Type.Object({ seq: Type.Integer(), at: Type.String(), type: Type.String(), log: Type.Union([Type.String(), Type.Null()], { description: "The record store whose log holds it; null: the broker's own" }), data: Type.Record(Type.String(), Type.Unknown()) })),
});

/** GET /v1/console/audit/integrity, POST /v1/console/audit/verify: each log's latest signed tree head, and (verify) the check of the whole log. */
export const ConsoleAuditIntegrity = Type.Object({
  logs: Type.Array(
    Type.Object({
      log: Type.Union([Type.String(), Type.Null()]),
      size: Type.Integer({ description: 'Records the latest signed tree head covers' }),
      signedAt: Type.Union([Type.String(), Type.Null()]),
      rootHash: Type.Union([Type.String(), Type.Null()]),
      keyId: Type.Union([Type.String(), Type.Null()]),
      verified: Type.Optional(Type.Object({ ok: Type.Boolean(), count: Type.Optional(Type.Integer()), reason: Type.Optional(Type.String()) })),
    }),
  ),
});

/** A diagnostic of `geobridge check`, where it is in the manifest. */
const ConsoleDiagnostic = Type.Object({ line: Type.Integer(), column: Type.Integer(), severity: Type.String(), code: Type.String(), path: Type.String(), message: Type.String() });

/** POST /v1/console/manifest/review: what `check` says of a manifest, and (when it parses) its exposure diff against the one in force. */
export const ConsoleManifestReview = Type.Object({
  clean: Type.Boolean({ description: 'No error: it may be applied' }),
  version: Type.Integer({ description: 'The version in force that the diff is against: apply sends it back, and lands only on it' }),
  diagnostics: Type.Array(ConsoleDiagnostic),
  diff: Type.Union([
    Type.Object({
      exposure: Type.Array(Type.Object({ countries: Type.Array(Type.String()), gained: Type.Array(Type.String()), lost: Type.Array(Type.String()) })),
      crossings: Type.Array(Type.Object({ change: Type.String(), zone: Type.String(), datacenter: Type.String(), jurisdiction: Type.String(), fence: Type.String() })),
      fences: Type.Array(Type.Object({ fence: Type.String(), change: Type.String(), capacityBefore: Type.Number(), capacityAfter: Type.Number() })),
    }),
    Type.Null(),
  ]),
});

/** POST /v1/console/manifest/apply: the version now in force. */
export const ConsoleManifestApplied = Type.Object({ version: Type.Integer(), sha256: Type.String() });

/** GET /v1/console/manifest/history: every manifest applied, newest first. */
export const ConsoleManifestHistory = Type.Object({
  current: Type.Integer(),
  manifests: Type.Array(Type.Object({ version: Type.Integer(), sha256: Type.String(), actor: Type.String(), at: Type.String() })),
});

/** A steady state the simulator reached (src/sim/steady-state.ts). */
const SteadyState = Type.Object({
  maxUtilization: Type.Number({ description: "The manifest's selection.maxUtilization: a datacenter at it is full" }),
  datacenters: Type.Array(Type.Object({ datacenter: Type.String(), capacity: Type.Number(), participants: Type.Integer({ description: 'Connected at the end' }) })),
  refused: Type.Array(
    Type.Object({
      country: Type.String(),
      zone: Type.String({ description: 'The zone whose demand it is' }),
      wanted: Type.Integer({ description: 'Its participants wanting to be connected at once' }),
      share: Type.Number({ description: 'Share of its joins refused, 0 … 1' }),
      code: Type.String({ description: 'The reason most got, e.g. NO_CAPACITY_IN_FENCE' }),
    }),
    { description: 'Countries with refused joins, the largest share first' },
  ),
  shortfall: Type.Array(Type.Object({ zone: Type.String(), peakRefusedConcurrent: Type.Integer(), extraCapacityNeeded: Type.Integer() }), { description: 'Capacity each zone would need inside its fences so that nobody is refused' }),
});

/**
 * GET /v1/console/what-if: with these datacenters down (and these zones' demand), each country whose route the
 * decider would change, and the simulator's steady state at each zone's forecast with everything up against the what-if.
 */
export const ConsoleWhatIf = Type.Object({
  down: Type.Array(Type.String()),
  countries: Type.Array(
    Type.Object({
      country: Type.String(),
      before: Type.Union([Type.String(), Type.Null()], { description: 'First datacenter with every datacenter up (null: refused even then)' }),
      after: Type.Union([Type.String(), Type.Null()], { description: 'First datacenter with `down` down (null: refused)' }),
      refusal: Type.Optional(Type.String({ description: 'The refusal code after, e.g. NO_CAPACITY_IN_FENCE' })),
    }),
  ),
  firstChoices: Type.Array(Type.Object({ datacenter: Type.String(), before: Type.Integer(), after: Type.Integer() }), { description: 'Countries whose first choice each datacenter is, before and after' }),
  zones: Type.Array(Type.Object({ zone: Type.String(), forecast: Type.Integer({ description: "The manifest's `demand`: concurrent participants at peak (0 when not given)" }), demand: Type.Integer({ description: 'What the what-if simulated' }) })),
  simulation: Type.Object({
    sessionMinutes: Type.Number(),
    warmupMinutes: Type.Number(),
    measuredMinutes: Type.Number(),
    before: SteadyState,
    after: SteadyState,
  }),
});

/** GET /console/base-map.json: the world map (src/report/world-base.ts) and where each datacenter of the manifest in force is on it. */
export const ConsoleBaseMap = Type.Object({
  width: Type.Number(),
  height: Type.Number(),
  /** SVG markup of the country outlines. */
  countries: Type.String(),
  datacenters: Type.Array(Type.Object({ id: Type.String(), x: Type.Number(), y: Type.Number() })),
});

export type ConsoleOverview = Static<typeof ConsoleOverview>;
export type ConsoleMeeting = Static<typeof ConsoleMeeting>;
export type ConsoleMeetingsAnswer = Static<typeof ConsoleMeetingsAnswer>;
export type ConsoleSessionAnswer = Static<typeof ConsoleSessionAnswer>;
export type ConsoleLoginAnswer = Static<typeof ConsoleLoginAnswer>;
export type ConsoleBaseMap = Static<typeof ConsoleBaseMap>;
export type ConsoleCountryFences = Static<typeof ConsoleCountryFences>;
export type ConsoleAuditReport = Static<typeof ConsoleAuditReport>;
export type ConsoleWhatIf = Static<typeof ConsoleWhatIf>;
export type ConsoleManifestReview = Static<typeof ConsoleManifestReview>;
export type ConsoleManifestApplied = Static<typeof ConsoleManifestApplied>;
export type ConsoleManifestHistory = Static<typeof ConsoleManifestHistory>;
export type ConsoleAuditRecords = Static<typeof ConsoleAuditRecords>;
export type ConsoleAuditIntegrity = Static<typeof ConsoleAuditIntegrity>;
export type ConsoleDatacenterFences = Static<typeof ConsoleDatacenterFences>;
