import { describe, expect, it } from 'vitest';
import { participantLines } from './meetings-view.js';

describe('a meeting’s participants in words', () => {
  it('are counted by country and datacenter, sorted', () => {
    const participants = [
      { id: 'a', country: 'US', datacenter: 'us-east' },
      { id: 'b', country: 'DE', datacenter: 'eu-central' },
      { id: 'c', country: 'DE', datacenter: 'eu-central' },
    ];
    expect(participantLines({ id: 'm', title: 'T', account: 'acc', datacenter: null, participants, relays: [], cascade: true })).toEqual(['DE → eu-central: 2', 'US → us-east: 1']);
  });
});
