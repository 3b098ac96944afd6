/**
 * The manifest model, version 1 (see docs/manifest.md). Lists keep what the
 * author wrote (country codes, group names, '*' and '!CC'), so that printing a
 * parsed manifest gives the same manifest back; `compilePolicy` resolves them.
 */

/** A point on Earth in degrees. */
export interface GeoPoint {
  readonly lat: number;
  readonly lon: number;
}

/**
 * A STUN or TURN server a datacenter's bridge may hand its clients. Credentials
 * are never part of the manifest: they stay in the bridge's configuration.
 */
export interface DeclaredIceServer {
  /** `stun:`, `stuns:`, `turn:` or `turns:` URLs of one server (RFC 7064, RFC 7065). */
  readonly urls: readonly string[];
  /** ISO 3166-1 alpha-2 code of where it relays or answers; the parser fills in the datacenter's own when none is written. */
  readonly jurisdiction: string;
}

/** A datacenter that can host bridges. */
export interface Datacenter {
  readonly id: string;
  /** ISO 3166-1 alpha-2 code of the country whose law governs it. */
  readonly jurisdiction: string;
  readonly location: GeoPoint;
  /** Concurrent participants it can carry. */
  readonly capacity: number;
  readonly tags: readonly string[];
  /** STUN/TURN servers its bridge may hand out, each filtered per participant by their allowed jurisdictions. */
  readonly ice: readonly DeclaredIceServer[];
}

/**
 * Where the broker keeps what it records about participants (audit records,
 * participant and meeting rows, receipts). That is personal data, held to the
 * same fences as media: a participant's records go only to a store whose
 * jurisdiction every fence binding the participant permits.
 */
export interface RecordStore {
  readonly id: string;
  /** ISO 3166-1 alpha-2 code of the country whose law governs the data it holds. */
  readonly jurisdiction: string;
  /** Where it is; of the stores a participant may use, the nearest holds their records. */
  readonly location: GeoPoint;
}

/** A client zone: the countries it serves and their datacenter lists. */
export interface Zone {
  readonly id: string;
  /** Country codes, group names, or '*' (every country no other zone names). */
  readonly countries: readonly string[];
  readonly primaries: readonly string[];
  /** The backup list. */
  readonly secondaries: readonly string[];
  /** Forecast peak of concurrent participants, for capacity checks. */
  readonly demand?: number;
}

/** A hard residency rule; exactly one of `allow` and `deny` is set. */
export interface Fence {
  readonly name: string;
  /** Country codes or groups, '*' for everyone, '!CC' / '!GROUP' to exclude. */
  readonly clients: readonly string[];
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
  /**
   * `'e2ee'`: end-to-end encrypted media of the clients may transit (be relayed
   * by) a bridge outside the fence, as ciphertext only. Absent means `never`,
   * the default, so a fence written without it prints back without it.
   */
  readonly transit?: 'e2ee';
}

/** What a fence says about E2EE ciphertext transiting a bridge outside it (`transit:`; absent in the model means never). */
export type FenceTransit = 'never' | 'e2ee';

/** A plan restricts its participants to datacenters carrying all its tags. */
export interface Plan {
  readonly id: string;
  readonly tags: readonly string[];
  /** When true, datacenters carrying all the tags serve nobody else. */
  readonly exclusive: boolean;
}

/** Tunables of the selection engine. */
export interface SelectionConfig {
  /** Backups offered to a client. */
  readonly secondaries: number;
  /** Tries per primary before moving on. */
  readonly primaryAttempts: number;
  readonly attemptTimeoutMs: number;
  /** A datacenter at or above this utilization (0..1] is skipped. */
  readonly maxUtilization: number;
}

/** A named set of countries, usable wherever a list of countries or jurisdictions is. */
export interface CountryGroup {
  readonly id: string;
  /** Country codes or other group names. */
  readonly members: readonly string[];
}

/** A whole manifest, version 1. */
export interface Manifest {
  readonly version: 1;
  readonly groups: readonly CountryGroup[];
  readonly datacenters: readonly Datacenter[];
  /** Record stores by region; none declared means the broker's one store, outside the manifest's view. */
  readonly stores: readonly RecordStore[];
  readonly zones: readonly Zone[];
  readonly fences: readonly Fence[];
  readonly plans: readonly Plan[];
  readonly selection: SelectionConfig;
}

/** Defaults applied to an absent `selection` block or field. */
export const DEFAULT_SELECTION: SelectionConfig = Object.freeze({
  secondaries: 2,
  primaryAttempts: 2,
  attemptTimeoutMs: 1500,
  maxUtilization: 0.9,
});

/**
 * The most participants a capacity or a demand may count: a trillion, far
 * beyond any datacenter or zone, and low enough that sums over thousands of
 * datacenters stay exact integers (doubles are exact up to 2^53).
 */
export const COUNT_MAX = 1_000_000_000_000;
