/**
 * The audit report: who touched which jurisdiction, when. A pure aggregation
 * of audit records (per UTC day and in total); report-render.ts prints it as
 * aligned text or one HTML page. The same records give the same report on
 * any machine: every sort has a total order, no locale is consulted.
 */
import { GeobridgeError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import type { AuditRecord } from './audit-log.js';

/** Admissions by client country × datacenter jurisdiction × role. */
export interface ConnectionRow {
  readonly country: string;
  readonly jurisdiction: string;
  readonly role: string;
  readonly connections: number;
  /** Distinct participant ids among those connections. */
  readonly participants: number;
}

/** Admissions outside the participant's zone lists (backups of backups, enclaves). */
export interface OutOfZoneRow {
  readonly country: string;
  readonly zone: string;
  readonly datacenter: string;
  readonly jurisdiction: string;
  readonly connections: number;
  readonly participants: number;
}

/**
 * Cascade hops opened carrying a participant's media (`relay.opened`), by
 * client country × jurisdiction of the datacenter relayed into × whether that
 * media was end-to-end encrypted (a fence's `transit: e2ee` lets only such
 * media out).
 */
export interface RelayRow {
  readonly country: string;
  readonly jurisdiction: string;
  /** null when the record does not say. */
  readonly e2ee: boolean | null;
  /** Hops opened (a hop planned again after a restart or a plan change counts again). */
  readonly hops: number;
  /** Distinct participant ids among those hops. */
  readonly participants: number;
}

/** Route decisions for one client country and the jurisdictions they offered. */
export interface RouteDecisionRow {
  readonly country: string;
  readonly decisions: number;
  /** How many of those decisions offered each jurisdiction (as primary or backup). */
  readonly offered: readonly { readonly jurisdiction: string; readonly decisions: number }[];
}

/** Refusals and rejections by code (`reason` for the bridge's). */
export interface RefusalRow {
  readonly type: string;
  readonly code: string;
  readonly count: number;
}

/** A meeting moved to another datacenter. */
export interface RehomeRow {
  readonly at: string;
  readonly meeting: string;
  readonly from: string;
  readonly to: string;
  readonly epoch: string;
}

/** An accepted manifest version. */
export interface ManifestChangeRow {
  readonly at: string;
  readonly version: string;
  readonly actor: string;
  readonly sha256: string;
}

/** The aggregates of one day, or of the whole range. */
export interface AuditReportSection {
  readonly records: { readonly total: number; readonly byType: readonly { readonly type: string; readonly count: number }[] };
  readonly connections: { readonly total: number; readonly rows: readonly ConnectionRow[] };
  readonly outOfZone: { readonly total: number; readonly rows: readonly OutOfZoneRow[] };
  readonly relays: { readonly total: number; readonly rows: readonly RelayRow[] };
  readonly routeDecisions: { readonly total: number; readonly rows: readonly RouteDecisionRow[] };
  readonly refusals: { readonly total: number; readonly rows: readonly RefusalRow[] };
  readonly placements: { readonly claimed: number; readonly rehomed: number; readonly released: number; readonly ended: number; readonly rehomes: readonly RehomeRow[] };
  readonly manifests: { readonly changed: number; readonly rejected: number; readonly changes: readonly ManifestChangeRow[] };
}

/** The report over [from, to): per UTC day that has records, and in total. */
export interface AuditReport {
  readonly from: string;
  readonly to: string;
  readonly total: AuditReportSection;
  readonly days: readonly (AuditReportSection & { readonly date: string })[];
}

/** Shown for a field a record lacks (records are kept as written, so old or foreign ones may miss fields). */
export const UNKNOWN = '?';

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** The last time parseAuditTime found canonical (none yet: an empty string must not match it). */
let lastCanonicalTime: string | undefined;

/**
 * Parses an ISO 8601 date (`2024-03-01`, UTC midnight) or date-time (offset
 * optional, UTC when absent) into the canonical UTC form
 * `YYYY-MM-DDTHH:mm:ss.sssZ`, whose string order is time order; undefined if
 * it is not one.
 */
export function parseAuditTime(text: string): string | undefined {
  // Fast path for every appended record: a time from toISOString() is already canonical, as its round trip shows;
  // the records of one busy millisecond share their time, so the last one that passed is remembered.
  if (text === lastCanonicalTime) return text;
  if (CANONICAL_TIME.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms) && new Date(ms).toISOString() === text) return (lastCanonicalTime = text);
  }
  const m = ISO_TIME.exec(text.trim());
  if (!m) return undefined;
  const num = (i: number, absent: number): number => (m[i] === undefined ? absent : Number(m[i]));
  const [year, month, day, hour, minute, second] = [num(1, NaN), num(2, NaN), num(3, NaN), num(4, 0), num(5, 0), num(6, 0)];
  const ms = Number(((m[7] ?? '') + '000').slice(0, 3));
  // setUTCFullYear, unlike Date.UTC, takes years 0–99 literally. Both roll
  // 02-30 over to 03-01 and 24:00 to the next day; ISO does not, hence the check.
  const check = new Date(0);
  check.setUTCFullYear(year, month - 1, day);
  check.setUTCHours(hour, minute, second, ms);
  const base = check.getTime();
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return undefined;
  if (check.getUTCHours() !== hour || check.getUTCMinutes() !== minute || check.getUTCSeconds() !== second) return undefined;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const h = Number(digits.slice(0, 2));
    const min = Number(digits.slice(2));
    if (h > 23 || min > 59) return undefined;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (h * 60 + min);
  }
  const time = new Date(base - offsetMinutes * 60_000);
  const iso = time.toISOString();
  // Keep to four-digit years, where string order is time order.
  return /^\d{4}-/.test(iso) ? iso : undefined;
}

