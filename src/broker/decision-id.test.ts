import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decisionTime, isNewerDecision, newDecisionId } from './decision-id.js';

describe('decision ids', () => {
  it('are UUIDv7 that carry the millisecond they were made, and order by it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer({ min: 0, max: 2 ** 48 - 1 }), (t1, t2) => {
        const a = newDecisionId(t1);
        const b = newDecisionId(t2);
        expect(a).toMatch(/^dec_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(decisionTime(a)).toBe(t1);
        expect(isNewerDecision(a, b)).toBe(t1 > t2);
      }),
    );
  });

  it('differ within one millisecond: 74 random bits each', () => {
    expect(new Set(Array.from({ length: 10_000 }, () => newDecisionId(5))).size).toBe(10_000);
  });

  it('never calls an id of unknown form, or a tie, newer', () => {
    const now = newDecisionId(Date.now());
    expect(isNewerDecision('dec_older', now)).toBe(false);
    expect(isNewerDecision(now, 'dec_1')).toBe(false);
    expect(decisionTime(`dec_${crypto.randomUUID()}`)).toBeUndefined(); // version 4
    expect(isNewerDecision(newDecisionId(5), newDecisionId(5))).toBe(false);
  });
});
