/**
 * Clients read the broker's answers against the schemas the broker declares:
 * a good answer comes back typed, a bad one is BROKER_ANSWER_INVALID naming
 * the field.
 */
import { describe, expect, it } from 'vitest';
import { BridgeKeysAnswer, InviteAcceptAnswer } from './answers.js';
import { parseAnswer } from './parse-answer.js';
import { RouteAnswer } from './route-answer.js';

/** An explained answer (?explain=true): the compact one and the decision. */
const route = {
  ticket: 'a.b.c',
  bridges: { 'eu-fra': 'wss://fra.example/signal' },
  receipt: { index: 0, recordHash: 'e'.repeat(64), timestamp: 1, keyId: 'k', signature: 's' },
  zone: 'europe',
  country: 'DE',
  decisionId: 'd-1',
  policyVersion: 3,
  allowedJurisdictions: ['DE'],
  candidates: [{ datacenter: 'eu-fra', role: 'primary', jurisdiction: 'DE' }],
  excluded: [],
};

/** A copy of `value` without `key`. */
function without<T extends object>(value: T, key: keyof T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== key)) as Partial<T>;
}

/** The message of the error `parseAnswer` throws (or 'parsed'). */
function problem(schema: Parameters<typeof parseAnswer>[0], value: unknown): string {
  try {
    parseAnswer(schema, value, 'POST /v1/route');
    return 'parsed';
  } catch (error) {
    expect(error).toMatchObject({ code: 'BROKER_ANSWER_INVALID' });
    return error instanceof Error ? error.message : String(error);
  }
}

describe('parseAnswer', () => {
  it('gives back a good answer as it is, explained or not', () => {
    expect(parseAnswer(RouteAnswer, route, 'POST /v1/route')).toBe(route);
    const compact = { ticket: route.ticket, bridges: route.bridges, receipt: route.receipt };
    expect(parseAnswer(RouteAnswer, compact, 'POST /v1/route')).toBe(compact);
    expect(problem(RouteAnswer, { ...route, comingLater: true })).toBe('parsed');
  });

  it('names a missing field, a field of the wrong type, and a nested one', () => {
    expect(problem(RouteAnswer, without(route, 'ticket'))).toContain("field 'ticket' is missing");
    expect(problem(RouteAnswer, { ...route, policyVersion: '3' })).toContain("field 'policyVersion' must be integer");
    expect(problem(RouteAnswer, { ...route, candidates: [{ datacenter: 'eu-fra', role: 'leader', jurisdiction: 'DE' }] })).toContain("field 'candidates[0].role'");
    expect(problem(RouteAnswer, { ...route, receipt: without(route.receipt, 'index') })).toContain("field 'receipt.index' is missing");
    expect(problem(BridgeKeysAnswer, { keys: { 'eu-fra': { kty: 'OKP', crv: 'Ed25519' } } })).toContain("field 'keys.eu-fra.x' is missing");
  });

  it('says so when the answer is not even an object', () => {
    expect(problem(InviteAcceptAnswer, 'oops')).toContain("field '(answer)'");
  });
});
