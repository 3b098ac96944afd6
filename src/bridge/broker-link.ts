/**
 * A bridge's side of the broker's bridge API: signed heartbeats, placement
 * claims and admission reports (src/broker/routes/bridges.ts), and route
 * ticket checks against the broker's published keys.
 *
 * The broker refuses a message whose `seq` is not above the last one it
 * accepted from this datacenter, so messages leave one at a time, in `seq`
 * order. `seq` starts from the clock in microseconds so that a restarted
 * bridge continues above its previous life.
 */
import { createRemoteJWKSet, importJWK, type CryptoKey, type JWK } from 'jose';
import WebSocket from 'ws';
import { GeobridgeError } from '../core/errors.js';
import { signBridgeMessage } from '../broker/attestation.js';
import { verifyRouteTicket, type RouteTicketClaims } from '../broker/tickets.js';

/** What a heartbeat reports. */
export interface Load {
  readonly participants: number;
  readonly cpu: number;
  readonly draining: boolean;
}

/** The broker's answer to a placement claim. */
export interface ClaimResult {
  readonly won: boolean;
  readonly datacenter: string;
  readonly epoch: number;
}

/** Options of `BrokerLink.open`. */
export interface BrokerLinkOptions {
  readonly broker: string;
  readonly datacenter: string;
  readonly privateJwk: JWK;
  /** The signalling URL announced to the broker. */
  readonly url: string;
  /** Per request. */
  readonly timeoutMs?: number;
}

export class BrokerLink {
  readonly #options: BrokerLinkOptions;
  readonly #key: CryptoKey;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;
  #seq = Date.now() * 1000;
  #queue: Promise<unknown> = Promise.resolve();
  #jurisdiction: string | undefined;

  private constructor(options: BrokerLinkOptions, key: CryptoKey) {
    this.#options = options;
    this.#key = key;
    // Keys are cached by jose and refetched on an unknown kid (key rotation), at most every 30 s.
    this.#jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', options.broker), { cooldownDuration: 30_000, timeoutDuration: options.timeoutMs ?? 5000 });
  }

  static async open(options: BrokerLinkOptions): Promise<BrokerLink> {
    const key = await importJWK(options.privateJwk, 'EdDSA');
    if (!('type' in key)) throw new TypeError('an Ed25519 private JWK imports as a CryptoKey');
    return new BrokerLink(options, key);
  }

  /** The datacenter's jurisdiction as the broker's manifest gives it; known after the first heartbeat. */
  get jurisdiction(): string | undefined {
    return this.#jurisdiction;
  }

  async heartbeat(load: Load): Promise<void> {
    const answer = await this.#send('/v1/bridges/heartbeat', { kind: 'heartbeat', ...load, url: this.#options.url });
    if (typeof answer.jurisdiction === 'string') this.#jurisdiction = answer.jurisdiction;
  }

  /** Claims `meeting` for this datacenter if its placement is still at `expectedEpoch` (0: never placed). */
  async claim(meeting: string, expectedEpoch: number): Promise<ClaimResult> {
    const answer = await this.#send('/v1/bridges/placements', { kind: 'claim', meeting, expectedEpoch });
    return { won: answer.won === true, datacenter: String(answer.datacenter), epoch: Number(answer.epoch) };
  }

  /** Reports an admission with its ticket; the broker re-checks it against the policy in force and may refuse. */
  async admitted(participant: string, meeting: string, ticket: string): Promise<void> {
    await this.#send('/v1/bridges/admissions', { kind: 'admission', participant, meeting, outcome: 'admitted', ticket });
  }

  async refused(participant: string, meeting: string, reason: string): Promise<void> {
    await this.#send('/v1/bridges/admissions', { kind: 'admission', participant, meeting, outcome: 'refused', reason: reason.slice(0, 200) });
  }

  async left(participant: string, meeting: string): Promise<void> {
    await this.#send('/v1/bridges/admissions', { kind: 'admission', participant, meeting, outcome: 'left' });
  }

  /** Verifies a route ticket: the broker's signature, unexpired, naming this datacenter and its jurisdiction. */
  async verifyTicket(token: string): Promise<RouteTicketClaims> {
    const jurisdiction = this.#jurisdiction;
    if (jurisdiction === undefined) throw new GeobridgeError('BRIDGE_NOT_ENROLLED', 'this bridge has not heard from the broker yet; try again in a moment.');
    return verifyRouteTicket(this.#jwks, token, { now: new Date(), datacenter: this.#options.datacenter, jurisdiction });
  }

  /**
   * Keeps a presence connection open to the broker: when it drops (this
   * process dies), the broker marks the datacenter down at once. Reconnects
   * after `retryMs` until stopped; returns a function that closes it.
   */
  keepPresent(retryMs = 1000): () => void {
    let stopped = false;
    let socket: WebSocket | undefined;
    const connect = (): void => {
      if (stopped) return;
      const url = new URL('/v1/bridges/presence', this.#options.broker);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(url);
      socket = ws;
      ws.on('open', () => {
        // Signed in the same queue as every other message, so its seq is in order.
        const signed = this.#queue.then(() => this.#sign({ kind: 'presence' }));
        this.#queue = signed.catch(() => undefined);
        signed.then((message) => {
          ws.send(message);
        }, () => { ws.close(); });
      });
      ws.on('close', () => {
        if (!stopped) setTimeout(connect, retryMs).unref();
      });
      ws.on('error', () => undefined);
    };
    connect();
    return () => {
      stopped = true;
      socket?.close(1000, 'bridge closing');
    };
  }

  #sign(body: Readonly<Record<string, unknown>>): Promise<string> {
    return signBridgeMessage(this.#key, this.#options.datacenter, body, { now: new Date(), seq: ++this.#seq });
  }

  /** Signs and posts one message after the previous one is answered, so `seq` arrives in order. */
  #send(path: string, body: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>> {
    const next = this.#queue.then(async () => {
      const message = await this.#sign(body);
      const response = await fetch(new URL(path, this.#options.broker), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message }),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000),
      });
      const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (!response.ok) {
        const code = typeof answer.code === 'string' ? answer.code : `HTTP_${response.status}`;
        throw new GeobridgeError(code, typeof answer.message === 'string' ? answer.message : `the broker answered ${response.status} to ${path}`);
      }
      return answer;
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
