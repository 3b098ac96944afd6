/**
 * The E2EE encoded transform in real Chromium, without a bridge: one page,
 * two RTCPeerConnections connected to each other over loopback, Chromium's
 * fake camera and microphone. The page loads src/sdk/sframe-peer.ts (bundled) and
 * the worker bundle the broker serves (buildE2eeWorker), from a tiny local
 * HTTP server (getUserMedia needs a secure context; 127.0.0.1 is one).
 *
 * - same keys on both sides: the receiver decodes video and audio, in either
 *   frame layout (src/sdk/sframe-transform.ts);
 * - a receiver whose keys come late decodes once they do;
 * - a wrong key on the receiver: no frame decoded, drops counted as authFailed;
 * - an observer with no keys taps the frames it receives: each is the VP8
 *   clear prefix (10 bytes on key frames, 3 on delta) followed by an SFrame
 *   header with the sender's KID; audio frames start with the header; and
 *   its receive transform can ask for a key frame (sendKeyFrameRequest), as
 *   the E2EE worker does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildE2eeWorker } from '../../src/broker/page-bundle.js';
import { startTestBroker } from '../../src/broker/test-broker.fixture.js';
import { kid } from '../../src/mls/kid.js';
import type * as E2ee from '../../src/sdk/sframe-peer.js';
import type { E2eeStats } from '../../src/sdk/sframe-peer.js';
import { decodeHeader } from '../../src/sframe/header.js';
import { launchChromium } from './chromium.fixture.js';

declare global {
  interface Window {
    e2ee: typeof E2ee;
  }
}

const SDK = fileURLToPath(new URL('../../src/sdk/', import.meta.url));

/** An observer's receive transform: records the first frames of each kind and passes none on. */
const TAP_WORKER = `
const seen = { audio: 0, video: 0 };
self.onrtctransform = (event) => {
  const t = event.transformer;
  const kind = t.options.kind;
  t.readable.pipeTo(new WritableStream({
    write(frame) {
      // Once, on the first video frame: can a receive transform ask for a key frame, as the E2EE worker does?
      if (kind === 'video' && seen.video === 0) {
        const api = typeof t.sendKeyFrameRequest;
        if (api !== 'function') self.postMessage({ kind: 'api', api, result: 'missing' });
        else t.sendKeyFrameRequest().then(() => self.postMessage({ kind: 'api', api, result: 'sent' }), (e) => self.postMessage({ kind: 'api', api, result: String(e && e.name) }));
      }
      if (seen[kind]++ >= 60) return;
      const bytes = new Uint8Array(frame.data);
      self.postMessage({ kind, type: frame.type ?? null, length: bytes.length, head: Array.from(bytes.subarray(0, 40)) });
    },
  }));
};`;

interface Scenario {
  readonly senderKey: number[];
  /** The receiver's key; null for an observer without keys that taps what it receives. */
  readonly receiverKey: number[] | null;
  readonly api?: 'script-transform' | 'encoded-streams';
  /** Both sides' frame layout (default 'split'). */
  readonly layout?: 'split' | 'whole';
  /** The receiver gets its keys this long after the call starts (default at once): its first frames cannot be decrypted. */
  readonly receiverKeysAfterMs?: number;
  /** Wait until video decodes, or this long. */
  readonly ms: number;
}

interface Outcome {
  readonly video: { framesDecoded: number; packetsReceived: number };
  readonly audio: { packetsReceived: number; totalSamplesReceived: number; concealedSamples: number };
  readonly sender: E2eeStats;
  readonly receiver: E2eeStats | null;
  readonly tapped: { kind: string; type: string | null; length: number; head: number[]; api?: string; result?: string }[];
}

let server: Server;
let base: string;
let context: BrowserContext;
let closeChromium: () => Promise<void>;
let page: Page;

