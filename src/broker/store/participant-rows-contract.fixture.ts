/**
 * The ParticipantRows contract: one vitest suite every adapter must pass,
 * the participant part of the Store contract (store-contract.fixture.ts)
 * without meetings: no row here has a meeting anywhere. `open` must return
 * fresh, empty rows on every call; the suite closes them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareStrings } from '../../core/order.js';
import type { ParticipantRows } from './participant-rows.js';
import type { Participant } from './store.js';

/** A fixed ISO time `n` seconds after the epoch of the suite, so ordering tests are deterministic. */
function at(n: number): string {
  return new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();
}

function participant(id: string, meetingId: string, overrides: Partial<Participant> = {}): Participant {
  return { id, meetingId, country: 'DE', joinedAt: at(0), datacenter: 'eu-central', session: `dec-${id}`, ...overrides };
}

/** Registers the ParticipantRows contract suite for one adapter. */
export function describeParticipantRowsContract(name: string, open: () => Promise<ParticipantRows> | ParticipantRows): void {
  describe(`ParticipantRows contract: ${name}`, () => {
    let rows: ParticipantRows;

    beforeEach(async () => {
      rows = await open();
    });

    afterEach(async () => {
      await rows.close();
    });

    it('adds rows of meetings it has never heard of, and lists a meeting’s by join time, then id in code point order', async () => {
      const late = participant('p-late', 'm1', { joinedAt: at(5), plan: 'government' });
      const b = participant('p-b', 'm1', { joinedAt: at(1), country: 'FR' });
      const a = participant('p-a', 'm1', { joinedAt: at(1) });
      // 'B' sorts before 'a' by code point, after it in most locales' collations.
      const upper = participant('p-B', 'm1', { joinedAt: at(1) });
      const early = participant('p-z', 'm1', { joinedAt: at(0) });
      for (const p of [b, late, early, upper, a]) expect(await rows.addParticipant(p)).toBeUndefined();
      await rows.addParticipant(participant('p-a', 'm2'));
      // toStrictEqual: an absent plan stays absent (no `plan: undefined`).
      expect(await rows.listParticipants('m1')).toStrictEqual([early, upper, a, b, late]);
      expect(await rows.listParticipants('m2')).toStrictEqual([participant('p-a', 'm2')]);
      expect(await rows.listParticipants('nope')).toEqual([]);
    });

    it('replaces a row added again (a reconnect) and returns the row it replaced', async () => {
      const first = participant('p1', 'm1', { plan: 'standard' });
      const second = participant('p1', 'm1', { country: 'US', datacenter: 'us-east', session: 'dec-2', joinedAt: at(3) });
      expect(await rows.addParticipant(first)).toBeUndefined();
      expect(await rows.addParticipant(second)).toStrictEqual(first);
      expect(await rows.listParticipants('m1')).toStrictEqual([second]);
      expect(await rows.addParticipant(participant('p1', 'm1'))).toStrictEqual(second);
      expect(await rows.listParticipantsAt('us-east')).toEqual([]);
    });

    it('removes a row only for its current session at its datacenter: a late departure of an older session, or another bridge’s word, removes nothing', async () => {
      await rows.addParticipant(participant('p1', 'm1', { session: 'dec-old' }));
      await rows.addParticipant(participant('p1', 'm1', { session: 'dec-new', datacenter: 'us-east' }));
      expect(await rows.removeParticipant('m1', 'p1', { session: 'dec-old', datacenter: 'eu-central' })).toBe(false);
      expect(await rows.removeParticipant('m1', 'p1', { session: 'dec-old', datacenter: 'us-east' })).toBe(false);
      expect(await rows.removeParticipant('m1', 'p1', { session: 'dec-new', datacenter: 'eu-central' })).toBe(false);
      expect((await rows.listParticipants('m1')).map((p) => p.session)).toEqual(['dec-new']);
      expect(await rows.removeParticipant('m1', 'p1', { session: 'dec-new', datacenter: 'us-east' })).toBe(true);
      expect(await rows.listParticipants('m1')).toEqual([]);
      expect(await rows.removeParticipant('m1', 'p1', { session: 'dec-new', datacenter: 'us-east' })).toBe(false);
    });

    it('removes one participant only: the same id in another meeting stays', async () => {
      await rows.addParticipant(participant('p1', 'm1'));
      await rows.addParticipant(participant('p1', 'm2'));
      expect(await rows.removeParticipant('m1', 'p1', { session: 'dec-p1', datacenter: 'eu-central' })).toBe(true);
      expect(await rows.listParticipants('m2')).toStrictEqual([participant('p1', 'm2')]);
    });

    it('treats removing an absent row as a no-op', async () => {
      expect(await rows.removeParticipant('m1', 'nobody', { session: 'dec-x', datacenter: 'eu-central' })).toBe(false);
      expect(await rows.listParticipants('m1')).toEqual([]);
    });

    it('lists every row of one datacenter by meeting, then id, and removes them, returning them in that order, leaving the others', async () => {
      const a = participant('p-a', 'm1', { datacenter: 'us-east', joinedAt: at(9) });
      const b = participant('p-b', 'm2', { datacenter: 'us-east', joinedAt: at(1) });
      const upper = participant('p-B', 'm1', { datacenter: 'us-east', joinedAt: at(5) });
      const z = participant('p-z', 'm1', { datacenter: 'us-east', joinedAt: at(2), plan: 'government' });
      const c = participant('p-c', 'm1', { datacenter: 'us-west' });
      for (const p of [a, b, c, upper, z]) await rows.addParticipant(p);
      expect(await rows.listParticipantsAt('us-east')).toStrictEqual([upper, a, z, b]);
      expect(await rows.listParticipantsAt('us-west')).toStrictEqual([c]);
      expect(await rows.removeParticipantsAt('us-east')).toStrictEqual([upper, a, z, b]);
      expect(await rows.listParticipantsAt('us-east')).toEqual([]);
      expect(await rows.listParticipants('m1')).toStrictEqual([c]);
      expect(await rows.listParticipants('m2')).toEqual([]);
      expect(await rows.removeParticipantsAt('us-east')).toEqual([]);
      expect(await rows.listParticipantsAt('us-west')).toStrictEqual([c]);
    });

    it('counts rows per datacenter and meeting', async () => {
      expect(await rows.countParticipants()).toEqual([]);
      for (const p of [participant('p-a', 'm1', { datacenter: 'us-east' }), participant('p-b', 'm1', { datacenter: 'us-east' }), participant('p-c', 'm2', { datacenter: 'eu-central' })]) await rows.addParticipant(p);
      const counts = (await rows.countParticipants()).sort((x, y) => compareStrings(x.datacenter, y.datacenter));
      expect(counts).toStrictEqual([
        { datacenter: 'eu-central', meetingId: 'm2', participants: 1 },
        { datacenter: 'us-east', meetingId: 'm1', participants: 2 },
      ]);
    });

    it('gives each of 20 simultaneous adds of one participant the row before it: one row remains, every other session returned once', async () => {
      const sessions = Array.from({ length: 20 }, (_, i) => `dec-${String(i)}`);
      const replaced = await Promise.all(sessions.map((session) => rows.addParticipant(participant('p1', 'm1', { session }))));
      const [last, ...more] = await rows.listParticipants('m1');
      expect(more).toEqual([]);
      expect(replaced.filter((r) => r === undefined)).toHaveLength(1);
      const returned = replaced.flatMap((r) => (r ? [r.session] : []));
      expect([...returned, last?.session].sort()).toEqual([...sessions].sort());
    });

    it('copies rows in and out: changing a row given or returned changes nothing stored', async () => {
      const added = participant('p1', 'm1');
      await rows.addParticipant(added);
      (added as { country: string }).country = 'US';
      ((await rows.listParticipants('m1'))[0] as { country: string }).country = 'US';
      ((await rows.listParticipantsAt('eu-central'))[0] as { country: string }).country = 'US';
      expect((await rows.listParticipants('m1'))[0]?.country).toBe('DE');
    });

    it('closes idempotently; later calls reject with STORE_UNAVAILABLE', async () => {
      await rows.close();
      await rows.close();
      await expect(rows.addParticipant(participant('p1', 'm1'))).rejects.toMatchObject({ name: 'GeobridgeError', code: 'STORE_UNAVAILABLE' });
      await expect(rows.listParticipants('m1')).rejects.toMatchObject({ name: 'GeobridgeError', code: 'STORE_UNAVAILABLE' });
    });
  });
}
