/**
 * MeetingKeys, the SDK's side of the MLS group, against the bridge's real
 * relay (src/mls/relay.ts) with delivery in this process: who gets
 * added by which commit, and a group that moves to another bridge.
 */
import type { CiphersuiteImpl } from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MlsJoinedMessage, MlsSubmitMessage } from '../protocol/signalling.js';
import { isGeobridgeError } from '../core/errors.js';
import { MlsRelay, type Outgoing } from '../mls/relay.js';
import { createKeyPackage, encodeKeyPackage, loadCipherSuite } from '../mls/group.js';
import { createMemberIdentity, generateSignatureKeyPair } from '../mls/identity.js';
import { firstCounter } from '../mls/kid.js';
import { createTestBroker, MEETING, newMember, type TestBroker } from '../mls/test-broker.fixture.js';
import { holdingOf, MeetingKeys, type CarriedGroup, type E2eeEpoch } from '../sdk/meeting-keys.js';

let cs: CiphersuiteImpl;
let broker: TestBroker;

beforeAll(async () => {
  cs = await loadCipherSuite();
  broker = await createTestBroker();
});

/** Assertions are dated from the fixture's T0; MeetingKeys checks them against the real clock. */
const LIFETIME = 20 * 365 * 86_400;

/** A bridge room in miniature: participants in admission order, their MeetingKeys, the relay, and every commit submitted. */
class Room {
  readonly relay = new MlsRelay(MEETING);
  readonly keys = new Map<string, MeetingKeys>();
  readonly epochs = new Map<string, E2eeEpoch>();
  readonly commits: string[] = [];
  /** The last key package each participant sent. */
  readonly keyPackages = new Map<string, string>();
  /** Commits sent while set are lost on the way (a delivery service that went down before it answered). */
  losing = false;
  /** Errors the participants report, kept while set (a test that expects them); thrown otherwise. */
  collecting = false;
  /** Participants whose `mls-joined` is on its way until `arrive()`. */
  readonly slow = new Set<string>();
  readonly late: [string, MlsJoinedMessage][] = [];
  readonly errors: string[] = [];

  admit(id: string, addBatchMs?: number, carried?: CarriedGroup, rejoinGraceMs?: number): MeetingKeys {
    const others = [...this.keys.keys()];
    const entry = this.relay.admit(id, others.length, carried ? holdingOf(carried) : undefined);
    if (entry === 'none') throw new Error('every participant here encrypts');
    const keys = new MeetingKeys({
      broker: 'http://127.0.0.1:9',
      joinToken: 'unused',
      meeting: MEETING,
      participant: id,
      prepared: newMember(cs, broker, id, { lifetime: LIFETIME }),
      jwks: () => Promise.resolve(broker.publicKey),
      send: (m) => {
        this.#submit(id, m);
      },
      onEpoch: (epoch) => this.epochs.set(id, epoch),
      onRoster: () => undefined,
      onError: (error) => {
        if (!this.collecting) throw error;
        this.errors.push(`${id}: ${isGeobridgeError(error) ? error.code : String(error)}`);
      },
      ...(addBatchMs !== undefined ? { addBatchMs } : {}),
      ...(carried ? { carried } : {}),
      ...(rejoinGraceMs !== undefined ? { rejoinGraceMs } : {}),
    });
    this.keys.set(id, keys);
    for (const other of others) this.keys.get(other)?.peerJoined({ id, name: id.toUpperCase() });
    keys.start(entry, others.map((o) => ({ id: o, name: o.toUpperCase() })));
    return keys;
  }

