/**
 * Control-plane residency: which record store holds what the broker records
 * about a participant (audit records, participant rows, receipts). Those
 * records are personal data and obey the participant's fences as their media
 * does: a store is usable only if every fence binding the participant's
 * country permits its jurisdiction, and the account's own jurisdictions
 * (data routing control) narrow that further. Of the usable stores, the
 * nearest to the participant holds the records; ties go by id, so every
 * broker picks the same one.
 */
import { GeobridgeError } from '../errors.js';
import { countryPoint, isCountryCode } from '../geo/countries.js';
import { greatCircleKm } from '../geo/distance.js';
import type { GeoPoint, Manifest, RecordStore } from '../manifest/types.js';
import { compareStrings } from '../order.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';

/** Whose records are to be stored. */
export interface StoreRequest {
  /** ISO 3166-1 alpha-2 code of the participant's country (for a meeting's own records: its host's). */
  readonly country: string;
  /** Defaults to the country's representative point. */
  readonly location?: GeoPoint;
  /** Data routing control of the participant's account: it narrows, never widens. */
  readonly accountJurisdictions?: readonly string[];
}

/** The stores every fence binding `country` permits, in manifest order: the rule `check` and `diff` apply too. */
export function storesInFence(policy: CompiledPolicy, country: string): readonly RecordStore[] {
  const allowed = policy.fenceAllowed(country);
  return policy.manifest.stores.filter((store) => allowed.has(store.jurisdiction));
}

/** The stores that may hold the participant's records, nearest first (empty when the manifest declares none). */
export function storesFor(manifest: Manifest, request: StoreRequest): readonly RecordStore[] {
  if (manifest.stores.length === 0) return [];
  if (!isCountryCode(request.country)) {
    throw new GeobridgeError('INVALID_COUNTRY', `'${request.country}' is not an ISO 3166-1 alpha-2 country code (e.g. US, DE).`);
  }
  const account = request.accountJurisdictions;
  const from = request.location ?? countryPoint(request.country);
  const km = (store: RecordStore): number => (from ? greatCircleKm(from, store.location) : 0);
  return storesInFence(compilePolicy(manifest), request.country)
    .filter((store) => account?.includes(store.jurisdiction) ?? true)
    .map((store) => ({ store, km: km(store) }))
    .sort((a, b) => a.km - b.km || compareStrings(a.store.id, b.store.id))
    .map((e) => e.store);
}

/**
 * The store that holds the participant's records: undefined when the manifest
 * declares no stores (the broker's one store holds everything). Throws
 * NO_STORE_IN_FENCE when it declares stores and none is inside the
 * participant's fences: the broker refuses rather than write their records
 * across a border.
 */
export function selectStore(manifest: Manifest, request: StoreRequest): RecordStore | undefined {
  if (manifest.stores.length === 0) return undefined;
  const [nearest] = storesFor(manifest, request);
  if (!nearest) {
    const declared = manifest.stores.map((s) => `${s.id} (${s.jurisdiction})`).join(', ');
    throw new GeobridgeError('NO_STORE_IN_FENCE', `no record store is inside the fences of ${request.country} participants${request.accountJurisdictions ? " and their account's jurisdictions" : ''} (stores: ${declared}); refusing rather than recording them across the fence.`);
  }
  return nearest;
}
