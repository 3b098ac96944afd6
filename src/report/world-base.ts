/**
 * The world's country outlines, projected once (Natural Earth, d3-geo) into
 * a map that the simulator's report and the operator console both draw on:
 * the same map, from the same code.
 */
import { geoNaturalEarth1, geoPath, type GeoProjection } from 'd3-geo';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import { escapeXml } from './text.js';

/** The parsed `world-atlas/countries-110m.json` (or any TopoJSON with a `countries` collection). */
export type WorldTopology = Topology<{ countries: GeometryCollection }>;

/** True when `value` looks like a world-atlas topology, for callers that parse the JSON themselves. */
export function isWorldTopology(value: unknown): value is WorldTopology {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { type?: unknown; arcs?: unknown; objects?: { countries?: { type?: unknown } } };
  return v.type === 'Topology' && Array.isArray(v.arcs) && v.objects?.countries?.type === 'GeometryCollection';
}

const ANTARCTICA = '010'; // ISO 3166-1 numeric
const SOUTH_CROP = -58; // latitude below which the map is cut off (only Antarctica lies there)

/** The projected base map, computed once and shared by every run's map. */
export interface MapBase {
  readonly width: number;
  readonly height: number;
  readonly project: (lon: number, lat: number) => readonly [number, number] | undefined;
  /** Country outline markup. */
  readonly countries: string;
}

/**
 * Projects the countries into a `width`-wide map (Natural Earth, cropped below
 * 58°S: no one joins from Antarctica). `codeOf` names a country's path
 * (`data-country`) from its feature id, for maps that colour countries.
 */
export function createMapBase(world: WorldTopology, width = 640, codeOf?: (id: string) => string | undefined): MapBase {
  const all = feature(world, world.objects.countries);
  const features = all.features.filter((f) => String(f.id) !== ANTARCTICA);
  const sphere = { type: 'Sphere' as const };
  const projection: GeoProjection = geoNaturalEarth1().fitWidth(width - 8, sphere);
  const [tx, ty] = projection.translate();
  projection.translate([tx + 4, ty + 4]);
  const south = projection([0, SOUTH_CROP])?.[1] ?? width / 2;
  const mapHeight = Math.ceil(south) + 4;
  const path = geoPath(projection).digits(1);
  let countries = `<path class="sphere" d="${path(sphere) ?? ''}"/><g class="land">`;
  for (const f of features) {
    const d = path(f);
    if (d === null || d === '') continue;
    const props = f.properties as { name?: unknown } | null;
    const name = typeof props?.name === 'string' ? props.name : '';
    const code = f.id === undefined ? undefined : codeOf?.(String(f.id));
    countries += `<path d="${d}"${code === undefined ? '' : ` data-country="${escapeXml(code)}"`}>${name === '' ? '' : `<title>${escapeXml(name)}</title>`}</path>`;
  }
  countries += '</g>';
  return {
    width,
    height: mapHeight,
    project: (lon, lat) => {
      const p = projection([lon, lat]);
      return p === null ? undefined : [p[0], p[1]];
    },
    countries,
  };
}