beforeAll(async () => {
  const [worker, harness, chromium] = await Promise.all([
    buildE2eeWorker(),
    build({ stdin: { contents: "import * as e2ee from './sframe-peer.js';\nwindow.e2ee = e2ee;\n", resolveDir: SDK, loader: 'ts' }, bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2022', logLevel: 'silent' }),
    launchChromium(),
  ]);
  const files: Record<string, string> = {
    '/': '<!doctype html><meta charset="utf-8"><title>e2ee</title><script src="/harness.js"></script>',
    '/harness.js': harness.outputFiles[0]?.text ?? '',
    '/e2ee-worker.js': worker,
    '/tap-worker.js': TAP_WORKER,
  };
  server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': req.url === '/' ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ({ context, close: closeChromium } = chromium);
  page = await context.newPage();
  page.on('pageerror', (e) => {
    console.error('page error:', e.message);
  });
  await page.goto(base);
  await page.waitForFunction(() => typeof window.e2ee === 'object');
}, 45_000);

afterAll(async () => {
  await closeChromium();
  await new Promise((resolve) => server.close(resolve));
}, 30_000);

/** Runs one loopback call in the page: sender A (leaf 0) → receiver B (leaf 1, or a keyless observer). */
function call(scenario: Scenario): Promise<Outcome> {
  return page.evaluate(async ({ senderKey, receiverKey, api, layout = 'split', receiverKeysAfterMs = 0, ms }) => {
    const { enableE2ee, setKeys, e2eeStats } = window.e2ee;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240, frameRate: 15 } });
    // Chromium's insertable streams need this flag at construction (not in the DOM lib's RTCConfiguration).
    const config = (api === 'encoded-streams' ? { encodedInsertableStreams: true } : {}) as RTCConfiguration;
    const a = new RTCPeerConnection(config);
    const b = new RTCPeerConnection(config);
    a.onicecandidate = (e) => {
      if (e.candidate) void b.addIceCandidate(e.candidate);
    };
    b.onicecandidate = (e) => {
      if (e.candidate) void a.addIceCandidate(e.candidate);
    };
    const options = api === undefined ? {} : { api };
    const workers: Worker[] = [];
    const wa = new Worker('/e2ee-worker.js');
    workers.push(wa);
    enableE2ee(a, wa, options);
    await setKeys(wa, { epoch: 1, baseKey: new Uint8Array(senderKey), ownLeaf: 0, senders: [0, 1], layout });
    let wb: Worker | undefined;
    const tapped: Outcome['tapped'] = [];
    if (receiverKey) {
      wb = new Worker('/e2ee-worker.js');
      workers.push(wb);
      enableE2ee(b, wb, options);
      // Received audio is decoded only when played out: give it a (muted) sink.
      b.addEventListener('track', (e) => {
        if (e.track.kind !== 'audio') return;
        const sink = new Audio();
        sink.muted = true;
        sink.srcObject = new MediaStream([e.track]);
        void sink.play().catch(() => undefined);
      });
      const worker = wb;
      const install = (): Promise<unknown> => setKeys(worker, { epoch: 1, baseKey: new Uint8Array(receiverKey), ownLeaf: 1, senders: [0, 1], layout });
      if (receiverKeysAfterMs === 0) await install();
      else setTimeout(() => void install(), receiverKeysAfterMs);
    } else {
      const tap = new Worker('/tap-worker.js');
      workers.push(tap);
      tap.onmessage = (e: MessageEvent<Outcome['tapped'][number]>) => tapped.push(e.data);
      b.ontrack = (e) => {
        e.receiver.transform = new RTCRtpScriptTransform(tap, { kind: e.track.kind });
      };
    }
    // Added after enableE2ee: attached on negotiationneeded.
    for (const t of stream.getTracks()) a.addTransceiver(t, { direction: 'sendonly' });
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription ?? { type: 'offer' });
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription ?? { type: 'answer' });

    const inbound = async (): Promise<{ video: Outcome['video']; audio: Outcome['audio'] }> => {
      const out = { video: { framesDecoded: 0, packetsReceived: 0 }, audio: { packetsReceived: 0, totalSamplesReceived: 0, concealedSamples: 0 } };
      (await b.getStats()).forEach((s: { type: string; kind?: string; framesDecoded?: number; packetsReceived?: number; totalSamplesReceived?: number; concealedSamples?: number }) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind === 'video') out.video = { framesDecoded: s.framesDecoded ?? 0, packetsReceived: s.packetsReceived ?? 0 };
        if (s.kind === 'audio') out.audio = { packetsReceived: s.packetsReceived ?? 0, totalSamplesReceived: s.totalSamplesReceived ?? 0, concealedSamples: s.concealedSamples ?? 0 };
      });
      return out;
    };
    const deadline = Date.now() + ms;
    let media = await inbound();
    while (Date.now() < deadline && !(media.video.framesDecoded > 10 && media.audio.totalSamplesReceived > 48_000)) {
      await new Promise((r) => setTimeout(r, 200));
      media = await inbound();
    }
    const sender = await e2eeStats(wa);
    const receiver = wb ? await e2eeStats(wb) : null;
    a.close();
    b.close();
    for (const w of workers) w.terminate();
    for (const t of stream.getTracks()) t.stop();
    return { ...media, sender, receiver, tapped };
  }, scenario);
}

const KEY = Array.from({ length: 16 }, (_, i) => i + 1);
const WRONG_KEY = Array.from({ length: 16 }, (_, i) => 200 - i);

