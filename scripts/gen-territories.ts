// Generates src/core/geo/territories-data.ts: every country's territory as
// simplified lon/lat rings, from world-atlas countries-50m (Natural Earth,
// public domain) with ISO 3166-1 numeric ids mapped to alpha-2 by
// world-countries. Run with `npx tsx scripts/gen-territories.ts` after
// upgrading either package; the output is committed so the pure core never
// reads files at run time.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import type { Country } from 'world-countries';

const require = createRequire(import.meta.url);
// world-countries is CommonJS whose typings declare an ES default export, which
// NodeNext resolution types as the module namespace; require() gives the array.
const countries = require('world-countries') as readonly Country[];
const atlas = JSON.parse(readFileSync(require.resolve('world-atlas/countries-50m.json'), 'utf8')) as Topology<{ countries: GeometryCollection }>;

const OUT = new URL('../src/core/geo/territories-data.ts', import.meta.url);

/**
 * Douglas–Peucker tolerance in degrees (0.1° ≤ 11 km). The verifier's
 * tolerances (src/core/verify/location.ts) are larger than this plus the
 * 1:50m generalization, so simplification cannot raise a warning.
 */
const TOLERANCE_DEG = 0.1;
/** Coordinates are shipped in hundredths of a degree (about 1 km). */
const SCALE = 100;

/**
 * Features without an ISO 3166-1 numeric id. ISO counts Somaliland and
 * Northern Cyprus in Somalia and Cyprus, and world-countries gives Kosovo the
 * user-assigned code XK. Siachen (disputed by India and Pakistan) and
 * Australia's Indian Ocean Territories (ISO CX and CC, drawn as one feature)
 * are left out: no single code is right for them.
 */
const CODE_BY_NAME: Readonly<Record<string, string | null>> = {
  Kosovo: 'XK',
  Somaliland: 'SO',
  'N. Cyprus': 'CY',
  'Siachen Glacier': null,
  'Indian Ocean Ter.': null,
};

type Point = [lon: number, lat: number];

/** Distance in degrees from `p` to the segment `a`–`b` (to `a` when they coincide). */
function segmentDistance(p: Point, a: Point, b: Point): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2));
  return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
}

/** Douglas–Peucker on one arc, keeping its ends (shared with the neighbouring arcs). */
function simplify(arc: readonly Point[]): Point[] {
  const keep = new Uint8Array(arc.length);
  keep[0] = 1;
  keep[arc.length - 1] = 1;
  const stack: [number, number][] = [[0, arc.length - 1]];
  for (let span = stack.pop(); span; span = stack.pop()) {
    const [from, to] = span;
    let worst = -1;
    let at = -1;
    for (let i = from + 1; i < to; i++) {
      const d = segmentDistance(arc[i] as Point, arc[from] as Point, arc[to] as Point);
      if (d > worst) [worst, at] = [d, i];
    }
    if (worst > TOLERANCE_DEG) {
      keep[at] = 1;
      stack.push([from, at], [at, to]);
    }
  }
  return arc.filter((_, i) => keep[i] === 1);
}

/** The topology's arcs in absolute degrees (delta-decoded, transform applied), each simplified. */
function simplifiedArcs(topology: Topology): Point[][] {
  const { scale, translate } = topology.transform ?? { scale: [1, 1], translate: [0, 0] };
  return topology.arcs.map((arc) => {
    let x = 0;
    let y = 0;
    const points = arc.map(([dx = 0, dy = 0]): Point => {
      x += dx;
      y += dy;
      return [x * scale[0] + translate[0], y * scale[1] + translate[1]];
    });
    return simplify(points);
  });
}

/** Rounded to the shipped grid, without repeated points or the closing copy of the first. */
function quantize(ring: readonly Point[]): Point[] {
  const out: Point[] = [];
  for (const [lon, lat] of ring) {
    const p: Point = [Math.round(lon * SCALE), Math.round(lat * SCALE)];
    const last = out.at(-1);
    if (!last || last[0] !== p[0] || last[1] !== p[1]) out.push(p);
  }
  const [first, last] = [out[0], out.at(-1)];
  if (out.length > 1 && first && last && first[0] === last[0] && first[1] === last[1]) out.pop();
  return out;
}

/**
 * Makes longitudes continuous across the antimeridian (world-atlas rings
 * cross it as spherical polygons; a planar ray-cast needs them unbroken), so
 * a ring may reach beyond ±180°. A ring that goes once around the globe
 * (Antarctica) is closed along the pole it surrounds.
 */
