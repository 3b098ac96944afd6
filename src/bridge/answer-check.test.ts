/**
 * The bridge's check of a participant's answer (answer-check.ts): a real
 * answer to a real offer passes, one that lacks a part an answer must have
 * is refused naming it, and no text makes the check throw.
 */
import fc from 'fast-check';
import { RTCPeerConnection, useOPUS, useVP8 } from 'werift';
import { describe, expect, it } from 'vitest';
import { answerProblem } from './answer-check.js';

/** An offer with the bridge's three receiving m-lines, and a werift client's answer to it. */
async function offerAndAnswer(): Promise<{ offer: string; answer: string }> {
  const config = { codecs: { audio: [useOPUS()], video: [useVP8()] }, bundlePolicy: 'max-bundle' as const, iceUseIpv6: false };
  const bridge = new RTCPeerConnection(config);
  const client = new RTCPeerConnection(config);
  try {
    for (const kind of ['audio', 'video', 'video'] as const) bridge.addTransceiver(kind, { direction: 'recvonly' });
    const offer = await bridge.createOffer();
    for (const t of bridge.iceTransports) Object.assign(t.connection, { stunServer: undefined });
    await bridge.setLocalDescription(offer);
    await client.setRemoteDescription(offer);
    for (const t of client.iceTransports) Object.assign(t.connection, { stunServer: undefined });
    await client.setLocalDescription(await client.createAnswer());
    return { offer: bridge.localDescription?.sdp ?? '', answer: client.localDescription?.sdp ?? '' };
  } finally {
    await Promise.all([bridge.close(), client.close()]);
  }
}

describe('answerProblem', () => {
  it('passes a real answer, and names what an answer lacks', async () => {
    const { offer, answer } = await offerAndAnswer();
    expect(answerProblem(answer, offer)).toBeUndefined();
    expect(answerProblem(answer.replace(/\r\n/g, '\n'), offer)).toBeUndefined();
    expect(answerProblem('garbage', offer)).toBe("it does not start with 'v=0'");
    expect(answerProblem('v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n', offer)).toBe('it has 0 m-lines, and the offer it answers 3');
    const firstMline = answer.indexOf('\r\nm=', answer.indexOf('\r\nm=') + 1);
    expect(answerProblem(answer.slice(0, firstMline + 2), offer)).toBe('it has 1 m-line, and the offer it answers 3');
    const without = (prefix: string): string => answer.split('\r\n').filter((l) => !l.startsWith(prefix)).join('\r\n');
    expect(answerProblem(without('a=ice-ufrag:'), offer)).toBe('it has no ICE username fragment (a=ice-ufrag)');
    expect(answerProblem(without('a=ice-pwd:'), offer)).toBe('it has no ICE password (a=ice-pwd)');
    expect(answerProblem(without('a=fingerprint:'), offer)).toBe('it has no DTLS fingerprint (a=fingerprint)');
    expect(answerProblem(without('a=ice-').replace(/a=fingerprint:[^\r]*/g, 'a=fingerprint:'), offer)).toBe('it has no ICE username fragment (a=ice-ufrag), ICE password (a=ice-pwd), DTLS fingerprint (a=fingerprint)');
  });

  it('never throws, whatever the text', async () => {
    const { offer, answer } = await offerAndAnswer();
    const lines = answer.split('\r\n');
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 2000 }), fc.shuffledSubarray(lines).map((l) => l.join('\r\n')), fc.array(fc.constantFrom(...lines, 'm=', 'v=0', '', '\r', 'a=ice-ufrag:'), { maxLength: 60 }).map((l) => l.join('\n'))), (text) => {
        const problem = answerProblem(text, offer);
        expect(problem === undefined || typeof problem === 'string').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
