import { describe, expect, it } from 'vitest';
import { e2eeWords, securityCodeGroups } from './e2ee-panel.js';

describe('the encryption panel', () => {
  it('groups the security code in fives for reading aloud', () => {
    expect(securityCodeGroups('01234 56789 01234 56789 01234 56789')).toEqual(['01234', '56789', '01234', '56789', '01234', '56789']);
    expect(securityCodeGroups('0123456789')).toEqual(['01234', '56789']);
    expect(securityCodeGroups('')).toEqual([]);
  });

  it('says every state in words, never by colour alone', () => {
    expect(e2eeWords('on').short).toBe('Encrypted');
    expect(e2eeWords('pending').short).toBe('Agreeing keys');
    expect(e2eeWords('off').short).toBe('Not encrypted');
    expect(e2eeWords('error').short).toBe('Encryption error');
  });
});
