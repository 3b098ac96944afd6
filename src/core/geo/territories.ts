/**
 * Country territories from the generated territories-data.ts (world-atlas
 * 1:50m, simplified to 0.1°): whether a point lies in a country, and how far
 * it is from one. Rings are planar in lon/lat, as Natural Earth draws them,
 * so containment is an exact even-odd ray cast on the shipped data.
 */
import type { GeoPoint } from '../manifest/types.js';
import { greatCircleKm } from './distance.js';
import { TERRITORY_ROWS } from './territories-data.js';

/** A lon/lat bounding box in degrees; `east` may pass 180° (see territories-data.ts). */
interface Box {
  readonly west: number;
  readonly east: number;
  readonly south: number;
  readonly north: number;
}

/** Interleaved lon, lat in degrees, implicitly closed. */
interface Ring extends Box {
  readonly coords: Float64Array;
}

/** A country's rings and the box around all of them. */
interface Territory extends Box {
  readonly rings: readonly Ring[];
}

const RAD = Math.PI / 180;
/** One degree of latitude, in great-circle km (the Earth radius of distance.ts). */
const KM_PER_DEGREE = greatCircleKm({ lat: 0, lon: 0 }, { lat: 1, lon: 0 });

let decoded: ReadonlyMap<string, Territory> | undefined;

/** Decoded on first use, so that importing the core costs nothing until a location is checked. */
function territories(): ReadonlyMap<string, Territory> {
  decoded ??= new Map(
    TERRITORY_ROWS.map(([code, text]) => {
      const rings = text.split(' ').map(decodeRing);
      const box = (side: 'west' | 'east' | 'south' | 'north', pick: (...values: number[]) => number): number => pick(...rings.map((r) => r[side]));
      return [code, { rings, west: box('west', Math.min), east: box('east', Math.max), south: box('south', Math.min), north: box('north', Math.max) }];
    }),
  );
  return decoded;
}

/** Decodes one ring of Google's encoded polyline format (lat, lon; hundredths of a degree). */
function decodeRing(text: string): Ring {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (let i = 0; i < text.length; i++) {
    const chunk = text.charCodeAt(i) - 63;
    value |= (chunk & 0x1f) << shift;
    shift += 5;
    if (chunk < 0x20) {
      values.push(value & 1 ? ~(value >> 1) : value >> 1);
      value = 0;
      shift = 0;
    }
  }
  const coords = new Float64Array(values.length);
  let [lat, lon] = [0, 0];
  let [west, east, south, north] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i + 1 < values.length; i += 2) {
    lat += values[i] ?? 0;
    lon += values[i + 1] ?? 0;
    coords[i] = lon / 100;
    coords[i + 1] = lat / 100;
    [west, east, south, north] = [Math.min(west, lon / 100), Math.max(east, lon / 100), Math.min(south, lat / 100), Math.max(north, lat / 100)];
  }
  return { coords, west, east, south, north };
}

/** The codes of every country with a shape in the atlas, sorted (tiny states and some territories have none). */
export function territoryCodes(): readonly string[] {
  return [...territories().keys()];
}

/**
 * Even-odd ray cast over all of a country's rings, so holes (Lesotho in South
 * Africa) cut themselves out. Rings may pass ±180° (Russia, Fiji), so the
 * point is also tried one turn east and west.
 */
function contains(territory: Territory, point: GeoPoint): boolean {
  const y = point.lat;
  if (y < territory.south || y > territory.north) return false;
  for (const turn of [0, 360, -360]) {
    const x = point.lon + turn;
    if (x < territory.west || x > territory.east) continue;
    let inside = false;
    for (const ring of territory.rings) {
      if (x < ring.west || x > ring.east || y < ring.south || y > ring.north) continue;
      const c = ring.coords;
      for (let i = 0, j = c.length - 2; i < c.length; j = i, i += 2) {
        const xi = c[i] ?? 0;
        const yi = c[i + 1] ?? 0;
        const xj = c[j] ?? 0;
        const yj = c[j + 1] ?? 0;
        if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
      }
    }
    if (inside) return true;
  }
  return false;
}

