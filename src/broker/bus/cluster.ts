/**
 * One broker among several: what it hears from the others on the bus
 * (redis-bus.ts) and what it tells them.
 *
 * - Presence: the broker holding a bridge's presence connection says so, and
 *   says when it loses it; a datacenter is down when the broker that last
 *   held its bridge lost it (an older holder's loss changes nothing).
 * - Reports: every heartbeat a broker accepts reaches the others' registries,
 *   so a route on any broker sees the same bridges.
 * - Control: a command for a bridge held elsewhere is forwarded to its
 *   holder, which signs it only if the shared store bears it out (the bus is
 *   not trusted with anything a fence depends on: whoever can write to Redis
 *   must not be able to widen a meeting's policy or end a meeting); a
 *   manifest or key change made on one broker is re-read from the store by
 *   the others, which pass it on to their own bridges.
 * - Fail closed: while the bus is away every datacenter is down here (no
 *   admission without presence) and /readyz says why; when it is back, this
 *   broker catches up (reports, manifest, keys) and announces its bridges.
 */
import { GeobridgeError } from '../../core/errors.js';
import { parseManifest } from '../../core/manifest/parse.js';
import type { ControlCommand } from '../../protocol/control-commands.js';
import type { PolicyHolder } from '../policy-holder.js';
import type { BridgeControl, ControlRelay } from '../control.js';
import type { KeyRing } from '../keys.js';
import type { BridgeReport, BridgeRegistry } from '../registry.js';
import { meetingPolicyOf } from '../route-request.js';
import type { Store } from '../store/store.js';
import type { BusEvent, RedisBus } from './redis-bus.js';

/** What the cluster link works on: the broker's own parts. */
export interface ClusterParts {
  readonly registry: BridgeRegistry;
  readonly control: BridgeControl;
  readonly policy: PolicyHolder;
  readonly keys: KeyRing;
  readonly store: Pick<Store, 'latestManifest' | 'getMeeting' | 'getAccount' | 'getPlacement' | 'listParticipants'>;
  readonly monotonicMs: () => number;
  readonly wallMs: () => number;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, detail?: Readonly<Record<string, unknown>>) => void;
  /** Meetings cascade (`serve --cascade`): as this broker is configured, never as the bus says. */
  readonly cascade?: boolean;
}

/** This broker's link to the others. */
export class Cluster implements ControlRelay {
  readonly #bus: RedisBus;
  readonly #parts: ClusterParts;
  /** The broker each datacenter's bridge was last present on, as announced. */
  readonly #holders = new Map<string, string>();
  /** The boot id each datacenter's bridge last said hello with, on any broker: a new one means a new process. */
  readonly #boots = new Map<string, string>();
  /** Work started by events, in order: a manifest re-read must not overtake the command that follows it. */
  #queue: Promise<void> = Promise.resolve();
  /** Catches a bridge here up from the store (recheck.ts `catchUpBridge`), once the bus is back. */
  #catchUpBridge: ((datacenter: string) => Promise<void>) | undefined;

  constructor(bus: RedisBus, parts: ClusterParts) {
    this.#bus = bus;
    this.#parts = parts;
  }

