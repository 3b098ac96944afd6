/**
 * The meetings the simulator samples for its cascade figures. The engine
 * routes participants one by one; a meeting here is a few of them drawn from
 * the demand of the moment, so the figures follow the scenario's mix of
 * countries and time zones (docs/simulator.md#cascading).
 */
import type { MeetingParticipant } from '../core/plan/plan.js';
import type { Random } from './random.js';

/** How meetings are sampled. */
export interface MeetingSample {
  /** Participants per meeting, host included. */
  readonly size: number;
  /** Minutes between samples. */
  readonly everyMinutes: number;
  /** Meetings drawn per sample. */
  readonly perSample: number;
  /** Chance that a guest is from the host's country; otherwise drawn from the whole demand, like the host. */
  readonly localShare: number;
}

/** The sample every run uses. */
export const MEETING_SAMPLE: MeetingSample = Object.freeze({ size: 4, everyMinutes: 60, perSample: 100, localShare: 0.5 });

/** A country and its joins per minute right now. */
export interface CountryWeight {
  readonly country: string;
  readonly weight: number;
}

/**
 * Draws `sample.perSample` meetings: each host in proportion to `weights`,
 * each guest from the host's country with `sample.localShare`, else like a host.
 * Participants are named p1…pN (unique within a meeting); none when no one joins now.
 */
export function drawMeetings(random: Random, weights: readonly CountryWeight[], sample: MeetingSample): MeetingParticipant[][] {
  const total = weights.reduce((sum, w) => sum + Math.max(0, w.weight), 0);
  if (!(total > 0)) return [];
  const pick = (): string => {
    let x = random() * total;
    for (const w of weights) {
      x -= Math.max(0, w.weight);
      if (x < 0) return w.country;
    }
    // Rounding can leave x a hair above 0 after the last weight.
    return weights.findLast((w) => w.weight > 0)?.country ?? '';
  };
  const meetings: MeetingParticipant[][] = [];
  for (let m = 0; m < sample.perSample; m++) {
    const host = pick();
    const meeting: MeetingParticipant[] = [{ name: 'p1', country: host }];
    for (let i = 2; i <= sample.size; i++) meeting.push({ name: `p${i}`, country: random() < sample.localShare ? host : pick() });
    meetings.push(meeting);
  }
  return meetings;
}
