/**
 * `geobridge up` (`npm start`): the all-in-one local deployment. On loopback
 * and embedded defaults it starts the broker (dev mode, SQLite under the data
 * directory) and one bridge process per datacenter of the manifest, with
 * bridge keys generated once into DATA/bridges/, creates a demo account and
 * meeting, and prints the link to open. Ctrl-C drains the bridges and stops
 * everything.
 *
 * With `--replicas N` it runs N brokers in this process, as one deployment
 * (a shared PostgreSQL store and Redis bus): on consecutive ports, each with
 * a data directory of its own, and gives every bridge all of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GeobridgeError } from '../../core/errors.js';
import { requireManifest } from '../manifest-file.js';
import { generateBridgeIdentity } from '../../broker/attestation.js';
import { parseBusUrl, parseServeSettings, parseStoreUrl, type ServeSettings } from '../../broker/config.js';
import { startBroker, type RunningBroker } from '../../broker/server.js';
import { parseCommandArgs, splitList } from '../args.js';
import { DEFAULT_MANIFEST, EXIT, untilStopSignal, type Io } from '../io.js';

/** world.yaml's datacenters that `up` runs by default: two in North America, two in the EEA, China's enclave, a government one. */
const SHOWCASE: readonly string[] = ['us-east', 'us-west', 'eu-west', 'eu-central', 'cn-beijing', 'us-gov-east'];

export const UP_HELP = `Usage: geobridge up [--manifest FILE] [--listen 127.0.0.1:8080] [--data ./data]
                    [--datacenters ID,… | --all]
                    [--replicas N --store postgres://… --bus redis://… [--bus-prefix NAME]]
                    [--record-stores ID=URL,…] [--cascade]

Starts a whole geobridge on this machine, for trying it out: the broker in
dev mode (a participant may choose "join as if from" a country, so routing
and fences behave as they would for a real client there) and bridge
processes, all on 127.0.0.1. Creates a demo meeting and prints its invite
link: open it in two browser tabs for a call. Kill a bridge process (the log
names each one's pid) and the call comes back on the next datacenter inside
the fence. Bridges going down and up, and meetings moving, are printed as
they happen. Ctrl-C stops everything.

With the bundled world.yaml it runs a handful of datacenters that show the
fences at work, so that it starts in seconds on a laptop:
  ${SHOWCASE.join(', ')}
The others are down, as they would be without a bridge: a participant whose
fence allows none of the running ones is refused, and told which it needed.

Options:
  --manifest FILE     default: the bundled examples/world.yaml
  --listen HOST:PORT  the broker and the meeting page (default 127.0.0.1:8080)
  --data DIR          SQLite store, audit log, keys (default ./data)
  --datacenters LIST  start bridges for these
  --all               start a bridge for every datacenter of the manifest
                      (world.yaml: 20 processes; about a minute and 3 GB)
  --replicas N        run N brokers (2 to 8) as one deployment, the way several
                      'geobridge serve' behind a load balancer share one store and
                      bus: on consecutive ports from --listen (8080, 8081, …), each
                      with its own data directory DATA/broker-1, DATA/broker-2, …
                      (broker-1's log key is copied into the others). Every bridge
                      is given all of them and moves to the next when its broker
                      stops answering. Needs --store and --bus
  --store URL         the PostgreSQL database the brokers share (store and audit log)
  --bus URL           the Redis the brokers share (presence, reports, control)
  --bus-prefix NAME   what the bus's keys start with (default geobridge), so that
                      deployments can share one Redis
  --cascade           meetings cascade: each participant on its own nearest
                      in-fence bridge, the bridges relaying what the fences allow,
                      one E2EE group across them (docs/cascading.md); one broker
                      only (not with --replicas or --bus)
  --record-stores LIST  a database for each record store the manifest declares
                      (stores:), as serve takes them: ID=postgres://… or ID=sqlite
                      (DATA/records-ID.sqlite; one broker only)
  --shed-at SHARE     load shedding, as serve takes it: a bridge whose event loop
                      is busy this share of the time (e.g. 0.9) takes no new
                      participants until it is 0.1 below (default: off)

Two brokers, with PostgreSQL and Redis running on this machine:
  createdb geobridge
  geobridge up --replicas 2 --store postgres://postgres@127.0.0.1:5432/geobridge \\
      --bus redis://127.0.0.1:6379
`;

