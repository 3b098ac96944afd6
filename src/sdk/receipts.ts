/**
 * A participant's routing receipts: every route the broker gave a session
 * (its ticket, decision and candidates, and the transparency log's signed
 * promise that the decision is in the log), where the session actually
 * connected and the bridge's proof that it was reached; and the **routing
 * receipt file** built from them, which adds for each route the broker's
 * signed tree head covering it and the inclusion proof up to that head's
 * root (RFC 9162 §2.1.3) — each route in the log that holds its decision,
 * the broker's own or a record store's (`receipt.log`) —, so that `geobridge receipt verify` can check it
 * later without the broker (its format: src/core/receipt-file.ts). Nothing
 * here verifies the log: the file is evidence for whoever checks it, and the
 * checker trusts only its own key.
 */
import { GeobridgeError } from '../core/errors.js';
import { ROUTING_RECEIPT_FORMAT, type LogPromise, type ReceiptFileRoute, type RouteConnection, type RouteReceipt, type RoutingReceiptFile, type TreeHeadJson } from '../core/receipt-file.js';
import type { RouteTicketClaims } from '../protocol/route-ticket.js';
import { BrokerClient } from './broker-client.js';

export { ROUTING_RECEIPT_FORMAT, type LogPromise, type ReceiptFileRoute, type RouteConnection, type RouteReceipt, type RoutingReceiptFile, type TreeHeadJson } from '../core/receipt-file.js';

/**
 * The session's record of its routes: `keep` each route answer as it
 * arrives, `connected` when a bridge proves itself on one; `list` is a
 * snapshot, oldest first.
 */
export class RouteReceipts {
  readonly #routes: { route: Omit<RouteReceipt, 'connections'>; connections: RouteConnection[] }[] = [];

  /**
   * Keeps a route answer, with what its verified ticket says (`claims`: the
   * decision, participant, country, candidates and manifest the log's promise
   * covers); undefined (nothing kept) when it carries no log promise.
   */
  keep(answer: { readonly ticket: string; readonly receipt?: unknown }, claims: ReceiptClaims, receivedAt: Date): RouteReceiptHandle | undefined {
    const receipt = logPromiseOf(typeof answer.receipt === 'object' && answer.receipt !== null ? { ...answer.receipt, manifestSha256: claims.manifest } : undefined);
    if (receipt === undefined) return undefined;
    const candidates = claims.candidates.map((datacenter, i) => ({ datacenter, jurisdiction: claims.candidateJurisdictions[i] ?? '' }));
    const entry = {
      route: { ticket: answer.ticket, decisionId: claims.decision, participant: claims.sub, country: claims.country, candidates, receipt, receivedAt: receivedAt.toISOString() },
      connections: [] as RouteConnection[],
    };
    this.#routes.push(entry);
    return { connected: (c) => entry.connections.push(c) };
  }

  /** Every route kept so far, each with its connections. */
  list(): readonly RouteReceipt[] {
    return this.#routes.map(({ route, connections }) => ({ ...route, connections: [...connections] }));
  }
}

/** What a route's receipt takes from its verified ticket. */
export type ReceiptClaims = Pick<RouteTicketClaims, 'sub' | 'decision' | 'country' | 'candidates' | 'candidateJurisdictions' | 'manifest'>;

/** Where a kept route records its connections. */
export interface RouteReceiptHandle {
  connected(connection: RouteConnection): void;
}

function logPromiseOf(value: unknown): LogPromise | undefined {
  const r = value as Partial<Record<keyof LogPromise, unknown>> | null;
  if (typeof r !== 'object' || r === null) return undefined;
  const { manifestSha256, index, recordHash, timestamp, keyId, signature, log } = r;
  if (typeof manifestSha256 !== 'string' || typeof index !== 'number' || typeof recordHash !== 'string' || typeof timestamp !== 'number' || typeof keyId !== 'string' || typeof signature !== 'string') return undefined;
  // The signature covers the log's name: a promise kept without it would never verify.
  if (log !== undefined && typeof log !== 'string') return undefined;
  return { manifestSha256, index, recordHash, timestamp, keyId, signature, ...(log === undefined ? {} : { log }) };
}

/** Options of `buildReceiptFile`. */
export interface ReceiptFileOptions {
  /** The broker's base URL. */
  readonly broker: string;
  /** The broker client to use (one is made from `broker` otherwise). */
  readonly client?: Pick<BrokerClient, 'url' | 'treeHead' | 'inclusionProof'>;
  readonly routes: readonly RouteReceipt[];
  readonly meeting?: string;
  /** How long to wait for a signed tree head to cover the newest route (heads are signed every second). Default 5 s. */
  readonly coverWaitMs?: number;
  readonly now?: () => Date;
}

