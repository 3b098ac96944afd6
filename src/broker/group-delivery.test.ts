// The cascade's MLS delivery service after the broker restarted: its store
// still lists the meeting's members, its memory no longer knows their group.
// The members are asked what they hold; a newcomer waits for them instead of
// founding a group nobody else is in; the first to say it holds the group
// takes it on at its epoch and those waiting send their key packages again;
// and when nobody speaks within RESYNC_MS, the earliest newcomer founds one.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { commitPending, createMeetingGroup, loadCipherSuite } from '../mls/group.js';
import { createTestBroker, MEETING as MLS_MEETING, newMember, policyOf } from '../mls/test-broker.fixture.js';
import type { GroupDeliveryMessage } from '../protocol/signalling.js';
import type { BrokerContext } from './context.js';
import { admitToGroup, awaitUnknownMembers, groupMembers, groupStatus, isGroupMember, leaveGroup, rejoinGroup, RESYNC_MS, resyncMembers, submitToGroup } from './group-delivery.js';
import type { Participant } from './store/store.js';

const MEETING = 'mtg_restart';
/** When the broker process under test started: the members below were admitted an hour before, by the last one. */
const STARTED_AT = '2026-12-05T11:00:00.000Z';
const TAG = 'AAAAAAAAAAAAAAAAAAAAAA';

/** What the broker sent each bridge: `datacenter: to → message type`. */
function restartedBroker(oldBridges: readonly string[] = []): { ctx: BrokerContext; sent: string[] } {
  const sent: string[] = [];
  const control = {
    passesResync: (datacenter: string): boolean => !oldBridges.includes(datacenter),
    mls: (datacenter: string, command: { deliveries: readonly { to: readonly string[]; message: GroupDeliveryMessage }[] }): Promise<void> => {
      for (const d of command.deliveries) sent.push(`${datacenter}: ${d.to.join(',')} → ${d.message.type}`);
      return Promise.resolve();
    },
    evict: (datacenter: string, command: { participant: string; code: string }): Promise<void> => {
      sent.push(`${datacenter}: ${command.participant} → evict ${command.code}`);
      return Promise.resolve();
    },
  };
  // The delivery service needs only the control channel and the process's start here (the chat's fence reads the policy).
  return { ctx: { control, startedAt: STARTED_AT } as unknown as BrokerContext, sent };
}

const stored = (id: string, datacenter: string): Participant => ({ id, meetingId: MEETING, country: 'DE', joinedAt: '2026-12-05T10:00:00.000Z', datacenter, session: `dec_${id}` });
const arrival = (p: Participant): { id: string; name: string; country: string; datacenter: string; session: string } => ({ id: p.id, name: p.id, country: p.country, datacenter: p.datacenter, session: p.session });

const anna = stored('anna', 'eu-central');
const kenji = stored('kenji', 'ap-tokyo');
const ben = stored('ben', 'us-east');

afterEach(() => {
  vi.useRealTimers();
});