/** At most this many brokers: each is a whole broker in this one process. */
const MAX_REPLICAS = 8;

const BIN = fileURLToPath(new URL('../../../bin/geobridge.js', import.meta.url));
const HEARTBEAT_MS = 400;
/**
 * A datacenter is down this long after its bridge's last heartbeat. A bridge that dies is down at once (its
 * presence connection drops), so this only catches a bridge that hangs: generous, because a laptop running
 * the broker, the bridges and a browser on two cores stalls for seconds, and a live bridge must not flap.
 */
const HEARTBEAT_TIMEOUT_MS = 10_000;

/** Runs `up` until SIGINT/SIGTERM; resolves to the exit code. */
export async function runUp(argv: readonly string[], io: Io, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  const started = performance.now();
  const { values } = parseCommandArgs('up', argv, {
    manifest: { type: 'string' },
    listen: { type: 'string' },
    data: { type: 'string' },
    datacenters: { type: 'string' },
    all: { type: 'boolean' },
    replicas: { type: 'string' },
    cascade: { type: 'boolean' },
    store: { type: 'string' },
    bus: { type: 'string' },
    'bus-prefix': { type: 'string' },
    'record-stores': { type: 'string' },
    'shed-at': { type: 'string' },
  }, 0);
  if (values.help) {
    io.out(UP_HELP);
    return EXIT.ok;
  }
  const manifestPath = values.manifest ?? DEFAULT_MANIFEST;
  const dataDir = values.data ?? './data';
  const manifest = requireManifest(manifestPath);
  const all = manifest.datacenters.map((d) => d.id);
  if (values.all === true && values.datacenters !== undefined) throw new GeobridgeError('USAGE', 'up: give --datacenters or --all, not both.');
  const showcase = SHOWCASE.every((d) => all.includes(d)) ? SHOWCASE : all;
  const wanted = values.all === true ? all : values.datacenters === undefined ? showcase : splitList(values.datacenters);
  const unknown = wanted.filter((d) => !all.includes(d));
  if (unknown.length > 0) throw new GeobridgeError('USAGE', `up: --datacenters names ${unknown.join(', ')}, which ${manifestPath} does not define.`);
  const brokers = brokerPlan(values, dataDir);
  if (brokers.problems.length > 0) {
    for (const p of brokers.problems) io.err(`error: ${p}\n`);
    throw new GeobridgeError('USAGE', `up: ${brokers.problems.length} configuration problem(s) above; see 'geobridge up --help'.`);
  }

  const keysFile = await bridgeKeys(join(dataDir, 'bridges'), all);
  const settingsOf = brokers.replicas.map((replica) => {
    const { settings, problems } = parseServeSettings(
      { manifest: manifestPath, listen: replica.listen, data: replica.dataDir, dev: true, bridgeKeys: keysFile, heartbeatTimeoutMs: String(HEARTBEAT_TIMEOUT_MS), store: values.store, bus: values.bus, busPrefix: values['bus-prefix'], recordStores: values['record-stores'], cascade: values.cascade, shedAt: values['shed-at'] },
      { GEOBRIDGE_ADMIN_TOKEN: env.GEOBRIDGE_ADMIN_TOKEN },
    );
    if (!settings) throw new GeobridgeError('USAGE', `up: ${problems.join(' ')}`);
    // Replicas share every log: a record store in one broker's data directory would split it.
    const local = [...(settings.recordStores ?? [])].filter(([, url]) => url === 'sqlite').map(([id]) => id);
    if (brokers.replicas.length > 1 && local.length > 0) throw new GeobridgeError('USAGE', `up: with --replicas, give record store(s) ${local.join(', ')} a PostgreSQL database the brokers share, not 'sqlite'.`);
    return settings;
  });
  let running = false;
  const replicated = settingsOf.length > 1;
  const brokersUp: RunningBroker[] = [];
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  // Listening from here, not from after the link is printed: a SIGTERM that came in between (a script that
  // stops `up` as soon as it is up) killed this process with its bridges still running, orphaned.
  const stopSignal = untilStopSignal();
  try {
    for (const [i, settings] of settingsOf.entries()) {
      io.err(replicated ? `starting broker ${i + 1} of ${settingsOf.length}…\n` : 'starting the broker…\n');
      // Brokers sharing a log sign it with one key: the first one's.
      if (i > 0) shareLogKey(settingsOf[0]?.dataDir ?? '', settings.dataDir);
      brokersUp.push(await startReplica(settings, env, io, replicated ? `[broker-${i + 1}] ` : '', () => running));
    }
    const urls = brokersUp.map((b) => b.url);
    const first = brokersUp[0];
    if (!first) throw new GeobridgeError('UP_FAILED', 'no broker started');
    io.err(`${replicated ? `brokers on ${urls.join(', ')}` : `broker on ${first.url}`}; starting ${wanted.length} of ${all.length} bridges at once (${wanted.join(', ')})${wanted.length < all.length ? '; --all for every one' : ''}…\n`);
    await Promise.all(
      wanted.map(async (dc) => {
        const child = await startBridgeProcess(dc, urls, join(dataDir, 'bridges', `${dc}.jwk`));
        children.set(dc, child);
        io.err(`  bridge ${dc.padEnd(14)} pid ${String(child.pid ?? '?').padEnd(7)} ${children.size}/${wanted.length} listening\n`);
        child.once('exit', (code, signal) => {
          if (!stopping) io.err(`bridge ${dc} (pid ${child.pid ?? '?'}) exited (${signal ?? `code ${code ?? '?'}`}); its meetings move to the next datacenter inside their fences.\n`);
        });
      }),
    );
    const invite = await demoMeeting(first);
    running = true;
    const brokerLines = replicated ? `Brokers (one deployment: one store, one bus):\n${brokersUp.map((b, i) => `  broker-${i + 1}  ${b.url}  (${settingsOf[i]?.dataDir ?? '?'})`).join('\n')}\n\n` : '';
    // The token's file, never the token: terminal output ends up in scrollback and logs.
    const tokenFrom = first.adminTokenFile ?? 'GEOBRIDGE_ADMIN_TOKEN';
    io.out(`\ngeobridge is up (${((performance.now() - started) / 1000).toFixed(1)} s). ${brokerLines}Open this link in two browser tabs to start a call:\n\n  ${first.url}/join#invite=${invite}\n\nThe operator console (log in with the admin token in ${tokenFrom}):\n\n  ${first.url}/console\n\nCtrl-C stops everything.\n`);
    await stopSignal;
  } finally {
    stopping = true;
    io.err(`stopping: bridges drain, then the broker${replicated ? 's close' : ' closes'}…\n`);
    await Promise.all([...children.values()].map((c) => stopChild(c)));
    for (const broker of brokersUp.reverse()) await broker.close();
  }
  return EXIT.ok;
}

