/**
 * The meeting chat over a real broker and bridge (Node participants with
 * E2EE): a message reaches every other member with its sender's name from the
 * group, while everything the bridge relays and everything the broker and the
 * bridge log — every WebSocket frame in this process, in either direction,
 * and every byte the MLS relay handles — never contains its text. A member
 * added afterwards cannot read it (forward secrecy), and a message sent while
 * the group changes still reaches the members who were there.
 */
import { Writable } from 'node:stream';
import { WebSocket } from 'ws';
import type { MediaStreamTrack } from 'werift';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { nodeSession, type SessionEvent } from '../sdk/node.js';
import type { Session } from '../sdk/session.js';
import type { MlsSubmitMessage } from '../protocol/signalling.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { MlsRelay } from '../mls/relay.js';

let cluster: Cluster;
/** Every line the broker and the bridge logged. */
const logs: string[] = [];
/** Every text frame sent on any WebSocket of this process: client → bridge and bridge → client signalling, and the bridge's channels to the broker. */
const frames: string[] = [];
/** The bytes of every submission the bridge's MLS relay handled. */
const relayed: Buffer[] = [];

beforeAll(async () => {
  // Observers around the real methods: the frames still go out and the relay still decides.
  const send = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'send')?.value as (this: WebSocket, ...args: unknown[]) => void;
  vi.spyOn(WebSocket.prototype, 'send').mockImplementation(function (this: WebSocket, ...args: unknown[]) {
    const [data] = args;
    frames.push(typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : '');
    send.apply(this, args);
  });
  const submit = Object.getOwnPropertyDescriptor(MlsRelay.prototype, 'submit')?.value as (this: MlsRelay, from: string, message: MlsSubmitMessage, everyone: readonly string[]) => ReturnType<MlsRelay['submit']>;
  vi.spyOn(MlsRelay.prototype, 'submit').mockImplementation(function (this: MlsRelay, from: string, message: MlsSubmitMessage, everyone: readonly string[]) {
    relayed.push(Buffer.from(message.data, 'base64url'));
    if (message.welcome !== undefined) relayed.push(Buffer.from(message.welcome, 'base64url'));
    return submit.call(this, from, message, everyone);
  });
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  cluster = await startCluster(['us-east'], ['us-east'], {
    brokerLogger: { level: 'trace', stream } as { readonly level: string },
    bridge: { log: (line) => logs.push(JSON.stringify(line)) },
  });
}, 60_000);
afterAll(async () => {
  vi.restoreAllMocks();
  await cluster.close();
});

interface Member {
  readonly name: string;
  readonly session: Session<MediaStreamTrack>;
  readonly events: SessionEvent<MediaStreamTrack>[];
}
type Chat = Extract<SessionEvent<MediaStreamTrack>, { type: 'chat' }>;
type Epoch = Extract<SessionEvent<MediaStreamTrack>, { type: 'e2ee' }>;

async function join(meeting: string, name: string): Promise<Member> {
  const events: SessionEvent<MediaStreamTrack>[] = [];
  const session = nodeSession({ broker: cluster.broker.url, joinToken: await cluster.joinToken(meeting, name), country: 'US', e2ee: true, onEvent: (e) => events.push(e) });
  session.join();
  return { name, session, events };
}

function chats(m: Member): Chat[] {
  return m.events.filter((e): e is Chat => e.type === 'chat');
}

