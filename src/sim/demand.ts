/**
 * Demand: how many participants of each country want to join, minute by
 * minute — daily volume × growth over days × diurnal curve by local time ×
 * spikes.
 */
import { countryPoint } from '../core/geo/countries.js';
import type { CompiledPolicy } from '../core/policy/compile.js';
import { compareStrings } from '../core/order.js';
import type { GrowthPoint, Scenario, Spike } from './scenario.js';

/** The demand of one country under one demand entry. */
export interface Cohort {
  readonly country: string;
  /** Participants per day at the start, before growth. */
  readonly daily: number;
  /** Hourly weights normalized to mean 1. */
  readonly diurnal: readonly number[];
  /** Local time minus UTC, hours (from the country's longitude). */
  readonly utcOffsetHours: number;
}

/** Splits every demand entry into per-country cohorts, in a stable order. */
export function expandDemand(scenario: Scenario, policy: CompiledPolicy): Cohort[] {
  const cohorts: Cohort[] = [];
  for (const spec of scenario.demand) {
    const mean = spec.diurnal.reduce((a, b) => a + b, 0) / 24;
    const diurnal = spec.diurnal.map((w) => (mean > 0 ? w / mean : 0));
    let shares: [string, number][];
    if (spec.countries) {
      shares = Object.entries(spec.countries);
    } else {
      const zone = policy.manifest.zones.find((z) => z.id === spec.zone);
      const members = zone ? [...policy.countriesOf(zone)] : [];
      shares = members.map((c) => [c, 1 / members.length]);
    }
    for (const [country, share] of shares.sort((a, b) => compareStrings(a[0], b[0]))) {
      if (share <= 0) continue;
      const lon = countryPoint(country)?.lon ?? 0;
      cohorts.push({ country, daily: spec.daily * share, diurnal, utcOffsetHours: Math.round(lon / 15) });
    }
  }
  return cohorts;
}

/** Growth multiplier at `day`: exponential between points, flat beyond them. */
export function growthFactor(points: readonly GrowthPoint[], day: number): number {
  if (points.length === 0) return 1;
  const sorted = [...points].sort((a, b) => a.day - b.day);
  const first = sorted[0] as GrowthPoint;
  if (day <= first.day) return first.factor;
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1] as GrowthPoint;
    const b = sorted[i] as GrowthPoint;
    if (day <= b.day) {
      const f = b.day === a.day ? 1 : (day - a.day) / (b.day - a.day);
      return a.factor * (b.factor / a.factor) ** f;
    }
  }
  return (sorted.at(-1) as GrowthPoint).factor;
}

/** Product of the factors of the spikes active at minute `t` for `country`. */
export function spikeFactor(spikes: readonly Spike[], t: number, country: string): number {
  let factor = 1;
  for (const s of spikes) if (t >= s.at && t < s.at + s.duration && (!s.countries || s.countries.includes(country))) factor *= s.factor;
  return factor;
}

/** Joins per minute wanted by a cohort at minute `t` (the diurnal curve is interpolated between hours). */
export function arrivalRate(scenario: Scenario, cohort: Cohort, t: number): number {
  const local = (((t / 60 + cohort.utcOffsetHours) % 24) + 24) % 24;
  const h = Math.floor(local);
  const w = (cohort.diurnal[h] ?? 0) * (1 - (local - h)) + (cohort.diurnal[(h + 1) % 24] ?? 0) * (local - h);
  return (cohort.daily / 1440) * growthFactor(scenario.growth, t / 1440) * w * spikeFactor(scenario.spikes, t, cohort.country);
}
