/**
 * Issuing meeting invites: the link a host shares (src/protocol/invite.ts
 * has the claims and the verifier).
 */
import { INVITE_AUDIENCE, INVITE_TYPE } from '../protocol/invite.js';
import type { KeyRing } from './keys.js';

/** Default lifetime of an invite: a day. */
export const DEFAULT_INVITE_SECONDS = 24 * 60 * 60;

/** Signs an invite to `meeting`. */
export async function issueInvite(keys: KeyRing, meeting: string, expiresInSeconds: number, now: Date): Promise<{ token: string; expiresAt: Date }> {
  const token = await keys.sign({ meeting }, { audience: INVITE_AUDIENCE, subject: meeting, type: INVITE_TYPE, expiresInSeconds });
  return { token, expiresAt: new Date(now.getTime() + expiresInSeconds * 1000) };
}
