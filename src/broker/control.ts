/**
 * The broker's end of the control channel (src/protocol/control-commands.ts):
 * the bridges' presence connections, and the commands pushed on them. A
 * decision the broker takes — a new manifest, an account's new policy, a
 * meeting re-homed or ended, a session replaced, a signing key rotated or
 * revoked — reaches the bridges that carry the media at once, not at their
 * next heartbeat.
 *
 * Every command is a JWT signed with the broker's ticket key, bound to the
 * bridge's presence connection by the nonce the bridge chose for it, and
 * numbered, so a captured command cannot be replayed on another connection
 * or out of order on this one. A bridge without a channel fails closed.
 */
import type { ControlCommand } from '../protocol/control-commands.js';
import type { MeetingPolicy } from '../core/select/meeting-policy.js';
import type { KeyRing } from './keys.js';
import { issueControlMessage } from './tickets.js';

/** A bridge's presence connection, as the control channel needs it. */
export interface ControlSocket {
  send(frame: string): void;
}

/** What a bridge said in its hello it can be sent, beyond what every bridge takes. */
export interface BridgeAbilities {
  /** `mls-resync` for its participants (bridges from before it refuse the whole command and reconnect). */
  readonly mlsResync?: boolean;
  /** `meeting-policy` with its `revision` (bridges from before it refuse the unknown field, and with it the change). */
  readonly policyRevisions?: boolean;
}

interface Connection {
  readonly socket: ControlSocket;
  readonly nonce: string;
  readonly abilities: BridgeAbilities;
  seq: number;
  /** Commands are signed and sent one after another, so `seq` leaves in order. */
  queue: Promise<void>;
}

/** The manifest in force, as the broker's PolicyHolder keeps it: what a bridge that connects is sent first. */
export interface ManifestInForce {
  readonly current: { readonly version: number; readonly sha256: string; readonly text: string };
}

/** Log sink for commands that could not be delivered. */
export type ControlLog = (line: Readonly<Record<string, unknown>>) => void;

/**
 * Where what this broker cannot deliver itself goes when brokers share a bus
 * (bus/cluster.ts): a command for a bridge present on another broker, and the
 * news that the manifest or the keys changed, which every broker passes on
 * to its own bridges.
 */
export interface ControlRelay {
  /** A command for the bridge of `datacenter` ('*': every bridge), for the broker that holds it. */
  forward(datacenter: string, command: ControlCommand): void;
  announce(change: 'policy' | 'keys'): void;
}

/** The connected bridges, and the commands the broker sends them. */
export class BridgeControl {
  readonly #keys: KeyRing;
  readonly #policy: ManifestInForce;
  readonly #log: ControlLog;
  readonly #connections = new Map<string, Connection>();
  #relay: ControlRelay | undefined;

  constructor(keys: KeyRing, policy: ManifestInForce, log: ControlLog = () => undefined) {
    this.#keys = keys;
    this.#policy = policy;
    this.#log = log;
  }

  /**
   * A bridge's presence connection was verified: it gets the keys (which it
   * must refuse), then the manifest in force — which lets it admit — at
   * once, then every command for it.
   */
  attach(datacenter: string, socket: ControlSocket, nonce: string, abilities: BridgeAbilities = {}): void {
    this.#connections.set(datacenter, { socket, nonce, abilities, seq: 0, queue: Promise.resolve() });
    void this.#sendKeys(datacenter);
    void this.#sendPolicy(datacenter);
  }

