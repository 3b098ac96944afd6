// Our credential check replaces ts-mls's accept-all default: each forged
// credential is refused when it is added, when a commit adding it is
// processed, and anywhere in the tree a newcomer joins.
import { createGroup, generateKeyPackage, defaultCapabilities, defaultLifetime, type CiphersuiteImpl, type Credential } from 'ts-mls';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { addMembers, createKeyPackage, createMeetingGroup, encodeKeyPackage, groupIdOf, joinFromWelcome, loadCipherSuite, members, processHandshake, type KeyPackageBundle } from './group.js';
import { createMemberIdentity, credentialProblem, generateSignatureKeyPair, keyFingerprint, signatureKeyClaim, type CredentialPolicy } from './identity.js';
import { codeOf, createTestBroker, MEETING, newMember, policyOf, T0, type TestBroker } from './test-broker.fixture.js';

let cs: CiphersuiteImpl;
let broker: TestBroker;
let forger: TestBroker;

beforeAll(async () => {
  cs = await loadCipherSuite();
  [broker, forger] = await Promise.all([createTestBroker(), createTestBroker()]);
});

/** The forged key packages, by case; each must be refused while an honest one is accepted. */
async function forgeries(): Promise<Record<string, KeyPackageBundle>> {
  const keys = await generateSignatureKeyPair(cs);
  const other = await generateSignatureKeyPair(cs);
  const withCredential = async (credential: Credential): Promise<KeyPackageBundle> => generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], cs);
  return {
    'not signed by the broker': await newMember(cs, forger, 'mallory'),
    'for another meeting': await newMember(cs, broker, 'mallory', { meeting: 'm-other' }),
    expired: await newMember(cs, broker, 'mallory', { lifetime: 60 }),
    'signatureKey of another key': await createKeyPackage(
      createMemberIdentity(keys, await broker.assert({ participant: 'mallory', meeting: MEETING, name: 'M', signatureKey: signatureKeyClaim(other.publicKey) })),
      cs,
    ),
    'no signatureKey': await newMember(cs, broker, 'mallory', { signatureKey: null }),
    'an x509 credential': await withCredential({ credentialType: 'x509', certificates: [new Uint8Array(8)] }),
    'an identity that is not an assertion': await withCredential({ credentialType: 'basic', identity: new TextEncoder().encode('mallory') }),
    'an identity that is not UTF-8': await withCredential({ credentialType: 'basic', identity: new Uint8Array([0xff, 0xfe]) }),
  };
}

/** Two minutes after T0: assertions issued for 60 s have expired, the others (1 h) have not. */
const LATER = new Date(T0.getTime() + 120_000);

describe('the credential check', () => {
  it('accepts an honest member (control: the same setup passes without a forgery)', async () => {
    const policy = policyOf(broker, LATER);
    const alice = await createMeetingGroup(policy, await newMember(cs, broker, 'alice'), cs);
    const draft = await addMembers(alice, [encodeKeyPackage(await newMember(cs, broker, 'bob'))]);
    expect(members(draft.group).map((m) => m.participant)).toEqual(['alice', 'bob']);
  });

  it("names each member's key by a fingerprint of its leaf's signature key", async () => {
    const [a, b] = await Promise.all([newMember(cs, broker, 'alice'), newMember(cs, broker, 'bob')]);
    const alice = await createMeetingGroup(policyOf(broker), a, cs);
    const draft = await addMembers(alice, [encodeKeyPackage(b)]);
    const expected = [a, b].map((m) => createHash('sha256').update(m.publicPackage.leafNode.signaturePublicKey).digest('hex').slice(0, 16).replace(/(.{4})(?!$)/g, '$1 '));
    expect(members(draft.group).map((m) => m.keyFingerprint)).toEqual(expected);
    expect(keyFingerprint(new Uint8Array(32))).toBe('6668 7aad f862 bd77');
  });

  it('refuses to add each forged key package (MLS_CREDENTIAL_REJECTED)', async () => {
    const alice = await createMeetingGroup(policyOf(broker, LATER), await newMember(cs, broker, 'alice'), cs);
    for (const [what, forged] of Object.entries(await forgeries())) {
      expect(await codeOf(addMembers(alice, [encodeKeyPackage(forged)])), what).toBe('MLS_CREDENTIAL_REJECTED');
    }
  });

  it('explains each refusal', async () => {
    const policy = policyOf(broker, LATER);
    for (const [what, forged] of Object.entries(await forgeries())) {
      const leaf = forged.publicPackage.leafNode;
      expect(await credentialProblem(policy, leaf.credential, leaf.signaturePublicKey), what).toBeDefined();
    }
    const honest = (await newMember(cs, broker, 'bob')).publicPackage.leafNode;
    expect(await credentialProblem(policy, honest.credential, honest.signaturePublicKey)).toBeUndefined();
  });

  it('refuses a group whose creator\'s own credential fails', async () => {
    expect(await codeOf(createMeetingGroup(policyOf(broker, LATER), await newMember(cs, broker, 'alice', { lifetime: 60 }), cs))).toBe('MLS_CREDENTIAL_REJECTED');
  });

  it('refuses, as a member, a commit that adds a forged member, and, as a newcomer, a tree that holds one', async () => {
    // Alice's client is lax (it also trusts the forger); Bob's and Dave's are not.
    const lax: CredentialPolicy = { ...policyOf(broker), verifyIdentity: (token, options) => broker.verify(token, options).catch(() => forger.verify(token, options)) };
    const strict = policyOf(broker);
    const b = await newMember(cs, broker, 'bob');
    const withBob = await addMembers(await createMeetingGroup(lax, await newMember(cs, broker, 'alice'), cs), [encodeKeyPackage(b)]);
    const bob = await joinFromWelcome(strict, withBob.welcome ?? new Uint8Array(), b, cs);

    const d = await newMember(cs, broker, 'dave');
    const withMallory = await addMembers(withBob.group, [encodeKeyPackage(await newMember(cs, forger, 'mallory')), encodeKeyPackage(d)]);
    expect(await codeOf(processHandshake(bob, withMallory.commit))).toBe('MLS_CREDENTIAL_REJECTED');
    expect(await codeOf(joinFromWelcome(strict, withMallory.welcome ?? new Uint8Array(), d, cs))).toBe('MLS_CREDENTIAL_REJECTED');
    // The same newcomer, lax, would have joined: the refusal is the credential check's.
    expect(members(await joinFromWelcome(lax, withMallory.welcome ?? new Uint8Array(), d, cs)).map((m) => m.participant)).toEqual(['alice', 'bob', 'mallory', 'dave']);
  });

  it('refuses a Welcome into another meeting\'s group, though every credential in it is fine', async () => {
    const a = await newMember(cs, broker, 'alice');
    const state = await createGroup(groupIdOf('m-2'), a.publicPackage, a.privatePackage, [], cs);
    const b = await newMember(cs, broker, 'bob');
    const draft = await addMembers({ meeting: MEETING, state, cs, policy: policyOf(broker) }, [encodeKeyPackage(b)]);
    expect(await codeOf(joinFromWelcome(policyOf(broker), draft.welcome ?? new Uint8Array(), b, cs))).toBe('MLS_WELCOME_REJECTED');
  });
});
