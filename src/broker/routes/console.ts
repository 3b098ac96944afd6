/**
 * The operator console's API (/v1/console/*): a session opened with the
 * admin token (an HttpOnly cookie, and a CSRF token for every POST), the
 * live overview of datacenters and relays (JSON, and as server-sent events),
 * the live meetings, and ending one. Sessions and event streams are this
 * broker's own: brokers that share a store share neither (an operator behind
 * a load balancer needs sticky sessions).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { GeobridgeError } from '../../core/errors.js';
import { ALL_COUNTRY_CODES, countryName } from '../../core/geo/countries.js';
import { compilePolicy } from '../../core/policy/compile.js';
import { allowedJurisdictions } from '../../core/select/select.js';
import { normalizeAuditTime } from '../audit/report.js';
import { auditReportOf, findRecords, integrityOf } from '../console/audit-view.js';
import { WhatIfRunner } from '../console/what-if-runner.js';
import { parseManifest } from '../../core/manifest/parse.js';
import { checkManifest } from '../../core/verify/check.js';
import { diffManifests } from '../../core/verify/diff.js';
import { applyManifest } from './manifest.js';
import { ConsoleWhatIf, ConsoleManifestApplied, ConsoleManifestHistory, ConsoleManifestReview, ConsoleAuditIntegrity, ConsoleAuditRecords, ConsoleAuditReport, ConsoleCountryFences, ConsoleDatacenterFences, ConsoleLoginAnswer, ConsoleMeetingsAnswer, ConsoleOverview, ConsoleSessionAnswer, type ConsoleMeeting } from '../../protocol/console-answers.js';
import { compareStrings } from '../../core/order.js';
import { allHops, hopsOf } from '../cascade.js';
import { CONSOLE_COOKIE, ConsoleSessions, cookieValue, isAdminToken, sameSecret, SESSION_MS, sessionCookie, type ConsoleSession } from '../console/sessions.js';
import { recordAudit, type BrokerContext } from '../context.js';
import type { Participant } from '../store/store.js';
import type { BrokerApp } from './broker-app.js';
import { endMeeting } from './meetings.js';
import { groupStatus } from '../group-delivery.js';

/** How often an open event stream's overview is computed again (sent only when it changed). */
export const OVERVIEW_EVERY_MS = 250;
/** How often an open event stream gets a comment, so proxies keep it open. */
export const PING_EVERY_MS = 15_000;
/** Why a meeting the operator ends has ended. */
export const OPERATOR_END_REASON = 'ended by the operator in the console';

/** Answers of the console are the operator's live view: never kept by a cache. */
function noStore(_request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  void reply.header('cache-control', 'no-store');
  done();
}

/** Routes checked by the session are left to the failure limit, as routes with a bearer token are (rate-limits.ts). */
const BY_SESSION = { onRequest: noStore, config: { rateLimit: false as const } };

