/**
 * Accumulates what a run observes into the shapes of result.ts: totals,
 * time series merged to a bounded number of points, histograms, and the
 * incident table.
 */
import { compareStrings } from '../core/order.js';
import type { Flow, Histogram, IncidentRow, Refusal, RunTotals, StepSeries } from './result.js';

/** Most points a series gets; longer runs merge consecutive steps. */
const MAX_POINTS = 1500;
export const RTT_BOUNDS = [25, 50, 100, 150, 200, 300] as const;
export const CONNECT_BOUNDS = [100, 250, 500, 1000, 2000, 4000, 8000] as const;

type Counter = 'arrivals' | 'served' | 'servedPrimary' | 'servedSecondary' | 'refused' | 'violations' | 'outOfZone';
const COUNTERS: readonly Counter[] = ['arrivals', 'served', 'servedPrimary', 'servedSecondary', 'refused', 'violations', 'outOfZone'];

/** One served group of participants. */
export interface Served {
  readonly country: string;
  readonly datacenter: string;
  readonly jurisdiction: string;
  readonly primary: boolean;
  readonly amount: number;
  readonly rttMs: number;
  readonly connectMs: number;
  readonly violation: boolean;
  readonly outOfZone: boolean;
}

/** Collects one run's observations. */
export class RunMetrics {
  readonly #pointEvery: number;
  readonly #datacenters: readonly string[];
  readonly #series: Record<Counter, number[]> & { t: number[]; concurrent: number[]; capacity: number[] };
  readonly #utilization: Map<string, number[]>;
  readonly #totals = { joins: 0, served: 0, servedPrimary: 0, servedSecondary: 0, outOfZone: 0, violations: 0 };
  readonly #refused = new Map<string, number>();
  readonly #refusals = new Map<string, { country: string; code: string; participants: number }>();
  readonly #rtt: number[] = new Array<number>(RTT_BOUNDS.length + 1).fill(0);
  readonly #connect: number[] = new Array<number>(CONNECT_BOUNDS.length + 1).fill(0);
  readonly #incident = new Map<string, { country: string; jurisdiction: string; participants: number; violation: boolean }>();
  readonly #flows = new Map<string, { country: string; datacenter: string; participants: number; violation: boolean }>();
  readonly #peak = new Map<string, number>();
  #pointOpen = false;
  reconnects = 0;
  decisions = 0;

  constructor(steps: number, datacenters: readonly string[]) {
    this.#pointEvery = Math.max(1, Math.ceil(steps / MAX_POINTS));
    this.#datacenters = datacenters;
    this.#series = { t: [], concurrent: [], capacity: [], arrivals: [], served: [], servedPrimary: [], servedSecondary: [], refused: [], violations: [], outOfZone: [] };
    this.#utilization = new Map(datacenters.map((d) => [d, []]));
  }

  /** Starts step `index` (at minute `t`); opens a new series point when due. */
  beginStep(index: number, t: number): void {
    if (index % this.#pointEvery !== 0 && this.#pointOpen) return;
    this.#pointOpen = true;
    this.#series.t.push(t);
    for (const c of COUNTERS) this.#series[c].push(0);
  }

  #bump(counter: Counter, amount: number): void {
    const s = this.#series[counter];
    s[s.length - 1] = (s.at(-1) ?? 0) + amount;
  }

  /** Joins wanted (new participants, not reconnections). */
  arrivals(amount: number): void {
    this.#totals.joins += amount;
    this.#bump('arrivals', amount);
  }

