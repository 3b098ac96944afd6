/**
 * The receiving end of a cascade hop: this bridge connects to the sending
 * bridge with the relay ticket the broker sent it (docs/cascading.md),
 * proves it holds its datacenter's key, checks the sender's proof against
 * the key the ticket names, and answers its offers. Each stream that arrives
 * is published in the meeting's room here as a remote peer's, so this
 * bridge's participants receive it as they would a local one; keyframe
 * requests go back over the hop. Frames cross unchanged: with E2EE on, both
 * bridges see ciphertext only.
 */
import { randomBytes } from 'node:crypto';
import { RTCPeerConnection, type RTCRtpTransceiver } from 'werift';
import WebSocket from 'ws';
import { verifyBridgeProof } from '../protocol/bridge-proof.js';
import type { RelayTicketClaims } from '../protocol/relay-ticket.js';
import { encodeMessage, parseBridgeMessage, SIGNALLING_SUBPROTOCOL, type BridgeMessage, type ClientMessage, type StreamInfo } from '../protocol/signalling.js';
import { boundAnswerCandidates } from './answer-candidates.js';
import type { BrokerLink } from './broker-link.js';
import { expectFingerprint, localDtlsFingerprint } from './dtls-fingerprint.js';
import { bridgeOfferSdp, offerNetworkOf, type OfferNetwork } from './offer-sdp.js';
import type { Room, Slot } from './sfu.js';

/** Options of a relay link. */
export interface RelayLinkOptions {
  readonly room: Room;
  /** The sending bridge's signalling URL. */
  readonly url: string;
  readonly ticket: string;
  readonly claims: RelayTicketClaims;
  /** This bridge's link to the broker: its proof of identity. */
  readonly link: Pick<BrokerLink, 'prove'>;
  readonly log: (line: Readonly<Record<string, unknown>>) => void;
  /** Called once when the link is gone: `lost` when it was not closed here on purpose (the path failed, the sending bridge refused or ended it). */
  readonly onClosed: (why: string, lost: boolean) => void;
  /** How long the media path may take to come up once offered (default RELAY_CONNECT_TIMEOUT_MS). */
  readonly connectTimeoutMs?: number;
}

/**
 * How long a hop's media path (ICE, then DTLS) may take to come up once the
 * sender offered media. werift never gives up on a path by itself, so a hop
 * could stay set up and carry nothing (docs/cascading.md); closed instead,
 * it is opened again with the broker's next ticket (HOP_REFRESH_MS). Ample
 * for loopback or a datacenter network on a loaded machine.
 */
export const RELAY_CONNECT_TIMEOUT_MS = 10_000;

/** One hop into this bridge. */
export class RelayLink {
  readonly #options: RelayLinkOptions;
  readonly #socket: WebSocket;
  readonly #pc: RTCPeerConnection;
  /** Where its sockets are, for the candidates of its answers. */
  readonly #network: OfferNetwork;
  readonly #challenge = randomBytes(32).toString('base64url');
  /** The streams of the sender's latest offer, by mid. */
  #streams = new Map<string, StreamInfo>();
  /** What each mid publishes here, so that a stream left out of an offer ends. */
  readonly #published = new Map<string, { peer: string; slot: Slot }>();
  /** The peers this hop brought in. */
  readonly #peers = new Set<string>();
  #admitted = false;
  /** The DTLS certificate the sending bridge signed for in its proof: the only one its offers may name. */
  #senderFingerprint: string | undefined;
  /** A newer ticket that came before the sending bridge admitted the hop: handed on once it has (the sender takes only `relay` first). */
  #newer: string | undefined;
  #closed = false;
  /** Offers are answered one after another. */
  #applied: Promise<void> = Promise.resolve();
  /** Runs from the first answer to an offer with media until the path is up. */
  #watchdog: NodeJS.Timeout | undefined;
  /** The sending bridge's candidates its offers brought, bounded as a participant's answers are (answer-candidates.ts). */
  readonly #offerCandidates = new Set<string>();

