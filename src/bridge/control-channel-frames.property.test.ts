/**
 * The bridge's end of the control channel against hostile frames from a
 * broker played by the test on loopback: raw text and binary frames, JSON of
 * every shape, 10,000-deep nesting, `__proto__` keys, and commands signed
 * with the broker's key whose content is hostile. The channel never lets an
 * error out of its socket's listener (the bridge process would end); a frame
 * that is not a fresh, valid command is logged and closes the channel (the
 * bridge reconnects), a valid one reaches the bridge as sent.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { parseControlCommand, type ControlCommand } from '../protocol/control-commands.js';
import { CONTROL_AUDIENCE, CONTROL_TYPE, verifyControlMessage } from '../protocol/control-message.js';
import type { BrokerLink } from './broker-link.js';
import { ControlChannel } from './control-channel.js';
const WORLD = fileURLToPath(new URL('../../examples/world.yaml', import.meta.url));

const DC = 'eu-central';
/** How long a frame may take to be refused or applied on a loaded machine. */
const WAIT_MS = 5000;
/** Errors a refusal may log only if the code did not mean them: a field read off null, a stack blown by nesting. */
const RAW_ERROR = /Cannot read|Cannot convert|is not a function|is not iterable|Maximum call stack|Invalid time value|Invalid array length/;

interface Connection {
  readonly ws: WebSocket;
  readonly nonce: string;
  readonly closed: Promise<number>;
}

let key: CryptoKey;
let jwks: { keys: JWK[] };
let wss: WebSocketServer;
let channel: ControlChannel;
/** Connections of the channel, in order, each once its presence hello came. */
const arrivals: Connection[] = [];
const commands: unknown[] = [];
const logs: Readonly<Record<string, unknown>>[] = [];
const took: unknown[] = [];
const refusedKids: (readonly string[])[] = [];
const policies: number[] = [];

async function until<T>(get: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const got = get();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The channel's next connection (it reconnects after each one this test ends). */
function nextConnection(): Promise<Connection> {
  return until(() => arrivals.shift(), 'the control channel to connect');
}

/** A control message for this connection, signed with the broker's key, from raw claims JSON (jose's SignJWT would stringify, and throw on 10,000-deep nesting). */
function sign(claimsJson: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(claimsJson)).setProtectedHeader({ alg: 'EdDSA', typ: CONTROL_TYPE, kid: 'k1' }).sign(key);
}
function claims(nonce: string, seq: number, commandJson: string): string {
  const iat = Math.floor(Date.now() / 1000);
  return `{"aud":"${CONTROL_AUDIENCE}","sub":"${DC}","iat":${iat},"exp":${iat + 60},"jti":"j-${seq}","nonce":"${nonce}","seq":${seq},"command":${commandJson}}`;
}
async function signedFrame(nonce: string, seq: number, commandJson: string, extra = ''): Promise<string> {
  return `{"control":"${await sign(claims(nonce, seq, commandJson))}"${extra}}`;
}

/**
 * What became of one frame (or of the one `make` builds for the connection's
 * nonce), followed by a valid sentinel command: refused (logged, and the
 * channel closed the connection with 1008) or taken (no refusal, and the
 * sentinel behind it arrived; the test then drops the connection).
 */
