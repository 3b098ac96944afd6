/**
 * GETs of a broker's public JSON (the transparency log's endpoints) for the
 * commands that check a broker from outside. Anything but a 200 within the
 * timeout is BROKER_UNREACHABLE: a fact about the connection, never a
 * finding about the log.
 */
import { GeobridgeError } from '../core/errors.js';

/** How long one request may take. */
const REQUEST_TIMEOUT_MS = 10_000;

/** The broker's URL from `--broker`; a USAGE error naming `command` when it is not one. */
export function brokerUrl(text: string, command: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new GeobridgeError('USAGE', `${command}: --broker '${text}' is not a URL (e.g. http://127.0.0.1:8080).`);
  }
}

/** The JSON body of GET `path` on `broker`. */
export async function getJson(broker: URL, path: string): Promise<unknown> {
  const url = new URL(path, broker);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    throw new GeobridgeError('BROKER_UNREACHABLE', `cannot reach ${url.href} (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!res.ok) throw new GeobridgeError('BROKER_UNREACHABLE', `${url.href} answered ${String(res.status)}: ${(await res.text()).slice(0, 200)}`);
  return res.json();
}
