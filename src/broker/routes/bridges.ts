/**
 * The bridges' API. Every message is a compact JWS signed with the Ed25519
 * key configured for the bridge's datacenter (attestation.ts); a message that
 * cannot prove its identity is rejected and audited. The broker takes a
 * datacenter's jurisdiction and location from the manifest, never from the
 * bridge.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { GeobridgeError } from '../../core/errors.js';
import { compilePolicy } from '../../core/policy/compile.js';
import { isRefusal, selectDatacenters } from '../../core/select/select.js';
import type { BrokerApp } from '../app.js';
import { verifyBridgeMessage, type BridgeMessage } from '../attestation.js';
import { recordAudit, type BrokerContext } from '../context.js';
import { rejectBridgeMessage } from '../rejection-summary.js';
import { routeRequestFor } from '../route-request.js';
import type { Meeting } from '../store/store.js';
import { verifyRouteTicket } from '../tickets.js';

const Signed = Type.Object({ message: Type.String({ minLength: 1, maxLength: 65_536, description: 'Compact JWS signed by the bridge (attestation.ts)' }) }, { additionalProperties: false });

const Heartbeat = Type.Object(
  {
    kind: Type.Literal('heartbeat'),
    participants: Type.Integer({ minimum: 0 }),
    cpu: Type.Number({ minimum: 0 }),
    draining: Type.Boolean(),
    url: Type.Optional(Type.String({ pattern: '^wss?://\\S+$', maxLength: 2048, description: "Where clients reach the bridge's signalling" })),
  },
  { additionalProperties: false },
);
const Admission = Type.Object(
  {
    kind: Type.Literal('admission'),
    participant: Type.String({ maxLength: 100 }),
    meeting: Type.String({ maxLength: 100 }),
    outcome: Type.Union([Type.Literal('admitted'), Type.Literal('refused'), Type.Literal('left')]),
    reason: Type.Optional(Type.String({ maxLength: 200 })),
    /** For `admitted`: the participant's route ticket, which carries its country under the broker's own signature. */
    ticket: Type.Optional(Type.String({ maxLength: 16_384 })),
  },
  { additionalProperties: false },
);
const Claim = Type.Object({ kind: Type.Literal('claim'), meeting: Type.String({ maxLength: 100 }), expectedEpoch: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });

/** The parts of a bridge API request that `verified` reads. */
interface SignedRequest {
  readonly body: Static<typeof Signed>;
  readonly routeOptions: { readonly config: { readonly url: string } };
}

/** Verifies a bridge message and its body's shape; rejections are counted and summarized (rejection-summary.ts). */
async function verified<S extends TSchema>(ctx: BrokerContext, request: SignedRequest, schema: S): Promise<{ datacenter: string; body: Static<S> }> {
  const jws = request.body.message;
  let message: BridgeMessage;
  try {
    message = await verifyBridgeMessage(ctx.config.bridgeKeys, jws, { now: ctx.now(), maxSkewSeconds: 30, replayGuard: ctx.replayGuard });
  } catch (error) {
    rejectBridgeMessage(ctx, request.routeOptions.config.url, jws, error);
    throw error;
  }
  if (!Value.Check(schema, message.payload)) throw new GeobridgeError('VALIDATION', `the bridge message from '${message.datacenter}' does not match its schema; see /docs.`);
  return { datacenter: message.datacenter, body: message.payload };
}

/**
 * Why a meeting may not live in `datacenter`, if it may not: the datacenter is
 * not in the manifest, is outside the host account's or the meeting's
 * jurisdictions, or is outside the fence of a participant already admitted.
 */
