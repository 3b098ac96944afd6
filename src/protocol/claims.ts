/**
 * Reading typed claims out of a verified JWT payload without casts: each
 * reader checks one claim's shape and, when it is wrong, records a problem
 * naming the claim, so a verifier refuses a malformed token with every
 * field that is wrong.
 */
import type { MeetingPolicy } from '../core/select/meeting-policy.js';
import type { IceAllowance } from '../core/ice/allowed.js';
import type { DeclaredIceServer } from '../core/manifest/types.js';
import type { AttemptPolicy } from '../core/select/select.js';

/** Registered claims every broker token carries. */
export interface RegisteredClaims {
  /** The subject: a participant id (a datacenter id for control messages, a meeting id for invites). */
  readonly sub: string;
  readonly iat: number;
  readonly exp: number;
}

/** The registered claims of the broker's JWTs: a token id too. */
export interface BaseClaims extends RegisteredClaims {
  readonly jti: string;
}

/** A claims parser's outcome: the claims, or what is missing or malformed. */
export type ClaimsResult<Claims> = { readonly ok: true; readonly claims: Claims } | { readonly ok: false; readonly problems: readonly string[] };

/** An ISO 3166-1 alpha-2 code. */
export const COUNTRY = /^[A-Z]{2}$/;
/** The fields of `MeetingPolicy`: a route ticket's policy inputs. */
const POLICY_INPUTS: ReadonlySet<string> = new Set(['hostCountry', 'plan', 'accountJurisdictions', 'meetingJurisdictions', 'cascade']);

/** Reads typed claims from a verified payload, collecting what is missing or malformed. */
export class ClaimReader {
  readonly problems: string[] = [];
  readonly #payload: Readonly<Record<string, unknown>>;

  constructor(payload: Readonly<Record<string, unknown>>) {
    this.#payload = payload;
  }

  /** The claims when no reader found a problem. */
  result<Claims>(claims: Claims): ClaimsResult<Claims> {
    return this.problems.length === 0 ? { ok: true, claims } : { ok: false, problems: this.problems };
  }

  /** A non-empty string, matching `pattern` when given. */
  text(name: string, pattern?: RegExp): string {
    const v = this.#payload[name];
    if (typeof v === 'string' && v !== '' && (pattern === undefined || pattern.test(v))) return v;
    this.problems.push(`claim '${name}' is missing or malformed`);
    return '';
  }

  /** Like `text`, but an absent claim is fine (undefined); a present one must match. */
  optionalText(name: string, pattern?: RegExp): string | undefined {
    return this.#payload[name] === undefined ? undefined : this.text(name, pattern);
  }

  /** A non-empty list of non-empty strings, each matching `pattern` when given. */
  list(name: string, pattern?: RegExp): readonly string[] {
    return this.#listOf(name, this.#payload[name], pattern) ?? [];
  }

  /** An integer (a NumericDate, RFC 7519 §2, or a counter). */
  integer(name: string): number {
    const v = this.#payload[name];
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    this.problems.push(`claim '${name}' must be an integer`);
    return 0;
  }

  /** A route's attempt rules: `perPrimary` and `timeoutMs`, positive integers. */
  attempts(name: string): AttemptPolicy {
    const v = this.#payload[name];
    if (isRecord(v) && isPositiveInteger(v.perPrimary) && isPositiveInteger(v.timeoutMs)) return { perPrimary: v.perPrimary, timeoutMs: v.timeoutMs };
    this.problems.push(`claim '${name}' must hold perPrimary and timeoutMs, positive integers`);
    return { perPrimary: 1, timeoutMs: 1 };
  }

