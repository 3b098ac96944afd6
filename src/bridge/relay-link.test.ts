/**
 * The receiving end of a hop against a sending bridge played by the test:
 * a newer ticket that comes before the hop is admitted (joins in a burst)
 * waits, because the sending bridge takes nothing but `relay` first and
 * would refuse the hop; a sender that cannot prove the ticket's `from`
 * key is an impostor, whose hop closes before any media; and a hop whose
 * media path never comes up is closed (the broker's next ticket opens it
 * again) rather than left set up and carrying nothing, while one whose path
 * came up is left alone.
 */
import { createSocket } from 'node:dgram';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { RTCPeerConnection, useVP8 } from 'werift';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { signBridgeProof } from '../protocol/bridge-proof.js';
import { localDtlsFingerprint } from './dtls-fingerprint.js';
import type { RelayTicketClaims } from '../protocol/relay-ticket.js';
import { parseClientMessage, SIGNALLING_SUBPROTOCOL, type ClientMessage } from '../protocol/signalling.js';
import { RelayLink } from './relay-link.js';
import { Room } from './sfu.js';

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((resolve) => { s.close(resolve); });
});

/** A sending bridge that records what it is sent and admits the hop with a proof signed by `key`, after `delayMs`. */
async function sender(key: CryptoKey, delayMs: number): Promise<{ url: string; received: ClientMessage[]; connected: () => boolean }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => SIGNALLING_SUBPROTOCOL });
  servers.push(wss);
  await new Promise((resolve) => wss.once('listening', resolve));
  const received: ClientMessage[] = [];
  let connections = 0;
  wss.on('connection', (ws: WebSocket) => {
    connections++;
    ws.on('message', (data: Buffer) => {
      const parsed = parseClientMessage(data.toString('utf8'));
      if (!parsed.ok) throw new Error(parsed.error);
      received.push(parsed.message);
      if (parsed.message.type !== 'relay') return;
      const { challenge } = parsed.message;
      setTimeout(() => {
        void localDtlsFingerprint().then((fingerprint) => signBridgeProof(key, { datacenter: 'eu-central', challenge, participant: 'ap-tokyo', at: Date.now(), fingerprint })).then((proof) => {
          ws.send(JSON.stringify({ type: 'relay-admitted', proof, peers: [] }));
        });
      }, delayMs);
    });
  });
  const address = wss.address();
  return { url: `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/signal`, received, connected: () => connections > 0 };
}

/**
 * A sending bridge that admits the hop and offers one video stream from a
 * real peer connection on loopback. With `deadPath`, its candidates name a
 * UDP port that answers nothing and it never takes the answer: the path
 * cannot come up. Otherwise it applies the answer and the path comes up.
 */
async function offeringSender(key: CryptoKey, deadPath: boolean): Promise<{ url: string; answers: string[]; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => SIGNALLING_SUBPROTOCOL });
  servers.push(wss);
  await new Promise((resolve) => wss.once('listening', resolve));
  const answers: string[] = [];
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  const pc = new RTCPeerConnection({ iceServers: [], iceUseIpv6: false, iceInterfaceAddresses: { udp4: '127.0.0.1' }, bundlePolicy: 'max-bundle', codecs: { video: [useVP8()] } });
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data: Buffer) => {
      const parsed = parseClientMessage(data.toString('utf8'));
      if (!parsed.ok) throw new Error(parsed.error);
      const message = parsed.message;
      if (message.type === 'answer') answers.push(message.sdp);
      if (message.type === 'answer' && !deadPath) void pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
      if (message.type !== 'relay') return;
      void (async () => {
        const proof = await signBridgeProof(key, { datacenter: 'eu-central', challenge: message.challenge, participant: 'ap-tokyo', at: Date.now(), fingerprint: await localDtlsFingerprint() });
        ws.send(JSON.stringify({ type: 'relay-admitted', proof, peers: [{ id: 'p-1', name: 'Pia', audio: false, video: true }] }));
        const transceiver = pc.addTransceiver('video', { direction: 'sendonly' });
        await pc.setLocalDescription(await pc.createOffer());
        const sdp = pc.localDescription?.sdp ?? '';
        // A bridge's offer names its bound address (offer-sdp.ts); the dead one names a port that answers nothing.
        const dead = deadPath ? String(silent.address().port) : undefined;
        const offered = sdp.replace(/^(a=candidate:\S+ \d+ udp \d+ )\S+ (\d+)/gm, (_line, head: string, own: string) => `${head}127.0.0.1 ${dead ?? own}`);
        ws.send(JSON.stringify({ type: 'offer', sdp: offered, streams: [{ mid: transceiver.mid ?? '0', peer: 'p-1', kind: 'video' }] }));
      })();
    });
  });
  const address = wss.address();
  return {
    url: `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/signal`,
    answers,
    close: async () => {
      silent.close();
      await pc.close();
    },
  };
}

