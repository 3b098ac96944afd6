import { describe, expect, it } from 'vitest';
import { VerifiedTokenCache } from './verified-token-cache.js';

describe('VerifiedTokenCache', () => {
  it('holds at most its bound, dropping the oldest entry first', () => {
    const cache = new VerifiedTokenCache<number>(2);
    cache.remember('a', { claims: 1, kid: 'k' });
    cache.remember('b', { claims: 2, kid: 'k' });
    cache.remember('a', { claims: 3, kid: 'k' }); // remembered again: now the newest
    cache.remember('c', { claims: 4, kid: 'k' });
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.claims).toBe(3);
    expect(cache.get('c')?.claims).toBe(4);
  });

  it('finds only the exact token text, and forgets on request', () => {
    const cache = new VerifiedTokenCache<number>();
    cache.remember('x.y.z', { claims: 1, kid: 'k' });
    expect(cache.get('x.y.z ')).toBeUndefined();
    expect(cache.get('x.y.Z')).toBeUndefined();
    cache.forget('x.y.z');
    expect(cache.get('x.y.z')).toBeUndefined();
  });

  it('refuses a bound below one', () => {
    expect(() => new VerifiedTokenCache(0)).toThrow(RangeError);
  });
});
