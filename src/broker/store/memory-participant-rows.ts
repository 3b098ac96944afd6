/**
 * Participant rows in process memory, for tests and demos. Rows are copied on
 * the way in and out, so callers never share state with the adapter; each
 * method runs to completion before the next starts, which makes a replace
 * and its read of the replaced row atomic without locks.
 */
import { GeobridgeError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import type { ParticipantRows } from './participant-rows.js';
import { mergeCounts, type AdmittedCount, type Participant, type ParticipantSession } from './store.js';

/** Copies a row, dropping an absent plan (the same shape the SQL adapters return). */
function copy(p: Participant): Participant {
  return { id: p.id, meetingId: p.meetingId, country: p.country, ...(p.plan === undefined ? {} : { plan: p.plan }), joinedAt: p.joinedAt, datacenter: p.datacenter, session: p.session };
}

function byMeetingThenId(a: Participant, b: Participant): number {
  return compareStrings(a.meetingId, b.meetingId) || compareStrings(a.id, b.id);
}

/** ParticipantRows kept in process memory; nothing survives `close()`. */
export class MemoryParticipantRows implements ParticipantRows {
  /** meetingId → participantId → row. */
  readonly #rows = new Map<string, Map<string, Participant>>();
  #closed = false;

  addParticipant(participant: Participant): Promise<Participant | undefined> {
    return this.#run(() => {
      let inMeeting = this.#rows.get(participant.meetingId);
      if (!inMeeting) {
        inMeeting = new Map();
        this.#rows.set(participant.meetingId, inMeeting);
      }
      const replaced = inMeeting.get(participant.id);
      inMeeting.set(participant.id, copy(participant));
      return replaced;
    });
  }

  removeParticipant(meetingId: string, participantId: string, of: ParticipantSession): Promise<boolean> {
    return this.#run(() => {
      const inMeeting = this.#rows.get(meetingId);
      const row = inMeeting?.get(participantId);
      if (inMeeting === undefined || row?.session !== of.session || row.datacenter !== of.datacenter) return false;
      inMeeting.delete(participantId);
      // An empty meeting's map would otherwise stay for good: meetings come and go, the adapter lives on.
      if (inMeeting.size === 0) this.#rows.delete(meetingId);
      return true;
    });
  }

  countParticipants(): Promise<AdmittedCount[]> {
    return this.#run(() => mergeCounts([...this.#rows.values()].flatMap((inMeeting) => [...inMeeting.values()].map((p) => ({ datacenter: p.datacenter, meetingId: p.meetingId, participants: 1 })))));
  }

  listParticipantsAt(datacenter: string): Promise<Participant[]> {
    return this.#run(() => this.#at(datacenter).sort(byMeetingThenId).map(copy));
  }

  removeParticipantsAt(datacenter: string): Promise<Participant[]> {
    return this.#run(() => {
      const removed = this.#at(datacenter);
      for (const p of removed) {
        const inMeeting = this.#rows.get(p.meetingId);
        inMeeting?.delete(p.id);
        if (inMeeting?.size === 0) this.#rows.delete(p.meetingId);
      }
      return removed.sort(byMeetingThenId);
    });
  }

  listParticipants(meetingId: string): Promise<Participant[]> {
    return this.#run(() => [...(this.#rows.get(meetingId)?.values() ?? [])].sort((a, b) => compareStrings(a.joinedAt, b.joinedAt) || compareStrings(a.id, b.id)).map(copy));
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** The rows admitted at `datacenter`, unsorted and not copied. */
  #at(datacenter: string): Participant[] {
    return [...this.#rows.values()].flatMap((inMeeting) => [...inMeeting.values()].filter((p) => p.datacenter === datacenter));
  }

  /** Runs `fn` on open rows; a throw becomes a rejection, never a sync throw. */
  #run<T>(fn: () => T): Promise<T> {
    try {
      if (this.#closed) throw new GeobridgeError('STORE_UNAVAILABLE', 'the participant rows are closed; open new ones');
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
