/**
 * What a simulation produces: per-run time series, totals, distributions and
 * the incident table. The CLI writes it as JSON; the report draws it.
 */

/** Counts per bucket; bucket i holds values in [bounds[i-1], bounds[i]), the last one everything above. */
export interface Histogram {
  /** Upper bounds of all buckets but the last, ascending. */
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
}

/** One value per reported step (steps are merged so a series has at most ~1,500 points). */
export interface StepSeries {
  /** Minutes since the start of the scenario, at the start of each point. */
  readonly t: readonly number[];
  /** Joins wanted (demand) in the interval. */
  readonly arrivals: readonly number[];
  readonly served: readonly number[];
  readonly servedPrimary: readonly number[];
  readonly servedSecondary: readonly number[];
  readonly refused: readonly number[];
  readonly violations: readonly number[];
  readonly outOfZone: readonly number[];
  /** Participants connected at the end of the interval, all datacenters. */
  readonly concurrent: readonly number[];
  /** Usable capacity (capacity × maxUtilization of datacenters up) at the end of the interval. */
  readonly capacity: readonly number[];
  /** Utilization (load ÷ capacity) per datacenter at the end of the interval. */
  readonly utilization: Readonly<Record<string, readonly number[]>>;
}

/** Totals over the whole run. */
export interface RunTotals {
  readonly joins: number;
  readonly served: number;
  readonly servedPrimary: number;
  readonly servedSecondary: number;
  /** Served by a datacenter whose jurisdiction is not a country of the participant's zone. */
  readonly outOfZone: number;
  /** Served by a datacenter that a fence of the manifest forbids for the participant. */
  readonly violations: number;
  /** Refused joins by reason code (NO_CAPACITY_IN_FENCE, NO_ZONE, ATTEMPTS_EXHAUSTED). */
  readonly refused: Readonly<Record<string, number>>;
  /** Participants dropped by an outage or a capacity loss who joined again (not counted in `joins`). */
  readonly reconnects: number;
}

/** Participants from one country served in one jurisdiction. */
export interface IncidentRow {
  readonly country: string;
  readonly jurisdiction: string;
  readonly participants: number;
  /** True when a fence of the manifest forbids this jurisdiction for this country. */
  readonly violation: boolean;
}

/** Participants from one country served by one datacenter (for the flow map). */
export interface Flow {
  readonly country: string;
  readonly datacenter: string;
  readonly participants: number;
  readonly violation: boolean;
}

/** Joins from one country refused for one reason. */
export interface Refusal {
  readonly country: string;
  /** NO_CAPACITY_IN_FENCE, NO_ZONE, ATTEMPTS_EXHAUSTED, … */
  readonly code: string;
  readonly participants: number;
}

/** A datacenter as the report draws it. */
export interface DatacenterInfo {
  readonly id: string;
  readonly jurisdiction: string;
  readonly lat: number;
  readonly lon: number;
  readonly capacity: number;
  /** Highest utilization seen during the run. */
  readonly peakUtilization: number;
}

/** In-fence capacity a zone would have needed so that no one was refused. */
export interface CapacityShortfall {
  readonly zone: string;
  /** Peak concurrent participants refused (still wanting to be connected). */
  readonly peakRefusedConcurrent: number;
  /** Capacity to add inside the fence: the peak above, divided by maxUtilization. */
  readonly extraCapacityNeeded: number;
}

/** Bridge-to-bridge streams of one ordered pair of datacenters. */
export interface RelayPairHops {
  readonly from: string;
  readonly to: string;
  /** Streams on this hop, summed over the sampled meetings. */
  readonly hops: number;
}

/**
 * A sample of meetings planned as cascades (the core's `planMeeting`) and in
 * one home each (docs/simulator.md#cascading). Counts are of the sample, not
 * scaled to the run's participants.
 */
export interface CascadeFigures {
  /** How the meetings were drawn: `size` participants, `perSample` meetings every `everyMinutes`, guests local with `localShare`. */
  readonly sample: { readonly size: number; readonly everyMinutes: number; readonly perSample: number; readonly localShare: number };
  readonly meetings: number;
  readonly participants: number;
  /** Mean great-circle km from participant to bridge, over the `participants` who have a bridge in both models. */
  readonly distanceKm: { readonly cascade: number; readonly home: number; readonly participants: number };
  /** Cascade ÷ home distance; null when no participant had a bridge in both, or the home distance is 0. */
  readonly distanceRatio: number | null;
  /** Relayed stream-hops (a stream counts once per hop): in all, by fence binding the sender (every fence of the manifest, 0 included), by bridge pair. */
  readonly relayHops: { readonly total: number; readonly byFence: Readonly<Record<string, number>>; readonly byPair: readonly RelayPairHops[] };
  /** Directed pairs of distinct participants, and those that get no media under cascading, by reason (FENCE, SENDER_UNROUTED, RECEIVER_UNROUTED). */
  readonly unreachable: { readonly pairs: number; readonly byReason: Readonly<Record<string, number>> };
  /** Participants without a bridge, by refusal code: cascading, and one home per meeting (where FENCE_CONFLICT appears). */
  readonly unrouted: { readonly cascade: Readonly<Record<string, number>>; readonly home: Readonly<Record<string, number>> };
}

/** One run of a scenario (a scenario may compare several, e.g. with and without fences). */
export interface RunResult {
  readonly name: string;
  /** False when the run replays a system that does not enforce the fences (violations then count). */
  readonly enforceFences: boolean;
  /** `selection.maxUtilization` of the manifest the run ended with: at or above it the decider skips a datacenter. */
  readonly maxUtilization: number;
  readonly totals: RunTotals;
  readonly series: StepSeries;
  /** Estimated RTT of served participants, ms. */
  readonly rttMs: Histogram;
  /** Time from join to connected, ms (failed attempts cost their timeout). */
  readonly connectMs: Histogram;
  readonly incident: readonly IncidentRow[];
  readonly flows: readonly Flow[];
  /** Refused joins by country and reason, most first. */
  readonly refusals: readonly Refusal[];
  readonly datacenters: readonly DatacenterInfo[];
  readonly shortfall: readonly CapacityShortfall[];
  /** Sampled meetings as cascades vs one home each. */
  readonly cascade: CascadeFigures;
  /** Calls to the decider made by this run (joins and reconnections; not the cascade sample's). */
  readonly decisions: number;
  /** Time spent inside the decider, ms (only when the caller passed a clock). */
  readonly deciderMs?: number;
}

/** The whole outcome of `geobridge simulate`. */
export interface SimulationResult {
  readonly scenario: {
    readonly name: string;
    readonly description: string;
    readonly mode: 'fluid' | 'agent';
    readonly seed: number;
    readonly durationMinutes: number;
    readonly stepMinutes: number;
    /** Manifest of the first run, as given in the scenario. */
    readonly manifest: string;
  };
  readonly runs: readonly RunResult[];
}
