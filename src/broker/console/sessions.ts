/**
 * The operator console's sessions: the operator signs in once with the admin
 * token and gets a random session id (an HttpOnly cookie) and a CSRF token
 * (sent back in `x-csrf-token` on every POST). Sessions live in this broker's
 * memory only: brokers that share a store share no sessions, and a restart
 * signs every operator out.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** The cookie that carries the session id. */
export const CONSOLE_COOKIE = 'geobridge_console';
/** How long a session lives from sign-in: a working day. */
export const SESSION_MS = 8 * 60 * 60 * 1000;
/** Sessions kept at most; past it the oldest is dropped, so sign-ins cannot grow memory without end. */
export const MAX_SESSIONS = 1000;

/** A console session, as kept: never its id (only the id's hash is the key). */
export interface ConsoleSession {
  /** SHA-256 (hex) of the session id. */
  readonly key: string;
  readonly csrf: string;
  readonly expiresAtMs: number;
}

/** The sessions of one broker, in sign-in order. */
export class ConsoleSessions {
  readonly #byKey = new Map<string, ConsoleSession>();
  readonly #listeners = new Set<(key: string) => void>();

  /** Opens a session at `nowMs`; returns its id (for the cookie, shown once) and the session. */
  open(nowMs: number): { readonly id: string; readonly session: ConsoleSession } {
    const id = randomBytes(32).toString('base64url');
    const session: ConsoleSession = { key: hashOf(id), csrf: randomBytes(32).toString('base64url'), expiresAtMs: nowMs + SESSION_MS };
    this.#byKey.set(session.key, session);
    // A Map iterates in insertion order: the first keys are the oldest sign-ins.
    for (const oldest of [...this.#byKey.keys()].slice(0, Math.max(0, this.#byKey.size - MAX_SESSIONS))) this.end(oldest);
    return { id, session };
  }

  /** The live session of a cookie's id, if any; an expired one is ended on the way. */
  find(id: string | undefined, nowMs: number): ConsoleSession | undefined {
    if (id === undefined || id === '') return undefined;
    // Looked up by hash: how long the lookup takes says nothing about the ids kept.
    const session = this.#byKey.get(hashOf(id));
    if (session === undefined) return undefined;
    if (nowMs >= session.expiresAtMs) {
      this.end(session.key);
      return undefined;
    }
    return session;
  }

  /** True while the session of `key` is open at `nowMs`. */
  isOpen(key: string, nowMs: number): boolean {
    const session = this.#byKey.get(key);
    return session !== undefined && nowMs < session.expiresAtMs;
  }

  /** Ends a session (sign-out, expiry, or dropped as the oldest); listeners hear of it. */
  end(key: string): void {
    if (!this.#byKey.delete(key)) return;
    for (const listener of this.#listeners) listener(key);
  }

  /** Calls `listener` with the key of every session that ends. */
  onEnd(listener: (key: string) => void): void {
    this.#listeners.add(listener);
  }

  get size(): number {
    return this.#byKey.size;
  }
}

/** SHA-256 (hex) of a session id. */
function hashOf(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** True when `given` and `expected` are the same secret; compared as hashes in constant time. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

/** True when `token` is the admin token whose SHA-256 (hex) is `adminTokenHash`, compared in constant time (as `requireAdmin`). */
export function isAdminToken(token: string, adminTokenHash: string): boolean {
  const given = createHash('sha256').update(token).digest();
  const expected = Buffer.from(adminTokenHash, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The value of cookie `name` in a `Cookie` header (RFC 6265 §5.4), if present. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}

/** The `Set-Cookie` value that carries a session id (`maxAgeSeconds` 0 clears it). */
export function sessionCookie(id: string, maxAgeSeconds: number, secure: boolean): string {
  return `${CONSOLE_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${String(maxAgeSeconds)}${secure ? '; Secure' : ''}`;
}