async function send(make: string | Buffer | ((nonce: string) => Promise<string>)): Promise<{ refused: string } | { taken: true }> {
  const c = await nextConnection();
  const logged = logs.length;
  const sentinel = `sentinel-${String(commands.length)}-${String(logged)}`;
  c.ws.send(typeof make === 'function' ? await make(c.nonce) : make, { binary: Buffer.isBuffer(make) });
  c.ws.send(await signedFrame(c.nonce, 1_000_000, JSON.stringify({ type: 'relay-end', meeting: sentinel, from: DC, reason: '' })));
  await Promise.race([c.closed, until(() => (commands.some((m) => (m as { meeting?: unknown }).meeting === sentinel) ? true : undefined), 'the sentinel')]);
  // Frames are applied in order: a refusal is logged before anything after it is looked at.
  const refusal = logs.slice(logged).find((l) => l.msg === 'control frame refused');
  if (refusal === undefined) {
    c.ws.terminate();
    return { taken: true };
  }
  expect(await c.closed).toBe(1008);
  const error = String(refusal.error);
  expect(error).not.toMatch(RAW_ERROR);
  return { refused: error };
}

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  key = pair.privateKey;
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA' }] };
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1/bridges/presence' });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws) => {
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    ws.once('message', (data: Buffer) => {
      const hello = JSON.parse(data.toString('utf8')) as { kind: string; nonce: string };
      expect(hello.kind).toBe('presence');
      arrivals.push({ ws, nonce: hello.nonce, closed });
    });
  });
  const address = wss.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const link = {
    broker: `http://127.0.0.1:${port}`,
    signed: (body: Readonly<Record<string, unknown>>) => Promise.resolve(JSON.stringify(body)),
    verifyControl: (token: string, nonce: string) => verifyControlMessage(jwks, token, { now: new Date(), datacenter: DC, nonce }),
    brokerTakes: (abilities: unknown) => took.push(abilities),
    adoptManifest: () => undefined,
    refuseKeys: (kids: readonly string[]) => refusedKids.push(kids),
    reloadKeys: () => Promise.resolve(),
    failover: () => `http://127.0.0.1:${port}`,
  } as unknown as BrokerLink;
  channel = new ControlChannel(
    { link, graceMs: 600_000, retryMs: 1 },
    {
      onPolicy: (p) => policies.push(p.version),
      onKeysRevoked: () => undefined,
      onCommand: (c) => commands.push(c),
      onCutOff: () => undefined,
      onLog: (line) => logs.push(line),
    },
  );
  channel.open();
});

afterAll(async () => {
  channel.close();
  for (const c of wss.clients) c.terminate();
  await new Promise((resolve) => { wss.close(resolve); });
});

