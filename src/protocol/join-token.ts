/**
 * The join token (audience `geobridge:join`, `typ` gb-join+jwt): lets one
 * participant, under its display name, ask the broker to be routed into one
 * meeting. The broker issues it and checks it on every route request.
 */
import type { JWTPayload } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { ClaimReader, type BaseClaims, type ClaimsResult } from './claims.js';
import { checkJwt, keyRevoked, keysUnavailable, type TokenKeys } from './jwt.js';

/** Audience of join tokens: the broker's routing endpoint. */
export const JOIN_TOKEN_AUDIENCE = 'geobridge:join';
/** The `typ` header of join tokens. */
export const JOIN_TOKEN_TYPE = 'gb-join+jwt';

/** Claims of a join token (`sub`: the participant). */
export interface JoinTokenClaims extends BaseClaims {
  readonly aud: typeof JOIN_TOKEN_AUDIENCE;
  readonly meeting: string;
  readonly account: string;
  /** Display name. */
  readonly name: string;
}

/** A verified join token and the key that signed it. */
export interface CheckedJoinToken {
  readonly claims: JoinTokenClaims;
  readonly kid: string | undefined;
}

/** Options of `verifyJoinToken`. */
export interface VerifyJoinTokenOptions {
  readonly now: Date;
  /** The meeting the token must be for. */
  readonly meeting?: string;
}

/** Reads a join token's claims from a payload, naming every claim that is missing or malformed. */
export function parseJoinToken(payload: JWTPayload): ClaimsResult<JoinTokenClaims> {
  const r = new ClaimReader(payload);
  return r.result({ ...r.base(), aud: JOIN_TOKEN_AUDIENCE, meeting: r.text('meeting'), account: r.text('account'), name: r.text('name') });
}

/** Verifies a join token; throws JOIN_TOKEN_INVALID, JOIN_TOKEN_EXPIRED, JOIN_TOKEN_WRONG_MEETING, KEY_REVOKED or JWKS_UNAVAILABLE. */
export async function verifyJoinToken(keys: TokenKeys, token: string, options: VerifyJoinTokenOptions): Promise<JoinTokenClaims> {
  const { claims } = await checkJoinToken(keys, token, options.now);
  checkJoinTokenMeeting(claims, options.meeting);
  return claims;
}

/** Verifies a join token in full (signature, `typ`, audience, expiry, claims); also says which key signed it. */
export async function checkJoinToken(keys: TokenKeys, token: string, now: Date): Promise<CheckedJoinToken> {
  const check = await checkJwt(token, keys, { audience: JOIN_TOKEN_AUDIENCE, type: JOIN_TOKEN_TYPE, now });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'join token');
    if (check.reason === 'expired') throw joinTokenExpired(check.cause);
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('JOIN_TOKEN_INVALID', `The join token does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseJoinToken(check.payload);
  if (!result.ok) throw new GeobridgeError('JOIN_TOKEN_INVALID', `The join token is malformed: ${result.problems.join('; ')}.`);
  return { claims: result.claims, kid: check.kid };
}

/** Throws JOIN_TOKEN_WRONG_MEETING unless the token is for `meeting` (when given). */
export function checkJoinTokenMeeting(claims: JoinTokenClaims, meeting: string | undefined): void {
  if (meeting !== undefined && claims.meeting !== meeting) {
    throw new GeobridgeError('JOIN_TOKEN_WRONG_MEETING', `The join token is for another meeting, not '${meeting}'.`);
  }
}

/** JOIN_TOKEN_EXPIRED, with the advice the participant needs. */
export function joinTokenExpired(cause?: unknown): GeobridgeError {
  return new GeobridgeError('JOIN_TOKEN_EXPIRED', `The join token has expired; ask the meeting host for a new link.`, { cause });
}