/** One broker of the plan. */
interface Replica {
  readonly listen: string;
  readonly dataDir: string;
}

/**
 * Where each broker listens and keeps its data: one broker on --listen and
 * DATA, or with --replicas N, N on consecutive ports (each on a free one of
 * its own for port 0) and DATA/broker-<i>. Every problem is listed.
 */
function brokerPlan(values: { listen?: string | undefined; replicas?: string | undefined; store?: string | undefined; bus?: string | undefined }, dataDir: string): { replicas: readonly Replica[]; problems: readonly string[] } {
  const listen = values.listen ?? '127.0.0.1:8080';
  if (values.replicas === undefined) return { replicas: [{ listen, dataDir }], problems: [] };
  const problems: string[] = [];
  const n = Number(values.replicas);
  if (!Number.isInteger(n) || n < 2 || n > MAX_REPLICAS) problems.push(`--replicas is '${values.replicas}'; it must be a whole number from 2 to ${MAX_REPLICAS}`);
  // Brokers that share a bus must share their store and audit log: both are required, and neither may be SQLite.
  if (values.store === undefined) problems.push('--replicas needs --store postgres://…: the brokers share one store and audit log');
  else if (values.store === 'sqlite') problems.push("--replicas needs --store postgres://…, not 'sqlite': a SQLite store belongs to one broker");
  else parseStoreUrl(values.store, problems);
  if (values.bus === undefined) problems.push('--replicas needs --bus redis://…: the brokers share presence, reports and control through it');
  else parseBusUrl(values.bus, problems);
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[2]);
  if (!match || port > 65535) problems.push(`--listen is '${listen}'; write HOST:PORT, e.g. 127.0.0.1:8080`);
  else if (Number.isInteger(n) && port !== 0 && port + n - 1 > 65535) problems.push(`--listen port ${port} leaves no room for ${n} consecutive ports`);
  if (problems.length > 0 || !match) return { replicas: [], problems };
  const host = match[1] ?? '127.0.0.1';
  return { replicas: Array.from({ length: n }, (_, i) => ({ listen: `${host}:${port === 0 ? 0 : port + i}`, dataDir: join(dataDir, `broker-${i + 1}`) })), problems: [] };
}

