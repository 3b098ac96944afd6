/**
 * The receiving end of a cascade hop against a hostile sending bridge (another
 * datacenter's server: it may be compromised), played by the test on
 * loopback. Whatever the sender sends, before or after it admits the hop,
 * nothing escapes the socket's listener (the receiving bridge's process would
 * end): a frame that does not parse, or a refusal, closes the hop as lost;
 * a message that parses is applied or ignored, and the hop goes on.
 */
import fc from 'fast-check';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { signBridgeProof } from '../protocol/bridge-proof.js';
import type { RelayTicketClaims } from '../protocol/relay-ticket.js';
import { parseBridgeMessage, parseClientMessage, SIGNALLING_SUBPROTOCOL } from '../protocol/signalling.js';
import { RelayLink } from './relay-link.js';
import { Room } from './sfu.js';

/** How long a frame may take to be applied on a loaded machine. */
const WAIT_MS = 5000;

/** What the sending bridge does on the next connection: admit first (with a valid proof) or not, then send `frames`. */
interface Script {
  readonly admit: boolean;
  readonly frames: readonly string[];
}

let key: CryptoKey;
let fromKey: string;
let wss: WebSocketServer;
let url: string;
const scripts: Script[] = [];

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  key = pair.privateKey;
  fromKey = String((await exportJWK(pair.publicKey)).x);
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => SIGNALLING_SUBPROTOCOL });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws: WebSocket) => {
    const script = scripts.shift() ?? { admit: false, frames: [] };
    ws.on('message', (data: Buffer) => {
      const parsed = parseClientMessage(data.toString('utf8'));
      if (!parsed.ok || parsed.message.type !== 'relay') return;
      const { challenge } = parsed.message;
      void (async () => {
        if (script.admit) ws.send(JSON.stringify({ type: 'relay-admitted', proof: await signBridgeProof(key, { datacenter: 'eu-central', challenge, participant: 'ap-tokyo', at: Date.now() }), peers: [] }));
        for (const frame of script.frames) ws.send(frame);
      })();
    });
  });
  const address = wss.address();
  url = `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/signal`;
});

afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise((resolve) => { wss.close(resolve); });
});

const claims = (): RelayTicketClaims => ({ iss: 'http://broker', aud: 'geobridge:relay', sub: 'ap-tokyo', iat: 0, exp: 0, jti: 'j-1', meeting: 'm-1', from: 'eu-central', to: 'ap-tokyo', fromKey, toKey: fromKey, manifest: 'a'.repeat(64), e2ee: false, streams: [] });

/**
 * Opens a hop to the scripted sender, sends `frame` (after admitting, or
 * instead of it), then a sentinel peer: whether the hop was closed as lost,
 * or took the sentinel and is still open.
 */
async function hop(admit: boolean, frame: string): Promise<{ closed: string } | { open: true }> {
  const sentinel = 'sentinel-peer';
  scripts.push({ admit, frames: [frame, JSON.stringify({ type: 'peer-joined', peer: { id: sentinel, name: '', audio: false, video: false } })] });
  const closed: { why: string; lost: boolean }[] = [];
  const link = new RelayLink({ room: new Room('m-1', { videoBitrate: 1_000_000, bindAddress: '127.0.0.1' }), url, ticket: 'a.b.c', claims: claims(), link: { prove: () => Promise.resolve('our.proof.jws') }, log: () => undefined, onClosed: (why, lost) => closed.push({ why, lost }) });
  try {
    const deadline = Date.now() + WAIT_MS;
    while (closed.length === 0 && !link.peers.has(sentinel)) {
      if (Date.now() > deadline) throw new Error('the hop neither closed nor took the sentinel');
      await new Promise((r) => setTimeout(r, 2));
    }
    const first = closed[0];
    if (first === undefined) return { open: true };
    expect(first.lost).toBe(true);
    return { closed: first.why };
  } finally {
    link.close('test over');
  }
}

const deep = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const id = fc.oneof(fc.string({ minLength: 1, maxLength: 100 }), fc.constantFrom('__proto__', 'constructor', 'relay:ap-tokyo', 'sentinel-peer'));
const peer = fc.record({ id, name: fc.string({ maxLength: 100 }), audio: fc.boolean(), video: fc.boolean() });
/** Messages a sending bridge may send that parse: applied or ignored. */
const parsing = fc.oneof(
  fc.record({ type: fc.constant('peer-joined'), peer }),
  fc.record({ type: fc.constant('peer-updated'), peer }),
  fc.record({ type: fc.constant('peer-left'), id }),
  fc.record({ type: fc.constant('offer'), sdp: fc.oneof(fc.string({ minLength: 1, maxLength: 200 }), fc.constant('v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n')), streams: fc.array(fc.record({ mid: fc.string({ minLength: 1, maxLength: 32 }), peer: id, kind: fc.constantFrom('audio', 'video') }), { maxLength: 3 }) }),
  fc.record({ type: fc.constant('relay-admitted'), proof: fc.constant('a.b.c'), peers: fc.array(peer, { maxLength: 3 }) }),
  fc.record({ type: fc.constant('refused'), code: fc.constant('NO'), message: fc.string({ maxLength: 100 }) }),
  fc.record({ type: fc.constant('mls-found') }),
  fc.record({ type: fc.constant('ticket'), ticket: fc.constant('a.b.c') }),
);
const frames = fc.oneof(
  fc.string(),
  fc.json(),
  parsing.map((m) => JSON.stringify(m)),
  fc.tuple(parsing, fc.constantFrom('type', 'peer', 'id', 'sdp', 'streams', 'peers', 'extra', '__proto__'), fc.jsonValue({ maxDepth: 2 })).map(([m, field, value]) => JSON.stringify({ ...m, [field]: value })),
  fc.constantFrom('null', '[]', `{"type":${deep(10_000)}}`, `{"type":"peer-left","id":${deep(10_000)}}`, `{"type":"offer","sdp":"v=0","streams":[${deep(5_000)}]}`),
);

describe('a relay link, against a hostile sending bridge', () => {
  it('never lets a frame end the process: one that does not parse closes the hop as lost, one that parses is applied or ignored', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), frames, async (admit, frame) => {
        const got = await hop(admit, frame);
        const parsed = (() => {
          try {
            return parseBridgeMessage(frame).ok;
          } catch {
            return false;
          }
        })();
        // Before it is admitted the hop takes nothing else; a frame that does not parse always closes it.
        if (!admit || !parsed) expect(got, frame.slice(0, 200)).toEqual({ closed: expect.any(String) as unknown });
      }),
      { numRuns: 80 },
    );
  }, 60_000);

  it('regression: a type nested 10,000 deep closes the hop as lost', async () => {
    // Before: parseBridgeMessage threw RangeError inside the socket's 'message' listener, an uncaught exception that ended the bridge's process.
    for (const admit of [false, true]) expect(await hop(admit, `{"type":${deep(10_000)}}`)).toMatchObject({ closed: expect.stringMatching(/^the sending bridge sent a bad frame: unknown message type \(a list\)/) as unknown });
  });
});