  /** A route ticket's STUN/TURN allowance: datacenter → non-empty list of `{ urls, jurisdiction }`, each with URLs. */
  iceAllowance(name: string): IceAllowance {
    const v = this.#payload[name];
    if (isRecord(v) && Object.values(v).every((servers) => Array.isArray(servers) && servers.length > 0 && servers.every(isDeclaredServer))) {
      // fromEntries defines own properties: a `__proto__` datacenter stays a key.
      return Object.fromEntries(Object.entries(v as Record<string, DeclaredIceServer[]>).map(([id, servers]) => [id, servers.map((s) => ({ urls: [...s.urls], jurisdiction: s.jurisdiction }))]));
    }
    this.problems.push(`claim '${name}' must map datacenters to lists of { urls, jurisdiction }`);
    return {};
  }

  /** The meeting policy a route ticket carries (`MeetingPolicy`). */
  policy(name: string): MeetingPolicy {
    const v = this.#payload[name];
    if (!isRecord(v)) {
      this.problems.push(`claim '${name}' must be an object`);
      return { hostCountry: '' };
    }
    const unknown = Object.keys(v).filter((k) => !POLICY_INPUTS.has(k));
    // An unknown input could narrow the set on the broker and be ignored here: refuse it rather than widen.
    if (unknown.length > 0) this.problems.push(`claim '${name}' has unknown input(s) ${unknown.join(', ')}`);
    const hostCountry = typeof v.hostCountry === 'string' && COUNTRY.test(v.hostCountry) ? v.hostCountry : undefined;
    if (hostCountry === undefined) this.problems.push(`claim '${name}.hostCountry' must be an ISO country code`);
    if (v.plan !== undefined && (typeof v.plan !== 'string' || v.plan === '')) this.problems.push(`claim '${name}.plan' must be a non-empty string`);
    if (v.cascade !== undefined && v.cascade !== true) this.problems.push(`claim '${name}.cascade' must be true when present`);
    const account = v.accountJurisdictions === undefined ? undefined : this.#listOf(`${name}.accountJurisdictions`, v.accountJurisdictions, COUNTRY);
    const meeting = v.meetingJurisdictions === undefined ? undefined : this.#listOf(`${name}.meetingJurisdictions`, v.meetingJurisdictions, COUNTRY);
    return {
      hostCountry: hostCountry ?? '',
      ...(typeof v.plan === 'string' ? { plan: v.plan } : {}),
      ...(account ? { accountJurisdictions: account } : {}),
      ...(meeting ? { meetingJurisdictions: meeting } : {}),
      ...(v.cascade === true ? { cascade: true } : {}),
    };
  }

  /** `sub`, `iat` and `exp`. */
  registered(): RegisteredClaims {
    return { sub: this.text('sub'), iat: this.integer('iat'), exp: this.integer('exp') };
  }

  /** `sub`, `iat`, `exp` and `jti`. */
  base(): BaseClaims {
    return { ...this.registered(), jti: this.text('jti') };
  }

  #listOf(name: string, v: unknown, pattern?: RegExp): readonly string[] | undefined {
    if (Array.isArray(v) && v.length > 0 && v.every((e): e is string => typeof e === 'string' && e !== '' && (pattern === undefined || pattern.test(e)))) return [...v];
    this.problems.push(`claim '${name}' must be a non-empty list of ${pattern === COUNTRY ? 'ISO country codes' : 'non-empty strings'}`);
    return undefined;
  }
}

function isDeclaredServer(v: unknown): v is DeclaredIceServer {
  if (!isRecord(v)) return false;
  const { urls, jurisdiction } = v;
  return Array.isArray(urls) && urls.length > 0 && urls.every((u) => typeof u === 'string' && u !== '') && typeof jurisdiction === 'string' && jurisdiction !== '';
}

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** A plain object, as JSON or a decoded ticket gives them: not an array, a Map or bytes. */
function isRecord(v: unknown): v is Readonly<Record<string, unknown>> {
  if (typeof v !== 'object' || v === null) return false;
  const prototype: unknown = Object.getPrototypeOf(v);
  return prototype === Object.prototype || prototype === null;
}
