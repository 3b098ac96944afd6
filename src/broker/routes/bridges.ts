/**
 * The bridges' API. Every message is a compact JWS signed with the Ed25519
 * key configured for the bridge's datacenter (src/protocol/bridge-message.ts); a message that
 * cannot prove its identity is rejected and audited. The broker takes a
 * datacenter's jurisdiction and location from the manifest, never from the
 * bridge, and holds every admission, claim and renewal to the policy in force
 * through the core's one rule (`whyNotHeldAt`).
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { compilePolicy } from '../../core/policy/compile.js';
import { routeRequestFor, whyNotHeldAt, type MeetingPolicy } from '../../core/select/meeting-policy.js';
import { isRefusal, selectRoute } from '../../core/select/select.js';
import type { BrokerApp } from './broker-app.js';
import { BridgeKeysAnswer } from '../../protocol/answers.js';
import { verifyBridgeMessage, type VerifiedBridgeMessage } from '../../protocol/bridge-message.js';
import { reopenHop, replanMeeting } from '../cascade.js';
import { admitToGroup, awaitUnknownMembers, groupMembers, isGroupMember, leaveGroup, rejoinGroup, submitToGroup } from '../group-delivery.js';
import { recordAudit, type BrokerContext, type RecordSubject, type Recorded } from '../context.js';
import type { AuditType } from '../audit/audit-log.js';
import { isNewerDecision } from '../decision-id.js';
import { memberSubject } from '../record-subject.js';
import { rejectBridgeMessage } from '../rejection-summary.js';
import { meetingPolicyOf } from '../route-request.js';
import type { Meeting, Participant } from '../store/store.js';
import { routeIceAllowance } from '../route-ice.js';
import { ROUTE_TICKET_MAX_CHARS, ticketJurisdictions, verifyRouteTicket, type FenceCheck, type RouteTicketClaims } from '../../protocol/route-ticket.js';
import { issueRouteTicket } from '../tickets.js';

const Signed = Type.Object({ message: Type.String({ minLength: 1, maxLength: 1_048_576, description: 'Compact JWS signed by the bridge (attestation.ts)' }) }, { additionalProperties: false });
const TicketText = Type.String({ minLength: 1, maxLength: ROUTE_TICKET_MAX_CHARS });
const Id = Type.String({ minLength: 1, maxLength: 100 });
const GroupTag = Type.String({ pattern: '^[A-Za-z0-9_-]{22}$' });
/** Base64url of MLS bytes, as a participant's `mls` message carries them. */
const MlsBytes = Type.String({ minLength: 1, maxLength: 262_144, pattern: '^[A-Za-z0-9_-]+$' });
/** A participant's MLS message in a cascaded meeting, as its bridge passes it on (the signalling `mls` and `mls-joined`). */
const GroupSubmission = Type.Object(
  {
    kind: Type.Literal('mls'),
    meeting: Id,
    participant: Id,
    /** The session (the ticket's decision) the bridge admitted: only it speaks for the participant. */
    session: Id,
    message: Type.Union([
      Type.Object(
        {
          type: Type.Literal('mls'),
          kind: Type.Union([Type.Literal('key-package'), Type.Literal('commit'), Type.Literal('proposal'), Type.Literal('application')]),
          data: MlsBytes,
          welcome: Type.Optional(MlsBytes),
          tag: Type.Optional(GroupTag),
        },
        { additionalProperties: false },
      ),
      Type.Object({ type: Type.Literal('mls-joined'), epoch: Type.Integer({ minimum: 0 }), tag: Type.Optional(GroupTag) }, { additionalProperties: false }),
    ]),
    /** With `mls-joined` and key packages: the route ticket the bridge admitted, by which a broker that restarted knows the member again. */
    ticket: Type.Optional(TicketText),
  },
  { additionalProperties: false },
);
const GroupEntry = Type.Object({
  entry: Type.Union([Type.Literal('found'), Type.Literal('continue'), Type.Literal('join'), Type.Literal('none')]),
  members: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), since: Type.Integer() })),
});

