// A stand-in broker for the e2ee tests and the mls benchmark: it signs
// identity assertions shaped like src/protocol/identity-assertion.ts's (audience
// geobridge:identity, typ gb-identity+jwt, EdDSA) with its own key, and its
// verifier checks signature, audience, typ and expiry. It deliberately does
// not check the meeting, so the tests show the group's own check catches it.
import { SignJWT, generateKeyPair, jwtVerify, type CryptoKey } from 'jose';
import { defaultCapabilities, defaultLifetime, generateKeyPackageWithKey, type CiphersuiteImpl } from 'ts-mls';
import { createKeyPackage, type KeyPackageBundle } from './group.js';
import { createMemberIdentity, generateSignatureKeyPair, signatureKeyClaim, type CredentialPolicy, type IdentityVerifier, type SignatureKeyPair } from './identity.js';

export const T0 = new Date('2026-03-01T12:00:00Z');
export const MEETING = 'm-1';

/** What an assertion says; `signatureKey: null` leaves the claim out. */
export interface AssertionInput {
  readonly participant: string;
  readonly meeting: string;
  readonly name: string;
  readonly signatureKey: string | null;
  /** Lifetime from T0, seconds; default 3600. */
  readonly lifetime?: number;
}

export interface TestBroker {
  readonly verify: IdentityVerifier;
  /** Its public key, for code that verifies assertions itself (e.g. the SDK's MeetingKeys, given as `jwks`). */
  readonly publicKey: CryptoKey;
  assert(input: AssertionInput): Promise<string>;
}

/** A broker with a fresh Ed25519 key. */
export async function createTestBroker(): Promise<TestBroker> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  return { verify: verifierFor(publicKey), publicKey, assert: (input) => sign(privateKey, input) };
}

function verifierFor(publicKey: CryptoKey): IdentityVerifier {
  return async (assertion, { now }) => {
    const { payload } = await jwtVerify(assertion, publicKey, { audience: 'geobridge:identity', typ: 'gb-identity+jwt', algorithms: ['EdDSA'], currentDate: now });
    const { sub, exp, meeting, name, signatureKey } = payload;
    if (typeof sub !== 'string' || typeof exp !== 'number' || typeof meeting !== 'string' || typeof name !== 'string') throw new Error('malformed assertion');
    return { sub, exp, meeting, name, ...(typeof signatureKey === 'string' ? { signatureKey } : {}) };
  };
}

function sign(privateKey: CryptoKey, input: AssertionInput): Promise<string> {
  const iat = Math.floor(T0.getTime() / 1000);
  return new SignJWT({ meeting: input.meeting, name: input.name, ...(input.signatureKey === null ? {} : { signatureKey: input.signatureKey }) })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'gb-identity+jwt' })
    .setSubject(input.participant)
    .setAudience('geobridge:identity')
    .setIssuedAt(iat)
    .setExpirationTime(iat + (input.lifetime ?? 3600))
    .setJti(`jti-${input.participant}`)
    .sign(privateKey);
}

/** The policy of a member of MEETING trusting `broker`, with a fixed clock. */
export function policyOf(broker: TestBroker, now: Date = T0, meeting: string = MEETING): CredentialPolicy {
  return { meeting, verifyIdentity: broker.verify, now: () => now };
}

/** A key package for `participant`, with an assertion from `broker`; `assertion` overrides what it says. */
export async function newMember(cs: CiphersuiteImpl, broker: TestBroker, participant: string, assertion: Partial<AssertionInput> & { keys?: SignatureKeyPair } = {}): Promise<KeyPackageBundle> {
  const keys = await generateSignatureKeyPair(cs);
  const token = await broker.assert({ participant, meeting: MEETING, name: participant.toUpperCase(), signatureKey: signatureKeyClaim((assertion.keys ?? keys).publicKey), ...assertion });
  return createKeyPackage(createMemberIdentity(keys, token), cs);
}

/** newMember as a client from before WHOLE_FRAME_CAPABILITY makes it: ts-mls's default capabilities, nothing of ours. */
export async function memberBeforeWholeFrames(cs: CiphersuiteImpl, broker: TestBroker, participant: string): Promise<KeyPackageBundle> {
  const keys = await generateSignatureKeyPair(cs);
  const token = await broker.assert({ participant, meeting: MEETING, name: participant.toUpperCase(), signatureKey: signatureKeyClaim(keys.publicKey) });
  const identity = createMemberIdentity(keys, token);
  return generateKeyPackageWithKey(identity.credential, defaultCapabilities(), defaultLifetime, [], identity.signatureKeyPair, cs);
}

/** The `code` a promise rejects with ('resolved' if it does not). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : `no code: ${String(error)}`;
  }
}
