/**
 * The meeting page (src/web/): its HTML, its script bundled in memory by
 * esbuild once per process, its stylesheet, and the two public calls it
 * needs before a participant has a join token — what this broker runs
 * (`/v1/info`) and the title behind an invite (`/v1/invites/preview`).
 * The invite travels in the URL fragment and in POST bodies only, so it
 * never reaches an access log.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { GeobridgeError } from '../../core/errors.js';
import type { BrokerApp } from '../app.js';
import type { BrokerContext } from '../context.js';
import { BrokerInfoAnswer, InvitePreviewAnswer } from '../../protocol/answers.js';
import { verifyInvite } from '../../protocol/invite.js';
import { inviteRateLimit } from '../rate-limits.js';

const WEB = fileURLToPath(new URL('../../web/', import.meta.url));
const SDK = fileURLToPath(new URL('../../sdk/', import.meta.url));

/** Bundles the E2EE worker (src/sdk/e2ee-transform.ts) as one classic script: `runE2eeWorker(self)`. */
export async function buildE2eeWorker(): Promise<string> {
  const entry = { contents: "import { runE2eeWorker } from './e2ee-transform.js';\nrunE2eeWorker(self);\n", resolveDir: SDK, sourcefile: 'e2ee-worker.ts', loader: 'ts' as const };
  const result = await build({ stdin: entry, bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2022', minify: true, logLevel: 'silent' });
  return result.outputFiles[0]?.text ?? '';
}

/** The page's files, read and bundled once per process (every app instance serves the same page). */
interface WebAssets {
  readonly html: string;
  readonly css: string;
  readonly js: string;
  readonly worker: string;
  readonly favicon: string;
}

let assets: Promise<WebAssets> | undefined;

function loadAssets(): Promise<WebAssets> {
  assets ??= (async () => {
    const [html, css, favicon, bundle, worker] = await Promise.all([
      readFile(`${WEB}index.html`, 'utf8'),
      readFile(`${WEB}style.css`, 'utf8'),
      readFile(`${WEB}favicon.svg`, 'utf8'),
      build({ entryPoints: [`${WEB}app.ts`], bundle: true, write: false, format: 'esm', platform: 'browser', target: 'es2022', minify: true, logLevel: 'silent' }),
      buildE2eeWorker(),
    ]);
    return { html, css, js: bundle.outputFiles[0]?.text ?? '', worker, favicon };
  })();
  return assets;
}

// The page runs only its own bundled scripts (the page and its E2EE worker) and talks to this broker and bridges' WebSockets.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:; img-src 'self' data:",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
};

const HIDDEN = { hide: true } as const;

/** GET / and /join, /app.js, /e2ee-worker.js, /style.css, /favicon.svg; GET /v1/info; POST /v1/invites/preview. */
export function webRoutes(app: BrokerApp, ctx: BrokerContext): void {
  // Bundle while the broker starts, not on the first visitor; a failure surfaces on the page's requests.
  loadAssets().catch(() => undefined);

  const serve =
    (type: string, pick: (a: WebAssets) => string) =>
    async (_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> =>
      reply.headers(PAGE_HEADERS).type(type).send(pick(await loadAssets()));
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
      const meetingId = await verifyInvite(ctx.keys, request.body.invite, ctx.now());
      const meeting = await ctx.store.getMeeting(meetingId);
      if (!meeting) throw new GeobridgeError('NOT_FOUND', 'the meeting of this invite no longer exists.');
      if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.title}' has ended (${meeting.endedReason ?? 'ended'}).`);
      return { meeting: meeting.id, title: meeting.title };
    },
  );
}