  #submit(from: string, m: MlsSubmitMessage | MlsJoinedMessage): void {
    if (m.type === 'mls-joined') {
      if (this.slow.has(from)) this.late.push([from, m]);
      else this.relay.joined(from, m.epoch, m.tag);
      return;
    }
    if (m.kind === 'commit') this.commits.push(from);
    if (m.kind === 'commit' && this.losing) return;
    if (m.kind === 'key-package') this.keyPackages.set(from, m.data);
    this.#deliver(this.relay.submit(from, m, [...this.keys.keys()].filter((p) => p !== from)));
  }

  #deliver(out: readonly Outgoing[]): void {
    for (const { to, message } of out) {
      const keys = this.keys.get(to);
      if (message.type === 'mls') keys?.relayed(message);
      else if (message.type === 'mls-result') keys?.result(message);
      else keys?.found();
    }
  }

  /** Resolves once every participant is at the same epoch with all of them in it. */
  async agreed(limitMs = 20_000): Promise<bigint> {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
      const epochs = [...this.keys.keys()].map((p) => this.epochs.get(p));
      const first = epochs[0];
      if (first && epochs.every((e) => e?.epoch === first.epoch && e.members.length === this.keys.size)) return first.epoch;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no agreement: ${JSON.stringify([...this.epochs].map(([p, e]) => [p, String(e.epoch), e.members.length]))}`);
  }

  /** The bridge is gone: every participant keeps its group, and those in `order` are admitted to a fresh room carrying it. */
  moveTo(order: readonly string[], rejoinGraceMs?: number): Room {
    const carried = new Map([...this.keys].map(([id, k]) => [id, k.carry()]));
    this.close();
    const next = new Room();
    for (const id of order) next.admit(id, 100, carried.get(id), rejoinGraceMs);
    return next;
  }

  /** A participant with no MeetingKeys (a hostile client) is admitted and announced, and sends `message` if given. */
  intruder(id: string, message?: MlsSubmitMessage): void {
    this.relay.admit(id, this.keys.size);
    for (const keys of this.keys.values()) keys.peerJoined({ id, name: id.toUpperCase() });
    if (message) this.sendAs(id, message);
  }

  /** The `mls-joined` of the slow participants reaches the relay. */
  arrive(): void {
    this.slow.clear();
    for (const [from, m] of this.late.splice(0)) this.relay.joined(from, m.epoch, m.tag);
  }

  /** `participant` leaves: the relay hears of it (and may ask someone to found), then the others. */
  leave(participant: string): void {
    this.keys.get(participant)?.close();
    this.keys.delete(participant);
    this.#deliver(this.relay.left(participant, [...this.keys.keys()]));
    for (const k of this.keys.values()) k.peerLeft(participant);
  }

  /** `from` sends `message` to the relay (an intruder's next message). */
  sendAs(from: string, message: MlsSubmitMessage): void {
    this.#submit(from, message);
  }

  /** Relays `from`'s last key package again, as a retry that crossed its Welcome would. */
  resend(from: string): void {
    const data = this.keyPackages.get(from);
    if (data === undefined) throw new Error(`${from} sent no key package`);
    this.#submit(from, { type: 'mls', kind: 'key-package', data });
  }

  close(): void {
    for (const k of this.keys.values()) k.close();
  }
}

describe('MeetingKeys against a hostile participant or bridge', () => {
  it('drops a key package that cannot be added, so it holds up no newcomer after it', async () => {
    const room = new Room();
    room.collecting = true;
    room.admit('ada', 0);
    expect(await room.agreed()).toBe(0n);
    // Mallory's credential names no identity the broker signed: every commit carrying it fails the credential check.
    const forged = await createKeyPackage(createMemberIdentity(await generateSignatureKeyPair(cs), 'not an identity assertion'), cs);
    room.intruder('mallory', { type: 'mls', kind: 'key-package', data: Buffer.from(encodeKeyPackage(forged)).toString('base64url') });
    room.admit('bo', 0);
    room.admit('cy', 0);
    await room.agreed();
    expect([...room.epochs.values()].map((e) => e.members.map((m) => m.participant).sort())).toEqual([['ada', 'bo', 'cy'], ['ada', 'bo', 'cy'], ['ada', 'bo', 'cy']]);
    expect(room.errors).toContain('ada: MLS_CREDENTIAL_REJECTED');
    room.close();
  });

  it('drops a key package replayed under another participant’s name, and adds the one it copied', async () => {
    const room = new Room();
    room.collecting = true;
    room.admit('ada', 300);
    expect(await room.agreed()).toBe(0n);
    // Mallory is announced first, so Ada waits for her key package before adding Bo; hers is a copy of Bo's,
    // dropped as it arrives: Ada adds Bo once the wait for Mallory's own is over.
    room.intruder('mallory');
    room.admit('bo', 300);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !room.keyPackages.has('bo')) await new Promise((r) => setTimeout(r, 10));
    room.sendAs('mallory', { type: 'mls', kind: 'key-package', data: room.keyPackages.get('bo') ?? '' });
    expect(await room.agreed()).toBe(1n);
    expect(room.epochs.get('ada')?.members.map((m) => m.participant)).toEqual(['ada', 'bo']);
    expect(room.errors).toContain('ada: MLS_CREDENTIAL_REJECTED');
    room.close();
  });

  it('drops a departed member’s key package sent again by someone else: its owner, gone, is not added back in the sender’s place', async () => {
    const room = new Room();
    room.collecting = true;
    room.admit('ada', 50, undefined, 100);
    room.admit('bo', 50);
    expect(await room.agreed()).toBe(1n);
    const bos = room.keyPackages.get('bo') ?? '';
    room.leave('bo');
    expect(await room.agreed()).toBe(2n);
    // Mallory sends Bo's old key package as her own (every member saw it when Bo joined); then Cy arrives.
    room.intruder('mallory', { type: 'mls', kind: 'key-package', data: bos });
    room.admit('cy', 50);
    expect(await room.agreed()).toBe(3n);
    expect(room.epochs.get('ada')?.members.map((m) => m.participant)).toEqual(['ada', 'cy']);
    expect(room.errors).toContain('ada: MLS_CREDENTIAL_REJECTED');
    room.close();
  });

  it('goes on in the group when its holder leaves before the member it added by Welcome has said so', async () => {
    const room = new Room();
    room.collecting = true;
    room.admit('ada', 0);
    expect(await room.agreed()).toBe(0n);
    room.slow.add('bo');
    room.admit('bo', 0);
    expect(await room.agreed()).toBe(1n);
    // Ada leaves: the relay, which has not heard Bo say he holds the group, asks him to found one.
    room.leave('ada');
    await new Promise((r) => setTimeout(r, 100));
    room.arrive();
    // Bo stays in epoch 1, the relay goes on there, and Bo removes Ada (epoch 2), with no newcomer to set it off.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && room.epochs.get('bo')?.epoch !== 2n) await new Promise((r) => setTimeout(r, 20));
    expect([room.relay.status.epoch, room.epochs.get('bo')?.epoch, room.epochs.get('bo')?.members.map((m) => m.participant)]).toEqual([2, 2n, ['bo']]);
    room.admit('cy', 0);
    expect(await room.agreed()).toBe(3n);
    room.close();
  });

  it('stays in the group it holds when a bridge asks it to found a new one, and follows the group on', async () => {
    const room = new Room();
    room.collecting = true;
    room.admit('ada', 0);
    room.admit('bo', 0);
    room.admit('cy', 0);
    const agreed = await room.agreed();
    const code = room.epochs.get('bo')?.securityCode;
    room.keys.get('bo')?.found();
    await new Promise((r) => setTimeout(r, 300));
    expect([room.epochs.get('bo')?.epoch, room.epochs.get('bo')?.securityCode, room.epochs.get('bo')?.generation]).toEqual([agreed, code, 1]);
    expect(room.errors).toEqual(['bo: MLS_MESSAGE_REJECTED']);
    // Cy leaves: Ada removes her, and Bo, still in the group, takes the epoch Cy cannot read.
    room.keys.get('cy')?.close();
    room.keys.delete('cy');
    room.relay.left('cy', [...room.keys.keys()]);
    for (const k of room.keys.values()) k.peerLeft('cy');
    expect(await room.agreed()).toBe(agreed + 1n);
    room.close();
  });
});

describe('MeetingKeys', () => {
  it('makes a commit lost with a delivery service that restarted again when asked what it holds (resync)', async () => {
    const room = new Room();
    const ada = room.admit('ada', 0);
    expect(await room.agreed()).toBe(0n);
    room.losing = true;
    room.admit('bo', 0);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && room.commits.length === 0) await new Promise((r) => setTimeout(r, 10));
    expect(room.commits).toEqual(['ada']);
    // Without an answer Ada waits for hers and commits nothing more: Bo is never added.
    await new Promise((r) => setTimeout(r, 300));
    expect(room.epochs.get('bo')).toBeUndefined();
    room.losing = false;
    ada.resync();
    expect(await room.agreed()).toBe(1n);
    expect(room.commits).toEqual(['ada', 'ada']);
  });

  it('adds participants announced together with one commit, waiting for the key package still on its way', async () => {
    const room = new Room();
    room.admit('ada', 60_000);
    expect(await room.agreed()).toBe(0n);
    // Bo and Cy are admitted and announced; Cy's key package comes later than Bo's (they always come one by one).
    room.admit('bo', 60_000);
    room.admit('cy', 60_000);
    expect(await room.agreed()).toBe(1n);
    expect(room.commits).toEqual(['ada']);
  });

  it('adds whoever sent a key package once the wait is over, when an announced participant never sends one', async () => {
    const room = new Room();
    room.admit('ada', 200);
    expect(await room.agreed()).toBe(0n);
    room.admit('bo', 200);
    // Cy is announced to Ada and Bo, but never starts: no key package.
    room.keys.get('ada')?.peerJoined({ id: 'cy', name: 'CY' });
    room.keys.get('bo')?.peerJoined({ id: 'cy', name: 'CY' });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && room.epochs.get('bo')?.epoch !== 1n) await new Promise((r) => setTimeout(r, 10));
    expect(room.epochs.get('bo')?.epoch).toBe(1n);
    expect(room.epochs.get('ada')?.members.map((m) => m.participant).sort()).toEqual(['ada', 'bo']);
    expect(room.commits).toEqual(['ada']);
  });

  it('goes on in the same group on the next bridge: same epoch, code and members, no commit, and CTRs above the last connection\'s', async () => {
    const east = new Room();
    for (const id of ['ada', 'bo', 'cy']) east.admit(id, 100);
    const epoch = await east.agreed();
    const code = east.epochs.get('ada')?.securityCode;
    expect(east.epochs.get('bo')?.keys.firstCounter).toBeUndefined();

    // The bridge dies: each session keeps its group, and joins the next bridge naming it.
    const west = east.moveTo(['cy', 'ada', 'bo']);
    expect(await west.agreed()).toBe(epoch);
    expect(west.commits).toEqual([]);
    for (const id of ['ada', 'bo', 'cy']) {
      expect(west.epochs.get(id)?.securityCode).toBe(code);
      expect(west.epochs.get(id)?.keys.firstCounter).toBe(firstCounter(1));
    }
    // And again: the third connection in this epoch starts above the second.
    const north = west.moveTo(['bo', 'cy', 'ada']);
    expect(await north.agreed()).toBe(epoch);
    expect(north.epochs.get('ada')?.keys.firstCounter).toBe(firstCounter(2));
    north.close();
  });

  it('removes a member of the carried group who does not come to the next bridge once the grace is over', async () => {
    const east = new Room();
    for (const id of ['ada', 'bo', 'cy']) east.admit(id, 100);
    const epoch = await east.agreed();
    const west = east.moveTo(['bo', 'ada'], 300);
    // At once: both go on in the old epoch, Cy's leaf still there.
    await waitFor(() => west.epochs.get('ada')?.epoch === epoch && west.epochs.get('bo')?.epoch === epoch);
    expect(west.commits).toEqual([]);
    // After the grace: the lowest leaf present (Ada, leaf 0) removes Cy, and the keys change.
    expect(await west.agreed()).toBe(epoch + 1n);
    expect(west.commits).toEqual(['ada']);
    expect(west.epochs.get('bo')?.members.map((m) => m.participant).sort()).toEqual(['ada', 'bo']);
    expect(west.epochs.get('bo')?.keys.firstCounter).toBeUndefined();
    west.close();
  });

  it('adds a member that carries another epoch as a newcomer, in place of its old leaf', async () => {
    const east = new Room();
    for (const id of ['ada', 'bo']) east.admit(id, 100);
    await east.agreed();
    // Cy's group is taken before the commit that adds Dee reaches it: it carries a stale epoch.
    east.admit('cy', 100);
    const before = await east.agreed();
    const stale = east.keys.get('cy')?.carry();
    east.admit('dee', 100);
    expect(await east.agreed()).toBe(before + 1n);
    const west = east.moveTo(['ada', 'bo', 'dee']);
    west.admit('cy', 100, stale);
    const epoch = await west.agreed();
    const members = west.epochs.get('cy')?.members.map((m) => m.participant).sort();
    expect(members).toEqual(['ada', 'bo', 'cy', 'dee']);
    expect(epoch).toBeGreaterThan(before + 1n);
    west.close();
  });

  it('does not add again a member whose key package comes a second time (a retry that crossed its Welcome)', async () => {
    const room = new Room();
    room.admit('ada', 100);
    room.admit('bo', 100);
    expect(await room.agreed()).toBe(1n);
    room.resend('bo');
    // The next arrival is added by one commit; a second add of Bo would have failed Ada's commit (onError throws).
    room.admit('cy', 100);
    expect(await room.agreed()).toBe(2n);
    expect(room.commits).toEqual(['ada', 'ada']);
    room.close();
  });

  it('in a cascaded meeting, keeps the leaf of a member no longer listed for the grace, and removes one that says it is gone at once', async () => {
    const room = new Room();
    // A grace longer than the test: a member kept for it is not removed while the test runs.
    for (const id of ['ada', 'bo', 'cy']) room.admit(id, 50, undefined, 3_600_000);
    const epoch = await room.agreed();
    const commits = room.commits.length;
    const scope = (ids: readonly string[]): { id: string; name: string; since: number }[] => ids.map((id, i) => ({ id, name: id.toUpperCase(), since: i + 1 }));
    for (const k of room.keys.values()) k.setMembers(scope(['ada', 'bo', 'cy']));
    // Cy's bridge failed: no longer listed, not gone. Nobody commits; her leaf stays.
    for (const id of ['ada', 'bo']) room.keys.get(id)?.setMembers(scope(['ada', 'bo']));
    await new Promise((r) => setTimeout(r, 300));
    expect(room.commits).toHaveLength(commits);
    expect([...room.epochs.values()].map((e) => [e.epoch, e.members.length])).toEqual([[epoch, 3], [epoch, 3], [epoch, 3]]);
    // Cy comes back (a new since) going on in the group, then leaves for good: her leaf goes with the next commit.
    for (const id of ['ada', 'bo']) room.keys.get(id)?.setMembers([...scope(['ada', 'bo']), { id: 'cy', name: 'CY', since: 9 }]);
    room.keys.get('cy')?.close();
    room.keys.delete('cy');
    room.epochs.delete('cy');
    for (const id of ['ada', 'bo']) room.keys.get(id)?.setMembers(scope(['ada', 'bo']), ['cy']);
    expect(await room.agreed()).toBe(epoch + 1n);
    expect(room.commits).toHaveLength(commits + 1);
    room.close();
  });
});

async function waitFor(condition: () => boolean, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