const Heartbeat = Type.Object(
  {
    kind: Type.Literal('heartbeat'),
    participants: Type.Integer({ minimum: 0 }),
    cpu: Type.Number({ minimum: 0 }),
    draining: Type.Boolean(),
    loop: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "Share of the time since the last heartbeat that the bridge's event loop was busy (load shedding, serve --shed-at)" })),
    url: Type.Optional(Type.String({ pattern: '^wss?://\\S+$', maxLength: 2048, description: "Where clients reach the bridge's signalling" })),
    groups: Type.Optional(
      Type.Array(Type.Object({ meeting: Id, epoch: Type.Integer({ minimum: 0 }), members: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }), {
        maxItems: 100_000,
        description: 'The MLS groups the bridge orders that someone showed they hold: epoch and members, for the console',
      }),
    ),
  },
  { additionalProperties: false },
);
const Admission = Type.Object(
  {
    kind: Type.Literal('admission'),
    participant: Id,
    meeting: Id,
    outcome: Type.Union([Type.Literal('admitted'), Type.Literal('refused'), Type.Literal('left')]),
    reason: Type.Optional(Type.String({ maxLength: 200 })),
    /** For `admitted`: the participant's route ticket, which carries its country under the broker's own signature. */
    ticket: Type.Optional(TicketText),
    /** For `admitted`: the bridge replaced a connection of the same participant. */
    replaced: Type.Optional(Type.Boolean()),
    /** For `left`: the session (the ticket's decision) that left, so a late report cannot remove a newer one. */
    session: Type.Optional(Id),
    /** For `left`: why the bridge removed it, when it did (a code such as TICKET_OUTSIDE_FENCE); absent when the participant left. */
    code: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** For `left`: the participant said it leaves, so it is not coming back on another connection (its group leaf goes at once). */
    byChoice: Type.Optional(Type.Literal(true)),
    /** For `admitted`: the MLS group the participant carries from its last bridge (`join.mls`); a cascaded meeting's group lives here. */
    mls: Type.Optional(Type.Object({ epoch: Type.Integer({ minimum: 0 }), tag: GroupTag }, { additionalProperties: false })),
    /** For `admitted`: false when the participant takes no part in the MLS group (`join.e2ee`), so it is never asked to found it. */
    e2ee: Type.Optional(Type.Literal(false)),
  },
  { additionalProperties: false },
);
const Claim = Type.Object({ kind: Type.Literal('claim'), meeting: Id, ticket: TicketText }, { additionalProperties: false });
const Renewal = Type.Object({ kind: Type.Literal('renewal'), tickets: Type.Array(TicketText, { minItems: 1, maxItems: 500 }) }, { additionalProperties: false });
const RelayLost = Type.Object({ kind: Type.Literal('relay-lost'), meeting: Id, from: Id, reason: Type.String({ maxLength: 200 }) }, { additionalProperties: false });

const MeetingPolicySchema = Type.Object({
  hostCountry: Type.String(),
  plan: Type.Optional(Type.String()),
  accountJurisdictions: Type.Optional(Type.Array(Type.String())),
  meetingJurisdictions: Type.Optional(Type.Array(Type.String())),
  cascade: Type.Optional(Type.Literal(true)),
});
const RenewalResult = Type.Union([
  Type.Object({ participant: Type.String(), meeting: Type.String(), ok: Type.Literal(true), ticket: Type.String() }),
  Type.Object({ participant: Type.String(), meeting: Type.String(), ok: Type.Literal(false), code: Type.String(), message: Type.String() }),
]);

/** The parts of a bridge API request that `verified` reads. */
interface SignedRequest {
  readonly body: Static<typeof Signed>;
  readonly routeOptions: { readonly config: { readonly url: string } };
}

/** Verifies a bridge message and its body's shape; rejections are counted and summarized (rejection-summary.ts). */
async function verified<S extends TSchema>(ctx: BrokerContext, request: SignedRequest, schema: S): Promise<{ datacenter: string; body: Static<S> }> {
  const jws = request.body.message;
  let message: VerifiedBridgeMessage;
  try {
    message = await verifyBridgeMessage(ctx.config.bridgeKeys, jws, { now: ctx.now(), maxSkewSeconds: 30, replayGuard: ctx.replayGuard });
  } catch (error) {
    rejectBridgeMessage(ctx, request.routeOptions.config.url, jws, error);
    throw error;
  }
  if (!Value.Check(schema, message.payload)) throw new GeobridgeError('VALIDATION', `the bridge message from '${message.datacenter}' does not match its schema; see /docs.`);
  return { datacenter: message.datacenter, body: message.payload };
}

/** The datacenter's jurisdiction under the manifest in force; a datacenter the manifest dropped may do nothing. */
function jurisdictionOf(ctx: BrokerContext, datacenter: string): string {
  const here = compilePolicy(ctx.policy.current.manifest).datacenterById.get(datacenter);
  if (!here) throw new GeobridgeError('TICKET_WRONG_DATACENTER', `'${datacenter}' is not a datacenter of the manifest in force.`);
  return here.jurisdiction;
}

/** What a ticket presented for `datacenter` is checked against: its jurisdiction, under the manifests the broker knows. */
function fenceCheck(ctx: BrokerContext, datacenter: string): FenceCheck {
  return { code: jurisdictionOf(ctx, datacenter), manifests: ctx.policy.manifestBySha256 };
}

/** The meeting and the policy its participants are held to. */
async function meetingWithPolicy(ctx: BrokerContext, id: string): Promise<{ meeting: Meeting; policy: MeetingPolicy | undefined }> {
  const meeting = await ctx.store.getMeeting(id);
  if (!meeting) throw new GeobridgeError('NOT_FOUND', `no meeting '${id}'.`);
  if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.id}' has ended (${meeting.endedReason ?? 'ended'}).`);
  return { meeting, policy: meetingPolicyOf(await ctx.store.getAccount(meeting.accountId), meeting, ctx.config.cascade) };
}

/**
 * The meeting of an admission and the policy it is held to, as the store and
 * the policy in force stand now; or the error a fresh admission gets: the
 * meeting ended, is held elsewhere (unless it cascades), or the policy in
 * force (whatever the ticket was issued under) does not allow the
 * participant here, which is audited. `when` says the admission was already
 * recorded, for the audit record.
 */