/** Every /v1/console/* route: the session, the overview and its events, meetings, fences, audit, manifest review and what-if (docs/console.md#the-console-api). */
export function consoleRoutes(app: BrokerApp, ctx: BrokerContext): void {
  // In this broker's memory only (see the module comment).
  const sessions = new ConsoleSessions();
  const streams = new OverviewStreams(
    () => overviewOf(ctx),
    (key) => sessions.isOpen(key, ctx.now().getTime()),
  );
  sessions.onEnd((key) => {
    streams.endSession(key);
  });
  // Before the server closes: it would otherwise wait for every open stream.
  app.addHook('preClose', (done) => {
    streams.close();
    done();
  });
  // The simulator runs beside the event loop, not on it: routes and heartbeats go on while it answers.
  const whatIfs = new WhatIfRunner();
  app.addHook('onClose', async () => {
    streams.close();
    await whatIfs.close();
  });
  const secure = ctx.config.issuer.startsWith('https://');

  const sessionOf = (request: FastifyRequest): ConsoleSession => {
    const session = sessions.find(cookieValue(request.headers.cookie, CONSOLE_COOKIE), ctx.now().getTime());
    if (!session) throw new GeobridgeError('UNAUTHORIZED', 'no valid console session: sign in with the admin token at POST /v1/console/login.');
    return session;
  };
  const checkCsrf = (request: FastifyRequest, session: ConsoleSession): void => {
    const given = request.headers['x-csrf-token'];
    if (typeof given !== 'string' || !sameSecret(given, session.csrf)) throw new GeobridgeError('CSRF_INVALID', 'send the CSRF token of the console session in `x-csrf-token`.');
  };

  app.post(
    '/v1/console/login',
    {
      onRequest: noStore,
      schema: {
        tags: ['console'],
        summary: 'Open a console session with the admin token: a session cookie (HttpOnly, SameSite=Strict, 8 h) and the CSRF token for POSTs',
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
        response: { 200: ConsoleLoginAnswer },
      },
    },
    async (request, reply) => {
      // A wrong token answers 401, which the failure limit counts per address (rate-limits.ts).
      if (!isAdminToken(request.body.token, ctx.config.adminTokenHash)) throw new GeobridgeError('UNAUTHORIZED', 'the admin token is not valid.');
      const { id, session } = sessions.open(ctx.now().getTime());
      await recordAudit(ctx, 'admin.action', { actor: 'admin', action: 'console.login' });
      return reply.header('set-cookie', sessionCookie(id, SESSION_MS / 1000, secure)).send({ csrf: session.csrf });
    },
  );

  app.post(
    '/v1/console/logout',
    { ...BY_SESSION, schema: { tags: ['console'], summary: 'End the console session (needs x-csrf-token); its event streams close', response: { 200: Type.Object({ loggedOut: Type.Literal(true) }, { additionalProperties: false }) } } },
    async (request, reply) => {
      const session = sessionOf(request);
      checkCsrf(request, session);
      sessions.end(session.key);
      await recordAudit(ctx, 'admin.action', { actor: 'admin', action: 'console.logout' });
      return reply.header('set-cookie', sessionCookie('', 0, secure)).send({ loggedOut: true as const });
    },
  );

  app.get('/v1/console/session', { ...BY_SESSION, schema: { tags: ['console'], summary: 'The console session: its CSRF token and when it expires', response: { 200: ConsoleSessionAnswer } } }, (request) => {
    const session = sessionOf(request);
    return { csrf: session.csrf, expiresAt: new Date(session.expiresAtMs).toISOString() };
  });

  app.get('/v1/console/overview', { ...BY_SESSION, schema: { tags: ['console'], summary: 'Datacenters (state, load) and relays, as the broker sees them now', response: { 200: ConsoleOverview } } }, async (request) => {
    sessionOf(request);
    return overviewOf(ctx);
  });

  app.get(
    '/v1/console/events',
    {
      ...BY_SESSION,
      // A stream has no headers to answer HEAD with: Node would hold them until the stream ends.
      exposeHeadRoute: false,
      schema: {
        tags: ['console'],
        summary: 'The overview as server-sent events: `event: overview` on connect and whenever it changes, `: ping` every 15 s; ends with the session',
        response: { 200: Type.String({ description: 'text/event-stream' }) },
      },
    },
    async (request, reply) => {
      const session = sessionOf(request);
      // Computed before the reply is taken over, so a failing store still answers with the error body.
      const first = JSON.stringify(await overviewOf(ctx));
      reply.hijack();
      streams.add(session.key, reply.raw, first);
    },
  );

  app.get('/v1/console/meetings', { ...BY_SESSION, schema: { tags: ['console'], summary: 'Live meetings with admitted participants: where they are, who, and their relays', response: { 200: ConsoleMeetingsAnswer } } }, async (request) => {
    sessionOf(request);
    return { meetings: await meetingsOf(ctx) };
  });

  app.get(
    '/v1/console/fences/countries/:code',
    {
      ...BY_SESSION,
      schema: { tags: ['console'], summary: "Where a country's participants may be under the manifest in force: its binding fences and the jurisdictions and datacenters they allow (as `geobridge route`)", params: Type.Object({ code: Type.String({ maxLength: 8 }) }), response: { 200: ConsoleCountryFences } },
    },
    (request) => {
      sessionOf(request);
      const { manifest } = ctx.policy.current;
      const country = request.params.code.toUpperCase();
      // The decider's own rule: it refuses a code it does not know (INVALID_COUNTRY).
      const jurisdictions = allowedJurisdictions(manifest, { country });
      const fences = compilePolicy(manifest)
        .fencesFor(country)
        .map((f) => ({ name: f.fence.name, transit: f.fence.transit ?? ('never' as const) }));
      const datacenters = manifest.datacenters.filter((d) => jurisdictions.includes(d.jurisdiction)).map((d) => ({ id: d.id, jurisdiction: d.jurisdiction }));
      return { country, name: countryName(country) ?? country, fences, jurisdictions: [...jurisdictions], datacenters };
    },
  );

  app.get(
    '/v1/console/fences/datacenters/:id',
    {
      ...BY_SESSION,
      schema: { tags: ['console'], summary: "Which countries' participants may use a datacenter under the manifest in force", params: Type.Object({ id: Type.String({ maxLength: 100 }) }), response: { 200: ConsoleDatacenterFences } },
    },
    (request) => {
      sessionOf(request);
      const { manifest } = ctx.policy.current;
      const dc = manifest.datacenters.find((d) => d.id === request.params.id);
      if (!dc) throw new GeobridgeError('NOT_FOUND', `'${request.params.id}' is not a datacenter of the manifest in force.`);
      const countries = ALL_COUNTRY_CODES.filter((country) => allowedJurisdictions(manifest, { country }).includes(dc.jurisdiction));
      return { datacenter: dc.id, jurisdiction: dc.jurisdiction, countries };
    },
  );

  const Range = { from: Type.String({ minLength: 1, maxLength: 64, description: 'ISO date or date-time (UTC unless an offset is given)' }), to: Type.String({ minLength: 1, maxLength: 64, description: 'exclusive' }) };
  const rangeOf = (q: { from: string; to: string }): { from: string; to: string } => {
    const from = normalizeAuditTime(q.from, 'from');
    const to = normalizeAuditTime(q.to, 'to');
    if (from >= to) throw new GeobridgeError('VALIDATION', `'from' (${from}) must be before 'to' (${to}); 'to' is exclusive.`);
    return { from, to };
  };

  app.get(
    '/v1/console/audit/report',
    { ...BY_SESSION, schema: { tags: ['console'], summary: 'The audit report of every log over [from, to): the totals `geobridge audit report --json` gives, per day and in all', querystring: Type.Object(Range), response: { 200: ConsoleAuditReport } } },
    async (request) => {
      sessionOf(request);
      const { from, to } = rangeOf(request.query);
      readsWholeLog(request);
      return auditReportOf(ctx, from, to);
    },
  );

  app.get(
    '/v1/console/audit/records',
    {
      ...BY_SESSION,
      schema: {
        tags: ['console'],
        summary: 'The audit records of every log over [from, to) that are of `type` and name `country`, `jurisdiction` or `datacenter` (when given): the newest `limit`, newest first',
        querystring: Type.Object({
          ...Range,
          type: Type.Optional(Type.String({ maxLength: 64 })),
          country: Type.Optional(Type.String({ maxLength: 8 })),
          jurisdiction: Type.Optional(Type.String({ maxLength: 8 })),
          datacenter: Type.Optional(Type.String({ maxLength: 100 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
        }),
        response: { 200: ConsoleAuditRecords },
      },
    },
    async (request) => {
      sessionOf(request);
      const { from, to } = rangeOf(request.query);
      const q = request.query;
      const blank = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
      return findRecords(ctx, from, to, { type: blank(q.type), country: blank(q.country)?.toUpperCase(), jurisdiction: blank(q.jurisdiction)?.toUpperCase(), datacenter: blank(q.datacenter) }, q.limit ?? 100);
    },
  );

  app.get('/v1/console/audit/integrity', { ...BY_SESSION, schema: { tags: ['console'], summary: "Each log's latest signed tree head (the broker's own, and each record store's)", response: { 200: ConsoleAuditIntegrity } } }, async (request) => {
    sessionOf(request);
    return { logs: await integrityOf(ctx, false) };
  });

  app.post(
    '/v1/console/audit/verify',
    { ...BY_SESSION, schema: { tags: ['console'], summary: 'Check every log as `geobridge audit verify` does: the hash chain, the Merkle tree and every signed tree head (needs x-csrf-token)', response: { 200: ConsoleAuditIntegrity } } },
    async (request) => {
      checkCsrf(request, sessionOf(request));
      readsWholeLog(request);
      return { logs: await integrityOf(ctx, true) };
    },
  );

  const ManifestText = Type.Object({ text: Type.String({ minLength: 1, maxLength: 1024 * 1024 }) }, { additionalProperties: false });
  // `version` is checked in the handler, so that a console page from before it was needed is told what to do.
  const ReviewedManifest = Type.Object({ ...ManifestText.properties, version: Type.Optional(Type.Integer({ minimum: 0, description: "The `version` of the manifest's review: required" })) }, { additionalProperties: false });
  // Session and CSRF before the body is even validated: without a session every console call is 401, whatever it sends.
  const guarded = {
    ...BY_SESSION,
    preValidation: (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
      try {
        checkCsrf(request, sessionOf(request));
        done();
      } catch (error) {
        done(error instanceof Error ? error : new Error(String(error)));
      }
    },
  };

  app.post(
    '/v1/console/manifest/review',
    { ...guarded, schema: { tags: ['console'], summary: "A manifest's review before it ships: `geobridge check`'s diagnostics with their places, and its exposure diff against the manifest in force (needs x-csrf-token); changes nothing", body: ManifestText, response: { 200: ConsoleManifestReview } } },
    (request) => {
      const parsed = parseManifest(request.body.text, 'manifest.yaml');
      const diagnostics = checkManifest(parsed).map((d) => ({ line: d.line, column: d.column, severity: d.severity, code: d.code, path: d.path, message: d.message }));
      const current = ctx.policy.current;
      const diff = parsed.manifest ? diffManifests(current.manifest, parsed.manifest) : undefined;
      return {
        clean: parsed.manifest !== undefined && diagnostics.every((d) => d.severity !== 'error'),
        version: current.version,
        diagnostics,
        diff: diff ? { exposure: diff.exposure.map((e) => ({ countries: [...e.countries], gained: [...e.gained], lost: [...e.lost] })), crossings: diff.crossings.map((c) => ({ ...c })), fences: diff.fences.map((f) => ({ ...f })) } : null,
      };
    },
  );

  app.post(
    '/v1/console/manifest/apply',
    {
      ...guarded,
      schema: {
        tags: ['console'],
        summary:
          "Put a reviewed manifest in force, as PUT /v1/manifest does: refused with its diagnostics unless `check` finds no error, and with 412 MANIFEST_CHANGED unless the version its review was against (`version`) is still in force; versioned, audited with its exposure diff, live meetings re-checked, bridges told (needs x-csrf-token)",
        body: ReviewedManifest,
        response: { 200: ConsoleManifestApplied, 422: Type.Object({ statusCode: Type.Integer(), code: Type.String(), error: Type.String(), message: Type.String(), diagnostics: Type.Optional(Type.Array(Type.Unknown())) }) },
      },
    },
    async (request, reply) => {
      const { version } = request.body;
      if (version === undefined) throw new GeobridgeError('BAD_REQUEST', 'this apply does not say which review it applies (its version); reload the console page, review the manifest again, then apply.');
      const outcome = await applyManifest(ctx, request.body.text, 'admin (console)', version);
      if (!outcome.ok) return reply.status(422).send(outcome.refusal);
      return { version: outcome.applied.version, sha256: outcome.applied.sha256 };
    },
  );

  app.get('/v1/console/manifest/history', { ...BY_SESSION, schema: { tags: ['console'], summary: 'Every manifest applied, newest first: version, SHA-256, who and when', response: { 200: ConsoleManifestHistory } } }, async (request) => {
    sessionOf(request);
    const manifests = (await ctx.store.listManifests()).map((m) => ({ version: m.version, sha256: m.sha256, actor: m.actor, at: m.createdAt })).sort((a, b) => b.version - a.version);
    return { current: ctx.policy.current.version, manifests };
  });

  app.get(
    '/v1/console/what-if',
    {
      ...BY_SESSION,
      schema: {
        tags: ['console'],
        summary:
          "What would happen with these datacenters down and these zones' demand, on the manifest in force: each country whose first datacenter the decider would change, and the simulator's steady state (load per datacenter, who is refused, the capacity missing) against every zone at its forecast with everything up. Changes nothing",
        querystring: Type.Object({
          down: Type.Optional(Type.String({ maxLength: 4000, description: 'Datacenter ids, comma-separated' })),
          demand: Type.Optional(Type.String({ maxLength: 4000, description: 'zone:participants pairs, comma-separated (concurrent participants); a zone not named keeps its forecast' })),
        }),
        response: { 200: ConsoleWhatIf },
      },
    },
    (request) => {
      sessionOf(request);
      const { sha256, text } = ctx.policy.current;
      return whatIfs.run(sha256, text, request.query);
    },
  );

  app.post(
    '/v1/console/meetings/:id/end',
    {
      ...BY_SESSION,
      schema: {
        tags: ['console'],
        summary: 'End a meeting as its host would (needs x-csrf-token); audited as an admin action',
        params: Type.Object({ id: Type.String({ maxLength: 100 }) }),
        response: { 200: Type.Object({ ended: Type.Literal(true) }, { additionalProperties: false }) },
      },
    },
    async (request) => {
      const session = sessionOf(request);
      checkCsrf(request, session);
      const meeting = await ctx.store.getMeeting(request.params.id);
      if (!meeting) throw new GeobridgeError('NOT_FOUND', `no meeting '${request.params.id}'.`);
      ctx.cluster?.assertReady('to end a meeting');
      if (await endMeeting(ctx, meeting.id, OPERATOR_END_REASON)) await recordAudit(ctx, 'admin.action', { actor: 'admin', action: 'console.end-meeting', target: meeting.id });
      return { ended: true as const };
    },
  );
}

/**
 * A route that reads every log sends nothing until it is done, which on a
 * large log takes longer than the idle timeout (app.ts) that closes a silent
 * connection: its socket waits as long as the reads do.
 */
function readsWholeLog(request: FastifyRequest): void {
  // (A request injected in a test has a socket of light-my-request's, without timers.)
  const socket: { setTimeout?: (ms: number) => unknown } = request.raw.socket;
  socket.setTimeout?.(0);
}

/** Participants admitted at each datacenter of the manifest in force, by datacenter id. */
async function participantsByDatacenter(ctx: BrokerContext): Promise<Map<string, Participant[]>> {
  const { datacenters } = ctx.policy.current.manifest;
  const lists = await Promise.all(datacenters.map((dc) => ctx.store.listParticipantsAt(dc.id)));
  return new Map(datacenters.map((dc, i) => [dc.id, lists[i] ?? []]));
}

/**
 * The overview. A datacenter's state is the registry's truth, not what
 * routing assumes: `--dev` routes to datacenters without a bridge, but here
 * one whose bridge never reported, went silent past the heartbeat timeout,
 * or dropped its presence is down (and all are while the bus is away).
 */
export async function overviewOf(ctx: BrokerContext): Promise<ConsoleOverview> {
  const { manifest, version } = ctx.policy.current;
  const nowMs = ctx.monotonicMs();
  // One read of the store, however many datacenters: the event streams ask four times a second.
  const byDatacenter = new Map<string, { participants: number; meetings: number }>();
  for (const c of await ctx.store.countParticipants()) {
    const at = byDatacenter.get(c.datacenter) ?? { participants: 0, meetings: 0 };
    at.participants += c.participants;
    at.meetings += 1;
    byDatacenter.set(c.datacenter, at);
  }
  return {
    policyVersion: version,
    datacenters: manifest.datacenters.map((dc) => {
      const { participants, meetings } = byDatacenter.get(dc.id) ?? { participants: 0, meetings: 0 };
      const state = !ctx.registry.isLive(dc.id, nowMs) ? 'down' : ctx.registry.isServing(dc.id, nowMs) ? 'up' : 'draining';
      return {
        id: dc.id,
        jurisdiction: dc.jurisdiction,
        location: { lat: dc.location.lat, lon: dc.location.lon },
        state,
        participants,
        capacity: dc.capacity,
        utilization: dc.capacity > 0 ? participants / dc.capacity : 0,
        meetings,
        loop: ctx.registry.loopAverage(dc.id, nowMs) ?? null,
        shedding: ctx.registry.isShedding(dc.id, nowMs),
      };
    }),
    relays: allHops(ctx).map((h) => ({ meeting: h.meeting, from: h.from, to: h.to, streams: h.streams.length })),
  };
}

/** Live meetings with at least one admitted participant, by title then id. */
async function meetingsOf(ctx: BrokerContext): Promise<ConsoleMeeting[]> {
  const byMeeting = new Map<string, Participant[]>();
  for (const members of (await participantsByDatacenter(ctx)).values()) {
    for (const p of members) {
      const list = byMeeting.get(p.meetingId);
      if (list) list.push(p);
      else byMeeting.set(p.meetingId, [p]);
    }
  }
  const meetings = await Promise.all(
    [...byMeeting].map(async ([id, members]) => {
      const context = await ctx.store.getMeetingContext(id);
      // An ended meeting's rows are departures in flight: it is no longer live.
      if (!context || context.meeting.endedAt !== undefined) return [];
      const { meeting, placement } = context;
      return [
        {
          id,
          title: meeting.title,
          account: meeting.accountId,
          datacenter: placement?.datacenter ?? null,
          participants: [...members].sort((a, b) => compareStrings(a.id, b.id)).map((p) => ({ id: p.id, country: p.country, datacenter: p.datacenter })),
          relays: [...hopsOf(ctx, id)].sort((a, b) => compareStrings(a.from, b.from) || compareStrings(a.to, b.to)).map((h) => ({ from: h.from, to: h.to, streams: h.streams.length })),
          cascade: ctx.config.cascade === true,
          e2ee: e2eeOf(ctx.config.cascade === true ? groupStatus(ctx, id) : placement ? ctx.registry.groupAt(placement.datacenter, id, ctx.monotonicMs()) : undefined),
        },
      ];
    }),
  );
  return meetings.flat().sort((a, b) => compareStrings(a.title, b.title) || compareStrings(a.id, b.id));
}

interface Stream {
  readonly key: string;
  readonly raw: ServerResponse;
  last: string;
}

/**
 * The open event streams. While any is open, the overview is computed every
 * OVERVIEW_EVERY_MS (once for all of them) and sent to each stream whose last
 * event differs; a stream whose session ended is closed. `close()` ends them
 * all and refuses new ones (the broker is closing).
 */
class OverviewStreams {
  readonly #streams = new Set<Stream>();
  readonly #compute: () => Promise<ConsoleOverview>;
  readonly #isOpen: (key: string) => boolean;
  #tick: NodeJS.Timeout | undefined;
  #ping: NodeJS.Timeout | undefined;
  #busy = false;
  #closed = false;

  constructor(compute: () => Promise<ConsoleOverview>, isOpen: (key: string) => boolean) {
    this.#compute = compute;
    this.#isOpen = isOpen;
  }

  /** Opens a stream on `raw` for the session `key`, starting with the overview `first` (JSON). */
  add(key: string, raw: ServerResponse, first: string): void {
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    if (this.#closed) {
      raw.end();
      return;
    }
    const stream: Stream = { key, raw, last: first };
    raw.write(event(first));
    this.#streams.add(stream);
    raw.on('close', () => {
      this.#drop(stream);
    });
    this.#tick ??= setInterval(() => void this.#refresh(), OVERVIEW_EVERY_MS);
    this.#ping ??= setInterval(() => {
      for (const s of this.#streams) s.raw.write(': ping\n\n');
    }, PING_EVERY_MS);
  }

  /** Ends the streams of a session (signed out, expired, dropped). */
  endSession(key: string): void {
    for (const stream of this.#streams) if (stream.key === key) this.#end(stream);
  }

  /** Ends every stream and stops the timers; idempotent. */
  close(): void {
    this.#closed = true;
    for (const stream of this.#streams) this.#end(stream);
    this.#stop();
  }

  async #refresh(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (const stream of this.#streams) if (!this.#isOpen(stream.key)) this.#end(stream);
      if (this.#streams.size === 0) return;
      const json = JSON.stringify(await this.#compute());
      for (const stream of this.#streams) {
        if (stream.last === json) continue;
        stream.last = json;
        stream.raw.write(event(json));
      }
    } catch {
      // The store did not answer: the streams keep their last overview, and the next tick asks again.
    } finally {
      this.#busy = false;
    }
  }

  #end(stream: Stream): void {
    this.#drop(stream);
    stream.raw.end();
  }

  #drop(stream: Stream): void {
    this.#streams.delete(stream);
    if (this.#streams.size === 0) this.#stop();
  }

  #stop(): void {
    clearInterval(this.#tick);
    clearInterval(this.#ping);
    this.#tick = undefined;
    this.#ping = undefined;
  }
}

/** One server-sent event (the JSON has no line breaks). */
function event(json: string): string {
  return `event: overview\ndata: ${json}\n\n`;
}

/** A group's status as the console answers it: epoch and members, nothing more; null when nobody holds it. */
function e2eeOf(group: { readonly epoch: number; readonly members: number } | undefined): ConsoleMeeting['e2ee'] {
  return group ? { epoch: group.epoch, members: group.members } : null;
}