/** `parseAuditTime`, throwing INVALID_TIME naming `what` (e.g. `--from`) when `text` is not a date or date-time. */
export function normalizeAuditTime(text: string, what = 'time'): string {
  const iso = parseAuditTime(text);
  if (iso === undefined) {
    throw new GeobridgeError('INVALID_TIME', `${what} '${text}' is not an ISO 8601 date or date-time in years 0000–9999 (e.g. 2024-03-01 or 2024-03-01T09:30:00Z; UTC unless an offset is given).`);
  }
  return iso;
}

/** Aggregates the records whose time lies in [range.from, range.to). Records outside the range are ignored. */
export function buildAuditReport(records: readonly AuditRecord[], range: { readonly from: string; readonly to: string }): AuditReport {
  const from = normalizeAuditTime(range.from, 'from');
  const to = normalizeAuditTime(range.to, 'to');
  const total = new Tally();
  const days = new Map<string, Tally>();
  const facts = new LogFacts(records);
  for (const record of records) {
    const at = parseAuditTime(record.at);
    if (at === undefined || at < from || at >= to) continue;
    const date = at.slice(0, 10);
    let day = days.get(date);
    if (!day) days.set(date, (day = new Tally()));
    const relay = record.type === 'relay.opened' ? facts.relay(record.data, at) : undefined;
    total.add(record, at, relay);
    day.add(record, at, relay);
  }
  return {
    from,
    to,
    total: total.section(),
    days: [...days.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([date, tally]) => ({ date, ...tally.section() })),
  };
}

/** What a `relay.opened` record adds to the report, its gaps filled from the log. */
interface RelayFacts {
  readonly key: { readonly country: string; readonly jurisdiction: string; readonly e2ee: boolean | null };
  readonly participant: string | undefined;
}

