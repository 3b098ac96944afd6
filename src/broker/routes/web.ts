/**
 * The meeting page (src/web/): its HTML, its scripts (bundled by the build
 * into dist/web/, or here once per process when running from source), its
 * stylesheet, and the two public calls it needs before a participant has a
 * join token — what this broker runs (`/v1/info`) and the title behind an
 * invite (`/v1/invites/preview`). The invite travels in the URL fragment and
 * in POST bodies only, so it never reaches an access log.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Type } from 'typebox';
import { GeobridgeError } from '../../core/errors.js';
import type { BrokerApp } from './broker-app.js';
import { HIDDEN, pageFiles } from './page-files.js';
import type { BrokerContext } from '../context.js';
import { BrokerInfoAnswer, InvitePreviewAnswer } from '../../protocol/answers.js';
import { verifyInvite } from '../../protocol/invite.js';
import type { PageScripts } from '../page-bundle.js';
import { inviteRateLimit } from '../rate-limits.js';

/**
 * True in the compiled CLI: scripts/build.ts defines it, having bundled the page's scripts into BUILT (the
 * build keeps `import.meta.url` this source file's). Undefined under tsx, where they are bundled here.
 */
declare const GEOBRIDGE_BUILT: boolean | undefined;

const WEB = fileURLToPath(new URL('../../web/', import.meta.url));
const BUILT = fileURLToPath(new URL('../../../dist/web/', import.meta.url));

/** The page's files, read (and bundled when running from source) once per process: every app instance serves the same page. */
interface WebAssets extends PageScripts {
  readonly html: string;
  readonly css: string;
  readonly favicon: string;
}

let assets: Promise<WebAssets> | undefined;

function loadAssets(): Promise<WebAssets> {
  assets ??= (async () => {
    const [html, css, favicon, scripts] = await Promise.all([readFile(`${WEB}index.html`, 'utf8'), readFile(`${WEB}style.css`, 'utf8'), readFile(`${WEB}favicon.svg`, 'utf8'), pageScripts()]);
    return { html, css, favicon, ...scripts };
  })();
  return assets;
}

async function pageScripts(): Promise<PageScripts> {
  if (typeof GEOBRIDGE_BUILT === 'boolean') {
    const [js, worker] = await Promise.all([readFile(`${BUILT}app.js`, 'utf8'), readFile(`${BUILT}e2ee-worker.js`, 'utf8')]);
    return { js, worker };
  }
  // Loaded only here: esbuild is not part of the compiled CLI.
  const { bundlePageScripts } = await import('../page-bundle.js');
  return bundlePageScripts();
}

// The page runs only its own bundled scripts (the page and its E2EE worker) and talks to this broker and bridges' WebSockets.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:; img-src 'self' data:",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
};

/** GET / and /join, /app.js, /e2ee-worker.js, /style.css, /favicon.svg; GET /v1/info; POST /v1/invites/preview. */
export function webRoutes(app: BrokerApp, ctx: BrokerContext): void {
  const serve = pageFiles(loadAssets, PAGE_HEADERS);
  const html = serve('text/html; charset=utf-8', (a) => a.html);
  app.get('/', { schema: HIDDEN }, html);
  app.get('/join', { schema: HIDDEN }, html);
  app.get('/app.js', { schema: HIDDEN }, serve('text/javascript; charset=utf-8', (a) => a.js));
  app.get('/e2ee-worker.js', { schema: HIDDEN }, serve('text/javascript; charset=utf-8', (a) => a.worker));
  app.get('/style.css', { schema: HIDDEN }, serve('text/css; charset=utf-8', (a) => a.css));
  app.get('/favicon.svg', { schema: HIDDEN }, serve('image/svg+xml; charset=utf-8', (a) => a.favicon));

  app.get(
    '/v1/info',
    {
      schema: {
        tags: ['system'],
        summary: 'What this broker runs: dev mode, and the datacenters of the manifest in force',
        response: { 200: BrokerInfoAnswer },
      },
    },
    () => ({
      dev: ctx.config.dev,
      datacenters: ctx.policy.current.manifest.datacenters.map((d) => ({ id: d.id, jurisdiction: d.jurisdiction, location: { lat: d.location.lat, lon: d.location.lon } })),
    }),
  );

  app.post(
    '/v1/invites/preview',
    {
      config: { rateLimit: inviteRateLimit(ctx) },
      schema: {
        tags: ['meetings'],
        summary: "The meeting an invite is for (its title), so the page can show it before the participant names themselves",
        body: Type.Object({ invite: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }),
        response: { 200: InvitePreviewAnswer },
      },
    },
    async (request) => {
      const meetingId = await verifyInvite(ctx.keys.inviteKeys(), request.body.invite, ctx.now());
      const meeting = await ctx.store.getMeeting(meetingId);
      if (!meeting) throw new GeobridgeError('NOT_FOUND', 'the meeting of this invite no longer exists.');
      if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.title}' has ended (${meeting.endedReason ?? 'ended'}).`);
      return { meeting: meeting.id, title: meeting.title };
    },
  );
}