  served(s: Served): void {
    const t = this.#totals;
    t.served += s.amount;
    this.#bump('served', s.amount);
    if (s.primary) {
      t.servedPrimary += s.amount;
      this.#bump('servedPrimary', s.amount);
    } else {
      t.servedSecondary += s.amount;
      this.#bump('servedSecondary', s.amount);
    }
    if (s.violation) {
      t.violations += s.amount;
      this.#bump('violations', s.amount);
    }
    if (s.outOfZone) {
      t.outOfZone += s.amount;
      this.#bump('outOfZone', s.amount);
    }
    add(this.#rtt, bucket(RTT_BOUNDS, s.rttMs), s.amount);
    add(this.#connect, bucket(CONNECT_BOUNDS, s.connectMs), s.amount);
    const ik = `${s.country}|${s.jurisdiction}`;
    const row = this.#incident.get(ik) ?? { country: s.country, jurisdiction: s.jurisdiction, participants: 0, violation: false };
    row.participants += s.amount;
    row.violation ||= s.violation;
    this.#incident.set(ik, row);
    const fk = `${s.country}|${s.datacenter}`;
    const flow = this.#flows.get(fk) ?? { country: s.country, datacenter: s.datacenter, participants: 0, violation: false };
    flow.participants += s.amount;
    flow.violation ||= s.violation;
    this.#flows.set(fk, flow);
  }

  refused(country: string, code: string, amount: number): void {
    this.#refused.set(code, (this.#refused.get(code) ?? 0) + amount);
    this.#bump('refused', amount);
    const key = `${country}|${code}`;
    const row = this.#refusals.get(key) ?? { country, code, participants: 0 };
    row.participants += amount;
    this.#refusals.set(key, row);
  }

  /** Records the state at the end of a step (the last step of a point wins). */
  endStep(concurrent: number, capacity: number, utilization: ReadonlyMap<string, number>): void {
    const s = this.#series;
    const last = s.t.length - 1;
    s.concurrent[last] = concurrent;
    s.capacity[last] = capacity;
    for (const d of this.#datacenters) {
      const u = utilization.get(d) ?? 0;
      const series = this.#utilization.get(d) ?? [];
      series[last] = u;
      if (u > (this.#peak.get(d) ?? 0)) this.#peak.set(d, u);
    }
  }

  totals(): RunTotals {
    const refused = Object.fromEntries([...this.#refused].sort((a, b) => compareStrings(a[0], b[0])).map(([k, v]) => [k, Math.round(v)]));
    const t = this.#totals;
    return {
      joins: Math.round(t.joins),
      served: Math.round(t.served),
      servedPrimary: Math.round(t.servedPrimary),
      servedSecondary: Math.round(t.servedSecondary),
      outOfZone: Math.round(t.outOfZone),
      violations: Math.round(t.violations),
      refused,
      reconnects: Math.round(this.reconnects),
    };
  }

  series(): StepSeries {
    const round = (xs: readonly number[]): number[] => xs.map((x) => Math.round(x));
    const s = this.#series;
    return {
      t: s.t,
      arrivals: round(s.arrivals),
      served: round(s.served),
      servedPrimary: round(s.servedPrimary),
      servedSecondary: round(s.servedSecondary),
      refused: round(s.refused),
      violations: round(s.violations),
      outOfZone: round(s.outOfZone),
      concurrent: round(s.concurrent),
      capacity: round(s.capacity),
      utilization: Object.fromEntries([...this.#utilization].map(([d, xs]) => [d, xs.map((u) => Math.round(u * 1000) / 1000)])),
    };
  }

  rttMs(): Histogram {
    return { bounds: RTT_BOUNDS, counts: this.#rtt.map(Math.round) };
  }

  connectMs(): Histogram {
    return { bounds: CONNECT_BOUNDS, counts: this.#connect.map(Math.round) };
  }

  incident(): IncidentRow[] {
    return [...this.#incident.values()]
      .map((r) => ({ ...r, participants: Math.round(r.participants) }))
      .filter((r) => r.participants > 0)
      .sort((a, b) => b.participants - a.participants || compareStrings(a.country, b.country) || compareStrings(a.jurisdiction, b.jurisdiction));
  }

  refusals(): Refusal[] {
    return [...this.#refusals.values()]
      .map((r) => ({ ...r, participants: Math.round(r.participants) }))
      .filter((r) => r.participants > 0)
      .sort((a, b) => b.participants - a.participants || compareStrings(a.country, b.country) || compareStrings(a.code, b.code));
  }

  flows(): Flow[] {
    return [...this.#flows.values()]
      .map((f) => ({ ...f, participants: Math.round(f.participants) }))
      .filter((f) => f.participants > 0)
      .sort((a, b) => b.participants - a.participants || compareStrings(a.country, b.country) || compareStrings(a.datacenter, b.datacenter));
  }

  peakUtilization(datacenter: string): number {
    return Math.round((this.#peak.get(datacenter) ?? 0) * 1000) / 1000;
  }
}

function add(counts: number[], i: number, amount: number): void {
  counts[i] = (counts[i] ?? 0) + amount;
}

function bucket(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && value >= (bounds[i] ?? Infinity)) i++;
  return i;
}
