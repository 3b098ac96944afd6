/**
 * The table rows the SQL store adapters share (SQLite and PostgreSQL store
 * these three the same way), and their records. Accounts, meetings and
 * signing keys differ: SQLite keeps their JSON as text, PostgreSQL as JSONB.
 */
import type { AdmittedCount, ManifestVersion, Participant, Placement } from './store.js';

export interface PlacementRow {
  meeting_id: string;
  datacenter: string;
  epoch: number;
  since: string;
}

export interface ParticipantRow {
  meeting_id: string;
  id: string;
  country: string;
  plan: string | null;
  joined_at: string;
  datacenter: string;
  session: string;
}

export interface ManifestRow {
  version: number;
  text: string;
  sha256: string;
  created_at: string;
  actor: string;
}

export function rowToPlacement(r: PlacementRow): Placement {
  return { meetingId: r.meeting_id, datacenter: r.datacenter, epoch: r.epoch, since: r.since };
}

/** A row of `GROUP BY datacenter, meeting_id` (PostgreSQL's COUNT is a bigint, which pg gives as text). */
export interface CountRow {
  datacenter: string;
  meeting_id: string;
  participants: number | string;
}

export function rowToCount(r: CountRow): AdmittedCount {
  return { datacenter: r.datacenter, meetingId: r.meeting_id, participants: Number(r.participants) };
}

export function rowToParticipant(r: ParticipantRow): Participant {
  return { id: r.id, meetingId: r.meeting_id, country: r.country, ...(r.plan === null ? {} : { plan: r.plan }), joinedAt: r.joined_at, datacenter: r.datacenter, session: r.session };
}

export function rowToManifest(r: ManifestRow): ManifestVersion {
  return { version: r.version, text: r.text, sha256: r.sha256, createdAt: r.created_at, actor: r.actor };
}
