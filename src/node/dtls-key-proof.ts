/**
 * Makes werift's DTLS check that its peer holds the private key of the
 * certificate it presents. werift 0.24 compares the certificate with the
 * SDP's fingerprint and stops there: it checks neither the ServerKeyExchange
 * signature (a DTLS client's proof of its server) nor the CertificateVerify
 * signature (a DTLS server's proof of its client). A certificate is public
 * (every handshake shows it), so without these a relay in the middle could
 * present a bridge's own certificate with a key of its own, pass the
 * fingerprint check and take or inject the media.
 *
 * `requireDtlsKeyProof` wraps werift's fingerprint check, which runs after
 * the handshake and before any SRTP key is derived or any media flows; the
 * wrapper then checks the peer's signature (RFC 5246 sections 7.4.3 and
 * 7.4.8) and throws when it does not verify, so werift fails the transport
 * as it does on a wrong fingerprint. Every process that makes werift peer
 * connections (bridge, Node SDK) calls it once before the first.
 */
import { X509Certificate, verify, type KeyObject } from 'node:crypto';
import { RTCDtlsTransport } from 'werift';

/** The part of a werift DTLS socket the check reads (werift's types mark it internal). */
interface DtlsSocketView {
  readonly sessionType: number;
  readonly remoteCertificate: Buffer | undefined;
  readonly cipher: { readonly localRandom?: { serialize(): Buffer }; readonly remoteRandom?: { serialize(): Buffer } };
  readonly dtls: { readonly sortedHandshakeCache: readonly CachedHandshake[] };
}

/** A handshake message as werift caches it: its type, and its bytes as the transcript counts them. */
interface CachedHandshake {
  readonly msg_type: number;
  readonly fragment: Buffer;
  serialize(): Buffer;
}

/** werift's SessionType. */
const CLIENT = 1;
const SERVER = 2;
const SERVER_KEY_EXCHANGE = 12;
const CERTIFICATE_VERIFY = 15;
const NAMED_CURVE = 3;

/** TLS 1.2 HashAlgorithm codes (RFC 5246 7.4.1.4.1) allowed here: SHA-1 and MD5 are not. */
const HASHES: Readonly<Record<number, string>> = { 4: 'sha256', 5: 'sha384', 6: 'sha512' };
/** TLS 1.2 SignatureAlgorithm codes, with the key type each needs. */
const SIGNATURES: Readonly<Record<number, string>> = { 1: 'rsa', 3: 'ec' };

/** Thrown (and werift fails the DTLS transport with it) when a peer does not prove its certificate's key. */
export class DtlsKeyProofError extends Error {}

let installed = false;
const refusalListeners = new Set<(reason: string) => void>();

/**
 * Calls `listener` with the reason each time a peer fails the check, until
 * the returned function is called: werift reports a failed transport only in
 * its debug output, and an operator needs to see this one.
 */
export function onDtlsKeyRefused(listener: (reason: string) => void): () => void {
  refusalListeners.add(listener);
  return () => {
    refusalListeners.delete(listener);
  };
}

/** Installs the check into werift, once per process. */
export function requireDtlsKeyProof(): void {
  if (installed) return;
  installed = true;
  const proto = RTCDtlsTransport.prototype as unknown as { verifyRemoteCertificateFingerprint: (this: { dtls?: DtlsSocketView }) => void };
  const fingerprintCheck = proto.verifyRemoteCertificateFingerprint;
  if (typeof fingerprintCheck !== 'function') throw new Error('werift no longer has RTCDtlsTransport.verifyRemoteCertificateFingerprint: update src/node/dtls-key-proof.ts for this werift');
  proto.verifyRemoteCertificateFingerprint = function verifyFingerprintAndKey() {
    fingerprintCheck.call(this);
    try {
      if (this.dtls === undefined) throw new DtlsKeyProofError('DTLS finished without a socket');
      proveRemoteKey(this.dtls);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      for (const listener of refusalListeners) listener(reason);
      throw error;
    }
  };
}

