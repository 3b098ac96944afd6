/**
 * The broker's signing keys: Ed25519 key pairs whose public half and life
 * (created, retired, revoked) are in the Store and whose private half is in
 * a SigningKeySecrets (files in DATA/keys, or memory); published as a JWKS,
 * rotated without breaking tokens in flight, revoked at once. Brokers that
 * share a store each sign with a key of their own (its `holder` is the
 * broker's name) and verify with everyone's: no private key ever leaves the
 * broker that made it, and one broker's rotation retires only its own keys.
 * Shell code:
 * time comes from an injected clock, randomness from node:crypto.
 */
import { createPublicKey, generateKeyPairSync, randomUUID, sign as signBytes, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { compareStrings } from '../core/order.js';
import { MAX_REVOKED_KIDS } from '../protocol/control-commands.js';
import { keyRevokedError, type KeySource } from '../protocol/jwt.js';
import { objectToJson } from './frozen-json.js';
import { MemorySigningKeySecrets, type SigningKeySecrets } from './signing-key-secrets.js';
import type { SigningKey, Store } from './store/store.js';

/** The part of the Store a key ring needs. */
export type KeyStore = Pick<Store, 'saveSigningKey' | 'retireSigningKeysExcept' | 'revokeSigningKey' | 'listSigningKeys'>;

/** A public key as published in the JWKS (RFC 7517 §4, RFC 8037 §2). */
export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

/** The key set served at the broker's JWKS endpoint. */
export interface PublicJwks {
  readonly keys: readonly PublicJwk[];
}

/** A key the broker ever signed with, public half and life: what a receipt's ticket is checked against long after. */
export interface KeyHistoryEntry {
  readonly jwk: PublicJwk;
  readonly state: KeyState;
  readonly createdAt: string;
  readonly retiredAt?: string;
  readonly revokedAt?: string;
}

/** Options of `KeyRing.sign`. */
export interface SignOptions {
  readonly audience: string;
  readonly expiresInSeconds: number;
  readonly subject: string;
  readonly issuer?: string;
  /** The `typ` header (RFC 8725 §3.11 explicit typing), e.g. `route-ticket+jwt`. */
  readonly type?: string;
}

/** A signed JWT and the payload object it was serialized from. */
export interface SignedJwt {
  readonly token: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** A compact JWS over a binary payload, and that payload. */
export interface SignedPayload {
  readonly token: string;
  readonly payload: Uint8Array;
}

/** Options of `KeyRing.load`. */
export interface KeyRingOptions {
  /** How long a retired key stays in the JWKS and verifies tokens (default 24 h; must exceed every token lifetime). */
  readonly retiredGraceSeconds?: number;
  /** Where the private halves are kept (default: in this process's memory, which suits only the memory store). */
  readonly secrets?: SigningKeySecrets;
  /** This broker's name among those sharing the store (default 'local'): the keys it makes are its own. */
  readonly holder?: string;
}

/** A key's state: `current` signs; `retired` only verifies, for the grace period; `revoked` verifies nothing. */
export type KeyState = 'current' | 'retired' | 'revoked';

/** A key as the operator's API lists it. */
export interface KeyInfo {
  readonly kid: string;
  readonly state: KeyState;
  readonly createdAt: string;
  /** The broker that signs with it, when brokers share a store. */
  readonly holder?: string;
  readonly retiredAt?: string;
  readonly revokedAt?: string;
  /** Until when a retired key verifies tokens (its retirement plus the grace period). */
  readonly verifiesUntil?: string;
}

/** What a revocation did. */
export interface Revocation {
  readonly kid: string;
  readonly revokedAt: string;
  /** The key made current first, when the revoked key was the one signing. */
  readonly rotatedTo?: string;
}

const DEFAULT_GRACE_SECONDS = 24 * 60 * 60;

/**
 * The longest an invite link may live (`POST /v1/meetings/:id/invites`). A
 * key retired that long ago still verifies the invites it signed, and
 * nothing else: a host's 30-day link must not die at the next rotation.
 */
export const INVITE_MAX_SECONDS = 30 * 86_400;

/** A loaded key: its stored form and public JWK, and its private key if it is the current one. */
interface LoadedKey {
  readonly stored: SigningKey;
  readonly publicJwk: PublicJwk;
  /** Protected headers already encoded, by `typ` ('' for none): they are the same for every token of a kind. */
  readonly headers: Map<string, string>;
}

/** The key that signs: a loaded key and its private half, for node:crypto (~5× faster than WebCrypto here). */
interface CurrentKey extends LoadedKey {
  readonly signingKey: KeyObject;
}

/** The encoded protected header of `key`'s tokens of type `type`. */
function encodedHeader(key: LoadedKey, type: string | undefined): string {
  let header = key.headers.get(type ?? '');
  if (header === undefined) {
    header = base64url(JSON.stringify({ alg: 'EdDSA', kid: key.stored.kid, ...(type === undefined ? {} : { typ: type }) }));
    key.headers.set(type ?? '', header);
  }
  return header;
}

/** The compact JWS of `signingInput` (RFC 7515 §7.1): it, a dot, and its Ed25519 signature. */
function compactJws(signingInput: string, key: KeyObject): string {
  return `${signingInput}.${signBytes(null, Buffer.from(signingInput), key).toString('base64url')}`;
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

function invalidKey(kid: string, why: string, cause?: unknown): GeobridgeError {
  return new GeobridgeError('SIGNING_KEY_INVALID', `Signing key ${kid} is unusable: ${why}. Restore the data directory's keys/ and broker.sqlite from the same backup, or revoke the key (geobridge keys revoke).`, { cause });
}

/** Checks a stored public key, so a corrupt store fails at load, not at the first verification. */
async function loadKey(stored: SigningKey): Promise<LoadedKey> {
  const { kty, crv, x } = stored.publicJwk;
  if (kty !== 'OKP' || crv !== 'Ed25519' || x === undefined) throw invalidKey(stored.kid, 'not an Ed25519 public JWK');
  const thumbprint = await calculateJwkThumbprint({ kty, crv, x });
  if (thumbprint !== stored.kid) throw invalidKey(stored.kid, 'kid is not the RFC 7638 thumbprint of the public key');
  return { stored, headers: new Map(), publicJwk: { kty: 'OKP', crv: 'Ed25519', x, kid: stored.kid, alg: 'EdDSA', use: 'sig' } };
}

/** The base64url `x` of an Ed25519 key's public half (RFC 8037 §2). */
function publicX(key: KeyObject): string {
  return String(createPublicKey(key).export({ format: 'jwk' }).x);
}

/** The state of `key`: each broker's newest key is current (it signs there). */
function stateOf(key: SigningKey): KeyState {
  if (key.revokedAt !== undefined) return 'revoked';
  return key.retiredAt === undefined ? 'current' : 'retired';
}

/** The broker's Ed25519 keys: one current key signs, retired keys keep verifying for a grace period, revoked keys never verify. */
export class KeyRing implements KeySource {
  readonly #store: KeyStore;
  readonly #secrets: SigningKeySecrets;
  readonly #clock: () => Date;
  readonly #graceMs: number;
  readonly #holder: string;
  #keys: readonly LoadedKey[] = [];
  #current: CurrentKey | undefined;
  #revoked: ReadonlySet<string> = new Set();
  /** Key resolvers by the kids they cover: one for tokens, one for invites. */
  readonly #resolvers = new Map<string, JWTVerifyGetKey>();

  private constructor(store: KeyStore, secrets: SigningKeySecrets, clock: () => Date, graceSeconds: number, holder: string) {
    this.#store = store;
    this.#secrets = secrets;
    this.#clock = clock;
    this.#graceMs = graceSeconds * 1000;
    this.#holder = holder;
  }

  /**
   * Loads the keys, making a new current key when there is none — or when
   * the current key's private half is lost (its public half still verifies
   * what it signed, for the grace period) — and destroys the private halves
   * of keys that no longer sign.
   */
  static async load(store: KeyStore, clock: () => Date, options: KeyRingOptions = {}): Promise<KeyRing> {
    const grace = options.retiredGraceSeconds ?? DEFAULT_GRACE_SECONDS;
    if (!Number.isFinite(grace) || grace < 0) {
      throw new GeobridgeError('INVALID_TOKEN_REQUEST', `retiredGraceSeconds must be a number ≥ 0, got ${grace}.`);
    }
    const ring = new KeyRing(store, options.secrets ?? new MemorySigningKeySecrets(), clock, grace, options.holder ?? 'local');
    await ring.refresh();
    if (!(await ring.ensureCurrent())) await ring.#destroyRetiredSecrets();
    return ring;
  }

  /** Makes a new key unless this broker has one that signs (another broker may have revoked it); true when it did. */
  async ensureCurrent(): Promise<boolean> {
    if (this.#current !== undefined) return false;
    await this.rotate();
    return true;
  }

  /**
   * Re-reads the keys from the store (another broker may have rotated or
   * revoked). The current key is this broker's newest one neither retired
   * nor revoked, so instances on one data directory that raced to create a
   * key converge on the same one; without its private half the ring signs
   * nothing until rotated. A key without a holder is from before brokers
   * had names: it counts as this broker's.
   */
  async refresh(): Promise<void> {
    const stored = await this.#store.listSigningKeys();
    const keys = await Promise.all(stored.map(loadKey));
    const newest = keys.find((k) => k.stored.retiredAt === undefined && k.stored.revokedAt === undefined && (k.stored.holder ?? this.#holder) === this.#holder);
    let current: CurrentKey | undefined;
    if (newest !== undefined) {
      const kid = newest.stored.kid;
      const signingKey = this.#current?.stored.kid === kid ? this.#current.signingKey : await this.#secrets.load(kid);
      if (signingKey !== undefined) {
        if (signingKey.asymmetricKeyType !== 'ed25519' || publicX(signingKey) !== newest.publicJwk.x) throw invalidKey(kid, 'its private key file holds another key');
        current = { ...newest, signingKey };
      }
    }
    this.#keys = keys;
    this.#current = current;
    this.#revoked = new Set(keys.filter((k) => k.stored.revokedAt !== undefined).map((k) => k.stored.kid));
    this.#resolvers.clear();
  }

  /** Creates a new key, makes it current here and retires this broker's others (they still verify during the grace period); answers its kid. */
  async rotate(): Promise<string> {
    const at = this.#clock().toISOString();
    const { privateKey } = generateKeyPairSync('ed25519');
    const x = publicX(privateKey);
    const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x });
    // The private half first, then the key, then the retirements: a crash in between leaves
    // an unused file, or two keys that may sign — never a current key without its private half.
    await this.#secrets.save(kid, privateKey);
    await this.#store.saveSigningKey({ kid, publicJwk: { kty: 'OKP', crv: 'Ed25519', x }, createdAt: at, holder: this.#holder });
    await this.#store.retireSigningKeysExcept(kid, at);
    await this.refresh();
    await this.#destroyRetiredSecrets();
    return kid;
  }

  /**
   * Revokes a key: from now on it verifies nothing, here or (once told) on
   * any bridge, and it never comes back. The current key is first replaced
   * by a new one. Revoking a revoked key changes nothing. Throws NOT_FOUND
   * for a kid the ring does not know.
   */
  async revoke(kid: string): Promise<Revocation> {
    const known = this.#keys.find((k) => k.stored.kid === kid);
    if (known === undefined) throw new GeobridgeError('NOT_FOUND', `no signing key '${kid}'; 'geobridge keys list' shows the kids.`);
    if (known.stored.revokedAt !== undefined) return { kid, revokedAt: known.stored.revokedAt };
    const rotatedTo = this.#current?.stored.kid === kid ? await this.rotate() : undefined;
    const at = this.#clock().toISOString();
    await this.#store.revokeSigningKey(kid, at);
    await this.#secrets.remove(kid);
    await this.refresh();
    return { kid, revokedAt: at, ...(rotatedTo === undefined ? {} : { rotatedTo }) };
  }

  /** The kid of the key that signs new tokens. */
  get currentKid(): string {
    return this.#currentKey().stored.kid;
  }

  /** True when `kid` names a key of this ring that is neither retired nor revoked (a retired key verifies during its grace period, but nothing it signed is cached). */
  isActive(kid: string): boolean {
    return this.#keys.some((k) => k.stored.kid === kid && k.stored.retiredAt === undefined && k.stored.revokedAt === undefined);
  }

  /** True when `kid` was revoked. */
  isRevoked(kid: string): boolean {
    return this.#revoked.has(kid);
  }

  /** The revoked kids, newest revocation first, at most MAX_REVOKED_KIDS (what bridges are told to refuse). */
  revokedKids(): string[] {
    return this.#keys
      .filter((k) => k.stored.revokedAt !== undefined)
      .sort((a, b) => compareStrings(b.stored.revokedAt ?? '', a.stored.revokedAt ?? '') || compareStrings(a.stored.kid, b.stored.kid))
      .slice(0, MAX_REVOKED_KIDS)
      .map((k) => k.stored.kid);
  }

  /** Every key and its state, newest first. */
  list(): KeyInfo[] {
    return this.#keys.map(({ stored }) => {
      const state = stateOf(stored);
      const until = state === 'retired' && stored.retiredAt !== undefined ? new Date(Date.parse(stored.retiredAt) + this.#graceMs).toISOString() : undefined;
      return {
        kid: stored.kid,
        state,
        createdAt: stored.createdAt,
        ...(stored.holder === undefined ? {} : { holder: stored.holder }),
        ...(stored.retiredAt === undefined ? {} : { retiredAt: stored.retiredAt }),
        ...(stored.revokedAt === undefined ? {} : { revokedAt: stored.revokedAt }),
        ...(until === undefined ? {} : { verifiesUntil: until }),
      };
    });
  }

  /**
   * Every key and its life, newest first, with its public half: a routing
   * receipt outlives its ticket and the JWKS grace, and whoever checks it
   * later must tell a key since retired (its tickets stand) from one revoked
   * (none does).
   */
  history(): KeyHistoryEntry[] {
    return this.#keys.map(({ stored, publicJwk }) => ({
      jwk: publicJwk,
      state: stateOf(stored),
      createdAt: stored.createdAt,
      ...(stored.retiredAt === undefined ? {} : { retiredAt: stored.retiredAt }),
      ...(stored.revokedAt === undefined ? {} : { revokedAt: stored.revokedAt }),
    }));
  }

  /** The public keys that verify tokens now: active keys and keys retired less than the grace period ago, never revoked ones. */
  jwks(): PublicJwks {
    return { keys: this.#liveKeys().map((k) => k.publicJwk) };
  }

  /** A jose key resolver over `jwks()`, for src/protocol's verifiers; a revoked kid throws KEY_REVOKED. */
  keyResolver(): JWTVerifyGetKey {
    return this.#resolverOver(this.#liveKeys());
  }

  /** The keys that verify invites: as `keyResolver`, but a retired key verifies for INVITE_MAX_SECONDS (or the grace, if longer). */
  inviteKeys(): KeySource {
    return { keyResolver: () => this.#resolverOver(this.#liveKeys(Math.max(this.#graceMs, INVITE_MAX_SECONDS * 1000))) };
  }

  #resolverOver(live: readonly LoadedKey[]): JWTVerifyGetKey {
    const kids = live.map((k) => k.stored.kid).join(',');
    let getKey = this.#resolvers.get(kids);
    if (getKey === undefined) {
      const local = createLocalJWKSet({ keys: live.map((k) => ({ ...k.publicJwk })) } satisfies JSONWebKeySet);
      const revoked = this.#revoked;
      getKey = (header, token) => {
        if (header.kid !== undefined && revoked.has(header.kid)) throw keyRevokedError(header.kid);
        return local(header, token);
      };
      // Key sets change only with rotations and revocations: the two current ones are all worth keeping.
      if (this.#resolvers.size >= 2) this.#resolvers.clear();
      this.#resolvers.set(kids, getKey);
    }
    return getKey;
  }

  /** Signs `claims` as a JWT with the current key; sets `aud`, `sub`, `iat`, `exp`, `jti` (and `iss` if given). */
  async sign(claims: Readonly<Record<string, unknown>>, options: SignOptions): Promise<string> {
    return (await this.signJwt(claims, options)).token;
  }

  /** `sign`, also giving the payload object the token was serialized from, so that the caller need not decode its own token. */
  signJwt(claims: Readonly<Record<string, unknown>>, options: SignOptions): Promise<SignedJwt> {
    // Bad options reject, as from any async signer, rather than throw.
    return new Promise((resolve) => {
      const { signingKey, signingInput, payload } = this.#prepare(claims, options);
      // Signed on the event loop (~45 µs), not on the libuv pool: on two CPUs the
      // hop to a pool thread cost more than it saved the loop, and the pool thread
      // competed with the audit writer and the clients for the other CPU. Measured
      // with route-http, interleaved: 384 µs of CPU per route at 2,933/s signing
      // here, 448 µs at 2,811/s on the pool.
      resolve({ token: compactJws(signingInput, signingKey), payload });
    });
  }

  /**
   * Signs `build(iat)` as the payload of a compact JWS with the current key
   * and `typ` `type`: tokens whose claims are CBOR (route tickets), issued at
   * `iat` seconds on the key ring's clock.
   */
  signPayload(type: string, build: (iat: number) => Uint8Array): Promise<SignedPayload> {
    return new Promise((resolve) => {
      const key = this.#currentKey();
      const payload = build(Math.floor(this.#clock().getTime() / 1000));
      const signingInput = `${encodedHeader(key, type)}.${Buffer.from(payload).toString('base64url')}`;
      resolve({ token: compactJws(signingInput, key.signingKey), payload });
    });
  }

  /** The JWS signing input (RFC 7515 §7.1) over the JWT claims (RFC 7519), and the key to sign it with. */
  #prepare(claims: Readonly<Record<string, unknown>>, options: SignOptions): { signingKey: KeyObject; signingInput: string; payload: Readonly<Record<string, unknown>> } {
    const lifetime = options.expiresInSeconds;
    if (!Number.isInteger(lifetime) || lifetime <= 0) {
      throw new GeobridgeError('INVALID_TOKEN_REQUEST', `expiresInSeconds must be a positive integer, got ${lifetime}.`);
    }
    if (options.subject === '' || options.audience === '') {
      throw new GeobridgeError('INVALID_TOKEN_REQUEST', 'A token needs a non-empty subject and audience.');
    }
    const key = this.#currentKey();
    const iat = Math.floor(this.#clock().getTime() / 1000);
    const payload = {
      ...claims,
      aud: options.audience,
      sub: options.subject,
      iat,
      exp: iat + lifetime,
      jti: randomUUID(),
      ...(options.issuer === undefined ? {} : { iss: options.issuer }),
    };
    return { signingKey: key.signingKey, signingInput: `${encodedHeader(key, options.type)}.${base64url(objectToJson(payload))}`, payload };
  }

  /** Keys neither revoked nor retired `graceMs` ago (default: the grace period), newest first. */
  #liveKeys(graceMs = this.#graceMs): readonly LoadedKey[] {
    const now = this.#clock().getTime();
    return this.#keys.filter((k) => k.stored.revokedAt === undefined && (k.stored.retiredAt === undefined || Date.parse(k.stored.retiredAt) + graceMs > now));
  }

  /** Private halves of keys that will never sign again are destroyed: a copy of the disk taken later holds no key that verifies. */
  async #destroyRetiredSecrets(): Promise<void> {
    for (const { stored } of this.#keys) if (stored.retiredAt !== undefined || stored.revokedAt !== undefined) await this.#secrets.remove(stored.kid);
  }

  #currentKey(): CurrentKey {
    // load() always leaves a current key; only a store changed behind our back breaks this.
    if (this.#current === undefined) throw new GeobridgeError('SIGNING_KEY_INVALID', "The key ring has no current signing key with its private half here; rotate ('geobridge keys rotate') or restart the broker.");
    return this.#current;
  }
}
