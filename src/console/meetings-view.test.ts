import { describe, expect, it } from 'vitest';
import type { ConsoleMeeting } from '../protocol/console-answers.js';
import { e2eeText, participantLines } from './meetings-view.js';

describe('a meeting’s participants in words', () => {
  it('are counted by country and datacenter, sorted', () => {
    const participants = [
      { id: 'a', country: 'US', datacenter: 'us-east' },
      { id: 'b', country: 'DE', datacenter: 'eu-central' },
      { id: 'c', country: 'DE', datacenter: 'eu-central' },
    ];
    expect(participantLines({ id: 'm', title: 'T', account: 'acc', datacenter: null, participants, relays: [], cascade: true, e2ee: null })).toEqual(['DE → eu-central: 2', 'US → us-east: 1']);
  });
});

describe('a meeting’s end-to-end encryption in words', () => {
  const meeting = (n: number, e2ee: ConsoleMeeting['e2ee']): ConsoleMeeting => ({ id: 'm', title: 'T', account: 'acc', datacenter: 'us-east', participants: Array.from({ length: n }, (_, i) => ({ id: `p${String(i)}`, country: 'US', datacenter: 'us-east' })), relays: [], cascade: false, e2ee });
  it('says the epoch and who holds the group, and says so when not everyone does, or nobody', () => {
    expect(e2eeText(meeting(3, { epoch: 4, members: 3 }))).toBe('end-to-end encrypted: MLS epoch 4, all 3 participants hold the group');
    expect(e2eeText(meeting(1, { epoch: 0, members: 1 }))).toBe('end-to-end encrypted: MLS epoch 0, its participant holds the group');
    expect(e2eeText(meeting(3, { epoch: 2, members: 2 }))).toBe('end-to-end encrypted: MLS epoch 2, 2 of 3 participants hold the group');
    expect(e2eeText(meeting(2, null))).toBe('not end-to-end encrypted: nobody holds an MLS group');
  });
});
