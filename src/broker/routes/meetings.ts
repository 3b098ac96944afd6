/**
 * The account API (API key): meetings and the short-lived join tokens that
 * let participants ask for a route into one meeting.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from 'typebox';
import { GeobridgeError } from '../../core/errors.js';
import { isCountryCode } from '../../core/geo/countries.js';
import { compilePolicy } from '../../core/policy/compile.js';
import type { BrokerApp } from './broker-app.js';
import { requireAccount } from '../auth.js';
import { recordAudit, type BrokerContext } from '../context.js';
import { INVITE_MAX_SECONDS } from '../keys.js';
import type { Account, Meeting } from '../store/store.js';
import { InviteAcceptAnswer, JoinTokenAnswer } from '../../protocol/answers.js';
import { verifyInvite } from '../../protocol/invite.js';
import { DEFAULT_INVITE_SECONDS, issueInvite } from '../invites.js';
import { inviteRateLimit } from '../rate-limits.js';
import { issueJoinToken } from '../tickets.js';
import { BEARER } from './schemas.js';

const MeetingSchema = Type.Object({
  id: Type.String(),
  accountId: Type.String(),
  title: Type.String(),
  createdAt: Type.String(),
  allowedJurisdictions: Type.Optional(Type.Array(Type.String())),
  endedAt: Type.Optional(Type.String()),
  endedReason: Type.Optional(Type.String()),
  placement: Type.Optional(Type.Object({ datacenter: Type.String(), jurisdiction: Type.String(), epoch: Type.Integer(), since: Type.String() })),
  participants: Type.Optional(Type.Integer()),
});
const MeetingParams = Type.Object({ id: Type.String({ maxLength: 100 }) });

/** A meeting as the API shows it. */
function publicMeeting(m: Meeting): Omit<Meeting, 'allowedJurisdictions'> & { allowedJurisdictions?: string[] } {
  const { allowedJurisdictions, ...rest } = m;
  return { ...rest, ...(allowedJurisdictions ? { allowedJurisdictions: [...allowedJurisdictions] } : {}) };
}

async function ownMeeting(ctx: BrokerContext, account: Account, id: string): Promise<Meeting> {
  const meeting = await ctx.store.getMeeting(id);
  // Another account's meeting answers like a missing one: ids are not an oracle.
  if (!meeting || meeting.accountId !== account.id) throw new GeobridgeError('NOT_FOUND', `no meeting '${id}' for this account.`);
  return meeting;
}

