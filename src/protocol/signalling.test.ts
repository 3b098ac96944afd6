/**
 * The signalling parsers: every valid message round-trips, nothing thrown
 * at them makes them throw, and each kind of bad frame is named.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ROUTE_TICKET_MAX_CHARS } from './route-ticket.js';
import { encodeMessage, MAX_SIGNALLING_FRAME_BYTES, parseBridgeMessage, parseClientMessage, streamSource, type BridgeMessage, type ClientMessage } from './signalling.js';

const id = fc.string({ minLength: 1, maxLength: 20 });
const challenge = fc.stringMatching(/^[A-Za-z0-9_-]{43}$/);
const jws = fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/), fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/), fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/)).map((parts) => parts.join('.'));
const mlsData = fc.stringMatching(/^[A-Za-z0-9_-]{1,60}$/);
const groupTag = fc.stringMatching(/^[A-Za-z0-9_-]{22}$/);
const peer = fc.record({ id, name: fc.string({ maxLength: 20 }), audio: fc.boolean(), video: fc.boolean(), screen: fc.boolean() }, { requiredKeys: ['id', 'name', 'audio', 'video'] });
const stream = fc.oneof(
  fc.record({ mid: id, peer: id, kind: fc.constantFrom('audio' as const, 'video' as const) }),
  fc.record({ mid: id, peer: id, kind: fc.constant('video' as const), source: fc.constantFrom('camera' as const, 'screen' as const) }),
);
const clientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  fc.record({ type: fc.constant('join' as const), ticket: id, challenge, mls: fc.record({ epoch: fc.nat(), tag: groupTag }), sends: fc.subarray(['audio', 'video'] as ('audio' | 'video')[]), e2ee: fc.boolean() }, { requiredKeys: ['type', 'ticket', 'challenge'] }),
  fc.record({ type: fc.constant('answer' as const), sdp: id }),
  fc.record({ type: fc.constant('candidate' as const), candidate: id, sdpMid: fc.string({ maxLength: 3 }), sdpMLineIndex: fc.nat(8) }, { requiredKeys: ['type', 'candidate'] }),
  fc.record({ type: fc.constant('state' as const), audio: fc.boolean(), video: fc.boolean(), screen: fc.boolean() }, { requiredKeys: ['type', 'audio', 'video'] }),
  fc.constant({ type: 'leave' as const }),
  fc.record({ type: fc.constant('mls' as const), kind: fc.constantFrom('key-package' as const, 'commit' as const, 'proposal' as const, 'application' as const), data: mlsData, tag: groupTag }, { requiredKeys: ['type', 'kind', 'data'] }),
  fc.record({ type: fc.constant('mls-joined' as const), epoch: fc.nat(), tag: groupTag }, { requiredKeys: ['type', 'epoch'] }),
);
const bridgeMessage: fc.Arbitrary<BridgeMessage> = fc.oneof(
  fc.record({ type: fc.constant('admitted' as const), participant: id, meeting: id, datacenter: id, jurisdiction: fc.constantFrom('US', 'DE'), peers: fc.array(peer, { maxLength: 3 }), mlsFounder: fc.boolean(), mlsContinues: fc.boolean(), trickle: fc.boolean(), iceServers: fc.array(fc.record({ urls: fc.array(fc.constantFrom('stun:stun.example.org:3478', 'turns:turn.example.org:5349?transport=tcp'), { minLength: 1, maxLength: 2 }) }, { requiredKeys: ['urls'] }), { maxLength: 2 }), name: fc.string({ maxLength: 20 }), proof: jws }),
  fc.record({ type: fc.constant('offer' as const), sdp: id, streams: fc.array(stream, { maxLength: 3 }) }),
  fc.record({ type: fc.constant('peer-joined' as const), peer }),
  fc.record({ type: fc.constant('peer-left' as const), id }),
  fc.record({ type: fc.constant('redirect' as const), datacenter: id }),
  fc.record({ type: fc.constant('refused' as const), code: id, message: fc.string({ maxLength: 50 }) }),
  fc.record({ type: fc.constant('move' as const), reason: fc.string({ maxLength: 50 }) }),
  fc.record({ type: fc.constant('ticket' as const), ticket: jws }),
  fc.record({ type: fc.constant('mls' as const), kind: fc.constantFrom('key-package' as const, 'welcome' as const, 'application' as const), from: id, data: mlsData }),
  fc.record({ type: fc.constant('mls-result' as const), accepted: fc.boolean(), reason: fc.string({ maxLength: 20 }), epoch: fc.nat(), kind: fc.constant('application' as const) }, { requiredKeys: ['type', 'accepted', 'reason', 'epoch'] }),
);

describe('signalling protocol', () => {
  it('takes a route ticket up to ROUTE_TICKET_MAX_CHARS (it carries its STUN/TURN allowance), other tokens up to 16 KiB', () => {
    const token = (length: number): string => `${'a'.repeat(length - 4)}.b.c`;
    expect(parseBridgeMessage(JSON.stringify({ type: 'ticket', ticket: token(ROUTE_TICKET_MAX_CHARS) })).ok).toBe(true);
    expect(parseBridgeMessage(JSON.stringify({ type: 'ticket', ticket: token(ROUTE_TICKET_MAX_CHARS + 1) })).ok).toBe(false);
    expect(parseClientMessage(JSON.stringify({ type: 'join', ticket: token(ROUTE_TICKET_MAX_CHARS), challenge: 'c'.repeat(43) })).ok).toBe(true);
    expect(parseClientMessage(JSON.stringify({ type: 'join', ticket: token(ROUTE_TICKET_MAX_CHARS + 1), challenge: 'c'.repeat(43) })).ok).toBe(false);
    expect(parseClientMessage(JSON.stringify({ type: 'relay-update', ticket: token(16_385) })).ok).toBe(false);
  });

  it('labels screens, and reads messages from before screen sharing as camera-only', () => {
    const offer = (streams: unknown): ReturnType<typeof parseBridgeMessage> => parseBridgeMessage(JSON.stringify({ type: 'offer', sdp: 'v=0', streams }));
    const old = offer([{ mid: '3', peer: 'a', kind: 'video' }]);
    expect(old.ok && old.message.type === 'offer' ? old.message.streams.map(streamSource) : []).toEqual(['camera']);
    const shared = offer([{ mid: '4', peer: 'a', kind: 'video', source: 'screen' }]);
    expect(shared.ok && shared.message.type === 'offer' ? shared.message.streams.map(streamSource) : []).toEqual(['screen']);
    expect(offer([{ mid: '4', peer: 'a', kind: 'audio', source: 'screen' }])).toEqual({ ok: false, error: "'offer' message: field 'streams' is malformed" });
    expect(offer([{ mid: '4', peer: 'a', kind: 'video', source: 'window' }])).toEqual({ ok: false, error: "'offer' message: field 'streams' is malformed" });
    expect(parseClientMessage('{"type":"state","audio":true,"video":false}')).toEqual({ ok: true, message: { type: 'state', audio: true, video: false } });
  });

  it('round-trips every valid message in each direction', () => {
    fc.assert(
      fc.property(clientMessage, (m) => {
        expect(parseClientMessage(encodeMessage(m))).toEqual({ ok: true, message: m });
      }),
    );
    fc.assert(
      fc.property(bridgeMessage, (m) => {
        expect(parseBridgeMessage(encodeMessage(m))).toEqual({ ok: true, message: m });
      }),
    );
  });

  it('never throws, whatever the frame', () => {
    const frames = fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v)), clientMessage.chain((m) => fc.jsonValue().map((v) => JSON.stringify({ ...m, extra: v }))));
    fc.assert(
      fc.property(frames, (frame) => {
        expect(typeof parseClientMessage(frame).ok).toBe('boolean');
        expect(typeof parseBridgeMessage(frame).ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('answers a type nested 10,000 deep, or one a megabyte long, instead of throwing: any client could end a bridge with one such frame', () => {
    // Before: naming the unknown type with JSON.stringify overflowed the stack (RangeError), uncaught in the bridge's socket listener.
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    expect(parseClientMessage(`{"type":${deep}}`)).toMatchObject({ ok: false, error: expect.stringMatching(/^unknown message type \(a list\); expected one of /) as unknown });
    expect(parseBridgeMessage(`{"type":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`)).toMatchObject({ ok: false, error: expect.stringMatching(/^unknown message type \(an object\)/) as unknown });
    // A long type is named cut short, not echoed whole.
    const long = parseClientMessage(JSON.stringify({ type: 'x'.repeat(1_000_000) }));
    expect(long.ok ? 0 : long.error.length).toBeLessThan(400);
  });

  it('names what is wrong', () => {
    expect(parseClientMessage('{')).toEqual({ ok: false, error: 'the frame is not JSON' });
    expect(parseClientMessage('[]')).toEqual({ ok: false, error: 'the frame is not a JSON object' });
    expect(JSON.stringify(parseClientMessage('{"type":"offer","sdp":"x"}'))).toContain('unknown message type \\"offer\\"');
    expect(parseClientMessage('{"type":"join","name":"a"}')).toEqual({ ok: false, error: "'join' message: field 'ticket' is missing" });
    expect(parseClientMessage('{"type":"state","audio":1,"video":true}')).toEqual({ ok: false, error: "'state' message: field 'audio' is malformed" });
    expect(parseClientMessage('{"type":"leave","x":1}')).toEqual({ ok: false, error: "'leave' message: field 'x' is not part of the protocol" });
    expect(parseClientMessage('{"type":"__proto__"}').ok).toBe(false);
    expect(parseClientMessage('{"type":"state","audio":true,"video":true,"screen":"yes"}')).toEqual({ ok: false, error: "'state' message: field 'screen' is malformed" });
    expect(parseBridgeMessage('{"type":"peer-updated","peer":{"id":"a","name":"A","audio":true,"video":true,"screen":1}}')).toEqual({ ok: false, error: "'peer-updated' message: field 'peer' is malformed" });
    expect(JSON.stringify(parseClientMessage(' '.repeat(MAX_SIGNALLING_FRAME_BYTES + 1)))).toContain('larger than');
    const join = (mls: unknown): string => JSON.stringify({ type: 'join', ticket: 't', challenge: 'c'.repeat(43), mls });
    expect(parseClientMessage(join({ epoch: 3, tag: 'short' }))).toEqual({ ok: false, error: "'join' message: field 'mls' is malformed" });
    expect(parseClientMessage(join({ epoch: -1, tag: 'A'.repeat(22) }))).toEqual({ ok: false, error: "'join' message: field 'mls' is malformed" });
    expect(parseClientMessage(join({ epoch: 3, tag: 'A'.repeat(22) })).ok).toBe(true);
    const sending = (sends: unknown): string => JSON.stringify({ type: 'join', ticket: 't', challenge: 'c'.repeat(43), sends });
    for (const ok of [[], ['audio'], ['video', 'audio']]) expect(parseClientMessage(sending(ok)).ok).toBe(true);
    for (const bad of [['audio', 'audio'], ['screen'], ['audio', 'video', 'audio'], 'audio', [1]]) expect(parseClientMessage(sending(bad))).toEqual({ ok: false, error: "'join' message: field 'sends' is malformed" });
    const outside = (e2ee: unknown): string => JSON.stringify({ type: 'join', ticket: 't', challenge: 'c'.repeat(43), e2ee });
    expect(parseClientMessage(outside(false))).toMatchObject({ ok: true, message: { e2ee: false } });
    expect(parseClientMessage(outside('no'))).toEqual({ ok: false, error: "'join' message: field 'e2ee' is malformed" });
    // An empty candidate would be end-of-candidates, which the protocol leaves out.
    expect(parseClientMessage('{"type":"candidate","candidate":""}')).toEqual({ ok: false, error: "'candidate' message: field 'candidate' is malformed" });
    expect(parseClientMessage(JSON.stringify({ type: 'candidate', candidate: 'c'.repeat(513) })).ok).toBe(false);
  });
});
