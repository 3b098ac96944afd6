/**
 * A broker takes the store's newest manifest whenever it is another than the
 * one in force here: newer, or (after a version whose audit record failed was
 * taken out of the store again, and its number reused) the same number with
 * another text, or older. Comparing numbers alone kept a broker that caught
 * the unaudited version on it until the manifest changed twice more.
 */
import { describe, expect, it } from 'vitest';
import { storeMovedFrom } from './cluster.js';

const v = (version: number, sha256: string): { version: number; sha256: string } => ({ version, sha256 });

describe('storeMovedFrom', () => {
  it('stays on the version in force when the store holds it as newest', () => {
    expect(storeMovedFrom(v(6, 'a'), v(6, 'a'))).toBe(false);
  });

  it('takes a newer version', () => {
    expect(storeMovedFrom(v(6, 'a'), v(7, 'b'))).toBe(true);
  });

  it('takes the same number with another text: the unaudited one was taken out, and its number reused', () => {
    expect(storeMovedFrom(v(6, 'unaudited'), v(6, 'audited'))).toBe(true);
  });

  it('goes back to an older version: the one in force here was taken out of the store', () => {
    expect(storeMovedFrom(v(6, 'unaudited'), v(5, 'before'))).toBe(true);
  });
});
