// The roster check: every leaf a participant's join token does not account for is flagged (examples, then properties).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Member } from './group.js';
import { checkRoster, type Attendee, type MeetingView, type RosterEntry } from './roster.js';

function leaf(leafIndex: number, participant: string, name: string): Member {
  return { leafIndex, participant, name, keyFingerprint: `fp-${leafIndex}` };
}

const ADA = leaf(0, 'p-ada', 'Ada');
const BO = leaf(1, 'p-bo', 'Bo');
const CY = leaf(2, 'p-cy', 'Cy');
const view: MeetingView = { self: 'p-ada', ownLeaf: 0, present: [{ id: 'p-bo', name: 'Bo' }, { id: 'p-cy', name: 'Cy' }], left: [] };

function flagsOf(entries: readonly RosterEntry[]): Record<number, readonly string[]> {
  return Object.fromEntries(entries.map((e) => [e.leafIndex, e.flags]));
}

describe('checking the roster', () => {
  it('accounts for every member of a meeting whose group holds exactly its participants', () => {
    const roster = checkRoster([ADA, BO, CY], view);
    expect(roster.joining).toEqual([]);
    expect(roster.members.map((m) => [m.leafIndex, m.name, m.self, m.left, m.meetingName, m.flags])).toEqual([
      [0, 'Ada', true, false, '', []],
      [1, 'Bo', false, false, 'Bo', []],
      [2, 'Cy', false, false, 'Cy', []],
    ]);
  });

  it('flags a member whose participant id is not in the meeting (a ghost the broker vouched for)', () => {
    const ghost = leaf(3, 'p-ghost', 'Mallory');
    const roster = checkRoster([ADA, BO, CY, ghost], view);
    expect(flagsOf(roster.members)).toEqual({ 0: [], 1: [], 2: [], 3: ['not-a-participant'] });
    expect(roster.members[3]).toMatchObject({ name: 'Mallory', keyFingerprint: 'fp-3', meetingName: '' });
  });

  it('flags both leaves that claim one peer, and keeps them apart by key', () => {
    const twin = leaf(3, 'p-bo', 'Bo');
    const roster = checkRoster([ADA, BO, CY, twin], view);
    expect(flagsOf(roster.members)).toEqual({ 0: [], 1: ['second-leaf'], 2: [], 3: ['second-leaf'] });
    expect(new Set(roster.members.map((m) => m.keyFingerprint)).size).toBe(4);
  });

  it('flags any other leaf that claims to be us, never our own', () => {
    const roster = checkRoster([ADA, BO, CY, leaf(5, 'p-ada', 'Ada')], view);
    expect(flagsOf(roster.members)).toEqual({ 0: [], 1: [], 2: [], 5: ['second-leaf'] });
    // Which leaf is ours is known by index, whatever its position.
    expect(flagsOf(checkRoster([ADA, BO, CY, leaf(5, 'p-ada', 'Ada')], { ...view, ownLeaf: 5 }).members)).toEqual({ 0: ['second-leaf'], 1: [], 2: [], 5: [] });
  });

  it('flags a member whose name is not the one the meeting shows for its id', () => {
    const roster = checkRoster([ADA, leaf(1, 'p-bo', 'Bo (host)'), CY], view);
    expect(roster.members[1]).toMatchObject({ name: 'Bo (host)', meetingName: 'Bo', flags: ['name-differs'] });
  });

  it('shows a participant not yet in the group as joining, without a flag', () => {
    const roster = checkRoster([ADA, BO], { ...view, present: [{ id: 'p-cy', name: 'Cy' }, { id: 'p-bo', name: 'Bo' }, { id: 'p-ada', name: 'Ada' }] });
    expect(roster.joining).toEqual([{ id: 'p-cy', name: 'Cy' }]);
    expect(flagsOf(roster.members)).toEqual({ 0: [], 1: [] });
  });

  it('marks the leaf of a participant who left as left, not flagged; present wins over left', () => {
    const leftView = { ...view, present: [{ id: 'p-cy', name: 'Cy' }], left: [{ id: 'p-bo', name: 'Bo' }] };
    expect(checkRoster([ADA, BO, CY], leftView).members[1]).toMatchObject({ left: true, meetingName: 'Bo', flags: [] });
    const back = { ...view, left: [{ id: 'p-bo', name: 'Old Bo' }] };
    expect(checkRoster([ADA, BO, CY], back).members[1]).toMatchObject({ left: false, meetingName: 'Bo', flags: [] });
  });

  it('lists members by leaf index and joiners by id, whatever the input order', () => {
    const roster = checkRoster([CY, ADA, BO], { ...view, present: [{ id: 'p-z', name: 'Z' }, { id: 'p-bo', name: 'Bo' }, { id: 'p-cy', name: 'Cy' }, { id: 'p-e', name: 'E' }] });
    expect(roster.members.map((m) => m.leafIndex)).toEqual([0, 1, 2]);
    expect(roster.joining.map((a) => a.id)).toEqual(['p-e', 'p-z']);
  });
});

// ---------------------------------------------------------------- properties

