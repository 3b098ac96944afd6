/**
 * The active speaker: whose tile to highlight, from the decoded audio of each
 * remote participant (measured after the E2EE transform, so it works on
 * encrypted calls and the bridge is told nothing). The choice is a pure
 * step over measured levels with a hold, so that a pause between words does
 * not move the highlight and a cough does not steal it.
 */
import type { RoomEvent } from '../sdk/index.js';

/** What the step remembers between two measurements. */
export interface SpeakerState {
  readonly speaker: string | undefined;
  /** When the speaker was last heard above the threshold (ms, any monotonic clock). */
  readonly heardAt: number;
}

export interface SpeakerOptions {
  /** RMS level (0..1) above which a voice counts as speaking. */
  readonly threshold: number;
  /** How long a speaker stays highlighted after falling silent, and how long others must wait to take over. */
  readonly holdMs: number;
}

export const SPEAKER_DEFAULTS: SpeakerOptions = { threshold: 0.02, holdMs: 300 };
export const NO_SPEAKER: SpeakerState = { speaker: undefined, heardAt: 0 };

/** The next speaker from each participant's level now: the current one keeps the highlight until silent for `holdMs`, then the loudest voice (ties by id) takes it. */
export function nextSpeaker(state: SpeakerState, levels: ReadonlyMap<string, number>, now: number, options: SpeakerOptions = SPEAKER_DEFAULTS): SpeakerState {
  const current = state.speaker;
  if (current !== undefined && (levels.get(current) ?? 0) >= options.threshold) return { speaker: current, heardAt: now };
  if (current !== undefined && levels.has(current) && now - state.heardAt < options.holdMs) return state;
  let loudest: string | undefined;
  let level = 0;
  for (const [id, l] of levels) {
    if (l < options.threshold) continue;
    if (loudest === undefined || l > level || (l === level && id < loudest)) {
      loudest = id;
      level = l;
    }
  }
  return loudest === undefined ? NO_SPEAKER : { speaker: loudest, heardAt: now };
}

/** The audio level (0..1) of each remote audio track, by track id, from the receivers' statistics. */
function receivedLevels(report: RTCStatsReport): Map<string, number> {
  const out = new Map<string, number>();
  report.forEach((s: Record<string, unknown>) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio' && typeof s.trackIdentifier === 'string' && typeof s.audioLevel === 'number') out.set(s.trackIdentifier, s.audioLevel);
  });
  return out;
}

/**
 * Measures every remote participant's decoded audio and reports the active
 * speaker as it changes. The level is the receiver's own (`inbound-rtp`
 * `audioLevel`), which the browser computes from the audio it decoded, after
 * the E2EE transform. Not an AnalyserNode on each remote track: feeding a
 * remote WebRTC track into Web Audio delayed the first decoded video frame in
 * Chromium from ~5 s to 20–30 s (test/browser/call.test.ts).
 */
export class SpeakerDetector {
  readonly #stats: () => Promise<RTCStatsReport | undefined>;
  readonly #onChange: (speaker: string | undefined) => void;
  /** Remote audio track id → its participant. */
  readonly #tracks = new Map<string, string>();
  #state: SpeakerState = NO_SPEAKER;
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  /** `stats`: the current connection's statistics (Room.getStats). */
  constructor(stats: () => Promise<RTCStatsReport | undefined>, onChange: (speaker: string | undefined) => void) {
    this.#stats = stats;
    this.#onChange = onChange;
  }

  /** Follows the session's events: measures each remote audio track, forgets those who leave. */
  handle(e: RoomEvent<MediaStreamTrack>): void {
    if (e.type === 'track-added' && e.kind === 'audio') {
      this.#tracks.set(e.track.id, e.participant);
      this.#timer ??= setInterval(() => {
        void this.#tick();
      }, 100);
    } else if ((e.type === 'track-removed' && e.kind === 'audio') || e.type === 'participant-left') {
      const gone = e.type === 'participant-left' ? e.id : e.participant;
      for (const [track, peer] of this.#tracks) if (peer === gone) this.#tracks.delete(track);
    } else if (e.type === 'reconnecting') {
      this.#tracks.clear();
    } else if (e.type === 'refused' || e.type === 'failed') {
      this.close();
    }
  }

  get speaker(): string | undefined {
    return this.#state.speaker;
  }

  /** Stops measuring. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#tracks.clear();
    this.#set(NO_SPEAKER);
  }

  async #tick(): Promise<void> {
    // One measurement at a time: on a loaded machine getStats can take longer than the interval.
    if (this.#busy) return;
    this.#busy = true;
    try {
      const report = await this.#stats();
      if (!report) return;
      const byTrack = receivedLevels(report);
      const levels = new Map<string, number>();
      for (const [track, peer] of this.#tracks) levels.set(peer, Math.max(levels.get(peer) ?? 0, byTrack.get(track) ?? 0));
      this.#set(nextSpeaker(this.#state, levels, performance.now()));
    } catch {
      // A closed peer connection: the next event (reconnecting, or a new connection) says what comes next.
    } finally {
      this.#busy = false;
    }
  }

  #set(next: SpeakerState): void {
    const before = this.#state.speaker;
    this.#state = next;
    if (next.speaker !== before) this.#onChange(next.speaker);
  }
}
