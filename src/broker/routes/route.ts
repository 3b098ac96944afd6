/**
 * POST /v1/route: where may this participant connect? The core's decider
 * answers; the broker signs the answer as a route ticket and writes the
 * decision to the audit log before the response leaves.
 */
import { Type, type Static } from 'typebox';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { routeRequestFor } from '../../core/select/meeting-policy.js';
import { allowedJurisdictions as jurisdictionsAllowed, isRefusal, selectDatacenters, selectRoute, type Decision } from '../../core/select/select.js';
import type { BrokerApp } from './broker-app.js';
import { requireJoinToken } from '../auth.js';
import { resolveClientAddress } from '../client-ip.js';
import { signInclusionPromise } from '../audit/tree-heads.js';
import { recordAudit, type BrokerContext, type RecordSubject, type Recorded } from '../context.js';
import type { AuditType } from '../audit/audit-log.js';
import { newDecisionId } from '../decision-id.js';
import { toJson } from '../frozen-json.js';
import { routeIceAllowance } from '../route-ice.js';
import { meetingPolicyOf } from '../route-request.js';
import { issueRouteTicket } from '../tickets.js';
import { RouteAnswer } from '../../protocol/route-answer.js';
import { BEARER, CountryCode } from './schemas.js';

const RouteBody = Type.Object(
  {
    location: Type.Optional(Type.Object({ lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) }, { additionalProperties: false })),
    country: Type.Optional(Type.Intersect([CountryCode], { description: 'Only with --dev: join as if from this country' })),
  },
  { additionalProperties: false },
);

const RouteQuery = Type.Object(
  {
    explain: Type.Optional(
      Type.Union([Type.Literal('true'), Type.Literal('false')], {
        description:
          'true: also give the decision as `geobridge route --json` shows it (zone, country, candidates, the jurisdictions the participant may use and every datacenter not offered with its reason), with its id and the manifest version; the default answer leaves them out (the ticket signs the route, compactly)',
      }),
    ),
  },
  { additionalProperties: false },
);

/** POST /v1/route. */
export function routeRoutes(app: BrokerApp, ctx: BrokerContext): void {
  app.post(
    '/v1/route',
    {
      schema: {
        tags: ['route'],
        summary: 'Decide where a participant may connect, with a signed route ticket (join token as bearer)',
        security: BEARER,
        body: RouteBody,
        querystring: RouteQuery,
        response: { 200: RouteAnswer },
      },
      // The schema still documents the body (OpenAPI); routeResponseJson writes it. 200 is the only status with a schema here.
      serializerCompiler: () => (body) => routeResponseJson(body as Static<typeof RouteAnswer>),
      // `curl -X POST` without a body means "no hints".
      preValidation: (request, _reply, done) => {
        // The type says a body is there; on the wire it may not be.
        if ((request.body as unknown) === undefined) request.body = {};
        done();
      },
    },
    async (request) => {
      const started = process.hrtime.bigint();
      const claims = await requireJoinToken(ctx, request);
      // The meeting, its account and its placement in one read (one round trip on PostgreSQL).
      const context = await ctx.store.getMeetingContext(claims.meeting);
      if (!context) throw new GeobridgeError('NOT_FOUND', `meeting '${claims.meeting}' no longer exists.`);
      const { meeting, account, placement } = context;
      if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.id}' has ended (${meeting.endedReason ?? 'ended'}).`);
      if (!account) throw new GeobridgeError('NOT_FOUND', `the meeting's account no longer exists.`);

      const country = locate(ctx, request.body.country, request.socket.remoteAddress, request.headers['x-forwarded-for']);
      const { manifest, version, sha256 } = ctx.policy.current;
      const policy = meetingPolicyOf(account, meeting, ctx.config.cascade);
      // The hot path decides from the zone's lists; explaining walks every datacenter of the manifest.
      const explain = request.query.explain === 'true';
      const routeRequest = routeRequestFor(country, policy, {
        ...(request.body.location ? { location: request.body.location } : {}),
        // In a cascade every participant takes its own nearest bridge; the meeting has no home to pull them to.
        ...(placement && ctx.config.cascade !== true ? { placedAt: placement.datacenter } : {}),
      });
      const result = (explain ? selectDatacenters : selectRoute)(manifest, routeRequest, ctx.registry.liveState(manifest, ctx.monotonicMs()));
      const who = { participant: claims.sub, meeting: meeting.id, account: account.id, country, zone: result.zone, policyVersion: version };
      // The participant's records obey what their media obeys: a record store inside every jurisdiction the decider allows them.
      const subject: RecordSubject = {
        country,
        ...(request.body.location ? { location: request.body.location } : {}),
        ...(manifest.stores.length > 0 ? { accountJurisdictions: isRefusal(result) ? jurisdictionsAllowed(manifest, routeRequest) : result.allowedJurisdictions } : {}),
      };
      const record = (type: AuditType, data: Readonly<Record<string, unknown>>): Promise<Recorded> => recordInFence(ctx, type, { ...who, ...data }, subject);
      if (isRefusal(result)) {
        await record('route.refusal', { code: result.error.code, excluded: result.excluded });
        ctx.metrics.refusals.inc({ code: result.error.code });
        throw new GeobridgeError(result.error.code, result.error.message);
      }
      const decisionId = newDecisionId();
      const datacenters = result.candidates.map((c) => c.datacenter);
      const ticket = await issueRouteTicket(ctx.keys, {
        issuer: ctx.config.issuer,
        participant: claims.sub,
        meeting: meeting.id,
        candidates: datacenters,
        candidateJurisdictions: result.candidates.map((c) => c.jurisdiction),
        candidateRoles: result.candidates.map((c) => c.role),
        attempts: result.attempts,
        decision: decisionId,
        country,
        name: claims.name,
        manifest: sha256,
        policy,
        ice: routeIceAllowance(manifest, datacenters, result.allowedJurisdictions),
        expiresInSeconds: ctx.config.routeTicketSeconds,
      });
      // Durable before the answer leaves: every route a client holds is in the audit log.
      const decision = await record('route.decision', { decisionId, candidates: result.candidates, manifestSha256: sha256 });
      ctx.metrics.decisions.inc({ zone: result.zone ?? 'none', role: result.candidates[0]?.role ?? 'none' });
      ctx.metrics.routeSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      const answer = {
        ticket: ticket.token,
        bridges: ctx.registry.endpoints(ticket.claims.candidates, ctx.monotonicMs()),
        receipt: signInclusionPromise(ctx.logKey, decision.record.seq - 1, decision.record.hash, { decisionId, manifestSha256: sha256, country, candidates: result.candidates }, ctx.now().getTime(), decision.log),
      };
      if (!explain) return answer;
      // The fence list is ~250 codes for most countries: it goes out only when asked.
      const { zone, allowedJurisdictions, candidates } = result;
      return { ...answer, zone, country, decisionId, policyVersion: version, allowedJurisdictions, candidates, ...('excluded' in result ? { excluded: (result as Decision).excluded } : {}) };
    },
  );
}

