/**
 * Load held (issue 15): three brokers on one PostgreSQL database and one
 * Redis prefix, four bridges each given all three, and Node SDK participants
 * (`geobridge/sdk/node` rooms) joining meetings over a spread of time, each
 * publishing real RTP (a synthetic VP8-typed track: SRTP over DTLS over ICE
 * on loopback, as a camera would send). Every participant must connect in a
 * datacenter its fences allow, every meeting must be held on one datacenter
 * (as its participants, the bridges and the store each see it), nobody may
 * be refused, fail or drop, everyone must receive everyone else's media
 * while the calls are held, and broker and bridge memory must be flat.
 *
 * `npm test` runs the quick version (24 participants in 8 meetings joining
 * over 15 s, held 15 s: under a minute). `npm run soak` (GEOBRIDGE_SOAK=1)
 * runs the long one: 200 participants in 20 meetings joining over 60 s, held
 * 60 s with memory sampled every 5 s, progress lines, and a final JSON line
 * (`LOAD_HELD {...}`) of the figures: about 3 minutes.
 * GEOBRIDGE_SOAK_PARTICIPANTS, _MEETINGS, _JOIN_S, _HOLD_S and _PPS (RTP
 * packets a second each participant sends) change its size; _STALL_MS
 * blocks the brokers' and bridges' event loop that long every second, as a
 * loaded machine does, so that faults of a lagging loop show at a small size.
 *
 * Brokers and bridges run in this process; the participants in a child
 * process of their own (this file, run with CHILD_FLAG), so that the two
 * share no event loop (each gets a core of a 2-core machine) and this
 * process's memory is the brokers' and bridges' (plus the test runner's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MediaStreamTrack, RtpHeader, RtpPacket } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedJurisdictions, parseManifest } from '../src/core/index.js';
import { generateBridgeIdentity } from '../src/broker/attestation.js';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { startBridge, type RunningBridge } from '../src/bridge/server.js';
import { createRoom, type NodeRoom } from '../src/sdk/node/index.js';
import { deleteRedisKeys, eventually, freshDatabase, onDatabase, REDIS_URL, uniqueName } from './services.fixture.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const WORLD = fileURLToPath(new URL('../examples/world.yaml', import.meta.url));
const ADMIN = 'load-held-admin-token-0123456789';
const CHILD_FLAG = '--load-held-participants';
const SOAK = process.env.GEOBRIDGE_SOAK === '1';

/** A whole number from the environment (soak only), or `fallback`. */
function sized(name: string, fallback: number): number {
  const text = SOAK ? process.env[`GEOBRIDGE_SOAK_${name}`] : undefined;
  const n = Number(text);
  return text !== undefined && Number.isInteger(n) && n > 0 ? n : fallback;
}

const PLAN = Object.freeze({
  participants: sized('PARTICIPANTS', SOAK ? 200 : 24),
  meetings: sized('MEETINGS', SOAK ? 20 : 8),
  joinMs: sized('JOIN_S', SOAK ? 60 : 15) * 1000,
  holdMs: sized('HOLD_S', SOAK ? 60 : 15) * 1000,
  /** RTP packets a second each participant sends (200-byte payloads); the soak's report says what this machine carries. */
  packetsPerSecond: sized('PPS', SOAK ? 2 : 5),
  /** Milliseconds the brokers' and bridges' event loop is blocked every second (soak only; 0: never). */
  stallMs: SOAK ? sized('STALL_MS', 0) : 0,
  sampleEveryMs: 5000,
});

/**
 * The four datacenters with a bridge, and who joins their meetings. The
 * first participant of a meeting (its anchor) is from a country whose first
 * choice is that datacenter, so each bridge gets meetings; the others come
 * from anywhere the meeting's datacenter may serve, so most follow the
 * placement rather than their own first choice. With only these four up:
 * US → us-east, MX → us-west, CA → ca-central, the EEA → eu-west (and the
 * EEA fence keeps its participants out of the other three).
 */