/** Copies the first broker's log key into another's data directory (mode 600), over any key of its own. */
function shareLogKey(fromDataDir: string, toDataDir: string): void {
  const keys = join(toDataDir, 'keys');
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  const to = join(keys, 'log.pem');
  copyFileSync(join(fromDataDir, 'keys', 'log.pem'), to);
  chmodSync(to, 0o600);
}

/** Starts one broker, printing the audited events worth watching (with `label` when there are several) once `up` is running. */
function startReplica(settings: ServeSettings, env: Readonly<Record<string, string | undefined>>, io: Io, label: string, running: () => boolean): Promise<RunningBroker> {
  // Datacenters without a bridge are down here, as in production: a participant is told what is missing.
  return startBroker({ ...settings, assumeBridgesUp: false }, { level: env.GEOBRIDGE_LOG_LEVEL ?? 'warn' }, (type, data) => {
    const line = running() ? eventLine(type, data) : undefined;
    if (line !== undefined) io.err(`${new Date().toISOString().slice(11, 19)} ${label}${line}\n`);
  });
}

/** The line `up` prints for an audited event worth watching live, if any. */
function eventLine(type: string, data: Readonly<Record<string, unknown>>): string | undefined {
  const text = (key: string): string => (typeof data[key] === 'string' ? data[key] : '?');
  switch (type) {
    case 'bridge.lost':
      return `datacenter ${text('datacenter')} down: its bridge's connection to the broker dropped`;
    case 'bridge.enrolled':
      return `datacenter ${text('datacenter')} up: its bridge enrolled at ${text('url')}`;
    case 'bridge.load-shed':
      return data.shedding === true
        ? `datacenter ${text('datacenter')} full: its bridge's event loop is busy ${Math.round(Number(data.loop) * 100)} % of the time; new participants go elsewhere in their fences`
        : `datacenter ${text('datacenter')} takes participants again: its bridge's event loop is busy ${Math.round(Number(data.loop) * 100)} % of the time`;
    case 'placement.rehomed':
      return `meeting ${text('meeting')} moved from ${text('from')} to ${text('datacenter')}${typeof data.reason === 'string' ? ` (${data.reason})` : ''}`;
    case 'meeting.ended':
      return `meeting ${text('meeting')} ended: ${text('reason')}`;
    default:
      return undefined;
  }
}