function unwrap(ring: readonly Point[]): Point[] {
  const full = 360 * SCALE;
  const out: Point[] = [];
  for (const [lon, lat] of ring) {
    const prev = out.at(-1);
    const shift = prev ? Math.round((prev[0] - lon) / full) * full : 0;
    out.push([lon + shift, lat]);
  }
  const [first, last] = [out[0], out.at(-1)];
  if (!first || !last) return out;
  const turns = Math.round((last[0] - first[0]) / full);
  if (turns === 0) return out;
  const pole = Math.sign(first[1]) * 90 * SCALE;
  if (Math.abs(turns) !== 1 || pole >= 0) throw new Error('only Antarctica is expected to go around a pole');
  return [...out, [last[0], pole], [first[0], pole]];
}

/** The multiple of 360° that brings `lon` into [from, from + 360°). */
function turnShift(lon: number, from: number): number {
  const full = 360 * SCALE;
  return -Math.floor((lon - from) / full) * full;
}

function shifted(ring: readonly Point[], by: number): Point[] {
  return ring.map(([lon, lat]) => [lon + by, lat]);
}

/**
 * One polygon's rings on one continuous longitude range: the outer ring's
 * lowest longitude in [-180°, 180°), and each hole on the same turn as the
 * outer ring, so that an even-odd count over all rings still cuts the holes.
 */
function placePolygon(polygon: readonly (readonly Point[])[]): Point[][] {
  const [outer = [], ...holes] = polygon.map((ring) => unwrap(quantize(ring)));
  const low = Math.min(...outer.map(([lon]) => lon));
  const from = low + turnShift(low, -180 * SCALE);
  return [shifted(outer, from - low), ...holes.map((hole) => shifted(hole, turnShift(hole[0]?.[0] ?? from, from)))];
}

/** Google's encoded polyline algorithm format: one signed integer, 5 bits per character from 63. */
function encodeNumber(value: number): string {
  let rest = value < 0 ? ~(value << 1) : value << 1;
  let out = '';
  while (rest >= 0x20) {
    out += String.fromCharCode((0x20 | (rest & 0x1f)) + 63);
    rest >>= 5;
  }
  return out + String.fromCharCode(rest + 63);
}

/** A ring as a polyline string: lat then lon, each as the difference from the previous point. */
function encodeRing(ring: readonly Point[]): string {
  let [lon0, lat0] = [0, 0];
  let out = '';
  for (const [lon, lat] of ring) {
    out += encodeNumber(lat - lat0) + encodeNumber(lon - lon0);
    [lon0, lat0] = [lon, lat];
  }
  return out;
}

/** A single-quoted TS string literal (the polyline alphabet includes `\`). */
function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const codeByNumber = new Map(countries.filter((c) => c.ccn3 !== '').map((c) => [c.ccn3, c.cca2]));
const simplified: Topology<{ countries: GeometryCollection }> = { ...atlas, arcs: simplifiedArcs(atlas) };
delete simplified.transform;

const rings = new Map<string, Point[][]>();
for (const f of feature(simplified, simplified.objects.countries).features) {
  const name = String((f.properties as { name?: unknown } | null)?.name);
  const code = f.id === undefined ? CODE_BY_NAME[name] : codeByNumber.get(String(f.id));
  if (code === undefined) throw new Error(`no ISO 3166-1 alpha-2 code for ${f.id === undefined ? `'${name}'` : `numeric ${String(f.id)} (${name})`}`);
  if (code === null) continue;
  const { geometry } = f;
  if (geometry.type !== 'Polygon' && geometry.type !== 'MultiPolygon') throw new Error(`${code}: unexpected ${geometry.type}`);
  const polygons = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  const list = rings.get(code) ?? [];
  for (const polygon of polygons) list.push(...placePolygon(polygon.map((ring) => ring.map(([lon = NaN, lat = NaN]): Point => [lon, lat]))));
  rings.set(code, list);
}

// Codes are unique, so comparing them alone is a total order.
const rows = [...rings].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
const points = rows.reduce((n, [, list]) => n + list.reduce((m, ring) => m + ring.length, 0), 0);

const lines = [
  '// Generated by scripts/gen-territories.ts from world-atlas countries-50m',
  '// (Natural Earth, public domain) and world-countries (ODbL-1.0) for the codes.',
  '// Do not edit; re-run the script.',
  `// Rows: [ISO 3166-1 alpha-2 code, rings], sorted by code. Rings are separated by`,
  `// spaces; each is in Google's encoded polyline format at ${1 / SCALE}° precision (lat, lon),`,
  '// implicitly closed; longitudes may pass 180° east, so that no ring is cut there.',
  '',
  'export const TERRITORY_ROWS: readonly (readonly [code: string, rings: string])[] = [',
  ...rows.map(([code, list]) => `  [${quote(code)}, ${quote(list.map(encodeRing).join(' '))}],`),
  '];',
  '',
];

writeFileSync(OUT, lines.join('\n'));
console.log(`wrote ${rows.length} territories, ${points} points, to ${OUT.pathname}`);