const HOMES = [
  { datacenter: 'us-east', anchor: 'US', others: ['CA', 'MX', 'US', 'GB', 'JP'] },
  { datacenter: 'us-west', anchor: 'MX', others: ['US', 'CA', 'MX', 'JP', 'GB'] },
  { datacenter: 'ca-central', anchor: 'CA', others: ['US', 'MX', 'CA', 'GB', 'JP'] },
  { datacenter: 'eu-west', anchor: 'IE', others: ['DE', 'FR', 'NL', 'SE', 'IE'] },
] as const;
const DATACENTERS = HOMES.map((h) => h.datacenter);

/** Step deadlines: generous, for a loaded 2-core machine running other test files alongside. */
const START_LIMIT_MS = 60_000;
const CONNECT_LIMIT_MS = SOAK ? 180_000 : 90_000;
/** Two hundred participants connect at once on two cores: their media paths may take longer than the bridge's 30 s, as long as the test allows. */
const LOADED_CONNECT_MS = CONNECT_LIMIT_MS;
const MEDIA_LIMIT_MS = SOAK ? 120_000 : 60_000;

// ---------------------------------------------------------------- the participants' process

/** Parent → participants' process. */
type ToChild =
  | { readonly type: 'join'; readonly name: string; readonly broker: string; readonly token: string; readonly country: string; readonly pps: number; readonly ssrc: number }
  /** `collect`: after a full collection (memory samples), else as it is. */
  | { readonly type: 'report'; readonly collect?: boolean }
  | { readonly type: 'leave' };

/** What one participant was told, counted (events are not kept: a soak would hold them all). */
interface CallerReport {
  readonly name: string;
  /** The datacenter and jurisdiction of the latest `connected`. */
  datacenter?: string;
  jurisdiction?: string;
  connects: number;
  reconnects: number;
  /** `refused`/`failed` events and join rejections, with their codes. */
  readonly errors: string[];
  /** Attempts a bridge refused (the SDK goes on to the next): counted, reported. */
  bridgeRefusals: number;
  /** RTP packets received, by the sender's display name. */
  readonly received: Record<string, number>;
  /** The last few connection notices and the room's connection state: what a participant that never connects was doing. */
  readonly trail: string[];
  state: string;
}

/** Participants' process → parent. */
interface FromChild {
  readonly type: 'report';
  readonly callers: readonly CallerReport[];
  readonly heapUsedMiB: number;
  readonly rssMiB: number;
  readonly cpuMs: number;
}

/** A werift video track fed a VP8-typed RTP packet of 200 bytes `pps` times a second until stopped. */
function rtpSource(pps: number, ssrc: number): { readonly track: MediaStreamTrack; stop(): void } {
  const track = new MediaStreamTrack({ kind: 'video' });
  const payload = Buffer.alloc(200, ssrc & 0xff);
  let seq = 0;
  const timer = setInterval(() => {
    seq = (seq + 1) & 0xffff;
    track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: Math.round((seq * 90_000) / pps), ssrc, marker: true }), payload));
  }, 1000 / pps);
  return {
    track,
    stop: () => {
      clearInterval(timer);
    },
  };
}

/** Joins one participant as a Node SDK room; its report fills as events come. */
function joinRoom(m: Extract<ToChild, { type: 'join' }>): { report: CallerReport; room: NodeRoom; stop: () => void } {
  const source = rtpSource(m.pps, m.ssrc);
  const report: CallerReport = { name: m.name, connects: 0, reconnects: 0, errors: [], bridgeRefusals: 0, received: {}, trail: [], state: 'idle' };
  const names = new Map<string, string>();
  const room = createRoom({ broker: m.broker, token: m.token, country: m.country, e2ee: false, camera: source.track });
  room.on('*', (e) => {
    if (e.type === 'connected') {
      report.connects++;
      report.datacenter = e.datacenter;
      report.jurisdiction = e.jurisdiction;
    } else if (e.type === 'reconnecting') report.reconnects++;
    else if (e.type === 'refused' || e.type === 'failed') report.errors.push(`${e.type}:${e.code}`);
    else if (e.type === 'bridge-refused') {
      report.bridgeRefusals++;
      report.trail.push(`bridgeRefused@${e.datacenter}:${e.code}`);
      if (report.trail.length > 6) report.trail.shift();
    }
    else if (e.type === 'state') report.state = e.state.connection;
    else if (e.type === 'participant-joined') names.set(e.participant.id, e.participant.name);
    else if (e.type === 'track-added' && e.kind === 'video') {
      const peer = e.participant;
      e.track.onReceiveRtp.subscribe(() => {
        const name = names.get(peer) ?? peer;
        report.received[name] = (report.received[name] ?? 0) + 1;
      });
    } else if (e.type === 'notice') {
      const n = e.notice;
      report.trail.push(`${n.type}${'datacenter' in n ? `@${n.datacenter}` : ''}${'reason' in n ? `:${n.reason}` : ''}${'code' in n ? `:${n.code}` : ''}`);
      if (report.trail.length > 6) report.trail.shift();
    }
  });
  room.join().catch((error: unknown) => report.errors.push(`join:${(error as { code?: string }).code ?? String(error)}`));
  return {
    report,
    room,
    stop: () => {
      room.leave();
      source.stop();
    },
  };
}

