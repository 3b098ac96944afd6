/**
 * The active speaker: whose tile to highlight, from the decoded audio of each
 * remote participant (an AnalyserNode after the E2EE transform, so it works
 * on encrypted calls and the bridge is told nothing). The choice is a pure
 * step over measured levels with a hold, so that a pause between words does
 * not move the highlight and a cough does not steal it.
 */
import type { SessionEvent } from '../sdk/session.js';

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

/** Root mean square of samples in -1..1. */
export function rms(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length === 0 ? 0 : Math.sqrt(sum / samples.length);
}

/** Measures every remote participant's decoded audio and reports the active speaker as it changes. */
export class SpeakerDetector {
  readonly #context: AudioContext;
  readonly #analysers = new Map<string, { readonly source: MediaStreamAudioSourceNode; readonly analyser: AnalyserNode; readonly buffer: Float32Array<ArrayBuffer> }>();
  readonly #onChange: (speaker: string | undefined) => void;
  #state: SpeakerState = NO_SPEAKER;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(onChange: (speaker: string | undefined) => void) {
    this.#context = new AudioContext();
    this.#onChange = onChange;
    resumeOnGesture(this.#context);
  }

  /** Follows the session's events: measures each remote audio track, forgets those who leave. */
  handle(e: SessionEvent<MediaStreamTrack>): void {
    if (e.type === 'track-added' && e.kind === 'audio') this.#measure(e.peer, e.track);
    else if ((e.type === 'track-removed' && e.kind === 'audio') || e.type === 'participant-left') this.#forget(e.type === 'participant-left' ? e.id : e.peer);
    else if (e.type === 'reconnecting') for (const id of [...this.#analysers.keys()]) this.#forget(id);
  }

  get speaker(): string | undefined {
    return this.#state.speaker;
  }

  close(): void {
    for (const id of [...this.#analysers.keys()]) this.#forget(id);
    void this.#context.close().catch(() => undefined);
  }

  #measure(id: string, track: MediaStreamTrack): void {
    this.#forget(id);
    const source = this.#context.createMediaStreamSource(new MediaStream([track]));
    const analyser = this.#context.createAnalyser();
    // 1024 samples (~21 ms at 48 kHz), read every 40 ms: short sounds are seen, and a poll costs little.
    analyser.fftSize = 1024;
    source.connect(analyser);
    this.#analysers.set(id, { source, analyser, buffer: new Float32Array(analyser.fftSize) });
    this.#timer ??= setInterval(() => {
      this.#tick();
    }, 40);
  }

  #forget(id: string): void {
    const a = this.#analysers.get(id);
    if (!a) return;
    a.source.disconnect();
    this.#analysers.delete(id);
    if (this.#analysers.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    this.#tick();
  }

  #tick(): void {
    const levels = new Map<string, number>();
    for (const [id, a] of this.#analysers) {
      a.analyser.getFloatTimeDomainData(a.buffer);
      levels.set(id, rms(a.buffer));
    }
    const before = this.#state.speaker;
    this.#state = nextSpeaker(this.#state, levels, performance.now());
    if (this.#state.speaker !== before) this.#onChange(this.#state.speaker);
  }
}

/** Browsers start an AudioContext suspended until the page is interacted with; try at once, and again on the first gesture. */
export function resumeOnGesture(context: AudioContext): void {
  const resume = (): void => {
    if (context.state === 'suspended') void context.resume().catch(() => undefined);
  };
  resume();
  for (const type of ['pointerdown', 'keydown'] as const) document.addEventListener(type, resume, { once: true, capture: true });
}
