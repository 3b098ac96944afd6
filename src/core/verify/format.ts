/**
 * Small, locale-independent text helpers for diagnostics and reports
 * (the same input must give byte-identical output everywhere).
 */
import { compareStrings } from '../order.js';

/** 120000 → "120,000". */
export function formatCount(n: number): string {
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "US, CA, MX" — sorted, and cut after `max` with "and N more". */
export function listCountries(codes: readonly string[], max = 12): string {
  const sorted = [...codes].sort(compareStrings);
  if (sorted.length <= max) return sorted.join(', ');
  return `${sorted.slice(0, max).join(', ')} and ${sorted.length - max} more`;
}
