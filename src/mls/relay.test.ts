// The bridge's MLS relay: who founds, goes on in or joins the group on
// admission; application messages relayed to the others, bounded in size and
// rate per sender, and a kind that does not match the framing refused
// without touching the delivery state; key packages and proposals bounded in
// rate per sender.
import type { CiphersuiteImpl } from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_MLS_APPLICATION_BYTES, type MlsSubmitMessage } from '../protocol/signalling.js';
import { encryptApplication } from './application.js';
import { addMembers, commitPending, createMeetingGroup, encodeKeyPackage, loadCipherSuite, type MeetingGroup } from './group.js';
import { createTestBroker, MEETING, newMember, policyOf, type TestBroker } from './test-broker.fixture.js';
import { APPLICATION_BURST, APPLICATION_PER_SECOND, HANDSHAKE_BURST, HANDSHAKE_PER_SECOND, MlsRelay } from './relay.js';

let cs: CiphersuiteImpl;
let broker: TestBroker;

beforeAll(async () => {
  cs = await loadCipherSuite();
  broker = await createTestBroker();
});

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const TAG_A = 'AAAAAAAAAAAAAAAAAAAAAA';
const TAG_B = 'BBBBBBBBBBBBBBBBBBBBBB';

describe('the MLS relay on admission', () => {
  it('lets the first arrival carrying a group go on in it at its epoch, and later arrivals carrying the same epoch and tag', () => {
    const relay = new MlsRelay(MEETING);
    expect(relay.admit('ada', 0, { epoch: 7, tag: TAG_A })).toBe('continue');
    expect(relay.admit('bo', 1, { epoch: 7, tag: TAG_A })).toBe('continue');
    // Another fork of epoch 7, an earlier epoch, or nothing carried: join with a key package.
    expect(relay.admit('cy', 2, { epoch: 7, tag: TAG_B })).toBe('join');
    expect(relay.admit('dee', 3, { epoch: 6, tag: TAG_A })).toBe('join');
    expect(relay.admit('eve', 4)).toBe('join');
    // The delivery state is at the carried epoch: a commit for epoch 0 is stale.
    expect(relay.submit('ada', { type: 'mls', kind: 'key-package', data: 'AAAA' }, ['bo'])[0]?.message).toMatchObject({ type: 'mls-result', accepted: false, reason: 'malformed', epoch: 7 });
  });

  it('founds a new group for the first arrival that carries none; a carried group matches only the tag a member gave for the current epoch', () => {
    const relay = new MlsRelay(MEETING);
    expect(relay.admit('ada', 0)).toBe('found');
    // Epoch 0's tag is unknown until the founder gives it.
    expect(relay.admit('bo', 1, { epoch: 0, tag: TAG_A })).toBe('join');
    relay.joined('ada', 0, TAG_A);
    expect(relay.admit('cy', 2, { epoch: 0, tag: TAG_A })).toBe('continue');
    // A tag for an epoch the relay is not at is not taken.
    relay.joined('ada', 3, TAG_B);
    expect(relay.admit('dee', 3, { epoch: 0, tag: TAG_B })).toBe('join');
  });

  it('takes the tag of an accepted commit\'s epoch, and forgets the old one', async () => {
    const { relay, commit } = await aliceAboutToAddBob();
    relay.submit('alice', { type: 'mls', kind: 'commit', data: commit, tag: TAG_B }, ['bob']);
    expect(relay.admit('carol', 1, { epoch: 0, tag: TAG_A })).toBe('join');
    expect(relay.admit('dan', 2, { epoch: 1, tag: TAG_B })).toBe('continue');
  });

  it('says its epoch and the members that showed they hold the group: a founder that never speaks (its page does not encrypt) is none', async () => {
    const silent = new MlsRelay(MEETING);
    silent.admit('ada', 0);
    silent.admit('bo', 1);
    expect(silent.status).toEqual({ epoch: 0, members: 0 });
    const { relay, commit } = await aliceAboutToAddBob();
    expect(relay.status).toEqual({ epoch: 0, members: 1 });
    relay.submit('alice', { type: 'mls', kind: 'commit', data: commit, tag: TAG_B }, ['bob']);
    relay.joined('bob', 1, TAG_B);
    expect(relay.admit('carol', 2, { epoch: 1, tag: TAG_B })).toBe('continue');
    expect(relay.status).toEqual({ epoch: 1, members: 3 });
    relay.left('bob', ['alice', 'carol']);
    expect(relay.status).toEqual({ epoch: 1, members: 2 });
  });

  it('never makes a participant that does not encrypt the founder: the first that encrypts founds the group, whoever came before', () => {
    const relay = new MlsRelay(MEETING);
    expect(relay.admit('plain', 0, undefined, false)).toBe('none');
    expect(relay.admit('ada', 1)).toBe('found');
    expect(relay.admit('bo', 2)).toBe('join');
    // A carried group goes on where only participants that do not encrypt are.
    const carriedIn = new MlsRelay(MEETING);
    carriedIn.admit('plain', 0, undefined, false);
    expect(carriedIn.admit('ada', 1, { epoch: 4, tag: TAG_A })).toBe('continue');
    expect(carriedIn.status).toEqual({ epoch: 4, members: 1 });
  });

  it('when the last holder leaves, asks the earliest of those that encrypt to found a new group, passing over those that do not', () => {
    const relay = new MlsRelay(MEETING);
    relay.admit('ada', 0);
    relay.admit('plain', 1, undefined, false);
    relay.admit('bo', 2);
    expect(relay.left('ada', ['plain', 'bo'])).toEqual([{ to: 'bo', message: { type: 'mls-found' } }]);
    // Nobody left who encrypts: nobody is asked, and the next that encrypts founds.
    expect(relay.left('bo', ['plain'])).toEqual([]);
    expect(relay.admit('cy', 1)).toBe('found');
  });
});

