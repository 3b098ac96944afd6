// The delivery rule alone, then a real commit race through it: two members
// commit in the same epoch, exactly one wins, the loser rebases, all converge.
import { createProposal, encodeMlsMessage, type CiphersuiteImpl } from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import { deliver, openDelivery, type DeliveryResult, type DeliveryState } from './delivery.js';
import {
  addMembers, commitPending, createMeetingGroup, encodeKeyPackage, epochOf, exportSframeBaseKey, joinFromWelcome, loadCipherSuite, members, processHandshake,
  removeMembers, type MeetingGroup,
} from './group.js';
import { securityCode } from './security-code.js';
import { createTestBroker, MEETING, newMember, policyOf, type TestBroker } from './test-broker.fixture.js';

let cs: CiphersuiteImpl;
let broker: TestBroker;

beforeAll(async () => {
  cs = await loadCipherSuite();
  broker = await createTestBroker();
});

function accepted(result: DeliveryResult): Extract<DeliveryResult, { kind: 'commit-accepted' }> {
  if (result.kind !== 'commit-accepted') throw new Error(`expected an accepted commit, got ${result.kind}${result.kind === 'rejected' ? ` (${result.reason})` : ''}`);
  return result;
}

/** Alice, Bob and Carol at epoch 1, with the delivery state that sequenced it. */
async function meeting(): Promise<{ ds: DeliveryState; alice: MeetingGroup; bob: MeetingGroup; carol: MeetingGroup }> {
  const policy = policyOf(broker);
  const [a, b, c] = await Promise.all(['alice', 'bob', 'carol'].map((p) => newMember(cs, broker, p)));
  if (a === undefined || b === undefined || c === undefined) throw new Error('unreachable');
  const alice0 = await createMeetingGroup(policy, a, cs);
  const bKp = deliver(openDelivery(MEETING), { message: encodeKeyPackage(b) });
  expect(bKp).toMatchObject({ kind: 'relay', what: 'key-package' });
  const draft = await addMembers(alice0, [encodeKeyPackage(b), encodeKeyPackage(c)]);
  const result = accepted(deliver(openDelivery(MEETING), { message: draft.commit, ...(draft.welcome === undefined ? {} : { welcome: draft.welcome }) }));
  const welcome = result.welcome ?? new Uint8Array();
  return { ds: result.state, alice: draft.group, bob: await joinFromWelcome(policy, welcome, b, cs), carol: await joinFromWelcome(policy, welcome, c, cs) };
}

describe('the delivery rule', () => {
  it('accepts the first commit of an epoch and moves on; a second one for that epoch is stale; one for a later epoch is early', async () => {
    const { ds, alice, bob } = await meeting();
    expect(ds.epoch).toBe(1n);
    const [fromAlice, fromBob] = await Promise.all([commitPending(alice), commitPending(bob)]);
    const first = accepted(deliver(ds, { message: fromAlice.commit }));
    expect(first.state.epoch).toBe(2n);
    expect(deliver(first.state, { message: fromBob.commit })).toMatchObject({ kind: 'rejected', reason: 'stale-epoch', epoch: 2n, state: first.state });
    const bob2 = (await processHandshake(bob, fromAlice.commit)).group;
    const early = await commitPending(bob2);
    expect(deliver(ds, { message: early.commit })).toMatchObject({ kind: 'rejected', reason: 'future-epoch', state: ds });
  });

  it('relays proposals of the current epoch and key packages; refuses welcomes on their own, other groups, garbage, and MLS application messages', async () => {
    const { ds, alice } = await meeting();
    const draft = await addMembers(alice, [encodeKeyPackage(await newMember(cs, broker, 'dave'))]);
    const welcome = draft.welcome ?? new Uint8Array();
    expect(deliver(ds, { message: welcome })).toMatchObject({ kind: 'rejected', reason: 'welcome-without-commit' });
    const kp = encodeKeyPackage(await newMember(cs, broker, 'erin'));
    expect(deliver(ds, { message: kp, welcome })).toMatchObject({ kind: 'rejected', reason: 'welcome-without-commit' });
    expect(deliver(ds, { message: draft.commit, welcome: kp })).toMatchObject({ kind: 'rejected', reason: 'malformed' });
    expect(deliver(ds, { message: new Uint8Array([1, 2, 3]) })).toMatchObject({ kind: 'rejected', reason: 'malformed' });
    expect(deliver({ ...openDelivery('m-other'), epoch: ds.epoch }, { message: draft.commit })).toMatchObject({ kind: 'rejected', reason: 'wrong-group' });
    const ok = accepted(deliver(ds, { message: draft.commit, welcome }));
    expect(ok.welcome).toBe(welcome);
  });

  it('relays a proposal for the current epoch only', async () => {
    const { ds, alice } = await meeting();
    const proposal = await createProposal(alice.state, false, { proposalType: 'remove', remove: { removed: 2 } }, cs);
    const bytes = encodeMlsMessage(proposal.message);
    expect(deliver(ds, { message: bytes })).toMatchObject({ kind: 'relay', what: 'proposal', message: bytes });
    expect(deliver({ ...ds, epoch: ds.epoch + 1n }, { message: bytes })).toMatchObject({ kind: 'rejected', reason: 'stale-epoch' });
  });
});

