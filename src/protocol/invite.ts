/**
 * The meeting invite (audience `geobridge:invite`, `typ` invite+jwt): the
 * link a host shares. It names one meeting (as `meeting` and as `sub`);
 * anyone holding it may exchange it, with a display name, for a join token
 * of their own. Stateless — ending the meeting revokes every invite to it —
 * and it carries no personal data. The broker issues and checks it.
 */
import { errors, type JWTPayload } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { ClaimReader, type BaseClaims, type ClaimsResult } from './claims.js';
import { checkJwt, type TokenKeys } from './jwt.js';

/** Audience of invites: the broker's invite endpoints. */
export const INVITE_AUDIENCE = 'geobridge:invite';
/** The `typ` header of invites. */
export const INVITE_TYPE = 'invite+jwt';

/** Claims of an invite (`sub`: the meeting). */
export interface InviteClaims extends BaseClaims {
  readonly aud: typeof INVITE_AUDIENCE;
  readonly meeting: string;
}

/** Reads an invite's claims from a payload, naming every claim that is missing or malformed. */
export function parseInvite(payload: JWTPayload): ClaimsResult<InviteClaims> {
  const r = new ClaimReader(payload);
  const claims = { ...r.base(), aud: INVITE_AUDIENCE, meeting: r.text('meeting') } as const;
  if (claims.meeting !== '' && claims.meeting !== claims.sub) r.problems.push(`claim 'meeting' must equal 'sub'`);
  return r.result(claims);
}

/**
 * Verifies an invite; answers its meeting. Throws INVITE_EXPIRED, or
 * INVITE_INVALID for anything else (a revoked key included: to the person
 * holding the link, it is simply a link that no longer works).
 */
export async function verifyInvite(keys: TokenKeys, token: string, now: Date): Promise<string> {
  const check = await checkJwt(token, keys, { audience: INVITE_AUDIENCE, type: INVITE_TYPE, now });
  if (!check.ok) {
    if (check.reason === 'expired') throw new GeobridgeError('INVITE_EXPIRED', 'The invite link has expired; ask the meeting host for a new one.');
    // A well-formed link whose key is gone was not mangled in copying: the broker no longer holds (or trusts) its key.
    if (check.reason === 'revoked' || check.cause instanceof errors.JWKSNoMatchingKey) throw new GeobridgeError('INVITE_INVALID', 'The invite link was signed by a key the broker no longer verifies with (rotated long ago, or revoked); ask the meeting host for a new one.');
    throw new GeobridgeError('INVITE_INVALID', `The invite link does not verify (${check.detail}); check that it was copied whole.`);
  }
  const result = parseInvite(check.payload);
  if (!result.ok) throw new GeobridgeError('INVITE_INVALID', `The invite link is malformed (${result.problems.join('; ')}); ask the meeting host for a new one.`);
  return result.claims.meeting;
}
