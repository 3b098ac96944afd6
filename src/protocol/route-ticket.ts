/**
 * The route ticket (`typ` gb-route+cbor): which datacenters a participant
 * may use, and the manifest and policy inputs that fix the jurisdictions its
 * media must stay in. A verifier derives that set through the core's decider
 * (`ticketJurisdictions`). The broker issues it; the client, the bridge and
 * `geobridge receipt verify` check it.
 *
 * It is a compact JWS, as the broker's other tokens, but its payload is a
 * deterministic CBOR map (cbor.ts) under small integer keys (`KEY`), ids as
 * their 16 UUID bytes and digests as raw bytes: about half the characters of
 * the same claims in JSON, in every route answer and every join.
 */
import { base64url } from 'jose';
import type { RouteTicket } from '../core/connection/types.js';
import { GeobridgeError } from '../core/errors.js';
import type { Manifest } from '../core/manifest/types.js';
import { routeRequestFor, type MeetingPolicy } from '../core/select/meeting-policy.js';
import { allowedJurisdictions, type AttemptPolicy, type Candidate } from '../core/select/select.js';
import { decodeCbor, encodeCbor, type CborMap, type CborValue } from './cbor.js';
import { ClaimReader, COUNTRY, type ClaimsResult, type RegisteredClaims } from './claims.js';
import { checkCborJws, CWT, keyRevoked, keysUnavailable, type TokenKeys } from './jwt.js';

/** Audience of route tickets: bridges (and clients reading them). The `typ` says it on the wire; the claims keep the name. */
export const ROUTE_TICKET_AUDIENCE = 'geobridge:bridge';
/** The `typ` header of route tickets. */
export const ROUTE_TICKET_TYPE = 'gb-route+cbor';

export { ROUTE_TICKET_MAX_CHARS } from '../core/connection/types.js';

/** The CBOR key of each claim: CWT's registered ones (RFC 8392), then the ticket's own. */
const KEY = { ...CWT, meeting: 8, decision: 9, candidates: 10, country: 11, name: 12, manifest: 13, policy: 14, ice: 15, attempts: 16 } as const;
const KNOWN_KEYS: ReadonlySet<number | string> = new Set(Object.values(KEY));
/** The prefix of each id claim sent as its UUID's 16 bytes (`ptc_…`, `mtg_…`, `dec_…`). */
const ID_PREFIX = { sub: 'ptc_', meeting: 'mtg_', decision: 'dec_' } as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const SHA256_HEX = /^[0-9a-f]{64}$/;
const ROLE = /^(primary|secondary)$/;

/** A candidate's role in the route. */
type CandidateRole = Candidate['role'];

/** Claims of a route ticket: what the client's connection machine reads (`RouteTicket`), and what the bridges need besides. */
export interface RouteTicketClaims extends RouteTicket, RegisteredClaims {
  /** The broker that decided (its URL). */
  readonly iss: string;
  readonly aud: typeof ROUTE_TICKET_AUDIENCE;
  /** The display name from the participant's join token: what bridges show the others, whatever the client says. */
  readonly name: string;
  /** SHA-256 (hex) of the manifest the decision was made under: a bridge that does not know it refuses the ticket. */
  readonly manifest: string;
  /** The meeting's policy inputs which, with the manifest and `country`, fix the jurisdictions the media may be in. */
  readonly policy: MeetingPolicy;
  /** The role of each candidate, in the same order: a primary is tried `attempts.perPrimary` times, a secondary once. */
  readonly candidateRoles: readonly CandidateRole[];
  /** How often to try each primary, and how long an attempt may take (the manifest's `selection`). */
  readonly attempts: AttemptPolicy;
}

/** A verifier's jurisdiction, and the manifests it knows by SHA-256 (hex). */
export interface FenceCheck {
  readonly code: string;
  readonly manifests: (sha256: string) => Manifest | undefined;
}

