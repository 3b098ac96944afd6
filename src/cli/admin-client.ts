/**
 * Calls to a broker's operator API (the admin token) for the CLI. The token
 * comes from --admin-token-file (the broker writes DATA/admin-token) or
 * GEOBRIDGE_ADMIN_TOKEN, and is never printed. A refusal (4xx) is an answer,
 * for the command to report (exit 1); anything else that is not a 200 — no
 * connection, a timeout, a 5xx — is BROKER_UNREACHABLE (exit 2).
 */
import { readFileSync } from 'node:fs';
import { GeobridgeError } from '../core/errors.js';
import { parseBrokerJson } from './broker-client.js';

/** How long one request may take. */
const REQUEST_TIMEOUT_MS = 10_000;

/** The admin token from `--admin-token-file`, else GEOBRIDGE_ADMIN_TOKEN; a USAGE error naming both when neither is given. */
export function adminToken(file: string | undefined, env: Readonly<Record<string, string | undefined>>, command: string): string {
  let token: string | undefined;
  if (file !== undefined) {
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch {
      throw new GeobridgeError('UNREADABLE_FILE', `${command}: cannot read the admin token file '${file}'; the broker writes it to DATA/admin-token.`);
    }
    if (token === '') throw new GeobridgeError('USAGE', `${command}: the admin token file '${file}' is empty.`);
  } else {
    token = env.GEOBRIDGE_ADMIN_TOKEN?.trim();
  }
  if (token === undefined || token === '') {
    throw new GeobridgeError('USAGE', `${command}: needs the broker's admin token: --admin-token-file DATA/admin-token, or GEOBRIDGE_ADMIN_TOKEN; see 'geobridge ${command} --help'.`);
  }
  // An HTTP header carries visible ASCII only; the broker's tokens are base64url.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new GeobridgeError('USAGE', `${command}: the admin token ${file === undefined ? 'in GEOBRIDGE_ADMIN_TOKEN' : `in '${file}'`} holds spaces or characters no token has; give the file the broker wrote (DATA/admin-token).`);
  return token;
}

/** The broker's answer to an admin request: its JSON, or its refusal. */
export type AdminAnswer = { readonly ok: true; readonly body: unknown } | { readonly ok: false; readonly status: number; readonly code: string; readonly message: string };

/** Sends one admin request (JSON `body`, if any) to `broker`. */
export async function adminRequest(broker: URL, method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<AdminAnswer> {
  const url = new URL(path, broker);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    throw new GeobridgeError('BROKER_UNREACHABLE', `cannot reach ${url.href} (${error instanceof Error ? error.message : String(error)})`);
  }
  const text = await res.text();
  if (res.ok) return { ok: true, body: parseBrokerJson(url, text) };
  if (res.status >= 500 || res.status < 400) throw new GeobridgeError('BROKER_UNREACHABLE', `${url.href} answered ${String(res.status)}: ${text.slice(0, 200)}`);
  const error = parseError(text);
  return { ok: false, status: res.status, code: error.code ?? `HTTP_${String(res.status)}`, message: error.message ?? text.slice(0, 200) };
}

function parseError(text: string): { code?: string; message?: string } {
  try {
    const json = JSON.parse(text) as { code?: unknown; message?: unknown };
    return { ...(typeof json.code === 'string' ? { code: json.code } : {}), ...(typeof json.message === 'string' ? { message: json.message } : {}) };
  } catch {
    return {};
  }
}
