/**
 * The routing receipt file (`geobridge-routing-receipt/1`): what a
 * participant keeps of where a call was routed. The SDK writes it
 * (src/sdk/receipts.ts); `geobridge receipt verify` reads it. One home for
 * its shape and its parser, below both. Per route: the route ticket (opaque
 * here), the decision and its candidates, the transparency log's signed
 * promise, the bridges that proved they were reached, and a signed tree
 * head covering the route's leaf with the inclusion proof to its root,
 * both of the one log that holds the decision: the broker's own, or a
 * record store's (`log`).
 */
import { arrayOf, count, fieldsOk, isObject, nonEmpty, objectOf, optional, str, type Schema } from './fields.js';
import { isTime } from './time.js';
import { ROUTE_TICKET_MAX_CHARS } from './connection/types.js';

/** The `format` field of a routing receipt file. */
export const ROUTING_RECEIPT_FORMAT = 'geobridge-routing-receipt/1';

/** The log's signed promise in a route answer (`receipt`): leaf `index` holds the decision's record `recordHash`. */
export interface LogPromise {
  readonly manifestSha256: string;
  readonly index: number;
  readonly recordHash: string;
  readonly timestamp: number;
  readonly keyId: string;
  readonly signature: string;
  /** The record store whose log holds the decision (manifest `stores:`); absent for the broker's own log. The signature covers it. */
  readonly log?: string;
}

/** A connection made on a route: the bridge proved it holds the datacenter's key over our challenge. */
export interface RouteConnection {
  readonly datacenter: string;
  /** When the bridge admitted us (ISO 8601). */
  readonly connectedAt: string;
  /** The `join` challenge sent, which the proof signs. */
  readonly challenge: string;
  /** The bridge's `admitted` proof (compact JWS, typ gb-bridge-proof+jws). */
  readonly bridgeProof: string;
}

/** One route a session was given. */
export interface RouteReceipt {
  /** The route ticket, as the broker signed it (opaque). */
  readonly ticket: string;
  readonly decisionId: string;
  /** Who the ticket was for, which the bridge proofs name. */
  readonly participant: string;
  readonly country: string;
  readonly candidates: readonly { readonly datacenter: string; readonly jurisdiction: string }[];
  readonly receipt: LogPromise;
  /** When the answer arrived (ISO 8601). */
  readonly receivedAt: string;
  readonly connections: readonly RouteConnection[];
}

/** A signed tree head, as GET /v1/log/sth serves it. */
export interface TreeHeadJson {
  readonly size: number;
  readonly rootHash: string;
  readonly timestamp: number;
  readonly keyId: string;
  readonly signature: string;
  /** The record store whose log this is the head of; absent for the broker's own log. The signature covers it. */
  readonly log?: string;
}

/** A route in the file: the route, the head covering its leaf, and the leaf's inclusion proof to that head (base64 hashes). */
export interface ReceiptFileRoute extends RouteReceipt {
  readonly sth: TreeHeadJson;
  readonly inclusionProof: readonly string[];
}

/** The routing receipt file. */
export interface RoutingReceiptFile {
  readonly format: typeof ROUTING_RECEIPT_FORMAT;
  /** The broker that routed (its origin). */
  readonly broker: string;
  readonly meeting?: string;
  /** When the file was made (ISO 8601). */
  readonly createdAt: string;
  readonly routes: readonly ReceiptFileRoute[];
}

const TEXT_MAX = 100;
const TOKEN_MAX = 16_384;
const string = str(TOKEN_MAX);
const PROMISE: Schema = { manifestSha256: string, index: count, recordHash: string, timestamp: isTime, keyId: string, signature: string, log: optional(nonEmpty(TEXT_MAX)) };
const HEAD: Schema = { size: count, rootHash: string, timestamp: isTime, keyId: string, signature: string, log: optional(nonEmpty(TEXT_MAX)) };
const CONNECTION: Schema = { datacenter: nonEmpty(TEXT_MAX), connectedAt: string, challenge: string, bridgeProof: string };
const CANDIDATE: Schema = { datacenter: nonEmpty(TEXT_MAX), jurisdiction: nonEmpty(TEXT_MAX) };
const ROUTE: Schema = {
  ticket: str(ROUTE_TICKET_MAX_CHARS),
  decisionId: nonEmpty(TEXT_MAX),
  participant: string,
  country: str(TEXT_MAX),
  candidates: arrayOf(objectOf(CANDIDATE), 1000),
  receipt: objectOf(PROMISE),
  receivedAt: string,
  connections: arrayOf(objectOf(CONNECTION), 1000),
  sth: objectOf(HEAD),
  inclusionProof: arrayOf(string, 64),
};
const FILE: Schema = { format: (v) => v === ROUTING_RECEIPT_FORMAT, broker: string, meeting: optional(string), createdAt: string, routes: arrayOf(isObject, 10_000) };
/** Where each nested object of a route is, to name the first bad field precisely. */
const NESTED: Readonly<Record<string, Schema>> = { receipt: PROMISE, sth: HEAD };

/** The parsed file, or where it first breaks the format (e.g. "routes[1].sth: field 'size' is missing"). */
export function parseRoutingReceiptFile(value: unknown): { readonly ok: true; readonly file: RoutingReceiptFile } | { readonly ok: false; readonly error: string } {
  if (!isObject(value)) return { ok: false, error: 'it is not a JSON object' };
  const top = fieldsOk(value, FILE);
  if (top !== undefined) return { ok: false, error: top };
  const routes = value.routes as readonly Readonly<Record<string, unknown>>[];
  if (routes.length === 0) return { ok: false, error: 'it holds no route' };
  for (const [i, route] of routes.entries()) {
    for (const [name, schema] of Object.entries(NESTED)) {
      const nested = route[name];
      const problem = isObject(nested) ? fieldsOk(nested, schema) : `field '${name}' is missing or not an object`;
      if (problem !== undefined) return { ok: false, error: isObject(nested) ? `routes[${String(i)}].${name}: ${problem}` : `routes[${String(i)}]: ${problem}` };
    }
    const problem = fieldsOk(route, ROUTE);
    if (problem !== undefined) return { ok: false, error: `routes[${String(i)}]: ${problem}` };
  }
  return { ok: true, file: value as unknown as RoutingReceiptFile };
}