/** The participants' process: joins whom the parent says, and reports on every request. */
function serveParticipants(): void {
  const rooms: ReturnType<typeof joinRoom>[] = [];
  const gc = runInNewContext('gc') as () => void;
  process.on('message', (m: ToChild) => {
    if (m.type === 'join') rooms.push(joinRoom(m));
    else if (m.type === 'report') {
      if (m.collect === true) gc();
      const usage = process.memoryUsage();
      const cpu = process.cpuUsage();
      const reply: FromChild = { type: 'report', callers: rooms.map((r) => r.report), heapUsedMiB: mib(usage.heapUsed), rssMiB: mib(usage.rss), cpuMs: (cpu.user + cpu.system) / 1000 };
      process.send?.(reply);
    } else {
      for (const r of rooms) r.stop();
      setTimeout(() => process.exit(0), 500);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

// ---------------------------------------------------------------- the test

/** The participants' process, from the parent's side: what it last reported, and how to ask for more. */
class Participants {
  readonly #child: ChildProcess;
  #latest: FromChild = { type: 'report', callers: [], heapUsedMiB: 0, rssMiB: 0, cpuMs: 0 };
  #answered = 0;
  #waiting: ((r: FromChild) => void)[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor() {
    // The child runs this TypeScript file through tsx, with gc exposed for its memory samples.
    this.#child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', THIS_FILE, CHILD_FLAG], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], cwd: fileURLToPath(new URL('..', import.meta.url)) });
    this.#child.on('message', (r: FromChild) => {
      this.#latest = r;
      this.#answered++;
      for (const resolve of this.#waiting.splice(0)) resolve(r);
    });
    // A fresh report every second: the checks poll the latest.
    this.#timer = setInterval(() => {
      this.#send({ type: 'report' });
    }, 1000);
  }

  get latest(): FromChild {
    return this.#latest;
  }

  /** Reports received so far. */
  get answered(): number {
    return this.#answered;
  }

  join(m: Extract<ToChild, { type: 'join' }>): void {
    this.#send(m);
  }

  /** A report made after this call (after a full collection when `collect`); rejects after 30 s without one. */
  fresh(collect = false): Promise<FromChild> {
    const next = new Promise<FromChild>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('the participants’ process did not report within 30 s'));
      }, 30_000);
      this.#waiting.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    this.#send({ type: 'report', collect });
    return next;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#send({ type: 'leave' });
    const kill = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
  }

  #send(m: ToChild): void {
    if (this.#child.connected) this.#child.send(m);
  }
}

interface MemorySample {
  readonly atMs: number;
  readonly heapUsedMiB: number;
  readonly rssMiB: number;
  /** The participants' process. */
  readonly participantsHeapUsedMiB: number;
  readonly participantsRssMiB: number;
}

