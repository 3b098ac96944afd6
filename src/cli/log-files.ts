/**
 * The files people keep of a transparency log and bring to the CLI: a
 * receipt (a routing receipt file, or a saved /v1/route answer), a signed tree head (the body of
 * GET /v1/log/sth) and a pinned log key (GET /v1/log/key). Read strictly,
 * with errors that name the file and say what it should hold.
 */
import { readFileSync } from 'node:fs';
import { signedTreeHead, type SignedTreeHead } from '../broker/audit/tree-heads.js';
import type { LogPublicKey, Receipt } from '../broker/audit/verify-log.js';
import { logPublicKeyFromJwk } from '../broker/log-key.js';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import { count } from '../core/fields.js';
import { isTime, TIME_MAX_MS } from '../core/time.js';
import { parseRoutingReceiptFile, ROUTING_RECEIPT_FORMAT, type RoutingReceiptFile } from '../core/receipt-file.js';
import { readRouteTicketUnverified } from '../protocol/route-ticket.js';

/** A saved /v1/route answer as a receipt: its `receipt`, the decision its ticket names, and the answer itself. */
export type AnswerReceipt = Receipt & { readonly answer: Readonly<Record<string, unknown>> };

/** What `receipt verify` reads: a routing receipt file (the meeting page's download, src/core/receipt-file.ts), or a bare /v1/route answer. */
export function readReceiptInput(path: string): { readonly kind: 'file'; readonly file: RoutingReceiptFile } | { readonly kind: 'answer'; readonly answer: AnswerReceipt } {
  const value = readJson(path);
  if (typeof value !== 'object' || value === null || !('format' in value)) return { kind: 'answer', answer: answerReceiptFrom(value, path) };
  const parsed = parseRoutingReceiptFile(value);
  if (!parsed.ok) throw new GeobridgeError('USAGE', `${path} is not a routing receipt file (${ROUTING_RECEIPT_FORMAT}): ${parsed.error}. Give the file as the meeting page saved it, or a /v1/route answer.`);
  return { kind: 'file', file: parsed.file };
}

/** The receipts a receipt input holds: a bare answer's one, or one per route of a receipt file (with the head it carries). */
export function receiptsOf(input: ReturnType<typeof readReceiptInput>): AnswerReceipt[] {
  if (input.kind === 'answer') return [input.answer];
  return input.file.routes.map((route) => {
    const { manifestSha256, ...promise } = route.receipt;
    return { promise, decisionId: route.decisionId, manifestSha256, sth: route.sth, route: { country: route.country, candidates: route.candidates }, answer: { ...route } };
  });
}

function readJson(path: string): unknown {
  const text = readInput(path, 'receipt');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new GeobridgeError('USAGE', `${path} is not JSON (${error instanceof Error ? error.message : String(error)}); give the receipt file or the /v1/route answer as it was saved.`);
  }
}

/** How deep a /v1/route answer may nest (it nests 4 levels): deeper JSON would overflow the stack where its route is written out (routeDigest's JSON.stringify). */
const ANSWER_DEPTH_MAX = 32;

function answerReceiptFrom(value: unknown, path: string): AnswerReceipt {
  if (nestedDeeperThan(value, ANSWER_DEPTH_MAX)) throw new GeobridgeError('USAGE', `${path} nests deeper than ${String(ANSWER_DEPTH_MAX)} levels, which no /v1/route answer does; give the receipt file or the /v1/route answer as it was saved.`);
  const v = value as { receipt?: Record<string, unknown> | null; ticket?: unknown; decisionId?: unknown; sth?: unknown; country?: unknown; candidates?: unknown } | null;
  const r = typeof v === 'object' && v !== null ? v.receipt : undefined;
  if (typeof r !== 'object' || r === null || !count(r.index) || typeof r.recordHash !== 'string' || !isTime(r.timestamp) || typeof r.keyId !== 'string' || typeof r.signature !== 'string' || !optionalString(r.log)) {
    throw new GeobridgeError('USAGE', `${path} holds no receipt: it needs a "receipt" object with index (a leaf index), recordHash, timestamp (milliseconds since 1970, at most ${String(TIME_MAX_MS)}), keyId and signature (and log, a record store's id, when it names one), as a /v1/route answer has.`);
  }
  const promise = { index: r.index, recordHash: r.recordHash, timestamp: r.timestamp, keyId: r.keyId, signature: r.signature, ...logOf(r) };
  // A compact answer says its route only in its ticket. An explained one (or one from an older broker) says it
  // too, and that is what it claims: the checks hold it to the log's promise and to the ticket, which a changed
  // route beside a genuine ticket then fails.
  const signed = typeof v?.ticket === 'string' ? ticketRoute(v.ticket) : undefined;
  const decided = {
    country: v?.country ?? signed?.country,
    candidates: v?.candidates ?? signed?.candidates,
    decisionId: v?.decisionId ?? signed?.decisionId,
    manifestSha256: r.manifestSha256 ?? signed?.manifestSha256,
  };
  return {
    promise,
    answer: { ...(v as Record<string, unknown>), country: decided.country, candidates: decided.candidates, decisionId: decided.decisionId },
    route: { country: decided.country, candidates: decided.candidates },
    ...(typeof decided.decisionId === 'string' ? { decisionId: decided.decisionId } : {}),
    ...(typeof decided.manifestSha256 === 'string' ? { manifestSha256: decided.manifestSha256 } : {}),
    ...(v?.sth !== undefined ? { sth: treeHeadFrom(v.sth, path) } : {}),
  };
}

