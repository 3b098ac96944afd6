// The meeting group end to end: members converge, a removed member and a late
// joiner are cut off from the epochs they were not in, down to SFrame frames.
import type { CiphersuiteImpl } from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import { SFrameContext, WebCryptoBackend, deriveKeySalt, getCipherSuite, DEFAULT_CIPHER_SUITE } from '../sframe/index.js';
import {
  addMembers, commitPending, createMeetingGroup, encodeKeyPackage, epochKeys, epochOf, exportSframeBaseKey, frameLayout, joinFromWelcome, loadCipherSuite, members,
  ownLeafIndex, processHandshake, removeMembers, type CommitDraft, type MeetingGroup,
} from './group.js';
import { installEpochKeys, kid } from './kid.js';
import { securityCode } from './security-code.js';
import { codeOf, createTestBroker, memberBeforeWholeFrames, newMember, policyOf, type TestBroker } from './test-broker.fixture.js';

let cs: CiphersuiteImpl;
let broker: TestBroker;
const sframeCrypto = new WebCryptoBackend(crypto.subtle);
const META = new Uint8Array([1, 2, 3]);

beforeAll(async () => {
  cs = await loadCipherSuite();
  broker = await createTestBroker();
});

function welcomeOf(draft: CommitDraft): Uint8Array {
  if (draft.welcome === undefined) throw new Error('expected a Welcome');
  return draft.welcome;
}

/** Alice creates the group and adds Bob and Carol in one commit; all three at epoch 1. */
async function threeMembers(): Promise<[MeetingGroup, MeetingGroup, MeetingGroup]> {
  const policy = policyOf(broker);
  const [a, b, c] = await Promise.all(['alice', 'bob', 'carol'].map((p) => newMember(cs, broker, p)));
  if (a === undefined || b === undefined || c === undefined) throw new Error('unreachable');
  const alice = await createMeetingGroup(policy, a, cs);
  const draft = await addMembers(alice, [encodeKeyPackage(b), encodeKeyPackage(c)]);
  return [draft.group, await joinFromWelcome(policy, welcomeOf(draft), b, cs), await joinFromWelcome(policy, welcomeOf(draft), c, cs)];
}

async function view(group: MeetingGroup): Promise<unknown> {
  return { epoch: epochOf(group), key: await exportSframeBaseKey(group), code: securityCode(group), members: members(group) };
}

/** A context holding the member's keys of the group's current epoch. */
async function contextFor(group: MeetingGroup): Promise<SFrameContext> {
  const ctx = new SFrameContext({ crypto: sframeCrypto });
  await installEpochKeys(ctx, await epochKeys(group));
  return ctx;
}

