/**
 * What brokers that serve one deployment share through Redis (`serve --bus
 * redis://…`): events on one pub/sub channel (a bridge present on, or lost
 * by, some broker; its heartbeat reports; a new manifest or signing key; a
 * command for a bridge held by another broker), the last report of each
 * bridge for a broker that starts, and the bridges' replay guards.
 *
 * Redis holds nothing that cannot be rebuilt: reports come with the next
 * heartbeat, presence with the brokers' re-announcements, and a lost replay
 * guard reopens at most the 30 s a signed message lives. While Redis is away
 * a broker cannot know what the others saw, so it fails closed
 * (cluster.ts): commands here reject at once rather than queue.
 */
import { Redis } from 'ioredis';
import { GeobridgeError } from '../../core/errors.js';
import type { ControlCommand } from '../../protocol/control-commands.js';
import type { SeqGuard, SeqVerdict } from '../../protocol/bridge-message.js';
import type { BridgeReport } from '../registry.js';

/** What one broker tells the others. Each event names the broker it came from. */
export type BusEvent =
  | { readonly kind: 'present'; readonly broker: string; readonly datacenter: string; readonly boot: string }
  | { readonly kind: 'lost'; readonly broker: string; readonly datacenter: string }
  | { readonly kind: 'report'; readonly broker: string; readonly datacenter: string; readonly report: BridgeReport }
  | { readonly kind: 'policy'; readonly broker: string; readonly version: number }
  | { readonly kind: 'keys'; readonly broker: string }
  /** The sender has just joined or heard the bus again: every broker says again which bridges it holds. */
  | { readonly kind: 'sync'; readonly broker: string }
  /** For the bridge of `datacenter` ('*': every bridge), sent by whichever broker holds its presence connection. */
  | { readonly kind: 'command'; readonly broker: string; readonly datacenter: string; readonly command: ControlCommand };

/** A bridge's last report and when it was made (wall clock, ms). */
export interface StoredReport {
  readonly datacenter: string;
  readonly report: BridgeReport;
  readonly atMs: number;
}

/** Options of `RedisBus.connect`. */
export interface RedisBusOptions {
  /** This broker's name on the bus (unique per process). */
  readonly broker: string;
  /** Prefix of every key and channel, so deployments (and test runs) can share a server. */
  readonly prefix?: string;
  /** How long to wait for the first connection. */
  readonly connectTimeoutMs?: number;
}

const DEFAULT_PREFIX = 'geobridge';
/** Reports older than this are not worth keeping for a broker that starts: every heartbeat timeout is shorter. */
const REPORT_TTL_MS = 10 * 60_000;

/**
 * The anti-replay window of ReplayGuard (RFC 4303 §3.4.3) as one atomic
 * script: KEYS[1] the highest seq accepted, KEYS[2] the accepted seqs within
 * the window below it (a sorted set). Answers {1} for fresh, {0, highest}.
 */
const ADMIT_SEQ = `
local seq = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local highest = tonumber(redis.call('GET', KEYS[1]) or '-1')
if seq > highest then
  redis.call('SET', KEYS[1], seq)
  redis.call('ZADD', KEYS[2], seq, seq)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (seq - window))
  return {1}
end
if seq <= highest - window then return {0, highest} end
if redis.call('ZADD', KEYS[2], 'NX', seq, seq) == 1 then return {1} end
return {0, highest}
`;

/** Describes a Redis URL for messages: scheme, host and port, never a password. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}${u.port === '' ? '' : `:${u.port}`}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return 'the Redis URL';
  }
}

/** The bus on one Redis server: a connection for commands and one that only listens. */
export class RedisBus {
  readonly broker: string;
  readonly #prefix: string;
  readonly #commands: Redis;
  readonly #listener: Redis;
  readonly #where: string;
  readonly #handlers = new Set<(event: BusEvent) => void>();
  readonly #statusHandlers = new Set<(ready: boolean) => void>();
  #ready = false;
  #closed = false;

