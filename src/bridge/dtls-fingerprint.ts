/**
 * The DTLS certificate a cascade hop's media runs over, bound into the
 * bridges' proofs (docs/security.md, "Cascade hops"). A challenge answered
 * over a plain signalling socket proves who signed, not who is on the other
 * end of the socket: a relay in the middle can pass both bridges' messages
 * on. Each bridge therefore also signs the fingerprint of its DTLS
 * certificate, and the other accepts only SDP that names that fingerprint
 * and no other, so a middle answering or offering with a WebRTC stack of
 * its own is refused. werift makes one certificate per process for every
 * peer connection (RTCDtlsTransport.SetupCertificate), so the fingerprint
 * is the bridge's own.
 *
 * A middle presenting the bridge's own certificate, which every DTLS
 * handshake shows, with a key of its own passes this check; the DTLS
 * handshake then fails it (src/node/dtls-key-proof.ts).
 */
import { RTCDtlsTransport } from 'werift';
import { GeobridgeError } from '../core/errors.js';

/** This process's DTLS certificate fingerprint as SDP writes it: `sha-256 AB:CD:…`. */
export async function localDtlsFingerprint(): Promise<string> {
  const certificate = await RTCDtlsTransport.SetupCertificate();
  const sha256 = certificate.getFingerprints().find((f) => f.algorithm.toLowerCase() === 'sha-256');
  if (sha256 === undefined) throw new Error('werift gave its DTLS certificate no sha-256 fingerprint');
  return normalize(sha256.algorithm, sha256.value);
}

/**
 * Every `a=fingerprint` an SDP names, session and media level, normalized.
 * A line that is not exactly an algorithm and a value is given as written,
 * so it matches nothing: werift would read its first two words.
 */
export function sdpFingerprints(sdp: string): string[] {
  return [...sdp.matchAll(/^a=fingerprint:(.*?)\r?$/gm)].map((m) => {
    const words = (m[1] ?? '').trim().split(/\s+/);
    return words.length === 2 ? normalize(words[0] ?? '', words[1] ?? '') : m[0];
  });
}

/** Throws DTLS_FINGERPRINT_MISMATCH unless `sdp` names a fingerprint and each one is `expected`. */
export function expectFingerprint(sdp: string, expected: string, what: string): void {
  const named = sdpFingerprints(sdp);
  if (named.length === 0 || named.some((f) => f !== expected)) {
    throw new GeobridgeError('DTLS_FINGERPRINT_MISMATCH', `the ${what} names a DTLS certificate (${named.join(', ') || 'none'}) other than the one the bridge signed for (${expected}): a relay in the middle, not the bridge, made it`);
  }
}

function normalize(algorithm: string, value: string): string {
  return `${algorithm.toLowerCase()} ${value.toUpperCase()}`;
}