/** Options of `verifyRouteTicket`. */
export interface VerifyRouteTicketOptions {
  readonly now: Date;
  /** The verifying bridge's datacenter: must be one of the ticket's candidates. */
  readonly datacenter?: string;
  /**
   * The verifying bridge's jurisdiction, with the manifests it knows by
   * SHA-256: the ticket's manifest must be one of them, and the jurisdiction
   * inside the set the ticket's policy inputs allow under it.
   */
  readonly jurisdiction?: FenceCheck;
  /** The broker expected as `iss`. */
  readonly issuer?: string;
}

/** The ticket's CBOR payload for `claims`. */
export function encodeRouteTicketClaims(claims: Omit<RouteTicketClaims, 'aud'>): Uint8Array {
  const policy = new Map<string, CborValue>(Object.entries(claims.policy).filter((e): e is [string, CborValue] => e[1] !== undefined));
  return encodeCbor(
    new Map<number, CborValue>([
      [KEY.iss, claims.iss],
      [KEY.sub, encodeId(claims.sub, ID_PREFIX.sub)],
      [KEY.exp, claims.exp],
      [KEY.iat, claims.iat],
      [KEY.meeting, encodeId(claims.meeting, ID_PREFIX.meeting)],
      [KEY.decision, encodeId(claims.decision, ID_PREFIX.decision)],
      [KEY.candidates, claims.candidates.map((datacenter, i) => [datacenter, claims.candidateJurisdictions[i] ?? '', claims.candidateRoles[i] === 'primary'])],
      [KEY.country, claims.country],
      [KEY.name, claims.name],
      // A malformed digest goes as text, which no reader takes: the issuer's own check then refuses it.
      [KEY.manifest, SHA256_HEX.test(claims.manifest) ? hexToBytes(claims.manifest) : claims.manifest],
      [KEY.policy, policy],
      [KEY.ice, new Map(Object.entries(claims.ice).map(([datacenter, servers]) => [datacenter, servers.map((s) => [[...s.urls], s.jurisdiction])]))],
      [KEY.attempts, [claims.attempts.perPrimary, claims.attempts.timeoutMs]],
    ]),
  );
}

/**
 * A ticket's claims by name, from its CBOR map, for `parseRouteTicket` to
 * check: ids and digests back in their text forms; a key the ticket does not
 * define is reported (it could narrow the fence, and be ignored here).
 */
export function routeTicketPayload(map: CborMap): Readonly<Record<string, unknown>> {
  const at = (key: number): unknown => map.get(key);
  const pairs = at(KEY.candidates);
  const list = Array.isArray(pairs) && pairs.every((p) => Array.isArray(p) && p.length === 3) ? (pairs as readonly (readonly CborValue[])[]) : undefined;
  const policy = at(KEY.policy);
  const attempts = pairOf(at(KEY.attempts));
  const unknownKeys = [...map.keys()].filter((k) => !KNOWN_KEYS.has(k));
  return {
    iss: at(KEY.iss),
    sub: decodeId(at(KEY.sub), ID_PREFIX.sub),
    exp: at(KEY.exp),
    iat: at(KEY.iat),
    meeting: decodeId(at(KEY.meeting), ID_PREFIX.meeting),
    decision: decodeId(at(KEY.decision), ID_PREFIX.decision),
    candidates: list?.map((p) => p[0]),
    candidateJurisdictions: list?.map((p) => p[1]),
    candidateRoles: list?.map((p) => (p[2] === true ? 'primary' : p[2] === false ? 'secondary' : undefined)),
    country: at(KEY.country),
    name: at(KEY.name),
    manifest: bytesText(at(KEY.manifest), 32, bytesToHex),
    policy: policy instanceof Map ? Object.fromEntries(policy) : policy,
    ice: allowanceOf(at(KEY.ice)),
    attempts: attempts ? { perPrimary: attempts[0], timeoutMs: attempts[1] } : at(KEY.attempts),
    ...(unknownKeys.length > 0 ? { unknownClaims: unknownKeys } : {}),
  };
}

/**
 * A route ticket's claims without checking its signature: for tools that
 * read a ticket they hold before checking it (the CLI reading a saved
 * answer, whose ticket it verifies next) and tests, never for a decision. Throws TICKET_INVALID when it cannot be read.
 */
