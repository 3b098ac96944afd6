/**
 * The MLS delivery service of cascaded meetings (`serve --cascade`,
 * docs/cascading.md#end-to-end-encryption-across-bridges). A meeting held on
 * one bridge has its group's delivery service in that bridge; a cascaded
 * meeting spans bridges, and its one group needs one place that orders
 * commits for all of them: the broker, which already sees every admission
 * and departure. Bridges pass their participants' MLS messages here
 * (POST /v1/bridges/mls) and get what the rule of src/mls/relay.ts sends
 * back as `mls` control commands, so what reaches a bridge arrives in the
 * order it was decided.
 *
 * Like a bridge, the broker sees public framing only, never a key. The
 * chat's ciphertext goes only to participants on bridges that may carry
 * its sender's media (the fence of every hop, docs/cascading.md#the-rules).
 *
 * State is per broker and in memory, as the cascade's plan is. A broker
 * that restarts learns each group again from its members: the store still
 * lists them, so as each bridge comes back it asks the members there that
 * the group does not know to say what they hold (`mls-resync`); each
 * answers with the epoch and tag it holds (`mls-joined`, passed on with its
 * route ticket: `rejoinGroup`), and the group goes on at that epoch as it
 * does for members that carry it to a new bridge. Meanwhile no newcomer
 * founds a group of its own (for RESYNC_MS at most). A bridge whose control
 * channel broke lost what was sent to it meanwhile: the members there that
 * the group knows are asked too, and one that missed a commit reconnects.
 */
import { GeobridgeError } from '../core/errors.js';
import { compilePolicy } from '../core/policy/compile.js';
import { mayCarry } from '../core/plan/plan.js';
import { MlsRelay, type GroupStatus, type MlsEntry, type Outgoing } from '../mls/relay.js';
import type { ControlCommand } from '../protocol/control-commands.js';
import type { GroupDeliveryMessage, GroupMember, MlsHolding, MlsJoinedMessage, MlsSubmitMessage } from '../protocol/signalling.js';
import type { BrokerContext } from './context.js';
import type { Participant } from './store/store.js';

/** A participant admitted to a cascaded meeting, where, and under which session. */
export interface GroupArrival {
  readonly id: string;
  readonly name: string;
  readonly country: string;
  readonly datacenter: string;
  /** The route decision of the admitted ticket: a departure of another session leaves this one in. */
  readonly session: string;
}

interface Member extends GroupArrival {
  readonly since: number;
  /**
   * It showed it is in the group — it said it holds it, a commit of its was
   * accepted, or it went on in the group it carried — so its SDK encrypts
   * its media: only then may a fence's `transit: e2ee` carry its streams.
   */
  encrypts: boolean;
}

interface Group {
  readonly relay: MlsRelay;
  /** In order of admission (a re-admitted participant moves to the end). */
  readonly members: Map<string, Member>;
  /** Set while members the store lists may hold the group without having said so (after a restart): ends the wait. */
  resync: ReturnType<typeof setTimeout> | undefined;
  /**
   * Members asked what they hold (`mls-resync`) that have neither answered
   * nor left, for RESYNC_MS at most. Meanwhile no key package is relayed: a
   * commit adding its sender could leave them in an epoch the group left.
   */
  readonly asked: Set<string>;
  /** Called once nobody is left to answer. */
  answered: (() => void)[];
  /**
   * Members it knows, asked what they hold when their bridge came back (its
   * control channel broke, and what was sent meanwhile was lost): the
   * question, one per member, with the epoch an up-to-date answer holds at
   * least. One that answers an older epoch of the same group missed a commit.
   */
  readonly checked: Map<string, Question>;
}

/** A member asked what it holds: it is up to date at `epoch` or later, in the relay's group `generation`. */
interface Question {
  epoch: number;
  readonly generation: number;
}

/** How long a restarted broker waits for a cascaded meeting's members to say they hold its group before a newcomer may found a new one. */
export const RESYNC_MS = 10_000;

interface State {
  readonly groups: Map<string, Group>;
  /** The last member's `since`: counted from this process's start time, so that no value repeats one from before a restart. */
  admissions: number;
  /** Meetings whose newcomers waited for the members from before this process started (once each). */
  readonly resynced: Set<string>;
}

const states = new WeakMap<BrokerContext, State>();

function stateOf(ctx: BrokerContext): State {
  let state = states.get(ctx);
  if (!state) states.set(ctx, (state = { groups: new Map(), admissions: Date.parse(ctx.startedAt), resynced: new Set() }));
  return state;
}