  private constructor(url: string, options: RedisBusOptions) {
    this.broker = options.broker;
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#where = describeRedisUrl(url);
    const common = {
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 5000,
      // Fail closed: a command while Redis is away rejects at once instead of waiting in a queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // At most a second between attempts: a broker back on the bus within a second of Redis is what "presence rebuilt in 5 s" needs.
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
    };
    this.#commands = new Redis(url, common);
    // The listener queues its SUBSCRIBE until it is connected, and ioredis subscribes again after each reconnect.
    this.#listener = new Redis(url, { ...common, enableOfflineQueue: true });
    for (const client of [this.#commands, this.#listener]) {
      client.on('ready', () => { this.#updateStatus(); });
      client.on('close', () => { this.#updateStatus(); });
      // Errors surface as a status change; ioredis would otherwise print each reconnection failure.
      client.on('error', () => undefined);
    }
    this.#listener.on('message', (_channel: string, text: string) => { this.#deliver(text); });
  }

  /** Connects both connections and subscribes; throws BUS_UNAVAILABLE if Redis does not answer. */
  static async connect(url: string, options: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(url, options);
    try {
      await Promise.all([bus.#commands.connect(), bus.#listener.connect()]);
      await bus.#listener.subscribe(bus.#channel);
    } catch (error) {
      await bus.close();
      throw bus.#unavailable(error);
    }
    bus.#updateStatus();
    return bus;
  }

  /** True while both connections are up (and so this broker hears what the others say). */
  get ready(): boolean {
    return this.#ready;
  }

  /** Calls `handler` with every event another broker publishes. */
  onEvent(handler: (event: BusEvent) => void): void {
    this.#handlers.add(handler);
  }

  /** Calls `handler` when the bus goes down (false) or comes back (true). */
  onStatus(handler: (ready: boolean) => void): void {
    this.#statusHandlers.add(handler);
  }

  /** Tells the other brokers. Rejects with BUS_UNAVAILABLE while Redis is away. */
  async publish(event: BusEvent): Promise<void> {
    await this.#run(() => this.#commands.publish(this.#channel, JSON.stringify(event)));
  }

  /** Keeps a bridge's last report for brokers that start later. */
  async saveReport(datacenter: string, report: BridgeReport, atMs: number): Promise<void> {
    const key = this.key('reports');
    await this.#run(() => this.#commands.multi().hset(key, datacenter, JSON.stringify({ report, atMs })).pexpire(key, REPORT_TTL_MS).exec());
  }

  /** Every bridge's last report. */
  async reports(): Promise<StoredReport[]> {
    const all = await this.#run(() => this.#commands.hgetall(this.key('reports')));
    const out: StoredReport[] = [];
    for (const [datacenter, text] of Object.entries(all)) {
      const parsed = parseJson(text) as { report?: BridgeReport; atMs?: number } | undefined;
      if (parsed?.report !== undefined && typeof parsed.atMs === 'number') out.push({ datacenter, report: parsed.report, atMs: parsed.atMs });
    }
    return out;
  }

  /** A replay guard shared by every broker on this bus; `scope` keeps apart sequences that are numbered apart (hellos, messages). */
  seqGuard(scope: string, window = 1024): SeqGuard {
    return {
      admit: async (datacenter: string, seq: number): Promise<SeqVerdict> => {
        const base = this.key(`seq:${scope}:${datacenter}`);
        const answer = (await this.#run(() => this.#commands.eval(ADMIT_SEQ, 2, base, `${base}:recent`, seq, window))) as number[];
        return answer[0] === 1 ? { fresh: true } : { fresh: false, highest: Number(answer[1]) };
      },
    };
  }

  /** The connection for commands, for libraries that take an ioredis client (the rate limits). */
  get client(): Redis {
    return this.#commands;
  }

  /** A key under this bus's prefix. */
  key(name: string): string {
    return `${this.#prefix}:${name}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.clear();
    this.#statusHandlers.clear();
    await Promise.all([this.#commands, this.#listener].map((c) => closeConnection(c)));
  }

  get #channel(): string {
    return this.key('events');
  }

  #deliver(text: string): void {
    const event = parseJson(text) as BusEvent | undefined;
    // Our own events were handled where they happened.
    if (event === undefined || typeof event.kind !== 'string' || event.broker === this.broker) return;
    for (const handler of this.#handlers) handler(event);
  }

  #updateStatus(): void {
    const ready = !this.#closed && this.#commands.status === 'ready' && this.#listener.status === 'ready';
    if (ready === this.#ready) return;
    this.#ready = ready;
    for (const handler of this.#statusHandlers) handler(ready);
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  #unavailable(error: unknown): GeobridgeError {
    return new GeobridgeError('BUS_UNAVAILABLE', `Redis at ${this.#where} does not answer (${error instanceof Error ? error.message : String(error)}); brokers refuse what needs the others' view until it is back. Check that Redis runs and that --bus names it.`, { cause: error });
  }
}

/** Says goodbye to a connection that is up; drops one that is not (and stops its reconnecting). */
async function closeConnection(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // Dropped below.
    }
  }
  client.disconnect();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