export function readRouteTicketUnverified(token: string): RouteTicketClaims {
  const result = parseRouteTicket(routeTicketPayload(routeTicketMapUnverified(token)));
  if (!result.ok) throw new GeobridgeError('TICKET_INVALID', `The route ticket is malformed: ${result.problems.join('; ')}.`);
  return result.claims;
}

/** A route ticket's CBOR claims map, signature unchecked (`readRouteTicketUnverified`). Throws TICKET_INVALID when there is none. */
export function routeTicketMapUnverified(token: string): CborMap {
  try {
    const map = decodeCbor(base64url.decode(token.split('.')[1] ?? ''));
    if (map instanceof Map) return map;
    throw new TypeError('its payload is not a CBOR map');
  } catch (cause) {
    throw new GeobridgeError('TICKET_INVALID', `The route ticket cannot be read: ${cause instanceof Error ? cause.message : String(cause)}.`, { cause });
  }
}

/** The `ice` claim back as an allowance (datacenter → `{ urls, jurisdiction }` list); anything else as it came, for the reader to refuse. */
function allowanceOf(value: unknown): unknown {
  if (!(value instanceof Map)) return value;
  const entries: [unknown, unknown][] = [...(value as CborMap)].map(([datacenter, servers]) => [datacenter, Array.isArray(servers) ? (servers as readonly unknown[]).map(serverOf) : servers]);
  return entries.every(([datacenter]) => typeof datacenter === 'string') ? Object.fromEntries(entries) : null;
}

/** `[urls, jurisdiction]` back as `{ urls, jurisdiction }`; anything else as it came. */
function serverOf(value: unknown): unknown {
  const server = pairOf(value);
  return server ? { urls: server[0], jurisdiction: server[1] } : value;
}

/** A CBOR array of two, or undefined. */
function pairOf(value: unknown): readonly [unknown, unknown] | undefined {
  return Array.isArray(value) && value.length === 2 ? (value as [unknown, unknown]) : undefined;
}

function encodeId(id: string, prefix: string): CborValue {
  const uuid = id.startsWith(prefix) ? id.slice(prefix.length) : '';
  return UUID.test(uuid) ? hexToBytes(uuid.replaceAll('-', '')) : id;
}

