/**
 * Checking the broker's JWTs, for every party that reads them: EdDSA only,
 * explicit `typ` (RFC 8725 §3.11) and audience per token kind, a little clock
 * tolerance, and every failure classified so that an expired token, a
 * revoked key and an unreachable key set are each said as such. Route
 * tickets are the same JWS with a CBOR payload (`checkCborJws`): its claims
 * under CWT's integer keys (RFC 8392 §3.1), and its `typ` alone tells its
 * kind.
 */
import { compactVerify, createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import { CborError, decodeCbor, type CborMap } from './cbor.js';
import { isCanonicalCompactJws } from './compact-jws.js';

/** Seconds of clock skew tolerated between broker, bridges and clients. */
export const CLOCK_TOLERANCE_SECONDS = 5;

/** A JWKS document (RFC 7517 §5), e.g. the JSON served at the broker's JWKS URL. */
export interface JwksDocument {
  readonly keys: readonly Readonly<JWK>[];
}

/** Anything that hands out a jose key resolver over its live keys (the broker's key ring). */
export interface KeySource {
  keyResolver(): JWTVerifyGetKey;
}

/** What verifies a token: a key source, a JWKS document, or a jose resolver (`createRemoteJWKSet`, `createLocalJWKSet`). */
export type TokenKeys = KeySource | JwksDocument | JWTVerifyGetKey;

/** Why a JWT was refused: a bad token, an expired one, a key set that could not be had, a revoked key. */
export type JwtFailureReason = 'invalid' | 'expired' | 'unavailable' | 'revoked';

/** Outcome of checking a JWT: the payload and its key id, or why it was refused. */
export type JwtCheck =
  | { readonly ok: true; readonly payload: JWTPayload; readonly kid: string | undefined }
  | { readonly ok: false; readonly reason: JwtFailureReason; readonly detail: string; readonly cause: unknown };

/** A refused JWT. */
export type JwtFailure = Extract<JwtCheck, { ok: false }>;

/** Options of `checkJwt`. */
export interface CheckJwtOptions {
  readonly audience: string;
  /** The `typ` header the token must carry. */
  readonly type: string;
  readonly now: Date;
  readonly issuer?: string;
}

const localSets = new WeakMap<JwksDocument, JWTVerifyGetKey>();

/** The jose key resolver for any accepted form of keys. */
function resolverOf(keys: TokenKeys): JWTVerifyGetKey {
  if (typeof keys === 'function') return keys;
  if ('keyResolver' in keys) return keys.keyResolver();
  let local = localSets.get(keys);
  if (local === undefined) {
    local = createLocalJWKSet({ keys: keys.keys.map((k) => ({ ...k })) } satisfies JSONWebKeySet);
    localSets.set(keys, local);
  }
  return local;
}

/** Verifies a JWT signed with EdDSA only and classifies any failure; never throws. */
export async function checkJwt(token: string, keys: TokenKeys, options: CheckJwtOptions): Promise<JwtCheck> {
  if (!isCanonicalCompactJws(token)) {
    return { ok: false, reason: 'invalid', detail: 'not a compact JWS in canonical base64url', cause: undefined };
  }
  try {
    const { payload, protectedHeader } = await jwtVerify(token, resolverOf(keys), {
      // EdDSA only: no `none`, no HMAC keyed with a public key (RFC 8725 §3.1–3.2).
      algorithms: ['EdDSA'],
      audience: options.audience,
      typ: options.type,
      currentDate: options.now,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
      ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    });
    return { ok: true, payload, kid: protectedHeader.kid };
  } catch (cause) {
    return { ok: false, reason: classify(cause), detail: cause instanceof Error ? cause.message : String(cause), cause };
  }
}

/** Outcome of checking a JWS whose payload is a CBOR map of claims. */
export type CborJwsCheck = { readonly ok: true; readonly claims: CborMap; readonly kid: string | undefined } | JwtFailure;

/** Options of `checkCborJws`: as `checkJwt`'s, without an audience (the `typ` names the kind). */
export type CheckCborJwsOptions = Omit<CheckJwtOptions, 'audience'>;

/** The CWT keys (RFC 8392 §3.1) that `checkCborJws` reads: issuer, subject, expiry, issued-at. */
export const CWT = { iss: 1, sub: 2, exp: 4, iat: 6 } as const;

/**
 * Verifies a compact JWS signed with EdDSA whose payload is one deterministic
 * CBOR map (cbor.ts) holding `sub`, `exp` and `iat` under their CWT keys,
 * as `checkJwt` checks a JWT: `typ`, expiry with the same tolerance, issuer
 * when given. No token id: such tokens are not used once (a route ticket is
 * shown to every bridge it names). Never throws.
 */
export async function checkCborJws(token: string, keys: TokenKeys, options: CheckCborJwsOptions): Promise<CborJwsCheck> {
  if (!isCanonicalCompactJws(token)) return { ok: false, reason: 'invalid', detail: 'not a compact JWS in canonical base64url', cause: undefined };
  let verified: Awaited<ReturnType<typeof compactVerify>>;
  try {
    verified = await compactVerify(token, resolverOf(keys), { algorithms: ['EdDSA'] });
  } catch (cause) {
    return { ok: false, reason: classify(cause), detail: cause instanceof Error ? cause.message : String(cause), cause };
  }
  const invalid = (detail: string, cause?: unknown): JwtFailure => ({ ok: false, reason: 'invalid', detail, cause });
  if (verified.protectedHeader.typ !== options.type) return invalid(`unexpected "typ" header value (want ${options.type})`);
  let claims: unknown;
  try {
    claims = decodeCbor(verified.payload);
  } catch (cause) {
    if (cause instanceof CborError) return invalid(`the payload is not deterministic CBOR: ${cause.message}`, cause);
    throw cause;
  }
  if (!(claims instanceof Map)) return invalid('the payload is not a CBOR map');
  const map = claims as CborMap;
  const exp = map.get(CWT.exp);
  const iat = map.get(CWT.iat);
  const missing = (['sub', 'exp', 'iat'] as const).filter((name) => !map.has(CWT[name]));
  if (missing.length > 0) return invalid(`missing required claim(s) ${missing.join(', ')}`);
  if (typeof exp !== 'number' || typeof iat !== 'number') return invalid('claims exp and iat must be integers');
  // As jose's jwtVerify: expired once exp is at or before now, less the tolerance.
  if (exp <= Math.floor(options.now.getTime() / 1000) - CLOCK_TOLERANCE_SECONDS) return { ok: false, reason: 'expired', detail: '"exp" claim timestamp check failed', cause: undefined };
  if (options.issuer !== undefined && map.get(CWT.iss) !== options.issuer) return invalid('unexpected "iss" claim value');
  return { ok: true, claims: map, kid: verified.protectedHeader.kid };
}

/**
 * The error a key resolver throws for a token whose `kid` was revoked (the
 * broker's key ring, a bridge's): `checkJwt` reports it as `revoked`,
 * whatever else is wrong with the token.
 */
export function keyRevokedError(kid: string): GeobridgeError {
  return new GeobridgeError('KEY_REVOKED', `the broker revoked the key ${kid} that signed this token`);
}

/** The token's key was revoked: said as such, so that nobody hunts for a bad token or a wrong clock. */
export function keyRevoked(failure: JwtFailure, what: string): GeobridgeError {
  return new GeobridgeError('KEY_REVOKED', `The ${what} was signed by a key the broker revoked (${failure.detail}); ask the broker for a new one.`, { cause: failure.cause });
}

/** The key set could not be fetched: not the token's fault, so not reported as invalid. */
export function keysUnavailable(failure: JwtFailure): GeobridgeError {
  return new GeobridgeError('JWKS_UNAVAILABLE', `The broker's key set could not be loaded: ${failure.detail}. Check that the broker's JWKS URL is reachable.`, {
    cause: failure.cause,
  });
}

/** Expired tokens, unreachable key sets and revoked keys are told apart from bad tokens; everything else is invalid. */
function classify(error: unknown): JwtFailureReason {
  if (isGeobridgeError(error) && error.code === 'KEY_REVOKED') return 'revoked';
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWKSTimeout) return 'unavailable';
  // A remote JWKS that answers non-200 or non-JSON throws the generic JOSEError;
  // a network failure throws fetch's own TypeError.
  if (error instanceof errors.JOSEError) return error.code === 'ERR_JOSE_GENERIC' ? 'unavailable' : 'invalid';
  return 'unavailable';
}