function groupOf(ctx: BrokerContext, meeting: string): Group {
  const { groups } = stateOf(ctx);
  let group = groups.get(meeting);
  if (!group) groups.set(meeting, (group = { relay: new MlsRelay(meeting), members: new Map(), resync: undefined, asked: new Set(), answered: [], checked: new Map() }));
  return group;
}

/** The group of a cascaded meeting as the broker orders it; undefined when nobody showed they hold it. */
export function groupStatus(ctx: BrokerContext, meeting: string): GroupStatus | undefined {
  const status = stateOf(ctx).groups.get(meeting)?.relay.status;
  return status && status.members > 0 ? status : undefined;
}

/** The members as participants are told of them. */
function scope(group: Group): GroupMember[] {
  return [...group.members.values()].map((m) => ({ id: m.id, name: m.name, since: m.since }));
}

/**
 * A participant was admitted to a cascaded meeting: how it enters the group
 * (it founds it, goes on in the group it carries, joins with a key
 * package, or, `encrypts` false, takes no part) and the group's members
 * now, for its `admitted`. The other members hear of it (`mls-members`).
 */
export function admitToGroup(ctx: BrokerContext, meeting: string, arrival: GroupArrival, carried?: MlsHolding, encrypts = true): { entry: MlsEntry; members: GroupMember[] } {
  const state = stateOf(ctx);
  const group = groupOf(ctx, meeting);
  group.members.delete(arrival.id);
  group.checked.delete(arrival.id);
  const entry = group.relay.admit(arrival.id, group.members.size, carried, encrypts);
  group.members.set(arrival.id, { ...arrival, since: ++state.admissions, encrypts: entry === 'continue' });
  const members = scope(group);
  send(ctx, meeting, group, [...group.members.keys()].filter((id) => id !== arrival.id).map((to) => ({ to, message: { type: 'mls-members', members } })));
  return { entry, members };
}

/**
 * The members of a cascaded meeting the store lists (`stored`) that were
 * admitted before this broker process started and that its group does not
 * know: their group membership was lost with the last process. The first
 * time a meeting has any, and until one says it holds the group
 * (`rejoinGroup`) or RESYNC_MS pass, no newcomer founds a new group: it
 * waits to be added, as it would for any holder.
 */
export function awaitUnknownMembers(ctx: BrokerContext, meeting: string, stored: readonly Participant[]): Participant[] {
  const { groups, resynced } = stateOf(ctx);
  const unknown = stored.filter((p) => p.joinedAt < ctx.startedAt && groups.get(meeting)?.members.get(p.id)?.session !== p.session);
  if (unknown.length === 0 || resynced.has(meeting)) return unknown;
  resynced.add(meeting);
  const group = groupOf(ctx, meeting);
  group.relay.awaitHolders();
  group.resync = setTimeout(() => {
    group.resync = undefined;
    // Nobody came of those it waited for, nor anyone else: nothing to keep.
    if (group.members.size === 0 && groups.get(meeting) === group) groups.delete(meeting);
    else send(ctx, meeting, group, group.relay.settle([...group.members.keys()]));
  }, RESYNC_MS);
  group.resync.unref();
  return unknown;
}

/**
 * The bridge of `datacenter` is back in touch (after this broker restarted,
 * or its control channel broke): each participant there that the meeting's
 * group forgot is asked what it holds (`mls-resync`). So is each member
 * there that it knows and that takes part in the group: what was sent while
 * the channel was down was lost, a commit among it, and a member that
 * missed one would stay in an epoch the others left, unable to read or be
 * read, for the rest of the call. Resolves once every forgotten member asked
 * has answered or left, or RESYNC_MS have passed.
 */
export function resyncMembers(ctx: BrokerContext, meeting: string, datacenter: string, present: readonly Participant[]): Promise<void> {
  const unknown = awaitUnknownMembers(ctx, meeting, present).map((p) => p.id);
  const existing = stateOf(ctx).groups.get(meeting);
  const here = [...(existing?.members.values() ?? [])].filter((m) => m.datacenter === datacenter && !unknown.includes(m.id)).map((m) => m.id);
  const known = existing?.relay.takingPart(here) ?? [];
  // A bridge from before `mls-resync` would refuse the command and reconnect, to be asked again: its members are left to reconnect.
  if (unknown.length + known.length === 0 || !ctx.control.passesResync(datacenter)) return Promise.resolve();
  const group = groupOf(ctx, meeting);
  const questions = new Map(known.map((id) => [id, { epoch: group.relay.status.epoch, generation: group.relay.generation }]));
  for (const [id, question] of questions) group.checked.set(id, question);
  for (const id of unknown) group.asked.add(id);
  void ctx.control.mls(datacenter, { meeting, deliveries: [{ to: [...unknown, ...known], message: { type: 'mls-resync' } }] });
  // Whoever has not answered by then is not waited for any longer.
  setTimeout(() => {
    // Only this question: a newer one (the channel broke again meanwhile) waits its own time.
    for (const [id, question] of questions) if (group.checked.get(id) === question) group.checked.delete(id);
    heard(ctx, meeting, group, unknown);
  }, RESYNC_MS).unref();
  return new Promise((resolve) => {
    if (group.asked.size === 0) resolve();
    else group.answered.push(resolve);
  });
}

