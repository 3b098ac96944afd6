/**
 * Location sanity: is a datacenter where its jurisdiction says it is?
 *
 * The atlas is coarse (1:50m, simplified by up to 11 km), misses small
 * islands, and archipelagos such as French Polynesia spread over thousands of
 * km of sea. So a location is flagged only when it is clearly elsewhere: more
 * than LOCATION_TOLERANCE_KM from every shape of its jurisdiction, and nearer
 * another country's territory than its own (or inside it). A jurisdiction the
 * atlas has no shape for (Gibraltar, Tokelau…) is never flagged.
 */
import { distanceToTerritoryKm, nearestTerritory, type NearestTerritory } from '../geo/territories.js';
import type { Datacenter } from '../manifest/types.js';

/** How far (km) a datacenter may lie from its jurisdiction's territory before it is flagged. */
export const LOCATION_TOLERANCE_KM = 100;

/** A datacenter whose location lies clearly outside its jurisdiction. */
export interface Misplacement {
  /** Great-circle km from the location to the jurisdiction's territory. */
  readonly km: number;
  /** The nearest other country: the one the location lies in when `nearest.km` is 0. */
  readonly nearest: NearestTerritory;
}

/** How a datacenter's location misses its jurisdiction's territory, or undefined when it plausibly lies in it. */
export function findMisplacement(dc: Pick<Datacenter, 'jurisdiction' | 'location'>): Misplacement | undefined {
  const km = distanceToTerritoryKm(dc.jurisdiction, dc.location);
  if (km === undefined || km <= LOCATION_TOLERANCE_KM) return undefined;
  const nearest = nearestTerritory(dc.location, dc.jurisdiction, km);
  return nearest && { km, nearest };
}
