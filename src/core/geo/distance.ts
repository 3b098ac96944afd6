/**
 * Distances and the RTT estimate used to rank datacenters (docs/selection.md).
 */
import type { GeoPoint } from '../manifest/types.js';

const EARTH_RADIUS_KM = 6371.0088;
/** Light in fibre covers about 200 km per millisecond (refractive index ≈ 1.5). */
const FIBRE_KM_PER_MS = 200;
/** Real paths are longer than the great circle; 1.5 is a common planning factor. */
const ROUTE_STRETCH = 1.5;
/** Fixed cost of access networks and processing at both ends. */
const BASE_RTT_MS = 2;

/** Great-circle distance in km (haversine). */
export function greatCircleKm(a: GeoPoint, b: GeoPoint): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Estimated round-trip time in ms for a path of `km` great-circle kilometres. */
export function estimateRttMs(km: number): number {
  return BASE_RTT_MS + (2 * km * ROUTE_STRETCH) / FIBRE_KM_PER_MS;
}
