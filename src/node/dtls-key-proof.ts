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
 * as it does on a wrong fingerprint. Two more holes in werift would undo
 * the check, so it closes them too (found by a review, session 33):
 * - werift derives keys from every copy of a handshake message it receives
 *   but caches, and so checks, only the first: a middle on the path passing
 *   the genuine handshake on and injecting a second key exchange of its own
 *   read the media. werift now sees only the first copy (`firstCopiesOnly`).
 * - Once connected, werift takes a plaintext ClientHello as a renegotiation
 *   (no fingerprint or key check) and a plaintext alert as the end, from
 *   any address: one datagram stopped a peer's media while its connection
 *   still said "connected". A connected socket now takes only records under
 *   its keys (`lockAfterHandshake`).
 * Every process that makes werift peer connections (bridge, Node SDK) calls
 * it once before the first.
 */
import { X509Certificate, verify, type KeyObject } from 'node:crypto';
import { DtlsSocket, RTCDtlsTransport } from 'werift';

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
/** Handshake message types (RFC 5246 7.4). */
const CLIENT_HELLO = 1;
const SERVER_HELLO = 2;
const CERTIFICATE = 11;
const SERVER_KEY_EXCHANGE = 12;
const CERTIFICATE_REQUEST = 13;
const CERTIFICATE_VERIFY = 15;
const CLIENT_KEY_EXCHANGE = 16;
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
  const proto = RTCDtlsTransport.prototype as unknown as { verifyRemoteCertificateFingerprint: (this: { dtls?: DtlsSocketView & LockableSocket }) => void };
  const fingerprintCheck = proto.verifyRemoteCertificateFingerprint;
  if (typeof fingerprintCheck !== 'function') throw new Error('werift no longer has RTCDtlsTransport.verifyRemoteCertificateFingerprint: update src/node/dtls-key-proof.ts for this werift');
  firstCopiesOnly();
  proto.verifyRemoteCertificateFingerprint = function verifyFingerprintAndKey() {
    fingerprintCheck.call(this);
    try {
      if (this.dtls === undefined) throw new DtlsKeyProofError('DTLS finished without a socket');
      proveRemoteKey(this.dtls);
      lockAfterHandshake(this.dtls);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      for (const listener of refusalListeners) tell(listener, reason);
      throw error;
    }
  };
  // Only once werift is patched: a failed install must not leave later calls believing it done.
  installed = true;
}

/** A listener that throws must neither replace the refusal nor keep the others from hearing of it. */
function tell(listener: (reason: string) => void, reason: string): void {
  try {
    listener(reason);
  } catch {
    // The refusal stands; a broken logger is not the handshake's concern.
  }
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

/** Handshake messages whose handlers change werift's key state. */
const KEY_MESSAGES = new Set([SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE, CERTIFICATE_REQUEST, CERTIFICATE_VERIFY, CLIENT_KEY_EXCHANGE]);
/** The key messages each handshake (a werift DtlsContext) has taken. */
const taken = new WeakMap<object, Set<number>>();

/**
 * werift runs its handler on every copy of a handshake message (a
 * retransmission, or a second one a middle injects) but caches, and so signs
 * and checks, only the first. It now sees only the first copy of each key
 * message, so the keys it derives come from the messages the check verifies.
 * Repeated ServerHelloDone and Finished still pass: they make werift resend
 * its own flight when the peer lost it.
 */
function firstCopiesOnly(): void {
  type Message = { readonly msg_type: number };
  const proto = DtlsSocket.prototype as unknown as { handleFragmentHandshake: (this: { readonly dtls: object }, messages: Message[]) => Message[] };
  const assemble = proto.handleFragmentHandshake;
  if (typeof assemble !== 'function') throw new Error('werift no longer has DtlsSocket.handleFragmentHandshake: update src/node/dtls-key-proof.ts for this werift');
  proto.handleFragmentHandshake = function firstKeyMessagesOnly(messages) {
    let seen = taken.get(this.dtls);
    if (seen === undefined) taken.set(this.dtls, (seen = new Set()));
    const kept = assemble.call(this, messages).filter((m) => !KEY_MESSAGES.has(m.msg_type) || !seen.has(m.msg_type));
    for (const m of kept) if (KEY_MESSAGES.has(m.msg_type)) seen.add(m.msg_type);
    return kept;
  };
}

/** The part of a werift DTLS socket `lockAfterHandshake` rewires. */
interface LockableSocket {
  readonly transport: { readonly socket: { onData: (data: Buffer) => void } };
  onHandleHandshakes: (assembled: { readonly msg_type: number }[]) => Promise<void>;
  readonly cipher: { decryptPacket(packet: unknown): Buffer };
}

const ALERT = 21;
const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
const RECORD_HEADER = 13;

/**
 * Once the peer has proved its key, nothing unauthenticated may touch the
 * session. werift's ICE hands it datagrams from any address, and werift
 * would restart the handshake on a plaintext ClientHello, or close or fail
 * the transport on a plaintext alert or a ClientHello it rejects, after which
 * its RTP senders drop every packet. Records under the session's keys
 * (epoch > 0) pass (werift drops those that do not decrypt), an alert only if
 * it decrypts (werift reads one it cannot decrypt as plaintext), and no
 * ClientHello at all.
 */
function lockAfterHandshake(socket: LockableSocket): void {
  const ice = socket.transport.socket;
  const deliver = ice.onData;
  ice.onData = (data: Buffer): void => {
    const kept: Buffer[] = [];
    for (let at = 0; at + RECORD_HEADER <= data.length; ) {
      const end = at + RECORD_HEADER + data.readUInt16BE(at + 11);
      if (end > data.length) break;
      const record = data.subarray(at, end);
      at = end;
      const type = record[0];
      if (record.readUInt16BE(3) === 0) continue;
      if (type === ALERT ? authentic(socket, record) : type === HANDSHAKE || type === APPLICATION_DATA) kept.push(record);
    }
    if (kept.length > 0) deliver(Buffer.concat(kept));
  };
  const handle = socket.onHandleHandshakes;
  socket.onHandleHandshakes = (assembled) => handle(assembled.filter((h) => h.msg_type !== CLIENT_HELLO));
}

/** Whether an alert record decrypts under the session's keys. */
function authentic(socket: LockableSocket, record: Buffer): boolean {
  try {
    socket.cipher.decryptPacket({
      recordLayerHeader: { contentType: record[0], protocolVersion: { major: record[1], minor: record[2] }, epoch: record.readUInt16BE(3), sequenceNumber: record.readUIntBE(5, 6), contentLen: record.readUInt16BE(11) },
      fragment: record.subarray(RECORD_HEADER),
    });
    return true;
  } catch {
    return false;
  }
}