describe('the E2EE transform in Chromium (loopback, no bridge)', () => {
  it.each(['whole', 'split'] as const)('with the same keys on both sides, the receiver decodes video and audio (RTCRtpScriptTransform, %s layout)', async (layout) => {
    expect(await page.evaluate(() => window.e2ee.encodedTransformApi())).toBe('script-transform');
    const out = await call({ senderKey: KEY, receiverKey: KEY, layout, ms: 15_000 });
    console.log(`same keys, ${layout}:`, JSON.stringify({ video: out.video, audio: out.audio, sender: out.sender, receiver: out.receiver }));
    expect(out.video.framesDecoded).toBeGreaterThan(10);
    expect(out.audio.totalSamplesReceived).toBeGreaterThan(0);
    expect(out.audio.concealedSamples).toBeLessThan(out.audio.totalSamplesReceived / 2);
    expect(out.sender.encrypted.video).toBeGreaterThan(0);
    expect(out.sender.encrypted.audio).toBeGreaterThan(0);
    expect(out.receiver?.decrypted.video).toBeGreaterThan(0);
    expect(out.receiver?.decrypted.audio).toBeGreaterThan(0);
    // A frame the network delivers twice is dropped as a replay, as it must be; nothing else may fail.
    const { replay = 0, ...failures } = out.receiver?.dropped ?? {};
    expect(Object.values(failures).reduce((n, v) => n + v, 0)).toBe(0);
    expect(replay).toBeLessThan(5);
  }, 30_000);

  it('also through the createEncodedStreams fallback', async () => {
    const out = await call({ senderKey: KEY, receiverKey: KEY, api: 'encoded-streams', layout: 'whole', ms: 15_000 });
    console.log('same keys, encoded streams:', JSON.stringify({ video: out.video, audio: out.audio, receiver: out.receiver?.decrypted }));
    expect(out.video.framesDecoded).toBeGreaterThan(10);
    expect(out.audio.totalSamplesReceived).toBeGreaterThan(0);
    expect(out.receiver?.decrypted.audio).toBeGreaterThan(0);
  }, 30_000);

  it('a receiver whose keys come late decodes once they do', async () => {
    const out = await call({ senderKey: KEY, receiverKey: KEY, layout: 'whole', receiverKeysAfterMs: 2500, ms: 15_000 });
    // keyFrameRequests is 1 when the first frame it could decrypt was a delta, 0 when it was a key frame (which one comes first is the network's).
    console.log('late keys:', JSON.stringify({ video: out.video, receiver: out.receiver }));
    expect(out.receiver?.dropped.unknownKid).toBeGreaterThan(0); // held for the first keys, then given up
    expect(out.video.framesDecoded).toBeGreaterThan(10);
  }, 30_000);

  it('with a wrong key on the receiver, no frame is decoded and the drops are counted', async () => {
    const out = await call({ senderKey: KEY, receiverKey: WRONG_KEY, ms: 4000 });
    console.log('wrong key:', JSON.stringify({ video: out.video, audio: out.audio, receiver: out.receiver }));
    expect(out.video.packetsReceived).toBeGreaterThan(0);
    expect(out.video.framesDecoded).toBe(0);
    expect(out.receiver?.decrypted).toEqual({ audio: 0, video: 0 });
    expect(out.receiver?.dropped.authFailed).toBeGreaterThan(20);
  }, 30_000);

  it('what a keyless observer receives is the VP8 clear prefix, then an SFrame header with the sender’s KID', async () => {
    const out = await call({ senderKey: KEY, receiverKey: null, ms: 3000 });
    const video = out.tapped.filter((f) => f.kind === 'video');
    const audio = out.tapped.filter((f) => f.kind === 'audio');
    // The E2EE worker's key frame requests rest on this: a receive transform can ask its sender for one.
    expect(out.tapped.filter((f) => f.kind === 'api').map((f) => [f.api, f.result])).toEqual([['function', 'sent']]);
    expect(video.length).toBeGreaterThan(5);
    expect(audio.length).toBeGreaterThan(5);
    // The receiver's depacketizer found key frames from the clear prefix alone.
    expect(video.some((f) => f.type === 'key')).toBe(true);
    const senderKid = kid(1n, 0);
    for (const f of video) {
      const head = Uint8Array.from(f.head);
      const isKey = ((head[0] ?? 0) & 1) === 0;
      expect(f.type).toBe(isKey ? 'key' : 'delta');
      const prefix = isKey ? 10 : 3;
      if (isKey) expect([...head.subarray(3, 6)]).toEqual([0x9d, 0x01, 0x2a]); // the VP8 start code stays clear
      expect(decodeHeader(head.subarray(prefix)).kid).toBe(senderKid);
    }
    const ctrs = audio.map((f) => decodeHeader(Uint8Array.from(f.head)));
    for (const h of ctrs) expect(h.kid).toBe(senderKid);
    // CTRs are one counter per sender key, across audio and video: all distinct.
    expect(new Set(ctrs.map((h) => h.ctr)).size).toBe(ctrs.length);
  }, 30_000);

  it('the broker serves the worker bundle under a CSP that allows it as a worker', async () => {
    const broker = await startTestBroker({ config: { dev: true } });
    try {
      const res = await broker.app.inject({ method: 'GET', url: '/e2ee-worker.js' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/javascript');
      expect(res.headers['content-security-policy']).toContain("worker-src 'self'");
      expect(res.body).toContain('rtctransform');
      const html = await broker.app.inject({ method: 'GET', url: '/' });
      expect(html.headers['content-security-policy']).toContain("worker-src 'self'");
    } finally {
      await broker.close();
    }
  }, 30_000);
});