async function admissible(ctx: BrokerContext, datacenter: string, ticket: RouteTicketClaims, subject: RecordSubject, when?: string): Promise<{ meeting: Meeting; policy: MeetingPolicy | undefined; revision: number }> {
  // One read for meeting, account and placement: this runs twice on the join path.
  const context = await ctx.store.getMeetingContext(ticket.meeting);
  if (!context) throw new GeobridgeError('NOT_FOUND', `no meeting '${ticket.meeting}'.`);
  const { meeting, account, placement } = context;
  if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.id}' has ended (${meeting.endedReason ?? 'ended'}).`);
  if (ctx.config.cascade !== true && placement?.datacenter !== datacenter) {
    throw new GeobridgeError('PLACED_ELSEWHERE', `meeting '${meeting.id}' is held in ${placement?.datacenter ?? 'no datacenter'}, not ${datacenter}; claim it first.`);
  }
  const policy = meetingPolicyOf(account, meeting, ctx.config.cascade);
  const reason = whyNotHeldAt(ctx.policy.current.manifest, datacenter, ticket.country, policy);
  if (reason) {
    const under = when === undefined ? 'the manifest in force' : `the policy in force, which changed ${when}`;
    await recordAudit(ctx, 'bridge.refusal', { datacenter, participant: ticket.sub, meeting: meeting.id, reason: `admission outside the fence under ${under} (${reason})` }, subject);
    throw new GeobridgeError('TICKET_OUTSIDE_FENCE', `under the policy in force, ${ticket.country} participants of this meeting may not use ${datacenter} (${reason}); the participant must ask for a fresh route.`);
  }
  return { meeting, policy, revision: account?.policyRevision ?? 0 };
}

/**
 * Takes back an admission refused after its row was written: the row and
 * its place in the meeting's group go. The session that row replaced lost
 * its row too, and the participant had moved on from it to this one: it is
 * evicted as a replaced session is (or with `code`, when it was this very
 * session), so no session is left live without a member row.
 */
async function withdrawAdmission(ctx: BrokerContext, datacenter: string, ticket: RouteTicketClaims, replaced: Participant | undefined, code: string, log: (line: Readonly<Record<string, unknown>>) => void): Promise<void> {
  const { meeting, sub: participant, decision: session } = ticket;
  if (await ctx.store.removeParticipant(meeting, participant, { session, datacenter })) {
    if (ctx.config.cascade === true) leaveGroup(ctx, meeting, participant, session);
    void replanMeeting(ctx, meeting, log);
  }
  if (replaced === undefined || replaced.datacenter === '') return;
  const same = replaced.session === session && replaced.datacenter === datacenter;
  await ctx.control.evict(replaced.datacenter, {
    meeting,
    participant,
    session: replaced.session,
    code: same ? code : 'SESSION_REPLACED',
    reason: same ? 'the policy changed while this session was being admitted again; ask for a fresh route' : 'this participant joined again from another connection',
  });
}

/**
 * Why a meeting may not live in `datacenter`, if it may not: the host's own
 * participants (home country, plan, data routing control, the meeting's
 * narrowing) may not go there, or the claimant, or a participant already
 * admitted. So an empty meeting is never claimed outside its host's policy,
 * and a guest never pulls a meeting across the host's fence.
 */
async function claimRefusal(ctx: BrokerContext, meeting: Meeting, policy: MeetingPolicy | undefined, datacenter: string, claimant: string): Promise<string | undefined> {
  const manifest = ctx.policy.current.manifest;
  if (!policy) return "the meeting's account no longer exists";
  const host = whyNotHeldAt(manifest, datacenter, policy.hostCountry, policy);
  if (host) return `the host account's policy (home country ${policy.hostCountry}) does not allow it (${host})`;
  const own = whyNotHeldAt(manifest, datacenter, claimant, policy);
  if (own) return `the participant claiming it (${claimant}) may not use it (${own})`;
  for (const p of await ctx.store.listParticipants(meeting.id)) {
    const reason = whyNotHeldAt(manifest, datacenter, p.country, policy);
    if (reason) return `participant ${p.id} (${p.country}) may not use it (${reason})`;
  }
  return undefined;
}

/**
 * A claim in a cascade: the meeting has no home, so every bridge may hold it
 * for the participants whose own fences (and meeting policy) allow that
 * bridge; nothing is stored, and the bridges relay between them.
 */
async function cascadeClaim(ctx: BrokerContext, meeting: Meeting, policy: MeetingPolicy | undefined, datacenter: string, ticket: RouteTicketClaims): Promise<{ won: boolean; datacenter: string; epoch: number }> {
  const refusal = policy ? whyNotHeldAt(ctx.policy.current.manifest, datacenter, ticket.country, policy) : "the meeting's account no longer exists";
  if (refusal !== undefined) {
    await recordAudit(ctx, 'bridge.refusal', { datacenter, meeting: meeting.id, participant: ticket.sub, reason: `placement refused: ${refusal}` }, subjectOfTicket(ctx, ticket));
    throw new GeobridgeError('FENCE_CONFLICT', `participant ${ticket.sub} (${ticket.country}) may not be held in ${datacenter}: ${refusal}.`);
  }
  return { won: true, datacenter, epoch: 0 };
}

