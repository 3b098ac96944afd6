import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MeetingPolicy } from '../core/select/meeting-policy.js';
import { MeetingPolicies } from './meeting-policies.js';

/** The account's policy at revision `n`: a different narrowing each time, so the test can tell which one is held. */
function policyAt(n: number): MeetingPolicy {
  return { hostCountry: 'DE', accountJurisdictions: [`J${String(n)}`] };
}

describe('MeetingPolicies', () => {
  it('holds the highest revision heard, whatever the order the answers and commands arrive in', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(1000), { minLength: 1, maxLength: 12 }), (revisions) => {
        const policies = new MeetingPolicies();
        const taken = revisions.map((r) => policies.take('m1', policyAt(r), r));
        expect(policies.get('m1')).toStrictEqual(policyAt(Math.max(...revisions)));
        // Each was taken exactly when it was the highest so far.
        expect(taken).toEqual(revisions.map((r, i) => revisions.slice(0, i).every((earlier) => earlier < r)));
      }),
      { numRuns: 500 },
    );
  });

  it('takes the same revision again (a catch-up repeats it) and keeps meetings apart', () => {
    const policies = new MeetingPolicies();
    expect(policies.take('m1', policyAt(3), 3)).toBe(true);
    expect(policies.take('m1', policyAt(3), 3)).toBe(true);
    expect(policies.take('m2', policyAt(1), 1)).toBe(true);
    expect([policies.get('m1'), policies.get('m2')]).toStrictEqual([policyAt(3), policyAt(1)]);
  });

  it('takes a policy without a revision (an older broker) as it comes, and any revision after it', () => {
    const policies = new MeetingPolicies();
    policies.take('m1', policyAt(7), 7);
    expect(policies.take('m1', policyAt(0), undefined)).toBe(true);
    expect(policies.get('m1')).toStrictEqual(policyAt(0));
    expect(policies.take('m1', policyAt(2), 2)).toBe(true);
    expect(policies.get('m1')).toStrictEqual(policyAt(2));
  });

  it('forgets a meeting nobody attends any more: its next policy starts afresh', () => {
    const policies = new MeetingPolicies();
    policies.take('m1', policyAt(9), 9);
    policies.forget('m1');
    expect(policies.get('m1')).toBeUndefined();
    expect(policies.take('m1', policyAt(1), 1)).toBe(true);
  });
});
