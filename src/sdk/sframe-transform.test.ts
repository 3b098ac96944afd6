// The E2EE frame format and key handling in Node, on Node 20's WebCrypto (the worker's backend).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { installEpochKeys, kid } from '../mls/kid.js';
import { decodeHeader, SFrameContext, WebCryptoBackend } from '../sframe/index.js';
import {
  checkKeysMessage,
  clearPrefixLength,
  frameKind,
  frameTransform,
  FrameCrypter,
  runSFrameWorker,
  VP8_DELTA_FRAME_PREFIX,
  VP8_KEY_FRAME_PREFIX,
  type E2eeReply,
  type EncodedFrameLike,
  type FrameLayout,
  type KeysMessage,
  type MediaKind,
} from './sframe-transform.js';

const crypto = new WebCryptoBackend(globalThis.crypto.subtle);
const KEY = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const OTHER_KEY = Uint8Array.from({ length: 16 }, (_, i) => 100 + i);

/** A VP8 key frame: frame tag with P = 0, start code 9d 01 2a, 640×480, then "compressed" bytes. */
function vp8KeyFrame(size = 200): Uint8Array {
  const f = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
  f.set([0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
  return f;
}

/** A VP8 delta frame: P = 1. */
function vp8DeltaFrame(size = 80): Uint8Array {
  const f = Uint8Array.from({ length: size }, (_, i) => (i * 13) & 0xff);
  f.set([0x31, 0x02, 0x00]);
  return f;
}

/** One frame of each kind and its clear prefix length: a VP8 key frame, a VP8 delta frame, an audio frame. */
function sampleFrames(): readonly (readonly [MediaKind, Uint8Array, number])[] {
  return [
    ['video', vp8KeyFrame(), 10],
    ['video', vp8DeltaFrame(), 3],
    ['audio', Uint8Array.from({ length: 60 }, (_, i) => i), 0],
  ];
}

const keys = (epoch: number, ownLeaf: number, baseKey = KEY, senders = [0, 1, 2], layout?: FrameLayout): KeysMessage => ({ type: 'keys', epoch, baseKey, ownLeaf, senders, ...(layout ? { layout } : {}) });

/** A fake clock for the switch and grace timers. */
function fakeClock(): { schedule: (fn: () => void, ms: number) => void; advance: (ms: number) => void } {
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    schedule: (fn, ms) => timers.push({ at: now + ms, fn }),
    advance: (ms) => {
      now += ms;
      const due = timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fn();
    },
  };
}

/** Resolves once `condition` holds (polled; the test's timeout bounds it). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2));
}

async function pair(senderKey = KEY, receiverKey = KEY, layout?: FrameLayout): Promise<{ sender: FrameCrypter; receiver: FrameCrypter }> {
  const sender = new FrameCrypter({ crypto });
  const receiver = new FrameCrypter({ crypto });
  expect(await sender.setKeys(keys(1, 0, senderKey, undefined, layout))).toBe('installed');
  expect(await receiver.setKeys(keys(1, 1, receiverKey, undefined, layout))).toBe('installed');
  return { sender, receiver };
}

describe('the clear prefix (RFC 6386 §9.1)', () => {
  it('is 10 bytes on VP8 key frames, 3 on delta frames, 0 on audio', () => {
    expect(clearPrefixLength('video', vp8KeyFrame())).toBe(VP8_KEY_FRAME_PREFIX);
    expect(clearPrefixLength('video', vp8DeltaFrame())).toBe(VP8_DELTA_FRAME_PREFIX);
    expect(clearPrefixLength('audio', vp8KeyFrame())).toBe(0);
    expect(clearPrefixLength('video', new Uint8Array(0))).toBe(0);
  });

  it('tells video frames (which have a type) from audio frames', () => {
    expect(frameKind({ data: new ArrayBuffer(1), type: 'key' })).toBe('video');
    expect(frameKind({ data: new ArrayBuffer(1) })).toBe('audio');
  });
});

describe('FrameCrypter', () => {
  it('sends clearPrefix ‖ SFrame(header ‖ ciphertext) under its own KID, and the receiver restores the frame', async () => {
    const { sender, receiver } = await pair();
    for (const [kind, frame, prefix] of sampleFrames()) {
      const wire = await sender.encrypt(kind, frame);
      if (!wire) throw new Error('not sent');
      expect(wire.subarray(0, prefix)).toEqual(frame.subarray(0, prefix));
      const header = decodeHeader(wire.subarray(prefix));
      expect(header.kid).toBe(kid(1n, 0));
      // header ‖ ciphertext ‖ 16-byte GCM tag
      expect(wire.length).toBe(frame.length + header.length + 16);
      expect(wire.subarray(prefix + header.length, prefix + header.length + 8)).not.toEqual(frame.subarray(prefix, prefix + 8));
      expect(await receiver.decrypt(kind, wire)).toEqual(frame);
    }
    expect(sender.stats().encrypted).toEqual({ audio: 1, video: 2 });
    expect(receiver.stats().decrypted).toEqual({ audio: 1, video: 2 });
  });

  it("in the 'whole' layout, encrypts the clear prefix too: clearPrefix ‖ SFrame(header ‖ AEAD(prefix ‖ rest)), and hands back the AEAD's output as the frame", async () => {
    const { sender, receiver } = await pair(KEY, KEY, 'whole');
    const plain = await pair();
    for (const [kind, frame, prefix] of sampleFrames()) {
      const wire = await sender.encrypt(kind, frame);
      if (!wire) throw new Error('not sent');
      expect(wire.subarray(0, prefix)).toEqual(frame.subarray(0, prefix));
      const header = decodeHeader(wire.subarray(prefix));
      expect(header.kid).toBe(kid(1n, 0));
      expect(wire.length).toBe(prefix + header.length + frame.length + 16);
      const out = await receiver.decrypt(kind, wire);
      expect(out).toEqual(frame);
      expect([out?.byteOffset, out?.byteLength]).toEqual([0, out?.buffer.byteLength]); // frame.data takes the buffer whole
      // A receiver of the other layout gets nothing usable from video: the prefix check (split → whole) or the decoder's bytes differ.
      if (prefix > 0) expect(await plain.receiver.decrypt(kind, wire)).not.toEqual(frame);
    }
    expect(receiver.stats().decrypted).toEqual({ audio: 1, video: 2 });
  });

  it("in the 'whole' layout, drops a frame whose encrypted prefix is not the clear one, and one whose clear prefix was altered", async () => {
    const { sender, receiver } = await pair(KEY, KEY, 'whole');
    const frame = vp8DeltaFrame();
    // A sender that encrypts another prefix than it shows (a bug, or a member playing games): the receiver's check drops it.
    const liar = new SFrameContext({ crypto });
    const installed = await installEpochKeys(liar, { epoch: 1n, baseKey: KEY, ownIndex: 2, memberIndices: [0, 1, 2] });
    const shown = Uint8Array.of(0x31, 0x02, 0x01);
    const lie = await liar.encryptWithPrefix(installed.send, shown, frame);
    expect(await receiver.decrypt('video', lie)).toBeUndefined();
    expect(receiver.stats().dropped.malformed).toBe(1);

    const wire = await sender.encrypt('video', frame);
    if (!wire) throw new Error('not sent');
    const altered = wire.slice();
    altered[2] = (altered[2] ?? 0) ^ 0x04;
    expect(await receiver.decrypt('video', altered)).toBeUndefined();
    expect(receiver.stats().dropped.authFailed).toBe(1);
    expect(await receiver.decrypt('video', wire)).toEqual(frame);
  });

  it("changes layout with the epoch: the previous epoch's frames still decrypt in theirs during the grace period", async () => {
    const clock = fakeClock();
    const sender = new FrameCrypter({ crypto, schedule: clock.schedule });
    const receiver = new FrameCrypter({ crypto, schedule: clock.schedule });
    await sender.setKeys(keys(1, 0));
    await receiver.setKeys(keys(1, 1));
    const frame = vp8KeyFrame();
    const before = await sender.encrypt('video', frame);
    await sender.setKeys(keys(2, 0, KEY, [0, 1], 'whole'));
    await receiver.setKeys(keys(2, 1, KEY, [0, 1], 'whole'));
    expect(sender.stats()).toMatchObject({ sendEpoch: 1, sendLayout: 'split' });
    clock.advance(100); // past the switch delay: the sender is on epoch 2
    expect(sender.stats()).toMatchObject({ sendEpoch: 2, sendLayout: 'whole' });
    const after = await sender.encrypt('video', frame);
    if (!before || !after) throw new Error('not sent');
    expect(after.length).toBe(before.length + 10);
    expect(await receiver.decrypt('video', after)).toEqual(frame);
    expect(await receiver.decrypt('video', before)).toEqual(frame);
    // And back: a member without the capability joined in epoch 3.
    await sender.setKeys(keys(3, 0, KEY, [0, 1, 2], 'split'));
    await receiver.setKeys(keys(3, 1, KEY, [0, 1, 2], 'split'));
    clock.advance(100);
    const split = await sender.encrypt('video', frame);
    if (!split) throw new Error('not sent');
    expect(split.length).toBe(before.length);
    expect(await receiver.decrypt('video', split)).toEqual(frame);
    expect(await receiver.decrypt('audio', (await sender.encrypt('audio', frame)) ?? new Uint8Array(0))).toEqual(frame);
  });

  it('sends nothing before it has keys', async () => {
    const sender = new FrameCrypter({ crypto });
    expect(await sender.encrypt('video', vp8KeyFrame())).toBeUndefined();
    expect(await sender.encrypt('video', vp8KeyFrame().subarray(0, 5))).toBeUndefined();
    expect(sender.stats().unsent).toEqual({ noKey: 2, malformed: 0, internal: 0 });
    await sender.setKeys(keys(1, 0));
    expect(await sender.encrypt('video', vp8KeyFrame().subarray(0, 5))).toBeUndefined();
    expect(sender.stats().unsent.malformed).toBe(1);
  });

  it('drops, by reason: wrong key, tampered bytes (clear prefix included), replays, unknown KIDs, malformed frames', async () => {
    const { sender, receiver } = await pair();
    const wrong = (await pair(KEY, OTHER_KEY)).receiver;
    const frame = vp8KeyFrame();
    const wire = await sender.encrypt('video', frame);
    if (!wire) throw new Error('not sent');

    expect(await wrong.decrypt('video', wire)).toBeUndefined();
    expect(wrong.stats().dropped.authFailed).toBe(1);

    for (const at of [0, 5, 9, 12, wire.length - 1]) {
      const tampered = wire.slice();
      tampered[at] = (tampered[at] ?? 0) ^ (at === 0 ? 0x02 : 0x01); // at 0, keep the key-frame bit
      expect(await receiver.decrypt('video', tampered)).toBeUndefined();
    }
    expect(receiver.stats().dropped.authFailed).toBe(5);

    expect(await receiver.decrypt('video', wire)).toEqual(frame);
    expect(await receiver.decrypt('video', wire)).toBeUndefined();
    expect(receiver.stats().dropped.replay).toBe(1);

    const stranger = new FrameCrypter({ crypto });
    await stranger.setKeys(keys(1, 5, KEY, [5, 6]));
    const foreign = await stranger.encrypt('video', frame);
    if (!foreign) throw new Error('not sent');
    expect(await receiver.decrypt('video', foreign)).toBeUndefined();
    expect(receiver.stats().dropped.unknownKid).toBe(1);

    expect(await receiver.decrypt('video', frame.subarray(0, 10))).toBeUndefined();
    expect(await receiver.decrypt('audio', new Uint8Array(0))).toBeUndefined();
    expect(receiver.stats().dropped.malformed).toBe(2);
    expect(await receiver.decrypt('audio', Uint8Array.of(0x8f))).toBeUndefined(); // KID length 1, missing
    expect(receiver.stats().dropped.badHeader).toBe(1);
    expect(receiver.stats().decrypted.video).toBe(1);
  });

  it('never throws on random input: every frame is dropped (counted) or decrypted', async () => {
    const { sender } = await pair();
    // No hold: a random KID from a "newer epoch" would wait for keys that never come.
    const receiver = new FrameCrypter({ crypto, holdMs: 0 });
    await receiver.setKeys(keys(1, 1));
    const good = await Promise.all(Array.from({ length: 8 }, () => sender.encrypt('video', vp8DeltaFrame())));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.record({ i: fc.nat(7), at: fc.nat(), bit: fc.nat(7) }).map(({ i, at, bit }) => {
            const f = (good[i] ?? new Uint8Array(0)).slice();
            if (f.length > 0) f[at % f.length] = (f[at % f.length] ?? 0) ^ (1 << bit);
            return f;
          }),
          fc.record({ i: fc.nat(7), cut: fc.nat() }).map(({ i, cut }) => (good[i] ?? new Uint8Array(0)).slice(0, cut % 100)),
        ),
        fc.constantFrom('audio' as const, 'video' as const),
        async (bytes, kind) => {
          const before = receiver.stats();
          const out = await receiver.decrypt(kind, bytes);
          const after = receiver.stats();
          const count = (s: typeof after): number => Object.values(s.dropped).reduce((a, b) => a + b, 0) + s.decrypted.audio + s.decrypted.video;
          expect(count(after)).toBe(count(before) + 1);
          expect(out === undefined).toBe(after.decrypted.audio + after.decrypted.video === before.decrypted.audio + before.decrypted.video);
        },
      ),
      { numRuns: 1000 },
    );
    expect(receiver.stats().dropped.internal).toBe(0);
  });

  it('switches epochs: receive keys at once, the send key after the delay, the previous receive keys for the grace period', async () => {
    const clock = fakeClock();
    const switched: bigint[] = [];
    const alice = new FrameCrypter({ crypto, schedule: clock.schedule, onSwitch: (e) => switched.push(e) });
    const bob = new FrameCrypter({ crypto, schedule: clock.schedule });
    await alice.setKeys(keys(1, 0));
    await bob.setKeys(keys(1, 1));
    expect(switched).toEqual([1n]); // the first keys are used at once
    const epoch2Key = OTHER_KEY;

    await alice.setKeys(keys(2, 0, epoch2Key));
    await bob.setKeys(keys(2, 1, epoch2Key));
    expect(alice.stats()).toMatchObject({ sendEpoch: 1, receiveEpochs: [1, 2] });
    const inFlight = await alice.encrypt('audio', Uint8Array.of(1, 2, 3));
    if (!inFlight) throw new Error('not sent');
    expect(decodeHeader(inFlight).kid).toBe(kid(1n, 0));

    clock.advance(300);
    expect(switched).toEqual([1n, 2n]);
    const next = await alice.encrypt('audio', Uint8Array.of(4, 5, 6));
    if (!next) throw new Error('not sent');
    expect(decodeHeader(next).kid).toBe(kid(2n, 0));
    // Both epochs decrypt during the grace period.
    expect(await bob.decrypt('audio', next)).toEqual(Uint8Array.of(4, 5, 6));
    expect(await bob.decrypt('audio', inFlight)).toEqual(Uint8Array.of(1, 2, 3));

    clock.advance(1700);
    expect(bob.stats().receiveEpochs).toEqual([2]);
    const old = new FrameCrypter({ crypto });
    await old.setKeys(keys(1, 0));
    const oldFrame = await old.encrypt('audio', Uint8Array.of(7));
    if (!oldFrame) throw new Error('not sent');
    expect(await bob.decrypt('audio', oldFrame)).toBeUndefined();
    expect(bob.stats().dropped.unknownKid).toBe(1);
  });

  it('holds a frame under a newer epoch until its keys arrive, and the frames behind it in order', async () => {
    const clock = fakeClock();
    const alice = new FrameCrypter({ crypto, switchDelayMs: 0 });
    const bob = new FrameCrypter({ crypto, schedule: clock.schedule });
    await alice.setKeys(keys(1, 0));
    await bob.setKeys(keys(1, 1));
    await alice.setKeys(keys(2, 0, OTHER_KEY)); // alice processed the commit first and already sends under epoch 2
    const sent = await Promise.all([1, 2, 3].map((i) => alice.encrypt('audio', Uint8Array.of(i))));
    const frames: EncodedFrameLike[] = sent.map((f) => ({ data: (f ?? new Uint8Array(0)).slice().buffer }));
    const out: number[] = [];
    const done = new ReadableStream<EncodedFrameLike>({
      start(controller) {
        for (const f of frames) controller.enqueue(f);
        controller.close();
      },
    })
      .pipeThrough(frameTransform(bob, 'receive', { kind: 'audio' }))
      .pipeTo(new WritableStream({ write: (f) => void out.push(...new Uint8Array(f.data)) }));
    await until(() => bob.stats().held === 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(out).toEqual([]); // waiting for epoch 2, not dropped
    await bob.setKeys(keys(2, 1, OTHER_KEY));
    await done;
    expect(out).toEqual([1, 2, 3]);
    expect(bob.stats()).toMatchObject({ held: 1, dropped: { unknownKid: 0 }, decrypted: { audio: 3 } });
  });

  it('waits for the first keys (media can reach a newcomer before its Welcome is processed)', async () => {
    const { sender } = await pair();
    const newcomer = new FrameCrypter({ crypto });
    const wire = await sender.encrypt('audio', Uint8Array.of(9));
    if (!wire) throw new Error('not sent');
    const decrypted = newcomer.decrypt('audio', wire);
    await newcomer.setKeys(keys(1, 2));
    expect(await decrypted).toEqual(Uint8Array.of(9));
    expect(newcomer.stats().held).toBe(1);
  });

  it("drops a held frame when its keys do not come in time, and that epoch's next frames at once, until new keys", async () => {
    const clock = fakeClock();
    const alice = new FrameCrypter({ crypto });
    const bob = new FrameCrypter({ crypto, schedule: clock.schedule, holdMs: 500 });
    await alice.setKeys(keys(3, 0));
    await bob.setKeys(keys(2, 1));
    const [a, b] = await Promise.all([alice.encrypt('audio', Uint8Array.of(1)), alice.encrypt('audio', Uint8Array.of(2))]);
    if (!a || !b) throw new Error('not sent');
    const first = bob.decrypt('audio', a);
    await until(() => bob.stats().held === 1);
    clock.advance(499);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(bob.stats().dropped.unknownKid).toBe(0);
    clock.advance(1);
    expect(await first).toBeUndefined();
    expect(await bob.decrypt('audio', b)).toBeUndefined(); // no second wait for epoch 3
    expect(bob.stats()).toMatchObject({ held: 1, dropped: { unknownKid: 2 } });
    await bob.setKeys(keys(3, 1));
    const c = await alice.encrypt('audio', Uint8Array.of(3));
    if (!c) throw new Error('not sent');
    expect(await bob.decrypt('audio', c)).toEqual(Uint8Array.of(3));
  });

  it('drops at once a frame of an older epoch, or of a sender the current epoch does not have', async () => {
    const bob = new FrameCrypter({ crypto, holdMs: 60_000 });
    await bob.setKeys(keys(5, 1));
    for (const [epoch, leaf] of [[4, 0], [1, 0], [5, 7]] as const) {
      const other = new FrameCrypter({ crypto });
      await other.setKeys(keys(epoch, leaf, KEY, [leaf]));
      const wire = await other.encrypt('audio', Uint8Array.of(1));
      if (!wire) throw new Error('not sent');
      expect(await bob.decrypt('audio', wire)).toBeUndefined();
    }
    expect(bob.stats()).toMatchObject({ held: 0, dropped: { unknownKid: 3 } });
  });

  it('refuses an epoch that is not newer (re-adding a send key from CTR 0 would reuse nonces)', async () => {
    const c = new FrameCrypter({ crypto });
    expect(await c.setKeys(keys(3, 0))).toBe('installed');
    expect(await c.setKeys(keys(3, 0))).toBe('stale');
    expect(await c.setKeys(keys(2, 0))).toBe('stale');
    expect(c.stats()).toMatchObject({ sendEpoch: 3, receiveEpochs: [3] });
  });

  it('takes a new group’s keys whatever their epoch, drops every key of the old one at once, and refuses an older group’s', async () => {
    const OTHER = new Uint8Array(16).fill(9);
    const c = new FrameCrypter({ crypto, holdMs: 0 });
    expect(await c.setKeys({ ...keys(7, 0), generation: 1 })).toBe('installed');
    const oldMember = new FrameCrypter({ crypto });
    await oldMember.setKeys({ ...keys(7, 1), generation: 1 });
    // A new group (founded, or joined after being pushed out): epoch 0 again, another base key.
    expect(await c.setKeys({ ...keys(0, 0, OTHER), generation: 2 })).toBe('installed');
    expect(c.stats()).toMatchObject({ sendEpoch: 0, receiveEpochs: [0] });
    const sent = await c.encrypt('audio', Uint8Array.of(1, 2, 3));
    if (!sent) throw new Error('not sent');
    // Nothing sent now opens under the old group's keys, and nothing of the old group opens here.
    expect(await oldMember.decrypt('audio', sent)).toBeUndefined();
    const fromOld = await oldMember.encrypt('audio', Uint8Array.of(4));
    if (!fromOld) throw new Error('not sent');
    expect(await c.decrypt('audio', fromOld)).toBeUndefined();
    expect(await c.setKeys({ ...keys(9, 0), generation: 1 })).toBe('stale');
    expect(await c.setKeys({ ...keys(0, 0, OTHER), generation: 2 })).toBe('stale');
    expect(await c.setKeys({ ...keys(1, 0, OTHER), generation: 2 })).toBe('installed');
  });

  it('keeps at most the previous epoch, and replaces one whose KIDs an epoch 16 later would reuse', async () => {
    const clock = fakeClock();
    const c = new FrameCrypter({ crypto, schedule: clock.schedule });
    await c.setKeys(keys(1, 0));
    await c.setKeys(keys(2, 0));
    await c.setKeys(keys(3, 0)); // before the switch to 2: epoch 1 goes, 2 becomes the sending epoch
    expect(c.stats()).toMatchObject({ sendEpoch: 2, receiveEpochs: [2, 3] });
    clock.advance(300);
    expect(c.stats().sendEpoch).toBe(3);
    expect(await c.setKeys(keys(19, 0))).toBe('installed');
    expect(c.stats()).toMatchObject({ sendEpoch: 19, receiveEpochs: [19] });
  });

  it('checks the shape of keys messages', () => {
    expect(checkKeysMessage({ ...keys(1, 0) })).toBeUndefined();
    expect(checkKeysMessage({ ...keys(1, 0), epoch: 2n })).toBeUndefined();
    expect(checkKeysMessage({ ...keys(1, 0), epoch: -1 })).toMatch(/epoch/);
    expect(checkKeysMessage({ ...keys(1, 0), baseKey: new Uint8Array(8) })).toMatch(/baseKey/);
    expect(checkKeysMessage({ ...keys(1, 0), ownLeaf: 70000 })).toMatch(/ownLeaf/);
    expect(checkKeysMessage({ ...keys(1, 0), senders: [1, 'x'] })).toMatch(/senders/);
    expect(checkKeysMessage({ ...keys(1, 0), firstCounter: 1n << 40n })).toBeUndefined();
    for (const bad of [-1n, 1n << 64n, 5]) expect(checkKeysMessage({ ...keys(1, 0), firstCounter: bad })).toMatch(/firstCounter/);
    expect(checkKeysMessage({ ...keys(1, 0), layout: 'whole' })).toBeUndefined();
    for (const bad of ['Whole', 1, null]) expect(checkKeysMessage({ ...keys(1, 0), layout: bad })).toMatch(/layout/);
  });

  it('starts the send CTR at firstCounter (a group carried to another connection), which the receiver accepts', async () => {
    const sender = new FrameCrypter({ crypto });
    const receiver = new FrameCrypter({ crypto });
    await sender.setKeys({ ...keys(1, 0), firstCounter: 1n << 40n });
    await receiver.setKeys(keys(1, 1));
    const frame = vp8KeyFrame();
    const wire = await sender.encrypt('video', frame);
    if (!wire) throw new Error('not sent');
    expect(decodeHeader(wire.subarray(10)).ctr).toBe(1n << 40n);
    expect(await receiver.decrypt('video', wire)).toEqual(frame);
  });
});

describe('frameTransform', () => {
  it('encrypts and decrypts a stream of encoded frames in place, and drops what fails', async () => {
    const { sender, receiver } = await pair();
    const frames: EncodedFrameLike[] = [
      { data: vp8KeyFrame().slice().buffer, type: 'key' },
      { data: vp8DeltaFrame().slice().buffer, type: 'delta' },
    ];
    const expected = frames.map((f) => new Uint8Array(f.data.slice(0)));
    const source = new ReadableStream<EncodedFrameLike>({
      start(controller) {
        for (const f of frames) controller.enqueue(f);
        controller.close();
      },
    });
    const tamper = new TransformStream<EncodedFrameLike, EncodedFrameLike>({
      transform(frame, controller) {
        // A forgery first (same CTR, bad tag): it fails and leaves the replay window alone for the real frame.
        const copy = new Uint8Array(frame.data.slice(0));
        copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 1;
        controller.enqueue({ data: copy.buffer, type: 'delta' });
        controller.enqueue(frame);
      },
    });
    const out: Uint8Array[] = [];
    await source
      .pipeThrough(frameTransform(sender, 'send'))
      .pipeThrough(tamper)
      .pipeThrough(frameTransform(receiver, 'receive'))
      .pipeTo(new WritableStream({ write: (f) => void out.push(new Uint8Array(f.data)) }));
    expect(out).toEqual(expected);
    expect(receiver.stats().dropped.authFailed).toBe(2);
  });
});

/** Video frames as the receive side of an encoded transform gets them: the sender's wire bytes, with the encoder's frame type. */
async function receivedVideo(sender: FrameCrypter, types: readonly ('key' | 'delta')[]): Promise<EncodedFrameLike[]> {
  const frames: EncodedFrameLike[] = [];
  for (const type of types) {
    const wire = await sender.encrypt('video', type === 'key' ? vp8KeyFrame() : vp8DeltaFrame());
    if (!wire) throw new Error('not sent');
    frames.push({ data: wire.slice().buffer, type });
  }
  return frames;
}

/** Pipes `frames` through `transform`; resolves with the types passed on. */
async function through(frames: readonly EncodedFrameLike[], transform: TransformStream<EncodedFrameLike, EncodedFrameLike>): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = [];
  await new ReadableStream<EncodedFrameLike>({
    start(controller) {
      for (const f of frames) controller.enqueue(f);
      controller.close();
    },
  })
    .pipeThrough(transform)
    .pipeTo(new WritableStream({ write: (f) => void out.push(f.type) }));
  return out;
}