/** Same URL, once normalized (scheme, host, port, path). */
function sameUrl(a: string, b: string): boolean {
  return URL.canParse(a) && URL.canParse(b) && new URL(a).href === new URL(b).href;
}

/** POST /v1/bridges/heartbeat, /admissions, /mls, /placements, /renewals; GET /v1/bridges/keys. */
export function bridgeRoutes(app: BrokerApp, ctx: BrokerContext): void {
  /** Refused URL announcements already audited, so a bridge that insists writes one record, not one a second. */
  const refusedUrls = new Set<string>();
  const refuseUrl = async (datacenter: string, url: string, code: string, message: string): Promise<never> => {
    const key = `${datacenter} ${url}`;
    if (!refusedUrls.has(key) && refusedUrls.size < 10_000) {
      refusedUrls.add(key);
      await recordAudit(ctx, 'bridge.refusal', { datacenter, reason: code, url });
    }
    throw new GeobridgeError(code, message);
  };

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
      const jurisdiction = jurisdictionOf(ctx, datacenter);
      const nowMs = ctx.monotonicMs();
      const bound = ctx.config.bridgeUrls.get(datacenter);
      const before = ctx.registry.url(datacenter);
      if (body.url !== undefined && bound !== undefined && !sameUrl(bound, body.url)) {
        await refuseUrl(datacenter, body.url, 'BRIDGE_URL_MISMATCH', `'${datacenter}' must announce the signalling URL its operator configured (${bound}), not ${body.url}.`);
      }
      // A serving bridge keeps the URL it enrolled with: clients already hold it. A new one comes with a new
      // enrolment, once the old one is gone or draining (a drained bridge's last heartbeat may land after it left).
      const { url } = body;
      const moved = url !== undefined && before !== undefined && before !== url;
      if (moved && ctx.registry.isServing(datacenter, nowMs)) {
        await refuseUrl(datacenter, url, 'BRIDGE_URL_CHANGED', `'${datacenter}' enrolled with ${before}; a bridge changes its signalling URL only by enrolling again (restart it, or drain the old one first).`);
      }
      const wasShedding = ctx.registry.isShedding(datacenter, nowMs);
      const first = ctx.registry.report(datacenter, body, nowMs) || moved;
      ctx.cluster?.reported(datacenter, { participants: body.participants, cpu: body.cpu, draining: body.draining, ...(body.url === undefined ? {} : { url: body.url }), ...(body.loop === undefined ? {} : { loop: body.loop }) });
      if (body.loop !== undefined) ctx.metrics.bridgeLoop.set({ datacenter }, body.loop);
      if (first) {
        await recordAudit(ctx, 'bridge.enrolled', { datacenter, url: body.url ?? null });
        if (moved) await recordAudit(ctx, 'bridge.url-changed', { datacenter, from: before, to: url });
      }
      // Audited by the broker that heard the heartbeat (others on the bus follow in their registries without writing it again).
      const shedding = ctx.registry.isShedding(datacenter, nowMs);
      if (shedding !== wasShedding) {
        ctx.metrics.loadSheds.inc({ datacenter, shedding: String(shedding) });
        await recordAudit(ctx, 'bridge.load-shed', { datacenter, shedding, loop: Math.round((ctx.registry.loopAverage(datacenter, nowMs) ?? 0) * 1000) / 1000, threshold: ctx.registry.shedAt ?? null });
      }
      // The bridge learns its jurisdiction from the manifest in force, never the other way round.
      return { accepted: true, jurisdiction, policyVersion: ctx.policy.current.version };
    },
  );

  app.post(
    '/v1/bridges/admissions',
    {
      schema: {
        tags: ['bridges'],
        summary: 'Signed report of a participant admitted, refused or gone; an admission is answered with the policy the meeting is held to (and, in a cascaded meeting, how the participant enters its MLS group)',
        body: Signed,
        response: { 200: Type.Object({ recorded: Type.Boolean(), policy: Type.Optional(MeetingPolicySchema), policyRevision: Type.Optional(Type.Integer({ minimum: 0 })), group: Type.Optional(GroupEntry) }) },
      },
    },
    async (request) => {
      const { datacenter, body } = await verified(ctx, request, Admission);
      if (body.outcome === 'left') {
        if (body.session === undefined) throw new GeobridgeError('VALIDATION', 'a departure must name the session (the ticket decision) that left.');
        // The member's country, for where the eviction is recorded, before the row goes.
        const member = body.code === undefined ? undefined : (await ctx.store.listParticipants(body.meeting)).find((p) => p.id === body.participant);
        // Only the bridge that admitted this session removes it: another bridge's word, or an older session's, removes nothing.
        const removed = await ctx.store.removeParticipant(body.meeting, body.participant, { session: body.session, datacenter });
        if (removed) {
          leaveGroup(ctx, body.meeting, body.participant, body.session, body.byChoice === true);
          void replanMeeting(ctx, body.meeting, (line) => { request.log.warn(line); });
        }
        if (body.code !== undefined) {
          await recordAboutParticipant(ctx, 'bridge.eviction', { datacenter, participant: body.participant, meeting: body.meeting, session: body.session, code: body.code, reason: body.reason ?? null }, member && (await memberSubject(ctx.store, ctx.policy.current.manifest, member.meetingId, member.country, ctx.config.cascade)));
        }
        return { recorded: removed };
      }
      if (body.outcome === 'refused') {
        // A bridge's refusal carries no ticket: the broker knows the participant's country only if they are a member.
        const member = (await ctx.store.listParticipants(body.meeting)).find((p) => p.id === body.participant);
        await recordAboutParticipant(ctx, 'bridge.refusal', { datacenter, participant: body.participant, meeting: body.meeting, reason: body.reason ?? 'unspecified' }, member && (await memberSubject(ctx.store, ctx.policy.current.manifest, member.meetingId, member.country, ctx.config.cascade)));
        return { recorded: true };
      }
      if (body.ticket === undefined) throw new GeobridgeError('VALIDATION', 'an admission report must carry the route ticket the bridge admitted.');
      // The country comes from the broker's own signed ticket, never from the bridge's say-so.
      const ticket = await verifyRouteTicket(ctx.keys, body.ticket, { now: ctx.now(), datacenter, jurisdiction: fenceCheck(ctx, datacenter) });
      if (ticket.sub !== body.participant || ticket.meeting !== body.meeting) {
        throw new GeobridgeError('TICKET_INVALID', `the ticket is for participant ${ticket.sub} in meeting ${ticket.meeting}, not the one reported.`);
      }
      const subject = subjectOfTicket(ctx, ticket);
      const { meeting, policy } = await admissible(ctx, datacenter, ticket, subject);
      // An attempt the client already gave up on can finish after the one it kept: the later route wins.
      const stored = await ctx.store.listParticipants(meeting.id);
      const current = stored.find((p) => p.id === body.participant);
      if (current && isNewerDecision(current.session, ticket.decision)) {
        await recordAudit(ctx, 'bridge.refusal', { datacenter, participant: body.participant, meeting: body.meeting, reason: `stale admission: session ${ticket.decision} is older than ${current.session}, admitted in ${current.datacenter}` }, subject);
        throw new GeobridgeError('SESSION_REPLACED', `participant ${ticket.sub} holds a newer session (in ${current.datacenter}); this older route is not admitted.`);
      }
      // Admitted participants are the meeting's members: a policy change re-checks them.
      const replaced = await ctx.store.addParticipant({
        id: body.participant,
        meetingId: meeting.id,
        country: ticket.country,
        joinedAt: ctx.now().toISOString(),
        datacenter,
        session: ticket.decision,
        ...(policy?.plan !== undefined ? { plan: policy.plan } : {}),
      });
      // A cascaded meeting's one MLS group is ordered here, for all its bridges. Taken in with the member row, with
      // nothing awaited between: a plan made meanwhile names every member it reads (the names are the group's).
      // Members from before this broker restarted may hold the group: a newcomer waits for them.
      if (ctx.config.cascade === true) awaitUnknownMembers(ctx, meeting.id, stored.filter((p) => p.id !== body.participant));
      const group = ctx.config.cascade === true ? admitToGroup(ctx, meeting.id, { id: body.participant, name: ticket.name, country: ticket.country, datacenter, session: ticket.decision }, body.mls, body.e2ee !== false) : undefined;
      // Checked again now that the row is written: a policy change that listed the members before it did not see this
      // one, and a bridge applies that change's commands only to sessions it already holds. Either the change is seen
      // here, or the change sees the row. The answer carries the policy read now, with its revision: a bridge that has
      // heard a later one keeps that.
      let held: { policy: MeetingPolicy | undefined; revision: number };
      try {
        held = await admissible(ctx, datacenter, ticket, subject, 'while it was being recorded');
      } catch (error) {
        await withdrawAdmission(ctx, datacenter, ticket, replaced, isGeobridgeError(error) ? error.code : 'TICKET_OUTSIDE_FENCE', (line) => { request.log.warn(line); });
        throw error;
      }
      await recordAdmission(ctx, datacenter, ticket, subject);
      void replanMeeting(ctx, meeting.id, (line) => { request.log.warn(line); });
      // One join token, one live session: a second use replaces the first, wherever that one is.
      if (replaced && (body.replaced === true || replaced.datacenter !== datacenter || replaced.session !== ticket.decision)) {
        await recordAudit(ctx, 'participant.replaced', {
          participant: body.participant,
          meeting: meeting.id,
          from: { datacenter: replaced.datacenter, session: replaced.session },
          to: { datacenter, session: ticket.decision },
        }, subject);
        if (replaced.datacenter !== datacenter && replaced.datacenter !== '') {
          await ctx.control.evict(replaced.datacenter, { meeting: meeting.id, participant: body.participant, session: replaced.session, code: 'SESSION_REPLACED', reason: 'this participant joined again from another connection' });
        }
      }
      return { recorded: true, ...(held.policy ? { policy: mutableCopy(held.policy), policyRevision: held.revision } : {}), ...(group ? { group } : {}) };
    },
  );

  app.post(
    '/v1/bridges/mls',
    {
      schema: {
        tags: ['bridges'],
        summary: "Signed MLS message of a participant in a cascaded meeting (key package, commit, proposal, chat, or word that it holds the group): the broker orders it for the meeting's one group and relays it to the other bridges' participants as `mls` control commands",
        body: Signed,
        response: { 200: Type.Object({ relayed: Type.Literal(true) }) },
      },
    },
    async (request) => {
      const { datacenter, body } = await verified(ctx, request, GroupSubmission);
      if (ctx.config.cascade !== true) throw new GeobridgeError('VALIDATION', 'this broker does not cascade meetings: a bridge is the delivery service of its own rooms.');
      const { message } = body;
      // A member this broker does not know (it restarted since) says it holds the group, or sends its key package again.
      const rejoins = body.ticket !== undefined && !isGroupMember(ctx, body.meeting, body.participant, body.session);
      // A member now known to encrypt may have its streams carried where a fence allows E2EE transit.
      const encrypts = rejoins ? await rejoin(ctx, datacenter, body) : submitToGroup(ctx, body.meeting, datacenter, body.participant, body.session, message);
      if (encrypts) void replanMeeting(ctx, body.meeting, (line) => { request.log.warn(line); });
      return { relayed: true as const };
    },
  );

  app.post(
    '/v1/bridges/relays/lost',
    {
      schema: {
        tags: ['bridges'],
        summary: "Signed word from a receiving bridge that it lost a cascade hop while both bridges live (its media path failed, or the sending bridge ended it): if the plan still holds the hop, the broker sends a fresh relay ticket at once rather than at the next refresh (at most once every 3 s per hop)",
        body: Signed,
        response: { 200: Type.Object({ reopened: Type.Boolean() }) },
      },
    },
    async (request) => {
      const { datacenter, body } = await verified(ctx, request, RelayLost);
      const reopened = await reopenHop(ctx, body.meeting, body.from, datacenter, (line) => { request.log.warn(line); });
      request.log.info({ meeting: body.meeting, from: body.from, to: datacenter, reason: body.reason, reopened }, 'relay lost');
      return { reopened };
    },
  );

  app.post(
    '/v1/bridges/placements',
    {
      schema: {
        tags: ['bridges'],
        summary: "Signed claim of a meeting's placement for the participant whose ticket it carries (compare-and-set; exactly one concurrent claimant wins)",
        body: Signed,
        response: { 200: Type.Object({ won: Type.Boolean(), datacenter: Type.String(), epoch: Type.Integer() }) },
      },
    },
    async (request) => {
      const { datacenter, body } = await verified(ctx, request, Claim);
      const ticket = await verifyRouteTicket(ctx.keys, body.ticket, { now: ctx.now(), datacenter, jurisdiction: fenceCheck(ctx, datacenter) });
      if (ticket.meeting !== body.meeting) throw new GeobridgeError('TICKET_INVALID', `the ticket is for meeting ${ticket.meeting}, not '${body.meeting}'.`);
      const { meeting, policy } = await meetingWithPolicy(ctx, body.meeting);
      if (ctx.config.cascade === true) return cascadeClaim(ctx, meeting, policy, datacenter, ticket);
      const before = await ctx.store.getPlacement(meeting.id);
      if (before?.datacenter === datacenter) return { won: false, datacenter, epoch: before.epoch };
      const refusal = await claimRefusal(ctx, meeting, policy, datacenter, ticket.country);
      if (refusal !== undefined) {
        await recordAudit(ctx, 'bridge.refusal', { datacenter, meeting: meeting.id, participant: ticket.sub, reason: `placement refused: ${refusal}` }, subjectOfTicket(ctx, ticket));
        throw new GeobridgeError('FENCE_CONFLICT', `meeting '${meeting.id}' may not be placed in ${datacenter}: ${refusal}.`);
      }
      // A meeting moves only when its datacenter died or drains: a live holder keeps it.
      if (before && ctx.registry.isServing(before.datacenter, ctx.monotonicMs())) return { won: false, datacenter: before.datacenter, epoch: before.epoch };
      const result = await ctx.store.claimPlacement(meeting.id, datacenter, before?.epoch ?? 0, ctx.now().toISOString());
      if (result.won) {
        await recordAudit(ctx, before ? 'placement.rehomed' : 'placement.claimed', { meeting: meeting.id, datacenter, epoch: result.placement.epoch, from: before?.datacenter ?? null });
        // A holder judged down may still be there (heartbeats late, not lost): its participants follow, or the meeting would be split.
        if (before && before.datacenter !== datacenter) await ctx.control.move(before.datacenter, meeting.id, datacenter, `the meeting moved to ${datacenter}`);
      }
      return { won: result.won, datacenter: result.placement.datacenter, epoch: result.placement.epoch };
    },
  );

  app.post(
    '/v1/bridges/renewals',
    {
      schema: {
        tags: ['bridges'],
        summary: "Signed request to renew the route tickets of participants still connected; each is renewed only while its participant is entitled (member, meeting live and held here, inside its fence)",
        body: Signed,
        response: { 200: Type.Object({ results: Type.Array(RenewalResult) }) },
      },
    },
    async (request) => {
      const { datacenter, body } = await verified(ctx, request, Renewal);
      const jurisdiction = fenceCheck(ctx, datacenter);
      const results: Static<typeof RenewalResult>[] = [];
      for (const text of body.tickets) {
        let ticket: RouteTicketClaims | undefined;
        try {
          ticket = await verifyRouteTicket(ctx.keys, text, { now: ctx.now(), datacenter, jurisdiction });
          results.push({ participant: ticket.sub, meeting: ticket.meeting, ok: true, ticket: await renew(ctx, datacenter, ticket) });
        } catch (error) {
          if (!isGeobridgeError(error) || error.code === 'JWKS_UNAVAILABLE') throw error;
          const who = { participant: ticket?.sub ?? 'unknown', meeting: ticket?.meeting ?? 'unknown' };
          await recordAboutParticipant(ctx, 'ticket.renewal-refused', { ...who, datacenter, code: error.code }, ticket && subjectOfTicket(ctx, ticket));
          results.push({ ...who, ok: false, code: error.code, message: error.message });
        }
      }
      ctx.metrics.renewals.inc({ outcome: 'renewed' }, results.filter((r) => r.ok).length);
      ctx.metrics.renewals.inc({ outcome: 'refused' }, results.filter((r) => !r.ok).length);
      return { results };
    },
  );

  app.get(
    '/v1/bridges/keys',
    {
      schema: {
        tags: ['bridges'],
        summary: "Each datacenter's bridge public key (Ed25519 JWK): clients check the bridge's proof of identity against it",
        response: { 200: BridgeKeysAnswer },
      },
    },
    () => ({ keys: ctx.config.bridgePublicJwks as Record<string, { kty: string; crv: string; x: string }> }),
  );
}

