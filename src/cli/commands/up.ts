/**
 * `geobridge up` (`npm start`): the all-in-one local deployment. On loopback
 * and embedded defaults it starts the broker (dev mode, SQLite under the data
 * directory) and one bridge process per datacenter of the manifest, with
 * bridge keys generated once into DATA/bridges/, creates a demo account and
 * meeting, and prints the link to open. Ctrl-C drains the bridges and stops
 * everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GeobridgeError } from '../../core/errors.js';
import { parseManifest } from '../../core/manifest/parse.js';
import { generateBridgeIdentity } from '../../broker/attestation.js';
import { parseServeSettings } from '../../broker/config.js';
import { startBroker, type RunningBroker } from '../../broker/server.js';
import { parseCommandArgs, splitList } from '../args.js';
import { DEFAULT_MANIFEST, EXIT, untilStopSignal, type Io } from '../io.js';

/** world.yaml's datacenters that `up` runs by default: two in North America, two in the EEA, China's enclave, a government one. */
const SHOWCASE: readonly string[] = ['us-east', 'us-west', 'eu-west', 'eu-central', 'cn-beijing', 'us-gov-east'];

export const UP_HELP = `Usage: geobridge up [--manifest FILE] [--listen 127.0.0.1:8080] [--data ./data]
                    [--datacenters ID,… | --all]

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
`;

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
  const { values } = parseCommandArgs('up', argv, { manifest: { type: 'string' }, listen: { type: 'string' }, data: { type: 'string' }, datacenters: { type: 'string' }, all: { type: 'boolean' } });
  if (values.help) {
    io.out(UP_HELP);
    return EXIT.ok;
  }
  const manifestPath = values.manifest ?? DEFAULT_MANIFEST;
  const dataDir = values.data ?? './data';
  const parsed = parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath);
  if (!parsed.manifest) throw new GeobridgeError('INVALID_MANIFEST', `${manifestPath} does not parse; run 'geobridge check ${manifestPath}'.`);
  const all = parsed.manifest.datacenters.map((d) => d.id);
  if (values.all === true && values.datacenters !== undefined) throw new GeobridgeError('USAGE', 'up: give --datacenters or --all, not both.');
  const showcase = SHOWCASE.every((d) => all.includes(d)) ? SHOWCASE : all;
  const wanted = values.all === true ? all : values.datacenters === undefined ? showcase : splitList(values.datacenters);
  const unknown = wanted.filter((d) => !all.includes(d));
  if (unknown.length > 0) throw new GeobridgeError('USAGE', `up: --datacenters names ${unknown.join(', ')}, which ${manifestPath} does not define.`);

  const keysFile = await bridgeKeys(join(dataDir, 'bridges'), all);
  const { settings, problems } = parseServeSettings(
    { manifest: manifestPath, listen: values.listen ?? '127.0.0.1:8080', data: dataDir, dev: true, bridgeKeys: keysFile, heartbeatTimeoutMs: String(HEARTBEAT_TIMEOUT_MS) },
    { GEOBRIDGE_ADMIN_TOKEN: env.GEOBRIDGE_ADMIN_TOKEN },
  );
  if (!settings) throw new GeobridgeError('USAGE', `up: ${problems.join(' ')}`);
  let running = false;
  io.err('starting the broker…\n');
  // Datacenters without a bridge are down here, as in production: a participant is told what is missing.
  const broker = await startBroker({ ...settings, assumeBridgesUp: false }, { level: env.GEOBRIDGE_LOG_LEVEL ?? 'warn' }, (type, data) => {
    const line = running ? eventLine(type, data) : undefined;
    if (line !== undefined) io.err(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  });
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  // Listening from here, not from after the link is printed: a SIGTERM that came in between (a script that
  // stops `up` as soon as it is up) killed this process with its bridges still running, orphaned.
  const stopSignal = untilStopSignal();
  try {
    io.err(`broker on ${broker.url}; starting ${wanted.length} of ${all.length} bridges at once (${wanted.join(', ')})${wanted.length < all.length ? '; --all for every one' : ''}…\n`);
    await Promise.all(
      wanted.map(async (dc) => {
        const child = await startBridgeProcess(dc, broker.url, join(dataDir, 'bridges', `${dc}.jwk`));
        children.set(dc, child);
        io.err(`  bridge ${dc.padEnd(14)} pid ${String(child.pid ?? '?').padEnd(7)} ${children.size}/${wanted.length} listening\n`);
        child.once('exit', (code, signal) => {
          if (!stopping) io.err(`bridge ${dc} (pid ${child.pid ?? '?'}) exited (${signal ?? `code ${code ?? '?'}`}); its meetings move to the next datacenter inside their fences.\n`);
        });
      }),
    );
    const invite = await demoMeeting(broker);
    running = true;
    io.out(`\ngeobridge is up (${((performance.now() - started) / 1000).toFixed(1)} s). Open this link in two browser tabs to start a call:\n\n  ${broker.url}/join#invite=${invite}\n\nCtrl-C stops everything.\n`);
    await stopSignal;
  } finally {
    stopping = true;
    io.err('stopping: bridges drain, then the broker closes…\n');
    await Promise.all([...children.values()].map((c) => stopChild(c)));
    await broker.close();
  }
  return EXIT.ok;
}

/** The line `up` prints for an audited event worth watching live, if any. */
function eventLine(type: string, data: Readonly<Record<string, unknown>>): string | undefined {
  const text = (key: string): string => (typeof data[key] === 'string' ? data[key] : '?');
  switch (type) {
    case 'bridge.lost':
      return `datacenter ${text('datacenter')} down: its bridge's connection to the broker dropped`;
    case 'bridge.enrolled':
      return `datacenter ${text('datacenter')} up: its bridge enrolled at ${text('url')}`;
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
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lines: string[] = [];
  for (const dc of datacenters) {
    const keyFile = join(dir, `${dc}.jwk`);
    if (!existsSync(keyFile)) writeFileSync(keyFile, JSON.stringify((await generateBridgeIdentity()).privateJwk), { mode: 0o600 });
    const jwk = JSON.parse(readFileSync(keyFile, 'utf8')) as { x: string };
    lines.push(`${dc}: ${jwk.x}`);
  }
  const file = join(dir, 'public-keys.yaml');
  writeFileSync(file, `# Bridge public keys, generated by 'geobridge up'.\n${lines.join('\n')}\n`);
  return file;
}

/** Spawns `geobridge bridge` for `datacenter` and resolves once it listens. */
function startBridgeProcess(datacenter: string, broker: string, keyFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'bridge', '--datacenter', datacenter, '--broker', broker, '--key', keyFile, '--bind-address', '127.0.0.1', '--heartbeat-ms', String(HEARTBEAT_MS), '--drain-ms', '2000'], {
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
