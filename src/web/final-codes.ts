/**
 * Which refusals a "Join again" can get past. Joining again reloads the page:
 * a fresh join token from the same invite, a fresh route from the same
 * place, in the same browser. A refusal that none of those changes is final,
 * and the notice offers no button that cannot work (docs/errors.md).
 */
import { FINAL_BRIDGE_CODES } from '../sdk/index.js';

/** Final whatever the broker's mode: the meeting, the invite, this browser or the broker's rules would have to change. */
export const FINAL_CODES: readonly string[] = [
  // The bridge ends these joins for good (docs/client.md); the page follows the machine.
  ...FINAL_BRIDGE_CODES,
  // The invite: reloading reads the same link.
  'INVITE_INVALID',
  'INVITE_EXPIRED',
  // The invite's meeting or account no longer exists.
  'NOT_FOUND',
  // This browser cannot encrypt media end to end, and will not on a reload.
  'E2EE_UNSUPPORTED',
  // The broker does not let a production client name its country; reloading asks the same way.
  'FORBIDDEN',
];

/**
 * Final except in dev mode, where the page asks "join as if from" and another
 * country can be picked: the fences and zones bind the participant's location,
 * which a reload from the same address does not change.
 */
export const FINAL_UNLESS_DEV: readonly string[] = ['FENCE_CONFLICT', 'NO_ZONE', 'CLIENT_NOT_LOCATED'];

/** Whether the notice for refusal `code` offers "Join again" (`dev`: the broker runs with --dev). */
export function joinAgainCanHelp(code: string, dev: boolean): boolean {
  if (FINAL_CODES.includes(code)) return false;
  if (FINAL_UNLESS_DEV.includes(code)) return dev;
  // Capacity, tickets, join tokens, rate limits, unreachable brokers and bridges: a later try can succeed.
  return true;
}
