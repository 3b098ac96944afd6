/**
 * The receiving end of a hop against a sending bridge played by the test:
 * a newer ticket that comes before the hop is admitted (joins in a burst)
 * waits, because the sending bridge takes nothing but `relay` first and
 * would refuse the hop; and a sender that cannot prove the ticket's `from`
 * key is an impostor, whose hop closes before any media.
 */
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { signBridgeProof } from '../protocol/bridge-proof.js';
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
        void signBridgeProof(key, { datacenter: 'eu-central', challenge, participant: 'ap-tokyo', at: Date.now() }).then((proof) => {
          ws.send(JSON.stringify({ type: 'relay-admitted', proof, peers: [] }));
        });
      }, delayMs);
    });
  });
  const address = wss.address();
  return { url: `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/signal`, received, connected: () => connections > 0 };
}

async function claimsFor(fromKey: string): Promise<RelayTicketClaims> {
  const toKey = String((await exportJWK((await generateKeyPair('EdDSA', { crv: 'Ed25519' })).publicKey)).x);
  return { iss: 'http://broker', aud: 'geobridge:relay', sub: 'ap-tokyo', iat: 0, exp: 0, jti: 'j-1', meeting: 'm-1', from: 'eu-central', to: 'ap-tokyo', fromKey, toKey, manifest: 'a'.repeat(64), e2ee: false, streams: ['p-1'] };
}

/** Our proof takes `proveMs` to sign (a loaded machine): the socket is open before `relay` can go. */
function open(url: string, claims: RelayTicketClaims, closed: string[], proveMs = 0): RelayLink {
  const prove = (): Promise<string> => new Promise((resolve) => setTimeout(() => { resolve('our.proof.jws'); }, proveMs));
  return new RelayLink({ room: new Room('m-1', { videoBitrate: 1_000_000 }), url, ticket: 'first.ticket.jws', claims, link: { prove }, log: () => undefined, onClosed: (why) => closed.push(why) });
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
});