/** Few ids and names, so that collisions (two leaves, one participant) are common. */
const ids = fc.constantFrom('p-ada', 'p-bo', 'p-cy', 'p-dee', 'p-eve', 'p-fay');
const names = fc.constantFrom('Ada', 'Bo', 'Cy', 'Dee', 'Mallory', '');
const attendees = fc.array(fc.record({ id: ids, name: names }), { maxLength: 8 });
const anyMembers = fc.uniqueArray(fc.record({ leafIndex: fc.nat(20), participant: ids, name: names, keyFingerprint: fc.string({ maxLength: 4 }) }), { selector: (m) => m.leafIndex, maxLength: 10 });
const anyView = (members: readonly Member[]): fc.Arbitrary<MeetingView> =>
  fc.record({ self: ids, ownLeaf: members.length > 0 ? fc.oneof(fc.constantFrom(...members.map((m) => m.leafIndex)), fc.nat(20)) : fc.nat(20), present: attendees, left: attendees });
const anyCase = anyMembers.chain((members) => anyView(members).map((v) => ({ members, view: v })));

/** The attendee the meeting shows for `id`: present first, then left; the first of each. */
function attendeeOf(v: MeetingView, id: string): Attendee | undefined {
  return v.present.find((a) => a.id === id) ?? v.left.find((a) => a.id === id);
}

/** An honest meeting: distinct participants (ours first), one leaf each at distinct indices, the meeting's names in the leaves. */
const honest = fc
  .uniqueArray(fc.record({ id: ids, name: names }), { selector: (a) => a.id, minLength: 1, maxLength: 6 })
  .chain((people) => fc.tuple(fc.constant(people), fc.shuffledSubarray([...Array(20).keys()], { minLength: people.length, maxLength: people.length })))
  .map(([people, indices]) => {
    const members = people.map((p, i) => leaf(indices[i] ?? 0, p.id, p.name));
    const self = people[0] ?? { id: '', name: '' };
    return { members, view: { self: self.id, ownLeaf: members[0]?.leafIndex ?? 0, present: people.slice(1), left: [] } satisfies MeetingView };
  });

describe('roster properties', () => {
  it('an unflagged leaf is our own, or the only leaf of a participant the meeting shows under that name', () => {
    fc.assert(
      fc.property(anyCase, ({ members, view: v }) => {
        const accounted = checkRoster(members, v).members.filter((e) => e.flags.length === 0);
        for (const e of accounted) {
          if (e.self) {
            expect(e.leafIndex).toBe(v.ownLeaf);
            continue;
          }
          expect(e.participant).not.toBe(v.self);
          expect(members.filter((m) => m.participant === e.participant)).toHaveLength(1);
          expect(attendeeOf(v, e.participant)?.name).toBe(e.name);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps every member once, as it was, and lists as joining exactly the participants no leaf claims', () => {
    fc.assert(
      fc.property(anyCase, ({ members, view: v }) => {
        const roster = checkRoster(members, v);
        const strip = ({ leafIndex, participant, name, keyFingerprint }: Member): Member => ({ leafIndex, participant, name, keyFingerprint });
        expect(roster.members.map(strip)).toEqual([...members].sort((a, b) => a.leafIndex - b.leafIndex).map(strip));
        const expected = [...new Set(v.present.map((a) => a.id))].filter((id) => id !== v.self && !members.some((m) => m.participant === id)).sort();
        expect(roster.joining.map((a) => a.id)).toEqual(expected);
        expect(roster.joining.every((a) => a.name === attendeeOf(v, a.id)?.name)).toBe(true);
      }),
    );
  });

  it('an honest meeting has no flag and no one joining', () => {
    fc.assert(
      fc.property(honest, ({ members, view: v }) => {
        const roster = checkRoster(members, v);
        expect(roster.members.every((e) => e.flags.length === 0 && !e.left)).toBe(true);
        expect(roster.joining).toEqual([]);
      }),
    );
  });

  it('a ghost added to an honest meeting is always flagged, and flags no one else unless it claims their id', () => {
    fc.assert(
      fc.property(honest, ids, names, fc.integer({ min: 20, max: 40 }), ({ members, view: v }, participant, name, index) => {
        const ghost = leaf(index, participant, name);
        const roster = checkRoster([...members, ghost], v);
        expect(roster.members.find((e) => e.leafIndex === index)?.flags.length).toBeGreaterThan(0);
        for (const e of roster.members.filter((x) => x.leafIndex !== index)) {
          expect(e.flags.length > 0).toBe(!e.self && e.participant === participant);
        }
      }),
    );
  });

  it('does not depend on the order of members or of the participants signalling announced', () => {
    const shuffled = <T,>(items: readonly T[]): fc.Arbitrary<T[]> => fc.shuffledSubarray([...items], { minLength: items.length, maxLength: items.length });
    const uniqueCase = anyMembers.chain((members) =>
      fc
        .record({
          self: ids,
          ownLeaf: fc.nat(20),
          present: fc.uniqueArray(fc.record({ id: ids, name: names }), { selector: (a) => a.id }),
          left: fc.uniqueArray(fc.record({ id: ids, name: names }), { selector: (a) => a.id }),
        })
        .chain((v) => fc.record({ members: fc.constant(members), view: fc.constant(v), members2: shuffled(members), present2: shuffled(v.present), left2: shuffled(v.left) })),
    );
    fc.assert(
      fc.property(uniqueCase, ({ members, view: v, members2, present2, left2 }) => {
        expect(checkRoster(members2, { ...v, present: present2, left: left2 })).toEqual(checkRoster(members, v));
      }),
    );
  });
});