function decodeId(value: unknown, prefix: string): unknown {
  // One spelling per id: one the broker would have sent as bytes is refused as text.
  if (typeof value === 'string') return encodeId(value, prefix) === value ? value : undefined;
  if (!(value instanceof Uint8Array)) return value;
  if (value.length !== 16) return undefined;
  const h = bytesToHex(value);
  return `${prefix}${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function bytesText(value: unknown, length: number, text: (bytes: Uint8Array) => string): string | undefined {
  return value instanceof Uint8Array && value.length === length ? text(value) : undefined;
}

/** The bytes of lowercase hex already checked by a pattern (an id's UUID, the manifest digest). */
function hexToBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
  return bytes;
}

/** The value of the hex digit with code `c` (0–9, a–f). */
function nibble(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}

function bytesToHex(bytes: Uint8Array): string {
  let hex = '';
  for (const b of bytes) hex += HEX_BYTE[b] ?? '';
  return hex;
}

/** Each byte's two lowercase hex digits. */
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Reads a route ticket's claims from its payload by name (`routeTicketPayload`), naming every claim that is missing or malformed. */
export function parseRouteTicket(payload: Readonly<Record<string, unknown>>): ClaimsResult<RouteTicketClaims> {
  const r = new ClaimReader(payload);
  if (Array.isArray(payload.unknownClaims)) r.problems.push(`unknown claim key(s) ${payload.unknownClaims.map(String).join(', ')}`);
  const candidates = r.list('candidates');
  const candidateJurisdictions = r.list('candidateJurisdictions', COUNTRY);
  const candidateRoles = r.list('candidateRoles', ROLE) as readonly CandidateRole[];
  // The client's machine reads the three lists by index.
  if (candidateJurisdictions.length !== candidates.length) r.problems.push(`claim 'candidateJurisdictions' must have one jurisdiction per candidate`);
  if (candidateRoles.length !== candidates.length) r.problems.push(`claim 'candidateRoles' must have one role per candidate`);
  return r.result({
    iss: r.text('iss'),
    ...r.registered(),
    aud: ROUTE_TICKET_AUDIENCE,
    meeting: r.text('meeting'),
    candidates,
    candidateJurisdictions,
    decision: r.text('decision'),
    country: r.text('country', COUNTRY),
    name: r.text('name'),
    manifest: r.text('manifest', SHA256_HEX),
    policy: r.policy('policy'),
    ice: r.iceAllowance('ice'),
    candidateRoles,
    attempts: r.attempts('attempts'),
  });
}

/** The route a ticket signs, as the decider's candidates: its datacenters in order, each with its jurisdiction and role. */
export function ticketCandidates(claims: Pick<RouteTicketClaims, 'candidates' | 'candidateJurisdictions' | 'candidateRoles'>): readonly Candidate[] {
  return claims.candidates.map((datacenter, i) => ({ datacenter, jurisdiction: claims.candidateJurisdictions[i] ?? '', role: claims.candidateRoles[i] ?? 'secondary' }));
}

/**
 * Verifies a route ticket and, when given, that `datacenter` is one of its
 * candidates and `jurisdiction` inside its fence. Throws TICKET_INVALID,
 * TICKET_EXPIRED, TICKET_WRONG_DATACENTER, TICKET_UNKNOWN_MANIFEST,
 * TICKET_OUTSIDE_FENCE, KEY_REVOKED or JWKS_UNAVAILABLE.
 */
export async function verifyRouteTicket(keys: TokenKeys, token: string, options: VerifyRouteTicketOptions): Promise<RouteTicketClaims> {
  const check = await checkCborJws(token, keys, {
    type: ROUTE_TICKET_TYPE,
    now: options.now,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
  });
  if (!check.ok) {
    if (check.reason === 'revoked') throw keyRevoked(check, 'route ticket');
    if (check.reason === 'expired') throw new GeobridgeError('TICKET_EXPIRED', `The route ticket has expired; ask the broker for a new one.`, { cause: check.cause });
    if (check.reason === 'unavailable') throw keysUnavailable(check);
    throw new GeobridgeError('TICKET_INVALID', `The route ticket does not verify: ${check.detail}.`, { cause: check.cause });
  }
  const result = parseRouteTicket(routeTicketPayload(check.claims));
  if (!result.ok) throw new GeobridgeError('TICKET_INVALID', `The route ticket is malformed: ${result.problems.join('; ')}.`);
  const claims = result.claims;
  if (options.datacenter !== undefined && !claims.candidates.includes(options.datacenter)) {
    throw new GeobridgeError('TICKET_WRONG_DATACENTER', `The route ticket does not allow datacenter '${options.datacenter}'; it allows ${claims.candidates.join(', ')}.`);
  }
  if (options.jurisdiction !== undefined) checkInsideFence(claims, options.jurisdiction.code, options.jurisdiction.manifests(claims.manifest));
  return claims;
}

/**
 * The jurisdictions a route ticket keeps its participant's media in: what the
 * decider allows a participant of the ticket's country under the ticket's
 * manifest and meeting policy. The one core function, so a bridge, the
 * broker and the client can never disagree about a ticket's fence.
 */
export function ticketJurisdictions(manifest: Manifest, claims: Pick<RouteTicketClaims, 'country' | 'policy'>): readonly string[] {
  return allowedJurisdictions(manifest, routeRequestFor(claims.country, claims.policy));
}

function checkInsideFence(claims: RouteTicketClaims, jurisdiction: string, manifest: Manifest | undefined): void {
  if (manifest === undefined) {
    throw new GeobridgeError(
      'TICKET_UNKNOWN_MANIFEST',
      `The route ticket was issued under manifest ${claims.manifest.slice(0, 12)}…, which this bridge has not been given; ask the broker for a new route.`,
    );
  }
  const allowed = ticketJurisdictions(manifest, claims);
  if (!allowed.includes(jurisdiction)) {
    throw new GeobridgeError('TICKET_OUTSIDE_FENCE', `The route ticket keeps the participant in ${allowed.join(', ') || 'no jurisdiction'}; this bridge is in '${jurisdiction}'.`);
  }
}
