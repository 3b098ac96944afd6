/**
 * The operator's API (admin token): accounts and their data routing control,
 * and the signing keys (list, rotate, revoke). Every action is audited.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Type } from 'typebox';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { isCountryCode } from '../../core/geo/countries.js';
import type { Manifest } from '../../core/manifest/types.js';
import { compilePolicy } from '../../core/policy/compile.js';
import { isRefusal, selectDatacenters } from '../../core/select/select.js';
import type { BrokerApp } from './broker-app.js';
import { requireAdmin, sha256Hex } from '../auth.js';
import { recordAudit, unauditedAndKept, type BrokerContext } from '../context.js';
import { announceRecheck, holdersOf, recheckLiveMeetings } from '../recheck.js';
import { meetingPolicyOf } from '../route-request.js';
import type { Account } from '../store/store.js';
import { etagOf, ifMatchVersion } from './if-match.js';
import { AccountSchema, BEARER, CountryCode } from './schemas.js';

const PolicyBody = {
  plan: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  allowedJurisdictions: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 300 })),
};

/** The account as the API shows it. */
export function publicAccount(a: Account): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    homeCountry: a.homeCountry,
    createdAt: a.createdAt,
    ...(a.plan !== undefined ? { plan: a.plan } : {}),
    ...(a.allowedJurisdictions ? { allowedJurisdictions: a.allowedJurisdictions } : {}),
    policyRevision: a.policyRevision ?? 0,
  };
}

/**
 * Validates an account policy against the manifest: the plan exists, the
 * jurisdictions are codes or groups, and the narrowing leaves the home
 * country's zone at least one primary (otherwise every meeting would be
 * refused, or served only by backups).
 */
export function checkAccountPolicy(manifest: Manifest, homeCountry: string, plan: string | undefined, jurisdictions: readonly string[] | undefined): string[] | undefined {
  if (!isCountryCode(homeCountry)) throw new GeobridgeError('VALIDATION', `homeCountry '${homeCountry}' is not an ISO 3166-1 alpha-2 code.`);
  const policy = compilePolicy(manifest);
  if (plan !== undefined && !policy.planById.has(plan)) throw new GeobridgeError('UNKNOWN_PLAN', `plan '${plan}' is not defined in the manifest in force (plans: ${[...policy.planById.keys()].join(', ') || 'none'}).`);
  const codes = jurisdictions === undefined ? undefined : [...policy.expand(jurisdictions)].sort();
  const bad = (codes ?? []).filter((c) => !isCountryCode(c));
  if (bad.length > 0) throw new GeobridgeError('INVALID_COUNTRY', `allowedJurisdictions: ${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} neither ISO codes nor groups of the manifest.`);
  const decision = selectDatacenters(manifest, { country: homeCountry, ...(plan !== undefined ? { plan } : {}), ...(codes ? { accountJurisdictions: codes } : {}) });
  if (isRefusal(decision) || !decision.candidates.some((c) => c.role === 'primary')) {
    const zone = policy.zoneFor(homeCountry);
    const primaries = (zone?.primaries ?? []).map((id) => `${id} (${policy.datacenterById.get(id)?.jurisdiction ?? '?'})`);
    throw new GeobridgeError(
      'POLICY_STRANDS_HOME_ZONE',
      `with this policy, participants from ${homeCountry} (zone ${zone?.id ?? 'none'}) would have no primary datacenter: the zone's primaries are ${primaries.join(', ') || 'none'}. Allow one of their jurisdictions, or choose another plan.`,
    );
  }
  return codes;
}

