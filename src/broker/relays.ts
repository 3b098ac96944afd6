/**
 * Cascade hops as the broker orders them (docs/cascading.md): it signs a
 * relay ticket for a planned hop (the meeting, both datacenters and their
 * bridge keys, the manifest in force, the participants whose streams may
 * cross) and sends it to the receiving bridge, which connects to the
 * sending one. Each hop opened or closed is audited once per participant
 * it carries, in that participant's record store's log, so an operator can
 * say whose media crossed into which jurisdiction, and when.
 */
import { GeobridgeError } from '../core/errors.js';
import { compilePolicy } from '../core/policy/compile.js';
import { recordAudit, type BrokerContext } from './context.js';
import { memberSubject } from './record-subject.js';
import { issueRelayTicket } from './tickets.js';

/** One hop of a meeting's plan. */
export interface Hop {
  readonly meeting: string;
  readonly from: string;
  readonly to: string;
  /** Participants (ids) whose streams the hop carries. */
  readonly streams: readonly string[];
  /** Each carried participant's country, as admitted: whose record store holds the hop's records about them. */
  readonly countries: Readonly<Record<string, string>>;
  /** Whether the meeting is end-to-end encrypted (a fence's `transit: e2ee` applies only then). */
  readonly e2ee: boolean;
  /** Carried participants whose media is not end-to-end encrypted (not, or not yet, in the meeting's group). */
  readonly clear: readonly string[];
}

/**
 * Signs the hop's relay ticket and tells the receiving bridge to open it (or
 * to take the new ticket); audited per participant carried, except those the
 * hop already carried as it was (`was`) with the same protection: a
 * participant whose media the hop now carries end-to-end encrypted, or no
 * longer does, gets a record saying so.
 */
export async function openRelay(ctx: BrokerContext, hop: Hop, was?: Hop): Promise<void> {
  const { config } = ctx;
  const fromKey = config.bridgePublicJwks[hop.from]?.x;
  const toKey = config.bridgePublicJwks[hop.to]?.x;
  const url = ctx.registry.url(hop.from) ?? config.bridgeUrls.get(hop.from);
  if (fromKey === undefined || toKey === undefined) throw new GeobridgeError('RELAY_UNKNOWN_BRIDGE', `no bridge key is configured for ${fromKey === undefined ? hop.from : hop.to}; a hop needs both bridges' keys.`);
  if (url === undefined) throw new GeobridgeError('RELAY_UNKNOWN_BRIDGE', `the bridge of ${hop.from} has no known URL; it has not enrolled.`);
  const { token } = await issueRelayTicket(ctx.keys, {
    issuer: config.issuer,
    meeting: hop.meeting,
    from: hop.from,
    to: hop.to,
    fromKey,
    toKey,
    manifest: ctx.policy.current.sha256,
    e2ee: hop.e2ee,
    streams: hop.streams,
    clear: hop.clear,
    expiresInSeconds: config.routeTicketSeconds,
  });
  const unchanged = (s: string): boolean => was !== undefined && was.streams.includes(s) && encrypted(was, s) === encrypted(hop, s);
  await auditHop(ctx, 'relay.opened', { ...hop, streams: hop.streams.filter((s) => !unchanged(s)) });
  await ctx.control.relay(hop.to, { meeting: hop.meeting, from: hop.from, url, ticket: token });
}

/**
 * Tells the receiving bridge to close the hop; audited per participant it
 * carried. With `keepOpen` the hop stays (a newer ticket drops these streams)
 * and only the audit is written.
 */
export async function closeRelay(ctx: BrokerContext, hop: Hop, reason: string, options: { readonly keepOpen?: boolean } = {}): Promise<void> {
  if (options.keepOpen !== true) await ctx.control.relayEnd(hop.to, hop.meeting, hop.from, reason);
  await auditHop(ctx, 'relay.closed', hop, reason);
}

/**
 * One record per participant carried, in their own record store's log: a
 * record names only its own subject. It says whose media (`country`) went
 * into which jurisdiction (`jurisdiction`, of `to`, as an admission's names
 * where media is held) from which (`fromJurisdiction`), under the manifest in
 * force: the audit report reads it without the manifest of the day.
 */
async function auditHop(ctx: BrokerContext, type: 'relay.opened' | 'relay.closed', hop: Hop, reason?: string): Promise<void> {
  const manifest = ctx.policy.current.manifest;
  const { datacenterById } = compilePolicy(manifest);
  const jurisdiction = datacenterById.get(hop.to)?.jurisdiction ?? null;
  const fromJurisdiction = datacenterById.get(hop.from)?.jurisdiction ?? null;
  for (const participant of hop.streams) {
    const country = hop.countries[participant];
    const data = {
      meeting: hop.meeting,
      from: hop.from,
      to: hop.to,
      participant,
      e2ee: encrypted(hop, participant),
      country: country ?? null,
      jurisdiction,
      fromJurisdiction,
      ...(reason === undefined ? {} : { reason }),
    };
    // Whose country is unknown has no record store to go to; the record stays in the broker's own log without their id.
    if (country === undefined) await recordAudit(ctx, type, { ...data, participant: null });
    else await recordAudit(ctx, type, data, await memberSubject(ctx.store, manifest, hop.meeting, country, ctx.config.cascade));
  }
}

/** Whether the hop carries the participant's media end-to-end encrypted. */
function encrypted(hop: Hop, participant: string): boolean {
  return hop.e2ee && !hop.clear.includes(participant);
}
