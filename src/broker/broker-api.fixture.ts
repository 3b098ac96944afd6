/**
 * The broker's API as the HTTP tests drive it through `inject()`: accounts,
 * meetings, join tokens, routes, and the bridge API signed as any datacenter
 * (claims with route tickets, admission reports). Bound to a getter, so a
 * test may replace its broker and keep the helpers.
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { compilePolicy } from '../core/policy/compile.js';
import { ADMIN_TOKEN, type TestBroker } from './test-broker.fixture.js';
import { meetingPolicyOf } from './route-request.js';
import { issueRouteTicket } from './tickets.js';
import { decided } from './route-answer.fixture.js';

/** The admin token as a header. */
export const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** The helpers, on whatever broker `current()` returns when called. */
export function brokerApi(current: () => TestBroker) {
  let claimants = 0;

  function call(options: InjectOptions): Promise<LightMyRequestResponse> {
    return current().app.inject(options);
  }

  async function account(body: Record<string, unknown> = { name: 'Acme', homeCountry: 'US' }): Promise<{ id: string; apiKey: string }> {
    const res = await call({ method: 'POST', url: '/v1/accounts', headers: admin, payload: body });
    expect(res.statusCode, res.body).toBe(201);
    const json = res.json<{ account: { id: string }; apiKey: string }>();
    return { id: json.account.id, apiKey: json.apiKey };
  }

  async function meeting(apiKey: string, body: Record<string, unknown> = { title: 'Standup' }): Promise<string> {
    const res = await call({ method: 'POST', url: '/v1/meetings', headers: { authorization: `Bearer ${apiKey}` }, payload: body });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ id: string }>().id;
  }

  async function joinToken(apiKey: string, meetingId: string): Promise<{ token: string; participant: string }> {
    const res = await call({ method: 'POST', url: `/v1/meetings/${meetingId}/join-tokens`, headers: { authorization: `Bearer ${apiKey}` }, payload: { name: 'Ada' } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }

  async function allBridgesUp(except: readonly string[] = []): Promise<void> {
    for (const dc of current().ctx.policy.current.manifest.datacenters) {
      if (except.includes(dc.id)) continue;
      const res = await call({ method: 'POST', url: '/v1/bridges/heartbeat', payload: { message: await current().signAs(dc.id, { kind: 'heartbeat', participants: 0, cpu: 0.1, draining: false }) } });
      expect(res.statusCode, res.body).toBe(200);
    }
  }

  /** A route request from a public address of `ip`'s country. */
  function route(token: string, ip = '8.8.8.8', extra: Partial<InjectOptions> = {}): Promise<LightMyRequestResponse> {
    return call({ method: 'POST', url: '/v1/route', headers: { authorization: `Bearer ${token}` }, remoteAddress: ip, payload: {}, ...extra });
  }

  /** A route ticket the broker could have issued to a participant from `country`, naming only `datacenter` (and the manifest in force, unless given). */
  async function ticketAt(datacenter: string, meetingId: string, country = 'US', manifestSha256?: string): Promise<string> {
    const { ctx } = current();
    const { manifest, sha256 } = ctx.policy.current;
    const jurisdiction = compilePolicy(manifest).datacenterById.get(datacenter)?.jurisdiction ?? 'US';
    const meeting = await ctx.store.getMeeting(meetingId);
    const account = meeting && (await ctx.store.getAccount(meeting.accountId));
    const policy = meetingPolicyOf(account, meeting) ?? { hostCountry: country };
    const participant = `p-claimant-${String(++claimants)}`;
    const issued = await issueRouteTicket(ctx.keys, {
      issuer: 'http://broker.test',
      participant,
      meeting: meetingId,
      candidates: [datacenter],
      candidateJurisdictions: [jurisdiction],
      decision: `dec-${participant}`,
      country,
      name: 'Claimant',
      manifest: manifestSha256 ?? sha256,
      policy,
      ice: {},
      candidateRoles: ['primary'],
      attempts: { perPrimary: 2, timeoutMs: 1500 },
    });
    return issued.token;
  }

  /** The bridge of `datacenter` claims the meeting for a participant whose ticket it holds. */
  async function claimWith(datacenter: string, meetingId: string, ticket: string): Promise<LightMyRequestResponse> {
    return call({ method: 'POST', url: '/v1/bridges/placements', payload: { message: await current().signAs(datacenter, { kind: 'claim', meeting: meetingId, ticket }) } });
  }

  async function claim(datacenter: string, meetingId: string, country = 'US'): Promise<{ won: boolean; datacenter: string; epoch: number }> {
    const res = await claimWith(datacenter, meetingId, await ticketAt(datacenter, meetingId, country));
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  /** A signed admission report (`admitted`, `refused` or `left`) from `datacenter`'s bridge. */
  async function admission(datacenter: string, report: Readonly<Record<string, unknown>>): Promise<LightMyRequestResponse> {
    return call({ method: 'POST', url: '/v1/bridges/admissions', payload: { message: await current().signAs(datacenter, { kind: 'admission', ...report }) } });
  }

  /** Routes a new participant of meeting `m` and has the bridge of its first candidate admit it. */
  /** Routes a new participant of meeting `m`, and has the bridge of its first candidate claim the meeting and admit it. */
  async function routeAndAdmit(apiKey: string, m: string, extra: Partial<InjectOptions> = {}, ip = '8.8.8.8'): Promise<{ participant: string; ticket: string; decisionId: string; datacenter: string }> {
    const { token, participant } = await joinToken(apiKey, m);
    const res = await route(token, ip, extra);
    expect(res.statusCode, res.body).toBe(200);
    const { ticket, decisionId, candidates } = decided(res.json<{ ticket: string }>());
    const datacenter = candidates[0]?.datacenter ?? '';
    const claimed = await claimWith(datacenter, m, ticket);
    expect(claimed.statusCode, claimed.body).toBe(200);
    const admitted = await admission(datacenter, { participant, meeting: m, outcome: 'admitted', ticket });
    expect(admitted.statusCode, admitted.body).toBe(200);
    return { participant, ticket, decisionId, datacenter };
  }

  return { call, account, meeting, joinToken, allBridgesUp, route, ticketAt, claimWith, claim, admission, routeAndAdmit };
}