/** A signing key as GET /v1/admin/keys lists it (never its private half). */
const KeyInfoSchema = Type.Object(
  {
    kid: Type.String({ description: 'RFC 7638 thumbprint, as in the JWKS and in every token header' }),
    state: Type.Union([Type.Literal('current'), Type.Literal('retired'), Type.Literal('revoked')], { description: 'current signs; retired verifies until verifiesUntil; revoked verifies nothing' }),
    createdAt: Type.String(),
    holder: Type.Optional(Type.String({ description: 'The broker that signs with it (DATA/keys/holder), when brokers share a store; each broker has its own current key' })),
    retiredAt: Type.Optional(Type.String()),
    revokedAt: Type.Optional(Type.String()),
    verifiesUntil: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** POST/GET /v1/accounts, PUT /v1/accounts/:id/policy, GET /v1/admin/keys, POST /v1/admin/keys/rotate and /revoke. */
export function adminRoutes(app: BrokerApp, ctx: BrokerContext): void {
  app.post(
    '/v1/accounts',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create an account; its API key is shown once',
        security: BEARER,
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }), homeCountry: CountryCode, ...PolicyBody }, { additionalProperties: false }),
        response: { 201: Type.Object({ account: AccountSchema, apiKey: Type.String() }) },
      },
    },
    async (request, reply) => {
      requireAdmin(ctx, request);
      const { name, homeCountry, plan } = request.body;
      const allowedJurisdictions = checkAccountPolicy(ctx.policy.current.manifest, homeCountry, plan, request.body.allowedJurisdictions);
      const apiKey = `gbk_${randomBytes(24).toString('base64url')}`;
      const account: Account = {
        id: `acc_${randomUUID()}`,
        name,
        homeCountry,
        apiKeyHash: sha256Hex(apiKey),
        createdAt: ctx.now().toISOString(),
        ...(plan !== undefined ? { plan } : {}),
        ...(allowedJurisdictions ? { allowedJurisdictions } : {}),
      };
      await ctx.store.createAccount(account);
      await recordAudit(ctx, 'admin.action', { actor: 'admin', action: 'account.create', target: account.id, plan: plan ?? null, allowedJurisdictions: allowedJurisdictions ?? null });
      return reply.status(201).send({ account: publicAccount(account) as never, apiKey });
    },
  );

  app.get('/v1/accounts', { schema: { tags: ['admin'], summary: 'List accounts', security: BEARER, response: { 200: Type.Object({ accounts: Type.Array(AccountSchema) }) } } }, async (request) => {
    requireAdmin(ctx, request);
    return { accounts: (await ctx.store.listAccounts()).map(publicAccount) as never };
  });

  app.get(
    '/v1/accounts/:id',
    { schema: { tags: ['admin'], summary: "One account; its `ETag` is its policy's revision, for `If-Match` on PUT …/policy", security: BEARER, params: Type.Object({ id: Type.String({ maxLength: 100 }) }), response: { 200: AccountSchema } } },
    async (request, reply) => {
      requireAdmin(ctx, request);
      const account = await ctx.store.getAccount(request.params.id);
      if (!account) throw new GeobridgeError('NOT_FOUND', `no account '${request.params.id}'.`);
      void reply.header('etag', etagOf(account.policyRevision ?? 0));
      return publicAccount(account) as never;
    },
  );

  app.put(
    '/v1/accounts/:id/policy',
    {
      schema: {
        tags: ['admin'],
        summary:
          'Set the plan and data routing control (allowed jurisdictions) of an account; it narrows, never widens. With `If-Match: "N"` (the ETag of GET /v1/accounts/:id), only while the policy is at revision N: 412 ACCOUNT_POLICY_CHANGED otherwise',
        security: BEARER,
        params: Type.Object({ id: Type.String({ maxLength: 100 }) }),
        headers: Type.Object({ 'if-match': Type.Optional(Type.String({ description: "The ETag of GET /v1/accounts/:id: the policy revision this change was made on" })) }),
        body: Type.Object(PolicyBody, { additionalProperties: false }),
        response: { 200: AccountSchema },
      },
    },
    async (request, reply) => {
      requireAdmin(ctx, request);
      // The bridges other brokers hold hear of the change only over the bus: refused rather than heard by some.
      ctx.cluster?.assertReady('policy changes');
      const existing = await ctx.store.getAccount(request.params.id);
      if (!existing) throw new GeobridgeError('NOT_FOUND', `no account '${request.params.id}'.`);
      const after = ifMatchVersion(request.headers['if-match'], existing.policyRevision ?? 0, `GET /v1/accounts/${existing.id}`);
      if (after !== undefined && after !== (existing.policyRevision ?? 0)) throw policyChanged(existing.id, after, `it is at revision ${String(existing.policyRevision ?? 0)}`);
      const { plan } = request.body;
      const allowedJurisdictions = checkAccountPolicy(ctx.policy.current.manifest, existing.homeCountry, plan, request.body.allowedJurisdictions);
      const updated = await ctx.store.updateAccountPolicy(existing.id, { ...(plan !== undefined ? { plan } : {}), ...(allowedJurisdictions ? { allowedJurisdictions } : {}) }, after).catch((error: unknown) => {
        // Changed through another broker, or by another request here, since this one read it.
        throw isGeobridgeError(error) && error.code === 'STORE_CONFLICT' && after !== undefined ? policyChanged(existing.id, after, error.message) : error;
      });
      try {
        await recordAudit(ctx, 'admin.action', { actor: 'admin', action: 'account.policy', target: existing.id, plan: plan ?? null, allowedJurisdictions: allowedJurisdictions ?? null });
      } catch (error) {
        throw await withdrawUnaudited(ctx, existing, updated.policyRevision ?? 0, error, (line) => { request.log.error(line); });
      }
      // The account's live meetings move (or end) if the new policy excludes where they are, and cascaded ones lose the
      // members it excludes; every bridge holding their media re-checks everyone (a cascade's sending bridges, their hops).
      await ctx.policy.exclusive(async () => {
        const recheck = await recheckLiveMeetings(ctx, ctx.policy.current.manifest, existing.id);
        for (const meeting of await ctx.store.listLiveMeetings()) {
          if (meeting.accountId !== existing.id) continue;
          const policy = meetingPolicyOf(updated, meeting, ctx.config.cascade);
          for (const datacenter of await holdersOf(ctx, meeting.id)) await ctx.control.meetingPolicy(datacenter, meeting.id, policy, updated.policyRevision ?? 0);
        }
        await announceRecheck(ctx, recheck);
      });
      void reply.header('etag', etagOf(updated.policyRevision ?? 0));
      return publicAccount(updated) as never;
    },
  );

  app.get('/v1/admin/keys', { schema: { tags: ['admin'], summary: 'The signing keys, newest first, and their state', security: BEARER, response: { 200: Type.Object({ keys: Type.Array(KeyInfoSchema) }) } } }, async (request) => {
    requireAdmin(ctx, request);
    // Another broker on the same store may have rotated or revoked.
    await ctx.keys.refresh();
    return { keys: ctx.keys.list() };
  });

  app.post('/v1/admin/keys/rotate', { schema: { tags: ['admin'], summary: 'Rotate the ticket signing key; tickets in flight stay valid', security: BEARER, response: { 200: Type.Object({ kid: Type.String() }) } } }, async (request) => {
    requireAdmin(ctx, request);
    ctx.cluster?.assertReady('key changes');
    const kid = await ctx.keys.rotate();
    await recordAudit(ctx, 'admin.action', { actor: 'admin', action: 'keys.rotate', target: kid });
    // Bridges fetch the new key now, not when the first ticket it signed surprises them.
    await ctx.control.keysChanged();
    return { kid };
  });

  app.post(
    '/v1/admin/keys/revoke',
    {
      schema: {
        tags: ['admin'],
        summary: 'Revoke a signing key: it verifies nothing from now on, here and on every bridge, and whoever a bridge admitted with a ticket it signed must route again (a current key is first rotated)',
        security: BEARER,
        body: Type.Object({ kid: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ kid: Type.String(), revokedAt: Type.String(), rotatedTo: Type.Optional(Type.String()) }, { additionalProperties: false }) },
      },
    },
    async (request) => {
      requireAdmin(ctx, request);
      // A revocation that reached only the bridges here would leave the others accepting the key.
      ctx.cluster?.assertReady('key changes');
      await ctx.keys.refresh();
      const revocation = await ctx.keys.revoke(request.body.kid);
      await recordAudit(ctx, 'admin.action', { actor: 'admin', action: 'keys.revoke', target: revocation.kid, rotatedTo: revocation.rotatedTo ?? null });
      // Answered once every connected bridge has been sent the revocation.
      await ctx.control.keysChanged();
      return revocation;
    },
  );
}

