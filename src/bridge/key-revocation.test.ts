/**
 * The broker's signing keys as a real bridge sees them (a broker on a data
 * directory, a bridge, raw signalling sockets on 127.0.0.1): after a
 * rotation the old key's tickets are still admitted and the new key's are
 * admitted at once; after a revocation the bridge refuses the key's tickets
 * and drops whoever it admitted under it — told over the control channel,
 * within jose's 30 s JWKS cooldown, not after it.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { newChallenge } from '../sdk/bridge-proof.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { until } from './participant.fixture.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east'], ['us-east']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});

/** A fresh route ticket for a new participant of `meeting` (signed by the broker's current key). */
async function ticketFor(meeting: string): Promise<string> {
  const res = await fetch(new URL('/v1/route', cluster.broker.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${await cluster.joinToken(meeting, 'Probe')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ country: 'US' }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { ticket: string }).ticket;
}

/** A participant's signalling socket to us-east, joined with `ticket`: every message it receives, and whether it was closed. */
function joinWith(ticket: string): { messages: { type: string; code?: string }[]; closed: () => boolean; leave: () => void } {
  const messages: { type: string; code?: string }[] = [];
  let closed = false;
  const ws = new WebSocket(cluster.bridges.get('us-east')?.url ?? '', SIGNALLING_SUBPROTOCOL);
  ws.on('open', () => {
    ws.send(JSON.stringify({ type: 'join', ticket, challenge: newChallenge() }));
  });
  ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString('utf8')) as { type: string; code?: string }));
  ws.on('close', () => (closed = true));
  ws.on('error', () => undefined);
  return {
    messages,
    closed: () => closed,
    leave: () => {
      ws.close();
    },
  };
}

/** What us-east first answers to `ticket`: `admitted`, or `refused` with a code. */
async function presented(ticket: string): Promise<{ type: string; code?: string }> {
  const p = joinWith(ticket);
  await until(() => p.messages.length > 0, 10_000);
  p.leave();
  return p.messages[0] ?? { type: 'nothing' };
}

const kidOf = (token: string): string | undefined => decodeProtectedHeader(token).kid;

describe('the broker rotates its key', () => {
  it('a ticket signed before is still admitted, and one signed after is admitted at once', async () => {
    const meeting = await cluster.meeting();
    const before = await ticketFor(meeting);
    const rotated = await cluster.admin('/v1/admin/keys/rotate');
    expect(rotated.status).toBe(200);
    const after = await ticketFor(meeting);
    expect(kidOf(after)).toBe(rotated.json.kid);
    expect(kidOf(before)).not.toBe(rotated.json.kid);
    // The bridge fetched the JWKS moments ago: without being told, jose's cooldown would refuse the new kid for 30 s.
    expect(await presented(after)).toMatchObject({ type: 'admitted' });
    expect(await presented(before)).toMatchObject({ type: 'admitted' });
  }, 30_000);
});

describe('the broker revokes a key', () => {
  it('the bridge drops whoever it admitted under the key, refuses its tickets, and admits the new key’s', async () => {
    const meeting = await cluster.meeting();
    const admittedTicket = await ticketFor(meeting);
    const participant = joinWith(admittedTicket);
    await until(() => participant.messages.some((m) => m.type === 'admitted'), 10_000);
    expect(participant.messages[0]).toMatchObject({ type: 'admitted' });
    const unused = await ticketFor(meeting);
    const revoked = kidOf(admittedTicket);

    const res = await cluster.admin('/v1/admin/keys/revoke', { kid: revoked });
    expect(res.status).toBe(200);
    expect(res.json.rotatedTo).toBeDefined();
    // Told over the control channel: the participant leaves with the code, long before any 30 s cooldown could pass.
    await until(() => participant.closed(), 10_000);
    expect(participant.messages.filter((m) => m.code !== undefined)).toEqual([expect.objectContaining({ code: 'KEY_REVOKED' })]);
    expect(await presented(unused)).toMatchObject({ type: 'refused', code: 'KEY_REVOKED' });
    const fresh = await ticketFor(meeting);
    expect(kidOf(fresh)).toBe(res.json.rotatedTo);
    expect(await presented(fresh)).toMatchObject({ type: 'admitted' });
  }, 30_000);
});
