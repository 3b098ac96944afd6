/**
 * A command the broker sends about a meeting while a participant's admission
 * to it is under way reaches that participant too. The broker re-checks an
 * admission after writing its member row: a policy change that reads the
 * policy after that re-check lists the row and tells the member's bridge
 * (`meeting-policy`, `evict`, `move`). Those commands travel on the control
 * channel, the admission's answer on its HTTP request, and the commands can
 * come first. Before, the bridge applied them only to sessions it already
 * held, then admitted the newcomer under the policy of the older answer and
 * held the whole meeting to that older policy again: media in a
 * jurisdiction the account had just ruled out, until the next ticket renewal.
 *
 * The broker's answer is held back here, on the bridge, until the change's
 * commands have arrived: the order a loaded network may give them.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { newChallenge } from '../sdk/bridge-proof.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { until } from './participant.fixture.js';
import type { BrokerLink } from './broker-link.js';
import type { RunningBridge } from './server.js';

/** A loaded 2-core machine runs other test files beside this one. */
const WAIT_MS = 30_000;

/** Holds the bridge's first admission answer from the broker until `release`; `answered` once the broker has answered. */
function holdFirstAnswer(bridge: RunningBridge): { answered(): boolean; release(): void } {
  // The running bridge is the `Bridge` that talks to the broker through its link.
  const { link } = bridge as unknown as { readonly link: BrokerLink };
  const real = link.admitted.bind(link);
  let answered = false;
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let first = true;
  link.admitted = async (...args: Parameters<BrokerLink['admitted']>) => {
    const answer = await real(...args);
    if (!first) return answer;
    first = false;
    answered = true;
    await gate;
    return answer;
  };
  return { answered: () => answered, release: () => { release(); } };
}

async function narrowAccount(cluster: Cluster, allowedJurisdictions: readonly string[]): Promise<void> {
  const headers = { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' };
  const accounts = (await (await fetch(`${cluster.broker.url}/v1/accounts`, { headers })).json()) as { accounts: { id: string }[] };
  const res = await fetch(`${cluster.broker.url}/v1/accounts/${accounts.accounts[0]?.id ?? ''}/policy`, { method: 'PUT', headers, body: JSON.stringify({ allowedJurisdictions }) });
  expect(res.status, await res.text()).toBe(200);
}

describe.each([true, false])('cascade: %s', (cascade) => {
  let cluster: Cluster;
  const commands: string[] = [];

  beforeAll(async () => {
    const log = (line: Readonly<Record<string, unknown>>): void => {
      if (line.msg === 'control') commands.push(String(line.command));
    };
    cluster = await startCluster(['eu-central', 'ap-tokyo'], ['eu-central', 'ap-tokyo'], { cascade, routeTicketSeconds: 600, bridge: { log } });
  }, 120_000);

  afterAll(async () => {
    await cluster.close();
  }, 60_000);

  it(`${cascade ? 'a cascaded' : 'a one-home'} meeting: a newcomer whose admission answer comes after the policy change's commands is held to the change`, async () => {
    const frankfurt = cluster.bridges.get('eu-central');
    if (!frankfurt) throw new Error('no eu-central bridge');
    const held = holdFirstAnswer(frankfurt);
    const meeting = await cluster.meeting('Raced');
    // Anna (DE) joins eu-central over a bare signalling socket: no SDK gives up on the attempt while the test holds it.
    const res = await fetch(new URL('/v1/route', cluster.broker.url), { method: 'POST', headers: { authorization: `Bearer ${await cluster.joinToken(meeting, 'Anna')}`, 'content-type': 'application/json' }, body: JSON.stringify({ country: 'DE' }) });
    const { ticket } = (await res.json()) as { ticket: string };
    const ws = new WebSocket(frankfurt.url, SIGNALLING_SUBPROTOCOL);
    const got: { type: string; code?: string }[] = [];
    ws.on('message', (data: Buffer) => got.push(JSON.parse(data.toString('utf8')) as (typeof got)[number]));
    ws.on('error', () => undefined);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() }));
    try {
      await until(() => held.answered(), WAIT_MS);
      expect(held.answered(), 'the broker answered eu-central’s admission of Anna').toBe(true);

      // The broker has recorded Anna on eu-central under the old policy. The account now allows the US and Japan only
      // (Anna's fence allows Japan, not the US): the broker tells eu-central, which has not yet heard the answer.
      const before = commands.length;
      await narrowAccount(cluster, ['US', 'JP']);
      const expected = cascade ? 'evict' : 'move';
      await until(() => commands.slice(before).includes(expected), WAIT_MS);
      expect(commands.slice(before), 'what eu-central heard before the answer').toContain(expected);
      held.release();

      // A cascaded meeting loses the member the policy rules out; a one-home meeting moves to Japan, and she is told to.
      await until(() => got.some((m) => m.type === 'refused' || m.type === 'move'), WAIT_MS);
      expect(got.map((m) => (m.type === 'refused' ? `refused ${m.code ?? ''}` : m.type))).toEqual([cascade ? 'refused TICKET_OUTSIDE_FENCE' : 'move']);
      expect(frankfurt.rooms.get(meeting)?.participants.size ?? 0, 'participants held on eu-central (DE) after the account excluded DE').toBe(0);
    } finally {
      ws.terminate();
    }
  }, 120_000);
});