function policyChanged(id: string, after: number, what: string): GeobridgeError {
  const since = after < 0 ? 'the revision the If-Match header names (none of its tags is one GET gives)' : `revision ${String(after)}, which this change was made on`;
  return new GeobridgeError(
    'ACCOUNT_POLICY_CHANGED',
    `the policy of account ${id} changed since ${since} (${what}); nothing was changed. Read the account again (GET /v1/accounts/${id}), redo the change on it and send it with its new ETag.`,
  );
}

/**
 * A policy change whose audit record could not be written must not stay in
 * force: the policy before it comes back (its revision counts on, so bridges
 * take it), unless another change has landed on it since, which then stands.
 * Returns the error to answer with: the audit's, or one that says the
 * change is in force unaudited when the old policy could not be put back.
 */
async function withdrawUnaudited(ctx: BrokerContext, existing: Account, revision: number, auditError: unknown, log: (line: string) => void): Promise<unknown> {
  const previous = { ...(existing.plan !== undefined ? { plan: existing.plan } : {}), ...(existing.allowedJurisdictions ? { allowedJurisdictions: existing.allowedJurisdictions } : {}) };
  try {
    await ctx.store.updateAccountPolicy(existing.id, previous, revision);
    return auditError;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    if (isGeobridgeError(error) && error.code === 'STORE_CONFLICT') {
      log(`account ${existing.id}: the policy change at revision ${String(revision)} could not be audited; another change has landed on it since and stands (${why})`);
      return auditError;
    }
    log(`account ${existing.id}: the policy change at revision ${String(revision)} could not be audited, nor withdrawn (${why}); it is in force unaudited`);
    return unauditedAndKept(auditError, `and the policy before it could not be put back (${why}), so the change is in force but not in the audit log. Send the same change again once the log is back: it is then audited.`);
  }
}