/**
 * A fresh ticket for a participant still connected at `datacenter`, or why
 * not: it must still be the meeting's member there (this session), the
 * meeting live and held here, and the policy in force must allow it here.
 */
async function renew(ctx: BrokerContext, datacenter: string, ticket: RouteTicketClaims): Promise<string> {
  const { meeting, policy } = await meetingWithPolicy(ctx, ticket.meeting);
  const member = (await ctx.store.listParticipants(meeting.id)).find((p) => p.id === ticket.sub);
  if (!member) throw new GeobridgeError('NOT_A_MEMBER', `participant ${ticket.sub} is not admitted to meeting '${meeting.id}'.`);
  if (member.datacenter !== datacenter || member.session !== ticket.decision) throw new GeobridgeError('SESSION_REPLACED', `participant ${ticket.sub} joined again from another connection.`);
  const placement = await ctx.store.getPlacement(meeting.id);
  if (ctx.config.cascade !== true && placement?.datacenter !== datacenter) throw new GeobridgeError('PLACED_ELSEWHERE', `meeting '${meeting.id}' is held in ${placement?.datacenter ?? 'no datacenter'} now; take a fresh route.`);
  if (!policy) throw new GeobridgeError('NOT_FOUND', `the account of meeting '${meeting.id}' no longer exists.`);
  const { manifest, sha256 } = ctx.policy.current;
  // The meeting's datacenter alone: the fallbacks the decision would rank are not what is asked here.
  const decision = selectRoute(manifest, routeRequestFor(ticket.country, policy, { placedAt: datacenter, placedOnly: true }));
  if (isRefusal(decision)) {
    throw new GeobridgeError('TICKET_OUTSIDE_FENCE', `under the policy in force, ${ticket.country} participants of this meeting may not use ${datacenter} (${whyNotHeldAt(manifest, datacenter, ticket.country, policy) ?? 'FENCE'}).`);
  }
  // Renewed under the manifest and meeting policy in force, not the old ticket's. The route's other candidates stay
  // while that policy allows them, so the client can still go on through them should this bridge vanish.
  const kept = ticket.candidates.filter((dc) => dc === datacenter || whyNotHeldAt(manifest, dc, ticket.country, policy) === undefined);
  const candidates = kept.includes(datacenter) ? kept : [datacenter];
  const issued = await issueRouteTicket(ctx.keys, {
    issuer: ctx.config.issuer,
    participant: ticket.sub,
    meeting: meeting.id,
    candidates,
    candidateJurisdictions: candidates.map((dc) => jurisdictionOf(ctx, dc)),
    ice: routeIceAllowance(manifest, candidates, decision.allowedJurisdictions),
    // Each keeps the role the route gave it; the attempt rules are the manifest's in force.
    candidateRoles: candidates.map((dc) => ticket.candidateRoles[ticket.candidates.indexOf(dc)] ?? 'secondary'),
    attempts: decision.attempts,
    decision: ticket.decision,
    country: ticket.country,
    name: ticket.name,
    manifest: sha256,
    policy,
    expiresInSeconds: ctx.config.routeTicketSeconds,
  });
  return issued.token;
}

