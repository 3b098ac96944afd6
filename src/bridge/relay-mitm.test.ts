/**
 * A relay in the middle of a cascade hop's signalling (a path or DNS
 * attacker on ws://) holds no bridge key, but can pass each bridge's
 * messages on to the other: the receiving bridge's `relay`, proof and all,
 * gets the middle admitted by the sending bridge. What keeps a middle with
 * a WebRTC stack of its own from the media is the DTLS certificate each
 * bridge signs in its proof (dtls-fingerprint.ts): the sending bridge takes
 * no answer over another certificate, and the receiving bridge no offer.
 * A middle presenting a bridge's own certificate (public: every handshake
 * shows it) with a key of its own fails the DTLS handshake instead: each
 * bridge checks that its peer signed with the certificate's key
 * (src/node/dtls-key-proof.ts).
 */
import { importJWK, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CipherContext, HashAlgorithm, NamedCurveAlgorithm, RTCCertificate, RTCDtlsTransport, RTCPeerConnection, SignatureAlgorithm } from 'werift';
import WebSocket, { WebSocketServer } from 'ws';
import { issueRelayTicket } from '../broker/tickets.js';
import { signBridgeProof } from '../protocol/bridge-proof.js';
import { verifyRelayTicket } from '../protocol/relay-ticket.js';
import { SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { boundAnswerCandidates } from './answer-candidates.js';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { bridgeOfferSdp, offerNetworkOf } from './offer-sdp.js';
import { joinCall, until, type Caller } from './participant.fixture.js';
import { RelayLink } from './relay-link.js';
import { Room } from './sfu.js';

const MEDIA_MS = 30_000;
let cluster: Cluster;
let meeting: string;
let anna: Caller;
let annaId: string;
const bridgeLog: Readonly<Record<string, unknown>>[] = [];

beforeAll(async () => {
  cluster = await startCluster(['eu-central', 'ap-tokyo'], ['eu-central'], { cascade: true, bridge: { log: (line) => bridgeLog.push(line) } });
  meeting = await cluster.meeting('Relay in the middle');
  anna = await joinCall(cluster, meeting, 'Anna', 'DE', { publish: true });
  const euRoom = (): Room | undefined => cluster.bridges.get('eu-central')?.rooms.get(meeting);
  await until(() => anna.datacenter() !== undefined && (euRoom()?.participants.size ?? 0) === 1, MEDIA_MS);
  annaId = [...(euRoom()?.participants.keys() ?? [])][0] ?? '';
}, 120_000);

afterAll(async () => {
  anna.leave();
  await cluster.close();
}, 60_000);

type Certificate = 'its own' | "the bridges' own, with a key of its own";

/** A peer connection for the middle: over a DTLS certificate of its own, or over the bridges' (this process's bridges share werift's one certificate). */
async function impostorPeer(room: Room, certificate: Certificate): Promise<RTCPeerConnection> {
  const { certPem, keyPem, signatureHash } = await CipherContext.createSelfSignedCertificateWithKey({ signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 }, NamedCurveAlgorithm.secp256r1_23);
  const bridges = await RTCDtlsTransport.SetupCertificate();
  return new RTCPeerConnection({ ...room.peerConfig(), certificates: [new RTCCertificate(keyPem, certificate === 'its own' ? certPem : bridges.certPem, signatureHash)] });
}

interface Middle {
  /** RTP packets the middle received from the sending bridge. */
  packets(): number;
  readonly refusals: string[];
  /** Whether the middle has answered the sending bridge and been answered by the receiving one. */
  negotiated(): boolean;
  /** Why the receiving bridge's hop ended, if it did. */
  lost(): string | undefined;
  readonly toSender: RTCPeerConnection;
  readonly toReceiver: RTCPeerConnection;
  close(): Promise<void>;
}

/** ap-tokyo opens a hop to eu-central through a middle that passes its `relay` on and answers, and offers, with its own WebRTC stack. */
async function hopThroughMiddle(certificate: Certificate): Promise<Middle> {
  const ctx = cluster.broker.context;
  const keyOf = (dc: string): string => String(ctx.config.bridgePublicJwks[dc]?.x);
  const issued = await issueRelayTicket(ctx.keys, { issuer: ctx.config.issuer, meeting, from: 'eu-central', to: 'ap-tokyo', fromKey: keyOf('eu-central'), toKey: keyOf('ap-tokyo'), manifest: ctx.policy.current.sha256, e2ee: false, streams: [annaId] });
  const realUrl = cluster.bridges.get('eu-central')?.url ?? '';

  // The middle: where ap-tokyo was told eu-central is; it passes ap-tokyo's `relay` on and answers eu-central's offers itself.
  const room = new Room(meeting, { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 });
  const network = offerNetworkOf(room.peerConfig());
  const toSender = await impostorPeer(room, certificate);
  const toReceiver = await impostorPeer(room, certificate);
  let packets = 0;
  let answered = false;
  let gotAnswer = false;
  toSender.onTransceiverAdded.subscribe((t) => t.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => { packets++; })));
  const refusals: string[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => SIGNALLING_SUBPROTOCOL });
  await new Promise((resolve) => wss.once('listening', resolve));
  const address = wss.address();
  const middleUrl = `ws://127.0.0.1:${typeof address === 'object' && address !== null ? String(address.port) : '0'}/signal`;
  wss.on('connection', (victim) => {
    victim.once('message', (first: Buffer) => {
      const upstream = new WebSocket(realUrl, SIGNALLING_SUBPROTOCOL);
      upstream.on('open', () => { upstream.send(first.toString('utf8')); });
      upstream.on('message', (data: Buffer) => {
        void (async () => {
          const m = JSON.parse(data.toString('utf8')) as { type: string; sdp?: string; code?: string };
          if (m.type === 'refused') refusals.push(m.code ?? '');
          if (m.type === 'relay-admitted') {
            victim.send(data.toString('utf8'));
            // Its own offer to the receiving bridge, over its own certificate.
            toReceiver.addTransceiver('video', { direction: 'sendonly' });
            await toReceiver.setLocalDescription(await toReceiver.createOffer());
            victim.send(JSON.stringify({ type: 'offer', sdp: bridgeOfferSdp(toReceiver.localDescription?.sdp ?? '', network), streams: [] }));
          } else if (m.type === 'offer' && m.sdp !== undefined) {
            await toSender.setRemoteDescription({ type: 'offer', sdp: boundAnswerCandidates(m.sdp, new Set()) });
            await toSender.setLocalDescription(await toSender.createAnswer());
            upstream.send(JSON.stringify({ type: 'answer', sdp: bridgeOfferSdp(toSender.localDescription?.sdp ?? '', network) }));
            answered = true;
          }
        })();
      });
      // The receiving bridge's answer to the middle's offer (given only when the certificate matched).
      victim.on('message', (data: Buffer) => {
        const m = JSON.parse(data.toString('utf8')) as { type: string; sdp?: string };
        if (m.type === 'answer' && m.sdp !== undefined) {
          void toReceiver.setRemoteDescription({ type: 'answer', sdp: boundAnswerCandidates(m.sdp, new Set()) }).then(() => { gotAnswer = true; });
        }
      });
    });
  });

  // The genuine ap-tokyo, with its own key, connects to the URL it was given: the middle's.
  const tokyoKey = (await importJWK(cluster.identities.get('ap-tokyo') ?? {}, 'EdDSA')) as CryptoKey;
  const claims = await verifyRelayTicket(ctx.keys.keyResolver(), issued.token, { now: new Date() });
  let lost: string | undefined;
  const link = new RelayLink({
    room: new Room(meeting, { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 }),
    url: middleUrl,
    ticket: issued.token,
    claims,
    link: { prove: (challenge, participant, fingerprint) => signBridgeProof(tokyoKey, { datacenter: 'ap-tokyo', challenge, participant, at: Date.now(), fingerprint }) },
    log: () => undefined,
    onClosed: (why) => {
      lost = why;
    },
  });
  return {
    packets: () => packets,
    negotiated: () => answered && gotAnswer,
    refusals,
    lost: () => lost,
    toSender,
    toReceiver,
    close: async () => {
      link.close('test done');
      await toSender.close().catch(() => undefined);
      await toReceiver.close().catch(() => undefined);
      await new Promise((resolve) => { wss.close(resolve); });
    },
  };
}