function defineTest(): void {
  const manifest = (() => {
    const parsed = parseManifest(readFileSync(WORLD, 'utf8'), WORLD);
    if (!parsed.manifest) throw new Error('examples/world.yaml does not parse');
    return parsed.manifest;
  })();
  const jurisdictionOf = new Map(manifest.datacenters.map((d) => [d.id, d.jurisdiction]));
  // A full collection before each memory sample, so that samples compare live data, not garbage not yet collected.
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;

  const prefix = uniqueName('loadheld');
  const root = mkdtempSync(join(tmpdir(), 'geobridge-load-held-'));
  /** What afterAll undoes, last first: only what was started. */
  const cleanups: (() => Promise<unknown>)[] = [];
  let storeUrl = '';
  const brokers: RunningBroker[] = [];
  const bridges = new Map<string, RunningBridge>();
  let apiKey = '';
  const meetings: string[] = [];
  let participants: Participants | undefined;

  const log = (line: string): void => {
    if (SOAK) console.log(`[load-held] ${line}`);
  };

  const post = async (broker: RunningBroker, path: string, token: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(new URL(path, broker.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${path}: ${String(res.status)} ${JSON.stringify(json)}`);
    return json;
  };

  const startOn = (name: string): Promise<RunningBroker> => {
    const { settings, problems } = parseServeSettings(
      {
        manifest: WORLD,
        data: join(root, name),
        dev: true,
        listen: '127.0.0.1:0',
        store: storeUrl,
        bus: REDIS_URL,
        busPrefix: prefix,
        bridgeKeys: join(root, 'bridge-keys.yaml'),
        // Three brokers and four bridges share one event loop here: a late heartbeat is that loop's lag, not a lost bridge.
        heartbeatTimeoutMs: '30000',
        // Every participant comes from 127.0.0.1, which real clients would not: the per-address limits are not under test.
        rateLimitRequests: '1000000',
      },
      { GEOBRIDGE_ADMIN_TOKEN: ADMIN },
    );
    if (!settings) throw new Error(problems.join('\n'));
    // Only the four datacenters with a bridge are up, so every decision is among them.
    return startBroker({ ...settings, assumeBridgesUp: false }, false);
  };

  beforeAll(async () => {
    if (PLAN.stallMs > 0) {
      const stall = setInterval(() => {
        const until = performance.now() + PLAN.stallMs;
        while (performance.now() < until);
      }, 1000);
      cleanups.push(() => {
        clearInterval(stall);
        return Promise.resolve();
      });
    }
    const database = await freshDatabase('loadheld');
    storeUrl = database.url;
    cleanups.push(() => database.drop());
    cleanups.push(() => deleteRedisKeys(prefix));
    const identities = new Map<string, Awaited<ReturnType<typeof generateBridgeIdentity>>>();
    for (const dc of DATACENTERS) identities.set(dc, await generateBridgeIdentity());
    writeFileSync(join(root, 'bridge-keys.yaml'), DATACENTERS.map((dc) => `${dc}: ${identities.get(dc)?.publicKey ?? ''}\n`).join(''));
    for (const name of ['a', 'b', 'c']) {
      if (name !== 'a') {
        // One audit log, one log key: B and C start with A's.
        mkdirSync(join(root, name, 'keys'), { recursive: true, mode: 0o700 });
        copyFileSync(join(root, 'a', 'keys', 'log.pem'), join(root, name, 'keys', 'log.pem'));
      }
      const broker = await startOn(name);
      brokers.push(broker);
      cleanups.push(() => broker.close());
    }
    const urls = brokers.map((b) => b.url);
    for (const [i, dc] of DATACENTERS.entries()) {
      const privateJwk = identities.get(dc)?.privateJwk;
      if (!privateJwk) throw new Error(`no identity for ${dc}`);
      // All three brokers, each bridge starting with a different one: what one broker learns of the others' bridges comes over the bus.
      const bridge = await startBridge({ datacenter: dc, broker: [...urls.slice(i % 3), ...urls.slice(0, i % 3)], privateJwk, host: '127.0.0.1', port: 0, media: { bindAddress: '127.0.0.1', videoBitrate: 1_000_000 }, heartbeatMs: 1000, drainMs: 1000, connectTimeoutMs: LOADED_CONNECT_MS });
      bridges.set(dc, bridge);
      cleanups.push(() => bridge.close());
    }
    const first = brokers[0];
    if (!first) throw new Error('no broker');
    apiKey = String((await post(first, '/v1/accounts', ADMIN, { name: 'Load held', homeCountry: 'US' })).apiKey);
    for (let m = 0; m < PLAN.meetings; m++) meetings.push(String((await post(brokers[m % 3] ?? first, '/v1/meetings', apiKey, { title: `load ${String(m)}` })).id));
    for (const broker of brokers) {
      await eventually(`the four bridges live on ${broker.url}`, async () => ((await (await fetch(new URL('/readyz', broker.url))).json()) as { liveBridges?: number }).liveBridges === DATACENTERS.length, START_LIMIT_MS);
    }
    const child = new Participants();
    participants = child;
    cleanups.push(() => child.close());
    await eventually('the participants’ process answers', () => child.answered > 0, START_LIMIT_MS);
  }, 4 * START_LIMIT_MS);

  afterAll(async () => {
    for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }, 120_000);

  describe(`load held: ${String(PLAN.participants)} participants, ${String(PLAN.meetings)} meetings, 3 brokers on PostgreSQL + Redis, 4 bridges`, () => {
    it('connects everyone in-fence, holds each meeting on one datacenter, carries everyone’s RTP with no error, and memory stays flat', async () => {
      const child = participants;
      if (!child) throw new Error('no participants’ process');
      const started = performance.now();
      // How late this process's event loop (brokers and bridges) runs: what saturation looks like.
      const lag = monitorEventLoopDelay({ resolution: 20 });
      lag.enable();
      const lagMs = (): { p99: number; max: number } => ({ p99: Math.round(lag.percentile(99) / 1e6), max: Math.round(lag.max / 1e6) });

      // Who is who: participant i is in meeting i mod M, from the home's anchor country if among the first two, else from its others.
      const plan = Array.from({ length: PLAN.participants }, (_, i) => {
        const meeting = i % PLAN.meetings;
        const home = HOMES[meeting % HOMES.length] ?? HOMES[0];
        const country = i < 2 * PLAN.meetings ? home.anchor : (home.others[Math.floor(i / PLAN.meetings) % home.others.length] ?? home.anchor);
        return { name: `p${String(i).padStart(3, '0')}`, meeting, country };
      });
      const members = (m: number): readonly string[] => plan.filter((p) => p.meeting === m).map((p) => p.name);
      const reports = (): ReadonlyMap<string, CallerReport> => new Map(child.latest.callers.map((c) => [c.name, c]));
      const connected = (): number => child.latest.callers.filter((c) => c.connects > 0).length;
      const errorsOf = (): string[] => child.latest.callers.flatMap((c) => c.errors.map((e) => `${c.name} ${e}`));
      const mintErrors: string[] = [];

      // Joins spread evenly over the join window, by schedule (not by how fast the previous one connected).
      const gap = PLAN.joinMs / PLAN.participants;
      const mints: Promise<void>[] = [];
      for (const [i, p] of plan.entries()) {
        const due = started + i * gap;
        if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
        // Round robin: participant i routes through broker i mod 3, with a join token broker i+1 mod 3 minted.
        const via = brokers[i % 3];
        const issuer = brokers[(i + 1) % 3];
        if (!via || !issuer) throw new Error('no broker');
        mints.push(
          post(issuer, `/v1/meetings/${meetings[p.meeting] ?? ''}/join-tokens`, apiKey, { name: p.name }).then(
            (answer) => {
              child.join({ type: 'join', name: p.name, broker: via.url, token: String(answer.token), country: p.country, pps: PLAN.packetsPerSecond, ssrc: 10_000 + i });
            },
            (error: unknown) => {
              mintErrors.push(`${p.name} join token: ${String(error)}`);
            },
          ),
        );
        if (SOAK && (i + 1) % 20 === 0) log(`joining ${String(i + 1)}/${String(PLAN.participants)}, connected ${String(connected())}, ${String(Math.round((performance.now() - started) / 1000))} s, loop lag p99 ${String(lagMs().p99)} ms`);
      }
      await Promise.all(mints);
      expect(mintErrors).toEqual([]);
      const connectMs = await eventually(
        'every participant connected',
        () => {
          const errors = errorsOf();
          if (errors.length > 0) throw new Error(errors.join('; '));
          return connected() === PLAN.participants;
        },
        CONNECT_LIMIT_MS,
      ).catch((error: unknown) => {
        const stuck = child.latest.callers.filter((c) => c.connects === 0).map((c) => `${c.name}(${c.state}: ${c.trail.join(' ')})`);
        throw new Error(`${String(error)}; loop lag ${JSON.stringify(lagMs())} ms; connected ${String(connected())}/${String(PLAN.participants)}; errors: ${errorsOf().join('; ') || 'none'}; not connected: ${stuck.join('; ')}`);
      });
      log(`joined ${String(PLAN.participants)}/${String(PLAN.participants)}: all connected ${String(Math.round(connectMs))} ms after the last join was sent`);

      // Everyone receives everyone else's RTP in their meeting.
      const missing = (): string[] => {
        const now = reports();
        return plan.flatMap((p) => members(p.meeting).filter((q) => q !== p.name && (now.get(p.name)?.received[q] ?? 0) === 0).map((q) => `${q}→${p.name}`));
      };
      /** What the bridge holding the meeting knows of a pair without media (for the failure message). */
      const bridgeView = (pair: string): string => {
        const [sender = '', receiver = ''] = pair.split('→');
        const p = plan.find((x) => x.name === receiver);
        const dc = reports().get(receiver)?.datacenter ?? '';
        const room = bridges.get(dc)?.rooms.get(meetings[p?.meeting ?? -1] ?? '');
        const byName = (name: string) => [...(room?.participants.values() ?? [])].find((x) => x.name === name);
        const from = byName(sender);
        const to = byName(receiver);
        if (!from || !to) return `${pair}: ${[from ? '' : 'the sender', to ? '' : 'the receiver'].filter(Boolean).join(' and ')} not in the room on ${dc || '(none)'}`;
        const video = from.published.get('video');
        const out = to.outgoing.find((o) => o.publisher === from.id && o.slot === 'video');
        const sent = (out?.transceiver.sender as unknown as { packetCount?: number } | undefined)?.packetCount;
        return `${pair}: on ${dc} the sender's video is ${video?.track ? 'received' : 'not received'}, with an outlet to the receiver ${video?.outlets.has(to.id) ? 'yes' : 'no'}, its outgoing m-line ${out ? (out.primed ? 'answered' : 'not answered') : 'absent'}, ${String(sent)} packets sent on it; the receiver counted ${JSON.stringify(reports().get(receiver)?.received ?? {})}`;
      };
      /** Packets the bridge gets from a pair's sender, and writes to its outlet to the receiver, over `ms`. */
      const flow = async (pair: string, ms: number): Promise<string> => {
        const [sender = '', receiver = ''] = pair.split('→');
        const p = plan.find((x) => x.name === receiver);
        const room = bridges.get(reports().get(receiver)?.datacenter ?? '')?.rooms.get(meetings[p?.meeting ?? -1] ?? '');
        const byName = (name: string) => [...(room?.participants.values() ?? [])].find((x) => x.name === name);
        const video = byName(sender)?.published.get('video');
        const outlet = video?.outlets.get(byName(receiver)?.id ?? '');
        let inbound = 0;
        let outbound = 0;
        const a = video?.track?.onReceiveRtp.subscribe(() => {
          inbound++;
        });
        const b = outlet?.onReceiveRtp.subscribe(() => {
          outbound++;
        });
        await new Promise((r) => setTimeout(r, ms));
        a?.unSubscribe();
        b?.unSubscribe();
        return `${pair}: in ${String(ms)} ms the bridge got ${String(inbound)} packets from the sender (track ssrc ${String(video?.track?.ssrc)}) and wrote ${String(outbound)} to the receiver's outlet`;
      };
      await eventually('every participant receives RTP from every other in its meeting', () => missing().length === 0, MEDIA_LIMIT_MS).catch(async (error: unknown) => {
        const pairs = missing();
        const bySender = new Map<string, number>();
        for (const pair of pairs) bySender.set(pair.split('→')[0] ?? '', (bySender.get(pair.split('→')[0] ?? '') ?? 0) + 1);
        const flows = await Promise.all(pairs.slice(0, 4).map((pair) => flow(pair, 3000)));
        throw new Error(`${String(error)}; ${String(pairs.length)} pairs without media; receivers missing each sender: ${JSON.stringify(Object.fromEntries(bySender))}; ${pairs.slice(0, 8).map(bridgeView).join('; ')}; ${flows.join('; ')}`);
      });
      const received = (r: FromChild): number => r.callers.reduce((sum, c) => sum + Object.values(c.received).reduce((a, b) => a + b, 0), 0);
      log(`media: every pair receives, ${String(received(child.latest))} packets so far`);

      // Hold the calls: memory sampled every 5 s after a full collection; the level at a third of the hold is the warmed-up one.
      const sample = async (since: number): Promise<{ s: MemorySample; r: FromChild }> => {
        collect();
        const usage = process.memoryUsage();
        const r = await child.fresh(true);
        return { s: { atMs: Math.round(performance.now() - since), heapUsedMiB: mib(usage.heapUsed), rssMiB: mib(usage.rss), participantsHeapUsedMiB: r.heapUsedMiB, participantsRssMiB: r.rssMiB }, r };
      };
      const holdStart = performance.now();
      const cpuStart = process.cpuUsage();
      const first = await sample(holdStart);
      const samples: MemorySample[] = [first.s];
      let warm: MemorySample | undefined;
      let last = first.r;
      while (performance.now() - holdStart < PLAN.holdMs) {
        await new Promise((r) => setTimeout(r, Math.min(PLAN.sampleEveryMs, PLAN.holdMs - (performance.now() - holdStart))));
        const { s, r } = await sample(holdStart);
        samples.push(s);
        last = r;
        if (!warm && s.atMs >= PLAN.holdMs / 3) warm = s;
        log(`holding ${String(Math.round(s.atMs / 1000))} s: brokers+bridges heapUsed ${String(s.heapUsedMiB)} MiB, rss ${String(s.rssMiB)} MiB; participants heapUsed ${String(s.participantsHeapUsedMiB)} MiB; ${String(received(r) - received(first.r))} packets received in the hold`);
      }
      const cpu = process.cpuUsage(cpuStart);
      lag.disable();
      const heldMs = performance.now() - holdStart;
      const end = samples[samples.length - 1] ?? first.s;
      warm ??= end;
      const packetsInHold = received(last) - received(first.r);
      const final = reports();

      // The figures, whether or not the checks below pass.
      const perDatacenter: Record<string, { participants: number; meetings: number }> = {};
      for (const dc of DATACENTERS) perDatacenter[dc] = { participants: [...final.values()].filter((c) => c.datacenter === dc).length, meetings: [...(bridges.get(dc)?.rooms.values() ?? [])].filter((r) => r.participants.size > 0).length };
      const cores = (ms: number): number => Math.round((ms / heldMs) * 100) / 100;
      const brokersAndBridgesCpuMs = (cpu.user + cpu.system) / 1000;
      const participantsCpuMs = last.cpuMs - first.r.cpuMs;
      const figures = {
        soak: SOAK,
        participants: PLAN.participants,
        meetings: PLAN.meetings,
        joinSeconds: PLAN.joinMs / 1000,
        holdSeconds: Math.round(heldMs / 1000),
        packetsPerSecondEach: PLAN.packetsPerSecond,
        connected: connected(),
        errors: errorsOf().length,
        reconnects: [...final.values()].reduce((a, c) => a + c.reconnects, 0),
        bridgeRefusals: [...final.values()].reduce((a, c) => a + c.bridgeRefusals, 0),
        perDatacenter,
        rtpPacketsReceived: received(last),
        rtpPacketsReceivedPerSecondInHold: Math.round((packetsInHold * 1000) / heldMs),
        rtpPacketsPerSecondExpected: plan.reduce((a, p) => a + members(p.meeting).length - 1, 0) * PLAN.packetsPerSecond,
        cpuCoresInHold: { brokersAndBridges: cores(brokersAndBridgesCpuMs), participants: cores(participantsCpuMs) },
        cpuMsPerParticipantSecond: { brokersAndBridges: Math.round((brokersAndBridgesCpuMs / (heldMs / 1000) / PLAN.participants) * 100) / 100, participants: Math.round((participantsCpuMs / (heldMs / 1000) / PLAN.participants) * 100) / 100 },
        loopLagMs: lagMs(),
        heapUsedMiB: { warm: warm.heapUsedMiB, end: end.heapUsedMiB, max: Math.max(...samples.map((s) => s.heapUsedMiB)) },
        rssMiB: { warm: warm.rssMiB, end: end.rssMiB, max: Math.max(...samples.map((s) => s.rssMiB)) },
        participantsHeapUsedMiB: { warm: warm.participantsHeapUsedMiB, end: end.participantsHeapUsedMiB },
        samples: SOAK ? samples : undefined,
        totalSeconds: Math.round((performance.now() - started) / 1000),
      };
      console.log(`LOAD_HELD ${JSON.stringify(figures)}`);

      expect(errorsOf()).toEqual([]);
      expect([...final.values()].filter((c) => c.reconnects > 0).map((c) => c.name)).toEqual([]);
      // In-fence: each connected in a datacenter whose jurisdiction its fences allow (the one decider's answer for its country, under a US host).
      for (const p of plan) {
        const c = final.get(p.name);
        const jurisdiction = jurisdictionOf.get(c?.datacenter ?? '');
        expect(c?.jurisdiction, `${p.name} in ${c?.datacenter ?? '-'}`).toBe(jurisdiction);
        expect(allowedJurisdictions(manifest, { country: p.country, hostCountry: 'US' }), `${p.name} from ${p.country} in ${c?.datacenter ?? '-'}`).toContain(jurisdiction);
      }
      // One datacenter per meeting: as its participants see it, as the bridges hold it, and as the store placed it.
      const placed = await onDatabase(storeUrl, async (db) => new Map((await db.query<{ meeting_id: string; datacenter: string }>('SELECT meeting_id, datacenter FROM placements')).rows.map((r) => [r.meeting_id, r.datacenter])));
      const homes = new Set<string>();
      for (let m = 0; m < PLAN.meetings; m++) {
        const id = meetings[m] ?? '';
        const seen = [...new Set(members(m).map((name) => final.get(name)?.datacenter))];
        expect(seen, `datacenters of meeting ${String(m)}`).toHaveLength(1);
        const dc = seen[0] ?? '';
        homes.add(dc);
        expect(DATACENTERS.filter((d) => (bridges.get(d)?.rooms.get(id)?.participants.size ?? 0) > 0), `bridges holding meeting ${String(m)}`).toEqual([dc]);
        expect(bridges.get(dc)?.rooms.get(id)?.participants.size, `meeting ${String(m)} on ${dc}`).toBe(members(m).length);
        expect(placed.get(id), `placement of meeting ${String(m)}`).toBe(dc);
      }
      expect([...homes].sort()).toEqual([...DATACENTERS].sort());
      // Media held: every participant received more during the hold.
      const before = new Map(first.r.callers.map((c) => [c.name, Object.values(c.received).reduce((a, b) => a + b, 0)]));
      expect([...final.values()].filter((c) => Object.values(c.received).reduce((a, b) => a + b, 0) <= (before.get(c.name) ?? 0)).map((c) => c.name)).toEqual([]);
      // Memory flat: the brokers' and bridges' live heap (after a full collection) at the end of the hold is within
      // 25 % + 32 MiB of its level at a third of it. Measured runs move by < 4 MiB (84 → 87 MiB in the quick run,
      // loaded or not), so the bound is far from noise; what it catches is a leak per packet or per participant that
      // grows through the hold: the soak forwards ~3,600 packets/s, so keeping 1 KiB a packet adds ~140 MiB over
      // its last 40 s. Smaller leaks need a longer hold (GEOBRIDGE_SOAK_HOLD_S) and the samples' slope, which the
      // soak prints.
      expect(end.heapUsedMiB).toBeLessThanOrEqual(warm.heapUsedMiB * 1.25 + 32);
      // RSS shrinks only when the allocator returns pages: bounded loosely.
      expect(end.rssMiB).toBeLessThanOrEqual(warm.rssMiB * 1.5 + 64);
    }, CONNECT_LIMIT_MS + MEDIA_LIMIT_MS + PLAN.joinMs + PLAN.holdMs + 60_000);
  });
}

if (process.argv.includes(CHILD_FLAG)) serveParticipants();
else defineTest();
