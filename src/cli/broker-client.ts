/**
 * GETs of a broker's public JSON (the transparency log's endpoints) for the
 * commands that check a broker from outside. Anything but a 200 within the
 * timeout is BROKER_UNREACHABLE: a fact about the connection, never a
 * finding about the log.
 */
import { GeobridgeError } from '../core/errors.js';

/** How long one request may take. */
const REQUEST_TIMEOUT_MS = 10_000;

/** The broker's URL from `--broker`; a USAGE error naming `command` when it is not an http(s) URL ('localhost:8080' parses as a URL of scheme 'localhost:'). */
export function brokerUrl(text: string, command: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') throw new GeobridgeError('USAGE', `${command}: --broker '${text}' is not an http(s) URL; write it whole, e.g. http://127.0.0.1:8080.`);
  return url;
}

/** The JSON body of GET `path` on `broker`. */
export async function getJson(broker: URL, path: string): Promise<unknown> {
  const url = new URL(path, broker);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    // The timeout holds for the body too: a broker that sends its headers, then stalls, is as unreachable.
    text = await res.text();
  } catch (error) {
    throw new GeobridgeError('BROKER_UNREACHABLE', `cannot reach ${url.href} (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!res.ok) throw new GeobridgeError('BROKER_UNREACHABLE', `${url.href} answered ${String(res.status)}: ${text.slice(0, 200)}`);
  return parseBrokerJson(url, text);
}

/** A broker's 200 answer as JSON; BROKER_UNREACHABLE when it is not (a web page or a proxy answered instead). */
export function parseBrokerJson(url: URL, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GeobridgeError('BROKER_UNREACHABLE', `${url.href} answered 200 with something that is not JSON (${JSON.stringify(text.slice(0, 80))}): is --broker the broker's URL, and not a web server or proxy in front of something else?`);
  }
}
