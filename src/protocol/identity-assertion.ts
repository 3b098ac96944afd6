/**
 * The identity assertion (audience `geobridge:identity`, `typ`
 * gb-identity+jwt): binds a participant id to a display name inside a
 * meeting and, when given, to the participant's MLS signature key, for
 * end-to-end encryption. The broker issues it (POST /v1/identity); the other
 * members check it before they accept a leaf (src/mls/identity.ts).
 */
import type { JWTPayload } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { ClaimReader, type BaseClaims, type ClaimsResult } from './claims.js';
import { checkJwt, keyRevoked, keysUnavailable, type TokenKeys } from './jwt.js';

/** Audience of identity assertions: the other participants of a meeting. */
export const IDENTITY_AUDIENCE = 'geobridge:identity';
/** The `typ` header of identity assertions. */
export const IDENTITY_TYPE = 'gb-identity+jwt';

/** A raw 32-byte Ed25519 public key in base64url without padding: 43 characters, the last one carrying 2 bits. */
export const ED25519_PUBLIC_KEY_PATTERN = '^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$';
const ED25519_PUBLIC_KEY = new RegExp(ED25519_PUBLIC_KEY_PATTERN);

/** Claims of an identity assertion (`sub`: the participant). */
export interface IdentityAssertionClaims extends BaseClaims {
  readonly aud: typeof IDENTITY_AUDIENCE;
  readonly meeting: string;
  readonly name: string;
  /** The participant's MLS signature public key (raw Ed25519, base64url without padding), when bound. */
  readonly signatureKey?: string;
}

/** Options of `verifyIdentityAssertion`. */
export interface VerifyIdentityAssertionOptions {
  readonly now: Date;
  /** The meeting the assertion must be for. */
  readonly meeting?: string;
}

/** Reads an identity assertion's claims from a payload, naming every claim that is missing or malformed. */
export function parseIdentityAssertion(payload: JWTPayload): ClaimsResult<IdentityAssertionClaims> {
  const r = new ClaimReader(payload);
  const signatureKey = r.optionalText('signatureKey', ED25519_PUBLIC_KEY);
  return r.result({ ...r.base(), aud: IDENTITY_AUDIENCE, meeting: r.text('meeting'), name: r.text('name'), ...(signatureKey === undefined ? {} : { signatureKey }) });
}

/** Verifies an identity assertion; throws IDENTITY_ASSERTION_INVALID, _EXPIRED, _WRONG_MEETING, KEY_REVOKED or JWKS_UNAVAILABLE. */
export async function verifyIdentityAssertion(keys: TokenKeys, token: string, options: VerifyIdentityAssertionOptions): Promise<IdentityAssertionClaims> {
  const check = await checkJwt(token, keys, { audience: IDENTITY_AUDIENCE, type: IDENTITY_TYPE, now: options.now });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'identity assertion');
    if (check.reason === 'expired') throw new GeobridgeError('IDENTITY_ASSERTION_EXPIRED', `The identity assertion has expired; the participant must fetch a new one.`, { cause: check.cause });
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('IDENTITY_ASSERTION_INVALID', `The identity assertion does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseIdentityAssertion(check.payload);
  if (!result.ok) throw new GeobridgeError('IDENTITY_ASSERTION_INVALID', `The identity assertion is malformed: ${result.problems.join('; ')}.`);
  if (options.meeting !== undefined && result.claims.meeting !== options.meeting) {
    throw new GeobridgeError('IDENTITY_ASSERTION_WRONG_MEETING', `The identity assertion is for another meeting, not '${options.meeting}'.`);
  }
  return result.claims;
}
