/**
 * Meeting invites: the link a host shares. An invite is a JWT the broker
 * signs (audience `geobridge:invite`) naming one meeting; anyone holding it
 * may exchange it, with a display name, for a join token of their own. It is
 * stateless — ending the meeting revokes every invite to it — and carries no
 * personal data.
 */
import { GeobridgeError } from '../core/errors.js';
import { checkJwt, type KeyRing } from './keys.js';

export const INVITE_AUDIENCE = 'geobridge:invite';
const INVITE_TYPE = 'invite+jwt';

/** Default lifetime of an invite: a day. */
export const DEFAULT_INVITE_SECONDS = 24 * 60 * 60;

/** Signs an invite to `meeting`. */
export async function issueInvite(keys: KeyRing, meeting: string, expiresInSeconds: number, now: Date): Promise<{ token: string; expiresAt: Date }> {
  const token = await keys.sign({ meeting }, { audience: INVITE_AUDIENCE, subject: meeting, type: INVITE_TYPE, expiresInSeconds });
  return { token, expiresAt: new Date(now.getTime() + expiresInSeconds * 1000) };
}

/** The meeting an invite is for; throws INVITE_INVALID or INVITE_EXPIRED. */
export async function verifyInvite(keys: KeyRing, token: string, now: Date): Promise<string> {
  const check = await checkJwt(token, keys.keyResolver(), { audience: INVITE_AUDIENCE, type: INVITE_TYPE, now });
  if (!check.ok) {
    if (check.reason === 'expired') throw new GeobridgeError('INVITE_EXPIRED', 'The invite link has expired; ask the meeting host for a new one.');
    throw new GeobridgeError('INVITE_INVALID', `The invite link does not verify (${check.detail}); check that it was copied whole.`);
  }
  const meeting = check.payload.meeting;
  if (typeof meeting !== 'string' || meeting !== check.payload.sub) throw new GeobridgeError('INVITE_INVALID', 'The invite link is malformed; ask the meeting host for a new one.');
  return meeting;
}