/** The policy as the response schema types it (plain arrays). */
function mutableCopy(policy: MeetingPolicy): Static<typeof MeetingPolicySchema> {
  return {
    hostCountry: policy.hostCountry,
    ...(policy.plan !== undefined ? { plan: policy.plan } : {}),
    ...(policy.accountJurisdictions ? { accountJurisdictions: [...policy.accountJurisdictions] } : {}),
    ...(policy.meetingJurisdictions ? { meetingJurisdictions: [...policy.meetingJurisdictions] } : {}),
    ...(policy.cascade === true ? { cascade: true as const } : {}),
  };
}

/**
 * A member of a cascaded meeting this broker does not know (it restarted
 * since the member was admitted) speaks: it says it holds the group, or,
 * still waiting to be added, sends its key package again. Its route ticket
 * says who it is, the store must still list that session at this bridge,
 * admitted before this process started, and no other session of it may be
 * in the group. Then it is taken back in
 * (`rejoinGroup`): one that holds the group goes on in it; one whose group
 * moved on without it (a commit was accepted before it spoke) is sent to
 * reconnect (`GROUP_MOVED_ON`) and is added anew. Its message is then
 * handled as any member's.
 */
async function rejoin(ctx: BrokerContext, datacenter: string, body: Static<typeof GroupSubmission>): Promise<boolean> {
  const { message } = body;
  const notMember = (why: string): GeobridgeError => new GeobridgeError('NOT_A_MEMBER', `participant '${body.participant}' is not admitted to meeting '${body.meeting}' in ${datacenter} under this session (${why}); its MLS messages are not relayed.`);
  const holding = message.type === 'mls-joined' && message.tag !== undefined ? { epoch: message.epoch, tag: message.tag } : undefined;
  if (holding === undefined && !(message.type === 'mls' && message.kind === 'key-package')) throw notMember('only its word that it holds the group, or its key package, takes it back in');
  const ticket = await verifyRouteTicket(ctx.keys, body.ticket ?? '', { now: ctx.now(), datacenter, jurisdiction: fenceCheck(ctx, datacenter) });
  if (ticket.sub !== body.participant || ticket.meeting !== body.meeting || ticket.decision !== body.session) throw notMember('its ticket names another participant, meeting or session');
  const stored = (await ctx.store.listParticipants(body.meeting)).find((p) => p.id === body.participant);
  if (stored?.session !== body.session || stored.datacenter !== datacenter) throw notMember('the store does not list it here');
  if (stored.joinedAt >= ctx.startedAt) throw notMember('this broker admitted it itself, so it never forgot it');
  // Awaited above: it may have been admitted again meanwhile, under this session or a newer one.
  const handled = (): boolean => submitToGroup(ctx, body.meeting, datacenter, body.participant, body.session, message);
  if (isGroupMember(ctx, body.meeting, body.participant, body.session)) return handled();
  if (groupMembers(ctx, body.meeting).some((m) => m.id === body.participant)) throw notMember('another session of it is in the group');
  const entry = rejoinGroup(ctx, body.meeting, { id: body.participant, name: ticket.name, country: ticket.country, datacenter, session: ticket.decision }, holding);
  // Its key package goes to those who hold the group, as any newcomer's.
  if (holding === undefined) return handled();
  if (entry === 'continue') return true;
  // The group moved on without it (others committed before it spoke): it reconnects, and is added with a key package.
  await ctx.control.evict(datacenter, { meeting: body.meeting, participant: body.participant, session: body.session, code: 'GROUP_MOVED_ON', reason: `the meeting's group moved on from epoch ${holding.epoch} while the broker restarted; reconnect to be added to it` });
  return false;
}