/** POST /v1/meetings, GET/DELETE /v1/meetings/:id, POST /v1/meetings/:id/join-tokens and /invites, POST /v1/invites/accept. */
export function meetingRoutes(app: BrokerApp, ctx: BrokerContext): void {
  app.post(
    '/v1/meetings',
    {
      schema: {
        tags: ['meetings'],
        summary: "Create a meeting; the host account's policy applies to every participant",
        security: BEARER,
        body: Type.Object(
          {
            title: Type.String({ minLength: 1, maxLength: 200 }),
            allowedJurisdictions: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 300, description: 'Narrow where this meeting may be held (codes or groups)' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: MeetingSchema },
      },
    },
    async (request, reply) => {
      const account = await requireAccount(ctx, request);
      const allowed = request.body.allowedJurisdictions && [...compilePolicy(ctx.policy.current.manifest).expand(request.body.allowedJurisdictions)].sort();
      const bad = (allowed ?? []).filter((c) => !isCountryCode(c));
      if (bad.length > 0) throw new GeobridgeError('INVALID_COUNTRY', `allowedJurisdictions: ${bad.join(', ')} are neither ISO codes nor groups of the manifest.`);
      const meeting: Meeting = {
        id: `mtg_${randomUUID()}`,
        accountId: account.id,
        title: request.body.title,
        createdAt: ctx.now().toISOString(),
        ...(allowed ? { allowedJurisdictions: allowed } : {}),
      };
      await ctx.store.createMeeting(meeting);
      return reply.status(201).send(publicMeeting(meeting));
    },
  );

  app.get('/v1/meetings/:id', { schema: { tags: ['meetings'], summary: 'A meeting, where it lives, and how many participants', security: BEARER, params: MeetingParams, response: { 200: MeetingSchema } } }, async (request) => {
    const account = await requireAccount(ctx, request);
    const meeting = await ownMeeting(ctx, account, request.params.id);
    const placement = await ctx.store.getPlacement(meeting.id);
    const participants = (await ctx.store.listParticipants(meeting.id)).length;
    const jurisdiction = placement && (ctx.policy.current.manifest.datacenters.find((d) => d.id === placement.datacenter)?.jurisdiction ?? '?');
    return { ...publicMeeting(meeting), participants, ...(placement && jurisdiction ? { placement: { datacenter: placement.datacenter, jurisdiction, epoch: placement.epoch, since: placement.since } } : {}) };
  });

  app.delete('/v1/meetings/:id', { schema: { tags: ['meetings'], summary: 'End a meeting', security: BEARER, params: MeetingParams, response: { 204: Type.Null() } } }, async (request, reply) => {
    const account = await requireAccount(ctx, request);
    const meeting = await ownMeeting(ctx, account, request.params.id);
    // Bridges held by other brokers hear of the end only over the bus.
    ctx.cluster?.assertReady('to end a meeting');
    await endMeeting(ctx, meeting.id, 'ended by host');
    return reply.status(204).send(null);
  });

  app.post(
    '/v1/meetings/:id/join-tokens',
    {
      schema: {
        tags: ['meetings'],
        summary: 'Issue a short-lived join token for one participant of this meeting',
        security: BEARER,
        params: MeetingParams,
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
        response: { 201: JoinTokenAnswer },
      },
    },
    async (request, reply) => {
      const account = await requireAccount(ctx, request);
      const meeting = await ownMeeting(ctx, account, request.params.id);
      if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.id}' has ended (${meeting.endedReason ?? 'ended'}).`);
      return reply.status(201).send(await joinToken(ctx, meeting, request.body.name));
    },
  );

  app.post(
    '/v1/meetings/:id/invites',
    {
      schema: {
        tags: ['meetings'],
        summary: 'Sign an invite link: anyone holding it may join this meeting under their own name (until it expires or the meeting ends)',
        security: BEARER,
        params: MeetingParams,
        body: Type.Object({ expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: INVITE_MAX_SECONDS })) }, { additionalProperties: false }),
        response: { 201: Type.Object({ invite: Type.String(), expiresAt: Type.String() }) },
      },
      // `curl -X POST` without a body means "the default lifetime".
      preValidation: (request, _reply, done) => {
        if ((request.body as unknown) === undefined) request.body = {};
        done();
      },
    },
    async (request, reply) => {
      const account = await requireAccount(ctx, request);
      const meeting = await ownMeeting(ctx, account, request.params.id);
      if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.id}' has ended (${meeting.endedReason ?? 'ended'}).`);
      const invite = await issueInvite(ctx.keys, meeting.id, request.body.expiresInSeconds ?? DEFAULT_INVITE_SECONDS, ctx.now());
      return reply.status(201).send({ invite: invite.token, expiresAt: invite.expiresAt.toISOString() });
    },
  );

  app.post(
    '/v1/invites/accept',
    {
      config: { rateLimit: inviteRateLimit(ctx) },
      schema: {
        tags: ['meetings'],
        summary: 'Exchange an invite and a display name for a join token (what the meeting page does)',
        body: Type.Object({ invite: Type.String({ minLength: 1, maxLength: 4096 }), name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
        response: { 201: InviteAcceptAnswer },
      },
    },
    async (request, reply) => {
      const meetingId = await verifyInvite(ctx.keys.inviteKeys(), request.body.invite, ctx.now());
      const meeting = await ctx.store.getMeeting(meetingId);
      if (!meeting) throw new GeobridgeError('NOT_FOUND', `the meeting of this invite no longer exists.`);
      if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.title}' has ended (${meeting.endedReason ?? 'ended'}).`);
      return reply.status(201).send({ ...(await joinToken(ctx, meeting, request.body.name)), meeting: meeting.id, title: meeting.title });
    },
  );
}

/**
 * Ends a meeting: marked ended in the store, audited, and closed by every
 * bridge (its host's DELETE, and the operator's console). A meeting already
 * ended stays as it was, with its first reason: nothing is audited or sent
 * again (a bridge that missed the end hears of it when it reconnects). True
 * when this call ended it.
 */
export async function endMeeting(ctx: BrokerContext, meeting: string, reason: string): Promise<boolean> {
  if (!(await ctx.store.endMeeting(meeting, ctx.now().toISOString(), reason))) return false;
  await recordAudit(ctx, 'meeting.ended', { meeting, reason });
  // Ended everywhere: the bridges close it before they forward another packet.
  await ctx.control.end(meeting, reason);
  return true;
}

/** A fresh participant id and its join token for `meeting`. */
async function joinToken(ctx: BrokerContext, meeting: Meeting, name: string): Promise<Static<typeof JoinTokenAnswer>> {
  const participant = `ptc_${randomUUID()}`;
  const issued = await issueJoinToken(ctx.keys, { participant, meeting: meeting.id, account: meeting.accountId, name, expiresInSeconds: ctx.config.joinTokenSeconds });
  return { token: issued.token, participant, expiresAt: new Date(issued.claims.exp * 1000).toISOString() };
}
