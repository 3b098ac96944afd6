// What a cascade hop's SDP may name: only the DTLS certificate the other bridge signed for.
import { expect, it } from 'vitest';
import { RTCPeerConnection } from 'werift';
import { expectFingerprint, localDtlsFingerprint, sdpFingerprints } from './dtls-fingerprint.js';

const A = `sha-256 ${Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':')}`;
const B = A.replace(/^sha-256 00/, 'sha-256 FF');
const sdp = (...lines: string[]): string => ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 't=0 0', ...lines, ''].join('\r\n');

it('reads every fingerprint, session and media level, whatever the case', () => {
  const text = sdp(`a=fingerprint:SHA-256 ${A.slice(8).toLowerCase()}`, 'm=video 9 UDP/TLS/RTP/SAVPF 96', `a=fingerprint:${B}`);
  expect(sdpFingerprints(text)).toEqual([A, B]);
});

it('takes SDP that names only the signed certificate, and refuses one naming another, one more, or none', () => {
  expect(() => { expectFingerprint(sdp('m=video 9 UDP/TLS/RTP/SAVPF 96', `a=fingerprint:${A}`), A, 'offer'); }).not.toThrow();
  // A line werift reads by its first two words must not hide a second certificate from the check.
  for (const lines of [[`a=fingerprint:${B}`], [`a=fingerprint:${A}`, `a=fingerprint:${B}`], ['m=video 9 UDP/TLS/RTP/SAVPF 96'], [`a=fingerprint:${A}`, `a=fingerprint:${B} x`], [`a=fingerprint:${A.split(' ')[0] ?? ''}`]]) {
    expect(() => { expectFingerprint(sdp(...lines), A, 'offer'); }).toThrow(expect.objectContaining({ code: 'DTLS_FINGERPRINT_MISMATCH' }));
  }
});

it('is the certificate werift puts in this process’s offers', async () => {
  const pc = new RTCPeerConnection();
  try {
    pc.addTransceiver('video', { direction: 'sendonly' });
    const offer = await pc.createOffer();
    expect(sdpFingerprints(offer.sdp)).toEqual([await localDtlsFingerprint()]);
  } finally {
    await pc.close();
  }
});
