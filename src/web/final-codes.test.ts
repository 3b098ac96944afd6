import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FINAL_BRIDGE_CODES } from '../sdk/index.js';
import { FINAL_CODES, FINAL_UNLESS_DEV, joinAgainCanHelp } from './final-codes.js';

const documented = new Set([...readFileSync(join(import.meta.dirname, '../../docs/errors.md'), 'utf8').matchAll(/^### ([A-Z][A-Z0-9_]+)$/gm)].map((m) => m[1]));

describe('"Join again" after a refusal', () => {
  it('is never offered for a refusal that no reload can change', () => {
    for (const code of ['MEETING_ENDED', 'SESSION_REPLACED', 'INVITE_INVALID', 'INVITE_EXPIRED', 'NOT_FOUND', 'E2EE_UNSUPPORTED', 'FORBIDDEN']) {
      expect([code, joinAgainCanHelp(code, false), joinAgainCanHelp(code, true)]).toEqual([code, false, false]);
    }
  });

  it('follows the connection machine: every code that ends a join for good is final here too', () => {
    for (const code of FINAL_BRIDGE_CODES) expect(joinAgainCanHelp(code, true)).toBe(false);
  });

  it('is offered for a fence or zone refusal only in dev mode, where another "as if from" country can be picked', () => {
    for (const code of ['FENCE_CONFLICT', 'NO_ZONE', 'CLIENT_NOT_LOCATED']) {
      expect(joinAgainCanHelp(code, false)).toBe(false);
      expect(joinAgainCanHelp(code, true)).toBe(true);
    }
  });

  it('is offered where a later try can succeed: capacity, tickets, join tokens, rate limits, network', () => {
    for (const code of ['NO_CAPACITY_IN_FENCE', 'TICKET_INVALID', 'TICKET_EXPIRED', 'JOIN_TOKEN_EXPIRED', 'JOIN_TOKEN_INVALID', 'RATE_LIMITED', 'ATTEMPTS_EXHAUSTED', 'BRIDGE_CUT_OFF', 'HTTP_502']) {
      expect([code, joinAgainCanHelp(code, false)]).toEqual([code, true]);
    }
  });

  it('names only codes docs/errors.md documents', () => {
    expect([...FINAL_CODES, ...FINAL_UNLESS_DEV].filter((c) => !documented.has(c))).toEqual([]);
  });
});
