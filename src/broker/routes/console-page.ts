/**
 * The operator console's page (src/console/, docs/console.md): its HTML,
 * script (bundled by the build into dist/web/, or here once per process when
 * running from source) and stylesheet, and the world map it draws on — the
 * simulator report's (src/report/world-base.ts), with the manifest's
 * datacenters placed on it. None of it is secret: the page shows a login
 * form until the console API (routes/console.ts) says there is a session.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { countryOfNumeric } from '../../core/geo/countries.js';
import { ConsoleBaseMap } from '../../protocol/console-answers.js';
import { createMapBase, isWorldTopology, type MapBase } from '../../report/world-base.js';
import type { BrokerApp } from './broker-app.js';
import { HIDDEN, pageFiles } from './page-files.js';
import type { BrokerContext } from '../context.js';

/** True in the compiled CLI (scripts/build.ts); undefined under tsx, where the script is bundled here. */
declare const GEOBRIDGE_BUILT: boolean | undefined;

const CONSOLE = fileURLToPath(new URL('../../console/', import.meta.url));
const BUILT = fileURLToPath(new URL('../../../dist/web/', import.meta.url));
/** The map's width in SVG units (it scales to the page). */
const MAP_WIDTH = 960;

interface ConsoleAssets {
  readonly html: string;
  readonly css: string;
  readonly js: string;
}

let assets: Promise<ConsoleAssets> | undefined;
let mapBase: MapBase | undefined;

function loadAssets(): Promise<ConsoleAssets> {
  assets ??= (async () => {
    const [html, css, js] = await Promise.all([readFile(`${CONSOLE}index.html`, 'utf8'), readFile(`${CONSOLE}style.css`, 'utf8'), consoleScript()]);
    return { html, css, js };
  })();
  return assets;
}

async function consoleScript(): Promise<string> {
  if (typeof GEOBRIDGE_BUILT === 'boolean') return readFile(`${BUILT}console.js`, 'utf8');
  // Loaded only here: esbuild is not part of the compiled CLI.
  const { bundleConsoleScript } = await import('../page-bundle.js');
  return bundleConsoleScript();
}

/** The projected countries, once per process (world-atlas, public domain Natural Earth data). */
function worldBase(): MapBase {
  if (!mapBase) {
    const world: unknown = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('world-atlas/countries-110m.json'), 'utf8'));
    if (!isWorldTopology(world)) throw new Error('world-atlas/countries-110m.json is not a TopoJSON topology; run npm ci to restore it');
    mapBase = createMapBase(world, MAP_WIDTH, countryOfNumeric);
  }
  return mapBase;
}

// The console runs only its own bundled script and talks to this broker (its API and event stream).
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

/** GET /console, /console/app.js, /console/style.css, /console/base-map.json. */
export function consolePageRoutes(app: BrokerApp, ctx: BrokerContext): void {
  const serve = pageFiles(loadAssets, PAGE_HEADERS);
  app.get('/console', { schema: HIDDEN }, serve('text/html; charset=utf-8', (a) => a.html));
  app.get('/console/app.js', { schema: HIDDEN }, serve('text/javascript; charset=utf-8', (a) => a.js));
  app.get('/console/style.css', { schema: HIDDEN }, serve('text/css; charset=utf-8', (a) => a.css));
  app.get(
    '/console/base-map.json',
    { schema: { tags: ['console'], summary: 'The world map the console draws on, and where each datacenter of the manifest in force is on it', response: { 200: ConsoleBaseMap } } },
    (_request, reply) => {
      const base = worldBase();
      const datacenters = ctx.policy.current.manifest.datacenters.flatMap((d) => {
        const at = base.project(d.location.lon, d.location.lat);
        return at ? [{ id: d.id, x: Math.round(at[0] * 10) / 10, y: Math.round(at[1] * 10) / 10 }] : [];
      });
      // The manifest (and so where its datacenters are) may change: never cached for long.
      void reply.header('cache-control', 'no-cache');
      return { width: base.width, height: base.height, countries: base.countries, datacenters };
    },
  );
}
