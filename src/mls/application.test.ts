// MLS application messages (the chat's carrier): members read each other's,
// the sender's name comes from its credential, and nothing else gets in.
import type { CiphersuiteImpl } from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import { APPLICATION_PADDING_BUCKET, applicationEpoch, decryptApplication, encryptApplication } from './application.js';
import { CHAT_TEXT_MAX, chatTextProblem, encodeChat, parseChat } from './chat.js';
import { APPLICATION_GRACE_MS, deliver, openDelivery, type DeliveryState } from './delivery.js';
import { addMembers, commitPending, createMeetingGroup, encodeKeyPackage, epochOf, joinFromWelcome, loadCipherSuite, processHandshake, type MeetingGroup } from './group.js';
import { codeOf, createTestBroker, MEETING, newMember, policyOf, type TestBroker } from './test-broker.fixture.js';

let cs: CiphersuiteImpl;
let broker: TestBroker;
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

beforeAll(async () => {
  cs = await loadCipherSuite();
  broker = await createTestBroker();
});

/** Alice founds the group and adds Bob and Carol through the delivery rule; all three at epoch 1. */
async function threeMembers(): Promise<{ ds: DeliveryState; alice: MeetingGroup; bob: MeetingGroup; carol: MeetingGroup }> {
  const policy = policyOf(broker);
  const [a, b, c] = await Promise.all(['alice', 'bob', 'carol'].map((p) => newMember(cs, broker, p)));
  if (a === undefined || b === undefined || c === undefined) throw new Error('unreachable');
  const draft = await addMembers(await createMeetingGroup(policy, a, cs), [encodeKeyPackage(b), encodeKeyPackage(c)]);
  const result = deliver(openDelivery(MEETING), { message: draft.commit, ...(draft.welcome ? { welcome: draft.welcome } : {}) }, 0);
  if (result.kind !== 'commit-accepted' || draft.welcome === undefined) throw new Error('the founding commit was refused');
  return { ds: result.state, alice: draft.group, bob: await joinFromWelcome(policy, draft.welcome, b, cs), carol: await joinFromWelcome(policy, draft.welcome, c, cs) };
}

function includes(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle));
}

describe('MLS application messages', () => {
  it('three members read each other’s messages, named by the sender’s credential; the ciphertext does not contain the text', async () => {
    let { alice, bob, carol } = await threeMembers();
    const secret = 'the launch code is 0000 — marker 7f3c';
    const sent = await encryptApplication(alice, utf8(secret));
    alice = sent.group;
    expect(includes(sent.message, utf8(secret))).toBe(false);
    expect(includes(sent.message, utf8('marker'))).toBe(false);
    expect(applicationEpoch(sent.message)).toBe(1n);

    const atBob = await decryptApplication(bob, sent.message);
    const atCarol = await decryptApplication(carol, sent.message);
    bob = atBob.group;
    carol = atCarol.group;
    for (const got of [atBob, atCarol]) {
      expect(text(got.data)).toBe(secret);
      expect(got.sender).toMatchObject({ leafIndex: 0, participant: 'alice', name: 'ALICE' });
      expect(got.epoch).toBe(1n);
    }

    // Each member's own chain: Bob answers, and a second message of Alice's uses her next key.
    const reply = await encryptApplication(bob, utf8('heard you'));
    const again = await encryptApplication(alice, utf8('second'));
    expect((await decryptApplication(alice, reply.message)).sender).toMatchObject({ participant: 'bob', name: 'BOB' });
    expect(text((await decryptApplication(carol, again.message)).data)).toBe('second');
  });

  it('refuses a tampered ciphertext, a replay, a non-member’s message for the same meeting, and anything that is not an application message', async () => {
    const { alice, bob } = await threeMembers();
    const sent = await encryptApplication(alice, utf8('hello'));
    for (const at of [sent.message.length - 1, sent.message.length - 40, 40]) {
      const tampered = Uint8Array.from(sent.message);
      tampered[at] = (tampered[at] ?? 0) ^ 0x01;
      expect(await codeOf(decryptApplication(bob, tampered))).toBe('MLS_MESSAGE_REJECTED');
    }
    const once = await decryptApplication(bob, sent.message);
    expect(await codeOf(decryptApplication(once.group, sent.message))).toBe('MLS_MESSAGE_REJECTED');

    // Mallory has a valid credential for the meeting and a group with the meeting's id, at the same epoch, but is not in ours.
    const m = await newMember(cs, broker, 'mallory');
    const n = await newMember(cs, broker, 'nobody');
    const mallory = (await addMembers(await createMeetingGroup(policyOf(broker), m, cs), [encodeKeyPackage(n)])).group;
    expect(epochOf(mallory)).toBe(epochOf(bob));
    const forged = await encryptApplication(mallory, utf8('trust me'));
    expect(await codeOf(decryptApplication(bob, forged.message))).toBe('MLS_MESSAGE_REJECTED');

    const commit = await commitPending(alice);
    expect(await codeOf(decryptApplication(bob, commit.commit))).toBe('MLS_MESSAGE_REJECTED');
    expect(await codeOf(decryptApplication(bob, new Uint8Array([0, 1, 2])))).toBe('MLS_MESSAGE_REJECTED');
    expect(applicationEpoch(commit.commit)).toBeUndefined();
  });

  it('a message sent just before a commit is still read after it (past epochs kept); a newcomer added by that commit cannot read it', async () => {
    const start = await threeMembers();
    let { alice, bob } = start;
    const { carol } = start;
    const before = await encryptApplication(bob, utf8('sent in epoch 1'));
    const d = await newMember(cs, broker, 'dave');
    const draft = await addMembers(alice, [encodeKeyPackage(d)]);
    alice = draft.group;
    bob = (await processHandshake(bob, draft.commit)).group;
    const dave = await joinFromWelcome(policyOf(broker), draft.welcome ?? new Uint8Array(), d, cs);
    expect(epochOf(alice)).toBe(2n);

    const late = await decryptApplication(alice, before.message);
    expect(late).toMatchObject({ epoch: 1n, sender: { participant: 'bob', name: 'BOB' } });
    expect(text(late.data)).toBe('sent in epoch 1');
    expect(await codeOf(decryptApplication(dave, before.message))).toBe('MLS_MESSAGE_REJECTED');

    // The newcomer reads its own epoch; Carol, who has not processed the commit yet, cannot read ahead.
    const ahead = await encryptApplication(bob, utf8('epoch 2'));
    expect(text((await decryptApplication(dave, ahead.message)).data)).toBe('epoch 2');
    expect(await codeOf(decryptApplication(carol, ahead.message))).toBe('MLS_MESSAGE_REJECTED');
  });

  it('keys of an epoch are gone three commits later', async () => {
    let { alice, bob } = await threeMembers();
    const old = await encryptApplication(bob, utf8('old'));
    for (let i = 0; i < 3; i++) {
      const draft = await commitPending(alice);
      alice = draft.group;
      bob = (await processHandshake(bob, draft.commit)).group;
    }
    expect(await codeOf(decryptApplication(alice, old.message))).toBe('MLS_MESSAGE_REJECTED');
  });

  it('pads to whole buckets: texts of 1 and 100 bytes give one size, 300 bytes one bucket more', async () => {
    const { alice } = await threeMembers();
    const sizes = [];
    let group = alice;
    for (const n of [1, 100, 300]) {
      const sent = await encryptApplication(group, new Uint8Array(n).fill(0x61));
      group = sent.group;
      sizes.push(sent.message.length);
    }
    expect(sizes[0]).toBe(sizes[1]);
    expect((sizes[2] ?? 0) - (sizes[0] ?? 0)).toBe(APPLICATION_PADDING_BUCKET);
  });
});

