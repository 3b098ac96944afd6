/**
 * The control message (audience `geobridge:control`, `typ` gb-control+jwt):
 * one command from the broker to one bridge on its presence connection
 * (control-commands.ts), bound to that connection by the bridge's nonce and
 * ordered by `seq`. The broker issues it; the bridge checks it.
 */
import type { JWTPayload } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { ClaimReader, type BaseClaims, type ClaimsResult } from './claims.js';
import { parseControlCommand, type ControlCommand } from './control-commands.js';
import { checkJwt, keyRevoked, keysUnavailable, type TokenKeys } from './jwt.js';

/** Audience of control messages: a bridge (the subject names its datacenter). */
export const CONTROL_AUDIENCE = 'geobridge:control';
/** The `typ` header of control messages. */
export const CONTROL_TYPE = 'gb-control+jwt';

/** Claims of a control message (`sub`: the bridge's datacenter). */
export interface ControlMessageClaims extends BaseClaims {
  readonly aud: typeof CONTROL_AUDIENCE;
  /** The nonce the bridge sent when its presence connection opened: a message is good on that connection only. */
  readonly nonce: string;
  /** Strictly increasing per connection, from 1. */
  readonly seq: number;
  readonly command: ControlCommand;
}

/** Options of `verifyControlMessage`. */
export interface VerifyControlMessageOptions {
  readonly now: Date;
  /** The verifying bridge's datacenter: the message's subject. */
  readonly datacenter: string;
  /** The nonce of the bridge's current presence connection. */
  readonly nonce: string;
}

/** Reads a control message's claims from a payload, its command included, naming every claim that is missing or malformed. */
export function parseControlMessage(payload: JWTPayload): ClaimsResult<ControlMessageClaims> {
  const r = new ClaimReader(payload);
  const claims = { ...r.base(), aud: CONTROL_AUDIENCE, nonce: r.text('nonce'), seq: r.integer('seq') } as const;
  const command = parseControlCommand(payload.command);
  if (!command.ok) return { ok: false, problems: [...r.problems, `claim 'command': ${command.error}`] };
  return r.result({ ...claims, command: command.message });
}

/**
 * Verifies a control message: the broker's signature, unexpired, for this
 * datacenter and this connection's nonce, carrying a command this bridge
 * knows. The caller checks `seq`. Throws CONTROL_MESSAGE_INVALID, KEY_REVOKED
 * or JWKS_UNAVAILABLE.
 */
export async function verifyControlMessage(keys: TokenKeys, token: string, options: VerifyControlMessageOptions): Promise<ControlMessageClaims> {
  const check = await checkJwt(token, keys, { audience: CONTROL_AUDIENCE, type: CONTROL_TYPE, now: options.now });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'control message');
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('CONTROL_MESSAGE_INVALID', `The control message does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseControlMessage(check.payload);
  if (!result.ok) throw new GeobridgeError('CONTROL_MESSAGE_INVALID', `The control message is malformed: ${result.problems.join('; ')}.`);
  if (result.claims.sub !== options.datacenter || result.claims.nonce !== options.nonce) {
    throw new GeobridgeError('CONTROL_MESSAGE_INVALID', `The control message is for another bridge or connection (${result.claims.sub}).`);
  }
  return result.claims;
}