/** The route a ticket names, read without its signature (checked later, against the broker's keys); undefined for a ticket that is not a route ticket. */
function ticketRoute(ticket: string): { country: string; candidates: { datacenter: string; jurisdiction: string }[]; decisionId: string; manifestSha256: string } | undefined {
  try {
    const claims = readRouteTicketUnverified(ticket);
    return { country: claims.country, candidates: claims.candidates.map((datacenter, i) => ({ datacenter, jurisdiction: claims.candidateJurisdictions[i] ?? '' })), decisionId: claims.decision, manifestSha256: claims.manifest };
  } catch {
    return undefined;
  }
}

/** A signed tree head saved from GET /v1/log/sth. */
export function readTreeHeadFile(path: string): SignedTreeHead {
  const text = readInput(path, 'tree head');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new GeobridgeError('USAGE', `--sth ${path} is not JSON (${error instanceof Error ? error.message : String(error)}); save the body of GET /v1/log/sth as it is.`);
  }
  return treeHeadFrom(value, `--sth ${path}`);
}

function treeHeadFrom(value: unknown, where: string): SignedTreeHead {
  const v = value as Partial<Record<keyof SignedTreeHead, unknown>> | null;
  if (typeof v !== 'object' || v === null || !count(v.size) || typeof v.rootHash !== 'string' || !isTime(v.timestamp) || typeof v.keyId !== 'string' || typeof v.signature !== 'string' || !optionalString(v.log)) {
    throw new GeobridgeError('USAGE', `${where} is not a signed tree head: it needs size (a count of records), rootHash, timestamp (milliseconds since 1970, at most ${String(TIME_MAX_MS)}), keyId and signature (and log, a record store's id, when it names one), as GET /v1/log/sth answers.`);
  }
  // Checked field by field above: the signed fields, nothing else the file held.
  return signedTreeHead(v as SignedTreeHead);
}


/** Whether `value` nests arrays or objects deeper than `limit`; walked without recursion, so any depth JSON.parse gives is safe. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [v, depth] = next;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

function optionalString(value: unknown): boolean {
  return value === undefined || typeof value === 'string';
}

/** The record store a head or promise names, kept: its signature covers the name. */
function logOf(value: { readonly log?: unknown }): { log?: string } {
  return typeof value.log === 'string' ? { log: value.log } : {};
}

/** The log's public key as pinned (the JSON of GET /v1/log/key). */
export async function readLogKeyFile(path: string): Promise<LogPublicKey> {
  const text = readInput(path, 'log key');
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new GeobridgeError('LOG_KEY_UNAVAILABLE', `--log-key ${path} is not JSON; save the body of GET /v1/log/key as it is.`);
  }
  const key = await logKeyFromJson(jwk);
  if (!key.ok) throw new GeobridgeError('LOG_KEY_UNAVAILABLE', `--log-key ${path}: ${key.reason}`);
  return key.key;
}

/** An Ed25519 public JWK's `x`: 32 bytes, base64url without padding. */
const JWK_X = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/**
 * The log key a JWK holds (a --log-key file, a witness's pinned key, or a
 * broker's answer to GET /v1/log/key), or why it holds none: never throws,
 * whatever the JSON (an `x` node:crypto refuses, a `kid` nested too deep to
 * print).
 */
export async function logKeyFromJson(jwk: unknown): Promise<{ readonly ok: true; readonly key: LogPublicKey } | { readonly ok: false; readonly reason: string }> {
  const j = jwk as { x?: unknown; kid?: unknown } | null;
  if (typeof j === 'object' && j !== null && ((typeof j.x === 'string' && !JWK_X.test(j.x)) || (j.kid !== undefined && typeof j.kid !== 'string'))) {
    return { ok: false, reason: 'the log key is not an Ed25519 public JWK: its "x" must be 32 bytes of base64url, and its "kid", if any, a string' };
  }
  try {
    return { ok: true, key: await logPublicKeyFromJwk(jwk) };
  } catch (error) {
    if (isGeobridgeError(error)) return { ok: false, reason: error.message };
    return { ok: false, reason: `the log key is not an Ed25519 public JWK (${error instanceof Error ? error.message : String(error)})` };
  }
}

function readInput(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new GeobridgeError('USAGE', `cannot read the ${what} '${path}': ${error instanceof Error ? error.message : String(error)}.`);
  }
}