describe('key frame requests of a receive pipeline', () => {
  it('asks when a delta frame would reach the decoder with no key frame before it: at the start, and after a dropped frame', async () => {
    const { sender, receiver } = await pair();
    const frames = await receivedVideo(sender, ['delta', 'key', 'delta', 'delta', 'delta', 'key', 'delta']);
    // The fourth frame is lost to tampering: the decoder misses a reference from there on.
    const tampered = new Uint8Array(frames[3]?.data ?? new ArrayBuffer(0));
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    let asked = 0;
    const transform = frameTransform<EncodedFrameLike>(receiver, 'receive', { onKeyFrameNeeded: () => { asked++; } });
    const writer = transform.writable.getWriter();
    const reader = transform.readable.getReader();
    const askedAfterEach: number[] = [];
    // A read pending before each write: the transform runs only when its output is wanted.
    let next = reader.read();
    for (const [i, frame] of frames.entries()) {
      const written = writer.write(frame);
      if (i !== 3) {
        expect((await next).value?.type).toBe(frame.type);
        next = reader.read();
      }
      await written;
      askedAfterEach.push(asked);
    }
    expect(askedAfterEach).toEqual([1, 1, 1, 1, 2, 2, 2]); // the first delta, and the first delta after the lost frame
    // Audio and the send side never ask.
    const never = (): never => {
      throw new Error('asked for a key frame');
    };
    const audio = await sender.encrypt('audio', Uint8Array.of(1, 2, 3));
    expect(await through([{ data: (audio ?? new Uint8Array(0)).slice().buffer }], frameTransform(receiver, 'receive', { onKeyFrameNeeded: never }))).toEqual([undefined]);
    expect(await through([{ data: vp8DeltaFrame().slice().buffer, type: 'delta' }], frameTransform(sender, 'send', { onKeyFrameNeeded: never }))).toEqual(['delta']);
  });

  it('the worker sends the request through its transformer, at most every 500 ms, and counts it', async () => {
    const { sender } = await pair();
    const replies: E2eeReply[] = [];
    const scope: Parameters<typeof runSFrameWorker>[0] = { postMessage: (m) => void replies.push(m as E2eeReply), onmessage: null, onrtctransform: null };
    runSFrameWorker(scope, globalThis.crypto.subtle);
    scope.onmessage?.({ data: { ...keys(1, 1), id: 1 } });
    await until(() => replies.some((r) => r.type === 'keys'));
    let requests = 0;
    const source = new TransformStream<EncodedFrameLike, EncodedFrameLike>();
    const out: (string | undefined)[] = [];
    scope.onrtctransform?.({
      transformer: {
        readable: source.readable,
        writable: new WritableStream({ write: (f) => void out.push(f.type) }),
        options: { side: 'receive', kind: 'video' },
        sendKeyFrameRequest: () => {
          requests++;
          return Promise.resolve();
        },
      },
    });
    const writer = source.writable.getWriter();
    const frames = await receivedVideo(sender, ['delta', 'delta', 'delta', 'key', 'delta']);
    const started = performance.now();
    for (const f of frames) await writer.write(f);
    await until(() => out.length === 5);
    // Three undecodable deltas, usually within a few ms: one request (one more per 500 ms a loaded machine took over them).
    const allowed = 1 + Math.floor((performance.now() - started) / 500);
    expect(requests).toBeGreaterThanOrEqual(1);
    expect(requests).toBeLessThanOrEqual(Math.min(allowed, 3));
    scope.onmessage?.({ data: { type: 'stats', id: 2 } });
    await until(() => replies.some((r) => r.type === 'stats'));
    const stats = replies.find((r): r is Extract<E2eeReply, { type: 'stats' }> => r.type === 'stats')?.stats;
    expect(stats?.keyFrameRequests).toBe(requests);
    await writer.close();
  });
});