describe('a commit race', () => {
  it('two members commit in the same epoch: exactly one wins, the loser processes it and recommits, and the group converges', async () => {
    let { ds, alice, bob, carol } = await meeting();
    // Alice adds Dave while Bob removes Carol, both in epoch 1.
    const d = await newMember(cs, broker, 'dave');
    const aliceDraft = await addMembers(alice, [encodeKeyPackage(d)]);
    const bobDraft = await removeMembers(bob, [2]);
    const results = [aliceDraft, bobDraft].map((draft) => {
      const result = deliver(ds, { message: draft.commit, ...(draft.welcome === undefined ? {} : { welcome: draft.welcome }) });
      ds = result.state;
      return result;
    });
    expect(results.map((r) => r.kind)).toEqual(['commit-accepted', 'rejected']);
    expect(results[1]).toMatchObject({ reason: 'stale-epoch' });
    const win = accepted(results[0] as DeliveryResult);

    // Everyone applies the winner; Alice adopts her draft; Bob drops his and rebases.
    alice = aliceDraft.group;
    bob = (await processHandshake(bob, win.commit)).group;
    carol = (await processHandshake(carol, win.commit)).group;
    let dave = await joinFromWelcome(policyOf(broker), win.welcome ?? new Uint8Array(), d, cs);
    const rebased = await removeMembers(bob, [2]);
    const again = accepted(deliver(ds, { message: rebased.commit }));
    ds = again.state;
    bob = rebased.group;
    alice = (await processHandshake(alice, again.commit)).group;
    dave = (await processHandshake(dave, again.commit)).group;
    expect(await processHandshake(carol, again.commit)).toMatchObject({ kind: 'commit', removed: true });

    expect(ds.epoch).toBe(3n);
    const views = await Promise.all([alice, bob, dave].map(async (g) => ({ epoch: epochOf(g), key: await exportSframeBaseKey(g), code: securityCode(g), members: members(g).map((m) => m.participant) })));
    expect(views[0]).toMatchObject({ epoch: 3n, members: ['alice', 'bob', 'dave'] });
    expect(views[1]).toEqual(views[0]);
    expect(views[2]).toEqual(views[0]);
  });

  it('a loser that applied its own rejected draft diverges (why drafts wait for the delivery service)', async () => {
    const { ds, alice, bob } = await meeting();
    const [aliceDraft, bobDraft] = await Promise.all([commitPending(alice), commitPending(bob)]);
    accepted(deliver(ds, { message: aliceDraft.commit }));
    expect(Buffer.from(await exportSframeBaseKey(bobDraft.group)).equals(Buffer.from(await exportSframeBaseKey(aliceDraft.group)))).toBe(false);
  });
});