/** Whose records a ticket's participant's are: their country, narrowed to what the decider allows them now (records obey what media obeys). */
function subjectOfTicket(ctx: BrokerContext, ticket: RouteTicketClaims): RecordSubject {
  const { manifest } = ctx.policy.current;
  return { country: ticket.country, ...(manifest.stores.length > 0 ? { accountJurisdictions: ticketJurisdictions(manifest, ticket) } : {}) };
}

/**
 * Records about a participant go to their record store. When the broker
 * cannot know their country (no ticket, not a member) and the manifest
 * declares stores, the broker's own log keeps the record without their id:
 * who they are has nowhere known to be inside their fence.
 */
async function recordAboutParticipant(ctx: BrokerContext, type: AuditType, data: Readonly<Record<string, unknown>> & { readonly participant: string }, subject: RecordSubject | undefined): Promise<Recorded> {
  if (subject !== undefined || ctx.policy.current.manifest.stores.length === 0) return recordAudit(ctx, type, data, subject);
  return recordAudit(ctx, type, { ...data, participant: null });
}

/** The admission's audit record: who, from where, into which jurisdiction, in or out of their zone. */
async function recordAdmission(ctx: BrokerContext, datacenter: string, ticket: RouteTicketClaims, subject: RecordSubject): Promise<void> {
  const policy = compilePolicy(ctx.policy.current.manifest);
  const dc = policy.datacenterById.get(datacenter);
  const zone = policy.zoneFor(ticket.country);
  await recordAudit(ctx, 'bridge.admission', {
    participant: ticket.sub,
    meeting: ticket.meeting,
    datacenter,
    jurisdiction: dc?.jurisdiction ?? null,
    role: zone?.primaries.includes(datacenter) ? 'primary' : 'secondary',
    country: ticket.country,
    zone: zone?.id ?? null,
    outOfZone: zone && dc ? !policy.countriesOf(zone).has(dc.jurisdiction) : null,
    decision: ticket.decision,
  }, subject);
}
