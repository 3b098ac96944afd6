/**
 * Whose records a participant's are, for control-plane residency: their
 * country, narrowed to the jurisdictions the decider allows their media
 * (fences, plan, account, meeting), so their records obey exactly what their
 * media obeys. The core's selectStore then picks the store.
 */
import type { Manifest } from '../core/manifest/types.js';
import { routeRequestFor } from '../core/select/meeting-policy.js';
import { allowedJurisdictions } from '../core/select/select.js';
import { selectStore } from '../core/select/store.js';
import type { RecordSubject } from './context.js';
import { meetingPolicyOf } from './route-request.js';
import type { Participant, Store } from './store/store.js';

/** A member's subject, from their country and their meeting's policy (when no ticket is at hand); `cascade` as the broker runs. */
export async function memberSubject(store: Store, manifest: Manifest, meetingId: string, country: string, cascade = false): Promise<RecordSubject> {
  if (manifest.stores.length === 0) return { country };
  const meeting = await store.getMeeting(meetingId);
  const policy = meeting && meetingPolicyOf(await store.getAccount(meeting.accountId), meeting, cascade);
  return { country, accountJurisdictions: allowedJurisdictions(manifest, routeRequestFor(country, policy)) };
}

/** The record store that holds a participant's row under `manifest`: undefined when it declares none; throws NO_STORE_IN_FENCE rather than guess. */
export async function rowStoreOf(store: Store, manifest: Manifest, participant: Participant, cascade = false): Promise<string | undefined> {
  if (manifest.stores.length === 0) return undefined;
  return selectStore(manifest, await memberSubject(store, manifest, participant.meetingId, participant.country, cascade))?.id;
}
