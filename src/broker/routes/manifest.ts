/**
 * The manifest in force: read it, or replace it (admin). A new manifest is
 * verified first and rejected with its diagnostics when it has errors; an
 * accepted one is versioned, audited with its exposure diff, every live
 * meeting is re-checked against it, and every bridge gets it at once.
 */
import { Type } from 'typebox';
import { GeobridgeError, isGeobridgeError } from '../../core/errors.js';
import { parseManifest } from '../../core/manifest/parse.js';
import type { Manifest } from '../../core/manifest/types.js';
import { checkManifest } from '../../core/verify/check.js';
import type { Diagnostic } from '../../core/diagnostics.js';
import { diffManifests, type ManifestDiff } from '../../core/verify/diff.js';
import type { BrokerApp } from './broker-app.js';
import { requireAdmin, sha256Hex } from '../auth.js';
import { recordAudit, unauditedAndKept, type BrokerContext } from '../context.js';
import { storesWithoutDatabase } from '../audit/record-logs.js';
import { errorBody } from '../http-errors.js';
import { announceRecheck, recheckLiveMeetings } from '../recheck.js';
import { etagOf, ifMatchVersion } from './if-match.js';
import { BEARER } from './schemas.js';

/** GET and PUT /v1/manifest. */
export function manifestRoutes(app: BrokerApp, ctx: BrokerContext): void {
  app.get(
    '/v1/manifest',
    { schema: { tags: ['manifest'], summary: 'The manifest in force; its `ETag` is its version, for `If-Match` on PUT', security: BEARER, response: { 200: Type.Object({ version: Type.Integer(), sha256: Type.String(), text: Type.String() }) } } },
    (request, reply) => {
      requireAdmin(ctx, request);
      const { version, sha256, text } = ctx.policy.current;
      void reply.header('etag', etagOf(version));
      return { version, sha256, text };
    },
  );

  app.put(
    '/v1/manifest',
    {
      schema: {
        tags: ['manifest'],
        summary: 'Replace the manifest (YAML body); rejected with diagnostics when `check` finds errors. With `If-Match: "N"` (the ETag of GET), only while version N is in force: 412 MANIFEST_CHANGED otherwise',
        security: BEARER,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String({ description: 'The ETag of GET /v1/manifest: the version this change was made on' })) }),
        consumes: ['application/yaml'],
        body: Type.String({ minLength: 1, maxLength: 1024 * 1024 }),
        response: {
          200: Type.Object({
            version: Type.Integer(),
            sha256: Type.String(),
            warnings: Type.Array(Type.Unknown(), { description: 'Diagnostics of severity warning, as `geobridge check --json`' }),
            diff: Type.Unknown({ description: 'The exposure diff, as `geobridge diff --json`' }),
            recheck: Type.Object({
              checked: Type.Integer(),
              rehomed: Type.Array(Type.Object({ meeting: Type.String(), from: Type.String(), to: Type.String() })),
              ended: Type.Array(Type.Object({ meeting: Type.String(), reason: Type.String() })),
            }),
          }),
          422: Type.Object({ statusCode: Type.Integer(), code: Type.String(), error: Type.String(), message: Type.String(), diagnostics: Type.Optional(Type.Array(Type.Unknown())) }),
        },
      },
    },
    async (request, reply) => {
      requireAdmin(ctx, request);
      const text = request.body;
      if (typeof text !== 'string') throw new GeobridgeError('UNSUPPORTED_MEDIA_TYPE', 'send the manifest as YAML text with Content-Type: application/yaml.');
      const outcome = await applyManifest(ctx, text, 'admin', ifMatchVersion(request.headers['if-match'], ctx.policy.current.version, 'GET /v1/manifest'));
      if (!outcome.ok) return reply.status(422).send(outcome.refusal);
      void reply.header('etag', etagOf(outcome.applied.version));
      return outcome.applied;
    },
  );
}

