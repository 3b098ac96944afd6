import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startsVp8KeyFrame, vp8FrameStart } from './vp8.js';

// Frame tags (RFC 6386 §9.1): P = 0 on key frames, 1 on delta frames.
const KEY_TAG = [0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a];
const DELTA_TAG = [0x31, 0x02, 0x00];

describe('VP8 payload (RFC 7741)', () => {
  it('finds the frame after descriptors of every shape', () => {
    const cases: [number[], string][] = [
      [[0x10], 'S only'],
      [[0x90, 0x80, 0x05], 'X, I with a 7-bit PictureID'],
      [[0x90, 0x80, 0x85, 0x12], 'X, I with a 15-bit PictureID'],
      [[0x90, 0xe0, 0x85, 0x12, 0x07, 0x40], 'X, I (15-bit), L, T'],
      [[0x90, 0x50, 0x07, 0x40], 'X, L, K'],
    ];
    for (const [descriptor, what] of cases) {
      expect(vp8FrameStart(Uint8Array.from([...descriptor, ...KEY_TAG])), what).toEqual(Uint8Array.from(KEY_TAG));
      expect(startsVp8KeyFrame(Uint8Array.from([...descriptor, ...KEY_TAG])), what).toBe(true);
      expect(startsVp8KeyFrame(Uint8Array.from([...descriptor, ...DELTA_TAG])), what).toBe(false);
    }
  });

  it('is not a frame start without S, in another partition, or without frame bytes', () => {
    expect(vp8FrameStart(Uint8Array.from([0x00, ...KEY_TAG]))).toBeUndefined();
    expect(vp8FrameStart(Uint8Array.from([0x11, ...KEY_TAG]))).toBeUndefined();
    expect(vp8FrameStart(Uint8Array.from([0x90, 0x80]))).toBeUndefined();
    expect(vp8FrameStart(new Uint8Array(0))).toBeUndefined();
    expect(startsVp8KeyFrame(Uint8Array.from([0x10]))).toBe(false);
  });

  it('never throws, and a key frame start is always a frame start', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        const start = vp8FrameStart(bytes);
        if (startsVp8KeyFrame(bytes)) expect(start).toBeDefined();
        if (start) expect(start.length).toBeGreaterThan(0);
      }),
      { numRuns: 5000 },
    );
  });
});