async function until(condition: () => boolean, what: string, ms = 40_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until every member is in the same epoch with `size` members. */
async function converged(members: readonly Member[], size: number): Promise<void> {
  const latest = (m: Member): Epoch | undefined => m.events.findLast((e): e is Epoch => e.type === 'e2ee');
  await until(() => {
    const epochs = members.map(latest);
    return epochs.every((e) => e !== undefined && e.epoch === epochs[0]?.epoch && e.members.length === size);
  }, `${members.map((m) => m.name).join(', ')} in one epoch of ${size}`);
}

/** Whether `haystack` holds `marker`, as text or base64url-encoded at any alignment. */
function leaks(haystack: string, marker: string): boolean {
  const raw = Buffer.from(marker);
  const encodings = [0, 1, 2].map((shift) => Buffer.concat([Buffer.alloc(shift), raw]).toString('base64url').slice(4, -4));
  return haystack.includes(marker) || encodings.some((e) => haystack.includes(e));
}

describe('meeting chat over the bridge', () => {
  it('reaches every other member under the sender’s credential name; the bridge and broker never see or log its text; a later newcomer cannot read it', async () => {
    const marker = `chat-marker-${crypto.randomUUID()}`;
    const meeting = await cluster.meeting();
    const ada = await join(meeting, 'Ada');
    // Not in a group yet: nothing to send to.
    expect(ada.session.sendChat('too early')).toBe(false);
    expect(() => ada.session.sendChat('   ')).toThrow(expect.objectContaining({ code: 'CHAT_INVALID' }) as Error);
    expect(() => ada.session.sendChat('x'.repeat(2001))).toThrow(expect.objectContaining({ code: 'CHAT_INVALID' }) as Error);
    await converged([ada], 1);
    const bo = await join(meeting, 'Bo');
    await converged([ada, bo], 2);
    const cy = await join(meeting, 'Cy');
    await converged([ada, bo, cy], 3);
    const ids = Object.fromEntries(ada.events.findLast((e): e is Epoch => e.type === 'e2ee')?.members.map((m) => [m.name, m.participant]) ?? []);

    expect(ada.session.sendChat(`hello ${marker}`)).toBe(true);
    await until(() => [bo, cy].every((m) => chats(m).length > 0), 'Bo and Cy to receive the chat');
    for (const m of [bo, cy]) expect(chats(m)).toEqual([expect.objectContaining({ type: 'chat', from: ids.Ada, name: 'Ada', text: `hello ${marker}`, self: false })]);
    await until(() => chats(ada).length > 0, 'Ada’s own echo');
    expect(chats(ada)).toEqual([expect.objectContaining({ from: ids.Ada, name: 'Ada', text: `hello ${marker}`, self: true })]);
    const sentAt = chats(bo)[0]?.sentAt ?? 0;
    expect(chats(ada)[0]?.sentAt).toBe(sentAt);

    // Bo answers while Dee is being added: the message is framed for the epoch before or after the commit, and Ada and Cy read it either way.
    const dee = await join(meeting, 'Dee');
    await until(() => ada.events.some((e) => e.type === 'participant-joined' && e.peer.name === 'Dee'), 'Ada to see Dee arrive');
    expect(bo.session.sendChat(`during the change ${marker}`)).toBe(true);
    await converged([ada, bo, cy, dee], 4);
    await until(() => [ada, cy].every((m) => chats(m).some((c) => c.text === `during the change ${marker}`)), 'Ada and Cy to read Bo’s message sent during the epoch change');

    // After the commit that adds her, Dee reads what is sent — and never what came before her.
    expect(cy.session.sendChat('welcome Dee')).toBe(true);
    await until(() => chats(dee).some((c) => c.text === 'welcome Dee'), 'Dee to read a message sent after she joined');
    expect(chats(dee).find((c) => c.text === 'welcome Dee')).toMatchObject({ from: ids.Cy, name: 'Cy', self: false });
    expect(chats(dee).some((c) => c.text.includes(`hello ${marker}`))).toBe(false);

    // What the servers handled: the chat travelled (as kind 'application'), and its text is nowhere in it.
    expect(frames.filter((f) => f.includes('"kind":"application"')).length).toBeGreaterThanOrEqual(3);
    expect(relayed.length).toBeGreaterThan(0);
    expect(frames.some((f) => leaks(f, marker))).toBe(false);
    expect(relayed.some((bytes) => bytes.includes(Buffer.from(marker)) || bytes.includes(Buffer.from('chat-marker')))).toBe(false);
    // Both logs were captured: the broker's requests and the bridge's admissions.
    expect(logs.some((line) => line.includes('"reqId"'))).toBe(true);
    expect(logs.some((line) => line.includes('"msg":"admitted"'))).toBe(true);
    expect(logs.some((line) => leaks(line, marker) || line.includes('chat-marker'))).toBe(false);
    // The tap can see a marker: each member's own event log has it.
    expect(leaks(JSON.stringify(chats(bo)), marker)).toBe(true);

    expect([ada, bo, cy, dee].flatMap((m) => m.events.filter((e) => e.type === 'e2ee-error' || e.type === 'chat-undelivered' || e.type === 'chat-unreadable'))).toEqual([]);

    // A bridge that alters a message in flight: Cy's last message, one ciphertext bit flipped, relayed as if from Cy.
    const lastSent = frames.filter((f) => f.startsWith('{"type":"mls"')).map((f) => JSON.parse(f) as { type?: string; kind?: string; from?: string; data?: string }).findLast((f) => f.type === 'mls' && f.kind === 'application' && f.from === undefined);
    const tampered = Buffer.from(lastSent?.data ?? '', 'base64url');
    tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 1;
    const room = cluster.bridges.get('us-east')?.rooms.get(meeting);
    const cyId = ids.Cy ?? '';
    for (const out of room?.mls.submit(cyId, { type: 'mls', kind: 'application', data: tampered.toString('base64url') }, [...(room.participants.keys())].filter((id) => id !== cyId)) ?? []) room?.participants.get(out.to)?.notify(out.message);
    await until(() => [ada, bo, dee].every((m) => m.events.some((e) => e.type === 'chat-unreadable')), 'the altered message to be refused');
    // Dropped, not shown; the group and its keys are untouched.
    expect([ada, bo, dee].map((m) => chats(m).filter((c) => c.from === ids.Cy).length)).toEqual([1, 1, 1]);
    expect([ada, bo, cy, dee].flatMap((m) => m.events.filter((e) => e.type === 'e2ee-error'))).toEqual([]);
    for (const m of [ada, bo, cy, dee]) m.session.leave();
  }, 120_000);
});
