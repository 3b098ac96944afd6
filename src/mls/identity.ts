/**
 * Who a group member is. ts-mls's default AuthenticationService accepts every
 * credential (RFC 9420 §5.3.1 leaves the check to the application); ours
 * accepts only a BasicCredential whose identity is a broker-signed identity
 * assertion for this meeting that names the leaf's own signature key. So a
 * member cannot put someone else's name, or someone else's key, in its leaf.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { base64url, decodeJwt } from 'jose';
import type { AuthenticationService, Credential, CiphersuiteImpl } from 'ts-mls';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';

/** The claims of a verified identity assertion that the group relies on (a subset of the broker's IdentityAssertionClaims). */
export interface VerifiedIdentity {
  /** Participant id. */
  readonly sub: string;
  readonly meeting: string;
  /** Display name. */
  readonly name: string;
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
  /** base64url (no padding) of the raw Ed25519 MLS signature public key. */
  readonly signatureKey?: string;
}

/**
 * Checks an identity assertion's signature, audience and expiry against the
 * broker's keys, and throws if it fails. Injected so this layer needs no key
 * set or network: `(token, options) => verifyIdentityAssertion(jwks, token, options)`.
 */
export type IdentityVerifier = (assertion: string, options: { readonly now: Date; readonly meeting: string }) => Promise<VerifiedIdentity>;

/** What the credential check needs: the meeting, the verifier, and a clock (never read inline). */
export interface CredentialPolicy {
  readonly meeting: string;
  readonly verifyIdentity: IdentityVerifier;
  readonly now: () => Date;
}

/** An Ed25519 signature key pair for MLS, as ts-mls makes and uses it. */
export interface SignatureKeyPair {
  /** Raw 32-byte public key. */
  readonly publicKey: Uint8Array;
  /** PKCS#8 under WebCrypto, raw under noble: keep what keygen gave. */
  readonly signKey: Uint8Array;
}

/** A member's identity: its signature key pair and the credential that binds it to the broker's assertion. */
export interface MemberIdentity {
  readonly signatureKeyPair: SignatureKeyPair;
  readonly credential: Credential;
}

/** Makes a fresh MLS signature key pair; ask the broker for an assertion naming `signatureKeyClaim(publicKey)`. */
export function generateSignatureKeyPair(cs: CiphersuiteImpl): Promise<SignatureKeyPair> {
  return cs.signature.keygen();
}

/** The identity assertion's `signatureKey` claim for a raw public key: base64url without padding. */
export function signatureKeyClaim(publicKey: Uint8Array): string {
  return base64url.encode(publicKey);
}

/** A member identity from its key pair and the broker's identity assertion (a JWT) naming that key. */
export function createMemberIdentity(signatureKeyPair: SignatureKeyPair, assertion: string): MemberIdentity {
  return { signatureKeyPair, credential: { credentialType: 'basic', identity: new TextEncoder().encode(assertion) } };
}

/**
 * A short name for a signature public key: the first 8 bytes of its SHA-256,
 * as four groups of four hex digits ("3f2a 91c0 7b1e 04d2"). It tells two
 * leaves that claim one participant apart on a roster; it is not what makes
 * the group safe (the security code is), so 64 bits is plenty.
 */
export function keyFingerprint(publicKey: Uint8Array): string {
  const hex = Array.from(sha256(publicKey).subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
  return hex.replace(/(.{4})(?!$)/g, '$1 ');
}

/** Who a credential names, read without verification: use only on leaves the group already checked. */
export function identityOf(credential: Credential): { readonly participant: string; readonly name: string } | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  try {
    const claims = decodeJwt(new TextDecoder('utf-8', { fatal: true }).decode(credential.identity));
    return typeof claims.sub === 'string' && typeof claims['name'] === 'string' ? { participant: claims.sub, name: claims['name'] } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why `credential` may not sign as `signaturePublicKey` in this meeting, or
 * undefined if it may. The verifier checks signature and expiry; meeting,
 * expiry and key are checked again here so a lax verifier cannot let them by.
 */
export async function credentialProblem(policy: CredentialPolicy, credential: Credential, signaturePublicKey: Uint8Array): Promise<string | undefined> {
  if (credential.credentialType !== 'basic') return `a ${credential.credentialType} credential; only basic credentials carrying an identity assertion are accepted`;
  let assertion: string;
  try {
    assertion = new TextDecoder('utf-8', { fatal: true }).decode(credential.identity);
  } catch {
    return 'the credential identity is not UTF-8 text';
  }
  const now = policy.now();
  let claims: VerifiedIdentity;
  try {
    claims = await policy.verifyIdentity(assertion, { now, meeting: policy.meeting });
  } catch (error) {
    return `the identity assertion does not verify (${isGeobridgeError(error) ? error.code : String(error)})`;
  }
  if (claims.meeting !== policy.meeting) return `the identity assertion is for meeting '${claims.meeting}', not '${policy.meeting}'`;
  if (claims.exp * 1000 <= now.getTime()) return 'the identity assertion has expired';
  if (claims.signatureKey === undefined) return 'the identity assertion binds no signature key';
  if (claims.signatureKey !== signatureKeyClaim(signaturePublicKey)) return "the identity assertion names another signature key than the leaf's";
  return undefined;
}

/**
 * An AuthenticationService for one ts-mls call that records each refusal and
 * answers true. Answering false would make ts-mls 1.6.4 throw inside an async
 * `reduce` over a commit's Adds, and when a later Add is still being checked
 * that rejection goes unhandled for a moment — enough for Node to report it
 * (or exit, under --unhandled-rejections=strict). So the verdict is applied
 * by `withCredentialCheck` after the call, and the call's result is dropped.
 */
function recordingAuthService(policy: CredentialPolicy, rejections: string[]): AuthenticationService {
  return {
    async validateCredential(credential, signaturePublicKey) {
      const problem = await credentialProblem(policy, credential, signaturePublicKey);
      if (problem !== undefined) rejections.push(problem);
      return true;
    },
  };
}

/**
 * Runs `call` with our credential check as its AuthenticationService. If any
 * credential was refused, the result is discarded and the call fails with
 * MLS_CREDENTIAL_REJECTED; any other refusal by ts-mls becomes the error
 * `otherwise` makes of its message.
 */
export async function withCredentialCheck<T>(
  policy: CredentialPolicy,
  call: (auth: AuthenticationService) => Promise<T>,
  otherwise: (detail: string, cause: unknown) => GeobridgeError,
): Promise<T> {
  const rejections: string[] = [];
  const refused = (cause?: unknown): GeobridgeError =>
    new GeobridgeError('MLS_CREDENTIAL_REJECTED', `A member credential was rejected: ${rejections.join('; ')}.`, cause === undefined ? {} : { cause });
  let result: T;
  try {
    result = await call(recordingAuthService(policy, rejections));
  } catch (error) {
    if (rejections.length > 0) throw refused(error);
    if (isGeobridgeError(error)) throw error;
    throw otherwise(error instanceof Error ? error.message : String(error), error);
  }
  if (rejections.length > 0) throw refused();
  return result;
}
