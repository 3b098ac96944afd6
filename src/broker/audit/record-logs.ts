/**
 * Control-plane residency for the audit log: when the manifest declares
 * record stores (`stores:`), what the broker records about a participant
 * goes to the log of the store the core picks for them (selectStore: inside
 * every fence that binds them), never to the broker's own log. Each store's
 * log is a whole transparency log in that store's database, with its own
 * tree heads signed under the one log key and the store's name in the signed
 * domain (open-store-log.ts opens one).
 */
import { GeobridgeError } from '../../core/errors.js';
import type { Manifest } from '../../core/manifest/types.js';
import { selectStore, type StoreRequest } from '../../core/select/store.js';
import type { AuditLog } from './audit-log.js';
import { TreeHeadSigner, type LogKey } from './tree-heads.js';

/** A record store's log and the signer of its tree heads. */
export interface StoreLog {
  readonly name: string;
  readonly audit: AuditLog;
  readonly treeHeads: TreeHeadSigner;
}

/** The record stores' logs, and the rule that picks one for a record about a participant. */
export class StoreLogs {
  readonly #stores: ReadonlyMap<string, StoreLog>;

  constructor(stores: ReadonlyMap<string, AuditLog>, key: LogKey) {
    this.#stores = new Map([...stores].map(([name, audit]) => [name, { name, audit, treeHeads: new TreeHeadSigner(audit, key, Date.now, name) }]));
  }

  /** The record stores this broker writes to. */
  get names(): readonly string[] {
    return [...this.#stores.keys()];
  }

  all(): readonly StoreLog[] {
    return [...this.#stores.values()];
  }

  /** Store `name`'s log; undefined when this broker has no such store. */
  get(name: string): StoreLog | undefined {
    return this.#stores.get(name);
  }

  /**
   * The log for a record about `subject` under `manifest`: its store's, or
   * undefined (the broker's own log) when the manifest declares no stores.
   * Throws NO_STORE_IN_FENCE (no store inside their fences) or
   * AUDIT_UNAVAILABLE (the store has no database on this broker): the record
   * is never written elsewhere instead.
   */
  forSubject(manifest: Manifest, subject: StoreRequest): StoreLog | undefined {
    const store = selectStore(manifest, subject);
    if (store === undefined) return undefined;
    const log = this.#stores.get(store.id);
    if (log === undefined) throw new GeobridgeError('AUDIT_UNAVAILABLE', `the records of ${subject.country} participants belong in record store '${store.id}', which has no database on this broker: add it to --record-stores (${store.id}=postgres://…) and restart.`);
    return log;
  }

  /** Signs each log's heads every interval while records arrive (as the broker's own). */
  startSigning(onError: (error: unknown, log: string) => void): void {
    for (const log of this.#stores.values()) log.treeHeads.start((error) => {
      onError(error, log.name);
    });
  }

  /** Signs a last head in each log and closes them. */
  async close(onError: (error: unknown, log: string) => void): Promise<void> {
    for (const log of this.#stores.values()) {
      await log.treeHeads.stop().catch((error: unknown) => {
        onError(error, log.name);
      });
      await log.audit.close();
    }
  }
}

/** The stores `manifest` declares that have no database here (`have`: the stores this broker writes to). */
export function storesWithoutDatabase(manifest: Manifest, have: readonly string[]): string[] {
  return manifest.stores.map((s) => s.id).filter((id) => !have.includes(id));
}

/** At start: a database for every store the manifest declares, and for no other; every problem, each saying what to do. */
export function recordStoreProblems(manifest: Manifest, urls: ReadonlyMap<string, string>): string[] {
  const missing = storesWithoutDatabase(manifest, [...urls.keys()]);
  const unknown = [...urls.keys()].filter((id) => !manifest.stores.some((s) => s.id === id));
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`the manifest declares record store(s) ${missing.join(', ')}, which have no database here: add ${missing.map((id) => `${id}=postgres://…`).join(',')} to --record-stores (or ${missing[0] ?? 'ID'}=sqlite for a file in the data directory)`);
  if (unknown.length > 0) problems.push(`--record-stores names ${unknown.join(', ')}, which the manifest does not declare under 'stores:'; declare them or remove them`);
  return problems;
}