/**
 * Members asked what they hold answered, left, or were waited for long
 * enough. When none is left to answer, those waiting for the answers go on,
 * and the members waiting to be added send their key packages again (held
 * meanwhile, or sent to nobody).
 */
function heard(ctx: BrokerContext, meeting: string, group: Group, ids: readonly string[]): void {
  const before = group.asked.size;
  for (const id of ids) group.asked.delete(id);
  if (before === 0 || group.asked.size > 0) return;
  const answered = group.answered;
  group.answered = [];
  for (const go of answered) go();
  if (group.relay.held) send(ctx, meeting, group, group.relay.waitingAmong([...group.members.keys()]).map((to) => ({ to, message: { type: 'mls-resync' } })));
}

/** Whether the participant's session is a member of the meeting's group as this broker knows it. */
export function isGroupMember(ctx: BrokerContext, meeting: string, participant: string, session: string): boolean {
  return stateOf(ctx).groups.get(meeting)?.members.get(participant)?.session === session;
}

/**
 * A member the group did not know (this broker restarted since it was
 * admitted; its ticket and the store vouch for it) speaks again. One that
 * says it holds the group at `holding` goes on in it, as a member carrying
 * the group to a new bridge does; the first to say so ends the wait for a
 * holder. One still waiting to be added (no `holding`) waits as a newcomer
 * does, or founds the group when nobody holds it. Either is told the
 * members as this broker knows them now, newcomers since the restart among
 * them (whom it would otherwise not add). Once every member asked has
 * answered, those waiting to be added send their key packages again.
 */
export function rejoinGroup(ctx: BrokerContext, meeting: string, arrival: GroupArrival, holding?: MlsHolding): MlsEntry {
  const group = groupOf(ctx, meeting);
  const { entry, members } = admitToGroup(ctx, meeting, arrival, holding);
  // It gets no `admitted`: the members as this broker knows them now (newcomers since the restart among them), unless it is to reconnect.
  if (holding === undefined || entry === 'continue') send(ctx, meeting, group, [{ to: arrival.id, message: { type: 'mls-members', members } }]);
  if (entry === 'found') send(ctx, meeting, group, [{ to: arrival.id, message: { type: 'mls-found' } }]);
  if (group.relay.held) {
    clearTimeout(group.resync);
    group.resync = undefined;
  }
  heard(ctx, meeting, group, [arrival.id]);
  return entry;
}

/**
 * A session left a cascaded meeting (or its bridge was lost). Another
 * session of the same participant (it joined again elsewhere) stays. One
 * that left `byChoice` is named `gone`, so members remove its leaf at once
 * rather than keep it for the grace of a moving member. When nobody left
 * holds the group, the earliest admitted of those waiting founds a new one.
 */
export function leaveGroup(ctx: BrokerContext, meeting: string, participant: string, session: string, byChoice = false): void {
  const group = stateOf(ctx).groups.get(meeting);
  // One asked what it holds that left is not waited for.
  if (group) heard(ctx, meeting, group, [participant]);
  if (group?.members.get(participant)?.session !== session) return;
  group.members.delete(participant);
  group.checked.delete(participant);
  if (group.members.size === 0) {
    clearTimeout(group.resync);
    stateOf(ctx).groups.delete(meeting);
    return;
  }
  const members = scope(group);
  // The scope first: a member told to found a new group adds whoever it then knows to be waiting.
  const message = { type: 'mls-members' as const, members, ...(byChoice ? { gone: [participant] } : {}) };
  send(ctx, meeting, group, [...[...group.members.keys()].map((to): Outgoing => ({ to, message })), ...group.relay.left(participant, [...group.members.keys()])]);
}

/**
 * A participant's MLS message, as its bridge passed it on: ordered and
 * relayed to the meeting's other members on every bridge. Only the session
 * the bridge of `datacenter` admitted may speak for the participant. True
 * when it showed for the first time that it is in the group (its streams may
 * now transit: the meeting's plan is due again).
 */