describe('the cascade’s group after the broker restarted', () => {
  it('asks the members it does not know what they hold; a newcomer waits for them, and the first that holds the group takes it on at its epoch', async () => {
    const { ctx, sent } = restartedBroker();
    const answered = resyncMembers(ctx, MEETING, 'eu-central', [anna]);
    expect(sent).toEqual(['eu-central: anna → mls-resync']);
    // Ben's admission: the store lists Anna and Kenji, whom the group does not know.
    expect(awaitUnknownMembers(ctx, MEETING, [anna, kenji]).map((p) => p.id)).toEqual(['anna', 'kenji']);
    expect(admitToGroup(ctx, MEETING, arrival(ben)).entry).toBe('join');
    expect(groupStatus(ctx, MEETING)).toBeUndefined();
    sent.length = 0;
    expect(rejoinGroup(ctx, MEETING, arrival(anna), { epoch: 5, tag: TAG })).toBe('continue');
    // Ben hears of Anna, Anna of Ben (whom she is to add), and Ben sends his key package again: it may have gone to nobody.
    expect(sent).toEqual(['us-east: ben → mls-members', 'eu-central: anna → mls-members', 'us-east: ben → mls-resync']);
    expect(groupStatus(ctx, MEETING)).toEqual({ epoch: 5, members: 1 });
    await answered;
    sent.length = 0;
    expect(rejoinGroup(ctx, MEETING, arrival(kenji), { epoch: 5, tag: TAG })).toBe('continue');
    expect(sent).toEqual(['us-east: ben → mls-members', 'eu-central: anna → mls-members', 'ap-tokyo: kenji → mls-members']);
    expect(groupStatus(ctx, MEETING)).toEqual({ epoch: 5, members: 2 });
    expect(groupMembers(ctx, MEETING).map((m) => m.id)).toEqual(['ben', 'anna', 'kenji']);
    expect(isGroupMember(ctx, MEETING, 'kenji', kenji.session)).toBe(true);
    expect(awaitUnknownMembers(ctx, MEETING, [anna, kenji])).toEqual([]);
  });

  it('holds a newcomer’s key package until every member asked has answered: no commit leaves one of them behind', async () => {
    const { ctx, sent } = restartedBroker();
    const fromFrankfurt = resyncMembers(ctx, MEETING, 'eu-central', [anna]);
    const fromTokyo = resyncMembers(ctx, MEETING, 'ap-tokyo', [kenji]);
    expect(admitToGroup(ctx, MEETING, arrival(ben)).entry).toBe('join');
    expect(rejoinGroup(ctx, MEETING, arrival(anna), { epoch: 5, tag: TAG })).toBe('continue');
    sent.length = 0;
    // Ben's key package (its bytes are never read while held): Anna would add him now, and Kenji would be left in epoch 5.
    expect(submitToGroup(ctx, MEETING, 'us-east', 'ben', ben.session, { type: 'mls', kind: 'key-package', data: 'AAAA' })).toBe(false);
    expect(sent).toEqual([]);
    let tokyoAnswered = false;
    void fromTokyo.then(() => (tokyoAnswered = true));
    await Promise.resolve();
    expect(tokyoAnswered).toBe(false);
    expect(rejoinGroup(ctx, MEETING, arrival(kenji), { epoch: 5, tag: TAG })).toBe('continue');
    await Promise.all([fromFrankfurt, fromTokyo]);
    // Now Ben is asked to send it again.
    expect(sent.filter((line) => line.endsWith('mls-resync'))).toEqual(['us-east: ben → mls-resync']);
  });

  it('lets the earliest newcomer found a group when nobody says it holds one within RESYNC_MS', () => {
    vi.useFakeTimers();
    const { ctx, sent } = restartedBroker();
    void resyncMembers(ctx, MEETING, 'eu-central', [anna]);
    expect(admitToGroup(ctx, MEETING, arrival(ben)).entry).toBe('join');
    vi.advanceTimersByTime(RESYNC_MS - 1);
    expect(sent).toEqual(['eu-central: anna → mls-resync']);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual(['eu-central: anna → mls-resync', 'us-east: ben → mls-found']);
  });

  it('takes a member admitted since this process started for no sign of a restart: two first arrivals at once do not wait', () => {
    const { ctx, sent } = restartedBroker();
    // Anna's row is in the store, her admission not yet in the group, when Ben's admission reads the store.
    const since = { ...anna, joinedAt: '2026-12-05T11:00:01.000Z' };
    expect(awaitUnknownMembers(ctx, MEETING, [since])).toEqual([]);
    expect(admitToGroup(ctx, MEETING, arrival(ben)).entry).toBe('found');
    expect(admitToGroup(ctx, MEETING, arrival(anna)).entry).toBe('join');
    expect(sent).toEqual(['us-east: ben → mls-members']);
  });

  it('waits once per meeting, and forgets a group nobody came to', () => {
    vi.useFakeTimers();
    const { ctx, sent } = restartedBroker();
    void resyncMembers(ctx, MEETING, 'eu-central', [anna]);
    vi.advanceTimersByTime(RESYNC_MS);
    expect(groupMembers(ctx, MEETING)).toEqual([]);
    expect(groupStatus(ctx, MEETING)).toBeUndefined();
    // Anna never answered (her client does not encrypt): she is still unknown, but a newcomer no longer waits for her.
    expect(awaitUnknownMembers(ctx, MEETING, [anna]).map((p) => p.id)).toEqual(['anna']);
    expect(admitToGroup(ctx, MEETING, arrival(ben)).entry).toBe('found');
    vi.advanceTimersByTime(RESYNC_MS);
    expect(sent).toEqual(['eu-central: anna → mls-resync']);
  });

  it('does not ask the members on a bridge from before mls-resync (it would refuse the command and reconnect, over and over)', () => {
    const { ctx, sent } = restartedBroker(['eu-central']);
    void resyncMembers(ctx, MEETING, 'eu-central', [anna]);
    void resyncMembers(ctx, MEETING, 'ap-tokyo', [kenji]);
    expect(sent).toEqual(['ap-tokyo: kenji → mls-resync']);
  });

  it('knows a member by its session: the same participant admitted again elsewhere is unknown until it speaks', () => {
    const { ctx } = restartedBroker();
    expect(rejoinGroup(ctx, MEETING, arrival(anna), { epoch: 2, tag: TAG })).toBe('continue');
    expect(awaitUnknownMembers(ctx, MEETING, [anna])).toEqual([]);
    expect(awaitUnknownMembers(ctx, MEETING, [{ ...anna, session: 'dec_later' }]).map((p) => p.session)).toEqual(['dec_later']);
  });
});

