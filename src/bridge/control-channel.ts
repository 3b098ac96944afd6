/**
 * The bridge's end of the control channel (src/protocol/control-commands.ts):
 * one WebSocket to the broker that is both presence (the broker marks the
 * datacenter down the moment it drops) and the broker's command line to this
 * bridge. Commands are JWTs the broker signed, bound to this connection by a
 * fresh nonce and numbered; anything else closes the connection.
 *
 * Fail closed: the bridge admits nobody until the channel is up and has
 * delivered the manifest in force, and when the channel drops it stops
 * admitting at once and, after `graceMs` without it, stops forwarding
 * (`onCutOff`): a bridge the broker cannot reach must not go on carrying
 * media that a policy change may have forbidden meanwhile.
 *
 * With several brokers it connects to the one its link talks to now; a
 * connection that never became ready (refused, or closed before the
 * manifest came) moves the link to the next broker. The nonce and the
 * command numbering are per connection, so a new broker numbers its commands
 * from the start for the fresh nonce, and nothing of the old one's carries over.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { isObject } from '../core/fields.js';
import { parseManifest } from '../core/manifest/parse.js';
import type { Manifest } from '../core/manifest/types.js';
import { MAX_CONTROL_FRAME_BYTES, type ControlCommand } from '../protocol/control-commands.js';
import type { BrokerLink } from './broker-link.js';

/** The manifest in force, as the broker last sent it. */
export interface PolicyInForce {
  readonly manifest: Manifest;
  readonly version: number;
}

/** What the channel tells the bridge. */
export interface ControlHandlers {
  /** A (new) manifest is in force. */
  onPolicy(policy: PolicyInForce): void;
  /** The broker revoked signing keys (the link refuses them already): sessions admitted under them must go. */
  onKeysRevoked(): void;
  /** Any other command. */
  onCommand(command: Exclude<ControlCommand, { type: 'policy' | 'keys' }>): void;
  /** The channel has been down for the whole grace: stop forwarding. */
  onCutOff(): void;
  onLog(line: Readonly<Record<string, unknown>>): void;
}

/** Options of `ControlChannel`. */
export interface ControlChannelOptions {
  readonly link: BrokerLink;
  /** How long the bridge keeps forwarding without the channel. */
  readonly graceMs: number;
  /** Delay between reconnection attempts. */
  readonly retryMs?: number;
}

/** The presence and control connection; reconnects until closed. */
export class ControlChannel {
  readonly #options: ControlChannelOptions;
  readonly #handlers: ControlHandlers;
  /** This process: a new one tells the broker that whatever the old one held is gone. */
  readonly #boot = randomUUID();
  #socket: WebSocket | undefined;
  #policy: PolicyInForce | undefined;
  /** True while the channel is up and has delivered the manifest in force. */
  #ready = false;
  #cutOff: ReturnType<typeof setTimeout> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Resolved when the channel is next ready. */
  #readyWaiters: (() => void)[] = [];

  constructor(options: ControlChannelOptions, handlers: ControlHandlers) {
    this.#options = options;
    this.#handlers = handlers;
  }

  /** True when the bridge may admit: the channel is up and the policy in force is known. */
  get ready(): boolean {
    return this.#ready && !this.#closed;
  }

  /** The manifest in force, once received. */
  get policy(): PolicyInForce | undefined {
    return this.#policy;
  }

  /** Resolves when the channel is ready, or after `timeoutMs` (the bridge then refuses admissions until it is). */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Connects (and keeps reconnecting); the grace starts now, so a bridge that never reaches the broker never forwards. */
  open(): void {
    this.#startGrace();
    this.#connect();
  }

  /** Closes for good; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready = false;
    clearTimeout(this.#cutOff);
    clearTimeout(this.#retry);
    this.#socket?.close(1000, 'bridge closing');
  }

  /** Drops the connection as if the network had (the heartbeat saw the broker ahead of us); it reconnects. */
  reconnect(why: string): void {
    this.#handlers.onLog({ level: 'warn', msg: 'control channel reset', why });
    this.#socket?.terminate();
  }