const deep = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const deepObject = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('the control channel, against hostile frames', () => {
  it('refuses every unsigned frame but the broker\'s `present`, and closes the channel; it reconnects', async () => {
    const frames = fc.oneof(
      fc.string(),
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify({ control: v })),
      fc.constantFrom('null', '[]', '5', '"x"', 'true', '', ' ', '{}', '{"control":5}', '{"control":"a.b.c"}', '{"control":null,"present":false}', '{"__proto__":{"present":true}}', '{"__proto__":{"control":"a.b.c"}}', deep(10_000), deepObject(10_000), `{"control":${deep(10_000)}}`),
    );
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        const got = await send(frame);
        let value: unknown;
        try {
          value = JSON.parse(frame);
        } catch {
          value = undefined;
        }
        const present = typeof value === 'object' && value !== null && (value as { present?: unknown }).present === true;
        expect(got, frame.slice(0, 200)).toEqual(present ? { taken: true } : { refused: expect.any(String) as unknown });
      }),
      { numRuns: 150 },
    );
    expect(await send(Buffer.from('{"present":true}'))).toEqual({ refused: expect.any(String) as unknown });
  }, 30_000);

  it('applies a signed command as sent when it parses, and refuses it with its code when not', async () => {
    const code = fc.stringMatching(/^[A-Z]{2}$/);
    const id = fc.string({ minLength: 1, maxLength: 100 });
    const valid: fc.Arbitrary<ControlCommand> = fc.oneof(
      fc.record({ type: fc.constant('end' as const), meeting: id, reason: fc.string({ maxLength: 500 }) }),
      fc.record({ type: fc.constant('meeting-policy' as const), meeting: id, policy: fc.record({ hostCountry: code }), revision: fc.nat() }),
      fc.record({ type: fc.constant('unreachable' as const), meeting: id, pairs: fc.array(fc.record({ from: id, to: id, reason: fc.string({ minLength: 1, maxLength: 64 }) }), { maxLength: 3 }), names: fc.constant([]) }),
      fc.record({ type: fc.constant('relay' as const), meeting: id, from: id, url: fc.constantFrom('ws://127.0.0.1:9/signal', 'ws://[', 'wss://a#b'), ticket: id }),
    );
    const odd = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(-1, 0.5, 2 ** 53, '', 'x'.repeat(501), null, [], {}));
    const hostile = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      valid.map((c) => JSON.stringify(c)),
      fc.tuple(valid, fc.constantFrom('meeting', 'reason', 'policy', 'pairs', 'url', 'type', 'extra', '__proto__'), odd).map(([c, field, value]) => JSON.stringify({ ...c, [field]: value })),
      fc.constantFrom(`{"type":${deep(10_000)}}`, `{"type":"mls","meeting":"m","deliveries":[{"to":["p"],"message":{"type":${deep(10_000)}}}]}`, `{"type":"end","meeting":"m","reason":${deepObject(10_000)}}`, '{"type":"__proto__"}', '{"type":"end","meeting":"m","reason":"","__proto__":{"x":1}}'),
    );
    await fc.assert(
      fc.asyncProperty(hostile, async (commandJson) => {
        const got = await send((nonce) => signedFrame(nonce, 1, commandJson));
        const parsed = parseControlCommand(JSON.parse(commandJson));
        if (!parsed.ok) {
          expect(got, commandJson.slice(0, 200)).toEqual({ refused: expect.stringMatching(/^The control message is malformed/) as unknown });
          return;
        }
        // A policy without its manifest is refused; keys and the rest are applied.
        if (parsed.message.type === 'policy') expect(got).toEqual({ refused: expect.any(String) as unknown });
        else expect(got, commandJson.slice(0, 200)).toEqual({ taken: true });
        if (parsed.message.type !== 'policy' && parsed.message.type !== 'keys') expect(commands).toContainEqual(JSON.parse(commandJson));
      }),
      { numRuns: 150 },
    );
  }, 30_000);

  it('regressions, and what stays refused: null frames, deep commands, replays, a manifest that is not the one signed', async () => {
    // Before: refused with the raw TypeError "Cannot read properties of null (reading 'present')".
    expect(await send('null')).toEqual({ refused: 'a control frame is a JSON object' });
    // Before: refused with "Maximum call stack size exceeded" (a RangeError out of the command parser).
    expect(await send((nonce) => signedFrame(nonce, 1, `{"type":${deep(10_000)}}`))).toEqual({ refused: expect.stringMatching(/^The control message is malformed: claim 'command': unknown message type \(a list\)/) as unknown });
    // Another connection's nonce, and a seq not above the last: replays.
    expect(await send(await signedFrame('another-nonce-xxxxxxxxxxxx', 1, '{"type":"end","meeting":"m","reason":""}'))).toEqual({ refused: expect.stringMatching(/another bridge or connection/) as unknown });
    for (const seq of [0, -1]) {
      expect(await send((nonce) => signedFrame(nonce, seq, '{"type":"end","meeting":"m","reason":""}'))).toEqual({ refused: expect.stringMatching(/is not above 0: a replay/) as unknown });
    }
    // The manifest in force: one that is not the text signed, or does not parse, is refused; the right one makes the channel ready.
    const text = readFileSync(WORLD, 'utf8');
    const sha256 = createHash('sha256').update(text).digest('hex');
    const policy = (version: number, sha: string): string => JSON.stringify({ type: 'policy', version, sha256: sha });
    for (const [manifest, sha] of [[JSON.stringify(`${text}\n# changed`), sha256], ['5', sha256], [deep(10_000), sha256], [JSON.stringify('{{{'), createHash('sha256').update('{{{').digest('hex')]] as const) {
      expect(await send((nonce) => signedFrame(nonce, 1, policy(3, sha), `,"manifest":${manifest}`))).toEqual({ refused: expect.stringMatching(/^(the manifest does not match|manifest v3 does not parse)/) as unknown });
    }
    expect(channel.ready).toBe(false);
    expect(await send((nonce) => signedFrame(nonce, 1, policy(4, sha256), `,"manifest":${JSON.stringify(text)}`))).toEqual({ taken: true });
    expect(policies).toContain(4);
    // Unsigned `present` is the broker saying what it takes; keys revoke what they name.
    expect(await send('{"present":true,"mlsTickets":true}')).toEqual({ taken: true });
    expect(took).toContainEqual({ mlsTickets: true });
    expect(await send((nonce) => signedFrame(nonce, 1, '{"type":"keys","revoked":["__proto__","k0"]}'))).toEqual({ taken: true });
    expect(refusedKids).toContainEqual(['__proto__', 'k0']);
  }, 30_000);
});