/** The bridge keys: one Ed25519 identity per datacenter, generated once; returns the broker's public key file. */
async function bridgeKeys(dir: string, datacenters: readonly string[]): Promise<string> {
  // Private keys: the directory is this user's alone.
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new GeobridgeError('USAGE', `up: --data cannot hold the bridges' keys in '${dir}' (${(error as NodeJS.ErrnoException).code ?? String(error)}): give a directory, new or one 'geobridge up' used before, that this user may write.`, { cause: error });
  }
  const lines: string[] = [];
  for (const dc of datacenters) {
    const keyFile = join(dir, `${dc}.jwk`);
    if (!existsSync(keyFile)) writeFileSync(keyFile, JSON.stringify((await generateBridgeIdentity()).privateJwk), { mode: 0o600 });
    lines.push(`${dc}: ${keptPublicKey(keyFile)}`);
  }
  const file = join(dir, 'public-keys.yaml');
  writeFileSync(file, `# Bridge public keys, generated by 'geobridge up'.\n${lines.join('\n')}\n`);
  return file;
}

/** The public key (`x`) of a bridge key `up` generated earlier; one a crash truncated or a hand spoiled is refused, not replaced: it is the datacenter's identity. */
function keptPublicKey(keyFile: string): string {
  let jwk: unknown;
  try {
    jwk = JSON.parse(readFileSync(keyFile, 'utf8'));
  } catch {
    jwk = undefined;
  }
  const x = typeof jwk === 'object' && jwk !== null ? (jwk as { x?: unknown }).x : undefined;
  if (typeof x !== 'string') throw new GeobridgeError('USAGE', `up: ${keyFile} is not a bridge key 'geobridge up' wrote (an Ed25519 private JWK); restore it, or delete it to have a new identity generated for that datacenter.`);
  return x;
}

/** Spawns `geobridge bridge` for `datacenter`, given every broker, and resolves once it listens. */
function startBridgeProcess(datacenter: string, brokers: readonly string[], keyFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'bridge', '--datacenter', datacenter, '--broker', brokers.join(','), '--key', keyFile, '--bind-address', '127.0.0.1', '--heartbeat-ms', String(HEARTBEAT_MS), '--drain-ms', '2000'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let said = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new GeobridgeError('BRIDGE_START_FAILED', `the bridge for ${datacenter} did not start within 120 s: ${said.trim() || 'no output'}`));
    }, 120_000);
    child.stderr.on('data', (chunk: Buffer) => {
      said += chunk.toString('utf8');
      if (said.includes('listening on')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new GeobridgeError('BRIDGE_START_FAILED', `the bridge for ${datacenter} exited with code ${code ?? '?'}: ${said.trim() || 'no output'}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Creates a demo account and a fresh meeting in it, every run (the accounts of earlier runs stay in the data directory); returns its invite. */
async function demoMeeting(broker: RunningBroker): Promise<string> {
  const adminToken = broker.adminTokenFile ? readFileSync(broker.adminTokenFile, 'utf8').trim() : (process.env.GEOBRIDGE_ADMIN_TOKEN ?? '');
  const call = async (path: string, token: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(new URL(path, broker.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new GeobridgeError('UP_FAILED', `${path} answered ${res.status}: ${String(json.message)}`);
    return json;
  };
  const account = await call('/v1/accounts', adminToken, { name: 'Demo', homeCountry: 'US' });
  const meeting = await call('/v1/meetings', String(account.apiKey), { title: 'geobridge demo' });
  const invite = await call(`/v1/meetings/${String(meeting.id)}/invites`, String(account.apiKey), {});
  return String(invite.invite);
}