/** What applying a manifest gave: the new version, or the refusal (422 body, with the diagnostics). */
export type ManifestOutcome =
  | { readonly ok: true; readonly applied: { version: number; sha256: string; warnings: Diagnostic[]; diff: ManifestDiff; recheck: { checked: number; rehomed: { meeting: string; from: string; to: string }[]; ended: { meeting: string; reason: string }[] } } }
  | { readonly ok: false; readonly refusal: ReturnType<typeof errorBody> & { diagnostics: Diagnostic[] } };

/**
 * Verifies a manifest and, when it is clean, puts it in force: versioned,
 * audited with its exposure diff and `actor`, every live meeting re-checked,
 * every bridge told. A refusal is audited too and changes nothing. The one
 * path for `PUT /v1/manifest` and the console's apply.
 *
 * With `after` (the version the change was read or reviewed against), it
 * lands only on that version, checked in the store's transaction (a version
 * newer than this broker's may have been read through another broker):
 * otherwise MANIFEST_CHANGED, and nothing changes. Two admins editing the
 * same version cannot silently undo each other, and an exposure diff
 * approved in the console is the one that comes into force.
 */
export async function applyManifest(ctx: BrokerContext, text: string, actor: string, after?: number): Promise<ManifestOutcome> {
  // The other brokers, and through them their bridges, hear of a new manifest only over the bus.
  ctx.cluster?.assertReady('manifest changes');
  if (after !== undefined) assertNotBehind(ctx, after);
  const parsed = parseManifest(text, 'manifest.yaml');
  const diagnostics = checkManifest(parsed);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const refuse = async (reason: readonly string[], message: string): Promise<ManifestOutcome> => {
    await recordAudit(ctx, 'manifest.rejected', { actor, sha256: sha256Hex(text), errors: reason });
    return { ok: false, refusal: { ...errorBody('MANIFEST_REJECTED', message), diagnostics } };
  };
  if (!parsed.manifest || errors.length > 0) return refuse(errors.map((d) => `${d.line}:${d.column} ${d.code}`), `the manifest has ${errors.length} error(s); nothing was changed. Run 'geobridge check' on it.`);
  const manifest = parsed.manifest;
  // Accounts keep their plan across manifests: a manifest that drops a plan in use is refused.
  const plans = new Set(manifest.plans.map((p) => p.id));
  const orphaned = (await ctx.store.listAccounts()).filter((a) => a.plan !== undefined && !plans.has(a.plan));
  if (orphaned.length > 0) {
    const names = [...new Set(orphaned.map((a) => a.plan))].join(', ');
    return refuse([`plans in use: ${names}`], `the manifest drops plan(s) ${names}, which ${orphaned.length} account(s) use; move those accounts to another plan first. Nothing was changed.`);
  }
  // A store without a database here would leave its participants unroutable: declared stores need one first.
  const unserved = storesWithoutDatabase(manifest, ctx.storeLogs.names);
  if (unserved.length > 0) {
    return refuse([`record stores without a database: ${unserved.join(', ')}`], `the manifest declares record store(s) ${unserved.join(', ')}, which have no database on this broker; add them to --record-stores on every broker and restart them first. Nothing was changed.`);
  }
  const sha256 = sha256Hex(text);
  return ctx.policy.exclusive(async () => {
    if (after !== undefined) assertNotBehind(ctx, after);
    await retryDiscard(ctx);
    const saved = await ctx.store.saveManifest(text, sha256, actor, ctx.now().toISOString(), after).catch((error: unknown) => {
      throw isGeobridgeError(error) && error.code === 'STORE_CONFLICT' && after !== undefined ? manifestChanged(after, error.message) : error;
    });
    // Diffed against the version before it in the store: another broker may have saved one since ours came into force.
    const before = saved.version === ctx.policy.current.version + 1 ? ctx.policy.current : await storedBefore(ctx, saved.version);
    const diff = diffManifests(before.manifest, manifest);
    try {
      await recordAudit(ctx, 'manifest.changed', { actor, version: saved.version, sha256, previous: before.version, diff });
    } catch (error) {
      // In force nowhere unless audited: other brokers take the newest version in the store, so it goes.
      throw await discardUnaudited(ctx, saved.version, error);
    }
    // In force here only once audited.
    ctx.policy.replace({ manifest, version: saved.version, sha256, text });
    const recheck = await recheckLiveMeetings(ctx, manifest);
    // The bridges re-check their participants against the new manifest, then move or close what the broker re-homed or ended.
    await ctx.control.broadcastPolicy();
    await announceRecheck(ctx, recheck);
    return { ok: true as const, applied: { version: saved.version, sha256, warnings: diagnostics.filter((d) => d.severity === 'warning'), diff, recheck: { checked: recheck.checked, rehomed: [...recheck.rehomed], ended: [...recheck.ended] } } };
  });
}