describe('the MLS relay awaiting holders (a delivery service that restarted)', () => {
  it('founds nothing while members may hold the group: a newcomer waits, and the first member to carry the group in holds it at its epoch', () => {
    const relay = new MlsRelay(MEETING);
    relay.awaitHolders();
    expect(relay.admit('ben', 0)).toBe('join');
    expect(relay.held).toBe(false);
    // A departure while awaiting asks nobody to found.
    relay.admit('cy', 1);
    expect(relay.left('cy', ['ben'])).toEqual([]);
    expect(relay.waitingAmong(['ben'])).toEqual(['ben']);
    expect(relay.admit('anna', 1, { epoch: 5, tag: TAG_A })).toBe('continue');
    expect(relay.admit('kenji', 2, { epoch: 5, tag: TAG_A })).toBe('continue');
    expect(relay.held).toBe(true);
    expect(relay.status).toEqual({ epoch: 5, members: 2 });
    expect(relay.waitingAmong(['ben', 'anna', 'kenji'])).toEqual(['ben']);
    // Over: nothing to found, someone holds it.
    expect(relay.settle(['ben', 'anna', 'kenji'])).toEqual([]);
  });

  it('when the wait ends with no holder, asks the earliest that encrypts to found; until then nobody does', () => {
    const relay = new MlsRelay(MEETING);
    relay.awaitHolders();
    relay.admit('plain', 0, undefined, false);
    expect(relay.admit('ben', 1)).toBe('join');
    expect(relay.admit('cy', 2)).toBe('join');
    expect(relay.takingPart(['plain', 'ben', 'cy'])).toEqual(['ben', 'cy']);
    expect(relay.settle(['plain', 'ben', 'cy'])).toEqual([{ to: 'ben', message: { type: 'mls-found' } }]);
    expect(relay.held).toBe(true);
    expect(relay.admit('dee', 3)).toBe('join');
  });

  it('does not wait while someone holds the group', () => {
    const relay = new MlsRelay(MEETING);
    expect(relay.admit('ada', 0)).toBe('found');
    relay.awaitHolders();
    expect(relay.left('ada', ['bo'])).toEqual([{ to: 'bo', message: { type: 'mls-found' } }]);
  });
});

