/**
 * Test fixture: Node SDK members of an end-to-end encrypted meeting on a
 * cluster (cluster.fixture.ts), with every event they emitted, and waits on
 * their group: the latest epoch each is in, and all in one epoch of a size.
 */
import type { MediaStreamTrack } from 'werift';
import { nodeSession, type SessionEvent } from '../sdk/node.js';
import type { Session } from '../sdk/session.js';
import type { Cluster } from './cluster.fixture.js';

export type Event = SessionEvent<MediaStreamTrack>;
export type Epoch = Extract<Event, { type: 'e2ee' }>;

/** A loaded 2-core machine runs other test files beside these. */
const WAIT_MS = 30_000;

export interface Member {
  readonly name: string;
  readonly session: Session<MediaStreamTrack>;
  readonly events: Event[];
}

/** Joins `meeting` as `name` from `country` (with a join token made now, unless given). */
export async function joinMember(cluster: Cluster, meeting: string, name: string, country: string, options: { readonly e2ee?: boolean; readonly joinToken?: string } = {}): Promise<Member> {
  const events: Event[] = [];
  const joinToken = options.joinToken ?? (await cluster.joinToken(meeting, name));
  const session = nodeSession({ broker: cluster.broker.url, joinToken, country, e2ee: options.e2ee ?? true, onEvent: (e) => events.push(e) });
  session.join();
  return { name, session, events };
}

/** The member's latest epoch. */
export const latest = (m: Member): Epoch | undefined => m.events.findLast((e): e is Epoch => e.type === 'e2ee');
/** Where the member is connected now. */
export const datacenterOf = (m: Member): string | undefined => m.events.findLast((e) => e.type === 'connected')?.datacenter;

/** Waits for `condition`; on timeout, throws with `what` (what there was). */
export async function until(condition: () => boolean, what: () => string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every member in one epoch of `size` members; that epoch. */
export async function converged(members: readonly Member[], size: number): Promise<Epoch> {
  const state = (): string => JSON.stringify(members.map((m) => ({ name: m.name, at: datacenterOf(m), epoch: String(latest(m)?.epoch), size: latest(m)?.members.length, code: latest(m)?.securityCode, errors: m.events.filter((e) => e.type === 'e2ee-error') })));
  await until(() => members.every((m) => latest(m) !== undefined && latest(m)?.epoch === latest(members[0] as Member)?.epoch && latest(m)?.members.length === size), state);
  return latest(members[0] as Member) as Epoch;
}
