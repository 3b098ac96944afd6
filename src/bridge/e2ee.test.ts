/**
 * The meeting's MLS group over a real bridge and broker (Node participants):
 * members converge on one epoch and one security code, a leaver is removed
 * (new epoch, new code, keys it never sees), and a newcomer joins by Welcome.
 */
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeSession, type SessionEvent } from '../sdk/node.js';
import type { Session } from '../sdk/session.js';
import { startCluster, type Cluster } from './cluster.fixture.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east'], ['us-east']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});

interface Member {
  readonly name: string;
  readonly session: Session<MediaStreamTrack>;
  readonly events: SessionEvent<MediaStreamTrack>[];
}

type Epoch = Extract<SessionEvent<MediaStreamTrack>, { type: 'e2ee' }>;

function latest(m: Member): Epoch | undefined {
  return m.events.findLast((e): e is Epoch => e.type === 'e2ee');
}

async function join(meeting: string, name: string): Promise<Member> {
  const events: SessionEvent<MediaStreamTrack>[] = [];
  const session = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, name), country: 'US', e2ee: true, onEvent: (e) => events.push(e) });
  session.join();
  return { name, session, events };
}

/** Waits until every member is in the same epoch with `size` members. */
async function converged(members: readonly Member[], size: number, ms = 20_000): Promise<Epoch[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const epochs = members.map(latest);
    const first = epochs[0];
    if (first && epochs.every((e) => e?.epoch === first.epoch && e.members.length === size)) return epochs as Epoch[];
    if (Date.now() > deadline) {
      const errors = members.flatMap((m) => m.events.filter((e) => e.type === 'e2ee-error'));
      throw new Error(`no convergence: ${JSON.stringify(epochs.map((e) => e && { epoch: String(e.epoch), members: e.members.length }))} errors ${JSON.stringify(errors)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('MLS group over the bridge', () => {
  it('three members share one epoch and security code; a leaver is removed; a newcomer joins by Welcome', async () => {
    const meeting = await cluster.meeting();
    const ada = await join(meeting, 'Ada');
    await converged([ada], 1);
    const bo = await join(meeting, 'Bo');
    const cy = await join(meeting, 'Cy');
    const three = await converged([ada, bo, cy], 3);
    const code = three[0]?.securityCode ?? '';
    expect(code).toMatch(/^\d{5}( \d{5}){5}$/);
    expect(new Set(three.map((e) => e.securityCode))).toEqual(new Set([code]));
    expect(new Set(three.map((e) => Buffer.from(e.keys.baseKey).toString('hex'))).size).toBe(1);
    expect(three[0]?.members.map((m) => m.name).sort()).toEqual(['Ada', 'Bo', 'Cy']);

    // Bo leaves: Ada and Cy move to an epoch Bo is not in, with a new code and key.
    const boLast = latest(bo);
    bo.session.leave();
    const two = await converged([ada, cy], 2);
    expect(two[0]?.epoch).toBeGreaterThan(three[0]?.epoch ?? 0n);
    expect(two[0]?.securityCode).not.toBe(code);
    expect(Buffer.from(two[0]?.keys.baseKey ?? []).equals(Buffer.from(boLast?.keys.baseKey ?? []))).toBe(false);
    expect(latest(bo)?.epoch).toBe(boLast?.epoch);

    // A newcomer joins the running group.
    const dee = await join(meeting, 'Dee');
    const again = await converged([ada, cy, dee], 3);
    expect(new Set(again.map((e) => e.securityCode)).size).toBe(1);
    for (const m of [ada, cy, dee]) m.session.leave();
  }, 60_000);
});