/** A relay whose group Alice founded and said she holds (epoch 0, tag A), and her commit adding Bob, not yet sent. */
async function aliceAboutToAddBob(): Promise<{ relay: MlsRelay; commit: string }> {
  const [a, b] = await Promise.all(['alice', 'bob'].map((p) => newMember(cs, broker, p)));
  if (a === undefined || b === undefined) throw new Error('unreachable');
  const draft = await addMembers(await createMeetingGroup(policyOf(broker), a, cs), [encodeKeyPackage(b)]);
  const relay = new MlsRelay(MEETING);
  relay.admit('alice', 0);
  relay.joined('alice', 0, TAG_A);
  return { relay, commit: b64(draft.commit) };
}

/** A relay at epoch 1 (Alice added Bob), and Alice's group. */
async function relayAtEpoch1(now: () => number): Promise<{ relay: MlsRelay; alice: MeetingGroup }> {
  const [a, b] = await Promise.all(['alice', 'bob'].map((p) => newMember(cs, broker, p)));
  if (a === undefined || b === undefined) throw new Error('unreachable');
  const draft = await addMembers(await createMeetingGroup(policyOf(broker), a, cs), [encodeKeyPackage(b)]);
  const relay = new MlsRelay(MEETING, now);
  relay.admit('alice', 0);
  const out = relay.submit('alice', { type: 'mls', kind: 'commit', data: b64(draft.commit), ...(draft.welcome ? { welcome: b64(draft.welcome) } : {}) }, ['bob']);
  expect(out[0]?.message).toMatchObject({ type: 'mls-result', accepted: true, epoch: 1 });
  return { relay, alice: draft.group };
}

describe('the MLS relay and commits from participants that hold no group', () => {
  it('refuses a commit from a participant that does not hold the group, so it wins no epoch, and the holder’s commit is taken', async () => {
    const [a, b] = await Promise.all(['alice', 'bob'].map((p) => newMember(cs, broker, p)));
    if (a === undefined || b === undefined) throw new Error('unreachable');
    const group = await createMeetingGroup(policyOf(broker), a, cs);
    const relay = new MlsRelay(MEETING);
    expect(relay.admit('alice', 0)).toBe('found');
    relay.joined('alice', 0, TAG_A);
    expect(relay.admit('mallory', 1)).toBe('join');
    // Random bytes framed as a commit for the current epoch (the relay cannot read a commit), sent before Alice's.
    const junk = await commitPending(await createMeetingGroup(policyOf(broker), await newMember(cs, broker, 'mallory'), cs));
    expect(relay.submit('mallory', { type: 'mls', kind: 'commit', data: b64(junk.commit) }, ['alice'])).toEqual([{ to: 'mallory', message: { type: 'mls-result', accepted: false, reason: 'not-a-member', epoch: 0 } }]);
    // Saying it holds the group does not make it a holder without the epoch's tag, which only members can compute.
    relay.joined('mallory', 0, TAG_B);
    expect(relay.submit('mallory', { type: 'mls', kind: 'commit', data: b64(junk.commit) }, ['alice'])[0]?.message).toMatchObject({ accepted: false, reason: 'not-a-member' });
    expect(relay.status.epoch).toBe(0);
    const draft = await addMembers(group, [encodeKeyPackage(b)]);
    expect(relay.submit('alice', { type: 'mls', kind: 'commit', data: b64(draft.commit), tag: TAG_B }, ['mallory', 'bob'])[0]?.message).toMatchObject({ type: 'mls-result', accepted: true, epoch: 1 });
    // Bob, added by it, names epoch 1's tag and holds the group; a claim of epoch 0's (now old) with another tag does not.
    relay.joined('bob', 1, TAG_B);
    relay.joined('mallory', 0, TAG_B);
    expect(relay.waitingAmong(['alice', 'bob', 'mallory'])).toEqual(['mallory']);
  });
});