  /** Listens, and catches up with what the others already know. */
  async start(): Promise<void> {
    this.#bus.onEvent((event) => { this.#enqueue(() => this.#apply(event)); });
    this.#bus.onStatus((ready) => {
      if (!ready) {
        this.#parts.registry.suspend();
        this.#parts.log('error', 'the bus (Redis) is away: every datacenter counts as down here until it is back');
        return;
      }
      this.#enqueue(async () => {
        // A bridge lost by another broker while the bus was away went unheard: only what is heard again counts.
        this.#parts.registry.loseAllExcept(new Set(this.#parts.control.connected()));
        this.#holders.clear();
        await this.#catchUp();
        // Commands other brokers sent the bridges here while this one did not hear the bus were lost: each bridge
        // hears the store's view again (meetings ended or moved, each live meeting's policy), as when it reconnects.
        for (const datacenter of this.#parts.control.connected()) {
          await this.#catchUpBridge?.(datacenter).catch((error: unknown) => {
            this.#parts.log('error', 'could not catch a bridge up on commands lost while the bus was away', { datacenter, err: error });
          });
        }
        this.#parts.log('info', 'the bus (Redis) is back: caught up with the other brokers');
      });
    });
    await this.#catchUp();
    // The others learn this broker's signing key before it serves, so before they are shown anything it signed.
    await this.#bus.publish({ kind: 'keys', broker: this.#bus.broker });
  }

  /** How to catch a bridge here up from the store, once the bus is back (set once the broker's context exists). */
  catchUpBridgesWith(catchUp: (datacenter: string) => Promise<void>): void {
    this.#catchUpBridge = catchUp;
  }

  /** True while this broker hears the others. */
  get ready(): boolean {
    return this.#bus.ready;
  }

  /** The Redis connection, for the rate limits' counters. */
  get redis(): RedisBus['client'] {
    return this.#bus.client;
  }

  /** A key under the bus's prefix. */
  key(name: string): string {
    return this.#bus.key(name);
  }

  /**
   * Throws BUS_UNAVAILABLE unless the bus is up: for readiness, and before a
   * change the other brokers' bridges must hear (a policy, a manifest, keys,
   * a meeting ended), which would otherwise reach only the bridges here.
   */
  assertReady(refused = 'routes'): void {
    if (!this.#bus.ready) throw new GeobridgeError('BUS_UNAVAILABLE', `this broker cannot reach the bus (Redis) it shares with the other brokers; it refuses ${refused} until Redis is back.`);
  }

  /** A bridge said hello on this broker, as process `boot`. */
  present(datacenter: string, boot: string): void {
    this.#holders.set(datacenter, this.#bus.broker);
    this.#boots.set(datacenter, boot);
    this.#tell({ kind: 'present', broker: this.#bus.broker, datacenter, boot });
  }

  /** The boot id the datacenter's bridge last said hello with, on any broker. */
  bootOf(datacenter: string): string | undefined {
    return this.#boots.get(datacenter);
  }

  /** True when the datacenter's bridge is present on another broker now (its members are not this broker's to drop). */
  heldElsewhere(datacenter: string): boolean {
    const holder = this.#holders.get(datacenter);
    return holder !== undefined && holder !== this.#bus.broker;
  }

  /** This broker lost the bridge's presence connection. */
  lost(datacenter: string): void {
    if (this.#holders.get(datacenter) === this.#bus.broker) this.#holders.delete(datacenter);
    this.#tell({ kind: 'lost', broker: this.#bus.broker, datacenter });
  }

  /** This broker accepted a heartbeat. */
  reported(datacenter: string, report: BridgeReport): void {
    this.#tell({ kind: 'report', broker: this.#bus.broker, datacenter, report });
    this.#bus.saveReport(datacenter, report, this.#parts.wallMs()).catch((error: unknown) => {
      this.#parts.log('warn', 'a bridge report could not be kept for brokers that start later', { datacenter, err: error });
    });
  }

  forward(datacenter: string, command: ControlCommand): void {
    this.#tell({ kind: 'command', broker: this.#bus.broker, datacenter, command });
  }

  announce(change: 'policy' | 'keys'): void {
    this.#tell(change === 'policy' ? { kind: 'policy', broker: this.#bus.broker, version: this.#parts.policy.current.version } : { kind: 'keys', broker: this.#bus.broker });
  }

  async #apply(event: BusEvent): Promise<void> {
    const { registry, control, monotonicMs } = this.#parts;
    switch (event.kind) {
      case 'present':
        this.#holders.set(event.datacenter, event.broker);
        this.#boots.set(event.datacenter, event.boot);
        return;
      case 'lost': {
        // Only the last holder's loss counts: the bridge may already be present on another broker, or here.
        const holder = this.#holders.get(event.datacenter);
        if ((holder !== undefined && holder !== event.broker) || control.isConnected(event.datacenter)) return;
        this.#holders.delete(event.datacenter);
        registry.lost(event.datacenter);
        return;
      }
      case 'sync':
        this.#announcePresence();
        return;
      case 'report':
        registry.report(event.datacenter, event.report, monotonicMs());
        return;
      case 'policy':
        if (await this.#takeLatestManifest()) await control.policyArrived();
        return;
      case 'keys':
        await this.#takeKeys();
        return;
      case 'command': {
        if (event.datacenter !== '*' && !control.isConnected(event.datacenter)) return;
        const command = await this.#vetted(event.datacenter, event.command);
        if (command) await control.deliver(event.datacenter, command);
        else this.#parts.log('warn', 'a command from the bus that the store does not bear out was not sent', { datacenter: event.datacenter, command: event.command.type, from: event.broker });
        return;
      }
    }
  }

  /**
   * The command to sign for a bridge here, as the store has it now: a
   * meeting's policy is re-read, not taken from the bus; a meeting is ended,
   * moved away or a session evicted only if the store says so.
   */
  async #vetted(datacenter: string, command: ControlCommand): Promise<ControlCommand | undefined> {
    const { store } = this.#parts;
    switch (command.type) {
      case 'meeting-policy': {
        const meeting = await store.getMeeting(command.meeting);
        const account = meeting && (await store.getAccount(meeting.accountId));
        const policy = meeting && meetingPolicyOf(account, meeting, this.#parts.cascade);
        return policy && { type: 'meeting-policy', meeting: command.meeting, policy, revision: account?.policyRevision ?? 0 };
      }
      case 'end': {
        const meeting = await store.getMeeting(command.meeting);
        return meeting?.endedAt === undefined && meeting !== undefined ? undefined : command;
      }
      case 'move': {
        const placement = await store.getPlacement(command.meeting);
        return placement?.datacenter === datacenter ? undefined : { ...command, to: placement?.datacenter ?? 'nowhere yet' };
      }
      case 'evict': {
        const current = (await store.listParticipants(command.meeting)).find((p) => p.id === command.participant);
        return current?.session === command.session ? undefined : command;
      }
      case 'relay':
        // The relay ticket speaks for itself: the bridge checks the broker's signature on it, the sending
        // bridge's proof against the key it names, and the sending bridge checks every stream's fences.
        return command;
      default:
        // Policy and keys never travel as commands: each broker re-reads them (announce). A relay-end
        // would need the meeting's plan in the store to be borne out; until then it is not taken from the bus.
        return undefined;
    }
  }

  /** Reports the others kept, the manifest and keys in force, and this broker's bridges announced again. */
  async #catchUp(): Promise<void> {
    const { registry, control, monotonicMs, wallMs } = this.#parts;
    const reports = await this.#bus.reports();
    const now = monotonicMs();
    for (const r of reports) registry.report(r.datacenter, r.report, now - Math.max(0, wallMs() - r.atMs));
    if (await this.#takeLatestManifest()) await control.policyArrived();
    await this.#takeKeys();
    this.#announcePresence();
    // Who holds which bridge, as the others say it again.
    this.#tell({ kind: 'sync', broker: this.#bus.broker });
    registry.resume();
  }

  /** Says again which bridges this broker holds. */
  #announcePresence(): void {
    for (const datacenter of this.#parts.control.connected()) this.present(datacenter, this.#boots.get(datacenter) ?? '');
  }

  /**
   * Re-reads the keys (another broker made, rotated or revoked one) and
   * tells the bridges here; makes a new key of this broker's if its own was
   * revoked elsewhere, and tells the others of it.
   */
  async #takeKeys(): Promise<void> {
    const { keys, control } = this.#parts;
    await keys.refresh();
    if (await keys.ensureCurrent()) this.announce('keys');
    await control.keysArrived();
  }

  /** Puts the store's latest manifest in force if it is newer than ours; true if it did. */
  async #takeLatestManifest(): Promise<boolean> {
    const { policy, store } = this.#parts;
    return policy.exclusive(async () => {
      const latest = await store.latestManifest();
      const current = policy.current;
      if (!latest || !storeMovedFrom(current, latest)) return false;
      const parsed = parseManifest(latest.text, `manifest v${latest.version}`);
      // The broker that applied it checked it; one that does not parse here is a different code version's.
      if (!parsed.manifest) {
        this.#parts.log('error', `manifest v${latest.version} from the store does not parse here; keeping v${policy.current.version}`);
        return false;
      }
      policy.replace({ manifest: parsed.manifest, version: latest.version, sha256: latest.sha256, text: latest.text });
      this.#parts.log(
        latest.version > current.version ? 'info' : 'warn',
        latest.version > current.version ? `manifest v${latest.version} applied by another broker is in force here` : `manifest v${current.version} (${current.sha256.slice(0, 12)}) was taken out of the store, its audit record never written; v${latest.version} (${latest.sha256.slice(0, 12)}) is in force here`,
      );
      return true;
    });
  }

  #tell(event: BusEvent): void {
    this.#bus.publish(event).catch((error: unknown) => {
      this.#parts.log('warn', `could not tell the other brokers (${event.kind}); they catch up when the bus is back`, { err: error });
    });
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue.then(work).catch((error: unknown) => {
      this.#parts.log('error', 'an event from another broker could not be applied', { err: error });
    });
  }
}

/**
 * Whether the store's newest manifest is another than the one in force here:
 * newer, or the same number with another text, or older. The last two
 * happen to a broker that took a version whose audit record then failed:
 * its broker took it out of the store again, and the next save may reuse its
 * number. The store's newest is what every broker runs.
 */
export function storeMovedFrom(current: { readonly version: number; readonly sha256: string }, latest: { readonly version: number; readonly sha256: string }): boolean {
  return latest.version !== current.version || latest.sha256 !== current.sha256;
}
