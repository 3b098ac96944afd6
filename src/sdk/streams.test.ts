/** Which received tracks an offer ends: those whose mid it no longer labels. */
import { describe, expect, it } from 'vitest';
import { endedStreams, trackOf } from './streams.js';

describe('received streams', () => {
  it('reads an unlabelled source as camera and ends what the next offer leaves out', () => {
    const camera = trackOf({ mid: '3', peer: 'a', kind: 'video' });
    const screen = trackOf({ mid: '4', peer: 'a', kind: 'video', source: 'screen' });
    expect(camera.source).toBe('camera');
    expect(screen.source).toBe('screen');
    expect(endedStreams([camera, screen], [{ mid: '3', peer: 'a', kind: 'video' }])).toEqual([screen]);
    // Shared again: a new mid for the same peer and source; the old one has ended all the same.
    expect(endedStreams([camera, screen], [{ mid: '3', peer: 'a', kind: 'video' }, { mid: '7', peer: 'a', kind: 'video', source: 'screen' }])).toEqual([screen]);
    expect(endedStreams([camera, screen], [{ mid: '4', peer: 'a', kind: 'video', source: 'screen' }, { mid: '3', peer: 'a', kind: 'video' }])).toEqual([]);
  });
});
