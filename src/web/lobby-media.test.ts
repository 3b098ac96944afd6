import { describe, expect, it } from 'vitest';
import { mediaConstraints, meterLevel, rms } from './lobby-media.js';

describe('the lobby', () => {
  it('measures the microphone as RMS, shown on a -60..0 dBFS scale', () => {
    expect(rms(new Float32Array([0.5, -0.5, 0.5, -0.5]))).toBeCloseTo(0.5);
    expect(rms(new Float32Array([]))).toBe(0);
    expect(meterLevel(0)).toBe(0);
    expect(meterLevel(0.001)).toBeCloseTo(0);
    expect(meterLevel(0.0316)).toBeCloseTo(0.5, 2);
    expect(meterLevel(1)).toBe(1);
  });

  it('opens a chosen device exactly, and the defaults when none is chosen', () => {
    expect(mediaConstraints('cam-2', null)).toEqual({ audio: {}, video: { width: { ideal: 1280 }, height: { ideal: 720 }, deviceId: { exact: 'cam-2' } } });
    expect(mediaConstraints('', 'mic-1').audio).toEqual({ deviceId: { exact: 'mic-1' } });
  });
});