describe('the delivery rule for application messages', () => {
  it('relays the current epoch’s; an ended epoch’s only within the grace and for two epochs back; never a future one', async () => {
    let { ds, alice, bob } = await threeMembers();
    const e1 = await encryptApplication(bob, utf8('one'));
    expect(deliver(ds, { message: e1.message }, 5)).toMatchObject({ kind: 'relay', what: 'application', message: e1.message });
    expect(deliver(ds, { message: e1.message, welcome: e1.message }, 5)).toMatchObject({ kind: 'rejected', reason: 'welcome-without-commit' });

    const steps: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const draft = await commitPending(alice);
      const result = deliver(ds, { message: draft.commit }, 1000 * (i + 1));
      if (result.kind !== 'commit-accepted') throw new Error('refused');
      ds = result.state;
      alice = draft.group;
      bob = (await processHandshake(bob, draft.commit)).group;
      steps.push(ds.epoch);
      if (i === 0) {
        const early = await encryptApplication(bob, utf8('two'));
        expect(deliver({ ...ds, epoch: 1n, ended: [] }, { message: early.message }, 1000)).toMatchObject({ kind: 'rejected', reason: 'future-epoch' });
        // Epoch 1 ended at t = 1000: relayed until the grace runs out.
        expect(deliver(ds, { message: e1.message }, 1000 + APPLICATION_GRACE_MS)).toMatchObject({ kind: 'relay' });
        expect(deliver(ds, { message: e1.message }, 1001 + APPLICATION_GRACE_MS)).toMatchObject({ kind: 'rejected', reason: 'stale-epoch' });
      }
    }
    expect(steps).toEqual([2n, 3n, 4n]);
    // At epoch 4, epoch 1 is three back: refused even within the grace.
    expect(deliver(ds, { message: e1.message }, 3000)).toMatchObject({ kind: 'rejected', reason: 'stale-epoch' });
    expect(deliver({ ...ds, meeting: 'm-2', groupId: openDelivery('m-2').groupId }, { message: e1.message }, 3000)).toMatchObject({ kind: 'rejected', reason: 'wrong-group' });
  });
});

describe('the chat payload', () => {
  it('round-trips, counts characters as code points, and refuses what is not one', () => {
    const emoji = '🙂'.repeat(CHAT_TEXT_MAX);
    expect(chatTextProblem(emoji)).toBeUndefined();
    expect(chatTextProblem(`${emoji}!`)).toMatch(/at most 2000/);
    expect(parseChat(encodeChat({ v: 1, text: emoji, sentAt: 1 }))).toEqual({ ok: true, chat: { v: 1, text: emoji, sentAt: 1 } });
    expect(chatTextProblem('   ')).toBeDefined();
    expect(chatTextProblem('\ud800')).toBeDefined();
    expect(() => encodeChat({ v: 1, text: '', sentAt: 1 })).toThrow();
    const bad = (value: unknown): boolean => parseChat(utf8(JSON.stringify(value))).ok;
    expect(bad({ v: 1, text: 'hi', sentAt: 5 })).toBe(true);
    expect(bad({ v: 2, text: 'hi', sentAt: 5 })).toBe(false);
    expect(bad({ v: 1, text: 'hi', sentAt: -1 })).toBe(false);
    expect(bad({ v: 1, text: 'hi', sentAt: 5, html: '<b>' })).toBe(false);
    expect(bad({ v: 1, text: 'x'.repeat(CHAT_TEXT_MAX + 1), sentAt: 5 })).toBe(false);
    expect(bad(['hi'])).toBe(false);
    expect(parseChat(new Uint8Array([0xff, 0xfe])).ok).toBe(false);
  });
});