/** Throws DtlsKeyProofError unless the peer's handshake signature verifies with its certificate's key. */
export function proveRemoteKey(socket: DtlsSocketView): void {
  const der = socket.remoteCertificate;
  if (der === undefined) throw new DtlsKeyProofError('the DTLS peer presented no certificate');
  const key = certificateKey(der);
  const messages = socket.dtls.sortedHandshakeCache;
  if (socket.sessionType === CLIENT) {
    // We are the client: the server signed its ECDHE share with both randoms.
    const exchange = messages.find((m) => m.msg_type === SERVER_KEY_EXCHANGE);
    const clientRandom = socket.cipher.localRandom?.serialize();
    const serverRandom = socket.cipher.remoteRandom?.serialize();
    if (exchange === undefined || clientRandom === undefined || serverRandom === undefined) throw new DtlsKeyProofError('the DTLS server sent no ServerKeyExchange');
    const { params, signed } = serverKeyExchange(exchange.fragment);
    check(key, signed, Buffer.concat([clientRandom, serverRandom, params]), 'ServerKeyExchange');
  } else if (socket.sessionType === SERVER) {
    // We are the server: the client signed every handshake message before its CertificateVerify.
    const at = messages.findIndex((m) => m.msg_type === CERTIFICATE_VERIFY);
    if (at < 0) throw new DtlsKeyProofError('the DTLS client sent no CertificateVerify');
    const transcript = Buffer.concat(messages.slice(0, at).map((m) => m.serialize()));
    check(key, certificateVerify((messages[at] as CachedHandshake).fragment), transcript, 'CertificateVerify');
  } else {
    throw new DtlsKeyProofError(`werift's DTLS session type ${socket.sessionType} is neither client nor server`);
  }
}

interface Signed {
  readonly hash: number;
  readonly algorithm: number;
  readonly signature: Buffer;
}

function certificateKey(der: Buffer): KeyObject {
  try {
    return new X509Certificate(der).publicKey;
  } catch {
    throw new DtlsKeyProofError('the DTLS peer presented a certificate that does not parse');
  }
}

/** ECDHE ServerKeyExchange (RFC 8422 5.4): the signed params, and the signature after them. */
function serverKeyExchange(body: Buffer): { params: Buffer; signed: Signed } {
  if (body.length < 4 || body[0] !== NAMED_CURVE) throw new DtlsKeyProofError('the DTLS ServerKeyExchange is not for a named curve');
  const end = 4 + (body[3] as number);
  return { params: body.subarray(0, end), signed: signedPart(body, end, 'ServerKeyExchange') };
}

/** CertificateVerify (RFC 5246 7.4.8): the signature and its algorithm. */
function certificateVerify(body: Buffer): Signed {
  return signedPart(body, 0, 'CertificateVerify');
}

/** A digitally-signed struct: hash and signature algorithm bytes, a 16-bit length, the signature, nothing after. */
function signedPart(body: Buffer, at: number, what: string): Signed {
  if (body.length < at + 4) throw new DtlsKeyProofError(`the DTLS ${what} is cut short`);
  const length = body.readUInt16BE(at + 2);
  if (body.length !== at + 4 + length) throw new DtlsKeyProofError(`the DTLS ${what}'s signature length does not match its size`);
  return { hash: body[at] as number, algorithm: body[at + 1] as number, signature: body.subarray(at + 4) };
}

function check(key: KeyObject, signed: Signed, data: Buffer, what: string): void {
  const hash = HASHES[signed.hash];
  const type = SIGNATURES[signed.algorithm];
  if (hash === undefined || type === undefined) throw new DtlsKeyProofError(`the DTLS ${what} uses signature algorithm ${signed.hash}.${signed.algorithm}, which geobridge does not accept`);
  if (key.asymmetricKeyType !== type) throw new DtlsKeyProofError(`the DTLS ${what} is signed with ${type} but the certificate holds a ${key.asymmetricKeyType ?? 'unknown'} key`);
  if (!verifies(hash, data, key, signed.signature)) throw new DtlsKeyProofError(`the DTLS peer's ${what} signature does not verify with its certificate's key: it does not hold that certificate's private key`);
}

/** A signature that is not even well-formed (not DER, wrong size) verifies nothing. */
function verifies(hash: string, data: Buffer, key: KeyObject, signature: Buffer): boolean {
  try {
    return verify(hash, data, key, signature);
  } catch {
    return false;
  }
}