/**
 * Records a route decision or refusal in the participant's record store.
 * When none is inside their fences (NO_STORE_IN_FENCE) the route is refused,
 * and the broker's own log keeps the refusal without who was refused: their
 * identity has nowhere in the fence to go.
 */
async function recordInFence(ctx: BrokerContext, type: AuditType, data: Readonly<Record<string, unknown>>, subject: RecordSubject): Promise<Recorded> {
  try {
    return await recordAudit(ctx, type, data, subject);
  } catch (error) {
    if (!isGeobridgeError(error) || error.code !== 'NO_STORE_IN_FENCE') throw error;
    await recordAudit(ctx, 'route.refusal', { ...data, participant: null, code: error.code });
    ctx.metrics.refusals.inc({ code: error.code });
    throw error;
  }
}

/**
 * The 200 body, byte for byte as Fastify's serializer of `RouteAnswer`
 * writes it (route.test.ts holds the two to the same bytes): the required
 * fields in the schema's order, then the optional ones present (an explained
 * answer's); strings through JSON.stringify, numbers as they are (integers:
 * the store and the clock see to it). An explained answer's fence list is
 * ~250 codes and the same frozen list for every participant of a country, so
 * its JSON comes from the cache (frozen-json.ts).
 */
export function routeResponseJson(body: Static<typeof RouteAnswer>): string {
  let bridges = '';
  for (const [id, url] of Object.entries(body.bridges)) bridges += `${bridges === '' ? '' : ','}${JSON.stringify(id)}:${JSON.stringify(url)}`;
  const r = body.receipt;
  // A compact JWS is base64url and dots, which JSON never escapes: the ticket goes in without a scan.
  let json =
    `{"ticket":"${body.ticket}","bridges":{${bridges}},` +
    `"receipt":{"index":${r.index},"recordHash":${JSON.stringify(r.recordHash)},"timestamp":${r.timestamp},"keyId":${JSON.stringify(r.keyId)},"signature":${JSON.stringify(r.signature)}${r.log === undefined ? '' : `,"log":${JSON.stringify(r.log)}`}}`;
  if (body.zone !== undefined) json += `,"zone":${body.zone === null ? 'null' : JSON.stringify(body.zone)}`;
  if (body.country !== undefined) json += `,"country":${JSON.stringify(body.country)}`;
  if (body.decisionId !== undefined) json += `,"decisionId":${JSON.stringify(body.decisionId)}`;
  if (body.policyVersion !== undefined) json += `,"policyVersion":${body.policyVersion}`;
  if (body.allowedJurisdictions !== undefined) json += `,"allowedJurisdictions":${toJson(body.allowedJurisdictions) ?? '[]'}`;
  if (body.candidates !== undefined) {
    let list = '';
    for (const c of body.candidates) list += `${list === '' ? '' : ','}{"datacenter":${JSON.stringify(c.datacenter)},"role":${JSON.stringify(c.role)},"jurisdiction":${JSON.stringify(c.jurisdiction)}}`;
    json += `,"candidates":[${list}]`;
  }
  if (body.excluded !== undefined) {
    let list = '';
    for (const e of body.excluded) list += `${list === '' ? '' : ','}{"datacenter":${JSON.stringify(e.datacenter)},"reason":${JSON.stringify(e.reason)}}`;
    json += `,"excluded":[${list}]`;
  }
  return `${json}}`;
}

/** The participant's country: from the connection's address through GeoIP; a named country only in --dev. */
function locate(ctx: BrokerContext, named: string | undefined, remoteAddress: string | undefined, forwardedFor: string | string[] | undefined): string {
  if (named !== undefined) {
    if (!ctx.config.dev) throw new GeobridgeError('FORBIDDEN', 'a request may name its country only when the broker runs with --dev (local demos).');
    return named;
  }
  const address = resolveClientAddress({
    remoteAddress: remoteAddress ?? '',
    ...(forwardedFor !== undefined ? { forwardedFor: Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor } : {}),
    trustedProxies: ctx.config.trustedProxies,
  });
  const country = address ? ctx.geoip.lookup(address) : null;
  if (!country) throw new GeobridgeError('CLIENT_NOT_LOCATED', `the address ${address || '(none)'} is not in ${ctx.geoip.source}, so no fence can be applied; connect from a public address${ctx.config.dev ? ', or name a country in the body (dev mode)' : ''}.`);
  return country;
}