describe('a meeting group', () => {
  it('three members converge: same epoch, SFrame base key, security code and member list, before and after a further commit', async () => {
    let [alice, bob, carol] = await threeMembers();
    expect(epochOf(alice)).toBe(1n);
    const first = await view(alice);
    expect(await view(bob)).toEqual(first);
    expect(await view(carol)).toEqual(first);
    expect(members(alice).map((m) => [m.leafIndex, m.participant, m.name])).toEqual([[0, 'alice', 'ALICE'], [1, 'bob', 'BOB'], [2, 'carol', 'CAROL']]);
    expect((await exportSframeBaseKey(alice)).length).toBe(getCipherSuite(DEFAULT_CIPHER_SUITE).nk);

    const draft = await commitPending(bob); // a path update: new epoch, same members
    bob = draft.group;
    alice = (await processHandshake(alice, draft.commit)).group;
    carol = (await processHandshake(carol, draft.commit)).group;
    const second = await view(bob);
    expect(await view(alice)).toEqual(second);
    expect(await view(carol)).toEqual(second);
    expect(epochOf(bob)).toBe(2n);
    expect(securityCode(bob)).not.toBe((first as { code: string }).code);
  });

  it("agrees on the frame layout from the members' signed leaves: 'whole' while every member reads it, 'split' from the epoch one does not, 'whole' again once it left", async () => {
    const policy = policyOf(broker);
    let [alice, bob, carol] = await threeMembers();
    for (const g of [alice, bob, carol]) expect((await epochKeys(g)).layout).toBe('whole');

    const old = await memberBeforeWholeFrames(cs, broker, 'dave');
    const add = await addMembers(alice, [encodeKeyPackage(old)]);
    alice = add.group;
    bob = (await processHandshake(bob, add.commit)).group;
    carol = (await processHandshake(carol, add.commit)).group;
    const dave = await joinFromWelcome(policy, welcomeOf(add), old, cs);
    for (const g of [alice, bob, carol, dave]) expect(frameLayout(g)).toBe('split');

    // A path update keeps each committer's capabilities: still split while Dave is in.
    const update = await commitPending(bob);
    bob = update.group;
    alice = (await processHandshake(alice, update.commit)).group;
    carol = (await processHandshake(carol, update.commit)).group;
    for (const g of [alice, bob, carol]) expect(frameLayout(g)).toBe('split');

    const remove = await removeMembers(alice, [3]);
    alice = remove.group;
    bob = (await processHandshake(bob, remove.commit)).group;
    carol = (await processHandshake(carol, remove.commit)).group;
    for (const g of [alice, bob, carol]) expect((await epochKeys(g)).layout).toBe('whole');
  });

  it('gives each member its own SFrame key: one base key, distinct KIDs, distinct derived keys; frames flow between members', async () => {
    const [alice, bob, carol] = await threeMembers();
    const base = await exportSframeBaseKey(alice);
    const suite = getCipherSuite(DEFAULT_CIPHER_SUITE);
    const derived = await Promise.all([0, 1, 2].map((i) => deriveKeySalt(sframeCrypto, suite, kid(1n, i), base)));
    const hex = derived.map((d) => Buffer.from(d.key).toString('hex') + Buffer.from(d.salt).toString('hex'));
    expect(new Set(hex).size).toBe(3);

    const [a, b, c] = await Promise.all([alice, bob, carol].map(contextFor));
    if (a === undefined || b === undefined || c === undefined) throw new Error('unreachable');
    const frame = await a.encrypt(kid(1n, ownLeafIndex(alice)), META, new TextEncoder().encode('hello'));
    expect(new TextDecoder().decode((await b.decrypt(META, frame)).plaintext)).toBe('hello');
    expect(new TextDecoder().decode((await c.decrypt(META, frame)).plaintext)).toBe('hello');
    // Bob may not send under Alice's KID: he holds only a decryption key for it.
    expect(await codeOf(b.encrypt(kid(1n, 0), META, new Uint8Array(1)))).toBe('SFRAME_UNKNOWN_KID');
  });

  it('a removed member cannot follow the next epoch, derive its key, or decrypt its frames', async () => {
    const [alice, bob, carol] = await threeMembers();
    const carolIndex = ownLeafIndex(carol);
    const carolContext = await contextFor(carol);
    const carolLastKey = await exportSframeBaseKey(carol);

    const removal = await removeMembers(alice, [carolIndex]);
    const alice2 = removal.group;
    const bob2 = (await processHandshake(bob, removal.commit)).group;
    const carolResult = await processHandshake(carol, removal.commit);
    expect(carolResult).toMatchObject({ kind: 'commit', removed: true });
    expect(members(alice2).map((m) => m.participant)).toEqual(['alice', 'bob']);
    expect(await view(bob2)).toEqual(await view(alice2));

    // Carol's group is over: no key, no code, no further commits.
    expect(await codeOf(exportSframeBaseKey(carolResult.group))).toBe('MLS_NOT_A_MEMBER');
    expect(() => securityCode(carolResult.group)).toThrow(expect.objectContaining({ code: 'MLS_NOT_A_MEMBER' }));
    const next = await commitPending(bob2);
    expect(await codeOf(processHandshake(carolResult.group, next.commit))).toBe('MLS_NOT_A_MEMBER');
    // Had she ignored her removal, the next commit is for an epoch she never reached.
    expect(await codeOf(processHandshake(carol, next.commit))).toBe('MLS_MESSAGE_REJECTED');

    // Frames of the new epoch: her context has no key for their KID, and none of her keys opens them.
    const newKey = await exportSframeBaseKey(alice2);
    expect(Buffer.from(newKey).equals(Buffer.from(carolLastKey))).toBe(false);
    const aliceContext = await contextFor(alice2);
    const frame = await aliceContext.encrypt(kid(epochOf(alice2), ownLeafIndex(alice2)), META, new TextEncoder().encode('after removal'));
    expect(await codeOf(carolContext.decrypt(META, frame))).toBe('SFRAME_UNKNOWN_KID');
    for (const guess of [carolLastKey, carol.state.keySchedule.exporterSecret, carol.state.keySchedule.epochAuthenticator]) {
      const attempt = new SFrameContext({ crypto: sframeCrypto });
      await attempt.addDecryptionKey(kid(epochOf(alice2), ownLeafIndex(alice2)), guess);
      expect(await codeOf(attempt.decrypt(META, frame))).toBe('SFRAME_AUTH_FAILED');
    }
    // Bob, still a member, reads it.
    expect(new TextDecoder().decode((await (await contextFor(bob2)).decrypt(META, frame)).plaintext)).toBe('after removal');
  });

  it('a late joiner cannot derive the previous epoch\'s SFrame key or decrypt its frames', async () => {
    const [alice, bob] = await threeMembers();
    const oldKey = await exportSframeBaseKey(alice);
    const oldFrame = await (await contextFor(alice)).encrypt(kid(epochOf(alice), ownLeafIndex(alice)), META, new TextEncoder().encode('before dave'));

    const d = await newMember(cs, broker, 'dave');
    const draft = await addMembers(alice, [encodeKeyPackage(d)]);
    const dave = await joinFromWelcome(policyOf(broker), welcomeOf(draft), d, cs);
    const bob2 = (await processHandshake(bob, draft.commit)).group;
    expect(await view(dave)).toEqual(await view(draft.group));
    expect(await view(bob2)).toEqual(await view(dave));

    const daveKey = await exportSframeBaseKey(dave);
    expect(Buffer.from(daveKey).equals(Buffer.from(oldKey))).toBe(false);
    expect(dave.state.historicalReceiverData.size).toBe(0);
    expect(await codeOf((await contextFor(dave)).decrypt(META, oldFrame))).toBe('SFRAME_UNKNOWN_KID');
    const attempt = new SFrameContext({ crypto: sframeCrypto });
    await attempt.addDecryptionKey(kid(1n, ownLeafIndex(alice)), daveKey);
    expect(await codeOf(attempt.decrypt(META, oldFrame))).toBe('SFRAME_AUTH_FAILED');
  });

  it('refuses input that is not the expected MLS message', async () => {
    const [alice] = await threeMembers();
    expect(await codeOf(processHandshake(alice, new Uint8Array([0, 1, 2])))).toBe('MLS_MESSAGE_REJECTED');
    expect(await codeOf(addMembers(alice, [new Uint8Array(10)]))).toBe('MLS_MESSAGE_REJECTED');
    const kp = encodeKeyPackage(await newMember(cs, broker, 'erin'));
    expect(await codeOf(processHandshake(alice, kp))).toBe('MLS_MESSAGE_REJECTED');
    expect(await codeOf(joinFromWelcome(policyOf(broker), kp, await newMember(cs, broker, 'erin'), cs))).toBe('MLS_WELCOME_REJECTED');
  });
});