it('gets a relay in the middle with a certificate of its own no media: the sending bridge refuses its answer, the receiving bridge its offer', async () => {
  const middle = await hopThroughMiddle('its own');
  try {
    await until(() => middle.refusals.length > 0 && middle.lost() !== undefined, MEDIA_MS);
    expect(middle.refusals).toEqual(['DTLS_FINGERPRINT_MISMATCH']);
    expect(middle.lost()).toMatch(/DTLS certificate/);
    // Long enough for media to have flowed had the answer been taken (it did within a second before the fix).
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(middle.packets()).toBe(0);
  } finally {
    await middle.close();
  }
}, 90_000);

it("gets a relay in the middle presenting the bridges' own certificate no media: neither bridge finishes DTLS with a peer that lacks the certificate's key", async () => {
  const middle = await hopThroughMiddle("the bridges' own, with a key of its own");
  try {
    // The fingerprints match, so both bridges negotiate; each DTLS handshake then fails on the middle's signature.
    await until(() => middle.negotiated(), MEDIA_MS);
    // The sending bridge ends the hop whose media path failed.
    await until(() => middle.refusals.length > 0, MEDIA_MS);
    expect(middle.refusals).toEqual(['RELAY_FAILED']);
    // The receiving bridge ends its side too: its DTLS with the middle failed the same way.
    await until(() => middle.lost() !== undefined, MEDIA_MS);
    expect(middle.lost()).toMatch(/media path failed/);
    // The operator reads why in the bridge's log (werift itself says nothing).
    expect(bridgeLog.filter((l) => String(l.msg).startsWith('a DTLS peer did not prove')).map((l) => l.reason)).toContainEqual(expect.stringMatching(/CertificateVerify|ServerKeyExchange/));
    // Before the DTLS key check, media reached the middle within a second; this waits five.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(middle.packets()).toBe(0);
    expect(middle.toSender.connectionState).not.toBe('connected');
    expect(middle.toReceiver.connectionState).not.toBe('connected');
  } finally {
    await middle.close();
  }
}, 90_000);