/** How often the head is asked for again while it does not cover yet. */
const COVER_POLL_MS = 250;
/** How long one request to the log may take. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Builds the routing receipt file: for each log the routes were recorded in
 * (the broker's own, or a record store's), its latest signed tree head
 * (waited for until it covers that log's newest route), and for each route
 * the inclusion proof of its leaf in its log's head. Throws
 * RECEIPT_UNAVAILABLE when there is no route, the broker cannot be reached,
 * or no head covers the routes in time.
 */
export async function buildReceiptFile(options: ReceiptFileOptions): Promise<RoutingReceiptFile> {
  const { routes } = options;
  if (routes.length === 0) throw new GeobridgeError('RECEIPT_UNAVAILABLE', 'no routing receipt yet: the broker has not routed this session (or answered without a receipt).');
  const client = options.client ?? new BrokerClient(options.broker);
  const deadline = Date.now() + (options.coverWaitMs ?? 5000);
  // One head per log, asked once however many routes it holds.
  const heads = new Map<string | undefined, Promise<TreeHeadJson>>();
  const headOf = (log: string | undefined): Promise<TreeHeadJson> => {
    let head = heads.get(log);
    if (head === undefined) {
      head = coveringHead(client, log, Math.max(...routes.filter((r) => r.receipt.log === log).map((r) => r.receipt.index)), deadline);
      heads.set(log, head);
    }
    return head;
  };
  const proven = await Promise.all(
    routes.map(async (route): Promise<ReceiptFileRoute> => {
      const head = await headOf(route.receipt.log);
      const proof = await fromLog((signal) => client.inclusionProof(route.receipt.index, head.size, { signal, ...storeOf(route.receipt.log) }));
      return { ...route, sth: head, inclusionProof: [...proof] };
    }),
  );
  return { format: ROUTING_RECEIPT_FORMAT, broker: client.url, ...(options.meeting !== undefined ? { meeting: options.meeting } : {}), createdAt: (options.now?.() ?? new Date()).toISOString(), routes: proven };
}

/** The latest signed tree head of `log` once it covers leaf `newest`, polled until `deadline`. */
async function coveringHead(client: Pick<BrokerClient, 'treeHead'>, log: string | undefined, newest: number, deadline: number): Promise<TreeHeadJson> {
  const latest = async (): Promise<TreeHeadJson> => {
    const sth: TreeHeadJson = await fromLog((signal) => client.treeHead({ signal, ...storeOf(log) }));
    // A broker that ignores `store` answers with its own log's head, which proves nothing of a store's record.
    if (sth.log !== log) throw new GeobridgeError('RECEIPT_UNAVAILABLE', `asked for ${logWords(log)}, the broker answered with a tree head of ${logWords(sth.log)}: it does not serve the log this route was recorded in; ask its operator to update it.`);
    return sth;
  };
  let sth = await latest();
  while (sth.size <= newest) {
    if (Date.now() >= deadline) throw new GeobridgeError('RECEIPT_UNAVAILABLE', `the signed tree head of ${logWords(log)} (${String(sth.size)} records) does not cover record ${String(newest + 1)} yet; try again in a few seconds.`);
    await new Promise((resolve) => setTimeout(resolve, COVER_POLL_MS));
    sth = await latest();
  }
  return sth;
}

/** The `store` option that asks for `log`'s log: none for the broker's own. */
function storeOf(log: string | undefined): { store?: string } {
  return log === undefined ? {} : { store: log };
}

/** "the broker's log", or "the log of record store eu". */
function logWords(log: string | undefined): string {
  return log === undefined ? "the broker's log" : `the log of record store ${log}`;
}

/** One request to the log, bounded in time: any failure (no answer, a status, an answer off the protocol) is RECEIPT_UNAVAILABLE, saying which. */
async function fromLog<T>(request: (signal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    return await request(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
  } catch (error) {
    throw new GeobridgeError('RECEIPT_UNAVAILABLE', `the broker's log could not give the receipt's proofs: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** `geobridge-receipt-<meeting>-<yyyymmdd-hhmmss>.json`, in UTC; the meeting id reduced to file-name-safe characters. */
export function receiptFileName(meeting: string, at: Date): string {
  const d = at.toISOString();
  const stamp = `${d.slice(0, 4)}${d.slice(5, 7)}${d.slice(8, 10)}-${d.slice(11, 13)}${d.slice(14, 16)}${d.slice(17, 19)}`;
  return `geobridge-receipt-${meeting.replace(/[^A-Za-z0-9_-]/g, '_')}-${stamp}.json`;
}
