/**
 * The security code participants read to each other: six groups of five
 * digits, derived from the MLS epoch authenticator (RFC 9420 §8.7), which
 * exists for exactly this out-of-band comparison. All members of an epoch
 * share it; any commit (a join, a leave) starts a new epoch and a new code.
 *
 *   okm    = HKDF-SHA256(ikm = epoch_authenticator, salt = "",
 *                        info = "geobridge security code v1", L = 30)
 *   group i = uint40(okm[5i .. 5i+5], big-endian) mod 100000, zero-padded
 *
 * Why 30 digits (~99.7 bits): an attacker who sits between participants (a
 * broker handing out false assertions, a tampered client) must make two
 * different groups show the same code. The authenticator depends on every
 * member's keys, so it cannot be precomputed; the attacker would grind
 * commits during the call, each costing HPKE and signatures. Matching a code
 * the victims already see is a second-preimage search of 2^99.7 trials, and
 * even steering both sides (a collision) needs ~2^50 — out of reach within a
 * call. A 40-bit remainder mod 10^5 is biased by under 10^-7, negligible.
 * The HKDF label separates the code from the raw authenticator, and versions it.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { checkActive, type MeetingGroup } from './group.js';

const GROUPS = 6;
const DIGITS = 5;
const BYTES_PER_GROUP = 5;
const INFO = new TextEncoder().encode('geobridge security code v1');

/** The code for an epoch authenticator, e.g. "01234 56789 …" (six groups of five digits). */
export function securityCodeFromAuthenticator(epochAuthenticator: Uint8Array): string {
  const okm = hkdf(sha256, epochAuthenticator, new Uint8Array(0), INFO, GROUPS * BYTES_PER_GROUP);
  const groups: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    let value = 0n;
    for (const byte of okm.subarray(g * BYTES_PER_GROUP, (g + 1) * BYTES_PER_GROUP)) value = (value << 8n) | BigInt(byte);
    groups.push((value % 10n ** BigInt(DIGITS)).toString().padStart(DIGITS, '0'));
  }
  return groups.join(' ');
}

const TAG_INFO = new TextEncoder().encode('geobridge group tag v1');
const TAG_BYTES = 16;

/**
 * A name for the group's current epoch that members may show a bridge: the
 * same for every member of the epoch, different for another group or a fork
 * (base64url of HKDF(epoch_authenticator, "geobridge group tag v1"), 16 bytes).
 * A bridge compares tags to let members that carry the group from another
 * bridge go on in it; it learns neither the code nor any key from one, and
 * a wrong tag costs a rejoin, never a key.
 */
export function groupTag(group: MeetingGroup): string {
  checkActive(group);
  return groupTagFromAuthenticator(group.state.keySchedule.epochAuthenticator);
}

/** The tag for an epoch authenticator (see `groupTag`). */
export function groupTagFromAuthenticator(epochAuthenticator: Uint8Array): string {
  const okm = hkdf(sha256, epochAuthenticator, new Uint8Array(0), TAG_INFO, TAG_BYTES);
  let binary = '';
  for (const b of okm) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The security code of the group's current epoch. Throws MLS_NOT_A_MEMBER once removed. */
export function securityCode(group: MeetingGroup): string {
  checkActive(group);
  return securityCodeFromAuthenticator(group.state.keySchedule.epochAuthenticator);
}
