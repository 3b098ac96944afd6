/**
 * A bridge's side of the broker's bridge API: signed heartbeats, placement
 * claims, admission reports and ticket renewals (src/broker/routes/bridges.ts),
 * route ticket and control message checks against the broker's published
 * keys (minus those the broker revoked), relay ticket checks against the
 * bridge keys the broker publishes, and the proof of identity the bridge
 * gives its clients.
 *
 * The broker refuses a message whose `seq` it has seen (a window of 1,024
 * below the highest it accepted), so up to 16 messages are in flight at once.
 * `seq` starts from the clock in microseconds so that a restarted bridge
 * continues above its previous life.
 *
 * Several brokers of one deployment (a shared store and bus) are equals: the
 * link talks to one at a time and moves to the next when a request gets no
 * answer or a 502/503/504. The request is then signed again with a fresh
 * `seq` and sent there: the brokers share one replay guard, and the dead one
 * may have accepted the old `seq` before it died.
 */
import { performance } from 'node:perf_hooks';
import { createRemoteJWKSet, decodeProtectedHeader, errors, importJWK, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { allowedIceServers } from '../core/ice/allowed.js';
import { RecentManifests } from '../core/manifest/recent.js';
import type { DeclaredIceServer, Manifest } from '../core/manifest/types.js';
import type { MeetingPolicy } from '../core/select/meeting-policy.js';
import type { GroupStatus, MlsEntry } from '../mls/relay.js';
import { BridgeKeysAnswer } from '../protocol/answers.js';
import { signBridgeMessage } from '../protocol/bridge-message.js';
import { signBridgeProof } from '../protocol/bridge-proof.js';
import { verifyControlMessage, type ControlMessageClaims } from '../protocol/control-message.js';
import { keyRevokedError } from '../protocol/jwt.js';
import { parseAnswer } from '../protocol/parse-answer.js';
import { verifyRelayTicket, type RelayTicketClaims } from '../protocol/relay-ticket.js';
import { ticketJurisdictions, verifyRouteTicket, type RouteTicketClaims } from '../protocol/route-ticket.js';
import type { GroupMember, MlsHolding, MlsJoinedMessage, MlsSubmitMessage } from '../protocol/signalling.js';
import { Lanes } from './lanes.js';

/** What a heartbeat reports. */
export interface Load {
  readonly participants: number;
  readonly cpu: number;
  /** The share of the time since the last heartbeat that the event loop was busy (0–1). */
  readonly loop?: number;
  readonly draining: boolean;
  /** The MLS groups this bridge orders that someone showed they hold (the operator console shows them). */
  readonly groups?: readonly ({ readonly meeting: string } & GroupStatus)[];
}

/** The broker's answer to a placement claim: where the meeting lives now. */
export interface ClaimResult {
  readonly won: boolean;
  readonly datacenter: string;
}

/** The broker's answer for one ticket of a renewal: the fresh ticket, or why not. */
export type RenewalResult =
  | { readonly participant: string; readonly meeting: string; readonly ok: true; readonly ticket: string }
  | { readonly participant: string; readonly meeting: string; readonly ok: false; readonly code: string; readonly message: string };

/** Options of `BrokerLink.open`. */
export interface BrokerLinkOptions {
  /** The broker, or the brokers of one deployment in the order to try them. */
  readonly broker: string | readonly string[];
  readonly datacenter: string;
  readonly privateJwk: JWK;
  /** The signalling URL announced to the broker. */
  readonly url: string;
  /** Per request (and per broker tried). */
  readonly timeoutMs?: number;
  /** Where the link says that it moved to another broker, and why. */
  readonly log?: (line: Readonly<Record<string, unknown>>) => void;
}

/** The broker's answer to an admission. */
export interface Admitted {
  readonly policy: MeetingPolicy;
  /** The host account's policy revision the broker read it at (absent from an older broker): meeting-policies.ts. */
  readonly revision?: number;
  /** In a cascaded meeting: how the participant enters the meeting's one MLS group, and its members on every bridge. */
  readonly group?: { readonly entry: MlsEntry; readonly members: readonly GroupMember[] };
}

/** Answers that mean "this broker cannot serve now", not "no": the next broker may. */
const FAILOVER_STATUSES = new Set([502, 503, 504]);

/** The brokers of `broker` as a list, in order. */
export function brokerList(broker: string | readonly string[]): readonly string[] {
  return typeof broker === 'string' ? [broker] : broker;
}

/** How many manifests a bridge keeps by hash: tickets live minutes, manifests change far more rarely. */
const RECENT_MANIFESTS = 8;
/** Messages to the broker at once: far inside its replay window (1,024 seqs), which takes them out of order. */
const MESSAGES_IN_FLIGHT = 16;
/** How soon the broker's bridge keys are fetched again for a key they lack (a bridge added or re-keyed since): a ticket cannot make the bridge ask more often. */
const BRIDGE_KEYS_COOLDOWN_MS = 30_000;
/**
 * How long the broker's bridge keys are believed even when a ticket's key
 * matches them: a bridge the operator re-keyed (its old key lost or stolen)
 * is refused by the other bridges within this, not at their next restart.
 */
const BRIDGE_KEYS_MAX_AGE_MS = 60_000;
/** Reports of refused unverifiable tickets sent at once (`refusedUnverified`). */
const UNVERIFIED_IN_FLIGHT = 16;

export class BrokerLink {
  readonly #options: BrokerLinkOptions;
  readonly #key: CryptoKey;
  readonly #brokers: readonly string[];
  /** The broker talked to now: an index into `#brokers`. */
  #current = 0;
  /** Each broker's JWKS, made when first used: every broker publishes every broker's keys, so the current one's verifies all. */
  readonly #jwksSets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  /** Kids the broker revoked: refused before the JWKS is asked, whatever jose still caches. */
  readonly #revoked = new Set<string>();
  #seq = Date.now() * 1000;
  readonly #lanes = new Lanes(MESSAGES_IN_FLIGHT);
  #jurisdiction: string | undefined;
  /** The broker said, on the presence socket, that it takes a member's route ticket with its MLS messages (one from before would refuse them). */
  #takesMlsTickets = false;
  /** The manifests the broker has sent, by SHA-256, newest last: a ticket names the one it was issued under. */
  readonly #manifests = new RecentManifests(RECENT_MANIFESTS);
  /** Every datacenter's bridge key (`x`) as the broker publishes it (GET /v1/bridges/keys), and when it was fetched (monotonic ms). */
  #bridgeKeys: { readonly at: number; readonly keys: Promise<ReadonlyMap<string, string>> } | undefined;
  #unverifiedInFlight = 0;
  #unverifiedDropped = 0;

  private constructor(options: BrokerLinkOptions, key: CryptoKey) {
    this.#options = options;
    this.#key = key;
    this.#brokers = brokerList(options.broker);
  }

  /** Imports the bridge's key; refuses an empty broker list. */
  static async open(options: BrokerLinkOptions): Promise<BrokerLink> {
    if (brokerList(options.broker).length === 0) throw new GeobridgeError('USAGE', 'a bridge needs at least one broker URL');
    const key = await importJWK(options.privateJwk, 'EdDSA');
    if (!('type' in key)) throw new TypeError('an Ed25519 private JWK imports as a CryptoKey');
    return new BrokerLink(options, key);
  }

  /** The datacenter's jurisdiction as the broker's manifest gives it; known after the first heartbeat. */
  get jurisdiction(): string | undefined {
    return this.#jurisdiction;
  }

  /** The broker talked to now (the presence connection goes there too). */
  get broker(): string {
    return this.#brokers[this.#current] ?? '';
  }

  /** Every broker the link may use, in order. */
  get brokers(): readonly string[] {
    return this.#brokers;
  }

  /**
   * `from` failed (`why`): the link moves to the broker after it, unless it
   * has moved already (another request saw the same failure first). Answers
   * the broker the link uses now.
   */
  failover(from: string, why: string): string {
    if (this.#brokers.length > 1 && this.broker === from) {
      this.#current = (this.#current + 1) % this.#brokers.length;
      this.#options.log?.({ level: 'warn', msg: 'moving to another broker', from, to: this.broker, why });
    }
    return this.broker;
  }

  /** The current broker's JWKS. Keys are cached by jose and refetched on an unknown kid (key rotation), at most every 30 s. */
  get #jwks(): ReturnType<typeof createRemoteJWKSet> {
    const broker = this.broker;
    let set = this.#jwksSets.get(broker);
    if (!set) {
      set = createRemoteJWKSet(new URL('/.well-known/jwks.json', broker), { cooldownDuration: 30_000, timeoutDuration: this.#options.timeoutMs ?? 5000 });
      this.#jwksSets.set(broker, set);
    }
    return set;
  }

  /** Reports load; answers the broker's policy version (the bridge checks its control channel keeps up). */
  async heartbeat(load: Load): Promise<number> {
    const answer = await this.#send('heartbeat', '/v1/bridges/heartbeat', { kind: 'heartbeat', ...load, url: this.#options.url });
    if (typeof answer.jurisdiction === 'string') this.#jurisdiction = answer.jurisdiction;
    return Number(answer.policyVersion);
  }

  /** Claims `meeting` for this datacenter on behalf of the participant whose ticket it presents; the broker holds it to the meeting's policy. */
  async claim(meeting: string, ticket: string): Promise<ClaimResult> {
    const answer = await this.#send(`claim ${meeting}`, '/v1/bridges/placements', { kind: 'claim', meeting, ticket });
    return { won: answer.won === true, datacenter: String(answer.datacenter) };
  }

  /**
   * Reports an admission with its ticket (and, in a cascaded meeting, the MLS
   * group the participant carries, or that it takes no part); the broker
   * re-checks it against the policy in force and may refuse. Answers the
   * policy the meeting is held to and, in a cascaded meeting, how the
   * participant enters the group the broker orders.
   */
  async admitted(participant: string, meeting: string, ticket: string, replaced: boolean, group?: { carried: MlsHolding | undefined; encrypts: boolean }): Promise<Admitted> {
    const carried = group?.carried;
    const answer = await this.#send(`${meeting} ${participant}`, '/v1/bridges/admissions', {
      kind: 'admission',
      participant,
      meeting,
      outcome: 'admitted',
      ticket,
      ...(replaced ? { replaced } : {}),
      ...(carried ? { mls: carried } : {}),
      ...(group?.encrypts === false ? { e2ee: false } : {}),
    });
    const policy = answer.policy as MeetingPolicy | undefined;
    if (policy?.hostCountry === undefined) throw new GeobridgeError('BRIDGE_ERROR', "the broker's admission answer carries no meeting policy");
    const entered = answer.group as Admitted['group'];
    const revision = typeof answer.policyRevision === 'number' && Number.isSafeInteger(answer.policyRevision) && answer.policyRevision >= 0 ? { revision: answer.policyRevision } : {};
    if (policy.cascade !== true) return { policy, ...revision };
    if (entered === undefined || !['found', 'continue', 'join', 'none'].includes(entered.entry) || !Array.isArray(entered.members)) throw new GeobridgeError('BRIDGE_ERROR', "the broker's admission answer to a cascaded meeting says nothing of its MLS group");
    return { policy, ...revision, group: entered };
  }

  /**
   * Passes a participant's MLS message in a cascaded meeting to the broker,
   * which orders the meeting's one group; after its admission, in order. Its
   * word that it holds the group and its key package go with its route
   * ticket, to a broker that takes it: a broker that restarted learns from
   * it who the member is (name, country) again.
   */
  async mls(participant: string, meeting: string, session: string, message: MlsSubmitMessage | MlsJoinedMessage, ticket: string): Promise<void> {
    const speaksAgain = this.#takesMlsTickets && (message.type === 'mls-joined' || message.kind === 'key-package');
    await this.#send(`${meeting} ${participant}`, '/v1/bridges/mls', { kind: 'mls', meeting, participant, session, message, ...(speaksAgain ? { ticket } : {}) });
  }

  /** What the broker said it takes, when it accepted this bridge's presence. */
  brokerTakes(abilities: { readonly mlsTickets: boolean }): void {
    this.#takesMlsTickets = abilities.mlsTickets;
  }

  /**
   * Reports a join whose ticket did not verify (who presented it is
   * unknown), without keeping the client waiting: these reports share one
   * lane, so a flood of forged tickets had each refusal wait for all before
   * it. At most UNVERIFIED_IN_FLIGHT are sent at once; past that a report is
   * dropped and counted in the next one's log line, so a flood neither
   * queues without end nor writes the audit log at its own pace.
   */
  refusedUnverified(reason: string): void {
    if (this.#unverifiedInFlight >= UNVERIFIED_IN_FLIGHT) {
      this.#unverifiedDropped++;
      return;
    }
    if (this.#unverifiedDropped > 0) {
      this.#options.log?.({ level: 'warn', msg: 'refusals of unverified tickets not reported to the broker (too many at once)', dropped: this.#unverifiedDropped });
      this.#unverifiedDropped = 0;
    }
    this.#unverifiedInFlight++;
    void this.refused('unknown', 'unknown', reason)
      .catch(() => undefined)
      .finally(() => {
        this.#unverifiedInFlight--;
      });
  }

  async refused(participant: string, meeting: string, reason: string): Promise<void> {
    await this.#send(`${meeting} ${participant}`, '/v1/bridges/admissions', { kind: 'admission', participant, meeting, outcome: 'refused', reason: reason.slice(0, 200) });
  }

  /** Reports a session gone: it left (`byChoice`: it said so), or (with `code`) the bridge removed it and why. */
  async left(participant: string, meeting: string, session: string, code?: string, reason?: string, byChoice = false): Promise<void> {
    await this.#send(`${meeting} ${participant}`, '/v1/bridges/admissions', {
      kind: 'admission',
      participant,
      meeting,
      outcome: 'left',
      session,
      ...(code !== undefined ? { code } : {}),
      ...(reason !== undefined ? { reason: reason.slice(0, 200) } : {}),
      ...(byChoice ? { byChoice } : {}),
    });
  }

  /** Tells the broker this bridge lost the hop `from` → here while both bridges live: the broker sends a fresh ticket if its plan still holds the hop. */
  async relayLost(meeting: string, from: string, reason: string): Promise<void> {
    await this.#send(`relay ${meeting} ${from}`, '/v1/bridges/relays/lost', { kind: 'relay-lost', meeting, from, reason: reason.slice(0, 200) });
  }

  /** Asks the broker to renew the tickets of participants still connected. */
  async renew(tickets: readonly string[]): Promise<RenewalResult[]> {
    const answer = await this.#send('renewals', '/v1/bridges/renewals', { kind: 'renewal', tickets });
    return Array.isArray(answer.results) ? (answer.results as RenewalResult[]) : [];
  }

  /** Verifies a control message from the broker for this bridge's presence connection `nonce`. */
  verifyControl(token: string, nonce: string): Promise<ControlMessageClaims> {
    return verifyControlMessage(this.#controlKeys, token, { now: new Date(), datacenter: this.#options.datacenter, nonce });
  }

  /** Refuses tokens signed by these kids from now on, whatever the JWKS cache still holds: the broker revoked them. */
  refuseKeys(revoked: readonly string[]): void {
    for (const kid of revoked) this.#revoked.add(kid);
  }

  /** Fetches the broker's JWKS again at once (its keys changed), not after jose's 30 s cooldown. */
  async reloadKeys(): Promise<void> {
    await this.#jwks.reload();
  }

  /** True when `token` (a ticket this bridge admitted) is signed by a key the broker revoked. */
  signedByRevokedKey(token: string): boolean {
    const { kid } = decodeProtectedHeader(token);
    return kid !== undefined && this.#revoked.has(kid);
  }

  /** The broker's published keys, but never a revoked one (KEY_REVOKED, as the broker's own key ring says). */
  readonly #keys: JWTVerifyGetKey = (header, token) => {
    if (header.kid !== undefined && this.#revoked.has(header.kid)) throw keyRevokedError(header.kid);
    return this.#jwks(header, token);
  };

  /**
   * `#keys`, fetching the JWKS again for a kid it does not know: after a
   * rotation the broker's next command is signed by the new key, and a
   * command comes only from the broker over this bridge's own connection,
   * so it may bypass the cooldown that protects against clients' tokens.
   */
  readonly #controlKeys: JWTVerifyGetKey = async (header, token) => {
    try {
      return await this.#keys(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      await this.#jwks.reload();
      return this.#keys(header, token);
    }
  };

  /** Signs the proof a client asked for with its `challenge`: this bridge holds the datacenter's key (and, to another bridge, runs its media over the DTLS certificate of `fingerprint`). */
  prove(challenge: string, participant: string, fingerprint?: string): Promise<string> {
    return signBridgeProof(this.#key, { datacenter: this.#options.datacenter, challenge, participant, at: Date.now(), fingerprint });
  }

  /** Signs `body` with this link's next `seq` without sending it (the presence hello). */
  signed(body: Readonly<Record<string, unknown>>): Promise<string> {
    return this.#sign(body);
  }

  /**
   * Verifies a route ticket: the broker's signature, unexpired, naming this
   * datacenter, issued under a manifest the broker has sent this bridge, and
   * allowing this datacenter's jurisdiction under it.
   */
  async verifyTicket(token: string): Promise<RouteTicketClaims> {
    const code = this.#jurisdiction;
    if (code === undefined) throw new GeobridgeError('BRIDGE_NOT_ENROLLED', 'this bridge has not heard from the broker yet; try again in a moment.');
    return verifyRouteTicket(this.#keys, token, { now: new Date(), datacenter: this.#options.datacenter, jurisdiction: { code, manifests: this.#manifests.bySha256 } });
  }

  /**
   * Verifies a relay ticket: the broker's signature, unexpired, with this
   * datacenter at the given end of the hop, its bridge key this bridge's,
   * and the other end's the key the broker publishes for that datacenter —
   * so a ticket signed with a stolen broker key cannot name a bridge key of
   * the thief's choosing.
   */
  async verifyRelayTicket(token: string, side: 'from' | 'to'): Promise<RelayTicketClaims> {
    const claims = await verifyRelayTicket(this.#keys, token, { now: new Date(), datacenter: { id: this.#options.datacenter, side } });
    const ours = side === 'from' ? claims.fromKey : claims.toKey;
    if (ours !== this.#options.privateJwk.x) {
      throw new GeobridgeError('RELAY_TICKET_INVALID', `The relay ticket names another key for ${this.#options.datacenter} than this bridge holds; check the broker's bridge key for it.`);
    }
    const [other, theirs] = side === 'from' ? [claims.to, claims.toKey] : [claims.from, claims.fromKey];
    const published = await this.#publishedBridgeKey(other, theirs);
    if (published !== theirs) {
      throw new GeobridgeError(
        'RELAY_TICKET_INVALID',
        published === undefined
          ? `The relay ticket is for a hop with ${other}, for which the broker publishes no bridge key (GET /v1/bridges/keys).`
          : `The relay ticket names another key for ${other} than the broker publishes for it (GET /v1/bridges/keys): it was not made for that datacenter's bridge.`,
      );
    }
    return claims;
  }

  /** The key the broker publishes for `datacenter`; fetched again when it is not `expected` (unless fetched within the cooldown), or older than the maximum age. */
  async #publishedBridgeKey(datacenter: string, expected: string): Promise<string | undefined> {
    const cached = this.#bridgeKeys;
    if (cached !== undefined) {
      const key = (await cached.keys).get(datacenter);
      const age = performance.now() - cached.at;
      if ((key === expected && age < BRIDGE_KEYS_MAX_AGE_MS) || age < BRIDGE_KEYS_COOLDOWN_MS) return key;
    }
    // Another check may have started a fetch meanwhile: share it.
    const fetching = this.#bridgeKeys !== cached && this.#bridgeKeys !== undefined ? this.#bridgeKeys : { at: performance.now(), keys: this.#fetchBridgeKeys() };
    this.#bridgeKeys = fetching;
    try {
      return (await fetching.keys).get(datacenter);
    } catch (error) {
      // Not cached: the next ticket asks again.
      if (this.#bridgeKeys === fetching) this.#bridgeKeys = undefined;
      throw error;
    }
  }

  async #fetchBridgeKeys(): Promise<ReadonlyMap<string, string>> {
    const url = new URL('/v1/bridges/keys', this.broker);
    let answer: unknown;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000) });
      if (!response.ok) throw new Error(`it answered ${response.status}`);
      answer = await response.json();
    } catch (error) {
      throw new GeobridgeError('BRIDGE_KEYS_UNAVAILABLE', `The broker's bridge keys (${url.href}) could not be fetched (${transportFailure(error)}), so a relay ticket's bridge keys cannot be checked; check that the bridge reaches the broker.`, { cause: error });
    }
    const { keys } = parseAnswer(BridgeKeysAnswer, answer, 'GET /v1/bridges/keys');
    return new Map(Object.entries(keys).map(([dc, jwk]) => [dc, jwk.x]));
  }

  /** A manifest the broker put in force (from the control channel, which checked its hash). */
  adoptManifest(sha256: string, manifest: Manifest): void {
    this.#manifests.adopt(sha256, manifest);
  }

  /** The jurisdictions a verified ticket allows (empty if its manifest has since been forgotten: fail closed). */
  ticketJurisdictions(claims: RouteTicketClaims): readonly string[] {
    const manifest = this.#manifests.bySha256(claims.manifest);
    return manifest ? ticketJurisdictions(manifest, claims) : [];
  }

  /**
   * The servers a verified ticket's allowance lists for this datacenter: the
   * broker's list, under the ticket's manifest and policy, which its `ice`
   * claim carries and the SDK holds a handout to (empty if its manifest has
   * since been forgotten: fail closed).
   */
  ticketIceAllowance(claims: RouteTicketClaims): readonly DeclaredIceServer[] {
    const manifest = this.#manifests.bySha256(claims.manifest);
    return manifest ? allowedIceServers(manifest, this.#options.datacenter, ticketJurisdictions(manifest, claims)) : [];
  }

  #sign(body: Readonly<Record<string, unknown>>): Promise<string> {
    return signBridgeMessage(this.#key, this.#options.datacenter, body, { now: new Date(), seq: ++this.#seq });
  }

  /**
   * Signs and posts one message after the previous one of its lane is
   * answered: what concerns one participant (or one meeting's claims, or
   * heartbeats) keeps its order, and nothing waits behind another
   * participant's report. The broker's replay window takes seqs out of order.
   */
  #send(lane: string, path: string, body: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>> {
    return this.#lanes.run(lane, async () => {
      // Each broker at most once per request; a failure that another request saw first moved the link already.
      const failures: string[] = [];
      for (let attempt = 0; attempt < this.#brokers.length; attempt++) {
        const broker = this.broker;
        const message = await this.#sign(body);
        let response: Response;
        try {
          response = await fetch(new URL(path, broker), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ message }),
            signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000),
          });
        } catch (error) {
          const why = `no answer to ${path} (${transportFailure(error)})`;
          failures.push(`${broker}: ${why}`);
          this.failover(broker, why);
          continue;
        }
        const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
        if (FAILOVER_STATUSES.has(response.status)) {
          const why = `${path} answered ${response.status}${typeof answer.code === 'string' ? ` ${answer.code}` : ''}`;
          this.failover(broker, why);
          // The last broker's own refusal is the error: its code says whether to try again later (STORE_UNAVAILABLE…).
          if (attempt + 1 < this.#brokers.length) {
            failures.push(`${broker}: ${why}`);
            continue;
          }
        }
        if (!response.ok) {
          const code = typeof answer.code === 'string' ? answer.code : `HTTP_${response.status}`;
          const said = typeof answer.message === 'string' ? answer.message : `the broker answered ${response.status} to ${path}`;
          throw new GeobridgeError(code, failures.length > 0 ? `${said} (${broker}, after ${failures.join('; ')})` : said);
        }
        return answer;
      }
      throw new GeobridgeError('BROKER_UNREACHABLE', `no broker answered ${path}: ${failures.join('; ')}`);
    });
  }
}

/** What went wrong with a request that got no answer, for a log line: the cause's code (ECONNREFUSED…) or the timeout. */
function transportFailure(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timed out';
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}