/**
 * Relay records written before they carried `country` and `jurisdiction`
 * (or whose datacenter the manifest in force did not know) are completed
 * from what the rest of the log says: the participant's country from their
 * records in that meeting (route decisions, admissions), the datacenter's
 * jurisdiction from records that name it (admissions, decisions' candidates)
 * — each as last recorded at or before the hop, so a datacenter the
 * manifest later moved is judged by the manifest of the day. Built on first
 * need: logs of complete records never pay for it.
 */
class LogFacts {
  readonly #records: readonly AuditRecord[];
  #timelines: { readonly countries: Timeline; readonly jurisdictions: Timeline } | undefined;

  constructor(records: readonly AuditRecord[]) {
    this.#records = records;
  }

  relay(d: Readonly<Record<string, unknown>>, at: string): RelayFacts {
    const participant = optionalField(d, 'participant');
    const meeting = optionalField(d, 'meeting');
    const to = optionalField(d, 'to');
    const country = optionalField(d, 'country') ?? (participant === undefined || meeting === undefined ? undefined : this.#build().countries.at(participantKey(meeting, participant), at));
    const jurisdiction = optionalField(d, 'jurisdiction') ?? (to === undefined ? undefined : this.#build().jurisdictions.at(to, at));
    return { key: { country: country ?? UNKNOWN, jurisdiction: jurisdiction ?? UNKNOWN, e2ee: typeof d.e2ee === 'boolean' ? d.e2ee : null }, participant };
  }

  #build(): { readonly countries: Timeline; readonly jurisdictions: Timeline } {
    if (this.#timelines) return this.#timelines;
    const countries = new Timeline();
    const jurisdictions = new Timeline();
    for (const record of this.#records) {
      const at = parseAuditTime(record.at);
      if (at === undefined) continue;
      const d = record.data;
      const noteCountry = (): void => {
        const [meeting, participant, country] = [optionalField(d, 'meeting'), optionalField(d, 'participant'), optionalField(d, 'country')];
        if (meeting !== undefined && participant !== undefined && country !== undefined) countries.note(participantKey(meeting, participant), at, country);
      };
      const noteDatacenter = (data: Readonly<Record<string, unknown>>, idKey: string, jurisdictionKey: string): void => {
        const [id, jurisdiction] = [optionalField(data, idKey), optionalField(data, jurisdictionKey)];
        if (id !== undefined && jurisdiction !== undefined) jurisdictions.note(id, at, jurisdiction);
      };
      switch (record.type) {
        case 'bridge.admission':
          noteCountry();
          noteDatacenter(d, 'datacenter', 'jurisdiction');
          break;
        case 'route.decision':
          noteCountry();
          for (const c of Array.isArray(d.candidates) ? (d.candidates as unknown[]) : []) if (isRecord(c)) noteDatacenter(c, 'datacenter', 'jurisdiction');
          break;
        case 'relay.opened':
        case 'relay.closed':
          noteCountry();
          noteDatacenter(d, 'to', 'jurisdiction');
          noteDatacenter(d, 'from', 'fromJurisdiction');
          break;
        default:
          break;
      }
    }
    return (this.#timelines = { countries: countries.seal(), jurisdictions: jurisdictions.seal() });
  }
}

function participantKey(meeting: string, participant: string): string {
  return `${meeting}\u0000${participant}`;
}

/** Values a key took over time; `at` answers the one last noted at or before a time (ties: the greatest value, for a total order). */
class Timeline {
  readonly #entries = new Map<string, { readonly at: string; readonly value: string }[]>();

  note(key: string, at: string, value: string): void {
    let list = this.#entries.get(key);
    if (!list) this.#entries.set(key, (list = []));
    list.push({ at, value });
  }

  /** Sorts each key's entries by time, keeping only where the value changes. */
  seal(): this {
    for (const [key, list] of this.#entries) {
      list.sort((a, b) => compareStrings(a.at, b.at) || compareStrings(a.value, b.value));
      this.#entries.set(key, list.filter((e, i) => e.value !== list[i - 1]?.value));
    }
    return this;
  }

  at(key: string, at: string): string | undefined {
    const list = this.#entries.get(key) ?? [];
    // The last entry at or before `at`, by binary search over the sorted times.
    let [lo, hi] = [0, list.length];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((list[mid]?.at ?? '') <= at) lo = mid + 1;
      else hi = mid;
    }
    return list[lo - 1]?.value;
  }
}

/** Counts and distinct participants under one key. */
interface Bucket<K> {
  readonly key: K;
  count: number;
  readonly participants: Set<string>;
}

/** A map from composite keys (joined with NUL, which no field holds meaningfully) to buckets. */
class Buckets<K> {
  readonly #map = new Map<string, Bucket<K>>();

  add(parts: readonly string[], key: K, participant?: string, count = 1): void {
    const id = parts.join('\u0000');
    let bucket = this.#map.get(id);
    if (!bucket) this.#map.set(id, (bucket = { key, count: 0, participants: new Set() }));
    bucket.count += count;
    if (participant !== undefined) bucket.participants.add(participant);
  }

  /** Buckets in key order. */
  sorted(): Bucket<K>[] {
    return [...this.#map.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, b]) => b);
  }
}

/** Accumulates one section. */
class Tally {
  readonly #types = new Buckets<string>();
  readonly #connections = new Buckets<{ country: string; jurisdiction: string; role: string }>();
  readonly #outOfZone = new Buckets<{ country: string; zone: string; datacenter: string; jurisdiction: string }>();
  readonly #relays = new Buckets<RelayFacts['key']>();
  readonly #decisions = new Buckets<string>();
  readonly #offers = new Buckets<{ country: string; jurisdiction: string }>();
  readonly #refusals = new Buckets<{ type: string; code: string }>();
  readonly #rehomes: RehomeRow[] = [];
  readonly #changes: ManifestChangeRow[] = [];
  #records = 0;
  #claimed = 0;
  #released = 0;
  #ended = 0;
  #rejectedManifests = 0;

  /** `relay`: what a `relay.opened` record says, completed from the log (LogFacts). */
  add(record: AuditRecord, at: string, relay?: RelayFacts): void {
    const d = record.data;
    this.#records++;
    this.#types.add([record.type], record.type);
    switch (record.type) {
      case 'bridge.admission': {
        const participant = optionalField(d, 'participant');
        const country = field(d, 'country');
        const jurisdiction = field(d, 'jurisdiction');
        const role = field(d, 'role');
        this.#connections.add([country, jurisdiction, role], { country, jurisdiction, role }, participant);
        if (d.outOfZone === true) {
          const zone = field(d, 'zone');
          const datacenter = field(d, 'datacenter');
          this.#outOfZone.add([country, zone, datacenter, jurisdiction], { country, zone, datacenter, jurisdiction }, participant);
        }
        break;
      }
      case 'relay.opened':
        if (relay) this.#relays.add([relay.key.country, relay.key.jurisdiction, yesNo(relay.key.e2ee)], relay.key, relay.participant);
        break;
      case 'route.decision': {
        const country = field(d, 'country');
        this.#decisions.add([country], country);
        const offered = new Set(Array.isArray(d.candidates) ? d.candidates.map((c: unknown) => field(isRecord(c) ? c : {}, 'jurisdiction')) : []);
        for (const jurisdiction of offered) this.#offers.add([country, jurisdiction], { country, jurisdiction });
        break;
      }
      case 'route.refusal':
        this.#refusals.add([record.type, field(d, 'code')], { type: record.type, code: field(d, 'code') });
        break;
      case 'bridge.refusal':
      case 'bridge.rejected':
        this.#refusals.add([record.type, field(d, 'reason')], { type: record.type, code: field(d, 'reason') });
        break;
      case 'bridge.eviction':
      case 'ticket.renewal-refused':
        this.#refusals.add([record.type, field(d, 'code')], { type: record.type, code: field(d, 'code') });
        break;
      case 'bridge.rejected.summary':
        // The same rows as one `bridge.rejected` record per message would give, whichever way a broker wrote them.
        for (const row of Array.isArray(d.counts) ? (d.counts as unknown[]) : []) {
          const r = isRecord(row) ? row : {};
          const count = typeof r.count === 'number' && Number.isSafeInteger(r.count) && r.count > 0 ? r.count : 0;
          if (count > 0) this.#refusals.add(['bridge.rejected', field(r, 'code')], { type: 'bridge.rejected', code: field(r, 'code') }, undefined, count);
        }
        break;
      case 'placement.claimed':
        this.#claimed++;
        break;
      case 'placement.rehomed':
        this.#rehomes.push({ at, meeting: field(d, 'meeting'), from: field(d, 'from'), to: field(d, 'datacenter'), epoch: field(d, 'epoch') });
        break;
      case 'meeting.ended':
        this.#ended++;
        break;
      case 'manifest.changed':
        this.#changes.push({ at, version: field(d, 'version'), actor: field(d, 'actor'), sha256: field(d, 'sha256') });
        break;
      case 'manifest.rejected':
        this.#rejectedManifests++;
        break;
      case 'placement.released':
        this.#released++;
        break;
      case 'bridge.enrolled':
      case 'bridge.lost':
      case 'relay.closed':
      case 'bridge.url-changed':
      case 'participant.replaced':
      case 'admin.action':
        break;
    }
  }

  section(): AuditReportSection {
    const connections = this.#connections.sorted().map((b) => ({ ...b.key, connections: b.count, participants: b.participants.size }));
    const outOfZone = this.#outOfZone.sorted().map((b) => ({ ...b.key, connections: b.count, participants: b.participants.size }));
    const relays = this.#relays.sorted().map((b) => ({ ...b.key, hops: b.count, participants: b.participants.size }));
    const offers = this.#offers.sorted();
    const refusals = this.#refusals.sorted().map((b) => ({ ...b.key, count: b.count }));
    const byOrder = <T extends { at: string }>(rows: T[], tie: (r: T) => string): T[] => rows.sort((a, b) => compareStrings(a.at, b.at) || compareStrings(tie(a), tie(b)));
    return {
      records: { total: this.#records, byType: this.#types.sorted().map((b) => ({ type: b.key, count: b.count })) },
      connections: { total: sum(connections.map((r) => r.connections)), rows: connections },
      outOfZone: { total: sum(outOfZone.map((r) => r.connections)), rows: outOfZone },
      relays: { total: sum(relays.map((r) => r.hops)), rows: relays },
      routeDecisions: {
        total: sum(this.#decisions.sorted().map((b) => b.count)),
        rows: this.#decisions.sorted().map((b) => ({
          country: b.key,
          decisions: b.count,
          offered: offers.filter((o) => o.key.country === b.key).map((o) => ({ jurisdiction: o.key.jurisdiction, decisions: o.count })),
        })),
      },
      refusals: { total: sum(refusals.map((r) => r.count)), rows: refusals },
      placements: { claimed: this.#claimed, rehomed: this.#rehomes.length, released: this.#released, ended: this.#ended, rehomes: byOrder([...this.#rehomes], (r) => `${r.meeting}\u0000${r.epoch}`) },
      manifests: { changed: this.#changes.length, rejected: this.#rejectedManifests, changes: byOrder([...this.#changes], (r) => `${r.version}\u0000${r.sha256}`) },
    };
  }
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A scalar field as text, or UNKNOWN. */
function field(data: Readonly<Record<string, unknown>>, key: string): string {
  return optionalField(data, key) ?? UNKNOWN;
}

function optionalField(data: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = data[key];
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Whether media was end-to-end encrypted, in words. */
export function yesNo(e2ee: boolean | null): string {
  return e2ee === null ? UNKNOWN : e2ee ? 'yes' : 'no';
}