  #connect(): void {
    if (this.#closed) return;
    const broker = this.#options.link.broker;
    const url = new URL('/v1/bridges/presence', broker);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const nonce = randomBytes(24).toString('base64url');
    const ws = new WebSocket(url, { maxPayload: MAX_CONTROL_FRAME_BYTES });
    this.#socket = ws;
    let lastSeq = 0;
    /** Whether this connection delivered the manifest in force; one that never did moves the link on. */
    let becameReady = false;
    let failure = 'closed before the manifest came';
    /** Frames are handled one after another: verification is async, and commands must apply in order. */
    let applying: Promise<void> = Promise.resolve();
    ws.on('open', () => {
      // mlsResync: this bridge passes the broker's `mls-resync` on; policyRevisions: it takes `meeting-policy` with its
      // `revision` (a broker sends each only to bridges that say so).
      this.#options.link.signed({ kind: 'presence', nonce, boot: this.#boot, graceMs: this.#options.graceMs, mlsResync: true, policyRevisions: true }).then(
        (hello) => {
          ws.send(hello);
        },
        () => {
          ws.close();
        },
      );
    });
    ws.on('message', (data: Buffer, isBinary) => {
      const text = isBinary ? '' : data.toString('utf8');
      applying = applying.then(async () => {
        if (ws !== this.#socket) return;
        try {
          lastSeq = await this.#apply(text, nonce, lastSeq);
          becameReady ||= this.#ready;
        } catch (error) {
          this.#handlers.onLog({ level: 'warn', msg: 'control frame refused', error: error instanceof Error ? error.message : String(error) });
          ws.close(1008, 'bad control frame');
        }
      });
    });
    ws.on('close', (code) => {
      if (ws !== this.#socket) return;
      if (this.#ready) this.#handlers.onLog({ level: 'warn', msg: 'control channel lost: admitting nobody; forwarding stops after the grace', graceMs: this.#options.graceMs });
      this.#ready = false;
      this.#startGrace();
      if (this.#closed) return;
      // A broker that was serving us gets one more try (a restart, a blip); one that could not is passed over.
      if (!becameReady) this.#options.link.failover(broker, `control channel: ${failure === 'closed before the manifest came' ? `${failure} (close code ${code})` : failure}`);
      this.#retry = setTimeout(() => { this.#connect(); }, this.#options.retryMs ?? 500);
    });
    ws.on('error', (error: Error & { code?: string }) => {
      failure = `connection failed (${error.code ?? error.message})`;
    });
  }

  /** Applies one frame; returns its `seq`. Throws on anything that is not a fresh, valid command for this connection. */
  async #apply(text: string, nonce: string, lastSeq: number): Promise<number> {
    const parsed: unknown = JSON.parse(text);
    // `null` or a number is JSON too: refused as such, not with the TypeError of reading a field of it.
    if (!isObject(parsed)) throw new Error('a control frame is a JSON object');
    const frame = parsed as { present?: unknown; mlsTickets?: unknown; control?: unknown; manifest?: unknown };
    if (frame.present === true) {
      this.#options.link.brokerTakes({ mlsTickets: frame.mlsTickets === true });
      return lastSeq;
    }
    if (typeof frame.control !== 'string') throw new Error('a control frame carries a signed `control` token');
    const claims = await this.#options.link.verifyControl(frame.control, nonce);
    if (claims.seq <= lastSeq) throw new Error(`control seq ${claims.seq} is not above ${lastSeq}: a replay`);
    const command = claims.command;
    if (command.type === 'policy') {
      if (typeof frame.manifest !== 'string' || createHash('sha256').update(frame.manifest).digest('hex') !== command.sha256) throw new Error('the manifest does not match the SHA-256 the broker signed');
      const manifest = parseManifest(frame.manifest, `manifest v${command.version}`).manifest;
      if (!manifest) throw new Error(`manifest v${command.version} does not parse`);
      this.#policy = { manifest, version: command.version };
      this.#options.link.adoptManifest(command.sha256, manifest);
      this.#ready = true;
      clearTimeout(this.#cutOff);
      this.#cutOff = undefined;
      this.#handlers.onPolicy(this.#policy);
      for (const wake of this.#readyWaiters.splice(0)) wake();
    } else if (command.type === 'keys') {
      // Refused and dropped at once; then the new JWKS (one that cannot be fetched now is fetched at the next unknown kid).
      this.#options.link.refuseKeys(command.revoked);
      if (command.revoked.length > 0) this.#handlers.onKeysRevoked();
      await this.#options.link.reloadKeys().catch((error: unknown) => {
        this.#handlers.onLog({ level: 'warn', msg: "the broker's keys changed but its JWKS could not be fetched again", error: error instanceof Error ? error.message : String(error) });
      });
    } else {
      this.#handlers.onCommand(command);
    }
    return claims.seq;
  }

  /** Counts down the grace, unless it is already counting. */
  #startGrace(): void {
    if (this.#closed || this.#cutOff !== undefined) return;
    this.#cutOff = setTimeout(() => {
      this.#cutOff = undefined;
      if (!this.#ready && !this.#closed) this.#handlers.onCutOff();
    }, this.#options.graceMs);
  }
}
