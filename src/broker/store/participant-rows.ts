/**
 * The port of a record store's participant rows (resident-store.ts): with
 * control-plane residency a connected participant's row lives in their record
 * store's database, which keeps rows but no meetings. Adapters: memory,
 * SQLite (beside the store's SQLite audit log, in one file) and PostgreSQL
 * (beside its PostgreSQL audit log); one contract suite
 * (participant-rows-contract.fixture.ts) runs against every adapter.
 */
import type { Store } from './store.js';

/** Participant rows without their meetings: what a record store's database keeps of connected participants (resident-store.ts). Same semantics as Store's participant methods, except that a row's meeting need not exist here. */
export type ParticipantRows = Pick<Store, 'addParticipant' | 'removeParticipant' | 'listParticipantsAt' | 'removeParticipantsAt' | 'listParticipants' | 'countParticipants' | 'close'>;
