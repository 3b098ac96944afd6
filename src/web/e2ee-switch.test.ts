import { describe, expect, it } from 'vitest';
import { e2eeWanted } from './e2ee-switch.js';

describe('the dev-only E2EE switch', () => {
  it('turns E2EE off only for ?e2ee=off on a dev broker', () => {
    expect(e2eeWanted(new URLSearchParams('e2ee=off'), true)).toBe(false);
  });

  it('is ignored by a production broker (dev false)', () => {
    expect(e2eeWanted(new URLSearchParams('e2ee=off'), false)).toBe(true);
    expect(e2eeWanted(new URLSearchParams('e2ee=off&e2ee=off'), false)).toBe(true);
  });

  it('keeps E2EE on for any other value or without the parameter', () => {
    for (const query of ['', 'e2ee=on', 'e2ee=OFF', 'e2ee=', 'e2ee=0', 'e2ee=false', 'x=off']) {
      expect(e2eeWanted(new URLSearchParams(query), true)).toBe(true);
      expect(e2eeWanted(new URLSearchParams(query), false)).toBe(true);
    }
  });
});