/** Longitude difference brought into [-180°, 180°). */
function wrapDegrees(delta: number): number {
  return ((((delta + 180) % 360) + 360) % 360) - 180;
}

/**
 * Great-circle km from the point to the ring's nearest edge point. That point
 * is found in an equirectangular projection centred on the point: exact
 * enough within a few hundred km, where the verifier's tolerance is decided,
 * and farther only an approximation (the distance returned is the true one to
 * the point found, so it never understates).
 */
function ringDistanceKm({ coords: c }: Ring, point: GeoPoint): number {
  const kx = Math.cos(point.lat * RAD);
  let best = Infinity;
  let nearest = point;
  for (let i = 0, j = c.length - 2; i < c.length; j = i, i += 2) {
    // Edges are short in longitude except Antarctica's closure along the
    // pole (360°), so both ends are taken on the turn of the edge's start.
    const ax = wrapDegrees((c[j] ?? 0) - point.lon);
    const bx = ax + (c[i] ?? 0) - (c[j] ?? 0);
    const ay = (c[j + 1] ?? 0) - point.lat;
    const by = (c[i + 1] ?? 0) - point.lat;
    const dx = (bx - ax) * kx;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, -(ax * kx * dx + ay * dy) / len2));
    const qx = ax + t * (bx - ax);
    const qy = ay + t * (by - ay);
    const d2 = (qx * kx) ** 2 + qy ** 2;
    if (d2 < best) {
      best = d2;
      nearest = { lat: point.lat + qy, lon: point.lon + qx };
    }
  }
  return greatCircleKm(point, nearest);
}

/**
 * A lower bound of the km from the point to anything in the box: the latitude
 * gap, or the distance to the nearer bounding meridian (at least that to its
 * great circle; past 90° of longitude, at least that to the nearer pole).
 */
function boxGapKm(box: Box, point: GeoPoint): number {
  const latGap = Math.max(0, box.south - point.lat, point.lat - box.north);
  // Degrees east of the box's west side, in [0°, 360°); the box spans east − west.
  const offset = (((point.lon - box.west) % 360) + 360) % 360;
  const lonGap = Math.max(0, Math.min(offset - (box.east - box.west), 360 - offset));
  const meridianGap = lonGap >= 90 ? 90 - Math.abs(point.lat) : Math.asin(Math.cos(point.lat * RAD) * Math.sin(lonGap * RAD)) / RAD;
  return Math.max(latGap, meridianGap) * KM_PER_DEGREE;
}

/** Km from the point to the territory (0 inside), or `withinKm` when it is not nearer; rings whose box is no nearer are skipped. */
function territoryDistanceKm(territory: Territory, point: GeoPoint, withinKm: number): number {
  if (contains(territory, point)) return 0;
  let best = withinKm;
  for (const ring of territory.rings) if (boxGapKm(ring, point) < best) best = Math.min(best, ringDistanceKm(ring, point));
  return best;
}

/** Great-circle km from the point to the country's territory: 0 inside it, undefined for a country without a shape. */
export function distanceToTerritoryKm(code: string, point: GeoPoint): number | undefined {
  const territory = territories().get(code);
  return territory && territoryDistanceKm(territory, point, Infinity);
}

/** A country and how far a point is from its territory (0 inside it). */
export interface NearestTerritory {
  readonly code: string;
  readonly km: number;
}

/** The country other than `except` whose territory is nearest the point, if one is nearer than `withinKm`; ties go to the first code. */
export function nearestTerritory(point: GeoPoint, except: string, withinKm = Infinity): NearestTerritory | undefined {
  let best: NearestTerritory | undefined;
  let bound = withinKm;
  for (const [code, territory] of territories()) {
    if (code === except || boxGapKm(territory, point) >= bound) continue;
    const km = territoryDistanceKm(territory, point, bound);
    if (km < bound) [best, bound] = [{ code, km }, km];
  }
  return best;
}