/** Unaudited versions this broker saved and could not take out of the store again; it tries at each change until it can. */
const undiscarded = new WeakMap<BrokerContext, number>();

/** Takes a version out of the store again (unless a newer one was saved on it, which then is the one other brokers take); why not, if it failed. */
async function discard(ctx: BrokerContext, version: number): Promise<string | undefined> {
  try {
    await ctx.store.discardManifest(version);
    undiscarded.delete(ctx);
    // A broker that caught up with it in the meantime goes back to the store's newest.
    ctx.cluster?.announce('policy');
    return undefined;
  } catch (error) {
    undiscarded.set(ctx, version);
    return error instanceof Error ? error.message : String(error);
  }
}

/** An unaudited version left in the store goes before anything lands on it (and before the version check, which it would fail). */
async function retryDiscard(ctx: BrokerContext): Promise<void> {
  const version = undiscarded.get(ctx);
  if (version !== undefined) await discard(ctx, version);
}

/**
 * Takes an unaudited version out of the store again; returns the error to
 * answer with: the audit's, or one that says the version stays newest in
 * the store, where other brokers may take it, when it could not be taken
 * out (this broker tries again at the next change).
 */
async function discardUnaudited(ctx: BrokerContext, version: number, auditError: unknown): Promise<unknown> {
  const why = await discard(ctx, version);
  if (why === undefined) return auditError;
  return unauditedAndKept(
    auditError,
    `and manifest version ${String(version)} could not be taken out of the store again (${why}), so other brokers may put it in force unaudited. Apply the same manifest again once the log is back: it is then audited.`,
  );
}

/** This broker must not already have a newer version than `after` in force; the store checks that `after` is its newest. */
function assertNotBehind(ctx: BrokerContext, after: number): void {
  const current = ctx.policy.current.version;
  if (after < current) throw manifestChanged(after, `version ${String(current)} is in force`);
}

function manifestChanged(after: number, what: string): GeobridgeError {
  const since = after < 0 ? 'the version the If-Match header names (none of its tags is one GET /v1/manifest gives)' : `version ${String(after)}, which this change was made against`;
  return new GeobridgeError(
    'MANIFEST_CHANGED',
    `the manifest changed since ${since} (${what}); nothing was changed. Read the manifest in force (GET /v1/manifest, or review again in the console), redo the change on it and apply it again.`,
  );
}

/** The store's newest manifest before version `version` (numbers of discarded ones stay unused), parsed: what `version` is diffed against. */
async function storedBefore(ctx: BrokerContext, version: number): Promise<{ readonly manifest: Manifest; readonly version: number }> {
  const stored = (await ctx.store.listManifests()).findLast((m) => m.version < version);
  if (stored?.version === ctx.policy.current.version) return ctx.policy.current;
  const manifest = stored && parseManifest(stored.text, `manifest v${String(stored.version)}`).manifest;
  // Every stored version was checked when it was applied; one that no longer parses is diffed against the one in force.
  return stored && manifest ? { manifest, version: stored.version } : ctx.policy.current;
}