async function claimRefusal(ctx: BrokerContext, meeting: Meeting, datacenter: string): Promise<string | undefined> {
  const manifest = ctx.policy.current.manifest;
  const dc = manifest.datacenters.find((d) => d.id === datacenter);
  if (!dc) return 'it is not a datacenter of the manifest in force';
  const account = await ctx.store.getAccount(meeting.accountId);
  if (account?.allowedJurisdictions && !account.allowedJurisdictions.includes(dc.jurisdiction)) return `the host account does not allow ${dc.jurisdiction}`;
  if (meeting.allowedJurisdictions && !meeting.allowedJurisdictions.includes(dc.jurisdiction)) return `the meeting does not allow ${dc.jurisdiction}`;
  for (const p of await ctx.store.listParticipants(meeting.id)) {
    const result = selectDatacenters(manifest, routeRequestFor(p.country, account, meeting, { placedAt: datacenter }));
    if (isRefusal(result) && result.error.code === 'FENCE_CONFLICT') return `participant ${p.id} (${p.country}) may not use ${dc.jurisdiction}`;
  }
  return undefined;
}

/** POST /v1/bridges/heartbeat, /v1/bridges/admissions, /v1/bridges/placements. */
export function bridgeRoutes(app: BrokerApp, ctx: BrokerContext): void {
  app.post(
    '/v1/bridges/heartbeat',
    {
      schema: {
        tags: ['bridges'],
        summary: 'Signed heartbeat: participants, CPU, draining, signalling URL (enrols on first contact); answers with the jurisdiction the manifest gives the datacenter',
        body: Signed,
        response: { 200: Type.Object({ accepted: Type.Boolean(), jurisdiction: Type.String(), policyVersion: Type.Integer() }) },
      },
    },
    async (request) => {
      const { datacenter, body } = await verified(ctx, request, Heartbeat);
      const here = ctx.policy.current.manifest.datacenters.find((d) => d.id === datacenter);
      if (!here) throw new GeobridgeError('TICKET_WRONG_DATACENTER', `'${datacenter}' is not a datacenter of the manifest in force.`);
      const first = ctx.registry.report(datacenter, body, ctx.monotonicMs());
      if (first) await recordAudit(ctx, 'bridge.enrolled', { datacenter, url: body.url ?? null });
      // The bridge learns its jurisdiction from the manifest in force, never the other way round.
      return { accepted: true, jurisdiction: here.jurisdiction, policyVersion: ctx.policy.current.version };
    },
  );

  app.post(
    '/v1/bridges/admissions',
    { schema: { tags: ['bridges'], summary: 'Signed report of a participant admitted, refused or gone', body: Signed, response: { 200: Type.Object({ recorded: Type.Boolean() }) } } },
    async (request) => {
      const { datacenter, body } = await verified(ctx, request, Admission);
      if (body.outcome === 'left') {
        // Only the bridge holding the meeting says who left it: another datacenter's word would remove a
        // participant it never had, and a bridge the meeting moved away from, one now admitted elsewhere.
        const placement = await ctx.store.getPlacement(body.meeting);
        if (placement?.datacenter !== datacenter) return { recorded: false };
        await ctx.store.removeParticipant(body.meeting, body.participant);
        return { recorded: true };
      }
      if (body.outcome === 'refused') {
        await recordAudit(ctx, 'bridge.refusal', { datacenter, participant: body.participant, meeting: body.meeting, reason: body.reason ?? 'unspecified' });
        return { recorded: true };
      }
      if (body.ticket === undefined) throw new GeobridgeError('VALIDATION', 'an admission report must carry the route ticket the bridge admitted.');
      // The country comes from the broker's own signed ticket, never from the bridge's say-so.
      const here = ctx.policy.current.manifest.datacenters.find((d) => d.id === datacenter);
      if (!here) throw new GeobridgeError('TICKET_WRONG_DATACENTER', `'${datacenter}' is not a datacenter of the manifest in force.`);
      const ticket = await verifyRouteTicket(ctx.keys, body.ticket, { now: ctx.now(), datacenter, jurisdiction: here.jurisdiction });
      if (ticket.sub !== body.participant || ticket.meeting !== body.meeting) {
        throw new GeobridgeError('TICKET_INVALID', `the ticket is for participant ${ticket.sub} in meeting ${ticket.meeting}, not the one reported.`);
      }
      const policy = compilePolicy(ctx.policy.current.manifest);
      const dc = policy.datacenterById.get(datacenter);
      const zone = policy.zoneFor(ticket.country);
      const meeting = await ctx.store.getMeeting(body.meeting);
      const account = meeting && (await ctx.store.getAccount(meeting.accountId));
      // A ticket issued under an older manifest is held to the policy in force.
      const now = selectDatacenters(ctx.policy.current.manifest, routeRequestFor(ticket.country, account, meeting, { placedAt: datacenter }));
      if (isRefusal(now) && now.error.code === 'FENCE_CONFLICT') {
        await recordAudit(ctx, 'bridge.refusal', { datacenter, participant: body.participant, meeting: body.meeting, reason: 'admission outside the fence under the manifest in force' });
        throw new GeobridgeError('TICKET_OUTSIDE_FENCE', `under the manifest in force, ${ticket.country} participants may not use ${datacenter}; the participant must ask for a fresh route.`);
      }
      // Admitted participants are the meeting's members: a manifest change re-checks them.
      await ctx.store.addParticipant({ id: body.participant, meetingId: body.meeting, country: ticket.country, joinedAt: ctx.now().toISOString(), ...(account?.plan !== undefined ? { plan: account.plan } : {}) });
      await recordAudit(ctx, 'bridge.admission', {
        participant: body.participant,
        meeting: body.meeting,
        datacenter,
        jurisdiction: dc?.jurisdiction ?? null,
        role: zone?.primaries.includes(datacenter) ? 'primary' : 'secondary',
        country: ticket.country,
        zone: zone?.id ?? null,
        outOfZone: zone && dc ? !policy.countriesOf(zone).has(dc.jurisdiction) : null,
        decision: ticket.decision,
      });
      return { recorded: true };
    },
  );

  app.post(
    '/v1/bridges/placements',
    {
      schema: {
        tags: ['bridges'],
        summary: "Signed claim of a meeting's placement (compare-and-set on its epoch; exactly one concurrent claimant wins)",
        body: Signed,
        response: { 200: Type.Object({ won: Type.Boolean(), datacenter: Type.String(), epoch: Type.Integer() }) },
      },
    },
    async (request) => {
      const { datacenter, body } = await verified(ctx, request, Claim);
      const meeting = await ctx.store.getMeeting(body.meeting);
      if (!meeting) throw new GeobridgeError('NOT_FOUND', `no meeting '${body.meeting}'.`);
      if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.id}' has ended (${meeting.endedReason ?? 'ended'}).`);
      const refusal = await claimRefusal(ctx, meeting, datacenter);
      if (refusal !== undefined) {
        await recordAudit(ctx, 'bridge.refusal', { datacenter, meeting: meeting.id, reason: `placement refused: ${refusal}` });
        throw new GeobridgeError('FENCE_CONFLICT', `meeting '${meeting.id}' may not be placed in ${datacenter}: ${refusal}.`);
      }
      const before = await ctx.store.getPlacement(meeting.id);
      // A meeting moves only when its datacenter died or drains: a live holder keeps it, whatever the epoch.
      if (before && before.datacenter !== datacenter && ctx.registry.isServing(before.datacenter, ctx.monotonicMs())) {
        return { won: false, datacenter: before.datacenter, epoch: before.epoch };
      }
      const result = await ctx.store.claimPlacement(meeting.id, datacenter, body.expectedEpoch, ctx.now().toISOString());
      if (result.won) {
        await recordAudit(ctx, before ? 'placement.rehomed' : 'placement.claimed', { meeting: meeting.id, datacenter, epoch: result.placement.epoch, from: before?.datacenter ?? null });
      }
      return { won: result.won, datacenter: result.placement.datacenter, epoch: result.placement.epoch };
    },
  );
}