  constructor(options: RelayLinkOptions) {
    this.#options = options;
    const config = options.room.peerConfig();
    this.#pc = new RTCPeerConnection(config);
    this.#network = offerNetworkOf(config);
    this.#pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') clearTimeout(this.#watchdog);
      if (state === 'failed') this.#end("the hop's media path failed (ICE or DTLS)", true);
    });
    this.#pc.onTransceiverAdded.subscribe((transceiver) => {
      transceiver.onTrack.subscribe((track) => {
        this.#arrived(transceiver, track);
      });
    });
    this.#socket = new WebSocket(options.url, SIGNALLING_SUBPROTOCOL);
    this.#socket.on('open', () => {
      void this.#hello();
    });
    this.#socket.on('message', (data, isBinary) => {
      const parsed = isBinary || !Buffer.isBuffer(data) ? undefined : parseBridgeMessage(data.toString('utf8'));
      if (!parsed?.ok) {
        this.#end(`the sending bridge sent a bad frame${parsed ? `: ${parsed.error}` : ''}`, true);
        return;
      }
      const message = parsed.message;
      this.#applied = this.#applied
        .then(() => this.#handle(message))
        .catch((error: unknown) => {
          this.#end(error instanceof Error ? error.message : String(error), true);
        });
    });
    this.#socket.on('close', (code, reason) => {
      this.#end(`the sending bridge closed the relay (${code}${reason.length > 0 ? ` ${reason.toString('utf8')}` : ''})`, true);
    });
    this.#socket.on('error', () => undefined);
  }

  get from(): string {
    return this.#options.claims.from;
  }

  /** Whether the sending bridge admitted this hop (and proved who it is). */
  get admitted(): boolean {
    return this.#admitted;
  }

  /** The remote peers whose streams this hop brings in. */
  get peers(): ReadonlySet<string> {
    return this.#peers;
  }

  /** A newer ticket for the same hop: handed on (once the hop is admitted), the sender checks it. */
  update(ticket: string): void {
    if (this.#admitted) this.#sendMessage({ type: 'relay-update', ticket });
    else this.#newer = ticket;
  }

  /** Ends the hop on purpose (the plan, the room, the bridge): its peers leave this bridge's room. Idempotent. */
  close(why: string): void {
    this.#end(why, false);
  }

  #end(why: string, lost: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#watchdog);
    const { room, log, claims, onClosed } = this.#options;
    for (const id of this.#peers) room.removeRemote(id, this);
    this.#peers.clear();
    this.#socket.close(1000, 'relay closed');
    void this.#pc.close().catch(() => undefined);
    log({ level: lost ? 'warn' : 'info', msg: lost ? 'relay lost' : 'relay closed', meeting: claims.meeting, from: claims.from, why });
    onClosed(why, lost);
  }

  async #hello(): Promise<void> {
    const { link, claims, ticket } = this.#options;
    const proof = await link.prove(this.#challenge, claims.jti, await localDtlsFingerprint());
    this.#sendMessage({ type: 'relay', ticket, challenge: this.#challenge, proof });
  }

  async #handle(message: BridgeMessage): Promise<void> {
    if (this.#closed) return;
    const { room, claims } = this.#options;
    if (!this.#admitted && message.type !== 'relay-admitted') {
      if (message.type === 'refused') throw new Error(`the sending bridge refused the relay: ${message.code}: ${message.message}`);
      throw new Error(`the sending bridge sent ${message.type} before relay-admitted`);
    }
    switch (message.type) {
      case 'relay-admitted':
      {
        // An impostor at the sender's URL cannot sign for its datacenter, nor make offers over the certificate it signed for.
        const proved = await verifyBridgeProof({ kty: 'OKP', crv: 'Ed25519', x: claims.fromKey }, message.proof, { datacenter: claims.from, challenge: this.#challenge, participant: claims.to });
        if (proved.fingerprint === undefined) throw new Error(`the proof of ${claims.from} names no DTLS certificate: its bridge is of a geobridge before hops were bound to one; upgrade it`);
        this.#senderFingerprint = proved.fingerprint;
        this.#admitted = true;
        if (this.#newer !== undefined) this.#sendMessage({ type: 'relay-update', ticket: this.#newer });
        this.#newer = undefined;
        for (const peer of message.peers) this.#join(peer.id, () => room.remote(peer, this));
        this.#options.log({ level: 'info', msg: 'relay open', meeting: claims.meeting, from: claims.from, peers: message.peers.length });
        return;
      }
      case 'offer':
        await this.#answer(message.sdp, message.streams);
        return;
      case 'peer-joined':
      case 'peer-updated':
        this.#join(message.peer.id, () => room.remote(message.peer, this));
        return;
      case 'peer-left':
        this.#peers.delete(message.id);
        room.removeRemote(message.id, this);
        return;
      case 'refused':
        throw new Error(`the sending bridge ended the relay: ${message.code}: ${message.message}`);
      default:
        // Participants' messages (MLS, tickets, moves) are not for a relay.
        return;
    }
  }

  /** A peer of the sender becomes a remote peer here, unless it is a participant of this bridge too (it moved): the local one stands. */
  #join(id: string, make: () => void): void {
    if (this.#options.room.participants.has(id)) return;
    this.#peers.add(id);
    make();
  }

  async #answer(sdp: string, streams: readonly StreamInfo[]): Promise<void> {
    const { room } = this.#options;
    expectFingerprint(sdp, this.#senderFingerprint ?? '', 'offer of the sending bridge');
    this.#streams = new Map(streams.map((s) => [s.mid, s]));
    // A stream the offer no longer labels has ended (its publisher left, or the hop no longer carries it).
    for (const [mid, was] of this.#published) {
      if (this.#streams.get(mid)?.peer === was.peer) continue;
      this.#published.delete(mid);
      const remote = room.remotes.get(was.peer);
      if (remote?.via === this) room.unpublishRemote(remote, was.slot);
    }
    await this.#pc.setRemoteDescription({ type: 'offer', sdp: boundAnswerCandidates(sdp, this.#offerCandidates) });
    for (const t of this.#pc.iceTransports) Object.assign(t.connection, { stunServer: undefined });
    // The sender offers to be the DTLS client (sfu.ts).
    for (const t of this.#pc.dtlsTransports) if (t.state === 'new') t.role = 'server';
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    for (const t of this.#pc.getTransceivers()) t.usedForSender = true;
    // Host candidates on the address the sockets are bound to, as in the bridge's offers: the sender's checks must reach them.
    this.#sendMessage({ type: 'answer', sdp: bridgeOfferSdp(this.#pc.localDescription?.sdp ?? '', this.#network) });
    // An offer without media opens no path (a hop for participants who send nothing): nothing to wait for.
    if (this.#watchdog === undefined && this.#pc.getTransceivers().length > 0 && this.#pc.connectionState !== 'connected') {
      const ms = this.#options.connectTimeoutMs ?? RELAY_CONNECT_TIMEOUT_MS;
      this.#watchdog = setTimeout(() => {
        if (this.#pc.connectionState !== 'connected') this.#end(`the hop's media path did not come up within ${ms / 1000} s (ICE and DTLS); the broker's next ticket opens it again`, true);
      }, ms);
    }
  }

  #arrived(transceiver: RTCRtpTransceiver, track: Parameters<Room['publishRemote']>[2]): void {
    const { room } = this.#options;
    const mid = transceiver.mid;
    const stream = mid === null ? undefined : this.#streams.get(mid);
    const remote = stream ? room.remotes.get(stream.peer) : undefined;
    if (mid === null || !stream || remote?.via !== this || !this.#peers.has(stream.peer)) return;
    const slot: Slot = stream.kind === 'audio' ? 'audio' : stream.source === 'screen' ? 'screen' : 'video';
    this.#published.set(mid, { peer: stream.peer, slot });
    room.publishRemote(remote, slot, track, transceiver.receiver);
  }

  #sendMessage(message: ClientMessage): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(encodeMessage(message));
  }
}
