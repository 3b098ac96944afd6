import { describe, expect, it } from 'vitest';
import { NO_SPEAKER, nextSpeaker, type SpeakerState } from './active-speaker.js';

const opts = { threshold: 0.02, holdMs: 300 };

/** Runs the step over `frames` of [time, levels] and returns the speaker after each. */
function run(frames: [number, Record<string, number>][], start: SpeakerState = NO_SPEAKER): (string | undefined)[] {
  let state = start;
  return frames.map(([now, levels]) => {
    state = nextSpeaker(state, new Map(Object.entries(levels)), now, opts);
    return state.speaker;
  });
}

describe('the active speaker', () => {
  it('is nobody while everyone is below the threshold', () => {
    expect(run([[0, { a: 0.01, b: 0.0 }], [40, { a: 0.019 }]])).toEqual([undefined, undefined]);
  });

  it('is the loudest voice, ties broken by id', () => {
    expect(run([[0, { a: 0.05, b: 0.2 }]])).toEqual(['b']);
    expect(run([[0, { b: 0.1, a: 0.1 }]])).toEqual(['a']);
  });

  it('keeps the highlight through a pause shorter than the hold, and drops it after', () => {
    expect(run([[0, { a: 0.1 }], [100, { a: 0 }], [299, { a: 0 }], [300, { a: 0 }]])).toEqual(['a', 'a', 'a', undefined]);
  });

  it('does not let another voice take over until the speaker has been silent for the hold', () => {
    expect(run([[0, { a: 0.1, b: 0 }], [40, { a: 0, b: 0.5 }], [200, { a: 0, b: 0.5 }], [300, { a: 0, b: 0.5 }]])).toEqual(['a', 'a', 'a', 'b']);
  });

  it('stays with the speaker while they talk, however loud the others', () => {
    expect(run([[0, { a: 0.1 }], [1000, { a: 0.03, b: 0.9 }], [2000, { a: 0.03, b: 0.9 }]])).toEqual(['a', 'a', 'a']);
  });

  it('drops a speaker who is no longer measured (they left) at once', () => {
    expect(run([[0, { a: 0.1, b: 0.05 }], [40, { b: 0.05 }]])).toEqual(['a', 'b']);
    expect(run([[0, { a: 0.1 }], [40, {}]])).toEqual(['a', undefined]);
  });
});
