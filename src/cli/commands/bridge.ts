/**
 * `geobridge bridge`: runs the media bridge of one datacenter until SIGINT
 * (stop at once) or SIGTERM (drain: stop admitting, tell clients to move,
 * exit when empty or after --drain-ms).
 */
import { readFileSync } from 'node:fs';
import { importJWK, type JWK } from 'jose';
import { GeobridgeError } from '../../core/errors.js';
import { isIceUrl, isRelayUrl } from '../../core/ice/rules.js';
import type { IceServer } from '../../protocol/signalling.js';
import { DEFAULT_CONTROL_GRACE_MS, startBridge } from '../../bridge/server.js';
import { MAX_BRIDGE_GRACE_MS } from '../../protocol/control-commands.js';
import { parseCommandArgs, splitList } from '../args.js';
import { EXIT, untilStopSignal, type Io } from '../io.js';

export const BRIDGE_HELP = `Usage: geobridge bridge --datacenter ID --broker URL[,URL…] --key FILE
                        [--listen 127.0.0.1:0] [--public-url ws://HOST:PORT/signal]
                        [--bind-address IP] [--announce IP,…] [--ports MIN-MAX]
                        [--ice-servers URL,…] [--turn-username U --turn-credential C]
                        [--video-bitrate BPS] [--heartbeat-ms N] [--drain-ms N]
                        [--control-grace-ms N]

Runs the media bridge (a WebRTC SFU) of one datacenter of the manifest. It
admits a participant only with a route ticket the broker signed that names
this datacenter and its jurisdiction, reports every admission and refusal to
the broker's audit log, and forwards Opus and VP8 between the participants
of each meeting. Its identity is the Ed25519 key the broker has configured
for the datacenter (--bridge-keys on 'geobridge serve').

Options:
  --datacenter ID       the manifest datacenter this bridge serves
  --broker URL[,URL…]   the broker, e.g. http://127.0.0.1:8080; or every broker of a deployment
                        that shares one store and bus (geobridge serve --store --bus), comma-
                        separated: the bridge talks to one at a time and moves to the next when
                        it stops answering (a line 'moving to another broker' says so)
  --key FILE            the bridge's private key: a JSON Ed25519 JWK
  --listen HOST:PORT    signalling (WebSocket) address; port 0 picks one (default 127.0.0.1:0)
  --public-url URL      the signalling URL clients use, if not ws://LISTEN/signal
  --bind-address IP     address the media (UDP) sockets bind to (default: all)
  --announce LIST       extra host addresses offered to clients (a public IP behind NAT)
  --ports MIN-MAX       UDP port range for media
  --ice-servers LIST    STUN/TURN servers this bridge uses (stun:, stuns:, turn:, turns: URLs), for
                        clients behind NATs or firewalls that block UDP to the bridge. Each must be
                        declared under this datacenter's 'ice' in the manifest, written exactly as
                        there: the bridge refuses to start otherwise (ICE_SERVER_NOT_DECLARED). A
                        participant is handed only those whose declared jurisdiction is inside
                        their own allowed set; declared servers not listed here are not handed out.
  --turn-username U     credentials for the turn:/turns: servers
  --turn-credential C   (env GEOBRIDGE_TURN_CREDENTIAL keeps it out of the process list)
  --video-bitrate BPS   cap on each publisher's video (default 1500000)
  --heartbeat-ms N      heartbeat period (default 1000; keep it under the broker's timeout / 3)
  --drain-ms N          how long SIGTERM waits for clients to move (default 10000)
  --control-grace-ms N  how long the bridge keeps its calls without its control channel to
                        the broker, then drops them (default 10000). Without the channel it
                        admits nobody: a policy change it cannot hear must not find it forwarding.

Examples (the keys come from 'geobridge up', or generate your own):
  geobridge bridge --datacenter us-east --broker http://127.0.0.1:8080 --key data/bridges/us-east.jwk
  # two brokers of one deployment:
  geobridge bridge --datacenter us-east --broker http://127.0.0.1:8080,http://127.0.0.1:8081 \\
      --key data/bridges/us-east.jwk
  # with the TURN server examples/world.yaml declares for us-east:
  GEOBRIDGE_TURN_CREDENTIAL=… geobridge bridge --datacenter us-east --broker http://127.0.0.1:8080 \\
      --key data/bridges/us-east.jwk --turn-username geobridge \\
      --ice-servers turn:turn.use1.example.com:3478,turns:turn.use1.example.com:5349
`;