describe('the MLS relay before the founder has spoken', () => {
  it('takes no one else’s word that it holds the new group, so nobody can win its first epoch with junk before the founder says its tag', async () => {
    const relay = new MlsRelay(MEETING);
    expect(relay.admit('alice', 0)).toBe('found');
    expect(relay.admit('mallory', 1)).toBe('join');
    // Mallory claims epoch 0 in the moment between Alice's admission and her word (no tag known yet), with a tag or without.
    expect(relay.joined('mallory', 0)).toBe(false);
    expect(relay.joined('mallory', 0, TAG_B)).toBe(false);
    const junk = await commitPending(await createMeetingGroup(policyOf(broker), await newMember(cs, broker, 'mallory'), cs));
    expect(relay.submit('mallory', { type: 'mls', kind: 'commit', data: b64(junk.commit) }, ['alice'])[0]?.message).toMatchObject({ accepted: false, reason: 'not-a-member' });
    expect(relay.status.epoch).toBe(0);
    // The founder's word sets the tag; a wrong one from anyone else is still not taken.
    expect(relay.joined('alice', 0, TAG_A)).toBe(true);
    expect(relay.joined('mallory', 0, TAG_B)).toBe(false);
    expect(relay.waitingAmong(['alice', 'mallory'])).toEqual(['mallory']);
  });

  it('still takes a member’s word at an epoch an older client’s commit made without a tag', async () => {
    const { relay } = await relayAtEpoch1(() => 0);
    expect(relay.joined('bob', 1)).toBe(true);
    expect(relay.joined('mallory', 0)).toBe(false);
    expect(relay.waitingAmong(['bob', 'mallory'])).toEqual(['mallory']);
  });
});

describe('the MLS relay when the last holder leaves', () => {
  it('goes on at the epoch a member it asked to found says it holds: one added by Welcome whose word came after the holder left', async () => {
    const [a, b, c] = await Promise.all(['alice', 'bob', 'carol'].map((p) => newMember(cs, broker, p)));
    if (a === undefined || b === undefined || c === undefined) throw new Error('unreachable');
    const relay = new MlsRelay(MEETING);
    relay.admit('alice', 0);
    relay.joined('alice', 0, TAG_A);
    expect(relay.admit('bob', 1)).toBe('join');
    const added = await addMembers(await createMeetingGroup(policyOf(broker), a, cs), [encodeKeyPackage(b)]);
    expect(relay.submit('alice', { type: 'mls', kind: 'commit', data: b64(added.commit), tag: TAG_B }, ['bob'])[0]?.message).toMatchObject({ accepted: true, epoch: 1 });
    // Alice leaves before Bob's `mls-joined` (epoch 1) is in: the relay asks Bob, the one left waiting, to found.
    expect(relay.left('alice', ['bob'])).toEqual([{ to: 'bob', message: { type: 'mls-found' } }]);
    expect(relay.joined('bob', 1, TAG_B)).toBe(true);
    // Bob holds epoch 1 (and refuses to found): the group goes on there, and his commit adding Carol wins epoch 1.
    expect(relay.status.epoch).toBe(1);
    const next = await addMembers(added.group, [encodeKeyPackage(c)]);
    expect(relay.submit('bob', { type: 'mls', kind: 'commit', data: b64(next.commit), tag: TAG_A }, ['carol'])[0]?.message).toMatchObject({ accepted: true, epoch: 2 });
  });
});