export function submitToGroup(ctx: BrokerContext, meeting: string, datacenter: string, participant: string, session: string, message: MlsSubmitMessage | MlsJoinedMessage): boolean {
  const group = stateOf(ctx).groups.get(meeting);
  const member = group?.members.get(participant);
  if (!group || member?.datacenter !== datacenter || member.session !== session) {
    throw new GeobridgeError('NOT_A_MEMBER', `participant '${participant}' is not admitted to meeting '${meeting}' in ${datacenter} under this session; its MLS messages are not relayed.`);
  }
  const before = member.encrypts;
  if (message.type === 'mls-joined') {
    if (missedCommit(group, participant, message.epoch)) {
      // It missed a commit while its bridge was out of touch: it reconnects, and is added with a key package.
      void ctx.control.evict(datacenter, { meeting, participant, session, code: 'GROUP_MOVED_ON', reason: `the meeting's group moved on from epoch ${String(message.epoch)} while your bridge was out of touch with the broker; reconnect to be added to it` });
      return false;
    }
    // A claim the relay does not take (a tag that is not the epoch's) makes no member of the group.
    if (!group.relay.joined(participant, message.epoch, message.tag)) return false;
    member.encrypts = true;
    return !before;
  }
  // Held while members asked what they hold have not answered: its sender is asked again once they have (`heard`).
  if (message.kind === 'key-package' && group.asked.size > 0) return false;
  let others = [...group.members.keys()].filter((id) => id !== participant);
  // The chat is the sender's content: its ciphertext goes only where the sender's media may go.
  if (message.kind === 'application') others = others.filter((id) => reaches(ctx, member, group.members.get(id)));
  const outgoing = group.relay.submit(participant, message, others);
  if (outgoing.some((o) => o.to === participant && o.message.type === 'mls-result' && o.message.accepted)) {
    member.encrypts = true;
    // Its own commit, accepted after the question: an up-to-date answer now holds the epoch it began (the SDK, asked,
    // drops a commit still awaiting its answer and says the epoch before it).
    const question = group.checked.get(participant);
    if (question !== undefined) question.epoch = group.relay.status.epoch;
  }
  send(ctx, meeting, group, outgoing);
  return member.encrypts && !before;
}

/**
 * Whether a member asked what it holds (its bridge came back), saying it
 * holds `epoch`, missed a commit: one accepted before it was asked, or its
 * own, accepted after. A commit of another's that crossed the question
 * reaches it next; a group founded anew since (epochs from 0) makes the
 * question moot.
 */
function missedCommit(group: Group, participant: string, epoch: number): boolean {
  const question = group.checked.get(participant);
  group.checked.delete(participant);
  return question !== undefined && question.generation === group.relay.generation && epoch < question.epoch;
}

/** The members of a cascaded meeting whose media is end-to-end encrypted (they showed they are in its group). */
export function encryptingMembers(ctx: BrokerContext, meeting: string): ReadonlySet<string> {
  const group = stateOf(ctx).groups.get(meeting);
  return new Set([...(group?.members.values() ?? [])].filter((m) => m.encrypts).map((m) => m.id));
}

/** Whether the receiver's bridge may carry the sender's media: the plan's rule, with `transit: e2ee` as for the sender's streams. */
function reaches(ctx: BrokerContext, sender: Member, receiver: Member | undefined): boolean {
  if (!receiver) return false;
  const { manifest } = ctx.policy.current;
  const jurisdiction = compilePolicy(manifest).datacenterById.get(receiver.datacenter)?.jurisdiction;
  return jurisdiction !== undefined && mayCarry(manifest, sender.country, jurisdiction, { e2ee: sender.encrypts });
}

/** The members of a cascaded meeting's group as the broker knows them (for tests and the console). */
export function groupMembers(ctx: BrokerContext, meeting: string): readonly GroupMember[] {
  const group = stateOf(ctx).groups.get(meeting);
  return group ? scope(group) : [];
}

/** Sends each bridge its participants' messages, in order, as one `mls` command (consecutive equal messages share one delivery). */
function send(ctx: BrokerContext, meeting: string, group: Group, outgoing: readonly Outgoing[]): void {
  const byBridge = new Map<string, { to: string[]; message: GroupDeliveryMessage; text: string }[]>();
  for (const { to, message } of outgoing) {
    const datacenter = group.members.get(to)?.datacenter;
    if (datacenter === undefined) continue;
    let deliveries = byBridge.get(datacenter);
    if (!deliveries) byBridge.set(datacenter, (deliveries = []));
    const text = JSON.stringify(message);
    const last = deliveries.at(-1);
    if (last?.text === text) last.to.push(to);
    else deliveries.push({ to: [to], message, text });
  }
  for (const [datacenter, deliveries] of byBridge) {
    const command: Omit<Extract<ControlCommand, { type: 'mls' }>, 'type'> = { meeting, deliveries: deliveries.map(({ to, message }) => ({ to, message })) };
    void ctx.control.mls(datacenter, command);
  }
}
