import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { objectToJson, toJson } from './frozen-json.js';

/** Freezes some of the arrays directly under `object`, as the decider's lists are. */
function freezeSomeLists(object: Record<string, unknown>, pick: readonly boolean[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  Object.entries(object).forEach(([k, v], i) => {
    out[k] = Array.isArray(v) && pick[i % pick.length] === true ? Object.freeze(v) : v;
  });
  return out;
}

describe('frozen JSON', () => {
  it('property: objectToJson is JSON.stringify, frozen lists or not, first use or cached', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }), { maxKeys: 6 }), fc.array(fc.boolean(), { minLength: 1 }), (object, pick) => {
        const claims = freezeSomeLists(object, pick);
        expect(objectToJson(claims)).toBe(JSON.stringify(claims));
        expect(objectToJson(claims)).toBe(JSON.stringify(claims));
      }),
    );
  });

  it('skips undefined members as JSON.stringify does', () => {
    expect(objectToJson({ a: undefined, b: 1, c: undefined })).toBe('{"b":1}');
    expect(objectToJson({ a: undefined })).toBe('{}');
    expect(objectToJson({})).toBe('{}');
  });

  it('never serves stale text: lists that can change are serialized anew', () => {
    const open = ['DE'];
    expect(toJson(open)).toBe('["DE"]');
    open.push('FR');
    expect(toJson(open)).toBe('["DE","FR"]');
    // Frozen, but holding an object that can still change.
    const inner = { code: 'DE' };
    const frozen = Object.freeze([inner]);
    expect(toJson(frozen)).toBe('[{"code":"DE"}]');
    inner.code = 'FR';
    expect(toJson(frozen)).toBe('[{"code":"FR"}]');
  });
});