describe('the cascade’s group when a bridge’s control channel comes back', () => {
  it('asks the members there that take part in the group what they hold, and sends one that missed a commit to reconnect', () => {
    const { ctx, sent } = restartedBroker();
    expect(rejoinGroup(ctx, MEETING, arrival(anna), { epoch: 5, tag: TAG })).toBe('continue');
    expect(rejoinGroup(ctx, MEETING, arrival(kenji), { epoch: 5, tag: TAG })).toBe('continue');
    const dora = stored('dora', 'ap-tokyo');
    expect(admitToGroup(ctx, MEETING, arrival(dora), undefined, false).entry).toBe('none');
    sent.length = 0;
    // Whatever was sent to ap-tokyo while its channel was down is lost: Kenji, in the group, is asked; Dora, who does not encrypt, is not.
    void resyncMembers(ctx, MEETING, 'ap-tokyo', [kenji, dora]);
    expect(sent).toEqual(['ap-tokyo: kenji → mls-resync']);
    sent.length = 0;
    // He holds epoch 4 while the group is at 5: he missed a commit.
    expect(submitToGroup(ctx, MEETING, 'ap-tokyo', 'kenji', kenji.session, { type: 'mls-joined', epoch: 4, tag: TAG })).toBe(false);
    expect(sent).toEqual(['ap-tokyo: kenji → evict GROUP_MOVED_ON']);
  });

  it('leaves alone a member that holds the epoch it was asked at, or a later one, and holds no key package meanwhile', () => {
    const { ctx, sent } = restartedBroker();
    expect(rejoinGroup(ctx, MEETING, arrival(anna), { epoch: 5, tag: TAG })).toBe('continue');
    expect(rejoinGroup(ctx, MEETING, arrival(kenji), { epoch: 5, tag: TAG })).toBe('continue');
    expect(admitToGroup(ctx, MEETING, arrival(ben)).entry).toBe('join');
    void resyncMembers(ctx, MEETING, 'eu-central', [anna]);
    void resyncMembers(ctx, MEETING, 'ap-tokyo', [kenji]);
    sent.length = 0;
    // Ben's key package is handled at once, not held: nobody the group knows was forgotten. (These bytes are no key package: the relay refuses them.)
    expect(submitToGroup(ctx, MEETING, 'us-east', 'ben', ben.session, { type: 'mls', kind: 'key-package', data: 'AAAA' })).toBe(false);
    expect(sent).toEqual(['us-east: ben → mls-result']);
    sent.length = 0;
    submitToGroup(ctx, MEETING, 'eu-central', 'anna', anna.session, { type: 'mls-joined', epoch: 5, tag: TAG });
    submitToGroup(ctx, MEETING, 'ap-tokyo', 'kenji', kenji.session, { type: 'mls-joined', epoch: 6 });
    expect(sent).toEqual([]);
    // Asked once: a later word of an older epoch (a member that just took a Welcome) is not taken for one left behind.
    submitToGroup(ctx, MEETING, 'eu-central', 'anna', anna.session, { type: 'mls-joined', epoch: 4 });
    expect(sent).toEqual([]);
  });

  it('asks anew when the channel breaks again: the first question’s time running out does not end the second', () => {
    vi.useFakeTimers();
    const { ctx, sent } = restartedBroker();
    expect(rejoinGroup(ctx, MEETING, arrival(anna), { epoch: 5, tag: TAG })).toBe('continue');
    expect(rejoinGroup(ctx, MEETING, arrival(kenji), { epoch: 5, tag: TAG })).toBe('continue');
    void resyncMembers(ctx, MEETING, 'ap-tokyo', [kenji]);
    vi.advanceTimersByTime(RESYNC_MS - 100);
    void resyncMembers(ctx, MEETING, 'ap-tokyo', [kenji]);
    vi.advanceTimersByTime(200);
    sent.length = 0;
    submitToGroup(ctx, MEETING, 'ap-tokyo', 'kenji', kenji.session, { type: 'mls-joined', epoch: 4, tag: TAG });
    expect(sent).toEqual(['ap-tokyo: kenji → evict GROUP_MOVED_ON']);
  });

  it('takes no answer for one left behind when the group was founded anew since the question (epochs start again)', () => {
    const { ctx, sent } = restartedBroker();
    expect(rejoinGroup(ctx, MEETING, arrival(anna), { epoch: 5, tag: TAG })).toBe('continue');
    expect(admitToGroup(ctx, MEETING, arrival(kenji)).entry).toBe('join');
    // Kenji, waiting to be added, is asked at epoch 5; then Anna, the only holder, leaves, and he founds a new group at epoch 0.
    void resyncMembers(ctx, MEETING, 'ap-tokyo', [kenji]);
    sent.length = 0;
    leaveGroup(ctx, MEETING, 'anna', anna.session);
    expect(sent).toContain('ap-tokyo: kenji → mls-found');
    sent.length = 0;
    submitToGroup(ctx, MEETING, 'ap-tokyo', 'kenji', kenji.session, { type: 'mls-joined', epoch: 0 });
    expect(sent).toEqual([]);
  });

  it('sends a member to reconnect whose own commit was accepted after the question, and which says the epoch before it', async () => {
    // A real group and commit: the delivery service reads an MLS message's framing.
    const cs = await loadCipherSuite();
    const broker = await createTestBroker();
    const founder = await createMeetingGroup(policyOf(broker), await newMember(cs, broker, 'anna'), cs);
    const { ctx, sent } = restartedBroker();
    const at = (p: Participant): Participant => ({ ...p, meetingId: MLS_MEETING });
    expect(admitToGroup(ctx, MLS_MEETING, arrival(at(anna))).entry).toBe('found');
    expect(admitToGroup(ctx, MLS_MEETING, arrival(at(kenji))).entry).toBe('join');
    void resyncMembers(ctx, MLS_MEETING, 'eu-central', [at(anna)]);
    void resyncMembers(ctx, MLS_MEETING, 'ap-tokyo', [at(kenji)]);
    sent.length = 0;
    // Anna's commit of epoch 0 reaches the broker after it asked her; its answer crosses the question, and she drops it.
    const draft = await commitPending(founder);
    submitToGroup(ctx, MLS_MEETING, 'eu-central', 'anna', anna.session, { type: 'mls', kind: 'commit', data: Buffer.from(draft.commit).toString('base64url') });
    expect(groupStatus(ctx, MLS_MEETING)?.epoch).toBe(1);
    sent.length = 0;
    // Kenji had not processed her commit yet when asked: it reaches him next, and he is left alone.
    submitToGroup(ctx, MLS_MEETING, 'ap-tokyo', 'kenji', kenji.session, { type: 'mls-joined', epoch: 0 });
    expect(sent).toEqual([]);
    submitToGroup(ctx, MLS_MEETING, 'eu-central', 'anna', anna.session, { type: 'mls-joined', epoch: 0 });
    expect(sent).toEqual(['eu-central: anna → evict GROUP_MOVED_ON']);
  });
});