describe('the MLS relay and application messages', () => {
  it('relays to every other participant; past the burst it drops with rate-limited, and refills over time', async () => {
    let t = 0;
    const { relay, alice } = await relayAtEpoch1(() => t);
    let group = alice;
    const send = async (): Promise<ReturnType<MlsRelay['submit']>> => {
      const sent = await encryptApplication(group, new Uint8Array([1, 2, 3]));
      group = sent.group;
      return relay.submit('alice', { type: 'mls', kind: 'application', data: b64(sent.message) }, ['bob', 'carol']);
    };
    for (let i = 0; i < APPLICATION_BURST; i++) {
      const out = await send();
      expect(out.map((o) => [o.to, o.message.type, 'kind' in o.message ? o.message.kind : undefined])).toEqual([['bob', 'mls', 'application'], ['carol', 'mls', 'application']]);
    }
    expect(await send()).toEqual([{ to: 'alice', message: { type: 'mls-result', accepted: false, reason: 'rate-limited', epoch: 1, kind: 'application' } }]);
    t += 1000 / APPLICATION_PER_SECOND;
    expect((await send()).map((o) => o.to)).toEqual(['bob', 'carol']);
    expect((await send())[0]?.message).toMatchObject({ reason: 'rate-limited' });
  });

  it('drops an oversized one, and refuses a kind that does not match the framing without moving the epoch', async () => {
    const { relay, alice } = await relayAtEpoch1(() => 0);
    const big: MlsSubmitMessage = { type: 'mls', kind: 'application', data: b64(new Uint8Array(MAX_MLS_APPLICATION_BYTES + 1)) };
    expect(relay.submit('alice', big, ['bob'])).toEqual([{ to: 'alice', message: { type: 'mls-result', accepted: false, reason: 'too-large', epoch: 1, kind: 'application' } }]);
    const commit = await commitPending(alice);
    // A commit sent as an application message is neither relayed nor accepted ...
    expect(relay.submit('alice', { type: 'mls', kind: 'application', data: b64(commit.commit) }, ['bob'])).toEqual([{ to: 'alice', message: { type: 'mls-result', accepted: false, reason: 'unsupported', epoch: 1, kind: 'application' } }]);
    // ... so the same commit, sent as one, still wins epoch 1.
    expect(relay.submit('alice', { type: 'mls', kind: 'commit', data: b64(commit.commit) }, ['bob'])[0]?.message).toMatchObject({ type: 'mls-result', accepted: true, epoch: 2 });
    const app = await encryptApplication(commit.group, new Uint8Array([1]));
    expect(relay.submit('alice', { type: 'mls', kind: 'proposal', data: b64(app.message) }, ['bob'])).toEqual([{ to: 'alice', message: { type: 'mls-result', accepted: false, reason: 'unsupported', epoch: 2 } }]);
  });
});

describe('the MLS relay and handshake floods', () => {
  it('relays a participant’s key packages up to the burst, drops the rest unanswered, and refills over time; commits are not counted', async () => {
    let t = 0;
    const { relay, alice } = await relayAtEpoch1(() => t);
    const carol = b64(encodeKeyPackage(await newMember(cs, broker, 'carol')));
    const keyPackage = (): ReturnType<MlsRelay['submit']> => relay.submit('carol', { type: 'mls', kind: 'key-package', data: carol }, ['alice', 'bob']);
    for (let i = 0; i < HANDSHAKE_BURST; i++) expect(keyPackage().map((o) => o.to)).toEqual(['alice', 'bob']);
    expect(keyPackage()).toEqual([]);
    t += 1000 / HANDSHAKE_PER_SECOND;
    expect(keyPackage().map((o) => o.to)).toEqual(['alice', 'bob']);
    expect(keyPackage()).toEqual([]);
    // Another participant's budget is its own, and Alice's commit (adding Carol) is taken whatever Carol sent.
    const dave = b64(encodeKeyPackage(await newMember(cs, broker, 'dave')));
    expect(relay.submit('dave', { type: 'mls', kind: 'key-package', data: dave }, ['alice', 'bob']).map((o) => o.to)).toEqual(['alice', 'bob']);
    const draft = await addMembers(alice, [Buffer.from(carol, 'base64url')]);
    const out = relay.submit('alice', { type: 'mls', kind: 'commit', data: b64(draft.commit), ...(draft.welcome ? { welcome: b64(draft.welcome) } : {}) }, ['bob', 'carol']);
    expect(out[0]?.message).toMatchObject({ type: 'mls-result', accepted: true, epoch: 2 });
  });
});