  /** The connection closed; an older connection closing after a newer one attached changes nothing. */
  detach(datacenter: string, socket: ControlSocket): void {
    if (this.#connections.get(datacenter)?.socket === socket) this.#connections.delete(datacenter);
  }

  /** Sends what this broker cannot deliver to the other brokers. */
  relayThrough(relay: ControlRelay): void {
    this.#relay = relay;
  }

  /** True when the datacenter's bridge, connected here, said it passes `mls-resync` on to its participants. */
  passesResync(datacenter: string): boolean {
    return this.#connections.get(datacenter)?.abilities.mlsResync === true;
  }

  /** True when the datacenter's bridge has a control channel here. */
  isConnected(datacenter: string): boolean {
    return this.#connections.has(datacenter);
  }

  /** Datacenters with a control channel. */
  connected(): string[] {
    return [...this.#connections.keys()];
  }

  /** The manifest in force, to every bridge (after a change made here). */
  broadcastPolicy(): Promise<void> {
    this.#relay?.announce('policy');
    return this.policyArrived();
  }

  /** The signing keys changed here (a rotation or a revocation): every bridge refetches the JWKS and refuses the revoked kids. */
  keysChanged(): Promise<void> {
    this.#relay?.announce('keys');
    return this.keysArrived();
  }

  /** Another broker changed the manifest (and this one has taken it): to the bridges here. */
  policyArrived(): Promise<void> {
    return this.#settled([...this.#connections.keys()].map((dc) => this.#sendPolicy(dc)));
  }

  /** Another broker changed the keys (and this one has re-read them): to the bridges here. */
  keysArrived(): Promise<void> {
    return this.#settled([...this.#connections.keys()].map((dc) => this.#sendKeys(dc)));
  }

  /** A command another broker forwarded, for a bridge here ('*': every bridge here); never forwarded again. */
  deliver(datacenter: string, command: ControlCommand): Promise<void> {
    const to = datacenter === '*' ? [...this.#connections.keys()] : [datacenter];
    return this.#settled(to.map((dc) => this.#send(dc, command)));
  }

  /** A meeting's host policy changed (to the account's policy `revision`): the bridge holding it re-checks its participants. */
  meetingPolicy(datacenter: string, meeting: string, policy: MeetingPolicy, revision: number): Promise<void> {
    return this.#command(datacenter, { type: 'meeting-policy', meeting, policy, revision });
  }

  /** The meeting moved away from `from`: its bridge sends everyone to a fresh route. */
  move(from: string, meeting: string, to: string, reason: string): Promise<void> {
    return this.#command(from, { type: 'move', meeting, to, reason });
  }

  /** The meeting ended: every bridge that has it closes it (any of them may, during a move); or only `datacenter`'s. */
  end(meeting: string, reason: string, datacenter?: string): Promise<void> {
    return this.#command(datacenter ?? '*', { type: 'end', meeting, reason });
  }

  /** One session of a participant must leave the bridge of `datacenter`. */
  evict(datacenter: string, command: Omit<Extract<ControlCommand, { type: 'evict' }>, 'type'>): Promise<void> {
    return this.#command(datacenter, { type: 'evict', ...command });
  }

  /** The bridge of `to` opens (or updates) its hop from `from` with this relay ticket. */
  relay(to: string, command: Omit<Extract<ControlCommand, { type: 'relay' }>, 'type'>): Promise<void> {
    return this.#command(to, { type: 'relay', ...command });
  }

  /** The bridge of `to` closes its hop from `from`. */
  relayEnd(to: string, meeting: string, from: string, reason: string): Promise<void> {
    return this.#command(to, { type: 'relay-end', meeting, from, reason });
  }

  /** Who the bridge's participants in a cascaded meeting cannot exchange media with (the whole list). */
  unreachable(datacenter: string, command: Omit<Extract<ControlCommand, { type: 'unreachable' }>, 'type'>): Promise<void> {
    return this.#command(datacenter, { type: 'unreachable', ...command });
  }

  /** Messages of a cascaded meeting's group for participants on the bridge of `datacenter`. */
  mls(datacenter: string, command: Omit<Extract<ControlCommand, { type: 'mls' }>, 'type'>): Promise<void> {
    return this.#command(datacenter, { type: 'mls', ...command });
  }

  /** A command decided here: to the bridge if it is present here, else (or for '*', also) through the relay. */
  #command(datacenter: string, command: ControlCommand): Promise<void> {
    if (datacenter === '*' || !this.#connections.has(datacenter)) this.#relay?.forward(datacenter, command);
    return this.deliver(datacenter, command);
  }

  #sendKeys(datacenter: string): Promise<void> {
    return this.#send(datacenter, { type: 'keys', revoked: this.#keys.revokedKids() });
  }

  #sendPolicy(datacenter: string): Promise<void> {
    const { version, sha256, text } = this.#policy.current;
    return this.#send(datacenter, { type: 'policy', version, sha256 }, text);
  }

  /** Signs and sends one command; resolves when it has left (or could not: the channel's loss makes the bridge fail closed). */
  #send(datacenter: string, command: ControlCommand, manifest?: string): Promise<void> {
    const connection = this.#connections.get(datacenter);
    if (!connection) return Promise.resolve();
    const said = connection.abilities;
    const spoken = command.type === 'meeting-policy' && said.policyRevisions !== true ? { type: command.type, meeting: command.meeting, policy: command.policy } : command;
    const sent = connection.queue.then(async () => {
      const seq = ++connection.seq;
      const { token } = await issueControlMessage(this.#keys, { datacenter, nonce: connection.nonce, seq, command: { ...spoken } });
      connection.socket.send(JSON.stringify(manifest === undefined ? { control: token } : { control: token, manifest }));
    });
    connection.queue = sent.catch((error: unknown) => {
      this.#log({ msg: 'control command not sent', datacenter, command: command.type, error: error instanceof Error ? error.message : String(error) });
    });
    return connection.queue;
  }

  async #settled(sends: readonly Promise<void>[]): Promise<void> {
    await Promise.all(sends);
  }
}