/** Runs `bridge` until a signal; resolves to the exit code. */
export async function runBridge(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs('bridge', argv, {
    datacenter: { type: 'string' },
    broker: { type: 'string' },
    key: { type: 'string' },
    listen: { type: 'string' },
    'public-url': { type: 'string' },
    'bind-address': { type: 'string' },
    announce: { type: 'string' },
    ports: { type: 'string' },
    'video-bitrate': { type: 'string' },
    'ice-servers': { type: 'string' },
    'turn-username': { type: 'string' },
    'turn-credential': { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'drain-ms': { type: 'string' },
    'control-grace-ms': { type: 'string' },
  }, 0);
  if (values.help) {
    io.out(BRIDGE_HELP);
    return EXIT.ok;
  }
  const problems: string[] = [];
  const need = (name: string, value: string | undefined): string => {
    if (value === undefined) problems.push(`--${name} is required`);
    return value ?? '';
  };
  const int = (name: string, value: string | undefined, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`--${name} is '${value}'; it must be a whole number from ${min} to ${max}`);
    return n;
  };
  const datacenter = need('datacenter', values.datacenter);
  const brokers = splitList(need('broker', values.broker));
  const keyFile = need('key', values.key);
  for (const broker of brokers.filter((b) => !/^https?:\/\/\S+$/.test(b))) problems.push(`--broker has '${broker}'; write the broker's URL, e.g. http://127.0.0.1:8080 (several: comma-separated)`);
  const twice = brokers.filter((b, i) => brokers.indexOf(b) !== i);
  if (twice.length > 0) problems.push(`--broker names ${[...new Set(twice)].join(', ')} more than once`);
  if (values.broker !== undefined && brokers.length === 0) problems.push("--broker is empty; write the broker's URL, e.g. http://127.0.0.1:8080");
  const listen = values.listen ?? '127.0.0.1:0';
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  if (!match) problems.push(`--listen is '${listen}'; write HOST:PORT, e.g. 127.0.0.1:0`);
  const ports = values.ports === undefined ? undefined : /^(\d{1,5})-(\d{1,5})$/.exec(values.ports);
  if (ports === null || (ports && !(Number(ports[1]) < Number(ports[2]) && Number(ports[2]) <= 65535))) problems.push(`--ports is '${values.ports ?? ''}'; write MIN-MAX with MIN < MAX ≤ 65535, e.g. 40000-40999`);
  const iceServers = iceServersFrom(splitList(values['ice-servers']), values['turn-username'], values['turn-credential'] ?? process.env.GEOBRIDGE_TURN_CREDENTIAL, problems);
  const videoBitrate = int('video-bitrate', values['video-bitrate'], 1_500_000, 50_000, 50_000_000);
  const heartbeatMs = int('heartbeat-ms', values['heartbeat-ms'], 1000, 100, 60_000);
  const drainMs = int('drain-ms', values['drain-ms'], 10_000, 0, 600_000);
  const controlGraceMs = int('control-grace-ms', values['control-grace-ms'], DEFAULT_CONTROL_GRACE_MS, 0, MAX_BRIDGE_GRACE_MS);
  const privateJwk = keyFile ? await readPrivateJwk(keyFile, problems) : undefined;
  if (problems.length > 0 || !privateJwk || !match) {
    for (const p of problems) io.err(`error: ${p}.\n`);
    throw new GeobridgeError('USAGE', `bridge: ${problems.length} configuration problem(s) above; see 'geobridge bridge --help'.`);
  }
  const host = (match[1] ?? '127.0.0.1').replace(/^\[|\]$/g, '');
  const announced = splitList(values.announce);
  const bridge = await startBridge({
    datacenter,
    broker: brokers,
    privateJwk,
    host,
    port: Number(match[2]),
    ...(values['public-url'] !== undefined ? { publicUrl: values['public-url'] } : {}),
    media: {
      videoBitrate,
      ...(values['bind-address'] !== undefined ? { bindAddress: values['bind-address'] } : {}),
      ...(announced.length > 0 ? { announcedAddresses: announced } : {}),
      ...(ports ? { portRange: [Number(ports[1]), Number(ports[2])] as const } : {}),
    },
    iceServers,
    heartbeatMs,
    drainMs,
    controlGraceMs,
    log: (line) => {
      io.out(`${JSON.stringify({ time: new Date().toISOString(), datacenter, ...line })}\n`);
    },
  });
  io.err(`geobridge bridge for ${datacenter} listening on ${bridge.url}\n`);
  if ((await untilStopSignal()) === 'SIGTERM') {
    io.err('draining: clients are asked to move…\n');
    await bridge.drain();
  } else {
    await bridge.close();
  }
  return EXIT.ok;
}

/**
 * The bridge's private key from `--key`, checked to import (as the broker link will) before anything
 * listens: a key that passes a shape check but not the import would fail after the bridge opened its port.
 */
async function readPrivateJwk(keyFile: string, problems: string[]): Promise<JWK | undefined> {
  const shape = `it must hold the bridge's Ed25519 private JWK ({"kty":"OKP","crv":"Ed25519","x":…,"d":…}), as 'geobridge up' writes it`;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(keyFile, 'utf8'));
  } catch {
    problems.push(`--key ${keyFile} cannot be read as JSON; ${shape}`);
    return undefined;
  }
  const jwk = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JWK) : undefined;
  if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
    problems.push(`--key ${keyFile} is not an Ed25519 private JWK; ${shape}`);
    return undefined;
  }
  try {
    await importJWK(jwk, 'EdDSA');
  } catch {
    problems.push(`--key ${keyFile} does not import as an Ed25519 private key (its "x" or "d" is not base64url of 32 bytes, or they do not match); ${shape}`);
    return undefined;
  }
  return jwk;
}

/**
 * STUN servers as they are; TURN servers with the credentials (which they
 * need). Which of them a participant is handed is the manifest's say
 * (src/bridge/ice-servers.ts); startBridge refuses a URL it does not declare.
 */
function iceServersFrom(urls: readonly string[], username: string | undefined, credential: string | undefined, problems: string[]): IceServer[] {
  const bad = urls.filter((u) => !isIceUrl(u));
  if (bad.length > 0) problems.push(`--ice-servers has ${bad.join(', ')}; write stun:HOST:PORT, turn:HOST:PORT or turns:HOST:PORT URLs, exactly as the manifest declares them`);
  const turn = urls.filter((u) => isIceUrl(u) && isRelayUrl(u));
  const stun = urls.filter((u) => isIceUrl(u) && !isRelayUrl(u));
  if (turn.length > 0 && (username === undefined || credential === undefined)) problems.push('--ice-servers names a TURN server: give --turn-username and --turn-credential (or GEOBRIDGE_TURN_CREDENTIAL)');
  return [...(stun.length > 0 ? [{ urls: stun }] : []), ...(turn.length > 0 ? [{ urls: turn, ...(username !== undefined ? { username } : {}), ...(credential !== undefined ? { credential } : {}) }] : [])];
}