async function claimsFor(fromKey: string): Promise<RelayTicketClaims> {
  const toKey = String((await exportJWK((await generateKeyPair('EdDSA', { crv: 'Ed25519' })).publicKey)).x);
  return { iss: 'http://broker', aud: 'geobridge:relay', sub: 'ap-tokyo', iat: 0, exp: 0, jti: 'j-1', meeting: 'm-1', from: 'eu-central', to: 'ap-tokyo', fromKey, toKey, manifest: 'a'.repeat(64), e2ee: false, streams: ['p-1'] };
}

/** Our proof takes `proveMs` to sign (a loaded machine): the socket is open before `relay` can go. */
function open(url: string, claims: RelayTicketClaims, closed: string[], proveMs = 0, connectTimeoutMs?: number): RelayLink {
  const prove = (): Promise<string> => new Promise((resolve) => setTimeout(() => { resolve('our.proof.jws'); }, proveMs));
  return new RelayLink({
    room: new Room('m-1', { videoBitrate: 1_000_000, bindAddress: '127.0.0.1' }),
    url,
    ticket: 'first.ticket.jws',
    claims,
    link: { prove },
    log: () => undefined,
    onClosed: (why) => closed.push(why),
    ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
  });
}

const until = async (condition: () => boolean, ms = 10_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
};

describe('a relay link (the receiving end of a hop)', () => {
  it('holds a newer ticket that comes before the hop is admitted, and hands it on after', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const { url, received, connected } = await sender(privateKey, 300);
    const closed: string[] = [];
    const link = open(url, await claimsFor(String((await exportJWK(publicKey)).x)), closed, 300);
    // The socket is open, `relay` not yet sent: a second ticket for the hop arrives (joins in a burst).
    await until(connected);
    link.update('second.ticket.jws');
    await until(() => link.admitted && received.length >= 2);
    expect(received.map((m) => m.type)).toEqual(['relay', 'relay-update']);
    expect(received[1]).toEqual({ type: 'relay-update', ticket: 'second.ticket.jws' });
    expect(closed).toEqual([]);
    link.close('done');
  });

  it('closes before any media when the sender cannot prove the key the ticket names', async () => {
    const impostor = (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey;
    const genuine = String((await exportJWK((await generateKeyPair('EdDSA', { crv: 'Ed25519' })).publicKey)).x);
    const { url } = await sender(impostor, 0);
    const closed: string[] = [];
    const link = open(url, await claimsFor(genuine), closed);
    await until(() => closed.length > 0);
    expect(link.admitted).toBe(false);
    expect(closed[0]).toMatch(/not signed by the key the broker publishes for eu-central/);
  });

  it('closes a hop whose media path does not come up in time, so that the next ticket opens it again; leaves one that came up alone', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const claims = await claimsFor(String((await exportJWK(publicKey)).x));
    /** Time for a loaded machine's ICE and DTLS on loopback; the product's default is 10 s. */
    const deadlineMs = 4000;
    const dead = await offeringSender(privateKey, true);
    const live = await offeringSender(privateKey, false);
    const deadClosed: string[] = [];
    const liveClosed: string[] = [];
    const deadLink = open(dead.url, claims, deadClosed, 0, deadlineMs);
    const liveLink = open(live.url, claims, liveClosed, 0, deadlineMs);
    try {
      await until(() => deadClosed.length > 0, deadlineMs + 10_000);
      expect(deadClosed[0]).toMatch(/media path (did not come up within 4 s|failed)/);
      expect(deadLink.peers.size).toBe(0);
      // The live hop got the same offer with a path that answers: past the deadline it is still open.
      await new Promise((r) => setTimeout(r, 1000));
      expect(liveClosed, JSON.stringify(liveClosed)).toEqual([]);
      expect(liveLink.peers.has('p-1')).toBe(true);
      // Its answer named the address its sockets are bound to, as the bridge's offers do: the sender's checks reach it.
      const hosts = (live.answers[0] ?? '').split('\r\n').filter((l) => / typ host/.test(l));
      expect(hosts.length).toBeGreaterThan(0);
      for (const line of hosts) expect(line).toMatch(/ udp \d+ 127\.0\.0\.1 \d+ typ host/);
    } finally {
      deadLink.close('done');
      liveLink.close('done');
      await Promise.all([dead.close(), live.close()]);
    }
  }, 30_000);
});
