/**
 * The console's calls to its broker: same origin, with the session cookie
 * the browser keeps (http-only: this script never sees it), and the CSRF
 * token the session was given on every change.
 */

/** An answer other than 2xx, with the broker's error code and message (docs/errors.md). */
export class ConsoleApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrf: string | undefined;

/** The session's CSRF token, sent as `x-csrf-token` with every POST (undefined after logout). */
export function useCsrf(token: string | undefined): void {
  csrf = token;
}

/** Calls the broker and returns its JSON answer; throws ConsoleApiError with the broker's words. */
export async function call<T>(path: string, init: { readonly method?: 'GET' | 'POST'; readonly body?: unknown } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (method === 'POST' && csrf !== undefined) headers['x-csrf-token'] = csrf;
  let response: Response;
  try {
    response = await fetch(path, { method, headers, credentials: 'same-origin', ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  } catch {
    throw new ConsoleApiError(0, 'UNREACHABLE', 'The broker does not answer. Is it running?');
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    json = {};
  }
  if (!response.ok) {
    const body = json as { code?: unknown; message?: unknown };
    throw new ConsoleApiError(response.status, typeof body.code === 'string' ? body.code : 'HTTP_ERROR', typeof body.message === 'string' ? body.message : `The broker answered ${response.status}.`);
  }
  return json as T;
}
