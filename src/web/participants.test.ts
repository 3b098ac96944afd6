import { describe, expect, it } from 'vitest';
import { participantRows, unreachableRows } from './participants.js';

const ada = { id: 'p-ada', name: 'Ada', audio: true, video: false };
const bo = { id: 'p-bo', name: 'Bo', audio: false, video: true };
const cy = { id: 'p-cy', name: 'Cy', audio: true, video: true };

describe('the participant list', () => {
  it('puts us first, then the others by name and id, with their microphone and camera', () => {
    const rows = participantRows(ada, [cy, bo, { ...bo, id: 'p-bo0' }], []);
    expect(rows.map((r) => [r.id, r.self, r.audio, r.video])).toEqual([
      ['p-ada', true, true, false],
      ['p-bo', false, false, true],
      ['p-bo0', false, false, true],
      ['p-cy', false, true, true],
    ]);
  });

  it('marks in the group exactly the participants with a leaf that is not leaving', () => {
    const rows = participantRows(ada, [bo, cy], [
      { participant: 'p-ada', left: false },
      { participant: 'p-bo', left: true },
      { participant: 'p-ghost', left: false },
    ]);
    expect(rows.map((r) => [r.id, r.inGroup])).toEqual([
      ['p-ada', true],
      ['p-bo', false],
      ['p-cy', false],
    ]);
  });

  it('lists the others before we know who we are, and never ourselves twice', () => {
    expect(participantRows(undefined, [bo], []).map((r) => r.id)).toEqual(['p-bo']);
    expect(participantRows(ada, [ada, bo], []).map((r) => r.id)).toEqual(['p-ada', 'p-bo']);
  });
});

describe('who we cannot exchange media with (a cascade)', () => {
  it('merges both directions of one peer, says which way is blocked and why in words, by name', () => {
    const rows = unreachableRows([
      { id: 'p-li', name: 'Li', direction: 'from', reason: 'FENCE' },
      { id: 'p-ben', name: 'Ben', direction: 'to', reason: 'FENCE' },
      { id: 'p-li', name: 'Li', direction: 'to', reason: 'FENCE' },
      { id: 'p-ana', name: 'Ana', direction: 'from', reason: 'SOMETHING_NEW' },
    ]);
    expect(rows.map((r) => [r.id, r.blocked])).toEqual([
      ['p-ana', 'theirs'],
      ['p-ben', 'ours'],
      ['p-li', 'both'],
    ]);
    expect(rows[1]?.why).toBe("They cannot see or hear you: residency rules keep the media out of the other's region");
    expect(rows[2]?.why).toMatch(/^You cannot see or hear each other: residency rules/);
    // A code the page does not know yet is shown as it is, not hidden.
    expect(rows[0]?.why).toBe('You cannot see or hear them: SOMETHING_NEW');
  });

  it('is empty when everyone can reach everyone', () => {
    expect(unreachableRows([])).toEqual([]);
  });
});

