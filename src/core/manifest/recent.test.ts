import { describe, expect, it } from 'vitest';
import { RecentManifests } from './recent.js';
import type { Manifest } from './types.js';

const m = (n: number): Manifest => ({ version: n }) as unknown as Manifest;

describe('RecentManifests', () => {
  it('keeps the last few by hash; one adopted again counts as the newest', () => {
    const recent = new RecentManifests(2);
    recent.adopt('a', m(1));
    recent.adopt('b', m(2));
    recent.adopt('a', m(1));
    recent.adopt('c', m(3));
    expect(recent.bySha256('a')).toEqual(m(1));
    expect(recent.bySha256('b')).toBeUndefined();
    expect(recent.bySha256('c')).toEqual(m(3));
    expect(['x', 'a'].map(recent.bySha256)).toEqual([undefined, m(1)]);
  });
});
